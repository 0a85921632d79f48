"""Reference frame of the early-warning formats (``shared/formats/warning-files.md``).

Spherical, non-rotating Earth of radius :data:`EARTH_RADIUS_M` and gravitational parameter
:data:`MU`; ECEF axes (x through 0°N 0°E, z through the North Pole); latitude/longitude are
*geocentric* on that sphere (not WGS84) and are read directly as map coordinates.

Radar measurements are ``(range, azimuth, elevation)`` in the sensor's local East-North-Up frame:
azimuth clockwise from north in [0, 2π), elevation above the plane normal to the radius.

All functions are vectorised over leading axes (``(..., 3)`` arrays).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from accord.warning import libm

EARTH_RADIUS_M = 6_371_000.0
MU = 3.986004418e14  # m^3 / s^2

F64 = NDArray[np.float64]


def lla_to_ecef(lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike = 0.0,
                radius: float = EARTH_RADIUS_M) -> F64:
    """Geocentric latitude/longitude/altitude on the sphere → ECEF metres, shape ``(..., 3)``."""
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    lon = np.radians(np.asarray(lon_deg, dtype=float))
    r = radius + np.asarray(alt_m, dtype=float)
    cl = np.cos(lat)
    return np.stack(np.broadcast_arrays(r * cl * np.cos(lon), r * cl * np.sin(lon), r * np.sin(lat)), axis=-1)


def ecef_to_lla(xyz: ArrayLike, radius: float = EARTH_RADIUS_M, *,
                exact: bool = False) -> tuple[F64, F64, F64]:
    """ECEF metres → (latitude °, longitude ° in (-180, 180], altitude m) on the sphere.

    ``exact``: with libm's bits on every CPU (:mod:`accord.warning.libm`; the simulator's)."""
    asin, atan2 = (libm.arcsin, libm.arctan2) if exact else (np.arcsin, np.arctan2)
    p = np.asarray(xyz, dtype=float)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    r = np.sqrt(x * x + y * y + z * z)
    lat = np.degrees(asin(np.clip(z / r, -1.0, 1.0)))
    lon = np.degrees(atan2(y, x))
    return lat, lon, r - radius


def enu_basis(lat_deg: ArrayLike, lon_deg: ArrayLike) -> F64:
    """Rows are the East, North and Up unit vectors in ECEF: shape ``(..., 3, 3)``.

    ``enu = R @ (ecef - origin)`` and ``ecef = origin + R.T @ enu``.
    """
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    lon = np.radians(np.asarray(lon_deg, dtype=float))
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    zero = np.zeros_like(sl)
    east = np.stack([-so, co, zero], axis=-1)
    north = np.stack([-sl * co, -sl * so, cl], axis=-1)
    up = np.stack([cl * co, cl * so, sl], axis=-1)
    return np.stack([east, north, up], axis=-2)


def enu_to_rae(enu: ArrayLike, *, exact: bool = False) -> F64:
    """Local ENU vector → (range, azimuth ∈ [0, 2π) clockwise from north, elevation).

    ``exact``: with libm's bits on every CPU (:mod:`accord.warning.libm`; the simulator's)."""
    asin, atan2 = (libm.arcsin, libm.arctan2) if exact else (np.arcsin, np.arctan2)
    v = np.asarray(enu, dtype=float)
    e, n, u = v[..., 0], v[..., 1], v[..., 2]
    rng = np.sqrt(e * e + n * n + u * u)
    az = np.mod(atan2(e, n), 2 * np.pi)
    el = asin(np.clip(u / rng, -1.0, 1.0))
    return np.stack([rng, az, el], axis=-1)


def rae_to_enu(rae: ArrayLike) -> F64:
    """(range, azimuth, elevation) → local ENU vector."""
    v = np.asarray(rae, dtype=float)
    rng, az, el = v[..., 0], v[..., 1], v[..., 2]
    ce = np.cos(el)
    return np.stack([rng * ce * np.sin(az), rng * ce * np.cos(az), rng * np.sin(el)], axis=-1)


def ecef_to_rae(xyz: ArrayLike, sensor_ecef: ArrayLike, basis: ArrayLike, *, exact: bool = False) -> F64:
    """Target ECEF position(s) → (range, az, el) seen from a sensor with ENU ``basis`` (3×3)
    (``exact``: as :func:`enu_to_rae`)."""
    d = np.asarray(xyz, dtype=float) - np.asarray(sensor_ecef, dtype=float)
    return enu_to_rae(d @ np.asarray(basis, dtype=float).T, exact=exact)


def rae_to_ecef(rae: ArrayLike, sensor_ecef: ArrayLike, basis: ArrayLike) -> F64:
    """(range, az, el) from a sensor → ECEF position(s)."""
    return np.asarray(sensor_ecef, dtype=float) + rae_to_enu(rae) @ np.asarray(basis, dtype=float)


def gravity(xyz: ArrayLike, mu: float = MU) -> F64:
    """Inverse-square gravitational acceleration ``a = -μ r / |r|³`` (non-rotating Earth)."""
    p = np.asarray(xyz, dtype=float)
    r = np.linalg.norm(p, axis=-1, keepdims=True)
    return -mu * p / r**3


def great_circle_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike,
                   radius: float = EARTH_RADIUS_M, *, exact: bool = False) -> F64:
    """Great-circle distance on the sphere (haversine), metres (``exact``: as :func:`ecef_to_lla`)."""
    asin = libm.arcsin if exact else np.arcsin
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * radius * asin(np.sqrt(np.clip(h, 0.0, 1.0)))
