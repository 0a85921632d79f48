"""Property tests: for any ellipse near Japan's or Korea's coasts, every message is valid CAP 1.2,
every named area really is within the stated reach of the ellipse — or, where the ellipse touches
territorial sea farther than that from every area (off straight baselines), is the nearest area
(checked independently, with a CRS-to-CRS pyproj transformer centred exactly on the impact
point) — and an ellipse that touches no territorial sea never alerts."""

from __future__ import annotations

import pytest
import shapely
from alerts_helpers import make_pred
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import Point

from accord.warning.alerts import AlertEngine, AlertRules, validate
from accord.warning.alerts.geography import TERRITORIAL_EDGE_DEG
from accord.warning.alerts.rules import ellipse_polygon_m, impact_ellipse

ANCHORS = [("JPN", 41.0, 139.6), ("JPN", 43.3, 140.1), ("JPN", 35.0, 140.3), ("JPN", 33.6, 130.1),
           ("KOR", 37.6, 129.3), ("KOR", 34.3, 126.4), ("KOR", 37.4, 130.9)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(anchor=st.sampled_from(ANCHORS), dlat=st.floats(-0.6, 0.6), dlon=st.floats(-0.6, 0.6),
       a=st.floats(2_000, 80_000), ratio=st.floats(0.1, 1.0), brg=st.floats(0, 180))
# sea off straight baselines west of Aomori and Akita, no area within reach: Akita was named (its
# box was within reach, Aomori's not), 54.0 km off against Aomori's 47.1 km
@example(anchor=("JPN", 41.0, 139.6), dlat=-0.5, dlon=-0.5, a=17_778.0, ratio=1.0, brg=0.0)
def test_alerts_named_areas_are_within_reach_and_messages_valid(geo, anchor, dlat, dlon, a, ratio, brg):
    party, lat0, lon0 = anchor
    rules = AlertRules(party=party)
    # within area_lead_s of the impact, where a touch of the territory always alerts (earlier:
    # test_alerts_naming.py)
    p = make_pred(100, lat0 + dlat, lon0 + dlon, a, a * ratio, brg, impact_t=100 + rules.area_lead_s)
    eng = AlertEngine(rules, geo, "accord.test.example", "Exercise")
    msgs = eng.on_prediction(p, 100) + eng.on_time(100 + rules.area_lead_s + 100)
    for m in msgs:
        validate(m.xml)
    # independent geometry: exact AEQD at the impact point via a CRS-to-CRS transformer
    e = impact_ellipse(p)
    crs = f"+proj=aeqd +lat_0={e.lat_deg} +lon_0={e.lon_deg} +datum=WGS84 +units=m"
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    def to_m(g):
        return shapely.transform(g, lambda xy: __import__("numpy").column_stack(fwd.transform(xy[:, 0], xy[:, 1])))

    ell = ellipse_polygon_m(e)
    pg = geo.party(party)
    # densified like the engine's (long edges off straight baselines bend differently in two
    # projections unless both see the same intermediate vertices)
    terr_m = to_m(shapely.segmentize(shapely.clip_by_rect(pg.territorial, e.lon_deg - 3, e.lat_deg - 3,
                                                          e.lon_deg + 3, e.lat_deg + 3), TERRITORIAL_EDGE_DEG))
    d_terr = terr_m.distance(ell)
    if not msgs:
        # no alert: the ellipse misses the territorial sea (or grazes it by under 1 ha)
        assert d_terr > 0.0 or terr_m.intersection(ell).area < 1e4
        return
    assert msgs[0].msg_type == "Alert" and msgs[-1].msg_type == "Cancel"
    assert d_terr < 5.0

    def dist(area):  # inf for an area wholly outside the ±3° box (its clip is empty: NaN distance)
        part = shapely.clip_by_rect(area.geometry, e.lon_deg - 3, e.lat_deg - 3, e.lon_deg + 3, e.lat_deg + 3)
        return float("inf") if part.is_empty else to_m(part).distance(ell)

    reach = geo.territorial_m + rules.margin_m + 50.0
    named = {code: dist(next(x for x in pg.areas if x.code == code)) for code in msgs[0].area_codes}
    far = {code: d for code, d in named.items() if d > reach}
    if far:
        # territorial sea farther than the reach from every area (sea measured from straight
        # baselines off the coast, or an islet's): the one area named is the nearest one
        nearest = min(dist(x) for x in pg.areas)
        assert len(named) == 1 and all(d <= nearest + 5_000.0 for d in far.values()), (named, nearest)
        assert nearest > geo.territorial_m + rules.margin_m - 50.0, (named, nearest)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lat=st.floats(38.3, 42.0), lon=st.floats(131.5, 136.0), a=st.floats(2_000, 40_000))
def test_alerts_open_sea_of_japan_never_alerts(geo, lat, lon, a):
    # the middle of the Sea of Japan, north of Ulleungdo and Dokdo: >100 km from any coast
    for party in ("JPN", "KOR"):
        pg = geo.party(party)
        assert not pg.territorial.buffer(0.5).contains(Point(lon, lat))
        eng = AlertEngine(AlertRules(party=party), geo, "accord.test.example", "Actual")
        assert eng.on_prediction(make_pred(100, lat, lon, a, a / 2), 100) == []


_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "lollollollollollollollollol">'
           + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
           + ']><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&j;</alert>')


@pytest.mark.parametrize("xml, words", [
    (_LAUGHS, "amplification"),                                                         # billion laughs
    ('<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
     '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&x;</alert>', "not defined"),   # never read
    ("<a>" * 100_000 + "</a>" * 100_000, "depth"),                                       # 100,000 deep
    ("", "not well-formed"),
    ('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">' + "x" * 1_000_000 + "</alert>", "schema"),
])
def test_cap_validation_refuses_xml_bombs_in_one_line(xml, words):
    """Pins lxml's defences under :func:`validate` (entity amplification, no external entities,
    a depth limit) at the inputs random messages never reach."""
    from accord.errors import InputError

    with pytest.raises(InputError, match=words) as info:
        validate(xml.encode())
    assert "\n" not in str(info.value) and len(str(info.value)) < 400
