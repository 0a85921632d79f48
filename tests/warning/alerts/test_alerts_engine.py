"""The alert engine on hand-made predictions: when it warns, whom it names, how it updates and
clears, and that every message it makes is valid CAP 1.2 with an intact references chain."""

from __future__ import annotations

import math

import pytest
import xmlschema
from alerts_helpers import make_pred, path
from lxml import etree

from accord.errors import ConfigError, InputError
from accord.warning.alerts import AlertEngine, AlertRules, validate
from accord.warning.alerts.cap import CAP_NS, SCHEMA_PATH
from accord.warning.alerts.rules import CHI2_2_95, impact_ellipse

NS = {"cap": CAP_NS}
SENDER = "accord.jpn.example"
# October 2022 style: launched in the North, over Aomori, into the Pacific.
OCT2022 = path(40.6, 126.4, 40.9, 141.0, 40) + path(40.9, 141.0, 40.5, 175.0, 60)[1:]
HOKKAIDO_WATERS = (43.3, 140.0)   # ~11 km off Hokkaido's west coast: inside 12 nmi
EEZ_ONLY = (43.0, 138.2)          # ~135 km off Hokkaido: EEZ, not territorial sea


def engine(geo, status="Exercise", **rules):
    return AlertEngine(AlertRules(party="JPN", **rules), geo, SENDER, status)


def collect(msgs, out):
    for m in msgs:
        validate(m.xml)  # every message against the vendored OASIS CAP 1.2 schema
        out.append(m)
    return msgs


def xml_texts(m) -> str:
    doc = etree.fromstring(m.xml)
    return " ".join(e.text or "" for e in doc.iter() if isinstance(e.tag, str))


def check_chain(msgs):
    """Each Update/Cancel references exactly all earlier messages of its incident, in order."""
    by_incident: dict[str, list] = {}
    ids = set()
    for m in msgs:
        assert m.identifier not in ids
        ids.add(m.identifier)
        doc = etree.fromstring(m.xml)
        refs_el = doc.find("cap:references", NS)
        chain = by_incident.setdefault(m.incident, [])
        if m.msg_type == "Alert":
            assert refs_el is None and not chain
        else:
            triples = refs_el.text.split(" ")
            assert triples == [f"{p.sender},{p.identifier},{doc_sent(p)}" for p in chain]
            for t in triples:
                assert len(t.split(",")) == 3
        chain.append(m)
        if m.msg_type == "Cancel":
            by_incident[m.incident] = ["closed"]  # nothing may follow a Cancel in one incident


def doc_sent(m) -> str:
    return etree.fromstring(m.xml).find("cap:sent", NS).text


def test_alerts_impact_far_out_at_sea_gives_no_alert(geo):
    e, out = engine(geo), []
    collect(e.on_prediction(make_pred(100, 40.0, 134.0, 30_000, 10_000), 100), out)
    collect(e.on_time(1_000), out)
    assert out == []


def test_alerts_eez_only_landing_gives_no_alert(geo):
    e, out = engine(geo), []
    collect(e.on_prediction(make_pred(100, *EEZ_ONLY, 20_000, 8_000), 100), out)
    assert e.assess(make_pred(100, *EEZ_ONLY, 20_000, 8_000)).distance_to_territory_m > 50_000
    assert out == []


@pytest.mark.parametrize("inside,outside,code", [
    # 10 and 14 nmi west of Seogyeongnyeolbido (30 and 34 nmi from the areas' land)
    ((36.6129, 125.3344), (36.6127, 125.2516), "KOR-44"),
    # 10 and 14 nmi off the middle of the Jeolmyeongseo–Soheuksando baseline
    ((33.7943, 125.6813), (33.7286, 125.6665), "KOR-46"),
])
def test_alerts_impact_in_sea_measured_from_straight_baselines_far_from_land_alerts(geo, inside, outside,
                                                                                     code):
    # Korea's sea off its straight baselines lies farther from any area's land than 12 nmi + the
    # margin: the engine must still see it, and name the nearest area.
    eng = AlertEngine(AlertRules(party="KOR"), geo, "accord.test.example", "Exercise")
    msgs = eng.on_prediction(make_pred(100, *inside, 3000, 2000, 30, impact_t=400), 100)
    assert [(m.msg_type, m.area_codes) for m in msgs] == [("Alert", (code,))]
    eng = AlertEngine(AlertRules(party="KOR"), geo, "accord.test.example", "Exercise")
    assert eng.on_prediction(make_pred(100, *outside, 3000, 2000, 30, impact_t=400), 100) == []


