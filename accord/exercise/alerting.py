"""Glue between the exercise runner and the civil-defence alert engine (:mod:`accord.warning.alerts`).

A node alerts on everything it knows: its own tracker's predictions and the predictions its
partners shared. Each goes to the engine under its source's name (``JPN:T3``, ``KOR:T1``), and
the engine keeps one incident per missile by the predicted ballistic arc
(:mod:`accord.warning.identity`): a missile seen by several radars or partners, or lost and
picked up by a new track, stays one incident; a track that jumps to another missile's arc is
detached from the incident and never clears it. The fused picture (position-only association at
one instant) does not decide which alert a prediction belongs to.

The engine's open incidents are kept in the node's database with the messages they issued
(:class:`accord.warning.alerts.store.AlertStore`, one transaction), so a node that crashes
resumes them on restart and still closes each one when its threat ends.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from accord.core.markings import Marking
from accord.warning.alerts.engine import AlertEngine
from accord.warning.alerts.outlines import geography
from accord.warning.alerts.rules import AlertRules
from accord.warning.types import Prediction

ALERT_MARKING = "UNCLASSIFIED//REL TO JPN, KOR, USA"
PARTNER_PRED_MAX_AGE_S = 10.0


def make_engine(party: str, *, status: str, sender: str, epoch: datetime,
                state: dict[str, Any] | None = None) -> AlertEngine:
    """An alert engine for ``party`` with the default rules (land or territorial sea; overflight),
    carrying on from ``state`` (:meth:`AlertEngine.snapshot`) when given."""
    rules = AlertRules(party=party)
    status = "Exercise" if status == "Exercise" else status
    if state is not None:
        return AlertEngine.restore(state, rules, geography(), sender, status, epoch=epoch)
    return AlertEngine(rules, geography(), sender, status, epoch=epoch)


def alert_step(engine: AlertEngine, t: float, own_preds: list[Prediction],
               partner_preds: dict[tuple[str, str], Prediction], *, restarts: int = 0) -> list[dict[str, Any]]:
    """Feed this tick's predictions to the engine; return the CAP messages it issued.

    ``restarts``: how often the node's tracker has been restarted; it numbers its tracks anew
    each time, so its tracks are named ``JPN:T3@2`` after the second restart (an old ``T3`` is
    another object)."""
    party = engine.rules.party
    tag = f"@{restarts}" if restarts else ""
    preds = [replace(p, track_id=f"{party}:{p.track_id}{tag}") for p in own_preds]
    # partners share their live tracks' predictions only; an old one is a track they dropped
    preds += [replace(p, track_id=f"{src}:{tid}") for (src, tid), p in sorted(partner_preds.items())
              if t - p.t <= PARTNER_PRED_MAX_AGE_S]
    out = engine.on_predictions(preds, t)
    out += engine.on_time(t)
    geo = geography()
    names = {a.code: a.name("en") for p in geo.parties.values() for a in p.areas}
    msgs = []
    for m in out:
        basis = m.basis
        msgs.append({"msg_type": m.msg_type, "identifier": m.identifier, "incident": m.incident,
                     "track_id": m.track_id, "reason": m.reason, "area_codes": list(m.area_codes),
                     "areas": [names.get(c, c) for c in m.area_codes],
                     "sources": list(m.sources) or [m.track_id],
                     "basis": None if basis is None else
                     {"track": basis.track_id, "t": basis.t,
                      "lat": basis.ground_track[0][0] if basis.ground_track else None,
                      "lon": basis.ground_track[0][1] if basis.ground_track else None},
                     "message": m, "item": m.to_item(Marking.parse(ALERT_MARKING))})
    return msgs
