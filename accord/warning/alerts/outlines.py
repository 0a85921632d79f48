"""Outlines of the alert geography for drawing: land (the parties' and their neighbours') and
the admin areas an alert names, as lon/lat rings clipped and simplified for a map. Used by the
exercise report's map and the console's live picture; :func:`geography` is the one loaded
:class:`~accord.warning.alerts.geography.Geography` they and the exercise's alert engines share.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shapely.geometry import GeometryCollection, MultiPolygon, Polygon, box

from accord.warning.alerts.geography import Geography


@lru_cache(maxsize=1)
def geography() -> Geography:
    """The built-in geography, loaded once per process."""
    return Geography.load()


def _rings(geom: Any, bounds: tuple[float, float, float, float] | None = None,
           tolerance: float = 0.02) -> list[list[tuple[float, float]]]:
    """Exterior rings of a (multi)polygon, clipped to ``bounds`` (lon0, lon1, lat0, lat1) and
    simplified for drawing (0.02° ≈ 2 km, finer than the map's pixels)."""
    if bounds is not None:
        lon0, lon1, lat0, lat1 = bounds
        geom = geom.intersection(box(lon0, lat0, lon1, lat1))
    geom = geom.simplify(tolerance, preserve_topology=False)
    polys = geom.geoms if isinstance(geom, (MultiPolygon, GeometryCollection)) else [geom]
    return [list(p.exterior.coords) for p in polys if isinstance(p, Polygon) and not p.is_empty]


def coastlines(bounds: tuple[float, float, float, float]) -> list[list[tuple[float, float]]]:
    """Land outlines (the parties' and their neighbours') inside ``bounds``, for the report map."""
    geo = geography()
    rings = []
    for p in geo.parties.values():
        rings += _rings(p.land, bounds)
    for c in geo.countries:
        rings += _rings(c.geometry, bounds)
    return rings


def area_outlines(codes: list[str], lang: str = "en") -> list[tuple[str, list[tuple[float, float]]]]:
    """Outlines of the named admin areas (by code), named in ``lang``, for the report map and the
    console's live picture."""
    geo = geography()
    out = []
    for p in geo.parties.values():
        for a in p.areas:
            if a.code in codes:
                out += [(a.name(lang), ring) for ring in _rings(a.geometry)]
    return out
