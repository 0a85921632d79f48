"""After-action report: one self-contained HTML file (inline SVG, no network) plus JSON metrics.

The figures are drawn with matplotlib's SVG backend and embedded inline, so the file opens
anywhere, offline, without scripts. Sections: a plain-language summary, the map (coastlines,
radars, launch points, true paths, fused tracks, impact ellipses, alerted areas), per-launch
timelines, GOSPA over time with and without sharing, federation latency distribution, inject
outcomes, and the figures table.
"""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.patches import Ellipse as MplEllipse  # noqa: E402

PARTY_COLOURS = {"JPN": "#c0392b", "KOR": "#2e6fbf", "USA": "#2c8a4b"}


@dataclass
class MapLayer:
    """What the map shows; all coordinates are (lon°, lat°)."""

    coastlines: Sequence[Sequence[tuple[float, float]]] = field(default_factory=list)
    alert_areas: Sequence[tuple[str, Sequence[tuple[float, float]]]] = field(default_factory=list)
    radars: list[dict[str, Any]] = field(default_factory=list)  # id, owner, lat_deg, lon_deg, max_range_m
    truth_paths: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    track_paths: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    launches: list[dict[str, Any]] = field(default_factory=list)  # id, lat, lon, impact lat/lon
    ellipses: list[dict[str, Any]] = field(default_factory=list)  # lat, lon, semi_major_m, semi_minor_m, bearing_deg


