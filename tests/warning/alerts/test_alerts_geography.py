"""The packaged offline geography: right areas in the right places, a 12 nmi territorial sea,
clear errors for a broken file."""

from __future__ import annotations

import gzip
import json

import pytest
import shapely.ops
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Point

from accord.errors import ConfigError, InputError
from accord.warning.alerts import Geography

GEOD = Geod(ellps="WGS84")


def area_at(geo: Geography, lat: float, lon: float) -> str | None:
    p = Point(lon, lat)
    hits = [a.code for party in geo.parties.values() for a in party.areas if a.geometry.contains(p)]
    assert len(hits) <= 1, hits
    return hits[0] if hits else None


@pytest.mark.parametrize("name,lat,lon,code", [
    ("Sapporo", 43.06, 141.35, "JPN-01"), ("Aomori city", 40.82, 140.74, "JPN-02"),
    ("Sado island", 38.05, 138.40, "JPN-15"), ("Hachijo-jima", 33.11, 139.79, "JPN-13"),
    ("Amami Oshima", 28.35, 129.50, "JPN-46"), ("Iki", 33.78, 129.72, "JPN-42"),
    ("Tsushima", 34.40, 129.30, "JPN-42"), ("Awaji", 34.40, 134.85, "JPN-28"),
    ("Ishigaki", 24.42, 124.18, "JPN-47"), ("Rishiri", 45.18, 141.24, "JPN-01"),
    ("Oki", 36.25, 133.27, "JPN-32"), ("Seoul", 37.56, 126.98, "KOR-11"),
    ("Jeju", 33.38, 126.55, "KOR-50"), ("Ulleungdo", 37.50, 130.87, "KOR-47"),
    ("Busan", 35.15, 129.05, "KOR-26"), ("Guam", 13.45, 144.79, "USA-66"),
    ("Oahu", 21.46, -157.97, "USA-15"), ("Attu (west of 180°)", 52.90, 173.20, "USA-02"),
    ("Anchorage", 61.20, -149.90, "USA-02"), ("Los Angeles", 34.05, -118.25, "USA-06"),
])
def test_alerts_geography_places_fall_in_their_own_admin_area(geo, name, lat, lon, code):
    assert area_at(geo, lat, lon) == code, name


@pytest.mark.parametrize("lat,lon", [(40.0, 134.0), (38.0, 125.0), (39.0, 127.5), (30.0, 150.0)])
def test_alerts_geography_open_sea_and_foreign_land_belong_to_no_party(geo, lat, lon):
    assert area_at(geo, lat, lon) is None
    for pg in geo.parties.values():
        assert not pg.territorial.contains(Point(lon, lat))


def test_alerts_geography_territorial_sea_is_12_nautical_miles_off_a_straight_coast(geo):
    # Off the Pacific coast of Iwate (a long, fairly straight coast facing east at ~39.5 N):
    # walk east from the coast and find where the territorial sea ends.
    jp = geo.party("JPN")
    lat, lon = 39.55, 141.90
    while jp.land.contains(Point(lon, lat)):
        lon += 0.001
    coast = lon
    while jp.territorial.contains(Point(lon, lat)):
        lon += 0.001
    _, _, width = GEOD.inv(coast, lat, lon, lat)
    assert 20_500 < width < 23_500, width  # 22 224 m ± the simplification and the coast's bends


