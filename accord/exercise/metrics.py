"""Exercise metrics (``metrics.json``), computed from an :class:`~accord.exercise.record.ExerciseRecord`.

One function per section of the report: :func:`launch_metrics` (per launch: time from launch to
first detection, first confirmed track per node, receipt of a track of it at each partner, first
alert per party; impact-prediction error over time), :func:`gospa_metrics` (per node: GOSPA of its
own tracks versus its fused picture, the measured value of sharing), :func:`federation_metrics`
(items sent, delivered, lost — must be 0 —, duplicated — must be 0 —, latency; policy violations,
must be 0: every item a node stored from a partner is re-checked against the agreements in force;
ledgers: each verifies, every pair's last tree-head check), :func:`inject_outcomes` (injects
caught, must be all) and :func:`summary_table`. The record is only read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from accord.clock import ManualClock
from accord.core.policy import decide
from accord.errors import AccordError
from accord.exercise.record import ExerciseRecord
from accord.exercise.truth import TruthAssociator
from accord.node.node import Node
from accord.warning.frames import great_circle_m, rae_to_ecef
from accord.warning.scoring import gospa

#: per party, the GOSPA curves of its own tracks and of its fused picture: [(t, metres)]
GospaSeries = dict[str, dict[str, list[tuple[float, float]]]]


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _first_detections(rec: ExerciseRecord, assoc: TruthAssociator) -> tuple[dict[str, float],
                                                                              dict[str, dict[str, float]]]:
    """Per missile, the first target return near it, and the first per radar owner."""
    sim, det = rec.sim, rec.sim.detections
    tgt = np.flatnonzero(sim.is_target)
    first_det: dict[str, float] = {}
    first_det_by: dict[str, dict[str, float]] = defaultdict(dict)
    if len(tgt):
        pos = np.zeros((len(tgt), 3))
        for si, sen in enumerate(rec.sensors):
            m = det.sensor_idx[tgt] == si
            if m.any():
                pos[m] = rae_to_ecef(det.rae[tgt[m]], sen.ecef, sen.basis)
        for i, mid in zip(tgt, assoc.nearest(pos, det.t[tgt])):
            if mid is None:
                continue
            t = float(det.t[i])
            owner = rec.sensor_owner[int(det.sensor_idx[i])]
            first_det.setdefault(mid, t)
            first_det_by[mid].setdefault(owner, t)
    return first_det, first_det_by


def launch_metrics(rec: ExerciseRecord, assoc: TruthAssociator) -> tuple[list[dict[str, Any]], Counter]:
    """Per launch (in launch order), and the count of alert messages by (party, type)."""
    parties = [p.code for p in rec.scenario.parties]
    ev = {e.id: e for e in rec.sim.events}
    first_det, first_det_by = _first_detections(rec, assoc)
    # track → missile association (per node, by majority over time)
    votes: dict[tuple[str, str], Counter] = defaultdict(Counter)
    first_track_by: dict[str, dict[str, float]] = defaultdict(dict)
    for party, log in rec.own_tracks_log.items():
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
    recs = [(receiver, t, item.body) for receiver, _, t, item in rec.receipts if item.kind == "warning.track"]
    if recs:
        mids = assoc.nearest(np.array([[b["x"], b["y"], b["z"]] for _, _, b in recs]),
                             np.array([float(b["t"]) for _, _, b in recs]))
        for (receiver, t, _), mid in zip(recs, mids):
            if mid is not None:
                receipt_by[mid].setdefault(receiver, t)
    # alerts
    alert_by: dict[str, dict[str, float]] = defaultdict(dict)
    alert_msgs: Counter[tuple[str, str]] = Counter()
    for alert in rec.alerts_log:
        alert_msgs[(alert["party"], alert.get("msg_type", "?"))] += 1
        if alert.get("msg_type") == "Alert":
            for mid in alert.get("missiles", []):
                alert_by[mid].setdefault(alert["party"], alert["t"])
    # impact error over time
    imp_err: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for party, t, pred in rec.preds_log:
        if pred.status != "tracking":
            continue
        mid = track_missile.get((party, pred.track_id))
        if mid is None:
            continue
        e = ev[mid]
        err = float(great_circle_m(pred.impact_lat_deg, pred.impact_lon_deg, e.impact_lat_deg, e.impact_lon_deg))
        imp_err[mid].append((t - e.launch_t, err, party == parties[0]))
    launches: list[dict[str, Any]] = []
    for f in rec.sim.flights:
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
    return launches, alert_msgs


def gospa_metrics(rec: ExerciseRecord) -> tuple[dict[str, dict[str, Any]], GospaSeries]:
    """Per node, mean GOSPA of its own tracks and of its fused picture (and the curves)."""
    gospa_out: dict[str, dict[str, Any]] = {}
    series: GospaSeries = {}
    own_by_t = {p: {t: trs for t, trs in log} for p, log in rec.own_tracks_log.items()}
    for party in [p.code for p in rec.scenario.parties]:
        own_curve, fused_curve = [], []
        for t, picture in rec.fused_log.get(party, []):
            truth = rec.truth_by_sec.get(int(t), [])
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
            "radars": [rec.sensors[i].id for i in rec.sensor_idx[party]],
        }
    return gospa_out, series


@dataclass(frozen=True)
class FederationFigures:
    """What the nodes' databases say once the run is over."""

    sent: int
    delivered: int
    lost: int
    duplicated: int
    rejected_by_partner: int
    lost_examples: list[str]
    violations: int
    violation_examples: list[str]
    ledgers: dict[str, dict[str, Any]]
    rejections: dict[str, int]
    #: per party, which partners it flagged inconsistent
    flags: dict[str, dict[str, int]]