def _svg(fig: plt.Figure, element_id: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    start = text.index("<svg")
    text = text[start:]
    return text.replace("<svg ", f'<svg id="{element_id}" role="img" ', 1)


def draw_map(layer: MapLayer, bounds: tuple[float, float, float, float]) -> str:
    """The exercise map as an inline SVG string (id ``map``)."""
    lon0, lon1, lat0, lat1 = bounds
    fig, ax = plt.subplots(figsize=(9, 7))
    ax.set_facecolor("#eef4fa")
    # one collection per layer: thousands of separate patches make matplotlib crawl
    ax.add_collection(PolyCollection([r for r in layer.coastlines if len(r) > 2], facecolor="#e8e4d8",
                                     edgecolor="#8a8576", linewidth=0.5, zorder=1))
    alert_rings = [r for _, r in layer.alert_areas if len(r) > 2]
    if alert_rings:
        ax.add_collection(PolyCollection(alert_rings, facecolor="#f5b041", alpha=0.55, edgecolor="#b9770e",
                                         linewidth=0.8, zorder=2))
    for r in layer.radars:
        c = PARTY_COLOURS.get(r["owner"], "#555")
        ax.plot(r["lon_deg"], r["lat_deg"], marker="^", color=c, markersize=9, zorder=6)
        ax.annotate(r["id"], (r["lon_deg"], r["lat_deg"]), textcoords="offset points", xytext=(5, 5),
                    fontsize=7, color=c)
    for mid, path in layer.truth_paths.items():
        if len(path) > 1:
            xs, ys = zip(*path)
            ax.plot(xs, ys, color="#444", linewidth=0.8, linestyle="--", zorder=3)
    for tid, path in layer.track_paths.items():
        if len(path) > 1:
            xs, ys = zip(*path)
            party = tid.split(":")[0]
            ax.plot(xs, ys, color=PARTY_COLOURS.get(party, "#8e44ad"), linewidth=1.6, alpha=0.85, zorder=4)
    for e in layer.ellipses:
        # Ellipse drawn in degrees: scale east-west by cos(lat).
        km_per_deg = 111.195
        w = 2 * e["semi_major_m"] / 1000 / km_per_deg
        h = 2 * e["semi_minor_m"] / 1000 / km_per_deg
        coslat = max(0.1, math.cos(math.radians(e["lat"])))
        # bearing from north clockwise → matplotlib angle from +x counter-clockwise
        angle = 90.0 - e["bearing_deg"]
        ell = MplEllipse((e["lon"], e["lat"]), width=w / coslat, height=h, angle=angle,
                         fill=False, edgecolor="#8e44ad", linewidth=1.2, zorder=5)
        ax.add_patch(ell)
    for la in layer.launches:
        ax.plot(la["launch_lon_deg"], la["launch_lat_deg"], marker="x", color="black", markersize=7, zorder=6)
        ax.plot(la["impact_lon_deg"], la["impact_lat_deg"], marker="*", color="black", markersize=8, zorder=6)
        ax.annotate(la["id"], (la["launch_lon_deg"], la["launch_lat_deg"]), textcoords="offset points",
                    xytext=(-10, -12), fontsize=7)
    ax.set_xlim(lon0, lon1)
    ax.set_ylim(lat0, lat1)
    ax.set_aspect(1.0 / max(0.1, math.cos(math.radians((lat0 + lat1) / 2))))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title("Radars (▲), launches (×), true impacts (★), true paths (dashed), tracks, 95 % impact ellipses")
    ax.grid(True, linewidth=0.3, alpha=0.5)
    return _svg(fig, "map")


def draw_gospa(series: dict[str, dict[str, list[tuple[float, float]]]]) -> str:
    """GOSPA over time, per node: own radars only (dashed) versus fused with partners (solid)."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for party, curves in sorted(series.items()):
        c = PARTY_COLOURS.get(party, "#555")
        for label, style in (("own", "--"), ("fused", "-")):
            pts = curves.get(label, [])
            if pts:
                ts, vs = zip(*pts)
                ax.plot(ts, [v / 1000 for v in vs], style, color=c, linewidth=1.2, label=f"{party} {label}")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("GOSPA (km)")
    ax.set_title("Track accuracy, GOSPA (c = 5 km, p = 2, α = 2): own radars only vs fused with partners")
    ax.legend(fontsize=7, ncol=3)
    ax.grid(True, linewidth=0.3)
    return _svg(fig, "gospa")


def draw_latency(latencies_ms: Sequence[float]) -> str:
    fig, ax = plt.subplots(figsize=(9, 3))
    if latencies_ms:
        ax.hist(latencies_ms, bins=40, color="#2e6fbf")
    ax.set_xlabel("delivery latency, created at sender → stored and ledgered at receiver (ms, simulated)")
    ax.set_ylabel("items")
    ax.set_title("Federation latency distribution")
    ax.grid(True, linewidth=0.3)
    return _svg(fig, "latency")


def draw_timelines(launches: list[dict[str, Any]]) -> str:
    """One row per launch: markers at first detection, first track, partner receipts, alerts, impact."""
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.45 * max(1, len(launches))))
    marks = [("first_detection_t", "o", "#555", "first detection"),
             ("first_track_t", "s", "#8e44ad", "first confirmed track"),
             ("first_partner_receipt_t", "D", "#2e6fbf", "first partner receipt"),
             ("first_alert_t", "v", "#e67e22", "first alert")]
    for i, la in enumerate(launches):
        ax.plot([la["launch_t"], la["impact_t"]], [i, i], color="#bbb", linewidth=4, solid_capstyle="butt")
        for key, marker, colour, _ in marks:
            if la.get(key) is not None:
                ax.plot(la[key], i, marker=marker, color=colour, markersize=6)
    for key, marker, colour, label in marks:
        ax.plot([], [], marker=marker, color=colour, linestyle="", label=label)
    ax.set_yticks(range(len(launches)), [la["id"] for la in launches])
    ax.set_xlabel("time since start (s) — grey bar: launch to impact")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    ax.set_title("Timelines per launch")
    ax.grid(True, axis="x", linewidth=0.3)
    return _svg(fig, "timelines")


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1000px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
.summary{background:#f4f7fb;border-left:4px solid #2e6fbf;padding:.8em 1.2em}
.ok{color:#1e7d32;font-weight:600}.bad{color:#b71c1c;font-weight:600}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#eef2f6} svg{max-width:100%;height:auto} .muted{color:#666;font-size:.9em}
"""


def _table(rows: list[list[Any]], header: list[str]) -> str:
    out = ["<table><thead><tr>", *(f"<th>{html.escape(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def write_report(out_dir: Path, metrics: dict[str, Any], layer: MapLayer,
                 bounds: tuple[float, float, float, float], gospa_series: dict[str, dict[str, list]],
                 latencies_ms: Sequence[float], summary_lines: Sequence[str]) -> Path:
    """Write ``report.html`` and ``metrics.json`` into ``out_dir``; return the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    name = metrics.get("scenario", {}).get("name", "exercise")
    launches = metrics.get("launches", [])
    launch_rows = [[la["id"], la["launch_t"], la.get("first_detection_t"), la.get("first_track_t"),
                    la.get("first_partner_receipt_t"), la.get("first_alert_t"), la["impact_t"],
                    la.get("impact_error_km_final")] for la in launches]
    inject_rows = [[i["t"], i["type"], i.get("node"), i.get("to"), "caught" if i.get("caught") else "MISSED",
                    i.get("how", "")] for i in metrics.get("injects", [])]
    totals = metrics.get("federation", {})
    fig_rows = [[k, v] for k, v in sorted(totals.items()) if not isinstance(v, (dict, list))]
    node_rows = [[p, g.get("own_mean_gospa_m"), g.get("fused_mean_gospa_m")]
                 for p, g in sorted(metrics.get("gospa", {}).items())]
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>After-action report — {html.escape(name)}</title>
<style>{_CSS}</style></head><body>
<h1>After-action report: {html.escape(name)}</h1>
<p class="muted">{html.escape(metrics.get("scenario", {}).get("description", ""))}</p>
<section class="summary" id="summary"><h2>Summary</h2><ul>
{''.join(f'<li>{html.escape(s)}</li>' for s in summary_lines)}
</ul></section>
<h2>Map</h2>{draw_map(layer, bounds)}
<h2>Timelines per launch</h2>{draw_timelines(launches)}
{_table(launch_rows, ["launch", "launch t (s)", "first detection", "first track", "first partner receipt",
                      "first alert", "impact t (s)", "final impact error (km)"])}
<h2>Track accuracy with and without sharing</h2>{draw_gospa(gospa_series)}
{_table(node_rows, ["node", "mean GOSPA, own radars (m)", "mean GOSPA, fused (m)"])}
<h2>Federation</h2>{draw_latency(latencies_ms)}
{_table(fig_rows, ["figure", "value"])}
<h2>Injects</h2>{_table(inject_rows, ["t (s)", "inject", "node", "to", "outcome", "how"])}
<p class="muted">Generated by Accord. All data simulated. Metrics: metrics.json beside this file.</p>
</body></html>
"""
    path = out_dir / "report.html"
    path.write_text(body, encoding="utf-8")
    return path
