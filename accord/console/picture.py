"""The live picture: an SVG map drawn on the server from the packaged geography (no tiles, no
network), with alerted areas, own and partner tracks with their trails, predicted launch points
and 95 % impact ellipses.

Projection: equirectangular over :data:`BOUNDS` with the vertical scale chosen so that a metre
is the same number of pixels east–west and north–south at the middle latitude; so an ellipse's
axes can be drawn in metres (``px_per_m``), rotated by its bearing. Tracks are ECEF states
(``warning.track`` bodies) turned into lat/lon with :func:`accord.warning.frames.ecef_to_lla`;
a trail is the track's positions over the last :data:`TRAIL_MINUTES` by ``created``, thinned
to what the map can show (:func:`thin`: vertices 2 px apart, at most :data:`TRAIL_POINTS`); the
caller reads only the items of that window. Each
track's head and each prediction is a link (keyboard-focusable) to the item's page.

Radars are ``warning.radar`` items (:func:`radars_of`): each is drawn as a site (a triangle) and
its coverage's ground footprint, the sector out to ``max_range_m`` between
``az_center_deg ± az_half_width_deg`` (a full circle when the half width is 180°), great circles
on the sphere. The picture can be drawn as it was at an earlier time: the caller passes that
time as ``now`` and only the items created by then.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from accord.warning import symbols

BOUNDS = (122.0, 146.0, 30.0, 45.5)  # lon0, lon1, lat0, lat1: Korea, Japan and the seas between
WIDTH = 900
TRAIL_MINUTES = 30
REPLAY_SECONDS = TRAIL_MINUTES * 60  # the time control goes back this far
TRAIL_POINTS = 120  # per track: a drawn trail never has more vertices than this (see thin)
TRAIL_MIN_PX = 2.0  # per track: a trail's vertices are at least this far apart on the map
PARTY_COLOURS = {"JPN": "#c0392b", "KOR": "#2e6fbf", "USA": "#2c8a4b"}
M_PER_DEG = 111_195.0


def seconds_of(body: dict, key: str) -> float:
    """A number of an item's body for ordering (``t``), 0 when absent or not a number: a
    partner's track with ``"t": null`` made the sorts here raise TypeError, and the picture a
    500 for everyone who could see that track."""
    value = body.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _height() -> int:
    lon0, lon1, lat0, lat1 = BOUNDS
    return round(WIDTH * (lat1 - lat0) / ((lon1 - lon0) * math.cos(math.radians((lat0 + lat1) / 2))))


HEIGHT = _height()


def xy(lon: float, lat: float) -> tuple[float, float]:
    lon0, lon1, lat0, lat1 = BOUNDS
    return (round((lon - lon0) / (lon1 - lon0) * WIDTH, 1), round((lat1 - lat) / (lat1 - lat0) * HEIGHT, 1))


def px_per_m() -> float:
    lon0, lon1, lat0, lat1 = BOUNDS
    return HEIGHT / ((lat1 - lat0) * M_PER_DEG)


def _path(rings: Iterable[Iterable[tuple[float, float]]]) -> str:
    parts = []
    for ring in rings:
        pts = [xy(lon, lat) for lon, lat in ring]
        if len(pts) > 2:
            parts.append("M" + "L".join(f"{x} {y}" for x, y in pts) + "Z")
    return "".join(parts)


LAND_FILE = Path(__file__).parent / "land_path.txt"
"""The land outlines of :data:`BOUNDS` as one SVG path, computed from the packaged geography by
:func:`compute_land_path` and kept as package data: computing it reads and clips the whole
geography (seconds), which the first picture a node draws should not wait for. A test holds the
file to the computation; regenerate it with ``python -m accord.console.picture`` when the
geography or the bounds change."""


@lru_cache(maxsize=1)
def land_path() -> str:
    return LAND_FILE.read_text(encoding="ascii").strip()


def compute_land_path() -> str:
    from accord.warning.alerts.outlines import coastlines

    return _path(coastlines(BOUNDS))


def _xyz(body: dict) -> tuple[float, float, float] | None:
    try:
        return float(body["x"]), float(body["y"]), float(body["z"])
    except (KeyError, TypeError, ValueError):
        return None


def _lonlats(xyz: list[Any]) -> list[tuple[float, float]]:
    """ECEF positions → (lon°, lat°), in one vectorised call."""
    from accord.warning.frames import ecef_to_lla

    if not xyz:
        return []
    lat, lon, _ = ecef_to_lla(xyz)
    return list(zip(lon.tolist(), lat.tolist()))


def radars_of(items: Iterable[Any]) -> list[Any]:
    """The radars among ``warning.radar`` items: the latest item per (originator, radar ``id``)
    whose body is a sensor of the warning-file header (``docs/formats/warning-files.md``: site,
    noise and coverage), in (originator, id) order. An item that is not one is left out
    (:func:`accord.warning.tracking.sensors.latest_radars`)."""
    items = list(items)
    if not items:
        return []
    from accord.warning.tracking.sensors import latest_radars

    latest = latest_radars(items)
    return [latest[k] for k in sorted(latest)]


def _destination(lat: float, lon: float, bearing_deg: float, dist_m: float) -> tuple[float, float]:
    """(lon°, lat°) ``dist_m`` along the great circle from (lat, lon) at ``bearing_deg``."""
    p1, l1, th, d = math.radians(lat), math.radians(lon), math.radians(bearing_deg), dist_m / 6_371_000.0
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(th))
    l2 = l1 + math.atan2(math.sin(th) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(l2), math.degrees(p2)


def footprint(body: dict) -> list[tuple[float, float]]:
    """A radar's coverage on the ground as a ring of (lon°, lat°): the sector out to its maximum
    range (from the site when it is narrower than a full circle)."""
    lat, lon, rng = float(body["lat_deg"]), float(body["lon_deg"]), float(body["max_range_m"])
    half = min(float(body["az_half_width_deg"]), 180.0)
    steps = max(8, round(half / 3))
    arc = [_destination(lat, lon, float(body["az_center_deg"]) - half + 2 * half * k / steps, rng)
           for k in range(steps + 1)]
    return arc if half >= 180.0 else [(lon, lat), *arc]


def _radars_svg(radars: list[Any], home: str) -> list[str]:
    e = html.escape
    out = []
    for r in radars:
        b, party = r.body, r.originator
        colour = PARTY_COLOURS.get(party, "#8e44ad")
        x, y = xy(float(b["lon_deg"]), float(b["lat_deg"]))
        label = f"{party} {b['id']} — {r.marking}"
        dash = "" if party == home else ' stroke-dasharray="4 3"'
        out.append(f'<g class="radar" data-party="{e(party)}" data-radar="{e(str(b["id"]))}">'
                   f'<title>{e(label)}</title>'
                   f'<path class="coverage" d="{_path([footprint(b)])}" fill="{colour}" fill-opacity="0.07" '
                   f'stroke="{colour}" stroke-opacity="0.6" stroke-width="0.8"{dash}/>'
                   + symbol(symbols.RADAR, x, y, f'<path d="M0 -6L5 4L-5 4Z" fill="{colour}" stroke="#fff"/>')
                   + '</g>')
    return out


def symbol(sidc: str, x: float, y: float, fallback: str = "") -> str:
    """A MIL-STD-2525D symbol's place at (x, y): ``static/symbols.js`` draws the symbol of
    ``data-sidc`` there with milsymbol.js; ``fallback`` (drawn around 0,0) shows until it does,
    and stays if scripts are off."""
    inner = f'<g class="fallback">{fallback}</g>' if fallback else ""
    return f'<g class="symbol" data-sidc="{sidc}" transform="translate({x} {y})">{inner}</g>'


def thin(pts: list[tuple[float, float]], min_px: float = TRAIL_MIN_PX,
         cap: int = TRAIL_POINTS) -> list[tuple[float, float]]:
    """A trail as drawn: the first and last points, and between them only points at least
    ``min_px`` pixels from the last one kept (what a screen can show), then at most ``cap``
    vertices (evenly chosen, the last always kept)."""
    if len(pts) <= 2:
        return list(pts)
    kept = [pts[0]]
    for p in pts[1:-1]:
        q = kept[-1]
        if (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 >= min_px * min_px:
            kept.append(p)
    kept.append(pts[-1])
    if len(kept) > cap:
        step = (len(kept) - 1) / (cap - 1)
        kept = [kept[round(k * step)] for k in range(cap)]
    return kept


def render(*, home: str, tracks: list[Any], predictions: list[Any], alerted: list[str], lang: str,
           now: datetime, t: Callable[[str], str], radars: Iterable[Any] = ()) -> str:
    """The picture's ``<svg>`` (escaped: every text comes through :func:`html.escape`)."""
    e = html.escape
    out = [f'<svg id="picture" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'role="group" aria-labelledby="picture-title"><title id="picture-title">{e(t("picture"))}</title>',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#eef4fa"/>',
           f'<path d="{land_path()}" fill="#e8e4d8" stroke="#8a8576" stroke-width="0.6"/>']
    if alerted:
        from accord.warning.alerts.outlines import area_outlines  # reads the packaged geography (once)
    for name, ring in area_outlines(alerted, lang) if alerted else []:
        out.append(f'<path class="alerted" d="{_path([ring])}" fill="#f5b041" fill-opacity="0.6" stroke="#b9770e">'
                   f'<title>{e(name)}</title></path>')
    out += _radars_svg(list(radars), home)
    since = now - timedelta(minutes=TRAIL_MINUTES)
    trails: dict[tuple[str, str], list[Any]] = {}
    for item in tracks:
        if since <= item.created <= now:
            trails.setdefault((item.originator, str(item.body.get("track_id"))), []).append(item)
    for (party, track_id), items in sorted(trails.items()):
        items.sort(key=lambda i: (seconds_of(i.body, "t"), i.created))
        items = [i for i in items if _xyz(i.body) is not None]
        pts = [xy(*p) for p in _lonlats([_xyz(i.body) for i in items])]
        if not pts:
            continue
        colour = PARTY_COLOURS.get(party, "#8e44ad")
        dash = "" if party == home else ' stroke-dasharray="6 3"'
        trail = thin(pts)
        if len(trail) > 1:
            line = " ".join(f"{x},{y}" for x, y in trail)
            out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.8"{dash}/>')
        x, y = pts[-1]
        head = items[-1]
        out.append(f'<a href="/console/items/{e(head.id)}" class="track" data-party="{e(party)}">'
                   f'<title>{e(party)} {e(track_id)} — {e(str(head.marking))}</title>'
                   + symbol(symbols.TRACK, x, y, f'<circle r="{6 if party == home else 5}" fill="{colour}" '
                            'stroke="#fff" stroke-width="1.5"/>') + '</a>')
    ppm = px_per_m()
    for p in predictions:
        b = p.body
        try:
            lx, ly = xy(float(b["launch_lon_deg"]), float(b["launch_lat_deg"]))
            ix, iy = xy(float(b["impact_lon_deg"]), float(b["impact_lat_deg"]))
            ell = b["impact_ellipse_95"]
            rx, ry = float(ell["semi_major_m"]) * ppm, float(ell["semi_minor_m"]) * ppm
            rot = float(ell["bearing_deg"]) - 90.0  # bearing: from north, clockwise; SVG: from +x, clockwise
        except (KeyError, TypeError, ValueError):
            continue
        label = f'{p.originator} {b.get("track_id", "")} — {p.marking}'
        out.append(f'<a href="/console/items/{e(p.id)}" class="prediction"><title>{e(label)}</title>'
                   + symbol(symbols.LAUNCH, lx, ly, '<path d="M-5 -5L5 5M-5 5L5 -5" stroke="#111" stroke-width="2"/>')
                   + f'<ellipse cx="{ix}" cy="{iy}" rx="{max(rx, 0.5):.2f}" ry="{max(ry, 0.5):.2f}" '
                   f'transform="rotate({rot:.1f} {ix} {iy})" fill="#8e44ad" fill-opacity="0.25" stroke="#8e44ad"/>'
                   + symbol(symbols.IMPACT, ix, iy, '<circle r="7" fill="none" stroke="#8e44ad" stroke-width="1.5"/>')
                   + '</a>')
    out.append("</svg>")
    return "".join(out)


