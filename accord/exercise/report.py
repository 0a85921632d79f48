"""After-action report: one self-contained HTML file (inline SVG, no network) plus JSON metrics.

Kept as one module: the report's sections, each computed for the one Jinja2 template
that lays them out.

The figures are drawn with matplotlib's SVG backend and embedded inline, so the file opens
anywhere, offline, without scripts. Names from the scenario file (radar and launch ids) are drawn
with ``parse_math=False``: a ``$…$`` in a name is those characters, never mathtext (which could
fail the whole report); matplotlib escapes them in the SVG, Jinja2 in the HTML. Sections: a plain-language summary, the map (coastlines,
radars, launch points, true paths, fused tracks, impact ellipses, alerted areas, with a legend,
labels placed clear of each other and an inset per impact area), per-launch timelines, GOSPA over time with and without sharing, federation latency distribution, inject
outcomes, and the figures table. Times are seconds since start with the UTC clock time beside them.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from functools import lru_cache
from typing import Any

import matplotlib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.patches import Ellipse as MplEllipse  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from accord.core.files import replace_file  # noqa: E402
from accord.exercise.map_symbols import (  # noqa: E402
    rendered_symbols_generator, symbol_legend, symbol_places, with_symbols)

PARTY_COLOURS = {"JPN": "#c0392b", "KOR": "#2e6fbf", "USA": "#2c8a4b"}


def utc_clock(epoch: datetime, t: float, dated: bool = True) -> str:
    """The UTC clock time ``t`` seconds after ``epoch``: ``HH:MM:SS``, dated (if ``dated``) when the day differs."""
    start = epoch.astimezone(timezone.utc)
    at = start + timedelta(seconds=t)
    return at.strftime("%Y-%m-%d %H:%M:%S" if dated and at.date() != start.date() else "%H:%M:%S")


def _utc_axis(ax: Any, epoch: datetime | None) -> None:
    """A second x axis on top of a seconds-since-start axis, in UTC clock time."""
    if epoch is None:
        return
    top = ax.secondary_xaxis("top")
    top.xaxis.set_major_formatter(FuncFormatter(lambda t, _pos: utc_clock(epoch, t, dated=False)))
    top.tick_params(labelsize=7)
    top.set_xlabel("UTC", fontsize=8)


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


KM_PER_DEG = 111.195
INSETS_MAX = 3  # impact areas given their own inset; the rest are only on the main map
INSET_CLUSTER_KM = 150.0  # ellipses closer than this share one inset
INSET_MIN_M = 200.0  # the smallest inset, across


def _ellipse_patch(e: dict[str, Any], **style: Any) -> MplEllipse:
    """A 95 % ellipse in (lon°, lat°): east-west scaled by 1/cos(lat); bearing from north clockwise."""
    w = 2 * e["semi_major_m"] / 1000 / KM_PER_DEG
    h = 2 * e["semi_minor_m"] / 1000 / KM_PER_DEG
    coslat = max(0.1, math.cos(math.radians(e["lat"])))
    return MplEllipse((e["lon"], e["lat"]), width=w / coslat, height=h, angle=90.0 - e["bearing_deg"],
                      fill=False, edgecolor="#8e44ad", linewidth=1.2, zorder=5, **style)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Rough ground distance between two (lon°, lat°) points, enough to group impact areas."""
    dx = (a[0] - b[0]) * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot(dx, a[1] - b[1]) * KM_PER_DEG


def impact_clusters(ellipses: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Ellipses grouped by impact area (greedy, ``INSET_CLUSTER_KM``), most ellipses first."""
    groups: list[list[dict[str, Any]]] = []
    for e in ellipses:
        for g in groups:
            if _km((e["lon"], e["lat"]), (g[0]["lon"], g[0]["lat"])) <= INSET_CLUSTER_KM:
                g.append(e)
                break
        else:
            groups.append([e])
    return sorted(groups, key=len, reverse=True)


def _inset_bounds(group: Sequence[dict[str, Any]]) -> tuple[float, float, float, float]:
    """(lon0, lon1, lat0, lat1) holding every ellipse of ``group`` with a margin: the ellipses' own
    scale (a 300 m ellipse gets an inset about a kilometre across), at least ``INSET_MIN_M`` across."""
    lat_mid = sum(e["lat"] for e in group) / len(group)
    coslat = max(0.1, math.cos(math.radians(lat_mid)))
    half_lat = [max(INSET_MIN_M / 2, e["semi_major_m"]) / 1000 / KM_PER_DEG for e in group]
    lon0 = min(e["lon"] - h / coslat for e, h in zip(group, half_lat))
    lon1 = max(e["lon"] + h / coslat for e, h in zip(group, half_lat))
    lat0 = min(e["lat"] - h for e, h in zip(group, half_lat))
    lat1 = max(e["lat"] + h for e, h in zip(group, half_lat))
    # square on the ground, then 25 % margin each side
    half = max((lon1 - lon0) * coslat, lat1 - lat0) / 2 * 1.5
    cx, cy = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    return cx - half / coslat, cx + half / coslat, cy - half, cy + half


def _overlap(a: Any, b: Any) -> float:
    """Area shared by two display-space boxes (0 when apart)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


# Offsets (points) tried in turn for a launch label: close first, then further out in eight directions.
_LABEL_OFFSETS = [(r * dx, r * dy) for r in (8, 16, 26, 38, 52)
                  for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))]


