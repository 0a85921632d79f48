"""The burnout latch waits while the burnout-time bank puts the burnout within the latch rule's
own window (a sparse track of a motor still burning)."""

from __future__ import annotations

import numpy as np
import pytest

from accord.warning.pipeline import track_detections
from accord.warning.scoring import score_tracks, scenario_seconds
from accord.warning.sim import GAP_SENSORS, ScenarioSpec, random_launches, simulate
from accord.warning.tracking import Tracker, TrackerConfig


def _latch_times(sim, cfg: TrackerConfig) -> tuple[dict[str, float], dict[str, float]]:
    """Each missile's first latch time (its first scored track's) and true burnout time."""
    seen: dict[int, float] = {}
    orig = Tracker._bank_latch

    def spy(self, rows, t, *a):
        orig(self, rows, t, *a)
        for n in np.flatnonzero(rows & self._tracks.latched).tolist():
            seen.setdefault(int(self._tracks.id[n]), t)

    Tracker._bank_latch = spy
    try:
        res = track_detections(sim.header.sensors, sim.detections, cfg)
    finally:
        Tracker._bank_latch = orig
    sc = score_tracks(sim.header.sensors, sim.truth, sim.events, res.tracks, res.predictions,
                      seconds=scenario_seconds(sim.detections.t))
    latch = {m: min(seen[int(tid[1:])] for tid in tids if int(tid[1:]) in seen)
             for m, tids in sc.missile_tracks.items() if any(int(tid[1:]) in seen for tid in tids)}
    return latch, {e.id: e.burnout_t for e in sim.events}


@pytest.fixture(scope="module")
def sparse_burn():
    """Salvo seed 1 through the gap radars, a second draw of the simulator's noise: M001 is
    tracked by one distant radar only, from 14 s before its latch, 8 detections; its boost model
    estimates 11.5 m/s² of thrust (σ 7–10 per axis), and the IMM's ballistic mode holds from 6 s
    after confirmation — the rule alone latches it 13 s before its burnout."""
    return simulate(ScenarioSpec(GAP_SENSORS, random_launches(1, 5), seed=1 + 1_000_000))


def test_sparse_track_still_burning_is_not_latched_before_its_burnout(sparse_burn):
    """With the deferral every missile latches after its true burnout; without it
    (``latch_defer_weight=1``) M001 latches more than 10 s before, the other four the same."""
    latch, burnout = _latch_times(sparse_burn, TrackerConfig())
    assert set(latch) == set(burnout)
    assert all(latch[m] > burnout[m] for m in latch), {m: latch[m] - burnout[m] for m in latch}
    old, _ = _latch_times(sparse_burn, TrackerConfig(latch_defer_weight=1.0))
    assert old["M001"] < burnout["M001"] - 10.0
    assert all(old[m] == latch[m] for m in latch if m != "M001")