def federation_metrics(rec: ExerciseRecord) -> FederationFigures:
    """Open every node read-back: outboxes against partners' stores, policy re-checked on every
    received item, ledgers verified, tree-head flags."""
    parties = [p.code for p in rec.scenario.parties]
    clock = ManualClock(rec.ended)
    nodes = {p: Node.open(rec.node_dirs[p], clock) for p in parties}
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
        dup_counter = Counter((r, o, it.id) for r, o, _, it in rec.receipts)
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
    return FederationFigures(sent, delivered, lost, duplicated, rejected_by_partner, lost_detail, violations,
                             violation_detail[:10], ledgers, rejections, flags)


def inject_outcomes(rec: ExerciseRecord, fed: FederationFigures) -> tuple[list[dict[str, Any]], dict[str, str], bool]:
    """The injects as judged at the end (a copy of the record's), every pair's tree-head verdict,
    and whether every pair not involving a node that rewrote its ledger is consistent."""
    parties = [p.code for p in rec.scenario.parties]
    injects = [dict(i) for i in rec.injects]
    rewritten = {i["_rewrite"] for i in injects if i.get("_rewrite")}
    for inj in injects:
        if inj.pop("_crash", False):
            inj["caught"] = fed.lost == 0 and fed.duplicated == 0
            inj["how"] += f"; after restart: {fed.lost} lost, {fed.duplicated} duplicated"
        if inj.get("_rewrite"):
            who = inj.pop("_rewrite")
            flagged_by = sorted(p for p in parties if p != who and fed.flags[p].get(who))
            inj["caught"] = len(flagged_by) == len(parties) - 1
            inj["how"] += f"; flagged inconsistent by {', '.join(flagged_by) or 'nobody'}"
    pair_consistency = {}
    for a in parties:
        for b in parties:
            if a != b:
                pair_consistency[f"{a}→{b}"] = "inconsistent" if fed.flags[a].get(b) else "consistent"
    honest_pairs_ok = all(v == "consistent" for k, v in pair_consistency.items()
                          if k.split("→")[1] not in rewritten)
    return injects, pair_consistency, honest_pairs_ok


