"""The audit judges a named area with the documented margin on every edge of the area's impact
region: an impact just outside the territorial sea's outer limit misses the area's sea by less
than ``margin_m``, as one within 12 nmi + ``margin_m`` of the area's land does, and truly
threatens the area; one farther out than the margin threatens nothing."""

from __future__ import annotations

import shapely
from test_alerts_salvos import truth_of

from accord.warning.alerts import AlertRules
from accord.warning.alerts.audit import missile_threats
from accord.warning.alerts.geography import local_projection, project
from accord.warning.alerts.outlines import geography
from accord.warning.sim import LaunchSpec, fly


def _impact(lat: float, lon: float):
    """A flight from North Korea into the sea east of Dokdo (North Gyeongsang, KOR-47), and its
    impact's distance (m) to Korea's land and territorial sea."""
    f = fly(LaunchSpec(id="B1", launch_t=0.0, launch_lat_deg=39.0, launch_lon_deg=127.5,
                       aim_lat_deg=lat, aim_lon_deg=lon))
    ev = f.event()
    fwd, _ = local_projection(round(ev.impact_lat_deg, 1), round(ev.impact_lon_deg, 1))
    terr = geography().territorial_in("KOR", ev.impact_lon_deg - 1, ev.impact_lat_deg - 1,
                                      ev.impact_lon_deg + 1, ev.impact_lat_deg + 1)
    d = project(terr, fwd).distance(project(shapely.Point(ev.impact_lon_deg, ev.impact_lat_deg), fwd))
    return f, ev, d


def test_an_impact_just_outside_the_territorial_sea_is_within_the_margin_of_the_areas_sea():
    rules = AlertRules(party="KOR")
    f, ev, d = _impact(37.325, 132.101)           # salvo seed 6's S04: 0.3 km outside the sea
    assert 0.0 < d < rules.margin_m
    threats = missile_threats(truth_of([f]), [ev], geography(), rules)["B1"]
    assert threats.until.get("KOR-47") == ev.impact_t
    assert threats.since.get("KOR-47") == ev.impact_t


def test_an_impact_farther_out_than_the_margin_threatens_nothing():
    rules = AlertRules(party="KOR")
    for lat, lon in [(37.33, 132.16), (37.34, 132.25)]:   # 5.4 and 13 km outside the sea
        f, ev, d = _impact(lat, lon)
        assert d > rules.margin_m
        threats = missile_threats(truth_of([f]), [ev], geography(), rules)["B1"]
        assert "KOR-47" not in threats.until
