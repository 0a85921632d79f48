"""The burnout latch waits while the burnout-time bank puts the burnout within the latch rule's
own window (a sparse track of a motor still burning)."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

from accord.warning.pipeline import track_detections
from accord.warning.scoring import score_tracks, scenario_seconds
from accord.warning.sim import GAP_SENSORS, ScenarioSpec, random_launches, random_scenario, simulate
from accord.warning.tracking import Tracker, TrackerConfig, burnout
from tracking_scans import scans


def _latch_times(sim, cfg: TrackerConfig) -> tuple[dict[str, float], dict[str, float]]:
    """Each missile's first latch time (its first scored track's) and true burnout time."""
    seen: dict[int, float] = {}
    orig = Tracker._bank_latch

    def spy(self, rows, t, *a):
        orig(self, rows, t, *a)
        for n in np.flatnonzero(rows & self._tracks.latched).tolist():
            seen.setdefault(int(self._tracks.id[n]), t)

    with mock.patch.object(Tracker, "_bank_latch", spy):
        res = track_detections(sim.header.sensors, sim.detections, cfg)
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


@pytest.mark.parametrize("max_s", [4.0, 10.0])
def test_deferred_latch_keeps_the_imm_and_ends_at_its_bound(monkeypatch, max_s):
    """A bank that always puts the burnout at the last detection defers the latch at every scan
    until ``latch_defer_max_s`` past the rule's time (without the bound it would never latch),
    each deferral counted; meanwhile the track stays unlatched on both models."""
    sim = simulate(random_scenario(5, 1, pd=1.0, clutter_per_scan=0.0, duration=200.0))
    orig = burnout.bank_state

    def late(h, t, *a, **k):
        got = orig(h, t, *a, **k)
        if got is None:
            return None
        x, P, w, tk = got
        w = np.zeros_like(w)
        w[-1] = 1.0
        tk = tk.copy()
        tk[-1] = h.t[-1]
        return x, P, w, tk

    monkeypatch.setattr(burnout, "bank_state", late)
    trk = Tracker(sim.header.sensors, TrackerConfig(latch_defer_max_s=max_s))
    tried, latched_t = [], None
    for t, s, z in scans(sim):
        rule = trk._tracks.confirmed & ~trk._tracks.latched & (t - trk._tracks.ball_since >= trk.config.min_ballistic_s)
        trk.process_scan(t, s, z)
        if rule.any() and len(rule) == len(trk._tracks.latched):
            if trk._tracks.latched[rule].any():
                latched_t = t
                break
            tried.append(t)
            assert (trk._tracks.mu[rule, 1] > 0.0).all()
    assert tried and latched_t is not None
    assert trk.n_latch_deferred == len(tried)
    assert max_s - 1.0 <= latched_t - tried[0] <= max_s + 1.0, (tried[0], latched_t)
