"""Exercise metrics (``metrics.json``) and the after-action report's inputs.

Per launch: time from launch to first detection, first confirmed track (per node), receipt of a
track of it at each partner, first alert per party; impact-prediction error over time. Per node:
GOSPA of its own tracks versus its fused picture (the measured value of sharing). Federation:
items sent, delivered, lost (must be 0), duplicated (must be 0), latency. Policy violations (must
be 0): every item a node stored from a partner is re-checked against the agreements in force.
Injects caught (must be all). Ledgers: each verifies; every pair's last tree-head check.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from accord.core.policy import decide
from accord.errors import AccordError
from accord.exercise.report import MapLayer, write_report
from accord.warning.frames import ecef_to_lla, great_circle_m
from accord.warning.scoring import GOSPA_C_M, gospa

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from accord.exercise.runner import Runner

ASSOC_M = GOSPA_C_M


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


class _Associator:
    """Which missile, if any, a position at time ``t`` belongs to (within c of its true position)."""

    def __init__(self, flights: list[Any]) -> None:
        self.flights = flights

    def nearest(self, pos: np.ndarray, t: np.ndarray) -> list[str | None]:
        pos = np.asarray(pos, dtype=float).reshape(-1, 3)
        t = np.asarray(t, dtype=float).reshape(-1)
        best = np.full(len(t), ASSOC_M)
        who: list[str | None] = [None] * len(t)
        for f in self.flights:
            inside = (t >= f.launch_t) & (t <= f.impact_t)
            if not inside.any():
                continue
            idx = np.flatnonzero(inside)
            d = np.linalg.norm(f.state_at(t[idx])[:, :3] - pos[idx], axis=1)
            for i, di in zip(idx, d):
                if di < best[i]:
                    best[i] = di
                    who[i] = f.spec.id
        return who


def compute_metrics(runner: "Runner", wall: float, drained_at: float | None) -> dict[str, Any]:
    s = runner.s
    sim = runner.sim
    assoc = runner.assoc
    parties = [p.code for p in s.parties]

    # --- per launch ---------------------------------------------------------------------------
    launches: list[dict[str, Any]] = []
    ev = {e.id: e for e in sim.events}
    # first detection: a target return near the missile's true position
    det = sim.detections
    tgt = np.flatnonzero(sim.is_target)
    first_det: dict[str, float] = {}
    first_det_by: dict[str, dict[str, float]] = defaultdict(dict)
    if len(tgt):
        from accord.warning.frames import rae_to_ecef

        pos = np.zeros((len(tgt), 3))
        for si, sen in enumerate(runner.sensors):
            m = det.sensor_idx[tgt] == si
            if m.any():
                pos[m] = rae_to_ecef(det.rae[tgt[m]], sen.ecef, sen.basis)
        for i, mid in zip(tgt, assoc.nearest(pos, det.t[tgt])):
            if mid is None:
                continue
            t = float(det.t[i])
            owner = runner.sensor_owner[int(det.sensor_idx[i])]
            first_det.setdefault(mid, t)
            first_det_by[mid].setdefault(owner, t)
    # track → missile association (per node, by majority over time)
    votes: dict[tuple[str, str], Counter] = defaultdict(Counter)
    first_track_by: dict[str, dict[str, float]] = defaultdict(dict)
    for party, log in runner.own_tracks_log.items():
        flat = [(t, tr) for t, tracks in log for tr in tracks]
        if not flat:
            continue
        mids = assoc.nearest(np.array([[tr.x, tr.y, tr.z] for _, tr in flat]), np.array([t for t, _ in flat]))
        for (t, tr), mid in zip(flat, mids):
            if mid is not None:
                votes[(party, tr.track_id)][mid] += 1
                first_track_by[mid].setdefault(party, t)
    track_missile = {k: c.most_common(1)[0][0] for k, c in votes.items()}
    # partner receipt of a track of the missile
    receipt_by: dict[str, dict[str, float]] = defaultdict(dict)
    recs = [(receiver, t, item.body) for receiver, _, t, item in runner.receipts if item.kind == "warning.track"]
    if recs:
        mids = assoc.nearest(np.array([[b["x"], b["y"], b["z"]] for _, _, b in recs]),
                             np.array([float(b["t"]) for _, _, b in recs]))
        for (receiver, t, _), mid in zip(recs, mids):
            if mid is not None:
                receipt_by[mid].setdefault(receiver, t)
    # alerts
    alert_by: dict[str, dict[str, float]] = defaultdict(dict)
    alert_msgs: Counter[tuple[str, str]] = Counter()
    for alert in runner.alerts_log:
        alert_msgs[(alert["party"], alert.get("msg_type", "?"))] += 1
        if alert.get("msg_type") == "Alert":
            for mid in alert.get("missiles", []):
                alert_by[mid].setdefault(alert["party"], alert["t"])
    # impact error over time
    imp_err: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for party, t, pred in runner.preds_log:
        if pred.status != "tracking":
            continue
        mid = track_missile.get((party, pred.track_id))
        if mid is None:
            continue
        e = ev[mid]
        err = float(great_circle_m(pred.impact_lat_deg, pred.impact_lon_deg, e.impact_lat_deg, e.impact_lon_deg))
        imp_err[mid].append((t - e.launch_t, err, party == parties[0]))
    for f in sim.flights:
        mid = f.spec.id
        e = ev[mid]
        errs = imp_err.get(mid, [])
        final = errs[-1][1] / 1000.0 if errs else None
        by_bin: dict[str, float] = {}
        for lo in range(0, 900, 60):
            sel = [er for dt, er, _ in errs if lo <= dt < lo + 60]
            if sel:
                by_bin[f"{lo}-{lo + 60}s"] = round(float(np.median(sel)) / 1000.0, 3)
        partner_receipts = {p: t for p, t in receipt_by.get(mid, {}).items()}
        launches.append({
            "id": mid, "launch_t": e.launch_t, "impact_t": e.impact_t, "burnout_t": e.burnout_t,
            "launch_lat_deg": e.launch_lat_deg, "launch_lon_deg": e.launch_lon_deg,
            "impact_lat_deg": e.impact_lat_deg, "impact_lon_deg": e.impact_lon_deg,
            "range_km": e.range_km, "apogee_km": e.apogee_km, "lofted": e.lofted,
            "first_detection_t": first_det.get(mid), "first_detection_by": first_det_by.get(mid, {}),
            "first_track_t": min(first_track_by[mid].values()) if first_track_by.get(mid) else None,
            "first_track_by": first_track_by.get(mid, {}),
            "first_partner_receipt_t": min(partner_receipts.values()) if partner_receipts else None,
            "partner_receipt_by": partner_receipts,
            "first_alert_t": min(alert_by[mid].values()) if alert_by.get(mid) else None,
            "first_alert_by": alert_by.get(mid, {}),
            "impact_error_km_final": final, "impact_error_km_median_by_time_since_launch": by_bin,
        })
    launches.sort(key=lambda la: la["launch_t"])

    # --- GOSPA own vs fused, per node, every 5 s ------------------------------------------------
    gospa_out: dict[str, dict[str, Any]] = {}
    series: dict[str, dict[str, list[tuple[float, float]]]] = {}
    own_by_t = {p: {t: trs for t, trs in log} for p, log in runner.own_tracks_log.items()}
    for party in parties:
        own_curve, fused_curve = [], []
        for t, picture in runner.fused_log.get(party, []):
            truth = runner.truth_by_sec.get(int(t), [])
            X = np.array([x[:3] for _, x in truth]).reshape(-1, 3)
            own = own_by_t.get(party, {}).get(t, [])
            Y_own = np.array([[tr.x, tr.y, tr.z] for tr in own]).reshape(-1, 3)
            Y_fused = np.array([ft.x[:3] for ft in picture]).reshape(-1, 3)
            own_curve.append((t, gospa(X, Y_own).distance))
            fused_curve.append((t, gospa(X, Y_fused).distance))
        series[party] = {"own": own_curve, "fused": fused_curve}
        gospa_out[party] = {
            "own_mean_gospa_m": float(np.mean([v for _, v in own_curve])) if own_curve else None,
            "fused_mean_gospa_m": float(np.mean([v for _, v in fused_curve])) if fused_curve else None,
            "radars": [runner.sensors[i].id for i in runner.states[party].sensor_idx],
        }

    # --- federation: sent, delivered, lost, duplicated; policy --------------------------------
    from accord.node.node import Node

    nodes = {p: Node.open(runner.states[p].dir, runner.clock) for p in parties}
    try:
        sent = delivered = lost = rejected_by_partner = 0
        lost_detail: list[str] = []
        for a in parties:
            for b in parties:
                if a == b:
                    continue
                rows = nodes[a].conn.execute(
                    "SELECT item_id, state FROM fed_outbox WHERE recipient=?", (b,)).fetchall()
                at_b = {r[0] for r in nodes[b].conn.execute("SELECT id FROM items WHERE originator=?", (a,))}
                for item_id, state in rows:
                    sent += 1
                    if state == "rejected":
                        rejected_by_partner += 1
                    elif item_id in at_b:
                        delivered += 1
                    else:
                        lost += 1
                        if len(lost_detail) < 10:
                            lost_detail.append(f"{a}→{b} {item_id} ({state})")
        dup_counter = Counter((r, o, it.id) for r, o, _, it in runner.receipts)
        duplicated = sum(c - 1 for c in dup_counter.values() if c > 1)
        violations = 0
        violation_detail: list[str] = []
        for p, node in nodes.items():
            for item in node.items():
                if item.originator == p:
                    continue
                d = decide(item, p, node.agreements(), item.created)
                if not d.allowed:
                    violations += 1
                    violation_detail.append(f"{item.originator}→{p} {item.kind} {item.id}")
        ledgers: dict[str, dict[str, Any]] = {}
        for p, node in nodes.items():
            try:
                cp = node.ledger.verify()
                ledgers[p] = {"size": cp.size, "root": cp.root_hash.hex() if hasattr(cp, "root_hash") else None,
                              "verified": True}
            except AccordError as exc:
                ledgers[p] = {"verified": False, "error": str(exc)}
        rejections = {p: node.conn.execute("SELECT COUNT(*) FROM fed_rejections").fetchone()[0]
                      for p, node in nodes.items()}
        flags = {p: {r[0]: r[1] for r in node.conn.execute(
            "SELECT party, inconsistent FROM fed_partner_state")} for p, node in nodes.items()}
    finally:
        for node in nodes.values():
            node.close()

    # --- injects -------------------------------------------------------------------------------
    rewritten = {i["_rewrite"] for i in runner.injects_out if i.get("_rewrite")}
    for inj in runner.injects_out:
        if inj.pop("_crash", False):
            inj["caught"] = lost == 0 and duplicated == 0
            inj["how"] += f"; after restart: {lost} lost, {duplicated} duplicated"
        if inj.get("_rewrite"):
            who = inj.pop("_rewrite")
            flagged_by = sorted(p for p in parties if p != who and flags[p].get(who))
            inj["caught"] = len(flagged_by) == len(parties) - 1
            inj["how"] += f"; flagged inconsistent by {', '.join(flagged_by) or 'nobody'}"
    pair_consistency = {}
    for a in parties:
        for b in parties:
            if a != b:
                pair_consistency[f"{a}→{b}"] = "inconsistent" if flags[a].get(b) else "consistent"
    honest_pairs_ok = all(v == "consistent" for k, v in pair_consistency.items()
                          if k.split("→")[1] not in rewritten)

    lat = runner.latencies_ms
    fed = {"items_sent": sent, "items_delivered": delivered, "items_lost": lost,
           "items_duplicated": duplicated, "items_rejected_by_partner": rejected_by_partner,
           "latency_ms_p50": _pct(lat, 50), "latency_ms_p99": _pct(lat, 99),
           "network_messages": runner.net.sent, "network_losses": runner.net.lost,
           "partition_drops": runner.net.partition_drops, "drained_at_s": drained_at,
           "rejections_recorded": rejections, "lost_examples": lost_detail}
    caught = sum(1 for i in runner.injects_out if i.get("caught"))
    ledgers_ok = all(v["verified"] for v in ledgers.values())
    passed = (lost == 0 and duplicated == 0 and violations == 0 and caught == len(runner.injects_out)
              and ledgers_ok and honest_pairs_ok and drained_at is not None)

    def fmt_t(v: float | None) -> str:
        return "—" if v is None else f"{v:.0f} s"

    def median_delay(key: str) -> float | None:
        vals = [la[key] - la["launch_t"] for la in launches if la.get(key) is not None]
        return float(np.median(vals)) if vals else None

    summary_table = [
        ("scenario", s.name),
        ("transport", runner.transport),
        ("simulated time / wall time", f"{s.duration_s:.0f} s / {wall:.1f} s  (×{s.duration_s / wall:.0f})"),
        ("CPU time", f"{runner.cpu_s:.1f} s"),
        ("launches", str(len(launches))),
        ("median launch → first track", fmt_t(median_delay("first_track_t"))),
        ("median launch → partner receipt", fmt_t(median_delay("first_partner_receipt_t"))),
        ("median launch → first alert", fmt_t(median_delay("first_alert_t"))),
        ("alerts issued (Alert/Update/Cancel)",
         " / ".join(str(sum(c for (p, k), c in alert_msgs.items() if k == kind))
                    for kind in ("Alert", "Update", "Cancel"))),
        *[(f"GOSPA {p}: own → fused", f"{g['own_mean_gospa_m']:.0f} m → {g['fused_mean_gospa_m']:.0f} m")
          for p, g in gospa_out.items() if g["own_mean_gospa_m"] is not None],
        ("items sent / delivered", f"{sent} / {delivered}"),
        ("items lost / duplicated", f"{lost} / {duplicated}"),
        ("latency p50 / p99 (simulated)",
         f"{fed['latency_ms_p50'] or 0:.0f} ms / {fed['latency_ms_p99'] or 0:.0f} ms"),
        ("policy violations", str(violations)),
        ("injects caught", f"{caught} / {len(runner.injects_out)}"),
        ("ledgers verified", f"{sum(v['verified'] for v in ledgers.values())} / {len(ledgers)}"),
        ("result", "PASSED" if passed else "FAILED"),
    ]
    runner._series = series
    return {
        "scenario": {"name": s.name, "description": s.description, "seed": runner.seed,
                     "duration_s": s.duration_s, "status": s.status, "parties": parties,
                     "epoch": s.epoch.isoformat()},
        "transport": runner.transport,
        "wall_s": wall, "cpu_s": runner.cpu_s, "simulated_s": s.duration_s, "speedup": s.duration_s / wall if wall else None,
        "detections": int(len(det)),
        "launches": launches, "gospa": gospa_out, "federation": fed,
        "policy_violations": violations, "policy_violation_examples": violation_detail[:10],
        "injects": runner.injects_out, "ledgers": ledgers, "ledger_pairs": pair_consistency,
        "alerts": {f"{p}:{k}": c for (p, k), c in sorted(alert_msgs.items())},
        "passed": passed, "summary_table": summary_table,
    }


def _summary_lines(m: dict[str, Any]) -> list[str]:
    fed = m["federation"]
    la = m["launches"]
    lines = [f"{len(la)} simulated launches over {m['simulated_s']:.0f} s, played in {m['wall_s']:.1f} s of wall time."]
    with_alert = [x for x in la if x["first_alert_t"] is not None]
    if with_alert:
        d = [x["first_alert_t"] - x["launch_t"] for x in with_alert]
        lines.append(f"{len(with_alert)} launch(es) threatened a party's territory and were alerted; "
                     f"median launch-to-alert {np.median(d):.0f} s.")
    else:
        lines.append("No launch threatened a party's land or territorial waters: no civil-defence alert was due.")
    for p, g in m["gospa"].items():
        if g["own_mean_gospa_m"] is not None and g["fused_mean_gospa_m"] is not None:
            lines.append(f"{p}: mean track error (GOSPA) {g['own_mean_gospa_m']:.0f} m with its own radars only, "
                         f"{g['fused_mean_gospa_m']:.0f} m fused with partners' tracks.")
    lines.append(f"{fed['items_sent']} items shared between nodes; {fed['items_lost']} lost, "
                 f"{fed['items_duplicated']} duplicated; {m['policy_violations']} policy violations.")
    caught = sum(1 for i in m["injects"] if i.get("caught"))
    lines.append(f"Injects caught: {caught} of {len(m['injects'])}.")
    lines.append("Result: " + ("PASSED — nothing lost, nothing leaked, every inject caught."
                               if m["passed"] else "FAILED — see the figures below."))
    return lines


def write_outputs(runner: "Runner", metrics: dict[str, Any]) -> "Path":
    """Write metrics.json and report.html; returns the report path."""
    from accord.warning.alerts.outlines import area_outlines, coastlines

    layer = MapLayer()
    layer.radars = [{"id": r.id, "owner": r.owner, "lat_deg": r.lat_deg, "lon_deg": r.lon_deg}
                    for r in runner.s.radars]
    layer.launches = metrics["launches"]
    for f in runner.sim.flights:
        ts = np.arange(math.ceil(f.launch_t), math.floor(f.impact_t), 5.0)
        if len(ts):
            lat, lon, _ = ecef_to_lla(f.state_at(ts)[:, :3])
            layer.truth_paths[f.spec.id] = list(zip(lon.tolist(), lat.tolist()))
    first = runner.s.parties[0].code
    paths: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t, picture in runner.fused_log.get(first, []):
        for ft in picture:
            lat, lon, _ = ecef_to_lla(ft.x[:3])
            paths[ft.track_id].append((float(lon), float(lat)))
    layer.track_paths = dict(paths)
    last_pred: dict[tuple[str, str], Any] = {}
    for party, t, p in runner.preds_log:
        if p.status == "tracking":
            last_pred[(party, p.track_id)] = p
    layer.ellipses = [{"lat": p.impact_lat_deg, "lon": p.impact_lon_deg, **p.impact_ellipse_95.__dict__}
                      for p in last_pred.values()]
    lats = [r.lat_deg for r in runner.s.radars] + [x["launch_lat_deg"] for x in metrics["launches"]] + \
           [x["impact_lat_deg"] for x in metrics["launches"]]
    lons = [r.lon_deg for r in runner.s.radars] + [x["launch_lon_deg"] for x in metrics["launches"]] + \
           [x["impact_lon_deg"] for x in metrics["launches"]]
    bounds = (min(lons) - 3, max(lons) + 3, min(lats) - 3, max(lats) + 3)
    layer.coastlines = coastlines(bounds)
    layer.alert_areas = area_outlines(sorted({c for rec in runner.alerts_log if rec["msg_type"] != "Cancel"
                                              for c in rec.get("area_codes", [])}))
    return write_report(runner.out, {k: v for k, v in metrics.items() if k != "summary_table"}, layer, bounds,
                        runner._series, runner.latencies_ms, _summary_lines(metrics))
