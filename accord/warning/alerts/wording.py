"""What the messages say, in English, Japanese and Korean.

Rules the wording keeps (lessons from J-Alert and Korean civil-defence alerts, 2017–2023):

* every warning gives the **reason** (a ballistic missile, launched from where, when), the
  **areas** (only those named by the assessment) and **what to do / where to go**;
* a prediction is called a prediction ("may fall", "predicted") — never a firm impact point;
* "passed over" / ミサイル通過 / 통과 is said only when the track was held past the land; a lost
  track is reported as lost ("tracking was lost"), and its end as "not confirmed".
"""

from __future__ import annotations

from datetime import datetime, timezone

from accord.warning.alerts.cap import JST, Text
from accord.warning.alerts.geography import AdminArea, NamedRegion

_SEP = {"en": ", ", "ja": "、", "ko": ", "}
_DIRS = {
    "en": ["north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"],
    "ja": ["北", "北東", "東", "南東", "南", "南西", "西", "北西"],
    "ko": ["북", "북동", "동", "남동", "남", "남서", "서", "북서"],
}

SHELTER = {
    "en": "Take shelter now inside a sturdy building or underground (a basement, an underground "
          "station). If there is no building nearby, take cover behind something solid or lie "
          "flat and protect your head. Stay away from windows. Follow official broadcasts.",
    "ja": "直ちに頑丈な建物の中、又は地下に避難して下さい。近くに適当な建物がない場合は、"
          "物陰に身を隠すか地面に伏せて頭部を守って下さい。窓から離れて下さい。"
          "引き続き、テレビ・ラジオ等の情報に注意して下さい。",
    "ko": "즉시 가까운 지하 대피소(민방위 대피시설), 지하철역, 건물 지하층으로 대피하십시오. "
          "근처에 건물이 없으면 단단한 물체 뒤에 몸을 숨기거나 땅에 엎드려 머리를 보호하십시오. "
          "창문에서 떨어지고, 재난방송과 안전디딤돌 앱의 안내를 따르십시오.",
}
STAY = {
    "en": "Stay inside a sturdy building or underground until the all-clear; if you are outside, "
          "take shelter there now. Stay away from windows. Follow official broadcasts.",
    "ja": "解除の連絡があるまで、引き続き頑丈な建物の中、又は地下に避難して下さい。"
          "屋外にいる場合は直ちに避難して下さい。窓から離れて下さい。",
    "ko": "해제 안내가 있을 때까지 튼튼한 건물 안이나 지하 대피소에 머무르십시오. 실외에 있다면 "
          "즉시 대피하십시오. 창문에서 떨어지고, 재난방송의 안내를 따르십시오.",
}
DEBRIS = {
    "en": "You may leave shelter. If you find anything suspicious that may have fallen, do not "
          "approach or touch it: report it to the police or fire service at once.",
    "ja": "避難を解除して構いません。不審な物を発見した場合には、決して近寄らず、"
          "直ちに警察や消防などに連絡して下さい。",
    "ko": "대피를 해제해도 됩니다. 낙하물로 의심되는 물체를 발견하면 절대 가까이 가거나 "
          "만지지 말고 즉시 경찰이나 소방서에 신고하십시오.",
}


