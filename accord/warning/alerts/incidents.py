"""The alert engine's state per incident and per suspect track, its durable (JSON) form, and
the rules on one incident's predictions that read no other engine state.

Part of the alert engine (:mod:`accord.warning.alerts.engine`): :class:`Incident` is one
missile's warning — its messages' references, bound tracks, reference prediction, timers —
and :func:`incident_json` / :func:`incident_from_json` are how
:meth:`~accord.warning.alerts.engine.AlertEngine.snapshot` and ``restore`` carry it across a
restart. :func:`fresher` picks an incident's driving prediction, :func:`keep_tighter_impact`
keeps the incident's narrower impact, :func:`network` names the tracker a track comes from,
:func:`material_change` says whether a prediction is worth an Update and :func:`flown_past`
whether the missile has flown past the land it was warned to overfly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from shapely.geometry import LineString, Point

from accord.warning.alerts.geography import AdminArea
from accord.warning.alerts.rules import AlertRules, Assessment
from accord.warning.identity import same_arc
from accord.warning.types import Prediction

EARTH_M_PER_DEG = 111_194.9   # metres per degree of a great circle (material_change)


@dataclass
class Suspect:
    """A track's new arc so far: one detached from its incident for a jump off the arc, or the
    arc of an incident's boost track after burnout (``Incident.handover``)."""

    since: float       # when its current run of mutually consistent predictions began
    last: Prediction


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
    # Tracks bound only through a boost-phase arc (another track's wide boost prediction, which
    # the ballistic arcs of every missile of a salvo can fall in): they may raise the warning but
    # never clear it, until a ballistic prediction of a confirmed track puts them on its arc.
    provisional: set[str] = field(default_factory=set)
    arc: Prediction | None = None             # identity reference: latest of a confirmed track (None: ref)
    # The track whose boost prediction is the identity reference, after burnout, on an arc off
    # that prediction's: the incident takes the track's own arc once it has held suspect_hold_s.
    handover: Suspect | None = None
    # Areas the last message names for a merged duplicate, which this incident warns on for it
    # (beyond its assessment's, or among them: accord.warning.alerts.merging); a later merge's
    # Update names them again; none after its next message.
    carried: dict[str, AdminArea] = field(default_factory=dict)


def finite_or_none(x: float | None) -> float | None:
    """``x`` as JSON can carry it: None for no value or an infinite one."""
    return x if x is not None and math.isfinite(x) else None


def _pred_json(p: Prediction | None) -> dict | None:
    return p.to_json() if p is not None else None


def incident_json(i: Incident) -> dict[str, Any]:
    """An open incident as JSON-able data (what :func:`incident_from_json` reads back)."""
    d = {"name": i.name, "serial": i.serial, "refs": list(i.refs),
            "tracks": dict(sorted(i.tracks.items())),
            "seen": dict(sorted(i.seen.items())), "ref": _pred_json(i.ref),
            "sent": _pred_json(i.sent_pred), "last_sent_t": finite_or_none(i.last_sent_t),
            "pending": i.pending, "lost_t": i.lost_t,
            "overflight_done": i.tracked_overflight_done,
            "areas": sorted(i.alerted_areas), "clear_since": i.clear_since,
            "fallen": i.fallen, "suspects": dict(sorted(i.suspects.items())),
            "provisional": sorted(i.provisional), "arc": _pred_json(i.arc),
            "handover": None if i.handover is None else {"since": i.handover.since,
                                                         "last": i.handover.last.to_json()}}
    if i.carried:   # only after a merge: the snapshots of every other run stay as they were
        d["carried"] = sorted(i.carried)
    return d


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
    # both absent from snapshots written before provisional tracks were kept
    inc.provisional = {str(k) for k in d.get("provisional") or ()}
    if d.get("arc") is not None:
        inc.arc = Prediction.from_json(d["arc"])
    h = d.get("handover")   # absent from snapshots written before hand-overs were kept
    if h is not None:
        inc.handover = Suspect(float(h["since"]), Prediction.from_json(h["last"]))
    inc.carried = {c: areas[c] for c in d.get("carried") or ()}
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
    prediction takes over once it is the narrower. A reference off ``p``'s arc
    (:func:`~accord.warning.identity.same_arc`) — a provisional track's that drove, which may
    follow another missile, when a confirmed track's prediction, or the incident's boost track
    after its hand-over, drives next — gives it nothing."""
    if (ref is None or p.status != "tracking" or ref.status != "tracking"
            or ref.impact_ellipse_95.semi_major_m >= p.impact_ellipse_95.semi_major_m
            or not same_arc(ref, p)):
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


def material_change(rules: AlertRules, inc: Incident, pred: Prediction, a: Assessment) -> tuple[bool, bool]:
    """(changed materially?, urgent?) versus the last message sent for this incident, by
    ``rules``' ``material_*`` settings."""
    old, old_p = inc.sent_a, inc.sent_pred
    if old is None or old_p is None or old_p.status != pred.status:
        return True, True  # first message, or tracking regained after a loss
    new_codes, old_codes = set(a.area_codes), set(old.area_codes)
    if new_codes - old_codes:
        return True, True  # a newly threatened area is warned at once
    if new_codes != old_codes or a.impact_threat != old.impact_threat or a.overflight != old.overflight:
        return True, False
    de = (a.ellipse.lon_deg - old.ellipse.lon_deg) * math.cos(math.radians(a.ellipse.lat_deg))
    dn = a.ellipse.lat_deg - old.ellipse.lat_deg
    if math.hypot(de, dn) * EARTH_M_PER_DEG > rules.material_shift_m:
        return True, False
    if abs(a.ellipse.semi_major_m - old.ellipse.semi_major_m) > \
            rules.material_axis_ratio * old.ellipse.semi_major_m:
        return True, False
    if abs(pred.impact_t - old_p.impact_t) > rules.material_time_s:
        return True, False
    return False, False


def flown_past(inc: Incident, pred: Prediction) -> bool:
    """Has the tracked missile flown past every overflight area it was warned about?

    True when the current sub-missile point (the new ground track's first point), projected
    onto the ground track of the last message, lies beyond that track's last point over any
    warned overflight area. (A path that merely *shifted* away does not pass this test.)
    """
    old_a, old_p = inc.sent_a, inc.sent_pred
    if old_a is None or old_p is None or not old_a.overflight or len(old_p.ground_track) < 2 \
            or not pred.ground_track:
        return False
    line = LineString([(lon, lat) for lat, lon in old_p.ground_track])
    s_now = line.project(Point(pred.ground_track[0][1], pred.ground_track[0][0]))
    s_land = 0.0
    for h in old_a.overflight_hits:
        cut = line.intersection(h.area.geometry.buffer(0.1))
        for part in getattr(cut, "geoms", [cut]):
            for c in getattr(part, "coords", []):
                s_land = max(s_land, line.project(Point(c)))
    return s_land > 0.0 and s_now > s_land