def test_alerts_geography_territorial_sea_is_measured_from_the_seto_inland_sea_baselines(geo):
    # South of the Kii channel line (Kii Hinomisaki — Kamoda-misaki lighthouses, the Enforcement
    # Order's art. 1): 24 km from any land, so outside a low-water-line sea, but 21–22 km from
    # the baseline closing the Seto Inland Sea (and on the straight baseline of Table 1 item 5,
    # Setozaki — 5ロ, across the channel's entrance), so inside Japan's territorial sea.
    jp = geo.party("JPN")
    lat, lon = 33.663, 134.917
    p = Point(lon, lat)
    near = shapely.ops.nearest_points(jp.land, p)[0]
    assert GEOD.inv(lon, lat, near.x, near.y)[2] > 24_000
    assert GEOD.inv(lon, lat, 134.905, 33.858)[2] < geo.territorial_m    # the line's middle
    assert jp.territorial.contains(p)
    # the Seto Inland Sea is internal waters, the Pacific beyond the lines is not
    for lat, lon in [(33.75, 132.25), (34.1, 133.3), (34.5, 135.3), (33.85, 131.5)]:
        assert jp.territorial.contains(Point(lon, lat))
    # more than 12 nmi beyond Table 1 item 5's line (33.45 N, 134.9 E, 12 nmi south of it, is
    # Japan's sea now that the line is modelled)
    for lat, lon in [(33.2, 134.9), (32.9, 134.2)]:
        assert not jp.territorial.contains(Point(lon, lat))
    assert jp.territorial.contains(Point(134.9, 33.45))


def _nmi_to(geo_party_land, lat: float, lon: float) -> float:
    near = shapely.ops.nearest_points(geo_party_land, Point(lon, lat))[0]
    return GEOD.inv(lon, lat, near.x, near.y)[2] / 1852


def test_alerts_geography_korea_sea_is_measured_from_the_decrees_straight_baselines(geo):
    # Enforcement Decree of the Territorial Sea and Contiguous Zone Act, Table 1: the chain from
    # 1.5 Miteoam round the south and west coasts to Soryeongdo. Points chosen more than 12 nmi
    # from any Korean land, so a sea measured from the low-water line would not hold them.
    kr = geo.party("KOR")
    inside = [
        (34.9930, 125.6267, 15.2),  # behind the Goseo–Hoengdo line (17–18), 3 nmi landward of it
        (33.7943, 125.6813, 25.5),  # 10 nmi seaward of Jeolmyeongseo–Soheuksando (13–14), mid-line
        (36.6129, 125.3344, 29.9),  # 10 nmi west of Seogyeongnyeolbido (22)
    ]
    for lat, lon, far in inside:
        assert _nmi_to(kr.land, lat, lon) > far - 0.5 > 12
        assert kr.territorial.contains(Point(lon, lat)), (lat, lon)
    # 14 nmi seaward of the same two lines: beyond the 12 nmi
    for lat, lon in [(33.7286, 125.6665), (36.6127, 125.2516)]:
        assert not kr.territorial.contains(Point(lon, lat)), (lat, lon)


def test_alerts_geography_korea_strait_sea_is_3_nautical_miles(geo):
    # Off the baselines 1.5 Miteoam – Saengdo – Hongdo (Decree art. 3, Table 2): 2 nmi off them is
    # Korea's sea, 5 nmi off them is not — though Busan's coast is within 12 nmi.
    kr = geo.party("KOR")
    for lat, lon in [(35.0826, 129.1873), (34.7689, 128.9473)]:         # 2 nmi off 5–6, 6–7
        assert kr.territorial.contains(Point(lon, lat)), (lat, lon)
    for lat, lon in [(35.0519, 129.2355), (34.7433, 128.9995)]:         # 5 nmi off 5–6, 6–7
        assert not kr.territorial.contains(Point(lon, lat)), (lat, lon)
    assert _nmi_to(kr.land, 35.0519, 129.2355) < 7
    # beyond the normal to the baseline at 1.5 Miteoam the 12 nmi apply again (off Gijang)
    assert kr.territorial.contains(Point(129.35, 35.17))
    assert not kr.land.contains(Point(129.35, 35.17))


