"""Checking a run's alerts against the simulated truth: false all-clears, alerts never closed,
alerts that switched to another missile.

* **Truly threatened** — an area is threatened by a missile when its true impact point lies in the
  party's land or territorial sea within ``territorial + margin`` of the area's land, or within
  ``margin_m`` of the area's sea (the party's land or territorial sea within ``territorial`` of
  its land: an impact just outside the sea's outer limit), or in or within ``margin_m`` of the
  party's sea farther than that from every area's land (behind straight baselines) and nearest
  that area, as the rules count it (until the impact time), or its true ground track passes
  within ``margin_m`` of the area's land (until the last second it does). These are the alert
  rules' regions (an area's sea for an impact, named by the chance of falling in it — widened
  by ``margin_m`` too once ``area_lead_s`` is left before the impact; ``margin_m`` of its land
  for an overflight) with the
  documented margin: a named area the true impact misses by less than ``margin_m`` is not
  counted wrong, and every area it reaches within the margin must be warned.
* **False all-clear** — a Cancel naming an area that one of the incident's missiles still
  threatens at the Cancel's time: its true path still ends in or crosses that area.
* **Never closed** — an incident with an Alert and no Cancel by the end of the run.
* **Switched** — an incident whose messages were driven by predictions of more than one missile.
  A message's missile is the one whose true sub-missile point at the prediction's time is
  nearest the prediction's own (the first point of its ground track), within ``match_km``.
* **Duplicated** — a missile with two incidents open at once (two Alerts for one missile: a
  siren sounding twice). Reported beside it, not a failure: **re-alerted** — a missile alerted
  again after an earlier incident of it was closed (its prediction came back into an area).

Pure functions over plain records, so the same audit serves the tracker benchmark
(``bench/alerts.py``), the exercise runner and the tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from accord.warning.alerts.geography import Geography, local_projection, lonlat_reach, project
from accord.warning.alerts.rules import AlertRules
from accord.warning.frames import ecef_to_lla
from accord.warning.io import Event, Truth


@dataclass(frozen=True)
class AlertRecord:
    """What the audit needs of one CAP message."""

    incident: str
    msg_type: str
    t: float
    reason: str
    area_codes: tuple[str, ...]
    basis_t: float | None = None      # the prediction behind it: its time …
    basis_lat: float | None = None    # … and the sub-missile point it started from
    basis_lon: float | None = None

    @classmethod
    def of(cls, m: Any) -> "AlertRecord":
        """From a :class:`~accord.warning.alerts.cap.CapMessage` or an exercise log entry."""
        if isinstance(m, dict):
            b = m.get("basis") or {}
            return cls(m["incident"], m["msg_type"], float(m["t"]), m["reason"], tuple(m["area_codes"]),
                       b.get("t"), b.get("lat"), b.get("lon"))
        p = m.basis
        gt = p.ground_track[0] if p is not None and p.ground_track else (None, None)
        return cls(m.incident, m.msg_type, m.t, m.reason, tuple(m.area_codes),
                   p.t if p is not None else None, gt[0], gt[1])


@dataclass(frozen=True)
class MissileThreat:
    """One missile's true path and the areas it truly threatens: code → the first and the last
    time it does (an impact area: its impact time)."""

    id: str
    t: np.ndarray      # per-second truth times
    lat: np.ndarray
    lon: np.ndarray
    impact_t: float
    until: dict[str, float] = field(default_factory=dict)
    since: dict[str, float] = field(default_factory=dict)


@dataclass
class AlertAudit:
    incidents: int = 0
    false_all_clears: list[dict[str, Any]] = field(default_factory=list)
    never_closed: list[str] = field(default_factory=list)
    switched: list[dict[str, Any]] = field(default_factory=list)
    duplicated: list[dict[str, Any]] = field(default_factory=list)
    realerted: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"incidents": self.incidents, "false_all_clears": len(self.false_all_clears),
                "never_closed": len(self.never_closed), "switched": len(self.switched),
                "duplicated": len(self.duplicated), "realerted": len(self.realerted)}


def missile_threats(truth: Truth, events: Sequence[Event], geography: Geography,
                    rules: AlertRules) -> dict[str, MissileThreat]:
    """Per missile: its true path and the areas of ``rules.party`` it truly threatens (module
    docstring), each with the last time it threatens it."""
    pg = geography.party(rules.party)
    aor = set(rules.areas)
    out = {}
    for ev in events:
        sel = truth.ids == ev.id
        ts = truth.t[sel]
        lat, lon, _ = ecef_to_lla(truth.state[sel, :3]) if sel.any() else (np.zeros(0), np.zeros(0), None)
        until: dict[str, float] = {}
        since: dict[str, float] = {}
        imp = Point(ev.impact_lon_deg, ev.impact_lat_deg)
        # within the documented margin of the party's land or territorial sea, the outer edge of
        # the sea included: an impact just outside the 12-nmi line misses the area's sea by less
        # than the margin, as one within 12 nmi + margin of the area's land does
        terr = _near_territory(geography, rules, ev.impact_lat_deg, ev.impact_lon_deg)
        if terr is not None:
            fwd, _ = local_projection(round(ev.impact_lat_deg, 1), round(ev.impact_lon_deg, 1))
            c = project(imp, fwd)
            reach = geography.territorial_m + rules.margin_m
            cands = geography.areas_within(rules.party, imp, reach)
            inside = pg.territorial.contains(imp)
            hit = [a.code for a in cands if inside and project(a.geometry, fwd).distance(c) <= reach]
            # the party's land or sea within the margin of the impact point, within 12 nmi of an
            # area's land: that area's sea, widened by the margin
            terr_m = project(terr, fwd).intersection(c.buffer(rules.margin_m, quad_segs=32))
            hit += [a.code for a in cands if a.code not in hit and not terr_m.is_empty
                    and project(a.geometry, fwd).distance(terr_m) <= geography.territorial_m]
            if not hit:
                # the party's sea farther than that from every area's land (behind straight
                # baselines): the nearest area's, as the rule counts it
                hit = [geography.nearest_area(rules.party, ev.impact_lon_deg, ev.impact_lat_deg).code]
            for code in hit:
                until[code] = since[code] = ev.impact_t
        if len(lat) >= 2:
            line = LineString(np.column_stack([lon, lat]))
            fwd, _ = local_projection(round(float(np.mean(lat)), 1), round(float(np.mean(lon)), 1))
            pts_m = project(shapely.points(np.column_stack([lon, lat])), fwd)
            for a in geography.areas_within(rules.party, line, rules.margin_m):
                near = np.flatnonzero(shapely.distance(pts_m, project(a.geometry, fwd)) <= rules.margin_m)
                if len(near):
                    until[a.code] = max(until.get(a.code, -math.inf), float(ts[near[-1]]))
                    since[a.code] = min(since.get(a.code, math.inf), float(ts[near[0]]))
        if aor:
            until = {k: v for k, v in until.items() if k in aor}
            since = {k: v for k, v in since.items() if k in aor}
        out[ev.id] = MissileThreat(ev.id, np.asarray(ts, float), np.asarray(lat, float),
                                   np.asarray(lon, float), ev.impact_t, until, since)
    return out


def _near_territory(geography: Geography, rules: AlertRules, lat: float, lon: float):
    """The party's land and territorial sea (lon/lat) in a box holding every point within
    ``margin_m`` of an impact point (:func:`lonlat_reach`: the local projection never shortens a
    distance, so all of it within ``margin_m`` there is in the box); None when there is none that
    near."""
    fwd, _ = local_projection(round(lat, 1), round(lon, 1))
    x, y = fwd.transform(lon, lat)
    terr = geography.territorial_in(rules.party, *lonlat_reach([lat], [lon], rules.margin_m))
    if terr is None or terr.is_empty:
        return None
    if project(terr, fwd).distance(Point(x, y)) > rules.margin_m:
        return None
    return terr


def missile_of(threats: dict[str, MissileThreat], t: float | None, lat: float | None,
               lon: float | None, *, match_km: float = 100.0) -> str | None:
    """The missile whose true sub-missile point at ``t`` is nearest (``lat``, ``lon``)."""
    if t is None or lat is None or lon is None:
        return None
    best, best_km = None, match_km
    for m in threats.values():
        if len(m.t) == 0 or not m.t[0] - 1.0 <= t <= m.t[-1] + 1.0:
            continue
        k = int(np.clip(np.searchsorted(m.t, t), 0, len(m.t) - 1))
        dlat = math.radians(m.lat[k] - lat)
        dlon = math.radians(m.lon[k] - lon) * math.cos(math.radians(lat))
        km = 6371.0 * math.hypot(dlat, dlon)
        if km < best_km:
            best, best_km = m.id, km
    return best


def audit_alerts(records: Iterable[AlertRecord], threats: dict[str, MissileThreat]) -> AlertAudit:
    """The audit of the module docstring over one party's messages, in issue order."""
    by_incident: dict[str, list[AlertRecord]] = {}
    for r in records:
        by_incident.setdefault(r.incident, []).append(r)
    audit = AlertAudit(incidents=len(by_incident))
    incidents_of: dict[str, list[str]] = {}
    for inc, msgs in by_incident.items():
        missiles = {mid for r in msgs
                    if (mid := missile_of(threats, r.basis_t, r.basis_lat, r.basis_lon)) is not None}
        for mid in missiles:
            incidents_of.setdefault(mid, []).append(inc)
        if len(missiles) > 1:
            audit.switched.append({"incident": inc, "missiles": sorted(missiles)})
        if any(r.msg_type == "Alert" for r in msgs) and not any(r.msg_type == "Cancel" for r in msgs):
            audit.never_closed.append(inc)
        for r in msgs:
            if r.msg_type != "Cancel":
                continue
            for mid in sorted(missiles):
                for code in r.area_codes:
                    until = threats[mid].until.get(code)
                    if until is not None and r.t < until:
                        audit.false_all_clears.append({"incident": inc, "t": r.t, "reason": r.reason,
                                                       "area": code, "missile": mid, "threat_until": until})
    span = {inc: (msgs[0].t, msgs[-1].t if msgs[-1].msg_type == "Cancel" else math.inf)
            for inc, msgs in by_incident.items()}
    for mid, incs in sorted(incidents_of.items()):
        for i, a in enumerate(incs):
            for b in incs[i + 1:]:
                (a0, a1), (b0, b1) = sorted([span[a], span[b]])
                (audit.duplicated if b0 <= a1 else audit.realerted).append(
                    {"missile": mid, "incidents": [a, b]})
    return audit