def test_alerts_ellipse_touching_hokkaido_alerts_naming_hokkaido_then_cancels_after_impact(geo):
    e, out = engine(geo), []
    collect(e.on_prediction(make_pred(330, *HOKKAIDO_WATERS, 8_000, 4_000, 90, impact_t=400), 330), out)
    assert [m.msg_type for m in out] == ["Alert"]
    alert = out[0]
    assert alert.area_codes == ("JPN-01",)
    doc = etree.fromstring(alert.xml)
    descs = [a.text for a in doc.findall("cap:info/cap:area/cap:areaDesc", NS)]
    assert descs == ["Hokkaido", "北海道", "홋카이도"]
    assert [i.text for i in doc.findall("cap:info/cap:language", NS)] == ["en-US", "ja-JP", "ko-KR"]
    ja = alert.texts["ja"]
    assert ja.headline.startswith("ミサイル発射。ミサイル発射。") and "北海道" in ja.headline
    assert "地下に避難して下さい" in ja.instruction
    en = alert.texts["en"]
    assert "North Korea" in en.description and "shelter" in en.instruction.lower()  # reason + where to go
    assert "공습경보" in alert.texts["ko"].headline and "대피" in alert.texts["ko"].instruction
    # the polygon is the ellipse: a closed ring of "lat,lon" pairs around the impact point
    ring = doc.find("cap:info/cap:area/cap:polygon", NS).text.split()
    assert ring[0] == ring[-1] and len(ring) >= 4
    lats = [float(p.split(",")[0]) for p in ring]
    lons = [float(p.split(",")[1]) for p in ring]
    assert abs(sum(lats[:-1]) / len(lats[:-1]) - 43.3) < 0.01 and abs(sum(lons[:-1]) / len(lons[:-1]) - 140.0) < 0.01
    assert (max(lons) - min(lons)) * 111.2 * math.cos(math.radians(43.3)) == pytest.approx(16.0, rel=0.05)

    assert collect(e.on_time(399), out) == []          # not yet: impact at 400
    collect(e.on_time(400), out)
    assert [(m.msg_type, m.reason) for m in out] == [("Alert", "alert"), ("Update", "impact")]
    fallen = out[1]
    assert "believed to have fallen in the territorial waters off Hokkaido" in fallen.texts["en"].headline
    assert "落下したものとみられます" in fallen.texts["ja"].headline
    assert "no longer expected" not in xml_texts(fallen)
    assert collect(e.on_time(420), out) == []          # the Cancel: impact 400 + 30 s
    collect(e.on_time(431), out)
    assert [m.msg_type for m in out] == ["Alert", "Update", "Cancel"]
    cancel = out[2]
    assert cancel.reason == "clear-impact"
    assert etree.fromstring(cancel.xml).find("cap:info/cap:responseType", NS).text == "AllClear"
    assert "ミサイル落下" in cancel.texts["ja"].headline
    check_chain(out)
    assert e.open_incidents() == []


