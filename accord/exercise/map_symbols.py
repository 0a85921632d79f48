"""MIL-STD-2525D symbols on the after-action report's map (matplotlib SVG, no script).

:func:`symbol_places` draws an invisible marker (gid ``sym-<SIDC>-<n>``) at each radar, true launch
and impact point and track end; :func:`with_symbols` then puts there the symbol milsymbol rendered
for that SIDC (``accord/warning/symbols.json``), as a ``<g>`` scaled from its viewBox with its
anchor on the marker; :func:`symbol_legend` lists the symbols shown, for the report's legend.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from accord.warning import symbols

if TYPE_CHECKING:
    from accord.exercise.report import MapLayer


def symbol_places(ax: Any, layer: MapLayer) -> None:
    """Invisible markers (gid ``sym-<SIDC>-<n>``) where :func:`with_symbols` puts 2525D symbols:
    each radar, each true launch and impact point, and each track's last position."""
    places = [(symbols.RADAR, r["lon_deg"], r["lat_deg"]) for r in layer.radars]
    places += [(symbols.LAUNCH_SITE, la["launch_lon_deg"], la["launch_lat_deg"]) for la in layer.launches]
    places += [(symbols.TRUE_IMPACT, la["impact_lon_deg"], la["impact_lat_deg"]) for la in layer.launches
               if "impact_lon_deg" in la]
    places += [(symbols.TRACK, *path[-1]) for path in layer.track_paths.values() if path]
    for n, (sidc, lon, lat) in enumerate(places):
        ax.plot(lon, lat, marker="o", markersize=1, alpha=0, linestyle="", zorder=8, gid=f"sym-{sidc}-{n}")


_PLACE = re.compile(r'(<g id="sym-(\d{20})-\d+">.*?<use [^>]*?x="([-\d.]+)" y="([-\d.]+)"[^>]*/>)', re.S)


_OUTER = re.compile(r'<svg [^>]*?width="([\d.]+)"[^>]*?viewBox="([-\d.]+) ([-\d.]+) ([\d.]+) [\d.]+"[^>]*>(.*)</svg>\s*$',
                    re.S)


MAP_SYMBOL_SCALE = 0.55  # of the pre-rendered size: symbols a little larger than the map's markers


def _as_group(sym: dict[str, Any], sidc: str, x: float, y: float, scale: float = 1.0) -> str:
    """milsymbol's ``<svg>`` as a ``<g>`` whose top-left corner is at (x, y): the same drawing,
    scaled from its viewBox to its size times ``scale`` (no nested ``<svg>`` inside the map's)."""
    m = _OUTER.match(sym["svg"])
    if m is None:
        raise ValueError(f"symbols.json: symbol {sidc} is not one <svg> with width and viewBox")
    width, vx, vy, vw, content = float(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)), m.group(5)
    return (f'<g class="sym" data-sidc="{sidc}" transform="translate({x:.2f} {y:.2f}) scale({width / vw * scale:.4f}) '
            f'translate({-vx:g} {-vy:g})">{content}</g>')


def with_symbols(svg: str) -> str:
    """Each ``sym-<SIDC>-<n>`` marker of a matplotlib SVG gets its MIL-STD-2525D symbol (pre-rendered
    by milsymbol, :mod:`accord.warning.symbols`), its anchor on the marker, as a nested ``<svg>``."""
    drawn = symbols.rendered()

    def place(m: re.Match[str]) -> str:
        sym = drawn.get(m.group(2))
        if sym is None:
            return m.group(1)
        x = float(m.group(3)) - sym["anchor"][0] * MAP_SYMBOL_SCALE
        y = float(m.group(4)) - sym["anchor"][1] * MAP_SYMBOL_SCALE
        return m.group(1) + _as_group(sym, m.group(2), x, y, MAP_SYMBOL_SCALE)

    return _PLACE.sub(place, svg)


SYMBOL_LABELS = ((symbols.RADAR, "radar (friend, ground sensor)"),
                 (symbols.LAUNCH_SITE, "launch point (suspect missile launcher)"),
                 (symbols.TRACK, "track, its last position (suspect ballistic missile)"),
                 (symbols.TRUE_IMPACT, "impact point"))


def symbol_legend(layer: MapLayer) -> list[tuple[str, str]]:
    """(inline SVG, label) for each symbol the map shows: the report's symbol legend."""
    shown = {symbols.RADAR: bool(layer.radars), symbols.LAUNCH_SITE: bool(layer.launches),
             symbols.TRACK: any(layer.track_paths.values()), symbols.TRUE_IMPACT: bool(layer.launches)}
    drawn = symbols.rendered()
    return [(drawn[sidc]["svg"].replace("<svg ", f'<svg class="sym" data-sidc="{sidc}" aria-hidden="true" ', 1),
             label) for sidc, label in SYMBOL_LABELS if shown[sidc]]


def rendered_symbols_generator() -> str:
    return symbols.generator()
