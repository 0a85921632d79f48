#!/usr/bin/env python3
"""What holds a missile's first alert back in the boost: its track's boost predictions, one line each.

For one missile of a scenario (``events.jsonl``, ``truth.jsonl``, ``detections.jsonl``) the
tracker is run (``accord.warning.pipeline.track_detections``, boost predictions every
``--every`` seconds) and each boost prediction of the track following the missile (its
sub-missile point within 100 km of the truth's, ``accord.warning.alerts.audit.missile_of``) is
put to the party's boost rule (``accord.warning.alerts.rules.boost``). Per prediction:

* seconds since the true launch, the rise fit's launch-time error;
* for each area the missile truly threatens, and any other with a threat chance ≥ 0.05: the
  threat chance (``boost_threat_chances``), the same for the path moved ``BOOST_CROSS_K`` σ to
  the left and to the right (the lateral test), the σ across the path where it passes nearest
  the area's representative point (``track_sigma_m``);
* the true impact's distance across the predicted path, in km and in that σ (``z``);
* the areas the rule names;
* the track's velocity error against the truth in its own covariance (NEES, 3 degrees of freedom);
* the thrust the tracker's boost model estimates along the velocity, with its σ, against the
  truth's (the change of the true velocity less gravity): how soon the track can tell that the
  motor has stopped.

Then, over every boost prediction of the run (each put to the missile whose true position is
nearest, within 20 km), the NEES of the track's position and velocity by the truth's phase: mean,
median and the share inside the 95 % bound (χ²₃ 7.81) — whether the boost filter's σ is honest,
too wide (a likelihood fed with it loses information) or too narrow.

An area is named once its chance and both moved paths' chances reach
``boost_alert_probability`` (0.9) — or by the overflight and ending tests, see docs/alerts.md,
"Before burnout".

``--set key=value`` overrides a ``TrackerConfig`` field (e.g. ``--set q_boost=0.5``: the boost
model's process noise). ``--banks N:SEED,…`` then puts the same track states (the tracker's inputs to each of these boost
predictions, recorded in the run) to other hypothesis banks: the step class
(:data:`accord.warning.boost.STEP_CLASS`) drawn ``N`` times from generator seed ``SEED`` — the
bank's Monte Carlo error on the threat chance, and what the posterior tends to as the bank
grows. Per bank one line: the hypotheses kept, when the rule first names a truly threatened
area, and the lowest of the three chances (the path and the path moved ±3 σ) of the truly
threatened areas at each prediction. Usage::

    .venv/bin/python bench/boost_trace.py ../shared/scenarios/east-sea-10 --missile M010 --party JPN
    .venv/bin/python bench/boost_trace.py ../shared/scenarios/east-sea-10 --missile M010 --banks 6000:2028,90000:2027
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from unittest import mock

import numpy as np

from accord.warning import boost
from accord.warning.alerts import AlertRules
from accord.warning.alerts.audit import missile_of, missile_threats
from accord.warning.alerts.outlines import geography
from accord.warning.alerts.rules.boost import BOOST_CROSS_K, _shifted, assess_boost, boost_threat_chances
from accord.warning.frames import EARTH_RADIUS_M, gravity
from accord.warning.io import read_detections, read_events, read_truth
from accord.warning.pipeline import track_detections
from accord.warning.tracking import TrackerConfig
from accord.warning.tracking.models import BOOST
from accord.warning.tracking.tracker import Tracker

CHI2_3_95 = 7.815


def _unit(lat: float, lon: float) -> np.ndarray:
    la, lo = math.radians(lat), math.radians(lon)
    return np.array([math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)])


def _across(pred, lat: float, lon: float) -> tuple[float, float]:
    """(distance m of (lat, lon) across the predicted path — signed, left positive —, the path's
    σ across at its point nearest there)."""
    u = _unit(lat, lon)
    pts = [_unit(a, b) for a, b in pred.ground_track]
    k = int(np.argmin([-(p @ u) for p in pts]))
    j = min(k + 1, len(pts) - 1) if k + 1 < len(pts) else k - 1
    n = np.cross(pts[min(k, j)], pts[max(k, j)])
    n /= np.linalg.norm(n)
    return EARTH_RADIUS_M * math.asin(float(np.clip(n @ u, -1.0, 1.0))), float(pred.track_sigma_m[k])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", type=Path)
    ap.add_argument("--missile", required=True)
    ap.add_argument("--party", default="JPN")
    ap.add_argument("--every", type=float, default=TrackerConfig().boost_every_s,
                    help="seconds between a track's boost predictions (the tracker's boost_every_s)")
    ap.add_argument("--until", type=float, default=None, help="track the detections up to this time only")
    ap.add_argument("--set", action="append", default=[],
                    help="TrackerConfig field=value (JSON value), e.g. q_boost=0.5 (repeatable)")
    ap.add_argument("--banks", default="",
                    help="replay the track's boost predictions with step-class banks of N draws from seed SEED "
                         "(N:SEED,…)")
    a = ap.parse_args()
    geo = geography()
    rules = AlertRules(party=a.party)
    events = {e.id: e for e in read_events(a.scenario / "events.jsonl")}
    ev = events[a.missile]
    threats = missile_threats(read_truth(a.scenario / "truth.jsonl"), list(events.values()), geo, rules)
    header, det = read_detections(a.scenario / "detections.jsonl")
    if a.until is not None:
        k = int(np.searchsorted(det.t, a.until, side="right"))
        det = dataclasses.replace(det, t=det.t[:k], sensor_idx=det.sensor_idx[:k], range_m=det.range_m[:k],
                                  az_rad=det.az_rad[:k], el_rad=det.el_rad[:k],
                                  line=None if det.line is None else det.line[:k])
    overrides = {k: json.loads(v) for k, v in (x.split("=", 1) for x in a.set)}
    thrusts: dict = {}
    res, calls = tracked(header.sensors, det, TrackerConfig(**{"boost_every_s": a.every, **overrides}), thrusts)
    truth = read_truth(a.scenario / "truth.jsonl")
    true_areas = sorted(threats[a.missile].since)
    print(f"{a.missile}: launch t={ev.launch_t:.2f}, burnout +{ev.burnout_t - ev.launch_t:.1f} s, "
          f"range {ev.range_km:.0f} km; truly threatened ({a.party}): {', '.join(true_areas) or 'none'}; "
          f"bar {rules.boost_alert_probability}, lateral test ±{BOOST_CROSS_K:g} σ")
    for p in res.predictions:
        if p.status != "boost" or not p.ground_track:
            continue
        if missile_of(threats, p.t, *p.ground_track[0]) != a.missile:
            continue
        ch = boost_threat_chances(p, rules, geo)
        left = boost_threat_chances(_shifted(p, BOOST_CROSS_K), rules, geo)
        right = boost_threat_chances(_shifted(p, -BOOST_CROSS_K), rules, geo)
        shown = sorted(set(true_areas) | {c for c, q in ch.items() if q >= 0.05})
        parts = []
        for c in shown:
            area = next((x for x in geo.party(a.party).areas if x.code == c), None)
            sig = ""
            if area is not None:
                pt = area.geometry.representative_point()
                sig = f" σ {_across(p, pt.y, pt.x)[1] / 1e3:.1f} km"
            parts.append(f"{c} {ch.get(c, 0.0):.2f} (moved {left.get(c, 0.0):.2f}/{right.get(c, 0.0):.2f}{sig})")
        off, s = _across(p, ev.impact_lat_deg, ev.impact_lon_deg)
        rec = nearest(truth, calls, p)
        named = assess_boost(p, rules, geo).area_codes
        est, sig = thrusts.get((p.t, p.track_id), (math.nan, math.nan))
        true = true_thrust(truth, a.missile, p.t)
        print(f"+{p.t - ev.launch_t:6.2f} s {p.track_id:>4} launch-time error {p.launch_t - ev.launch_t:+5.1f} s | "
              + "; ".join(parts) + f" | true impact {off / 1e3:+6.1f} km across (z {off / max(s, 1.0):+.2f})"
              + f" | named {', '.join(named) or '—'}" + ("" if rec is None else f" | v NEES {rec[3]:.2f}")
              + f" | thrust {est:.1f} ± {sig:.1f} m/s² (true {true:.1f})")
    print_nees([r for r in (nearest(truth, calls, None, c) for c in calls) if r is not None])
    if a.banks:
        _replay(a, calls, threats, true_areas, rules, geo, ev.launch_t)


def nearest(truth, calls: list[tuple], pred=None, call: tuple | None = None) -> tuple | None:
    """``(missile, truth phase, position NEES, velocity NEES)`` of one boost prediction's track state
    (the recorded call of ``pred``, or ``call``) against the missile whose true position is nearest,
    within 20 km; the truth interpolated between its whole seconds. ``None`` if none is."""
    if call is None:
        call = next((c for c in calls if c[0][0] == pred.t and c[0][1] == pred.track_id), None)
        if call is None:
            return None
    t, x, P = float(call[0][0]), np.asarray(call[0][2], dtype=float), np.asarray(call[0][3], dtype=float)
    best = None
    for m in np.unique(truth.ids):
        sel = truth.ids == m
        ts = truth.t[sel]
        if not ts[0] <= t <= ts[-1]:
            continue
        s = np.array([np.interp(t, ts, truth.state[sel, i]) for i in range(6)])
        d = float(np.linalg.norm(s[:3] - x[:3]))
        if d <= 20_000.0 and (best is None or d < best[0]):
            k = max(int(np.searchsorted(ts, t, side="right")) - 1, 0)
            best = (d, str(m), str(truth.phase[sel][k]), x[:6] - s)
    if best is None:
        return None
    e = best[3]
    return (best[1], best[2], float(e[:3] @ np.linalg.solve(P[:3, :3], e[:3])),
            float(e[3:] @ np.linalg.solve(P[3:6, 3:6], e[3:])))


def print_nees(rows: list[tuple]) -> None:
    """The NEES lines of :func:`nearest`'s rows, by the truth's phase."""
    for phase in sorted({r[1] for r in rows}):
        sel = [r for r in rows if r[1] == phase]
        parts = []
        for j, name in ((2, "position"), (3, "velocity")):
            v = np.array([r[j] for r in sel])
            parts.append(f"{name} mean {v.mean():.2f} median {np.median(v):.2f} "
                         f"inside 95 % {100.0 * np.mean(v <= CHI2_3_95):.0f} %")
        print(f"boost predictions while the truth is in {phase}: {len(sel)} of "
              f"{len({r[0] for r in sel})} missiles; NEES (3 dof: mean 3, median 2.37) " + "; ".join(parts))


def tracked(sensors, det, config: TrackerConfig, thrusts: dict | None = None) -> tuple:
    """``track_detections`` with the inputs of each of its boost predictions recorded: ``(result,
    [(args, kwargs), …])`` in the order the tracker asked for them. ``thrusts``, if given, gets
    ``(t, track id) → (thrust m/s², σ)``: the boost model's thrust estimate along the track's
    velocity at each of those predictions (read from the rows the tracker took them from)."""
    calls: list[tuple] = []
    made = boost.boost_prediction
    rows_at = Tracker._confirmed_rows_at
    last: list = []

    def keeping(self, t, sel):
        last[:] = [rows_at(self, t, sel)]
        return last[0]

    def recording(*args, **kw):
        calls.append((args, kw))
        if thrusts is not None and last:
            X, P, x, _ = last[0]
            q = int(np.argmin(np.linalg.norm(x[:, 0:6] - np.asarray(args[2])[None, 0:6], axis=1)))
            u = x[q, 3:6] / np.linalg.norm(x[q, 3:6])
            thrusts[(float(args[0]), args[1])] = (float(X[q, BOOST, 6:9] @ u),
                                                  math.sqrt(float(u @ P[q, BOOST, 6:9, 6:9] @ u)))
        return made(*args, **kw)

    with (mock.patch.object(boost, "boost_prediction", recording),   # the tracker calls it through the package
          mock.patch.object(Tracker, "_confirmed_rows_at", keeping)):
        res = track_detections(sensors, det, config)
    return res, calls


def true_thrust(truth, missile: str, t: float) -> float:
    """The true thrust (m/s²) of ``missile`` at ``t``: the change of its velocity over the two
    seconds about the truth's time nearest ``t``, less gravity; NaN outside its flight."""
    sel = truth.ids == missile
    ts, st = truth.t[sel], truth.state[sel]
    k = int(np.argmin(np.abs(ts - t))) if len(ts) else 0
    if not 1 <= k < len(ts) - 1:
        return math.nan
    acc = (st[k + 1, 3:6] - st[k - 1, 3:6]) / (ts[k + 1] - ts[k - 1]) - gravity(st[k, 0:3])
    return float(np.linalg.norm(acc))


