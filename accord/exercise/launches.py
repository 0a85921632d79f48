"""A scenario's radars and launches as the simulator's inputs (:mod:`accord.warning.sim`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from accord.errors import InputError
from accord.exercise.scenario import Scenario
from accord.warning.frames import great_circle_m, lla_to_ecef
from accord.warning.io import Sensor
from accord.warning.sim import LaunchSpec


def sensor_of(r: Any) -> Sensor:
    """A scenario radar as a simulator/tracker :class:`Sensor`."""
    ecef = lla_to_ecef(r.lat_deg, r.lon_deg, r.alt_m)
    return Sensor(id=r.id, lat_deg=r.lat_deg, lon_deg=r.lon_deg, alt_m=r.alt_m, sigma_range_m=r.sigma_range_m,
                  sigma_az_rad=r.sigma_az_rad, sigma_el_rad=r.sigma_el_rad, scan_period_s=r.scan_period_s,
                  scan_offset_s=r.scan_offset_s, pd=r.pd, clutter_per_scan=r.clutter_per_scan,
                  min_range_m=r.min_range_m, max_range_m=r.max_range_m, min_el_deg=r.min_el_deg,
                  max_el_deg=r.max_el_deg, az_center_deg=r.az_center_deg, az_half_width_deg=r.az_half_width_deg,
                  ecef_m=(float(ecef[0]), float(ecef[1]), float(ecef[2])))


def launches_of(s: Scenario) -> list[LaunchSpec]:
    """Explicit launches plus generated ones (seeded), as simulator launch specs."""
    out = [LaunchSpec(id=e.id, launch_t=e.t, launch_lat_deg=e.launch.lat_deg, launch_lon_deg=e.launch.lon_deg,
                      aim_lat_deg=e.aim.lat_deg, aim_lon_deg=e.aim.lon_deg, trajectory=e.profile)
           for e in s.launches.explicit]
    g = s.launches.generated
    if g is not None:
        rng = np.random.default_rng([g.seed, 20261125])
        n = 0
        tries = 0
        while n < g.count:
            tries += 1
            if tries > 10_000:
                raise InputError("launches.generated: no launch/aim pair fits ranges_km; widen the areas",
                                 field="launches.generated.ranges_km")
            la, lo = rng.uniform(*g.lat_deg), rng.uniform(*g.lon_deg)
            aa, ao = rng.uniform(*g.aim_lat_deg), rng.uniform(*g.aim_lon_deg)
            rkm = float(great_circle_m(la, lo, aa, ao)) / 1000.0
            kind = "lofted" if rng.random() < g.lofted_fraction else "minimum-energy"
            t = float(rng.uniform(*g.window_s))
            if not g.ranges_km[0] <= rkm <= g.ranges_km[1]:
                continue
            n += 1
            out.append(LaunchSpec(id=f"G{n:02d}", launch_t=round(t, 2), launch_lat_deg=round(la, 4),
                                  launch_lon_deg=round(lo, 4), aim_lat_deg=round(aa, 4), aim_lon_deg=round(ao, 4),
                                  trajectory=kind))
    return out