def test_alerts_geography_us_side_of_the_great_lakes_is_united_states_territory(geo):
    # Points in Lakes Michigan, Superior, Huron, Erie and Ontario 15–27 nmi from the states' shores —
    # beyond a 12 nmi buffer of them — are internal waters of the United States; Lake Superior
    # is divided at the boundary (its Canadian side is 45 nmi from the US shore).
    us, ca_side = geo.party("USA"), Point(-87.5, 48.2)
    for lat, lon in [(43.80, -87.09), (47.46, -89.63), (44.45, -82.69), (42.10, -81.15), (43.60, -77.77)]:
        p = Point(lon, lat)
        assert _nmi_to(us.land, lat, lon) > 12 and us.territorial.contains(p), (lat, lon)
        assert not us.land.contains(p)
    assert not us.territorial.contains(ca_side)                 # Canada's side of Lake Superior
    assert all(not pg.territorial.contains(Point(-87.09, 43.80)) for k, pg in geo.parties.items() if k != "USA")


def test_alerts_an_impact_in_lake_michigan_alerts_the_united_states(geo):
    from alerts_helpers import make_pred

    from accord.warning.alerts import AlertEngine, AlertRules

    e = AlertEngine(AlertRules(party="USA"), geo, "accord.usa.example", "Exercise")
    [msg] = e.on_prediction(make_pred(300, 43.80, -87.09, 8_000, 4_000, 0, impact_t=400), 300)
    assert msg.area_codes == ("USA-26",)   # Michigan, the nearest shore: 47.0 km (Wisconsin 49.2 km)
    assert e.on_prediction(make_pred(300, 48.2, -87.5, 8_000, 4_000, 0, impact_t=400, track="T2"), 300) == []


def test_alerts_geography_japan_sea_is_measured_from_the_orders_straight_baselines(geo):
    # Enforcement Order, Table 1 item 9, the line 9ネ (34°15'N 130°06'12"E) — 9ナ (34°47'57"N
    # 131°07'50"E) off Fukuoka and Yamaguchi: 10 nmi seaward of its middle is 27 nmi from the land
    # the data has, so a low-water-line sea would not hold it; 14 nmi seaward is beyond the sea.
    jp = geo.party("JPN")
    assert _nmi_to(jp.land, 34.6654, 130.5048) > 26 and jp.territorial.contains(Point(130.5048, 34.6654))
    assert not jp.territorial.contains(Point(130.4605, 34.7213))
    # waters behind the lines are internal waters, however far from the coast: Sagami Bay (item 3,
    # Nojimazaki — Oshima — Omaezaki) and Uchiura Bay (item 13, Chikyu-misaki — Esan), pockets of
    # open water in a sea measured from the low-water line; Toyama Bay and the waters between
    # Sado and Honshu (item 12: Noto — Hegura-jima — Sado; Sado — Awashima — ... — Oma) and
    # between Kyushu and the Goto islands (item 9) likewise.
    for lat, lon in [(35.012, 139.396), (42.342, 140.618), (37.446, 137.920), (38.176, 138.945),
                     (32.604, 129.355)]:
        assert _nmi_to(jp.land, lat, lon) > 12 and jp.territorial.contains(Point(lon, lat)), (lat, lon)
    # the Osumi Strait south of item 9's line Toimisaki — Takeshima, more than 12 nmi from it and
    # from Tanegashima and Yakushima, stays open sea (it is a specified area: 3 nmi in law)
    assert not jp.territorial.contains(Point(130.684, 30.685))


@pytest.mark.parametrize("strait,out3,in3", [
    # (lat, lon) 5–6 nmi and 2 nmi off a point of the Order: Cape Soya (13マ) due north, Oma's
    # Benten-jima (12ワ) at 16°, Tsushima's Kōzaki (10ル) at 155°, Tanegashima's Kishikazaki
    # north and the middle of the Osumi Strait
    ("Soya", (45.6136, 141.9406), (45.5569, 141.9406)),
    ("Tsugaru", (41.6351, 140.9451), (41.5871, 140.9267)),
    ("Tsushima east channel", (33.9931, 129.2647), (34.0536, 129.2308)),
    ("Osumi", (30.92, 130.86), (30.876, 131.0567)),
])
def test_alerts_geography_japans_specified_areas_are_3_nautical_miles(geo, strait, out3, in3):
    # Act on the Territorial Sea, supplementary provision 2, and the Order's Table 2: in the
    # five specified straits the sea is 3 nmi from the baseline. The outer point is within 12 nmi
    # of the land the data has (a 12-nmi sea would hold it) and beyond 3 nmi of it.
    jp = geo.party("JPN")
    assert 3.5 < _nmi_to(jp.land, *out3) < 12
    assert not jp.territorial.contains(Point(out3[1], out3[0])), strait
    assert jp.territorial.contains(Point(in3[1], in3[0])), strait


