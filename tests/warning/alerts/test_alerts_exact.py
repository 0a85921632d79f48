"""The alert rules' assessment is the plain one, bit for bit, however it saves its CPU.

:func:`accord.warning.alerts.rules.assess` computes what only a message reads (the ellipse's
ring, the overflight corridor, the region, the nearest area and its bearing, whether the
ellipse touches land) on first use, measures the areas as arrays, and tests only the impact
nodes near an area's bounding box against it. ``plain_rules`` is the assessment before those
cuts (every field at once, one area at a time, every node against every area). On random
predictions near and far from the three parties' coasts — ellipses touching and missing the
territory, ground tracks over and beside the land, boost-phase ones, areas of responsibility —
under random rules, every field of the two must be equal (floats bit for bit).
"""

from __future__ import annotations

import math

import numpy as np
import plain_rules
from alerts_helpers import make_pred, path
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_alerts_fastpath import BEARINGS, _coast_point, _move

from accord.warning.alerts import AlertRules
from accord.warning.alerts.rules import assess
from accord.warning.types import Prediction

PARTIES = ("JPN", "KOR", "USA")


def _num(x: float) -> object:
    return "nan" if isinstance(x, float) and math.isnan(x) else x


def _hits(hits) -> list:
    return [(h.area.code, _num(h.distance_m), h.via) for h in hits]


def fields(a) -> dict:
    """Every field of an assessment (fast or plain), areas by their codes."""
    near = a.nearest
    return {"party": a.party, "ellipse": a.ellipse, "ring": a.ring_latlon, "impact": _hits(a.impact_hits),
            "over": _hits(a.overflight_hits), "terr_d": _num(a.distance_to_territory_m),
            "on_land": a.impact_on_land, "corridor": a.corridor_latlon,
            "region": a.impact_region.code if a.impact_region is not None else None,
            "nearest": (near[0].code, near[1], near[2]) if near is not None else None,
            "lost": a.lost, "codes": a.area_codes, "track_d": _num(a.track_distance_m),
            "chances": a.impact_chances, "qualifies": bool(a.impact_hits or a.overflight_hits)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(party=st.sampled_from(PARTIES), k=st.integers(0, 10**6), passing=st.booleans(),
       dist=st.one_of(st.floats(0, 60_000), st.floats(0, 400_000)), brg=BEARINGS,
       a=st.one_of(st.floats(300, 30_000), st.floats(500, 300_000)), ratio=st.floats(0.05, 1.0),
       ebrg=st.floats(0, 180), track_len=st.floats(0, 1_200_000), track_brg=BEARINGS,
       status=st.sampled_from(["tracking", "tracking", "lost", "boost"]),
       margin=st.sampled_from([0.0, 5_000.0, 20_000.0]), hyst=st.sampled_from([0.0, 5_000.0, 30_000.0]),
       overflight=st.booleans(), aor=st.integers(0, 3), prob=st.sampled_from([0.05, 0.2, 0.6]),
       sigma=st.sampled_from([None, 1_000.0, 10_000.0]))
# a boost path of zero length on a coast (all its points one point): its steps are points, which
# GEOS measured from a prepared polygon as farther than they are — the area went unnamed
@example(party="USA", k=42, passing=False, dist=0.0, brg=0.0, a=300.0, ratio=1.0, ebrg=0.0,
         track_len=4.946788817409374e-298, track_brg=0.0, status="boost", margin=5_000.0, hyst=0.0,
         overflight=False, aor=0, prob=0.05, sigma=None)
def test_the_assessment_equals_the_plain_one(geo, party, k, passing, dist, brg, a, ratio, ebrg, track_len,
                                             track_brg, status, margin, hyst, overflight, aor, prob, sigma):
    lat0, lon0 = _coast_point(geo, party, k)
    if passing:
        mlat, mlon = _move(lat0, lon0, dist, track_brg + 90.0)
        slat, slon = _move(mlat, mlon, track_len / 2, track_brg + 180.0)
        lat, lon = _move(mlat, mlon, track_len / 2 + 200_000.0, track_brg)
    else:
        lat, lon = _move(lat0, lon0, dist, brg)
        slat, slon = _move(lat, lon, track_len, track_brg)
    gt = path(slat, slon, lat, lon, n=24) if track_len > 0 and abs(slon - lon) < 180 else ()
    cov = None if sigma is None else (sigma ** 2, 0.3 * sigma ** 2, 0.3 * sigma ** 2, (2 * sigma) ** 2)
    p = make_pred(100, lat, lon, a, a * ratio, ebrg, impact_t=400, ground_track=gt, status=status, cov=cov)
    if status == "boost":
        p = Prediction(**{**p.__dict__, "reach_prob": tuple(np.linspace(1.0, 0.5, len(gt)).tolist()),
                          "track_sigma_m": (2_000.0,) * len(gt)})
    codes = sorted(x.code for x in geo.party(party).areas)
    areas = tuple(codes[(k + 7 * i) % len(codes)] for i in range(aor))   # 0: every area
    rules = AlertRules(party=party, margin_m=margin, clear_hysteresis_m=hyst, alert_on_overflight=overflight,
                       areas=areas, area_probability=prob)
    assert fields(assess(p, rules, geo)) == fields(plain_rules.assess(p, rules, geo))


def test_the_comparison_sees_a_changed_field(geo):
    """The property above would catch a change: moving the impact point 200 m (the lazy fields
    included) changes the compared fields."""
    lat, lon = _coast_point(geo, "JPN", 12345)
    gt = path(lat - 3.0, lon - 3.0, lat, lon, n=24)
    rules = AlertRules(party="JPN")
    # within area_lead_s of the impact: the likeliest area (chance ~0.4) is named
    p = make_pred(100, lat, lon, 30_000.0, 10_000.0, 30.0, ground_track=gt, impact_t=300)
    q = make_pred(100, lat + 0.002, lon, 30_000.0, 10_000.0, 30.0, ground_track=gt, impact_t=300)
    fast, plain = fields(assess(p, rules, geo)), fields(plain_rules.assess(q, rules, geo))
    assert fast["ring"] != plain["ring"] and fast["nearest"] != plain["nearest"]
    assert fields(assess(p, rules, geo)) == fields(plain_rules.assess(p, rules, geo))
    assert fast["qualifies"]
