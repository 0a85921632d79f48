"""The 95 % impact ellipse and the local-projection helpers every alert rule draws with.

Part of :mod:`accord.warning.alerts.rules`: the impact test (:mod:`.region`), the overflight
test (:mod:`.overflight`), the impact chances (:mod:`.chances`) and the boost-phase rule
(:mod:`.boost`) all measure in the azimuthal-equidistant projection centred as
:func:`projection_centre` says, and draw a CAP ring with :func:`ring_latlon`.

The 95 % impact ellipse
-----------------------
With the 2×2 impact covariance ``P`` in the local East-North plane, the 95 % region is
``{d : dᵀ P⁻¹ d ≤ χ²₂(0.95)}``, χ²₂(0.95) = −2 ln 0.05 = 5.9915. Its semi-axes are
``sqrt(χ² λᵢ)`` along the eigenvectors of ``P``. When the prediction carries
``impact_ellipse_95`` we use it as given; the covariance is the fallback. The ellipse is drawn
as a polygon of ``ELLIPSE_VERTICES`` points in an azimuthal-equidistant projection centred on the
predicted impact point, where distances from the centre are exact.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from accord.errors import InputError
from accord.warning.identity import CHI2_2_95
from accord.warning.types import Prediction

ELLIPSE_VERTICES = 48
NMI_M = 1852.0


@dataclass(frozen=True)
class Ellipse:
    """The 95 % impact ellipse: centre, semi-axes (m), major-axis bearing (° from north)."""

    lat_deg: float
    lon_deg: float
    semi_major_m: float
    semi_minor_m: float
    bearing_deg: float


def impact_ellipse(pred: Prediction, *, source: str = "prediction") -> Ellipse:
    """The prediction's 95 % ellipse, from ``impact_ellipse_95`` or else ``impact_cov_en_m2``.

    Raises :class:`InputError` naming the field when neither gives a finite, positive ellipse
    (an alert must never be drawn from a prediction without its uncertainty).
    """
    if not (math.isfinite(pred.impact_lat_deg) and math.isfinite(pred.impact_lon_deg)
            and -90 <= pred.impact_lat_deg <= 90 and -180 <= pred.impact_lon_deg <= 180):
        raise InputError("impact point is not a finite latitude/longitude", source=_where(pred, source),
                         field="impact_lat_deg/impact_lon_deg")
    e = pred.impact_ellipse_95
    vals = (e.semi_major_m, e.semi_minor_m, e.bearing_deg) if e is not None else (math.nan,) * 3
    if math.isfinite(vals[0]) and math.isfinite(vals[1]) and math.isfinite(vals[2]) and vals[0] > 0 and vals[1] > 0:
        a, b = max(vals[0], vals[1]), min(vals[0], vals[1])
        brg = vals[2] if vals[0] >= vals[1] else vals[2] + 90.0
        return Ellipse(pred.impact_lat_deg, pred.impact_lon_deg, a, b, brg % 180.0)
    cov = pred.impact_cov_en_m2
    if cov is not None and len(cov) == 4 and all(math.isfinite(c) for c in cov):
        P = np.array(cov, dtype=float).reshape(2, 2)
        P = 0.5 * (P + P.T)
        lam, vec = np.linalg.eigh(P)
        if lam[0] > 0:
            a, b = math.sqrt(CHI2_2_95 * lam[1]), math.sqrt(CHI2_2_95 * lam[0])
            east, north = vec[:, 1]
            return Ellipse(pred.impact_lat_deg, pred.impact_lon_deg, a, b,
                           math.degrees(math.atan2(east, north)) % 180.0)
    raise InputError("prediction has no usable impact covariance or 95 % ellipse "
                     "(semi-axes must be finite and > 0)", source=_where(pred, source),
                     field="impact_ellipse_95/impact_cov_en_m2")


def _where(pred: Prediction, source: str) -> str:
    """How an error names the prediction (built only when there is one)."""
    return f"{source} track {pred.track_id} t={pred.t}"


def ellipse_polygon_m(e: Ellipse, n: int = ELLIPSE_VERTICES, centre: tuple[float, float] | None = None) -> Polygon:
    """The ellipse in the AEQD plane centred on its own centre (x east, y north, metres), or
    moved to ``centre`` (the same coordinates as ``shapely.affinity.translate`` gives)."""
    cos_th, sin_th = _unit_circle(n)
    pts = ellipse_points_m(e, e.semi_major_m * cos_th, e.semi_minor_m * sin_th)
    if centre is not None:
        pts = pts + np.asarray(centre, dtype=float)
    return shapely.polygons(shapely.linearrings(pts))   # what Polygon(pts) builds, without its checks


@functools.lru_cache(maxsize=8)
def _unit_circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of ``n`` angles evenly around the circle (computed once per ``n``; read-only)."""
    th = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    c, s = np.cos(th), np.sin(th)
    c.flags.writeable = False
    s.flags.writeable = False
    return c, s


def ellipse_points_m(e: Ellipse, along_major_m: np.ndarray, along_minor_m: np.ndarray) -> np.ndarray:
    """Points (n × 2, x east, y north, metres from the ellipse's centre) at the given offsets
    along its major axis (towards ``bearing_deg``) and its minor axis (90° clockwise of it)."""
    u = np.array([math.sin(math.radians(e.bearing_deg)), math.cos(math.radians(e.bearing_deg))])
    v = np.array([u[1], -u[0]])
    return np.outer(along_major_m, u) + np.outer(along_minor_m, v)


def projection_centre(lat: float, lon: float) -> tuple[float, float]:
    return round(lat, 1), round(lon, 1)


def lonlat_bounds(bounds_m: tuple, pad_m: float, inv) -> tuple[float, float, float, float]:
    """Lon/lat box holding a metric box grown by ``pad_m`` (corners and edge midpoints of the
    box, inverse-projected, plus 0.05° for the curvature of its edges between them)."""
    x0, y0, x1, y1 = bounds_m[0] - pad_m, bounds_m[1] - pad_m, bounds_m[2] + pad_m, bounds_m[3] + pad_m
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    lon, lat = inv.transform(np.array([x0, xm, x1, x0, x1, x0, xm, x1]),
                             np.array([y0, y0, y0, ym, ym, y1, y1, y1]))
    return (float(lon.min()) - 0.05, max(float(lat.min()) - 0.05, -90.0),
            float(lon.max()) + 0.05, min(float(lat.max()) + 0.05, 90.0))


def ring_latlon(poly_m: BaseGeometry, inv) -> tuple[tuple[float, float], ...]:
    """The CAP ring (lat, lon) of an area at risk drawn in the local projection; a region in
    pieces (a boost path's buffer can fall apart) is drawn as its convex hull, which covers every
    piece, and nothing drawable as ``()``."""
    if not isinstance(poly_m, Polygon):
        poly_m = poly_m.convex_hull
    if not isinstance(poly_m, Polygon) or poly_m.is_empty:
        return ()
    xy = np.asarray(poly_m.exterior.coords)
    lon, lat = inv.transform(xy[:, 0], xy[:, 1])
    ring = list(zip(np.round(lat, 4).tolist(), np.round(lon, 4).tolist()))
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    return tuple(ring)