def summary_table(rec: ExerciseRecord, launches: list[dict[str, Any]], alert_msgs: Counter,
                  gospa_out: dict[str, dict[str, Any]], fed: dict[str, Any], violations: int, caught: int,
                  n_injects: int, ledgers: dict[str, dict[str, Any]], passed: bool) -> list[tuple[str, str]]:
    """The figures ``accord exercise run`` prints."""
    s, wall = rec.scenario, rec.wall_s

    def fmt_t(v: float | None) -> str:
        return "—" if v is None else f"{v:.0f} s"

    def median_delay(key: str) -> float | None:
        vals = [la[key] - la["launch_t"] for la in launches if la.get(key) is not None]
        return float(np.median(vals)) if vals else None

    return [
        ("scenario", s.name),
        ("transport", rec.transport),
        ("simulated time / wall time", f"{s.duration_s:.0f} s / {wall:.1f} s  (×{s.duration_s / wall:.0f})"),
        ("CPU time", f"{rec.cpu_s:.1f} s"),
        ("launches", str(len(launches))),
        ("median launch → first track", fmt_t(median_delay("first_track_t"))),
        ("median launch → partner receipt", fmt_t(median_delay("first_partner_receipt_t"))),
        ("median launch → first alert", fmt_t(median_delay("first_alert_t"))),
        ("alerts issued (Alert/Update/Cancel)",
         " / ".join(str(sum(c for (p, k), c in alert_msgs.items() if k == kind))
                    for kind in ("Alert", "Update", "Cancel"))),
        *[(f"GOSPA {p}: own → fused", f"{g['own_mean_gospa_m']:.0f} m → {g['fused_mean_gospa_m']:.0f} m")
          for p, g in gospa_out.items() if g["own_mean_gospa_m"] is not None],
        ("items sent / delivered", f"{fed['items_sent']} / {fed['items_delivered']}"),
        ("items lost / duplicated", f"{fed['items_lost']} / {fed['items_duplicated']}"),
        ("latency p50 / p99 (simulated)",
         f"{fed['latency_ms_p50'] or 0:.0f} ms / {fed['latency_ms_p99'] or 0:.0f} ms"),
        ("policy violations", str(violations)),
        ("injects caught", f"{caught} / {n_injects}"),
        ("ledgers verified", f"{sum(v['verified'] for v in ledgers.values())} / {len(ledgers)}"),
        ("result", "PASSED" if passed else "FAILED"),
    ]


def compute_metrics(rec: ExerciseRecord) -> tuple[dict[str, Any], GospaSeries]:
    """``metrics.json`` for the run ``rec``, and the GOSPA curves the report draws."""
    s = rec.scenario
    parties = [p.code for p in s.parties]
    launches, alert_msgs = launch_metrics(rec, TruthAssociator(rec.sim.flights))
    gospa_out, series = gospa_metrics(rec)
    figs = federation_metrics(rec)
    injects, pair_consistency, honest_pairs_ok = inject_outcomes(rec, figs)
    lat = rec.latencies_ms
    fed = {"items_sent": figs.sent, "items_delivered": figs.delivered, "items_lost": figs.lost,
           "items_duplicated": figs.duplicated, "items_rejected_by_partner": figs.rejected_by_partner,
           "latency_ms_p50": _pct(lat, 50), "latency_ms_p99": _pct(lat, 99),
           "network_messages": rec.network_messages, "network_losses": rec.network_losses,
           "partition_drops": rec.partition_drops, "drained_at_s": rec.drained_at,
           "rejections_recorded": figs.rejections, "lost_examples": figs.lost_examples}
    caught = sum(1 for i in injects if i.get("caught"))
    ledgers_ok = all(v["verified"] for v in figs.ledgers.values())
    passed = (figs.lost == 0 and figs.duplicated == 0 and figs.violations == 0 and caught == len(injects)
              and ledgers_ok and honest_pairs_ok and rec.drained_at is not None)
    wall = rec.wall_s
    metrics = {
        "scenario": {"name": s.name, "description": s.description, "seed": rec.seed,
                     "duration_s": s.duration_s, "status": s.status, "parties": parties,
                     "epoch": s.epoch.isoformat()},
        "transport": rec.transport,
        "wall_s": wall, "cpu_s": rec.cpu_s, "simulated_s": s.duration_s,
        "speedup": s.duration_s / wall if wall else None,
        "detections": int(len(rec.sim.detections)),
        "launches": launches, "gospa": gospa_out, "federation": fed,
        "policy_violations": figs.violations, "policy_violation_examples": figs.violation_examples,
        "injects": injects, "ledgers": figs.ledgers, "ledger_pairs": pair_consistency,
        "alerts": {f"{p}:{k}": c for (p, k), c in sorted(alert_msgs.items())},
        "passed": passed,
        "summary_table": summary_table(rec, launches, alert_msgs, gospa_out, fed, figs.violations, caught,
                                       len(injects), figs.ledgers, passed),
    }
    return metrics, series
