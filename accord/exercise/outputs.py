"""What an exercise run leaves behind: ``metrics.json`` and ``report.html`` (the report's map
layers and plain-language summary, from the run's record and its metrics)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from accord.exercise.metrics import GospaSeries
from accord.exercise.record import ExerciseRecord
from accord.exercise.report import MapLayer, write_report
from accord.warning.alerts.outlines import area_outlines, coastlines
from accord.warning.frames import ecef_to_lla


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


def write_outputs(rec: ExerciseRecord, metrics: dict[str, Any], series: GospaSeries) -> Path:
    """Write metrics.json and report.html into the run's output directory; returns the report
    path."""
    layer = MapLayer()
    layer.radars = [{"id": r.id, "owner": r.owner, "lat_deg": r.lat_deg, "lon_deg": r.lon_deg}
                    for r in rec.scenario.radars]
    layer.launches = metrics["launches"]
    for f in rec.sim.flights:
        ts = np.arange(math.ceil(f.launch_t), math.floor(f.impact_t), 5.0)
        if len(ts):
            lat, lon, _ = ecef_to_lla(f.state_at(ts)[:, :3])
            layer.truth_paths[f.spec.id] = list(zip(lon.tolist(), lat.tolist()))
    first = rec.scenario.parties[0].code
    paths: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t, picture in rec.fused_log.get(first, []):
        for ft in picture:
            lat, lon, _ = ecef_to_lla(ft.x[:3])
            paths[ft.track_id].append((float(lon), float(lat)))
    layer.track_paths = dict(paths)
    last_pred: dict[tuple[str, str], Any] = {}
    for party, t, p in rec.preds_log:
        if p.status == "tracking":
            last_pred[(party, p.track_id)] = p
    layer.ellipses = [{"lat": p.impact_lat_deg, "lon": p.impact_lon_deg, **p.impact_ellipse_95.__dict__}
                      for p in last_pred.values()]
    lats = [r.lat_deg for r in rec.scenario.radars] + [x["launch_lat_deg"] for x in metrics["launches"]] + \
           [x["impact_lat_deg"] for x in metrics["launches"]]
    lons = [r.lon_deg for r in rec.scenario.radars] + [x["launch_lon_deg"] for x in metrics["launches"]] + \
           [x["impact_lon_deg"] for x in metrics["launches"]]
    bounds = (min(lons) - 3, max(lons) + 3, min(lats) - 3, max(lats) + 3)
    layer.coastlines = coastlines(bounds)
    layer.alert_areas = area_outlines(sorted({c for rec in rec.alerts_log if rec["msg_type"] != "Cancel"
                                              for c in rec.get("area_codes", [])}))
    return write_report(rec.out, {k: v for k, v in metrics.items() if k != "summary_table"}, layer, bounds,
                        series, rec.latencies_ms, _summary_lines(metrics))
