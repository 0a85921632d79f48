"""The tracker tests' detections fed scan by scan, as the pipeline hands them to the tracker."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def scans(sim) -> Iterator[tuple[float, int, np.ndarray]]:
    """``(t, sensor index, (range, azimuth, elevation) rows)`` of each scan of ``sim``'s detections
    (a scan: consecutive detections of one sensor at one time)."""
    d = sim.detections
    n = len(d)
    starts = np.flatnonzero(np.r_[True, (np.diff(d.t) != 0) | (np.diff(d.sensor_idx) != 0)])
    for a, b in zip(starts, np.r_[starts[1:], n]):
        yield float(d.t[a]), int(d.sensor_idx[a]), np.column_stack([d.range_m[a:b], d.az_rad[a:b], d.el_rad[a:b]])
