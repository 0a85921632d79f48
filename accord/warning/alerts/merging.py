"""Two open incidents of one missile, and how one takes the other in (the *merge*).

Part of the alert engine (:mod:`accord.warning.alerts.engine`). A track joins an incident only
through the incident's arc (:func:`~accord.warning.identity.same_arc`), so two incidents can come
to follow one missile: a track's ballistic prediction that no incident's arc covered yet (the
missile's other incident still on its boost guess) starts an incident of its own, and the boost
track's hand-over (``Incident.handover``) then puts the first incident on the same arc.
:func:`same_missile` tells such a pair from two missiles on one arc (a salvo at one point seconds
apart), :func:`warned_areas` is what an incident's last message warns, :func:`absorb` moves a
duplicate's tracks and areas to the incident that survives it, and :func:`alert_sent` reads back
when an incident's Alert went out (the 30-s rule: no Alert is cancelled sooner).
"""

from __future__ import annotations

import math
from datetime import datetime

from accord.warning.alerts.geography import AdminArea
from accord.warning.alerts.incidents import Incident, network
from accord.warning.identity import same_arc, same_place
from accord.warning.types import Prediction


def warned_areas(inc: Incident) -> dict[str, AdminArea]:
    """The areas ``inc``'s last Alert or Update named (code → area): its assessment's, every
    area it ever warned when that message reported the track lost, and the areas carried from a
    merged duplicate (``Incident.carried``)."""
    if inc.sent_a is None:
        return dict(inc.carried)
    areas = {x.code: x for x in inc.sent_a.areas()}
    if inc.sent_pred is not None and inc.sent_pred.status == "lost":
        areas = {**inc.alerted_areas, **areas}
    return {**areas, **inc.carried}


def merge_arc(inc: Incident) -> Prediction | None:
    """``inc``'s ballistic arc when it may take part in a merge — open, warning now (its
    reference qualifies), tracked (not lost), not past its impact, no hand-over waiting — else
    None. A boost arc is no identity: its region holds the arcs of every missile of a salvo."""
    arc = inc.arc if inc.arc is not None else inc.ref
    if (not inc.open or inc.fallen or inc.lost_t is not None or inc.handover is not None
            or arc is None or arc.status != "tracking" or inc.ref_a is None or not inc.ref_a.qualifies):
        return None
    return arc


def _live(inc: Incident, last: dict[str, Prediction], now_t: float, live_s: float) -> list[tuple[str, Prediction]]:
    """``inc``'s live confirmed tracks and their latest predictions (a provisional track may
    follow another missile: it tells nothing of where this one is)."""
    out = []
    for k, lost in sorted(inc.tracks.items()):
        p = last.get(k)
        if not lost and k not in inc.provisional and p is not None and now_t - inc.seen.get(k, -math.inf) <= live_s:
            out.append((k, p))
    return out


def same_missile(a: Incident, b: Incident, last: dict[str, Prediction], now_t: float, live_s: float) -> bool:
    """Do the open incidents ``a`` and ``b`` follow one missile? Both warn on ballistic arcs that
    are one arc (:func:`same_arc`), each has a live confirmed track (``last``: each bound track's
    latest prediction), and every live track of one has its missile where each of the other's has
    (:func:`same_place`: two missiles on one arc seconds apart are not) and comes from another
    tracker (one tracker keeps one track per object: two of its tracks are two objects)."""
    arc_a, arc_b = merge_arc(a), merge_arc(b)
    if arc_a is None or arc_b is None:
        return False
    live_a, live_b = _live(a, last, now_t, live_s), _live(b, last, now_t, live_s)
    if not live_a or not live_b or {network(k) for k, _ in live_a} & {network(k) for k, _ in live_b}:
        return False
    if not same_arc(arc_a, arc_b):
        return False
    return all(same_place(pa, pb) if pa.t <= pb.t else same_place(pb, pa) for _, pa in live_a for _, pb in live_b)


def absorb(into: Incident, dup: Incident, by_track: dict[str, Incident]) -> None:
    """Bind ``dup``'s tracks to ``into`` (lost or live, provisional or not, as they were), with
    its suspects and every area it ever warned (so ``into``'s all-clear names them)."""
    for tid, lost in dup.tracks.items():
        if by_track.get(tid) is dup:
            by_track[tid] = into
        if tid in dup.provisional and tid not in into.tracks:
            into.provisional.add(tid)
        into.tracks[tid] = into.tracks.get(tid, True) and lost
        into.seen[tid] = max(into.seen.get(tid, -math.inf), dup.seen.get(tid, -math.inf))
    for tid, since in dup.suspects.items():
        into.suspects.setdefault(tid, since)
    for code, area in dup.alerted_areas.items():
        into.alerted_areas.setdefault(code, area)


def alert_sent(inc: Incident) -> datetime | None:
    """When ``inc``'s Alert went out, as its CAP ``sent`` (whole seconds), read from the first of
    its references (``sender,identifier,sent``; neither a sender nor an identifier has a comma);
    None without one. ValueError for a reference not of that shape."""
    if not inc.refs:
        return None
    parts = inc.refs[0].split(",")
    sent = datetime.fromisoformat(parts[2]) if len(parts) == 3 else None
    if sent is None or sent.tzinfo is None:
        raise ValueError(f"not a CAP reference with its time zone: {inc.refs[0]!r}")
    return sent
