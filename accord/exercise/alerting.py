"""Glue between the exercise runner and the civil-defence alert engine (:mod:`accord.warning.alerts`).

A node alerts on its *fused* picture: its own tracker's predictions and the predictions its
partners shared. One missile seen by several radars is one threat: predictions are grouped by the
fused track they belong to (a fused track lists its sources, e.g. ``JPN:T3`` and ``KOR:T1``), and
a threat keeps the id it was first given, so a missile first seen by a partner and later by the
node's own radars does not raise a second alert. Each tick the threat's freshest, tightest
prediction goes to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from shapely.geometry import GeometryCollection, MultiPolygon, Polygon, box

from accord.core.markings import Marking
from accord.warning.alerts.engine import AlertEngine
from accord.warning.alerts.geography import Geography
from accord.warning.alerts.rules import AlertRules
from accord.warning.fusion import FusedTrack
from accord.warning.types import Prediction

ALERT_MARKING = "UNCLASSIFIED//REL TO JPN, KOR, USA"
PARTNER_PRED_MAX_AGE_S = 10.0


@lru_cache(maxsize=1)
def geography() -> Geography:
    return Geography.load()


@dataclass
class ThreatBook:
    """The alert engine of one party plus the mapping from track sources to threats."""

    party: str
    engine: AlertEngine
    threat_of: dict[str, str] = field(default_factory=dict)  # "KOR:T1" -> threat id
    sources_of: dict[str, set[str]] = field(default_factory=dict)

    def threat(self, source: str, picture: list[FusedTrack]) -> str:
        if source in self.threat_of:
            return self.threat_of[source]
        group = next((set(ft.sources) for ft in picture if source in ft.sources), {source})
        known = [self.threat_of[s] for s in sorted(group) if s in self.threat_of]
        tid = known[0] if known else source
        for s in group:
            self.threat_of.setdefault(s, tid)
        self.sources_of.setdefault(tid, set()).update(group)
        return tid


def make_engine(party: str, *, status: str, sender: str, epoch: datetime) -> ThreatBook:
    """An alert engine for ``party`` with the default rules (land or territorial sea; overflight)."""
    engine = AlertEngine(AlertRules(party=party), geography(), sender, "Exercise" if status == "Exercise"
                         else status, epoch=epoch)
    return ThreatBook(party, engine)


def alert_step(book: ThreatBook, t: float, picture: list[FusedTrack], own_preds: list[Prediction],
               partner_preds: dict[tuple[str, str], Prediction]) -> list[dict[str, Any]]:
    """Feed this tick's predictions to the engine; return the CAP messages it issued."""
    # keep each fused track's sources linked to one threat
    for ft in picture:
        for s in ft.sources:
            book.threat(s, picture)
    best: dict[str, Prediction] = {}
    lost: dict[str, Prediction] = {}
    candidates = [(f"{book.party}:{p.track_id}", p) for p in own_preds]
    candidates += [(f"{party}:{tid}", p) for (party, tid), p in partner_preds.items()
                   if t - p.t <= PARTNER_PRED_MAX_AGE_S]
    live_sources = {s for ft in picture for s in ft.sources}
    for source, p in candidates:
        tid = book.threat(source, picture)
        if p.status == "lost":
            lost[tid] = p
            continue
        cur = best.get(tid)
        if cur is None or (p.t, -p.impact_ellipse_95.semi_major_m) > (cur.t, -cur.impact_ellipse_95.semi_major_m):
            best[tid] = p
    out = []
    for tid, p in sorted(best.items()):
        out += book.engine.on_prediction(replace(p, track_id=tid), t)
    for tid, p in sorted(lost.items()):
        # lost only when no source of the threat is still tracked, by this node or a partner
        if tid not in best and not (book.sources_of.get(tid, set()) & live_sources):
            out += book.engine.on_prediction(replace(p, track_id=tid), t)
    out += book.engine.on_time(t)
    geo = geography()
    names = {a.code: a.name("en") for p in geo.parties.values() for a in p.areas}
    msgs = []
    for m in out:
        msgs.append({"msg_type": m.msg_type, "identifier": m.identifier, "track_id": m.track_id,
                     "reason": m.reason, "area_codes": list(m.area_codes),
                     "areas": [names.get(c, c) for c in m.area_codes],
                     "sources": sorted(book.sources_of.get(m.track_id, {m.track_id})),
                     "xml": m.xml, "item": m.to_item(Marking.parse(ALERT_MARKING))})
    return msgs


def _rings(geom: Any, bounds: tuple[float, float, float, float] | None = None,
           tolerance: float = 0.02) -> list[list[tuple[float, float]]]:
    """Exterior rings of a (multi)polygon, clipped to ``bounds`` (lon0, lon1, lat0, lat1) and
    simplified for drawing (0.02° ≈ 2 km, finer than the map's pixels)."""
    if bounds is not None:
        lon0, lon1, lat0, lat1 = bounds
        geom = geom.intersection(box(lon0, lat0, lon1, lat1))
    geom = geom.simplify(tolerance, preserve_topology=False)
    polys = geom.geoms if isinstance(geom, (MultiPolygon, GeometryCollection)) else [geom]
    return [list(p.exterior.coords) for p in polys if isinstance(p, Polygon) and not p.is_empty]


def coastlines(bounds: tuple[float, float, float, float]) -> list[list[tuple[float, float]]]:
    """Land outlines (the parties' and their neighbours') inside ``bounds``, for the report map."""
    geo = geography()
    rings = []
    for p in geo.parties.values():
        rings += _rings(p.land, bounds)
    for c in geo.countries:
        rings += _rings(c.geometry, bounds)
    return rings


def area_outlines(codes: list[str], lang: str = "en") -> list[tuple[str, list[tuple[float, float]]]]:
    """Outlines of the named admin areas (by code), named in ``lang``, for the report map and the
    console's live picture."""
    geo = geography()
    out = []
    for p in geo.parties.values():
        for a in p.areas:
            if a.code in codes:
                out += [(a.name(lang), ring) for ring in _rings(a.geometry)]
    return out