def track_facts(item: Any) -> dict[str, Any] | None:
    """What a track's page shows beside its body: position, altitude, speed, phase, source."""
    from accord.warning.frames import ecef_to_lla

    body = item.body
    xyz = _xyz(body)
    if xyz is None:
        return None
    lat, lon, alt = (float(v) for v in ecef_to_lla(list(xyz)))
    ll = (lon, lat)
    try:
        speed = math.hypot(*(float(body[k]) for k in ("vx", "vy", "vz")))   # no overflow at 1e308
    except (KeyError, TypeError, ValueError, OverflowError):
        speed = None
    return {"lon": ll[0], "lat": ll[1], "alt_km": float(alt) / 1000.0, "speed": speed,
            "phase": body.get("phase"), "source": body.get("source", item.originator)}


def source_pairs(item: Any) -> list[tuple[str, str]]:
    """The (party, track id) pairs a track stands for: each ``PARTY:TRACK`` of a fused track's
    ``sources``, else its own originator and ``track_id``."""
    sources = item.body.get("sources")
    pairs: list[tuple[str, str]] = []
    for source in sources if isinstance(sources, list) else []:
        party, colon, track = str(source).partition(":")
        if colon:
            pairs.append((party, track))
    return pairs or [(item.originator, str(item.body.get("track_id")))]


