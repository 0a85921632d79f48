"""The parts of an alert engine message built from an assessment: the CAP <area> blocks
(:func:`area_blocks`) and <parameter> pairs (:func:`cap_params`).

Part of the alert engine (:mod:`accord.warning.alerts.engine`), which adds the texts
(:mod:`accord.warning.alerts.wording`) and encodes the message (:mod:`accord.warning.alerts.cap`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from accord.warning.alerts import wording
from accord.warning.alerts.cap import AreaBlock, cap_time
from accord.warning.alerts.geography import AdminArea
from accord.warning.alerts.incidents import Incident
from accord.warning.alerts.rules import Assessment
from accord.warning.types import Prediction


def area_blocks(a: Assessment, areas: list[AdminArea], *, cancel: bool) -> tuple[AreaBlock, ...]:
    """The CAP <area> blocks of a message naming ``areas``: their ring, and (not for a Cancel)
    the overflight corridor."""
    impact_desc = {lang: wording.names(areas, lang) for lang in ("en", "ja", "ko")}
    # the areas by their codes always; their ring when it can be drawn
    blocks = [AreaBlock(impact_desc, (a.ring_latlon,) if a.ring_latlon else (), tuple(x.code for x in areas))]
    if a.corridor_latlon and not cancel and a.overflight:
        over = [h.area for h in a.overflight_hits]
        desc = {"en": "Predicted overflight: " + wording.names(over, "en"),
                "ja": "上空通過の予測：" + wording.names(over, "ja"),
                "ko": "상공 통과 예측: " + wording.names(over, "ko")}
        blocks.append(AreaBlock(desc, (a.corridor_latlon,), tuple(x.code for x in over)))
    return tuple(blocks)


def cap_params(inc: Incident, pred: Prediction, a: Assessment, reason: str,
               when: Callable[[float], datetime]) -> tuple:
    """The CAP <parameter> pairs of a message about ``inc`` driven by ``pred`` (``when``: a
    scenario time as wall-clock)."""
    e = a.ellipse
    params = [("trackId", inc.name), ("trackStatus", pred.status), ("reason", reason),
              ("predictionTime", cap_time(when(pred.t))),
              ("predictedImpactTime", cap_time(when(pred.impact_t))),
              ("impactEllipse95", f"{e.lat_deg:.4f},{e.lon_deg:.4f} {e.semi_major_m:.0f} "
                                  f"{e.semi_minor_m:.0f} {e.bearing_deg:.0f}"),
              ("affectedAreas", " ".join(a.area_codes) or "none")]
    if pred.track_id != inc.name:
        params.append(("predictionTrack", pred.track_id))
    if inc.suspects:
        params.append(("suspectTracks", " ".join(sorted(inc.suspects))))
    return tuple(params)