def replayed(calls: list[tuple], classes: tuple) -> list:
    """The recorded boost predictions (:func:`tracked`) made again weighing the banks of ``classes``."""
    return [boost.boost_prediction(*args, **kw, classes=classes) for args, kw in calls]


def _replay(a, calls, threats, true_areas, rules, geo, launch_t: float) -> None:
    """The ``--banks`` lines: the missile's boost predictions made again with other step-class banks."""
    mine = [c for c, p in zip(calls, replayed(calls, boost.DEFAULT_CLASSES))
            if p is not None and p.ground_track and missile_of(threats, p.t, *p.ground_track[0]) == a.missile]
    print(f"threat chance of {', '.join(true_areas)} (lowest of the path and the path moved ±{BOOST_CROSS_K:g} σ) "
          "by step-class bank (draws:seed, kept)")
    for spec in a.banks.split(","):
        n, seed = (int(v) for v in spec.split(":"))
        step = dataclasses.replace(boost.STEP_CLASS, n=n, seed=seed)
        classes = (boost.SIM_CLASS, step)
        row, first = [], None
        for p in replayed(mine, classes):
            if p is None:
                continue
            ch = [boost_threat_chances(q, rules, geo) for q in (p, _shifted(p, BOOST_CROSS_K),
                                                                 _shifted(p, -BOOST_CROSS_K))]
            low = min(min(c.get(area, 0.0) for c in ch) for area in true_areas) if true_areas else 0.0
            row.append(f"{p.t - launch_t:.1f}:{low:.2f}")
            if first is None and set(true_areas) & set(assess_boost(p, rules, geo).area_codes):
                first = p.t - launch_t
        named = "—" if first is None else f"+{first:.1f} s"
        print(f"{n}:{seed} ({len(boost.bank(step).burn_s)} kept; first named {named}) " + " ".join(row))


if __name__ == "__main__":
    main()