def _launch_label(ax: Any, la: dict[str, Any], offset: tuple[float, float], leader: bool = False) -> Any:
    dx, dy = offset
    return ax.annotate(la["id"], (la["launch_lon_deg"], la["launch_lat_deg"]), textcoords="offset points",
                       xytext=offset, fontsize=7, zorder=7, gid=f"launch-label-{la['id']}", parse_math=False,
                       ha="left" if dx > 0 else "right" if dx < 0 else "center",
                       va="bottom" if dy > 0 else "top" if dy < 0 else "center",
                       bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
                       arrowprops={"arrowstyle": "-", "color": "#555", "linewidth": 0.5, "shrinkA": 0,
                                   "shrinkB": 3} if leader else None)


def place_launch_labels(ax: Any, launches: Sequence[dict[str, Any]]) -> list[Any]:
    """Label each launch point where the label overlaps no other label and no launch marker.

    Greedy: each label takes the first free offset of ``_LABEL_OFFSETS`` (the least-overlapping
    one if none is free); a label moved away from its point gets a leader line. Returns the
    annotations (gid ``launch-label-<id>``). Call after the axes' limits and aspect are set.
    """
    fig = ax.figure
    ax.apply_aspect()
    renderer = fig.canvas.get_renderer()
    pad = 4 * fig.dpi / 72  # a launch marker's half-size in display units
    markers = [Bbox.from_extents(x - pad, y - pad, x + pad, y + pad)
               for x, y in (ax.transData.transform((la["launch_lon_deg"], la["launch_lat_deg"])) for la in launches)]
    placed: list[Bbox] = []
    out = []
    for la in launches:
        best: tuple[float, tuple[float, float], Bbox] | None = None
        for offset in _LABEL_OFFSETS:
            trial = _launch_label(ax, la, offset)
            box = trial.get_window_extent(renderer).expanded(1.08, 1.15)
            trial.remove()
            cost = sum(_overlap(box, b) for b in placed + markers)
            if best is None or cost < best[0]:
                best = (cost, offset, box)
            if cost == 0:
                break
        assert best is not None
        placed.append(best[2])
        out.append(_launch_label(ax, la, best[1], leader=math.hypot(*best[1]) > 12))
    return out