def test_alerts_geography_japans_sea_outside_the_specified_areas_is_still_12_nautical_miles(geo):
    # 7–10 nmi off the Okhotsk coast south-east of the Soya area, off Rebun's west coast, off
    # Ajigasawa (Honshu, south of the Tsugaru area's line 6), off Tsushima's north-east coast
    # and Iki's west coast, and off Tanegashima's east coast
    jp = geo.party("JPN")
    for lat, lon in [(45.05, 142.75), (45.35, 140.85), (40.85, 139.95), (34.55, 129.62),
                     (33.78, 129.52), (30.55, 131.20)]:
        assert 6 < _nmi_to(jp.land, lat, lon) < 11.5, (lat, lon)
        assert jp.territorial.contains(Point(lon, lat)), (lat, lon)


def test_alerts_geography_records_the_baselines_it_was_built_from(geo_doc):
    kor = [b for b in geo_doc["baselines"] if b["party"] == "KOR"]
    assert [b["name"] for b in kor] == ["Yeongil Bay", "Ulsan Bay", "South and west coasts"]
    assert sum(len(b["points"]) for b in kor) == 23
    assert kor[2]["points"][-1]["name"] == "23 Soryeongdo (소령도)"
    jpn = [b for b in geo_doc["baselines"] if b["party"] == "JPN"]
    table1 = [b for b in jpn if b["name"].startswith("Table 1 item ")]
    assert len(jpn) - len(table1) == 3 and sum(len(b["points"]) for b in table1) == 173
    assert table1[0]["points"][0] == {"name": "1イ 納沙布岬東端", "lat_deg": 43.386111, "lon_deg": 145.818333}
    assert [a["name"] for a in geo_doc["specified_areas"]] == [
        "Sōya Strait (宗谷海峡)", "Tsugaru Strait (津軽海峡)", "Tsushima Strait east channel (対馬海峡東水道)",
        "Tsushima Strait west channel (対馬海峡西水道)", "Ōsumi Strait (大隅海峡)"]
    assert {a["party"] for a in geo_doc["specified_areas"]} == {"JPN"}
    assert {a["breadth_m"] for a in geo_doc["specified_areas"]} == {5556.0}
    assert geo_doc["narrow_seas"] == [{"party": "KOR", "name": "Korea Strait", "breadth_m": 5556.0,
                                       "baseline": "South and west coasts",
                                       "points": ["5 1.5 Miteoam (1.5미터암)", "6 Saengdo (생도)",
                                                  "7 Hongdo (홍도, South Sea)"]}]


def test_alerts_geography_us_states_are_named_in_japanese_and_korean(geo):
    us = {a.code: a for a in geo.party("USA").areas}
    assert (us["USA-06"].name("ja"), us["USA-06"].name("ko")) == ("カリフォルニア州", "캘리포니아주")
    assert (us["USA-15"].name("ja"), us["USA-15"].name("ko")) == ("ハワイ州", "하와이주")
    assert (us["USA-66"].name("ja"), us["USA-66"].name("ko")) == ("グアム", "괌")
    assert all(a.name("ja") != a.name("en") and a.name("ko") != a.name("en") for a in us.values())


