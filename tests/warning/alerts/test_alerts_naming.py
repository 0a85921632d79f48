"""Naming areas by chance and by the time left (docs/alerts.md, "Naming areas by chance").

While more than ``area_lead_s`` is left before the predicted impact, an impact names only the
areas it falls in with at least ``area_probability_early`` (two to one) and nothing else yet —
not even the likeliest area when none has that chance: the prediction still has time to firm
up. Once the time left is within ``area_lead_s`` every area with at least
``area_probability`` is named and an ellipse touching the territory always alerts (the
likeliest area). So an early warning names a subset of what the same ellipse names late, and a
wide, unsure first ellipse cannot name a neighbour its later predictions rule out."""

from __future__ import annotations

from dataclasses import replace

from alerts_helpers import make_pred
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_alerts_engine import collect, engine

from accord.warning.alerts import AlertRules
from accord.warning.alerts.rules import assess

RULES = AlertRules(party="JPN")
LEAD = RULES.area_lead_s


def tsugaru(t: float, impact_t: float):
    """A 120 km ellipse over the Tsugaru Strait: mostly Aomori's sea (~0.67), Hokkaido's ~0.27."""
    return make_pred(t, 41.2, 140.25, 60_000, 25_000, 60, impact_t=impact_t)


def even(t: float, impact_t: float):
    """The same ellipse 4 km west: Aomori's sea ~0.59 (more likely than not, not two to one),
    Hokkaido's ~0.31 (the strait is a specified area: its sea is 3 nmi off each shore)."""
    return make_pred(t, 41.2, 140.2, 60_000, 25_000, 60, impact_t=impact_t)


def grazing(t: float, impact_t: float):
    """A 240 km ellipse off Aomori that only grazes its sea (chance < 0.2)."""
    return make_pred(t, 41.0, 139.1, 120_000, 50_000, 60, impact_t=impact_t)


def test_early_names_only_the_likely_area_late_adds_the_possible_one(geo):
    early = assess(tsugaru(100.0, 100.0 + LEAD + 60.0), RULES, geo)
    late = assess(tsugaru(100.0, 100.0 + LEAD), RULES, geo)
    ch = dict(early.impact_chances)
    # late, each area's region is its sea widened by the margin: no chance is smaller
    assert all(dict(late.impact_chances)[c] >= q for c, q in ch.items())
    assert RULES.area_probability <= ch["JPN-01"] < RULES.area_probability_early <= ch["JPN-02"]
    assert early.area_codes == ("JPN-02",)
    assert late.area_codes == ("JPN-01", "JPN-02")
    # with the early threshold at the late one, the early assessment names both
    assert assess(tsugaru(100.0, 100.0 + LEAD + 60.0), replace(RULES, area_probability_early=0.2),
                  geo).area_codes == ("JPN-01", "JPN-02")


def test_an_even_chance_waits_while_there_is_time(geo):
    """A likeliest area with a chance under ``area_probability_early`` is not named early (the
    rule once named it when it reached ``area_probability``): no area, no impact alert; with
    ``area_lead_s`` left both areas are named."""
    early = assess(even(100.0, 100.0 + LEAD + 1.0), RULES, geo)
    ch = dict(early.impact_chances)
    assert RULES.area_probability <= ch["JPN-01"] < ch["JPN-02"] < RULES.area_probability_early
    assert ch["JPN-02"] > 0.5
    assert early.distance_to_territory_m == 0.0 and not early.qualifies and early.area_codes == ()
    late = assess(even(100.0, 100.0 + LEAD), RULES, geo)
    assert late.area_codes == ("JPN-01", "JPN-02")


def test_an_unlikely_touch_waits_while_there_is_time_and_alerts_when_there_is_not(geo):
    early = assess(grazing(100.0, 100.0 + LEAD + 1.0), RULES, geo)
    assert early.distance_to_territory_m == 0.0 and not early.qualifies
    assert max(q for _, q in early.impact_chances) < RULES.area_probability
    late = assess(grazing(100.0, 100.0 + LEAD), RULES, geo)
    assert late.qualifies and late.area_codes == ("JPN-01",)


def test_engine_alerts_the_likely_area_then_adds_the_other_before_impact_never_removing(geo):
    eng = engine(geo)
    out: list = []
    impact_t = 700.0
    msgs = []
    for t in range(100, int(impact_t - 100), 10):
        msgs += collect(eng.on_prediction(tsugaru(float(t), impact_t), float(t)), out)
    kinds = [(m.msg_type, m.area_codes, m.t) for m in msgs]
    assert kinds[0][:2] == ("Alert", ("JPN-02",))
    added = [k for k in kinds if "JPN-01" in k[1]]
    assert added and added[0][0] == "Update" and impact_t - added[0][2] >= LEAD - 10.0
    # an area once named stays named until the Cancel
    seen: set[str] = set()
    for m in msgs:
        assert seen <= set(m.area_codes), kinds
        seen |= set(m.area_codes)


def test_engine_grazing_ellipse_alerts_within_the_lead_not_before(geo):
    eng = engine(geo)
    out: list = []
    impact_t = 700.0
    first = None
    for t in range(100, 690, 5):
        msgs = collect(eng.on_prediction(grazing(float(t), impact_t), float(t)), out)
        if msgs and first is None:
            first = msgs[0]
    assert first is not None and first.msg_type == "Alert" and first.area_codes == ("JPN-01",)
    assert LEAD - 5.0 <= impact_t - first.t <= LEAD