def test_alerts_overflight_of_northern_japan_names_the_prefectures_overflown(geo):
    e, out = engine(geo), []
    collect(e.on_prediction(make_pred(150, 40.5, 175.0, 15_000, 5_000, 90, impact_t=1_300,
                                      ground_track=OCT2022), 150), out)
    assert [m.msg_type for m in out] == ["Alert"]
    m = out[0]
    assert m.area_codes == ("JPN-02",)  # Aomori only: not Hokkaido, Akita or Tokyo's islands
    assert "May pass over Aomori." in m.texts["en"].headline
    assert "青森県の上空を通過する可能性" in m.texts["ja"].headline
    assert "경계경보" in m.texts["ko"].headline  # overflight only: alert level, not air raid
    areas = etree.fromstring(m.xml).findall("cap:info[1]/cap:area", NS)
    assert len(areas) == 2 and areas[1].find("cap:areaDesc", NS).text == "Predicted overflight: Aomori"
    corridor = areas[1].find("cap:polygon", NS).text.split()
    assert corridor[0] == corridor[-1]
    clat = [float(p.split(",")[0]) for p in corridor]
    clon = [float(p.split(",")[1]) for p in corridor]
    assert 40.3 < min(clat) and max(clat) < 41.5 and 139.5 < min(clon) and max(clon) < 142.0

    # The missile is tracked past Japan: the remaining path starts east of Aomori.
    later = make_pred(400, 40.5, 175.0, 12_000, 4_000, 90, impact_t=1_300,
                      ground_track=tuple(p for p in OCT2022 if p[1] > 146.0))
    collect(e.on_prediction(later, 400), out)
    assert [m.msg_type for m in out] == ["Alert", "Cancel"]
    assert out[1].reason == "clear-passed"
    assert "passed over Aomori" in out[1].texts["en"].headline
    assert "ミサイル通過" in out[1].texts["ja"].headline
    check_chain(out)


def test_alerts_lofted_shot_over_hokkaido_and_aomori_names_both(geo):
    # a long-range shot crossing the Tsugaru strait between Aomori and Hokkaido
    track = path(39.8, 127.5, 41.55, 140.5, 40) + path(41.55, 140.5, 41.9, 160.0, 40)[1:]
    e, out = engine(geo), []
    collect(e.on_prediction(make_pred(200, 41.9, 160.0, 20_000, 8_000, impact_t=1_500,
                                      ground_track=track), 200), out)
    assert out[0].area_codes == ("JPN-01", "JPN-02")
    assert "Aomori" in out[0].texts["en"].headline and "Hokkaido" in out[0].texts["en"].headline


def test_alerts_shrinking_ellipse_moving_off_the_coast_updates_then_clears(geo):
    e, out = engine(geo), []
    first = make_pred(100, 41.0, 139.1, 120_000, 50_000, 60, impact_t=300)
    assert e.assess(first).qualifies
    collect(e.on_prediction(first, 100), out)
    # the ellipse touches Hokkaido's and Aomori's seas, each with a chance below
    # area_probability (0.19, 0.02): the likeliest is named (within area_lead_s of the impact;
    # earlier it waits, test_alerts_naming.py)
    assert out[-1].msg_type == "Alert" and set(out[-1].area_codes) == {"JPN-01"}
    second = make_pred(125, 41.0, 138.9, 90_000, 35_000, 60, impact_t=300)
    collect(e.on_prediction(second, 125), out)
    assert out[-1].msg_type == "Update" and out[-1].area_codes == ("JPN-01",)
    # 1.3 km outside the territorial sea: inside the 5 km hysteresis, so no all-clear yet
    near = make_pred(140, 40.95, 138.8, 60_000, 25_000, 60, impact_t=300)
    assert 0 < e.assess(near).distance_to_territory_m < 5_000
    assert collect(e.on_prediction(near, 140), out) == []
    assert collect(e.on_time(146), out) == []  # nor an Update that names no area
    third = make_pred(150, 40.9, 138.5, 15_000, 6_000, 60, impact_t=300)
    assert not e.assess(third).qualifies
    # the whole ellipse is outside: an all-clear only once that has held for clear_hold_s (30 s)
    collect(e.on_prediction(third, 150), out)
    for t in (160, 170):
        collect(e.on_prediction(make_pred(t, 40.9, 138.48, 12_000, 5_000, 60, impact_t=300), t), out)
    assert [m.msg_type for m in out] == ["Alert", "Update"]
    collect(e.on_prediction(make_pred(180, 40.9, 138.48, 10_000, 4_000, 60, impact_t=300), 180), out)
    assert [m.msg_type for m in out] == ["Alert", "Update", "Cancel"]
    assert out[-1].reason == "clear-moved"
    assert "no longer expected" in out[-1].texts["en"].headline
    assert "Sea of Japan" in out[-1].texts["en"].description
    check_chain(out)
    collect(e.on_time(1_000), out)  # nothing more for a closed incident
    assert [m.msg_type for m in out] == ["Alert", "Update", "Cancel"]