@pytest.mark.parametrize("lat,lon,code,en,ja,ko", [
    (21.45, -158.30, "USA-15", "Hawaii", "ハワイ州", "하와이주"),         # off Oahu's west coast
    (13.60, 144.65, "USA-66", "Guam", "グアム", "괌"),
    (34.00, -120.60, "USA-06", "California", "カリフォルニア州", "캘리포니아주"),  # off San Miguel
])
def test_alerts_us_state_names_reach_the_japanese_and_korean_texts(geo, lat, lon, code, en, ja, ko):
    # End to end: a USA alert's Japanese and Korean headline, description and CAP areaDesc carry
    # the state's own name in that language (the geography file's names, from US_STATES).
    from alerts_helpers import make_pred
    from lxml import etree

    from accord.warning.alerts import AlertEngine, AlertRules

    e = AlertEngine(AlertRules(party="USA"), geo, "accord.usa.example", "Exercise")
    [msg] = e.on_prediction(make_pred(300, lat, lon, 8_000, 4_000, 0, impact_t=400), 300)
    assert msg.area_codes == (code,)
    for lang, name in (("ja", ja), ("ko", ko)):
        t = msg.texts[lang]
        assert name in t.headline and name in t.description, (lang, t.headline)
        assert en not in t.headline + t.description, (lang, t.headline)
    assert en in msg.texts["en"].headline
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    infos = etree.fromstring(msg.xml).findall("cap:info", ns)
    assert [(i.findtext("cap:language", namespaces=ns), i.findtext("cap:area/cap:areaDesc", namespaces=ns))
            for i in infos] == [("en-US", en), ("ja-JP", ja), ("ko-KR", ko)]


def test_alerts_geography_names_in_three_languages(geo):
    hk = next(a for a in geo.party("JPN").areas if a.code == "JPN-01")
    assert (hk.name("en"), hk.name("ja"), hk.name("ko")) == ("Hokkaido", "北海道", "홋카이도")
    seoul = next(a for a in geo.party("KOR").areas if a.code == "KOR-11")
    assert seoul.name("ko") == "서울특별시" and seoul.name("ja") == "ソウル特別市"
    assert len(geo.party("JPN").areas) == 47 and len(geo.party("KOR").areas) == 17
    assert geo.sea_at(40.0, 134.0).name("ko") == "동해"
    assert geo.country_at(39.2, 127.1).code == "PRK"


def test_alerts_geography_unknown_party_is_a_config_error(geo):
    with pytest.raises(ConfigError, match="unknown party 'XYZ'.*JPN, KOR, USA"):
        geo.party("XYZ")
    with pytest.raises(ConfigError, match="PRK"):
        Geography.load(parties=["PRK"])


def _good_doc() -> dict:
    return {"format": "accord-geography/1", "simplify_m": 1000, "territorial_m": 22224,
            "parties": {"JPN": {"names": {"en": "Japan"},
                                "land": {"type": "Polygon", "coordinates": [[[140, 40], [141, 40], [141, 41], [140, 40]]]},
                                "territorial": {"type": "Polygon", "coordinates": [[[139.7, 39.7], [141.3, 39.7], [141.3, 41.3], [139.7, 39.7]]]}}},
            "areas": [{"party": "JPN", "code": "JPN-99", "names": {"en": "Test"},
                       "geometry": {"type": "Polygon", "coordinates": [[[140, 40], [141, 40], [141, 41], [140, 40]]]}}],
            "seas": []}


def test_alerts_geography_small_valid_file_loads(tmp_path):
    f = tmp_path / "g.json.gz"
    f.write_bytes(gzip.compress(json.dumps(_good_doc()).encode()))
    g = Geography.load(f)
    assert [a.code for a in g.party("JPN").areas] == ["JPN-99"]