def _legend_handles(layer: MapLayer) -> list[Any]:
    """One legend entry per kind of thing the map shows, track colours per party present."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = []
    parties = sorted({tid.split(":")[0] for tid, p in layer.track_paths.items() if len(p) > 1})
    for party in parties:
        handles.append(Line2D([], [], color=PARTY_COLOURS.get(party, "#8e44ad"), linewidth=1.6,
                              label=f"track from {party}"))
    if layer.truth_paths:
        handles.append(Line2D([], [], color="#444", linewidth=0.8, linestyle="--", label="true path"))
    owners = sorted({r["owner"] for r in layer.radars})
    for owner in owners:
        handles.append(Line2D([], [], marker="^", color=PARTY_COLOURS.get(owner, "#555"), linestyle="",
                              markersize=8, label=f"{owner} radar"))
    if layer.launches:
        handles.append(Line2D([], [], marker="x", color="black", linestyle="", label="launch point"))
        handles.append(Line2D([], [], marker="*", color="black", linestyle="", markersize=8, label="true impact"))
    if layer.ellipses:
        handles.append(Patch(fill=False, edgecolor="#8e44ad", linewidth=1.2, label="95 % impact ellipse"))
    if layer.alert_areas:
        handles.append(Patch(facecolor="#f5b041", alpha=0.55, edgecolor="#b9770e", label="alerted area"))
    return handles


def _draw_layers(ax: Any, layer: MapLayer, ellipse_gid: str | None = None) -> None:
    """Land, alerted areas, paths, tracks, ellipses and impacts, shared by the map and its insets."""
    # one collection per layer: thousands of separate patches make matplotlib crawl
    ax.add_collection(PolyCollection([r for r in layer.coastlines if len(r) > 2], facecolor="#e8e4d8",
                                     edgecolor="#8a8576", linewidth=0.5, zorder=1))
    alert_rings = [r for _, r in layer.alert_areas if len(r) > 2]
    if alert_rings:
        ax.add_collection(PolyCollection(alert_rings, facecolor="#f5b041", alpha=0.55, edgecolor="#b9770e",
                                         linewidth=0.8, zorder=2))
    for path in layer.truth_paths.values():
        if len(path) > 1:
            xs, ys = zip(*path)
            ax.plot(xs, ys, color="#444", linewidth=0.8, linestyle="--", zorder=3)
    for tid, path in layer.track_paths.items():
        if len(path) > 1:
            xs, ys = zip(*path)
            party = tid.split(":")[0]
            ax.plot(xs, ys, color=PARTY_COLOURS.get(party, "#8e44ad"), linewidth=1.6, alpha=0.85, zorder=4)
    for i, e in enumerate(layer.ellipses):
        ax.add_patch(_ellipse_patch(e, gid=f"{ellipse_gid}-{i}" if ellipse_gid else None))
    for la in layer.launches:
        ax.plot(la["impact_lon_deg"], la["impact_lat_deg"], marker="*", color="black", markersize=8, zorder=6)


def draw_map(layer: MapLayer, bounds: tuple[float, float, float, float]) -> str:
    """The exercise map as an inline SVG string (id ``map``).

    Below the map a legend (gid ``map-legend``); beside it, for up to ``INSETS_MAX`` impact areas,
    an inset at the ellipses' own scale (gid ``impact-inset-<n>``, its ellipses ``inset-<n>-ellipse-<i>``),
    since a 95 % ellipse a few km across is a dot at the scale of the whole theatre.
    """
    lon0, lon1, lat0, lat1 = bounds
    clusters = impact_clusters(layer.ellipses)[:INSETS_MAX]
    fig = plt.figure(figsize=(12, 7.5))
    grid = fig.add_gridspec(max(1, len(clusters)), 2, width_ratios=[3, 1], wspace=0.12, hspace=0.35)
    ax = fig.add_subplot(grid[:, 0])
    ax.set_facecolor("#eef4fa")
    _draw_layers(ax, layer, ellipse_gid="map-ellipse")
    for r in layer.radars:
        c = PARTY_COLOURS.get(r["owner"], "#555")
        ax.plot(r["lon_deg"], r["lat_deg"], marker="^", color=c, markersize=9, zorder=6)
        ax.annotate(r["id"], (r["lon_deg"], r["lat_deg"]), textcoords="offset points", xytext=(5, 5),
                    fontsize=7, color=c, parse_math=False)
    for la in layer.launches:
        ax.plot(la["launch_lon_deg"], la["launch_lat_deg"], marker="x", color="black", markersize=7, zorder=6,
                gid=f"launch-{la['id']}")
    ax.set_xlim(lon0, lon1)
    ax.set_ylim(lat0, lat1)
    ax.set_aspect(1.0 / max(0.1, math.cos(math.radians((lat0 + lat1) / 2))))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title("Launches, tracks, 95 % impact ellipses and alerted areas")
    ax.grid(True, linewidth=0.3, alpha=0.5)
    symbol_places(ax, layer)
    place_launch_labels(ax, layer.launches)
    ax.legend(handles=_legend_handles(layer), loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=4,
              fontsize=8, frameon=True).set_gid("map-legend")
    for n, group in enumerate(clusters, start=1):
        inset = fig.add_subplot(grid[n - 1, 1], gid=f"impact-inset-{n}")
        inset.set_facecolor("#eef4fa")
        sub = MapLayer(coastlines=layer.coastlines, alert_areas=layer.alert_areas, truth_paths=layer.truth_paths,
                       track_paths=layer.track_paths, launches=layer.launches, ellipses=group)
        _draw_layers(inset, sub, ellipse_gid=f"inset-{n}-ellipse")
        x0, x1, y0, y1 = _inset_bounds(group)
        inset.set_xlim(x0, x1)
        inset.set_ylim(y0, y1)
        inset.set_aspect(1.0 / max(0.1, math.cos(math.radians((y0 + y1) / 2))))
        inset.set_xticks([])  # degrees to five decimals say less than the scale in the title
        inset.set_yticks([])
        across = (y1 - y0) * KM_PER_DEG
        inset.set_title(f"impact area {n}, {(y0 + y1) / 2:.2f}°N {(x0 + x1) / 2:.2f}°E:\n"
                        f"{across:.{0 if across >= 10 else 1}f} km across", fontsize=8)
        ax.indicate_inset((x0, y0, x1 - x0, y1 - y0), edgecolor="#8e44ad", linewidth=0.8, alpha=0.9)
        ax.annotate(str(n), (x1, y1), fontsize=7, color="#8e44ad", xytext=(2, 2), textcoords="offset points")
    if not clusters:
        fig.add_subplot(grid[0, 1]).axis("off")
    return with_symbols(_svg(fig, "map"))


def draw_gospa(series: dict[str, dict[str, list[tuple[float, float]]]], epoch: datetime | None = None) -> str:
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
    _utc_axis(ax, epoch)
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


def draw_timelines(launches: list[dict[str, Any]], epoch: datetime | None = None) -> str:
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
    ax.set_yticks(range(len(launches)), [la["id"] for la in launches], parse_math=False)
    ax.set_xlabel("time since start (s) — grey bar: launch to impact")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    ax.set_title("Timelines per launch")
    ax.grid(True, axis="x", linewidth=0.3)
    _utc_axis(ax, epoch)
    return _svg(fig, "timelines")


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1000px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
.summary{background:#f4f7fb;border-left:4px solid #2e6fbf;padding:.8em 1.2em}
.ok{color:#1e7d32;font-weight:600}.bad{color:#b71c1c;font-weight:600}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#eef2f6} svg{max-width:100%;height:auto} .muted{color:#666;font-size:.9em}
ul.symbols{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3em 1.4em;font-size:.9em}
ul.symbols svg{vertical-align:middle}
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


@lru_cache(maxsize=1)
def _templates() -> Environment:
    """The report's Jinja2 templates (``accord/exercise/templates``, package data), autoescaped."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined)
    env.filters["fmt"] = _fmt
    return env