def test_alerts_updates_are_rate_limited_and_flushed_later(geo):
    # named by the lower bar throughout (area_lead_s: test_alerts_naming.py)
    e, out = engine(geo, min_update_interval_s=20.0, area_lead_s=1_000.0), []
    collect(e.on_prediction(make_pred(100, 41.3, 139.8, 60_000, 25_000, 60, impact_t=600), 100), out)
    # the point drifts 12 km every 2 s, same areas: one Update per 20 s at most
    for k in range(1, 6):
        collect(e.on_prediction(make_pred(100 + 2 * k, 41.3 + 0.11 * k * 0.2, 139.8, 60_000, 25_000, 60,
                                          impact_t=600 + 40 * k), 100 + 2 * k), out)
    assert [m.msg_type for m in out] == ["Alert"]
    collect(e.on_time(119), out)
    assert [m.msg_type for m in out] == ["Alert"]
    collect(e.on_time(121), out)
    assert [m.msg_type for m in out] == ["Alert", "Update"]
    assert out[-1].t == 121
    check_chain(out)


def test_alerts_a_new_area_is_warned_at_once_despite_the_rate_limit(geo):
    # named by the lower bar throughout (area_lead_s: test_alerts_naming.py)
    e, out = engine(geo, min_update_interval_s=60.0, area_lead_s=1_000.0), []
    collect(e.on_prediction(make_pred(100, 41.0, 139.5, 60_000, 25_000, 60, impact_t=600), 100), out)
    before = set(out[-1].area_codes)
    bigger = make_pred(101, 41.2, 140.1, 60_000, 25_000, 60, impact_t=600)  # Hokkaido's sea too
    assert set(e.assess(bigger).area_codes) - before
    collect(e.on_prediction(bigger, 101), out)
    assert [m.msg_type for m in out] == ["Alert", "Update"]
    assert set(out[-1].area_codes) > before


def test_alerts_lost_track_never_says_passed_over_and_clears_when_the_threat_is_gone(geo):
    e, out = engine(geo), []
    collect(e.on_prediction(make_pred(150, 40.5, 175.0, 15_000, 5_000, 90, impact_t=1_300,
                                      ground_track=OCT2022), 150), out)
    lost = make_pred(180, 40.5, 175.0, 15_000, 5_000, 90, impact_t=1_300, status="lost",
                     ground_track=tuple(p for p in OCT2022 if p[1] > 137.0))
    collect(e.on_prediction(lost, 180), out)
    assert [m.msg_type for m in out] == ["Alert", "Update"]
    upd = out[-1]
    assert upd.reason == "lost" and "Tracking of the missile was lost" in upd.texts["en"].description
    assert "追尾が途絶えました" in upd.texts["ja"].description
    assert etree.fromstring(upd.xml).find("cap:info/cap:certainty", NS).text == "Possible"
    assert upd.area_codes == ("JPN-02",)  # still warned: a lost guess never shrinks the warning
    # another lost report changes nothing; the threat ends with the predicted flight time
    collect(e.on_prediction(lost, 200), out)
    collect(e.on_time(1_329), out)
    assert [m.msg_type for m in out] == ["Alert", "Update"]
    collect(e.on_time(1_331), out)
    assert [m.msg_type for m in out] == ["Alert", "Update", "Cancel"]
    assert out[-1].reason == "clear-unconfirmed"
    assert "NOT been confirmed" in out[-1].texts["en"].description
    for m in out:
        text = xml_texts(m)
        for firm in ("passed over", "ミサイル通過", "通過した模様", "통과한 것으로", "assessed to have fallen"):
            assert firm not in text, (m.msg_type, firm)
    check_chain(out)


def test_alerts_lost_track_first_seen_lost_alerts_as_possible(geo):
    e, out = engine(geo), []
    p = make_pred(300, *HOKKAIDO_WATERS, 30_000, 10_000, 90, impact_t=400, status="lost")
    collect(e.on_prediction(p, 300), out)
    assert [m.msg_type for m in out] == ["Alert"]
    assert "Tracking of the missile was lost" in out[0].texts["en"].description
    assert etree.fromstring(out[0].xml).find("cap:info/cap:certainty", NS).text == "Possible"
    collect(e.on_time(431), out)
    assert out[-1].msg_type == "Cancel" and out[-1].reason == "clear-unconfirmed"


