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


def to_first_latch(sim, watched, *others) -> tuple[float, int]:
    """Feed ``sim``'s scans to the tracker ``watched`` and the ``others`` in lockstep, up to the
    scan that latches one of ``watched``'s tracks ballistic: ``(that scan's time, the row)``."""
    import pytest

    for t, s, z in scans(sim):
        before = watched._tracks.latched.copy()
        watched.process_scan(t, s, z)
        for o in others:
            o.process_scan(t, s, z)
        if len(before) == len(watched._tracks.latched) and (watched._tracks.latched & ~before).any():
            return t, int(np.flatnonzero(watched._tracks.latched & ~before)[0])
    pytest.fail("the track never latched")