def track_id_bytes(value: Any) -> tuple[bytes, ...]:
    """How a body's ``"track_id"`` that reads as ``str(value)`` appears in an item's stored
    (canonical) JSON — as that string, or as the number it spells — for the store to pick a
    track's items by (:meth:`accord.node.Node.items`' ``containing``); empty (pick nothing out)
    for a track id that is neither a string nor a number."""
    import json

    from accord.core.canonical import canonical_json
    from accord.errors import AccordError

    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ()
    text = str(value)
    out = [b'"track_id":' + canonical_json(text)]
    try:
        number = json.loads(text)
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            out.append(b'"track_id":' + canonical_json(number))
    except (ValueError, RecursionError, AccordError):  # not a number (or one JSON cannot hold: NaN, 1e400)
        pass
    return tuple(out)


def contributors(item: Any, tracks: Iterable[Any], radars: Iterable[Any]) -> dict[str, list[Any]]:
    """Who contributed to a track: ``parties`` as (party, track id, that party's latest visible
    item of it or None) — the originator, or each ``PARTY:TRACK`` of a fused track's ``sources`` —
    and ``radars`` as (radar item or None, radar id, how): those the track names in ``sensors``
    (``how`` = ``"reported"``), else those of the contributing parties whose coverage holds the
    track's position (``"coverage"``)."""
    from accord.warning.tracking.sensors import SensorArray

    body = item.body
    pairs = source_pairs(item)
    latest: dict[tuple[str, str], Any] = {}
    for i in sorted(tracks, key=lambda i: (seconds_of(i.body, "t"), i.created)):
        latest[(i.originator, str(i.body.get("track_id")))] = i
    parties = [(p, tid, item if (p, tid) == (item.originator, str(body.get("track_id"))) else latest.get((p, tid)))
               for p, tid in pairs]
    known = [r for r in radars if r.originator in {p for p, _ in pairs}]
    named = body.get("sensors")
    if isinstance(named, list):
        by_id = {r.body["id"]: r for r in known}
        return {"parties": parties, "radars": [(by_id.get(str(n)), str(n), "reported") for n in named]}
    xyz = _xyz(body)
    if xyz is None or not known:
        return {"parties": parties, "radars": []}
    import numpy as np

    array = SensorArray.from_sensors([r.body for r in known])
    p = np.array([xyz])
    return {"parties": parties, "radars": [(r, r.body["id"], "coverage") for k, r in enumerate(known)
                                           if bool(array.in_coverage(p, k)[0])]}


if __name__ == "__main__":  # regenerate LAND_FILE
    LAND_FILE.write_text(compute_land_path() + "\n", encoding="ascii")