@pytest.mark.parametrize("status", ["Actual", "Exercise"])
def test_alerts_status_is_carried_by_every_message_and_never_mixed(geo, status):
    e, out = engine(geo, status=status), []
    collect(e.on_prediction(make_pred(330, *HOKKAIDO_WATERS, 8_000, 4_000, 90, impact_t=400), 330), out)
    collect(e.on_time(431), out)
    assert len(out) == 3
    for m in out:
        doc = etree.fromstring(m.xml)
        assert doc.find("cap:status", NS).text == status == m.status
        heads = [h.text for h in doc.findall("cap:info/cap:headline", NS)]
        if status == "Exercise":
            assert doc.find("cap:note", NS).text.startswith("EXERCISE")
            assert heads[0].startswith("[EXERCISE]") and heads[1].startswith("【訓練】")
            assert ".EX." in m.identifier
        else:
            assert doc.find("cap:note", NS) is None
            assert not any("EXERCISE" in h or "訓練" in h or "훈련" in h for h in heads)
            assert ".EX." not in m.identifier


def test_alerts_engine_rejects_unknown_status_sender_and_party(geo):
    with pytest.raises(ConfigError, match="Actual, Exercise"):
        AlertEngine(AlertRules(party="JPN"), geo, SENDER, "Test")
    with pytest.raises(ConfigError, match="sender"):
        AlertEngine(AlertRules(party="JPN"), geo, "bad sender", "Actual")
    with pytest.raises(ConfigError, match="unknown party 'ATL'"):
        AlertEngine(AlertRules(party="ATL"), geo, SENDER, "Actual")
    with pytest.raises(ConfigError, match="JPN-99"):
        AlertEngine(AlertRules(party="JPN", areas=("JPN-01", "JPN-99")), geo, SENDER, "Actual")


@pytest.mark.parametrize("ellipse", [(math.nan, 4_000.0, 0.0), (0.0, 0.0, 0.0), (8_000.0, -1.0, 0.0)])
def test_alerts_prediction_without_uncertainty_is_rejected_and_changes_nothing(geo, ellipse):
    e, out = engine(geo), []
    collect(e.on_prediction(make_pred(300, *HOKKAIDO_WATERS, 8_000, 4_000, 90), 300), out)
    bad = make_pred(301, *HOKKAIDO_WATERS, *ellipse)
    with pytest.raises(InputError, match="impact_ellipse_95/impact_cov_en_m2"):
        e.on_prediction(bad, 301)
    assert e.open_incidents() == ["T1"]
    # the next good prediction is handled as if the bad one never came
    assert e.on_prediction(make_pred(302, *HOKKAIDO_WATERS, 8_000, 4_000, 90), 302) == []


def test_alerts_covariance_alone_gives_the_95_percent_ellipse():
    # East sigma 10 km, north 5 km: 95 % semi-axes sqrt(5.991)·σ, major axis east (90°).
    p = make_pred(0, 40.0, 140.0, math.nan, math.nan, math.nan, cov=(1e8, 0.0, 0.0, 2.5e7))
    el = impact_ellipse(p)
    assert el.semi_major_m == pytest.approx(math.sqrt(CHI2_2_95) * 10_000)
    assert el.semi_minor_m == pytest.approx(math.sqrt(CHI2_2_95) * 5_000)
    assert el.bearing_deg == pytest.approx(90.0)
    assert CHI2_2_95 == pytest.approx(5.991464547)


def test_alerts_engine_is_deterministic(geo):
    def run():
        e, out = engine(geo), []
        for k, p in enumerate([make_pred(100, 41.0, 139.5, 60_000, 25_000, 60),
                               make_pred(125, 41.0, 139.35, 35_000, 14_000, 60),
                               make_pred(150, 40.9, 138.6, 15_000, 6_000, 60)]):
            collect(e.on_prediction(p, p.t), out)
        return [m.xml for m in out]
    assert run() == run()


