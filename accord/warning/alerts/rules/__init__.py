"""Alert rules per party and the geometric assessment of one prediction against them.

The entry point: :class:`AlertRules` (one party's rules) and :func:`assess` (one prediction
against them); every public name of the package is importable from here. The parts, each
importing only those listed after it (``.importlinter``'s rules contract):

* :mod:`.boost` — the boost-phase rule (before burnout): the path the flight reaches
  (:func:`boost_reach`), the chances it ends in or threatens an area's sea
  (:func:`boost_impact_chances`, :func:`boost_threat_chances`) and the lateral test
  (:data:`BOOST_CROSS_K`);
* :mod:`.region` — the impact test of the 95 % ellipse (or the boost path) against the party's
  land and territorial sea, and the nearest area for the wording;
* :mod:`.chances` — the chance the impact falls in each area's sea (:func:`impact_chances`) and
  the areas named by it (:func:`name_by_chance`, :func:`name_areas`);
* :mod:`.overflight` — the ground track over an area's land, and its CAP corridor;
* :mod:`.assessment` — what an assessment returns (:class:`Assessment`, :class:`AreaHit`,
  :class:`Lazy`);
* :mod:`.geometry` — the 95 % ellipse (:func:`impact_ellipse`) and the local-projection helpers;
* :mod:`.settings` — :class:`AlertRules`.

Japan's practice, which the defaults follow: warn when a missile **may land in the territory or
the territorial sea** (12 nmi), or **may pass over the territory**; a landing in the exclusive
economic zone alone does not trigger a public alert.
"""

from __future__ import annotations

from accord.warning.alerts.geography import Geography
from accord.warning.alerts.rules.assessment import AreaHit, Assessment, Lazy
from accord.warning.alerts.rules.boost import (BOOST_CROSS_K, BOOST_LONLAT_SLACK_M, BOOST_STEP_M, assess_boost,
                                               boost_impact_chances, boost_reach, boost_threat_chances)
from accord.warning.alerts.rules.chances import (NODE_WEIGHT, NODES, PAIRS_BY_ARRAY, RAYS, RINGS, impact_chances,
                                                 name_areas, name_by_chance)
from accord.warning.alerts.rules.geometry import (ELLIPSE_VERTICES, NMI_M, Ellipse, ellipse_points_m,
                                                  ellipse_polygon_m, impact_ellipse, lonlat_bounds,
                                                  projection_centre, ring_latlon)
from accord.warning.alerts.rules.overflight import assess_overflight, track_lonlat
from accord.warning.alerts.rules.region import assess_region
from accord.warning.alerts.rules.settings import AlertRules
from accord.warning.identity import CHI2_2_95
from accord.warning.types import Prediction

__all__ = [
    "BOOST_CROSS_K", "BOOST_LONLAT_SLACK_M", "BOOST_STEP_M", "CHI2_2_95", "ELLIPSE_VERTICES", "NMI_M",
    "NODES", "NODE_WEIGHT", "PAIRS_BY_ARRAY", "RAYS", "RINGS",
    "AlertRules", "AreaHit", "Assessment", "Ellipse", "Lazy",
    "assess", "assess_boost", "assess_overflight", "assess_region", "boost_impact_chances", "boost_reach",
    "boost_threat_chances", "ellipse_points_m", "ellipse_polygon_m", "impact_chances", "impact_ellipse",
    "lonlat_bounds", "name_areas", "name_by_chance", "projection_centre", "ring_latlon", "track_lonlat",
]


def assess(pred: Prediction, rules: AlertRules, geography: Geography) -> Assessment:
    """Assess one prediction against one party's rules (pure; no state):
    :func:`.region.assess_region`; for a boost-phase prediction (``status="boost"``)
    :func:`.boost.assess_boost` — the path the flight reaches with at least
    ``boost_alert_probability`` (:func:`boost_reach`), and only the areas it touches also when
    moved :data:`BOOST_CROSS_K` σ to either side."""
    if pred.status != "boost":
        return assess_region(pred, rules, geography)
    return assess_boost(pred, rules, geography)