def replace_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (:func:`~accord.core.files.replace_file`): a
    run killed, or a disk filling, mid-write leaves the old file or none, never a part of one."""
    replace_file(path, text.encode("utf-8"))


def write_report(out_dir: Path, metrics: dict[str, Any], layer: MapLayer,
                 bounds: tuple[float, float, float, float], gospa_series: dict[str, dict[str, list]],
                 latencies_ms: Sequence[float], summary_lines: Sequence[str]) -> Path:
    """Write ``report.html`` and ``metrics.json`` into ``out_dir``; return the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    replace_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    name = metrics.get("scenario", {}).get("name", "exercise")
    epoch_text = metrics.get("scenario", {}).get("epoch")
    epoch = datetime.fromisoformat(epoch_text) if epoch_text else None

    def at(t: float | None) -> str | None:
        """Seconds since start, with the UTC clock time beside them when the epoch is known."""
        if t is None:
            return None
        return f"{t:,.1f} s" + (f" ({utc_clock(epoch, t)} UTC)" if epoch else "")

    launches = metrics.get("launches", [])
    launch_rows = [[la["id"], *(at(la.get(k)) for k in ("launch_t", "first_detection_t", "first_track_t",
                                                          "first_partner_receipt_t", "first_alert_t", "impact_t")),
                    la.get("impact_error_km_final")] for la in launches]
    inject_rows = [[at(i["t"]), i["type"], i.get("node"), i.get("to"), "caught" if i.get("caught") else "MISSED",
                    i.get("how", "")] for i in metrics.get("injects", [])]
    totals = metrics.get("federation", {})
    fig_rows = [[k, v] for k, v in sorted(totals.items()) if not isinstance(v, (dict, list))]
    node_rows = [[p, g.get("own_mean_gospa_m"), g.get("fused_mean_gospa_m")]
                 for p, g in sorted(metrics.get("gospa", {}).items())]
    body = _templates().get_template("report.html").render(
        name=name, description=metrics.get("scenario", {}).get("description", ""), css=_CSS, epoch=epoch,
        epoch_text=f"{epoch.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}" if epoch else "",
        summary_lines=summary_lines, map_svg=draw_map(layer, bounds), symbol_legend=symbol_legend(layer),
        symbol_generator=rendered_symbols_generator(), timelines_svg=draw_timelines(launches, epoch),
        launch_rows=launch_rows, gospa_svg=draw_gospa(gospa_series, epoch), node_rows=node_rows,
        latency_svg=draw_latency(latencies_ms), fig_rows=fig_rows, inject_rows=inject_rows)
    path = out_dir / "report.html"
    replace_text(path, body)   # last: a run with a report.html ran to its end
    return path