def test_alerts_areas_of_responsibility_limit_what_is_named(geo):
    e, out = engine(geo, areas=("JPN-02",), area_lead_s=1_000.0), []
    collect(e.on_prediction(make_pred(100, 41.0, 139.5, 60_000, 25_000, 60), 100), out)
    assert out[0].area_codes == ("JPN-02",)
    e2 = engine(geo, areas=("JPN-13",), area_lead_s=1_000.0)
    assert e2.on_prediction(make_pred(100, 41.0, 139.5, 60_000, 25_000, 60), 100) == []


def test_alerts_messages_become_warning_alert_items(geo):
    e = engine(geo)
    m = e.on_prediction(make_pred(330, *HOKKAIDO_WATERS, 8_000, 4_000, 90), 330)[0]
    item = m.to_item()
    assert item.kind == "warning.alert" and item.originator == "JPN"
    assert str(item.marking) == "UNCLASSIFIED//REL TO JPN, KOR, USA"
    assert item.body["cap_xml"].encode() == m.xml and item.body["identifier"] == m.identifier
    assert item.id.startswith("JPN:warning.alert:")


def test_alerts_messages_also_pass_a_second_validator(geo):
    from importlib import resources
    xsd = xmlschema.XMLSchema(str(resources.files("accord.warning.alerts") / SCHEMA_PATH))
    e = engine(geo, status="Actual")
    msgs = e.on_prediction(make_pred(150, 40.5, 175.0, 15_000, 5_000, 90, impact_t=1_300,
                                     ground_track=OCT2022), 150) + e.on_time(1_400)
    assert len(msgs) == 2
    for m in msgs:
        xsd.validate(m.xml.decode("utf-8"))


def test_alerts_schema_rejects_a_broken_message(geo):
    m = engine(geo).on_prediction(make_pred(330, *HOKKAIDO_WATERS, 8_000, 4_000, 90), 330)[0]
    broken = m.xml.replace(b"<msgType>Alert</msgType>", b"<msgType>Warning</msgType>")
    with pytest.raises(InputError, match="schema"):
        validate(broken)


def test_alerts_track_regained_after_loss_is_updated_at_once(geo):
    e, out = engine(geo, min_update_interval_s=60.0), []
    collect(e.on_prediction(make_pred(300, *HOKKAIDO_WATERS, 8_000, 4_000, 90, impact_t=500), 300), out)
    collect(e.on_prediction(make_pred(301, *HOKKAIDO_WATERS, 8_000, 4_000, 90, impact_t=500,
                                      status="lost"), 301), out)
    collect(e.on_prediction(make_pred(305, *HOKKAIDO_WATERS, 8_000, 4_000, 90, impact_t=500), 305), out)
    assert [(m.msg_type, m.reason) for m in out] == [("Alert", "alert"), ("Update", "lost"), ("Update", "reacquired")]
    assert "lost" not in out[-1].texts["en"].headline
    # time never runs backwards: a late prediction is stamped no earlier than the last message
    collect(e.on_prediction(make_pred(200, 43.6, 140.3, 30_000, 9_000, 90, impact_t=500), 200), out)
    assert all(b.sent >= a.sent for a, b in zip(out, out[1:]))
    check_chain(out)


def test_alerts_korea_gets_a_civil_defence_air_raid_alert_naming_gangwon(geo):
    e = AlertEngine(AlertRules(party="KOR"), geo, "accord.kor.example", "Exercise")
    msgs = e.on_prediction(make_pred(300, 37.8, 129.15, 8_000, 4_000, 0, impact_t=400), 300)
    assert [m.area_codes for m in msgs] == [("KOR-42",)]
    validate(msgs[0].xml)
    ko = msgs[0].texts["ko"]
    assert ko.headline.startswith("[공습경보] 미사일 발사.") and "강원특별자치도" in ko.headline
    heads = [h.text for h in etree.fromstring(msgs[0].xml).findall("cap:info/cap:headline", NS)]
    assert heads[2] == "[훈련] " + ko.headline
    assert "북한에서 탄도미사일이 발사" in ko.description       # the reason …
    assert "지하 대피소" in ko.instruction                      # … and where to go
    assert "Gangwon" in msgs[0].texts["en"].headline and "江原特別自治道" in msgs[0].texts["ja"].headline