def _km(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


def _cap_first(s: str) -> str:
    return s[:1].upper() + s[1:]


def names(areas: list[AdminArea], lang: str) -> str:
    return _SEP[lang].join(a.name(lang) for a in areas)


def hhmm(when: datetime, lang: str) -> str:
    if lang == "en":
        return when.astimezone(timezone.utc).strftime("%H:%M UTC")
    local = when.astimezone(JST)
    return f"{local.hour}時{local.minute:02d}分" if lang == "ja" else f"{local.hour}시 {local.minute:02d}분"


def direction(bearing_deg: float, lang: str) -> str:
    return _DIRS[lang][int(((bearing_deg % 360) + 22.5) // 45) % 8]


def launch_from(country: NamedRegion | None, lang: str) -> str:
    if country is None:
        return {"en": "an unidentified location", "ja": "不明な地点", "ko": "미상의 지점"}[lang]
    return country.name(lang)


def impact_where(impact_areas: list[AdminArea], on_land: bool, lang: str) -> str:
    n = names(impact_areas, lang)
    if on_land:
        return {"en": f"in {n} or its territorial waters", "ja": f"{n}又はその周辺の領海",
                "ko": f"{n} 또는 주변 영해"}[lang]
    return {"en": f"in the territorial waters off {n}", "ja": f"{n}沖の領海",
            "ko": f"{n} 앞바다 영해"}[lang]


def sea_where(region: NamedRegion | None, nearest: tuple[AdminArea, float, float] | None,
              lang: str) -> str:
    body = region.name(lang) if region is not None else {"en": "the open sea", "ja": "公海",
                                                          "ko": "공해"}[lang]
    if nearest is None or nearest[1] > 500_000:  # far out: a distance to a prefecture means little
        return {"en": f"the {body}" if region else body, "ja": body, "ko": body}[lang]
    area, d_m, brg = nearest
    km = max(10, int(round(d_m / 10_000.0)) * 10)
    dr = direction(brg, lang)
    return {"en": f"the {body}, about {km} km {dr} of {area.name('en')}",
            "ja": f"{area.name('ja')}の{dr}約{km}キロの{body}",
            "ko": f"{area.name('ko')} {dr}쪽 약 {km}km {body}"}[lang]


def place(region: NamedRegion | None, nearest: tuple[AdminArea, float, float] | None,
          lang: str) -> str:
    """Where a predicted impact outside the party's territory lies (a sea, or a country)."""
    if region is not None and not region.code.startswith("SEA-"):
        return region.name(lang)
    return sea_where(region, nearest, lang)


def warning_text(*, lang: str, impact_areas: list[AdminArea], over_areas: list[AdminArea],
                 on_land: bool, launch: NamedRegion | None, launch_at: datetime,
                 impact_at: datetime, lost: bool, lost_at: datetime | None, update: bool,
                 axes_km: tuple[float, float]) -> Text:
    """Alert / Update wording: reason, areas, time, and where to go."""
    src = launch_from(launch, lang)
    t_launch, t_impact = hhmm(launch_at, lang), hhmm(impact_at, lang)
    a, b = axes_km
    parts_h, parts_d = [], []
    if impact_areas:
        where = impact_where(impact_areas, on_land, lang)
        parts_h.append({"en": f"may fall {where}", "ja": f"{where}に落下する可能性",
                        "ko": f"{where}에 낙하 가능성"}[lang])
        if lost:  # no ellipse size: a lost track's last ellipse would read as a firm point
            parts_d.append({"en": f"Before tracking was lost, it was predicted that it may fall {where} "
                                  f"at about {t_impact}.",
                            "ja": f"追尾が途絶える前の予測では、{t_impact}頃、{where}に落下する可能性がありました。",
                            "ko": f"추적이 끊기기 전 예측으로는 {t_impact}경 {where}에 낙하할 가능성이 있었습니다."}[lang])
        else:
            sa, sb = _km(a), _km(b)
            parts_d.append({"en": f"It is predicted that it may fall {where} at about {t_impact} "
                                  f"(95 % area {sa} km × {sb} km).",
                            "ja": f"{t_impact}頃、{where}に落下する可能性があります"
                                  f"（95%範囲 {sa}km×{sb}km）。",
                            "ko": f"{t_impact}경 {where}에 낙하할 가능성이 있습니다"
                                  f"(95% 범위 {sa}km×{sb}km)."}[lang])
    if over_areas:
        n = names(over_areas, lang)
        parts_h.append({"en": f"may pass over {n}", "ja": f"{n}の上空を通過する可能性",
                        "ko": f"{n} 상공 통과 가능성"}[lang])
        parts_d.append({"en": f"Its predicted path passes over {n}.",
                        "ja": f"予測される飛翔経路は{n}の上空を通過します。",
                        "ko": f"예측 비행경로가 {n} 상공을 지납니다."}[lang])
    lost_tag = {"en": "Tracking lost. ", "ja": "追尾途絶。", "ko": "추적 끊김. "}[lang] if lost else ""
    if lang == "en":
        # J-Alert says ミサイル発射 twice (below); an English headline says it once
        head = ("Missile launch: " if not update else "Missile update: ") + lost_tag + \
            _cap_first("; ".join(parts_h) + ".")
        desc = f"A ballistic missile appears to have been launched from {src} at about {t_launch}. "
    elif lang == "ja":
        head = ("ミサイル発射。ミサイル発射。" if not update else "ミサイル情報（更新）。") + lost_tag + \
            "、".join(parts_h) + "があります。"
        desc = f"{t_launch}頃、{src}からミサイルが発射された模様です。"
    else:
        kind = "공습경보" if impact_areas else "경계경보"
        head = f"[{kind}] " + ("미사일 발사. " if not update else "미사일 정보 갱신. ") + lost_tag + \
            ", ".join(parts_h) + "이 있습니다."
        desc = f"{t_launch}경 {src}에서 탄도미사일이 발사된 것으로 보입니다. "
    desc += " ".join(parts_d) if lang != "ja" else "".join(parts_d)
    instr = SHELTER[lang]
    if lost:
        t_lost = hhmm(lost_at or launch_at, lang)
        desc += {"en": f" Tracking of the missile was lost at about {t_lost}; the areas above are "
                       f"from the last prediction and remain at risk until about {t_impact}.",
                 "ja": f"{t_lost}頃、ミサイルの追尾が途絶えました。上記の地域は最後の予測によるもので、"
                       f"{t_impact}頃まで引き続き危険があります。",
                 "ko": f" {t_lost}경 미사일 추적이 끊겼습니다. 위 지역은 마지막 예측에 따른 것이며 "
                       f"{t_impact}경까지 위험이 남아 있습니다."}[lang]
        instr = STAY[lang]
    return Text(head, desc.strip(), instr)


def fallen_text(*, lang: str, impact_areas: list[AdminArea], on_land: bool, impact_at: datetime) -> Text:
    """The Update at the predicted impact time of a missile tracked to its end inside the area."""
    where = impact_where(impact_areas, on_land, lang)
    t_impact = hhmm(impact_at, lang)
    h = {"en": f"Missile update: the missile is believed to have fallen {where} at about {t_impact}.",
         "ja": f"ミサイル情報（更新）。ミサイルは{t_impact}頃、{where}に落下したものとみられます。",
         "ko": f"미사일 정보 갱신. 미사일이 {t_impact}경 {where}에 낙하한 것으로 추정됩니다."}[lang]
    d = {"en": "The missile was tracked until shortly before its predicted impact time, which has now "
               "passed. This is an assessment from the prediction, not an observed impact point. "
               "Further messages will follow.",
         "ja": "ミサイルは予測落下時刻の直前まで追尾され、その時刻を過ぎました。これは予測に基づく推定であり、"
               "落下地点は確認されていません。続報に注意して下さい。",
         "ko": "미사일은 예측 낙하 시각 직전까지 추적되었고 그 시각이 지났습니다. 이는 예측에 근거한 추정이며 "
               "낙하 지점은 확인되지 않았습니다. 후속 안내에 유의하십시오."}[lang]
    return Text(h, d, STAY[lang])


def clear_text(*, lang: str, reason: str, areas: list[AdminArea], region_where: str,
               impact_areas: list[AdminArea], on_land: bool, impact_at: datetime,
               lost_at: datetime | None) -> Text:
    """Cancel / all-clear wording for each way a threat ends."""
    n = names(areas, lang)
    t_impact = hhmm(impact_at, lang)
    if reason == "clear-moved":
        h = {"en": f"All clear: the missile is no longer expected to fall in or pass over {n}.",
             "ja": f"ミサイル情報解除。{n}への落下又は上空通過の可能性はなくなりました。",
             "ko": f"[경보 해제] 미사일이 {n}에 낙하하거나 상공을 통과할 가능성이 없어졌습니다."}[lang]
        d = {"en": f"The latest prediction places the impact in {region_where}, outside the "
                   f"territory and territorial waters.",
             "ja": f"最新の予測では、{region_where}（領域外）に落下する見込みです。",
             "ko": f"최신 예측으로는 영역 밖인 {region_where}에 낙하할 것으로 보입니다."}[lang]
    elif reason == "clear-impact":
        where = impact_where(impact_areas, on_land, lang)
        h = {"en": f"Missile fall: the missile is assessed to have fallen {where} at about {t_impact}.",
             "ja": f"ミサイル落下。ミサイルは{t_impact}頃、{where}に落下したものとみられます。",
             "ko": f"[경보 해제] 미사일이 {t_impact}경 {where}에 낙하한 것으로 추정됩니다."}[lang]
        d = {"en": "This is an assessment from the prediction, not an observed impact point; "
                   "details will follow from the authorities.",
             "ja": "これは予測に基づく推定であり、落下地点は確認されていません。詳細は追って発表されます。",
             "ko": "이는 예측에 근거한 추정이며 낙하 지점은 확인되지 않았습니다. 상세 내용은 추후 발표됩니다."}[lang]
    elif reason == "clear-passed":
        h = {"en": f"Missile passed. The missile passed over {n}.",
             "ja": f"ミサイル通過。ミサイル通過。先程、このミサイルは{n}の上空を通過した模様です。",
             "ko": f"[경보 해제] 미사일이 {n} 상공을 통과한 것으로 보입니다."}[lang]
        d = {"en": f"It was tracked past the land. Its predicted impact: {region_where}, at about "
                   f"{t_impact}.",
             "ja": f"陸地の通過後も追尾しています。予測落下地点は{region_where}、{t_impact}頃です。",
             "ko": f"육지 통과 후에도 추적되었습니다. 예측 낙하 지점은 {region_where}, {t_impact}경입니다."}[lang]
    else:  # clear-unconfirmed: the track was lost or ended before the threat resolved
        t_lost = hhmm(lost_at, lang) if lost_at else None
        lost_en = f"Tracking of the missile was lost at about {t_lost}. " if t_lost else \
            "Tracking of the missile ended before it reached the area. "
        lost_ja = f"{t_lost}頃、ミサイルの追尾が途絶えました。" if t_lost else "ミサイルの追尾は途中で終了しました。"
        lost_ko = f"{t_lost}경 미사일 추적이 끊겼습니다. " if t_lost else "미사일 추적이 도중에 종료되었습니다. "
        h = {"en": f"All clear for {n}: the predicted flight time has passed.",
             "ja": f"ミサイル情報解除（{n}）。予測飛翔時間が経過しました。",
             "ko": f"[경보 해제] {n}: 예측 비행시간이 지났습니다."}[lang]
        d = {"en": lost_en + f"Its predicted flight time ended at about {t_impact}, so no further "
                             f"danger from this launch is expected. It has NOT been confirmed "
                             f"whether it fell in, or flew over, {n}.",
             "ja": lost_ja + f"予測飛翔時間（{t_impact}頃）が経過したため、このミサイルによる新たな危険はない"
                             f"とみられます。{n}への落下や上空通過は確認されていません。",
             "ko": lost_ko + f"예측 비행시간({t_impact}경)이 지나 이번 발사로 인한 추가 위험은 없을 것으로 "
                             f"보입니다. {n}에 낙하했는지 또는 상공을 통과했는지는 확인되지 않았습니다."}[lang]
    return Text(h, d, DEBRIS[lang])


def merged_text(*, lang: str, incident: str, areas: list[AdminArea]) -> Text:
    """The Cancel that closes a second incident of one missile, merged into ``incident`` (which
    warns ``areas``): no all-clear — the warning goes on under the other incident's messages."""
    n = names(areas, lang)
    h = {"en": f"Missile update: this warning continues as incident {incident} (the same missile). "
               f"It is not an all-clear.",
         "ja": f"ミサイル情報（更新）。この情報は同じミサイルの情報{incident}に引き継がれました。"
               f"警報の解除ではありません。",
         "ko": f"미사일 정보 갱신. 이 경보는 같은 미사일의 경보 {incident}(으)로 이어집니다. "
               f"경보 해제가 아닙니다."}[lang]
    d = {"en": f"Two warnings were following one missile; they are now one. The warning for {n} "
               f"stands in the messages of incident {incident}.",
         "ja": f"同じミサイルについて二つの情報が出ていたため、一つにまとめました。{n}への警報は"
               f"情報{incident}で引き続き有効です。",
         "ko": f"한 미사일에 두 개의 경보가 발령되어 하나로 통합했습니다. {n}에 대한 경보는 "
               f"경보 {incident}에서 계속 유효합니다."}[lang]
    return Text(h, d, STAY[lang])
