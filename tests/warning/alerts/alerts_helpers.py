"""Helpers for the alert tests: hand-made predictions and ground tracks."""

from __future__ import annotations

import math

from accord.warning.types import Ellipse95, Prediction


def make_pred(t: float, lat: float, lon: float, a: float = 20_000.0, b: float = 8_000.0,
              brg: float = 0.0, *, impact_t: float = 400.0, track: str = "T1",
              ground_track: tuple = (), status: str = "tracking",
              cov: tuple | None = None) -> Prediction:
    return Prediction(t=t, track_id=track, launch_t=10.0, launch_lat_deg=39.2, launch_lon_deg=127.1,
                      launch_sigma_m=2000.0, impact_t=impact_t, impact_lat_deg=lat,
                      impact_lon_deg=lon, impact_ellipse_95=Ellipse95(a, b, brg),
                      impact_cov_en_m2=cov, ground_track=ground_track, status=status)


def path(lat0: float, lon0: float, lat1: float, lon1: float, n: int = 60) -> tuple:
    """A straight (in lat/lon) ground track, as (lat, lon) pairs."""
    return tuple((lat0 + (lat1 - lat0) * k / (n - 1), lon0 + (lon1 - lon0) * k / (n - 1))
                 for k in range(n))


def offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    """Small offsets on the sphere (good to a few metres over tens of km)."""
    r = 6_371_000.0
    return (lat + math.degrees(north_m / r),
            lon + math.degrees(east_m / (r * math.cos(math.radians(lat)))))