ANCHORS = [("JPN", 41.0, 139.6), ("JPN", 41.4, 140.6), ("JPN", 35.0, 140.3), ("JPN", 33.6, 130.1),
           ("JPN", 34.3, 129.4), ("KOR", 37.6, 129.3), ("KOR", 34.3, 126.4), ("KOR", 33.2, 126.9)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(anchor=st.sampled_from(ANCHORS), dlat=st.floats(-0.5, 0.5), dlon=st.floats(-0.5, 0.5),
       a=st.floats(3_000, 120_000), ratio=st.floats(0.15, 1.0), brg=st.floats(0, 180),
       left=st.floats(LEAD + 1.0, 900.0))
def test_naming_by_chance_and_time_left(geo, anchor, dlat, dlon, a, ratio, brg, left):
    """For any ellipse near the coasts: early, the named impact areas are exactly those with the
    early chance; early names ⊆ late names; late, every area with the late chance is named and
    a touch of the territory always alerts."""
    party, lat0, lon0 = anchor
    rules = AlertRules(party=party)
    p = make_pred(100.0, lat0 + dlat, lon0 + dlon, a, a * ratio, brg, impact_t=100.0 + left)
    early = assess(p, rules, geo)
    late = assess(replace(p, impact_t=100.0 + rules.area_lead_s), rules, geo)
    ch = dict(late.impact_chances)
    e_codes = {h.area.code for h in early.impact_hits}
    l_codes = {h.area.code for h in late.impact_hits}
    assert e_codes == {c for c, q in early.impact_chances if q >= rules.area_probability_early}
    assert e_codes <= l_codes
    assert {c for c, q in ch.items() if q >= rules.area_probability} <= l_codes
    if late.distance_to_territory_m == 0.0:
        assert l_codes                        # within the lead a touch always alerts
    else:
        assert not l_codes and not e_codes


def test_name_areas_by_the_time_left():
    from accord.warning.alerts.rules import name_areas

    ch = {"A": 0.6, "B": 0.3, "C": 0.1}
    assert RULES.area_probability_early == 2 / 3
    assert name_areas(ch, RULES, LEAD + 1.0) == []                    # early: 0.6 is not two to one
    assert name_areas({"A": 0.7, "B": 0.25}, RULES, LEAD + 1.0) == ["A"]   # early: two to one
    assert name_areas(ch, RULES, LEAD) == ["A", "B"]                  # within the lead: 0.2
    assert name_areas({"A": 0.3, "B": 0.25}, RULES, LEAD + 1.0) == []      # early: no likeliest fallback
    assert name_areas({"A": 0.3, "B": 0.25}, RULES, LEAD) == ["A", "B"]
    assert name_areas({"A": 0.15, "B": 0.1}, RULES, LEAD + 1.0) == []      # early: nothing yet
    assert name_areas({"A": 0.15, "B": 0.1}, RULES, LEAD) == ["A"]         # spread: together ≥ 0.2
    assert name_areas({"A": 0.05}, RULES, LEAD) is None               # the caller names the likeliest
    assert name_areas({}, RULES, LEAD + 1.0) == [] and name_areas({}, RULES, LEAD) is None
    r = AlertRules.from_config({"area_lead_s": 120, "area_probability_early": 0.4}, party="JPN")
    assert name_areas({"A": 0.45, "B": 0.42}, r, 121.0) == ["A", "B"]
    assert name_areas({"A": 0.45, "B": 0.42}, r, 120.0) == ["A", "B"]


def test_the_last_naming_reaches_the_margin_beyond_an_areas_sea(geo):
    """An impact known to within 400 m, in Japan's sea off Fukuoka, 27.1 km (12 nmi + 4.9 km)
    from Nagasaki's land: outside Nagasaki's sea by less than the margin, so the audit counts
    Nagasaki truly threatened (``missile_threats``; salvo seed 53's S04 fell here). While more
    than ``area_lead_s`` is left the warning names only the areas whose sea the impact falls in;
    once that is left it names Nagasaki too, before the missile arrives."""
    from shapely.geometry import Point

    from accord.warning.alerts.geography import local_projection, project

    lat, lon = 33.640, 130.060
    fwd, _ = local_projection(lat, lon)
    nagasaki = next(a for a in geo.party("JPN").areas if a.code == "JPN-42")
    d = project(nagasaki.geometry, fwd).distance(project(Point(lon, lat), fwd))
    assert geo.territorial_m < d < geo.territorial_m + RULES.margin_m
    early = assess(make_pred(100.0, lat, lon, 400, 100, 60, impact_t=100.0 + LEAD + 1.0), RULES, geo)
    late = assess(make_pred(100.0, lat, lon, 400, 100, 60, impact_t=100.0 + LEAD), RULES, geo)
    assert early.area_codes == ("JPN-40", "JPN-41")
    assert dict(early.impact_chances).get("JPN-42", 0.0) == 0.0
    assert late.area_codes == ("JPN-40", "JPN-41", "JPN-42")
    assert dict(late.impact_chances)["JPN-42"] > 0.9
