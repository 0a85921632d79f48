#!/usr/bin/env python3
"""Benchmark of the alert engine.

1. **Latency**: time from a qualifying prediction to its CAP 1.2 message (``on_prediction`` →
   assessed, worded, serialised), p50/p99 over many hand-made predictions around Japan, Korea
   and the USA (target p99 < 10 ms). Also the cost of a non-qualifying prediction.
2. **Scenarios** (optional, path argument, e.g. ``/work/shared/scenarios``): every scenario
   directory is run through Accord's tracker (``accord.warning.pipeline.track_detections``) and
   the alert engine; against the truth (``events.jsonl``, ``truth.jsonl``) it reports
   - launch → first alert naming each truly affected area (target: median < 120 s, and every
     area warned before the missile passes over it or lands),
   - threat cleared (true impact time) → Cancel (target < 60 s),
   - the fraction of Alert/Update messages naming exactly the truly affected areas, and the
     fraction naming no area the true path does not touch within the margin.
   "Truly affected": the true impact point lies in the party's land or territorial sea within
   ``margin_m`` of the area, or the true ground track passes within ``margin_m`` of its land.
3. **Integrity** (issue #21), per scenario and for seeded random salvos run as whole exercises
   (``--salvos K``, :func:`accord.exercise.salvos.random_salvo`: crossing paths, lofted and
   overflying shots, coverage gaps, partner hand-overs, node crashes, a partition; both JPN and
   KOR alert): **false all-clears** (a Cancel naming an area the true path still ends in or
   crosses), **alerts never closed**, **alerts that switched to another missile**, and missiles
   with two incidents open at once (**duplicated**) (:mod:`accord.warning.alerts.audit`). All
   must be 0. Missiles alerted again after an all-clear are counted beside them.

Usage::

    .venv/bin/python bench/alerts.py [SCENARIOS_DIR] [--party JPN] [--n 2000] [--salvos 4 | --salvo-seeds 5-8] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from accord.warning.alerts import AlertEngine, AlertRules, Geography
from accord.warning.types import Ellipse95, Prediction

# its sibling ``salvo_inputs`` is imported by name, also when this file is loaded as a module
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

CACHE = Path("/tmp/accord-bench-alerts")
#: An Alert cancelled within this many seconds for the same area is a flicker (issue #18).
FLICKER_S = 30.0


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


# --- 1. latency ---------------------------------------------------------------------------
def latency(geo: Geography, n: int, seed: int = 1) -> dict:
    rng = random.Random(seed)
    per_party = {"JPN": [(41.0, 139.5), (43.3, 140.0), (35.0, 140.5), (33.5, 130.0), (26.5, 128.0)],
                 "KOR": [(37.5, 129.3), (35.0, 129.4), (34.0, 126.5), (37.0, 126.0)],
                 "USA": [(13.4, 144.5), (21.3, -158.2), (34.0, -119.0), (57.0, -153.0)]}
    qual, nonq, qual_cpu = [], [], []
    for party, anchors in per_party.items():
        rules = AlertRules(party=party)
        eng = AlertEngine(rules, geo, f"accord.{party.lower()}.example", "Exercise")
        for k in range(n // len(per_party)):
            if k % 20 == 0:  # a few incidents open at a time, as in a real raid
                eng = AlertEngine(rules, geo, f"accord.{party.lower()}.example", "Exercise")
            lat, lon = rng.choice(anchors)
            lat += rng.uniform(-0.3, 0.3)
            lon += rng.uniform(-0.3, 0.3)
            a = rng.uniform(5_000, 60_000)
            p = Prediction(t=100.0, track_id=f"B{k}", launch_t=10.0, launch_lat_deg=39.2,
                           launch_lon_deg=127.1, launch_sigma_m=2000.0, impact_t=400.0,
                           impact_lat_deg=lat, impact_lon_deg=lon,
                           impact_ellipse_95=Ellipse95(a, a * rng.uniform(0.2, 1.0), rng.uniform(0, 180)))
            c0, t0 = time.thread_time(), time.perf_counter()
            msgs = eng.on_prediction(p, 100.0)
            dt = (time.perf_counter() - t0) * 1000.0
            (qual if msgs else nonq).append(dt)
            if msgs:
                qual_cpu.append((time.thread_time() - c0) * 1000.0)
    return {"qualifying_n": len(qual), "qualifying_p50_ms": pct(qual, 50), "qualifying_p99_ms": pct(qual, 99),
            "qualifying_cpu_p50_ms": pct(qual_cpu, 50), "qualifying_cpu_p99_ms": pct(qual_cpu, 99),
            "load_average_1min": __import__("os").getloadavg()[0],
            "non_qualifying_n": len(nonq), "non_qualifying_p50_ms": pct(nonq, 50),
            "non_qualifying_p99_ms": pct(nonq, 99)}


# --- 2. scenarios -------------------------------------------------------------------------
def tracker_version() -> str:
    """A digest of the tracker's and predictor's source, so cached predictions of an older
    tracker are never reused."""
    import hashlib

    import accord.warning.boost as boost
    import accord.warning.prediction as prediction
    import accord.warning.tracking as tracking

    h = hashlib.sha256()
    for f in (sorted(Path(tracking.__file__).parent.glob("*.py")) + [Path(prediction.__file__)]
              + sorted(Path(boost.__file__).parent.glob("*.py"))):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def tracked_predictions(scen: Path) -> tuple[list[Prediction], float]:
    """Run the tracker (cached in /tmp by detections size+mtime and the tracker's source); return
    predictions, seconds."""
    from accord.warning.io import read_detections, read_predictions, write_predictions
    from accord.warning.pipeline import track_detections

    det = scen / "detections.jsonl"
    st = det.stat()
    cached = CACHE / f"{scen.name}-{st.st_size}-{int(st.st_mtime)}-{tracker_version()}-predictions.jsonl"
    if cached.exists():
        return read_predictions(cached), float("nan")
    t0 = time.perf_counter()
    header, detections = read_detections(det)
    res = track_detections(header.sensors, detections)
    secs = time.perf_counter() - t0
    CACHE.mkdir(parents=True, exist_ok=True)
    write_predictions(cached, res.predictions)
    return sorted(res.predictions, key=lambda q: (q.t, q.track_id)), secs


def truth_areas(geo: Geography, rules: AlertRules, scen: Path) -> tuple[dict[str, dict], dict]:
    """Per missile: truly affected area codes, and for each the time it is first threatened
    (overflight: first truth second within the margin of its land; impact: impact time); and the
    audit's :class:`~accord.warning.alerts.audit.MissileThreat` of each missile."""
    from accord.warning.alerts.audit import missile_threats
    from accord.warning.io import read_events, read_truth

    events = read_events(scen / "events.jsonl")
    threats = missile_threats(read_truth(scen / "truth.jsonl"), events, geo, rules)
    return {ev.id: {"event": ev, "areas": dict(threats[ev.id].since)} for ev in events}, threats


def associate(preds: list[Prediction], events: dict[str, dict]) -> dict[str, str]:
    """Track → missile by the nearest predicted impact (time, and place at ~1 s per km)."""
    by_track: dict[str, Prediction] = {}
    for p in preds:
        by_track[p.track_id] = p  # the latest prediction of each track
    out = {}
    for tid, p in by_track.items():
        # by the predicted impact (time and place): what the alerts are about
        best = min(events.values(), key=lambda d: abs(d["event"].impact_t - p.impact_t)
                   + math.hypot(d["event"].impact_lat_deg - p.impact_lat_deg,
                                d["event"].impact_lon_deg - p.impact_lon_deg) * 100)
        out[tid] = best["event"].id
    return out


def scenario(geo: Geography, rules: AlertRules, scen: Path) -> dict:
    from accord.warning.alerts.batch import run_engine

    from accord.warning.alerts.audit import AlertRecord, audit_alerts

    preds, track_s = tracked_predictions(scen)
    truth, threats = truth_areas(geo, rules, scen)
    eng = AlertEngine(rules, geo, f"accord.{rules.party.lower()}.example", "Exercise")
    msgs = run_engine(eng, preds)
    integrity = audit_alerts([AlertRecord.of(m) for m in msgs], threats)
    t2m = associate(preds, truth)
    first: dict[tuple[str, str], float] = {}
    exact = subset = n_named = 0
    for m in msgs:
        mid = t2m.get(m.track_id)
        if m.msg_type == "Cancel" or mid is None:
            continue
        n_named += 1
        true = set(truth[mid]["areas"])
        exact += set(m.area_codes) == true
        subset += set(m.area_codes) <= true
        for code in m.area_codes:
            first.setdefault((mid, code), m.t)
    rows, delays, early = [], [], []
    for mid, d in truth.items():
        ev = d["event"]
        for code, t_threat in sorted(d["areas"].items()):
            t_alert = first.get((mid, code))
            rows.append({"missile": mid, "area": code, "launch_t": ev.launch_t, "threat_t": t_threat,
                         "first_alert_t": t_alert})
            if t_alert is not None:
                delays.append(t_alert - ev.launch_t)
                early.append(t_alert < t_threat)
            else:
                early.append(False)
    cancels = []
    for m in msgs:
        mid = t2m.get(m.track_id)
        if m.msg_type == "Cancel" and mid is not None:
            cancels.append(m.t - truth[mid]["event"].impact_t)
    # areas named that the missile's true path does not touch (within the margin), per missile
    wrong: dict[str, set[str]] = {}
    for m in msgs:
        mid = t2m.get(m.track_id)
        if m.msg_type != "Cancel" and mid is not None:
            bad = set(m.area_codes) - set(truth[mid]["areas"])
            if bad:
                wrong.setdefault(mid, set()).update(bad)
    # launch → first alert of each missile that truly threatens an area (any area named)
    per_launch = {}
    for mid, d in truth.items():
        ts = [t for (m_, _c), t in first.items() if m_ == mid]
        if d["areas"] and ts:
            per_launch[mid] = min(ts) - d["event"].launch_t
    # Alert → Cancel flickers: an area cancelled within 30 s of the Alert that named it
    flickers = []
    alert_t: dict[tuple[str, str], float] = {}
    for m in msgs:
        for code in m.area_codes:
            if m.msg_type == "Alert":
                alert_t[(m.incident, code)] = m.t
            elif m.msg_type == "Cancel" and (m.incident, code) in alert_t \
                    and m.t - alert_t[(m.incident, code)] < FLICKER_S:
                flickers.append((m.incident, code, alert_t[(m.incident, code)], m.t))
    extra = [(m.track_id, t2m.get(m.track_id), m.area_codes) for m in msgs
             if m.msg_type == "Alert" and t2m.get(m.track_id) is not None
             and not truth[t2m[m.track_id]]["areas"]]
    return {"scenario": scen.name, "tracker_s": track_s, "predictions": len(preds),
            "messages": len(msgs), "by_type": {k: sum(m.msg_type == k for m in msgs)
                                               for k in ("Alert", "Update", "Cancel")},
            "affected": rows, "launch_to_first_alert_s": delays,
            "warned_before_threat": early, "impact_to_cancel_s": cancels,
            "exact_areas_fraction": exact / n_named if n_named else float("nan"),
            "no_wrong_area_fraction": subset / n_named if n_named else float("nan"),
            "alerts_for_unaffected_missiles": extra, "integrity": integrity.counts(),
            "launch_to_first_alert_per_launch_s": per_launch,
            "wrong_areas": {k: sorted(v) for k, v in wrong.items()}, "flickers": flickers,
            "integrity_detail": {"false_all_clears": integrity.false_all_clears,
                                 "never_closed": integrity.never_closed, "switched": integrity.switched,
                                 "duplicated": integrity.duplicated, "realerted": integrity.realerted}}


def salvo(seed: int, missiles: int, record: Path | None = None) -> dict:
    """One seeded random salvo run as a whole exercise; the integrity audit of each alerting
    party. ``record``: a directory to keep the alert engines' inputs in (:mod:`salvo_inputs`)."""
    import tempfile

    import salvo_inputs
    from accord.exercise.runner import Runner
    from accord.exercise.salvos import random_salvo

    sc = random_salvo(seed, missiles)
    t0 = time.process_time()
    with tempfile.TemporaryDirectory() as d, salvo_inputs.recording() as calls:
        runner = Runner(sc, Path(d) / "out")
        runner.run(progress=False)
    cpu = time.process_time() - t0
    if record is not None:
        salvo_inputs.write(salvo_inputs.path_for(record, seed, missiles), seed, missiles, calls)
    out = {"scenario": sc.name, "missiles": missiles, "cpu_s": cpu,
           "injects": [f"{i.type} {i.node} t={i.t:.0f}" for i in sc.injects],
           "parties": {p.code: party_figures(runner, p.code) for p in sc.parties if p.alerts}}
    return out


def replayed_salvo(path: Path) -> dict:
    """A salvo's recorded alert-engine inputs (``--record``) fed to today's rules, audited as
    :func:`salvo` audits the run (the truth: the salvo's seeded simulation, made again)."""
    import tempfile
    import types

    import salvo_inputs
    from accord.exercise.runner import Runner
    from accord.exercise.salvos import random_salvo

    header, calls = salvo_inputs.read(path)
    sc = random_salvo(int(header["seed"]), int(header["missiles"]))
    with tempfile.TemporaryDirectory() as d:
        sim = Runner(sc, Path(d) / "out").simulate()
    t0 = time.process_time()
    parties = {}
    for p in sc.parties:
        if p.alerts:
            log = salvo_inputs.replay(calls, p.code, sc.epoch)
            parties[p.code] = party_figures(types.SimpleNamespace(sim=sim, alerts_log=log), p.code)
    return {"scenario": sc.name, "missiles": header["missiles"], "cpu_s": time.process_time() - t0,
            "injects": [f"{i.type} {i.node} t={i.t:.0f}" for i in sc.injects], "parties": parties}


def party_figures(runner, party: str) -> dict:
    """One alerting party's messages in a finished exercise run against the simulated truth:
    launch → first Alert of each missile that truly threatens one of its areas, areas named
    that the missile's true path does not touch, Alert → Cancel flickers (an area cancelled
    within :data:`FLICKER_S` of the Alert that named it), and the integrity audit. A message's
    missile is the one its prediction followed (:func:`accord.warning.alerts.audit.missile_of`)."""
    from accord.warning.alerts.outlines import geography
    from accord.warning.alerts.audit import AlertRecord, audit_alerts, missile_of, missile_threats

    launch_t = {e.id: e.launch_t for e in runner.sim.events}
    threats = missile_threats(runner.sim.truth, runner.sim.events, geography(), AlertRules(party=party))
    recs = [AlertRecord.of(m) for m in runner.alerts_log if m["party"] == party]
    first: dict[str, float] = {}
    wrong: dict[str, set[str]] = {}
    alert_t: dict[tuple[str, str], float] = {}
    warned: dict[tuple[str, str], float] = {}
    flickers = []
    for r in recs:
        mid = missile_of(threats, r.basis_t, r.basis_lat, r.basis_lon)
        if r.msg_type != "Cancel" and mid is not None:
            bad = set(r.area_codes) - set(threats[mid].since)
            if bad:
                wrong.setdefault(mid, set()).update(bad)
            for code in set(r.area_codes) & set(threats[mid].since):
                warned.setdefault((mid, code), r.t)
            if r.msg_type == "Alert" and set(r.area_codes) & set(threats[mid].since):
                first.setdefault(mid, r.t - launch_t[mid])
        for code in r.area_codes:
            if r.msg_type == "Alert":
                alert_t[(r.incident, code)] = r.t
            elif r.msg_type == "Cancel" and r.t - alert_t.get((r.incident, code), -math.inf) < FLICKER_S:
                flickers.append((r.incident, code))
    a = audit_alerts(recs, threats)
    # every truly threatened (missile, area): named before the true path first threatens it?
    late = sorted(f"{m} {c}" for m, th in threats.items() for c, t in th.since.items()
                  if not warned.get((m, c), math.inf) < t)
    return {"messages": len(recs), "threatened_missiles": sum(bool(th.until) for th in threats.values()),
            "threatened_areas": sum(len(th.since) for th in threats.values()), "not_warned_before": late,
            "threatened": sorted(m for m, th in threats.items() if th.since),
            "first_alert_after_launch_s": first, "wrong_areas": {k: sorted(v) for k, v in wrong.items()},
            "flickers": flickers, **a.counts(),
            "detail": {"false_all_clears": a.false_all_clears, "never_closed": a.never_closed,
                       "switched": a.switched, "duplicated": a.duplicated, "realerted": a.realerted}}


def exercise_alerts(name: str = "trilateral-warning") -> dict:
    """The built-in exercise ``name`` (the default one: ``accord exercise run``) run whole, and
    :func:`party_figures` of each alerting party."""
    import tempfile

    from accord.exercise.runner import Runner
    from accord.exercise.scenario import builtin_text, parse_scenario

    sc = parse_scenario(builtin_text(name), source=name)
    t0 = time.process_time()
    with tempfile.TemporaryDirectory() as d:
        runner = Runner(sc, Path(d) / "out")
        runner.run(progress=False)
    return {"scenario": name, "cpu_s": time.process_time() - t0,
            "parties": {p.code: party_figures(runner, p.code) for p in sc.parties if p.alerts}}


def figures_line(c: dict) -> str:
    """Launch → first alert, wrong areas and flickers of one party's :func:`party_figures`."""
    fa = c["first_alert_after_launch_s"]
    return (f"launch → first alert {', '.join(f'{k} {v:.0f} s' for k, v in sorted(fa.items())) or '—'}"
            + (f" (median {statistics.median(fa.values()):.0f} s; issue #18 target ≤ 90 s)" if fa else "")
            + f"; areas named that the true path does not touch: {sum(len(v) for v in c['wrong_areas'].values())}"
            + (f" {c['wrong_areas']}" if c["wrong_areas"] else "")
            + f"; Alert → Cancel flickers: {len(c['flickers'])}"
            + f"; threatened areas warned before the path reaches them: "
              f"{c['threatened_areas'] - len(c['not_warned_before'])}/{c['threatened_areas']}"
            + (f" (not: {', '.join(c['not_warned_before'])})" if c["not_warned_before"] else ""))


INTEGRITY = ("false_all_clears", "never_closed", "switched", "duplicated", "realerted")


def integrity_line(c: dict) -> str:
    return (f"false all-clears {c['false_all_clears']}, alerts never closed {c['never_closed']}, "
            f"switched to another missile {c['switched']}, duplicated {c['duplicated']} "
            f"(incidents {c['incidents']}; missiles alerted again after an all-clear: {c['realerted']})")


def _seeds(text: str) -> list[int]:
    """``5-8`` or ``1,3,9``: the salvo seeds to run."""
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            return list(range(lo, hi + 1))
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be A-B or A,B,…, got {text!r}") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="?", type=Path)
    ap.add_argument("--party", default="JPN")
    ap.add_argument("--n", type=int, default=2000, help="hand-made predictions for the latency (0: none)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--simulate", type=int, default=0, metavar="K",
                    help="also simulate K seeded 10-missile scenarios (accord.warning.sim) into /tmp")
    ap.add_argument("--salvos", type=int, default=4, metavar="K",
                    help="run K seeded random salvos as whole exercises (crossing paths, node crashes, "
                         "hand-overs) and audit their alerts (0: none)")
    ap.add_argument("--salvo-seeds", type=_seeds, default=None, metavar="A-B|A,B,…",
                    help="the salvo seeds to run instead of 1..K (e.g. 5-8)")
    ap.add_argument("--salvo-missiles", type=int, default=6)
    ap.add_argument("--exercise", action="store_true",
                    help="also run the default exercise (trilateral-warning) whole and report its alerts")
    ap.add_argument("--record", type=Path, metavar="DIR",
                    help="keep each salvo's alert-engine inputs in DIR (salvo-SEED-MISSILES.jsonl.gz)")
    ap.add_argument("--replay", type=Path, metavar="DIR",
                    help="instead of running the salvos, feed their inputs recorded in DIR (--record) to the "
                         "alert rules as they are now and audit the messages (seconds instead of minutes)")
    a = ap.parse_args()
    dirs: list[Path] = []
    if a.scenarios:
        dirs += sorted(p for p in a.scenarios.iterdir() if (p / "detections.jsonl").exists())
    if a.simulate:
        from accord.warning.sim import random_scenario, simulate, write_scenario
        for seed in range(1, a.simulate + 1):
            d = CACHE / f"sim-seed{seed}"
            if not (d / "detections.jsonl").exists():
                write_scenario(d, simulate(random_scenario(seed, 10)))
            dirs.append(d)
    t0 = time.perf_counter()
    geo = Geography.load()
    load_s = time.perf_counter() - t0
    report: dict = {"geography_load_s": load_s}
    if a.n > 0:
        report["latency"] = latency(geo, a.n)
    lat = report.get("latency")
    if not a.json:
        print(f"geography load: {load_s:.2f} s")
    if lat is not None and not a.json:
        print(f"prediction → CAP message (qualifying, n={lat['qualifying_n']}): "
              f"p50 {lat['qualifying_p50_ms']:.2f} ms, p99 {lat['qualifying_p99_ms']:.2f} ms "
              f"(target < 10 ms: {'met' if lat['qualifying_p99_ms'] < 10 else 'NOT met'})")
        print(f"  same, CPU time of this thread (unaffected by other processes on the machine): "
              f"p50 {lat['qualifying_cpu_p50_ms']:.2f} ms, p99 {lat['qualifying_cpu_p99_ms']:.2f} ms; "
              f"1-min load average during the run {lat['load_average_1min']:.1f} on {__import__('os').cpu_count()} cores")
        print(f"non-qualifying prediction (n={lat['non_qualifying_n']}): "
              f"p50 {lat['non_qualifying_p50_ms']:.2f} ms, p99 {lat['non_qualifying_p99_ms']:.2f} ms")
    if dirs:
        rules = AlertRules(party=a.party)
        report["scenarios"] = []
        for scen in dirs:
            r = scenario(geo, rules, scen)
            report["scenarios"].append(r)
            if a.json:
                continue
            print(f"\n{scen.name}: tracker {r['tracker_s']:.0f} s (nan = cached), {r['predictions']} "
                  f"predictions → {r['messages']} messages {r['by_type']}")
            for row in r["affected"]:
                fa = row["first_alert_t"]
                print(f"  {row['missile']} {row['area']}: launch {row['launch_t']:.0f} s, "
                      f"threat {row['threat_t']:.0f} s, first alert "
                      + (f"{fa:.0f} s (+{fa - row['launch_t']:.0f} s after launch, "
                         f"{row['threat_t'] - fa:.0f} s before the threat)" if fa is not None else "NONE"))
            if r["launch_to_first_alert_s"]:
                print(f"  launch → first alert per area: median {statistics.median(r['launch_to_first_alert_s']):.0f} s "
                      f"(target < 120 s); warned before threat: {sum(r['warned_before_threat'])}/"
                      f"{len(r['warned_before_threat'])}")
            if r["launch_to_first_alert_per_launch_s"]:
                pl = r["launch_to_first_alert_per_launch_s"]
                print("  launch → first alert per launch: "
                      + ", ".join(f"{k} {v:.0f} s" for k, v in sorted(pl.items()))
                      + f"; median {statistics.median(pl.values()):.0f} s (issue #18 target ≤ 90 s)")
            print(f"  areas named that the true path does not touch: "
                  f"{sum(len(v) for v in r['wrong_areas'].values())}"
                  f"{' ' + str(r['wrong_areas']) if r['wrong_areas'] else ''}; "
                  f"Alert → Cancel flickers (< {FLICKER_S:.0f} s): {len(r['flickers'])}")
            if r["impact_to_cancel_s"]:
                print(f"  true impact → Cancel: {', '.join(f'{x:.0f}' for x in r['impact_to_cancel_s'])} s "
                      f"(target < 60 s)")
            print(f"  Alert/Update messages naming exactly the true areas: {r['exact_areas_fraction']:.2f}; "
                  f"naming no area outside the truth: {r['no_wrong_area_fraction']:.2f}")
            if r["alerts_for_unaffected_missiles"]:
                print(f"  alerts for missiles that truly affect no area: {r['alerts_for_unaffected_missiles']}")
            print(f"  integrity: {integrity_line(r['integrity'])}")
            for k in INTEGRITY:
                for x in r["integrity_detail"][k]:
                    print(f"    {k}: {x}")
    if dirs and not a.json:
        allr = report["scenarios"]
        delays = [x for r in allr for x in r["launch_to_first_alert_s"]]
        early = [x for r in allr for x in r["warned_before_threat"]]
        canc = [x for r in allr for x in r["impact_to_cancel_s"]]
        named = [(r["exact_areas_fraction"], r["no_wrong_area_fraction"], r["by_type"]["Alert"] + r["by_type"]["Update"])
                 for r in allr if r["by_type"]["Alert"]]
        w = sum(n for *_, n in named) or 1
        print(f"\nALL {len(allr)} scenarios: affected (missile, area) pairs {len(early)}, warned "
              f"{len(delays)}, warned before the threat {sum(early)}")
        if delays:
            print(f"  launch → first alert: median {statistics.median(delays):.0f} s, max {max(delays):.0f} s")
        per = [x for r in allr for x in r["launch_to_first_alert_per_launch_s"].values()]
        if per:
            print(f"  launch → first alert per threatening launch: median {statistics.median(per):.0f} s "
                  f"over {len(per)} launches (issue #18 target ≤ 90 s), max {max(per):.0f} s")
        print(f"  areas named that the true path does not touch: "
              f"{sum(len(v) for r in allr for v in r['wrong_areas'].values())}; Alert → Cancel flickers: "
              f"{sum(len(r['flickers']) for r in allr)}")
        if canc:
            print(f"  true impact → Cancel: median {statistics.median(canc):.0f} s, max {max(canc):.0f} s")
        print(f"  Alert/Update messages naming exactly the true areas: "
              f"{sum(e * n for e, _, n in named) / w:.2f}; naming no area outside the truth: "
              f"{sum(s_ * n for _, s_, n in named) / w:.2f}")
        total = {k: sum(r["integrity"][k] for r in allr) for k in ("incidents",) + INTEGRITY}
        print(f"  integrity: {integrity_line(total)}")
    if a.exercise:
        ex = exercise_alerts()
        report["exercise"] = ex
        if not a.json:
            print(f"\nthe default exercise ({ex['scenario']}), run whole: CPU {ex['cpu_s']:.0f} s")
            for party, c in ex["parties"].items():
                print(f"  {party}: {c['messages']} messages; missiles truly threatening its areas "
                      f"{', '.join(c['threatened']) or 'none'}; {figures_line(c)}")
                print(f"    {integrity_line(c)}")
    seeds = a.salvo_seeds if a.salvo_seeds is not None else list(range(1, a.salvos + 1))
    if seeds:
        report["salvos"] = []
        if not a.json:
            print(f"\nrandom salvos as exercises ({a.salvo_missiles} missiles each; JPN, KOR and USA nodes):")
        for seed in seeds:
            if a.replay is not None:
                import salvo_inputs
                src = salvo_inputs.path_for(a.replay, seed, a.salvo_missiles)
                try:
                    r = replayed_salvo(src)
                except ValueError as e:
                    sys.exit(f"error: {e} (record it with --record {a.replay})")
            else:
                r = salvo(seed, a.salvo_missiles, a.record)
            report["salvos"].append(r)
            if a.json:
                continue
            print(f"{r['scenario']}{' (replayed)' if a.replay is not None else ''}: "
                  f"{', '.join(r['injects']) or 'no injects'}; CPU {r['cpu_s']:.0f} s")
            for party, c in r["parties"].items():
                print(f"  {party}: {c['messages']} messages, {c['threatened_missiles']} missiles truly "
                      f"threatening; {integrity_line(c)}")
                print(f"    {figures_line(c)}")
                for k in INTEGRITY:
                    for x in c["detail"][k]:
                        print(f"    {k}: {x}")
        if not a.json:
            total = {k: sum(c[k] for r in report["salvos"] for c in r["parties"].values())
                     for k in ("incidents",) + INTEGRITY}
            print(f"ALL {len(seeds)} salvos (seeds {', '.join(map(str, seeds))}): {integrity_line(total)}")
            fa = [v for r in report["salvos"] for c in r["parties"].values()
                  for v in c["first_alert_after_launch_s"].values()]
            print("  launch → first alert per threatened (missile, party): "
                  + (f"median {statistics.median(fa):.0f} s over {len(fa)}, max {max(fa):.0f} s" if fa else "—")
                  + f"; areas named that the true path does not touch: "
                  f"{sum(len(v) for r in report['salvos'] for c in r['parties'].values() for v in c['wrong_areas'].values())}"
                  f"; Alert → Cancel flickers: {sum(len(c['flickers']) for r in report['salvos'] for c in r['parties'].values())}")
            cs = [c for r in report["salvos"] for c in r["parties"].values()]
            late = [f"{r['scenario']} {x}" for r in report["salvos"] for c in r["parties"].values()
                    for x in c["not_warned_before"]]
            print(f"  threatened areas warned before the path reaches them: "
                  f"{sum(c['threatened_areas'] for c in cs) - len(late)}/{sum(c['threatened_areas'] for c in cs)}"
                  + (f" (not: {', '.join(late)})" if late else ""))
    if a.json:
        json.dump(report, sys.stdout, indent=2, default=str)
        print()


if __name__ == "__main__":
    main()