def test_alerts_usa_guam_waters_alert_and_open_ocean_silence(geo):
    e = AlertEngine(AlertRules(party="USA"), geo, "accord.usa.example", "Exercise")
    assert e.on_prediction(make_pred(300, 13.6, 144.65, 8_000, 4_000, 0, impact_t=400), 300)[0].area_codes == ("USA-66",)
    assert e.on_prediction(make_pred(300, 13.3, 144.3, 8_000, 4_000, 0, impact_t=400, track="T2"), 300) == []


def test_alerts_a_wider_prediction_on_the_arc_does_not_widen_the_warning(geo):
    """A track picked up anew (a short arc, a wide ellipse) on the incident's arc: the incident
    keeps its tightest impact, so areas the better prediction ruled out are not named; once
    the new track is the tighter, it drives the impact."""
    e, out = engine(geo, area_probability=0.1, area_lead_s=1_000.0), []
    tight = make_pred(200, 41.4, 139.9, 20_000, 8_000, 60, impact_t=600, track="JPN:T1")  # Hokkaido 0.84
    wide = make_pred(201, 41.4, 139.9, 150_000, 60_000, 60, impact_t=600, track="KOR:T1")  # and Aomori 0.14
    assert set(e.assess(wide).area_codes) - set(e.assess(tight).area_codes)  # alone it names more
    collect(e.on_prediction(tight, 200), out)
    assert [m.msg_type for m in out] == ["Alert"]
    named = set(out[0].area_codes)
    collect(e.on_predictions([wide], 201), out)
    collect(e.on_time(260), out)
    assert all(set(m.area_codes) <= named for m in out)
    assert len(e.open_incidents()) == 1
    # the new track, once tighter, drives the impact (its own ellipse in the messages)
    tighter = make_pred(262, 41.4, 139.9, 8_000, 3_000, 60, impact_t=600, track="KOR:T1")
    collect(e.on_predictions([tighter], 262), out)
    assert out[-1].msg_type == "Update" and "impactEllipse95" in out[-1].xml.decode()
    assert b"41.4000,139.9000 8000 3000" in out[-1].xml


def test_alerts_overflight_with_no_margin_and_no_hysteresis_clips_to_a_real_box(geo):
    # margin_m = clear_hysteresis_m = 0: the track's search box was the bounds of an empty buffer
    # (NaN); GEOS then returned every area unclipped (with a RuntimeWarning) — whole prefectures
    # projected and measured for each prediction. The box is now at least a metre around the track.
    import warnings

    e, out = engine(geo, margin_m=0.0, clear_hysteresis_m=0.0), []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        collect(e.on_prediction(make_pred(150, 40.5, 175.0, 15_000, 5_000, 90, impact_t=1_300,
                                          ground_track=OCT2022), 150), out)
    assert [m.msg_type for m in out] == ["Alert"]
    assert "JPN-02" in out[0].area_codes


@pytest.mark.parametrize("epoch", ["9999-12-31T23:59:00+00:00", "9999-12-30T00:00:00-00:00", "9990-01-01T00:00:00Z"])
def test_an_epoch_whose_alerts_would_fall_past_the_year_9999_is_refused_in_one_line(geo, epoch):
    """``accord warning alerts --epoch 9999-12-31T23:59:00Z`` ended in an OverflowError traceback
    at the first alert (its ``sent`` is epoch + t)."""
    from datetime import datetime

    with pytest.raises(ConfigError, match="too late") as info:
        AlertEngine(AlertRules(party="JPN"), geo, SENDER, "Exercise", epoch=datetime.fromisoformat(epoch))
    assert "\n" not in str(info.value)


def test_the_latest_epoch_still_alerts(geo):
    from accord.warning.alerts.batch import run_engine
    from accord.warning.alerts.engine import LATEST_EPOCH

    e = AlertEngine(AlertRules(party="JPN"), geo, SENDER, "Exercise", epoch=LATEST_EPOCH)
    msgs = run_engine(e, [make_pred(100, 35.6, 139.7, 30_000, 10_000), make_pred(101, 35.6, 139.7, 30_000, 10_000)])
    assert msgs and all(m.sent.year == 9896 for m in msgs)
