"""The alert engine's state per incident and per suspect track, its durable (JSON) form, and
the small rules on predictions the engine drives an incident with.

Part of the alert engine (:mod:`accord.warning.alerts.engine`): :class:`Incident` is one
missile's warning — its messages' references, bound tracks, reference prediction, timers —
and :func:`incident_json` / :func:`incident_from_json` are how
:meth:`~accord.warning.alerts.engine.AlertEngine.snapshot` and ``restore`` carry it across a
restart. :func:`fresher` picks an incident's driving prediction, :func:`keep_tighter_impact`
keeps the incident's narrower impact, :func:`network` names the tracker a track comes from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from accord.warning.alerts.geography import AdminArea
from accord.warning.alerts.rules import Assessment
from accord.warning.types import Prediction


@dataclass
class Incident:
    name: str                                   # its first track: names identifiers and incident
    serial: int
    refs: list[str] = field(default_factory=list)  # CAP reference triples of its messages
    open: bool = False
    tracks: dict[str, bool] = field(default_factory=dict)  # bound track -> lost?
    seen: dict[str, float] = field(default_factory=dict)   # bound track -> when it last predicted
    ref: Prediction | None = None               # latest prediction on the arc: drives messages
    ref_a: Assessment | None = None
    sent_pred: Prediction | None = None        # the prediction behind the last message sent
    sent_a: Assessment | None = None
    last_sent_t: float = -math.inf
    pending: bool = False
    lost_t: float | None = None
    tracked_overflight_done: bool = False     # a tracked (not lost) prediction showed the path past the land
    alerted_areas: dict[str, AdminArea] = field(default_factory=dict)
    clear_since: float | None = None          # start of the current run of predictions outside
    fallen: bool = False                      # "believed to have fallen" sent
    suspects: dict[str, float] = field(default_factory=dict)  # tracks that jumped off the arc, when


@dataclass
class Suspect:
    """A track detached from its incident for a jump off the arc, and its new arc so far."""

    since: float       # when its current run of mutually consistent predictions began
    last: Prediction


def finite_or_none(x: float | None) -> float | None:
    """``x`` as JSON can carry it: None for no value or an infinite one."""
    return x if x is not None and math.isfinite(x) else None


def _pred_json(p: Prediction | None) -> dict | None:
    return p.to_json() if p is not None else None


def incident_json(i: Incident) -> dict[str, Any]:
    """An open incident as JSON-able data (what :func:`incident_from_json` reads back)."""
    return {"name": i.name, "serial": i.serial, "refs": list(i.refs),
            "tracks": dict(sorted(i.tracks.items())),
            "seen": dict(sorted(i.seen.items())), "ref": _pred_json(i.ref),
            "sent": _pred_json(i.sent_pred), "last_sent_t": finite_or_none(i.last_sent_t),
            "pending": i.pending, "lost_t": i.lost_t,
            "overflight_done": i.tracked_overflight_done,
            "areas": sorted(i.alerted_areas), "clear_since": i.clear_since,
            "fallen": i.fallen, "suspects": dict(sorted(i.suspects.items()))}


def incident_from_json(d: dict[str, Any], areas: dict[str, AdminArea],
                       assess: Callable[[Prediction], Assessment]) -> Incident:
    """The open incident :func:`incident_json` wrote; its predictions assessed anew with
    ``assess``, its warned areas looked up in ``areas`` (by code). A damaged entry raises
    KeyError, TypeError or ValueError."""
    inc = Incident(str(d["name"]), int(d["serial"]), refs=[str(r) for r in d["refs"]],
                   open=True, tracks={str(k): bool(v) for k, v in d["tracks"].items()},
                   seen={str(k): float(v) for k, v in d["seen"].items()})
    if d["ref"] is not None:
        inc.ref = Prediction.from_json(d["ref"])
        inc.ref_a = assess(inc.ref)
    if d["sent"] is not None:
        inc.sent_pred = Prediction.from_json(d["sent"])
        inc.sent_a = assess(inc.sent_pred)
    inc.last_sent_t = d["last_sent_t"] if d["last_sent_t"] is not None else -math.inf
    inc.pending, inc.lost_t = bool(d["pending"]), d["lost_t"]
    inc.tracked_overflight_done = bool(d["overflight_done"])
    inc.alerted_areas = {c: areas[c] for c in d["areas"]}
    inc.clear_since, inc.fallen = d["clear_since"], bool(d["fallen"])
    inc.suspects = {str(k): float(v) for k, v in d["suspects"].items()}
    return inc


def network(track_id: str) -> str:
    """The tracker a track id comes from: ``JPN`` of ``JPN:T3`` ('' for a bare ``T3``)."""
    return track_id.rpartition(":")[0]


def keep_tighter_impact(ref: Prediction | None, p: Prediction) -> Prediction:
    """``p``, or — when the incident's reference ``ref`` (on the same ballistic arc, after
    burnout) has the narrower 95 % ellipse — ``p`` with ``ref``'s impact (point, ellipse,
    covariance, time and its σ) and the rest of ``ref``'s ground track from the point nearest the
    missile now. On one arc an older prediction's impact stays as valid as it was made, so a
    track picked up anew after a gap or a hand-over (a short arc, a wide ellipse) does not widen
    the warning to areas the incident's better prediction has already ruled out; its own
    prediction takes over once it is the narrower."""
    if (ref is None or p.status != "tracking" or ref.status != "tracking"
            or ref.impact_ellipse_95.semi_major_m >= p.impact_ellipse_95.semi_major_m):
        return p
    gt = ref.ground_track
    if gt and p.ground_track:
        lat0, lon0 = p.ground_track[0]
        c = math.cos(math.radians(lat0))
        k = min(range(len(gt)), key=lambda i: (gt[i][0] - lat0) ** 2 + ((gt[i][1] - lon0) * c) ** 2)
        gt = (p.ground_track[0],) + tuple(gt[k + 1:])
    return replace(p, impact_t=ref.impact_t, impact_lat_deg=ref.impact_lat_deg,
                   impact_lon_deg=ref.impact_lon_deg, impact_ellipse_95=ref.impact_ellipse_95,
                   impact_cov_en_m2=ref.impact_cov_en_m2, impact_t_sigma_s=ref.impact_t_sigma_s,
                   ground_track=gt)


def fresher(p: Prediction, q: Prediction) -> bool:
    """``p`` is a better driver than ``q``: made later, or as late and tighter."""
    return (p.t, -p.impact_ellipse_95.semi_major_m) > (q.t, -q.impact_ellipse_95.semi_major_m)