@pytest.mark.parametrize("mutate,match", [
    (lambda raw: raw[: len(raw) // 2], "not valid gzip/JSON"),
    (lambda raw: gzip.compress(b"{not json"), "not valid gzip/JSON"),
    (lambda raw: gzip.compress(json.dumps({**_good_doc(), "format": "other/9"}).encode()), "format"),
    (lambda raw: gzip.compress(json.dumps({k: v for k, v in _good_doc().items() if k != "areas"}).encode()),
     "'areas'"),
    (lambda raw: gzip.compress(json.dumps(_bad_geometry()).encode()), r"areas\[0\]\.geometry"),
])
def test_alerts_geography_broken_file_is_a_clear_input_error(tmp_path, mutate, match):
    f = tmp_path / "broken.json.gz"
    f.write_bytes(mutate(gzip.compress(json.dumps(_good_doc()).encode())))
    with pytest.raises(InputError, match=match) as ei:
        Geography.load(f)
    assert str(f) in str(ei.value)


def test_alerts_geography_gzip_bomb_is_refused_before_it_fills_memory(tmp_path, monkeypatch):
    """A small file that inflates past the cap is refused by size, not parsed (the cap is
    lowered so the test inflates 2 MiB, not 256 MiB)."""
    import accord.warning.alerts.geography as geo
    bomb = gzip.compress(b" " * (2 * 2**20))  # ~2 KiB on disk
    f = tmp_path / "bomb.json.gz"
    f.write_bytes(bomb)
    monkeypatch.setattr(geo, "MAX_GEOGRAPHY_BYTES", 2**20)
    with pytest.raises(InputError, match="decompresses to more than 1 MiB"):
        Geography.load(f)
    monkeypatch.setattr(geo, "MAX_GEOGRAPHY_BYTES", 4 * 2**20)  # under the cap: read, then JSON refuses
    with pytest.raises(InputError, match="not valid gzip/JSON"):
        Geography.load(f)


def test_alerts_geography_data_after_the_gzip_stream_is_refused(tmp_path):
    f = tmp_path / "trail.json.gz"
    f.write_bytes(gzip.compress(json.dumps(_good_doc()).encode()) + b"junk")
    with pytest.raises(InputError, match="data after the stream"):
        Geography.load(f)


def _bad_geometry() -> dict:
    d = _good_doc()
    # a self-intersecting "bow tie": invalid
    d["areas"][0]["geometry"] = {"type": "Polygon",
                                 "coordinates": [[[140, 40], [141, 41], [141, 40], [140, 41], [140, 40]]]}
    return d


def test_alerts_geography_missing_file_is_a_clear_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read geography file"):
        Geography.load(tmp_path / "nope.json.gz")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(party_box=st.sampled_from([("JPN", (31.0, 45.0), (128.0, 146.0)), ("KOR", (33.0, 39.0), (124.0, 131.5)),
                                  ("USA", (41.5, 48.5), (-92.0, -76.0))]),
       u=st.floats(0.0, 1.0), v=st.floats(0.0, 1.0))
@example(party_box=("JPN", (40.5, 40.5), (139.1, 139.1)), u=0.0, v=0.0)        # off Aomori and Akita
@example(party_box=("JPN", (38.225, 38.225), (130.086, 130.086)), u=0.0, v=0.0)  # degrees: Yamaguchi
def test_the_nearest_area_is_nearest_in_metres(geo, party_box, u, v):
    """``nearest_area`` (the owner of sea no area's 12 nmi reaches, the audit's, the wording's)
    against every area measured in an azimuthal projection centred on the point (a CRS-to-CRS
    transformer). In degrees a degree of longitude counted as much as one of latitude: 525 of
    6,000 random points off Japan and Korea got another area."""
    import numpy as np
    import shapely
    from pyproj import Transformer

    party, (la0, la1), (lo0, lo1) = party_box
    lat, lon = la0 + u * (la1 - la0), lo0 + v * (lo1 - lo0)
    fwd = Transformer.from_crs("EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m",
                               always_xy=True)
    box = (lon - 25.0, max(lat - 20.0, -89.0), lon + 25.0, min(lat + 20.0, 89.0))
    dist = {}
    for a in geo.party(party).areas:
        part = shapely.clip_by_rect(a.geometry, *box)
        if not part.is_empty:
            dist[a.code] = shapely.transform(part, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1]))
                                             ).distance(Point(0.0, 0.0))
    got = geo.nearest_area(party, lon, lat).code
    assert dist[got] <= min(dist.values()) + 1.0, (got, sorted(dist.items(), key=lambda kv: kv[1])[:3])
