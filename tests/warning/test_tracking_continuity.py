"""Track continuity: one identity per missile through coverage gaps and radar hand-overs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from accord.warning.frames import ecef_to_rae
from accord.warning.pipeline import track_detections
from accord.warning.scoring import score_tracks
from accord.warning.sim import GAP_SENSORS, LaunchSpec, ScenarioSpec, fly, in_any_coverage, random_launches, simulate
from accord.warning.tracking import SensorArray, Tracker, TrackerConfig

#: The gap radars with less clutter, to keep the test fast.
SENSORS = tuple(dataclasses.replace(s, clutter_per_scan=1.0) for s in GAP_SENSORS)


def _longest_gap_s(sim, mid: str) -> float:
    """Longest run of seconds a missile flies unseen between two covered stretches."""
    m = sim.truth.ids == mid
    t = sim.truth.t[m][in_any_coverage(sim.header.sensors, sim.truth.state[m, :3])]
    return float(np.diff(t).max() - 1.0) if len(t) > 1 else 0.0


@pytest.fixture(scope="module")
def gap_salvo():
    """Two missiles of a seeded salvo that fly 154 s and 233 s through a coverage gap, tracked."""
    salvo = random_launches(2, 5)
    sim = simulate(ScenarioSpec(SENSORS, (salvo[1], salvo[4]), seed=2))
    return sim, track_detections(sim.header.sensors, sim.detections)


def test_coverage_gap_scenario_ends_with_one_track_identity_per_missile(gap_salvo):
    sim, result = gap_salvo
    coast = TrackerConfig().max_coast_s
    for ev in sim.events:   # each flight has a gap in which the tracker must drop the track
        assert _longest_gap_s(sim, ev.id) > 2 * coast, ev.id
    s = score_tracks(sim.header.sensors, sim.truth, sim.events, result.tracks, result.predictions)
    assert len(s.missile_tracks) == len(sim.events)
    assert all(len(ids) == 1 for ids in s.missile_tracks.values()), s.missile_tracks
    assert s.tracks_per_missile == 1.0 and s.identity_switches == 0
    assert len({tr.track_id for tr in result.tracks}) == len(sim.events)


def test_re_acquired_track_keeps_the_launch_fit_from_before_the_gap(gap_salvo):
    sim, result = gap_salvo
    late = {}
    for p in result.predictions:   # the last prediction of each track, made after the gap
        late[p.track_id] = p
    for p in late.values():
        ev = min(sim.events, key=lambda e: abs(e.impact_t - p.impact_t))
        assert p.t > ev.burnout_t + 2 * TrackerConfig().max_coast_s
        # the boost was only seen before the gap: a rise fit (σ of km), not the 40 km model term
        assert p.launch_sigma_m < 20_000.0


def _salvo(seed, pick, config=None):
    """Missiles ``pick`` (indices) of seeded salvo ``seed`` under the gap radars, tracked and scored."""
    salvo = random_launches(seed, 5)
    sim = simulate(ScenarioSpec(SENSORS, tuple(salvo[i] for i in pick), seed=seed))
    result = track_detections(sim.header.sensors, sim.detections, config)
    return sim, result, score_tracks(sim.header.sensors, sim.truth, sim.events, result.tracks, result.predictions)


def test_a_ballistic_track_is_re_acquired_after_a_mid_course_gap_longer_than_reacquire_s():
    """Salvo 27's M004 flies 647 s unseen between the Korean and the Japanese radars (longer than
    ``reacquire_s``, which bounds tracks lost in the boost); its lost track, latched ballistic,
    stays a candidate while its arc is in the air. M005, in the same salvo, passes 14 km from it
    in coverage and keeps its own identity."""
    sim, result, s = _salvo(27, (3, 4))
    assert _longest_gap_s(sim, "M004") > TrackerConfig().reacquire_s
    assert s.missile_tracks["M004"] != s.missile_tracks["M005"]
    assert all(len(ids) == 1 for ids in s.missile_tracks.values()), s.missile_tracks
    assert s.identity_switches == 0 and len({tr.track_id for tr in result.tracks}) == 2
    # the same scene with lost ballistic tracks forgotten after reacquire_s: M004 gets two identities
    _, _, s = _salvo(27, (3, 4), TrackerConfig(reacquire_ballistic_s=TrackerConfig().reacquire_s))
    assert len(s.missile_tracks["M004"]) == 2


def test_re_acquired_track_is_latched_and_keeps_its_launch_fit():
    """Salvo 28's M001 is re-acquired after a 595 s gap for 2 s only, lost again and picked up a
    third time. The track that takes over a ballistic identity adds no descent states to the
    boost states its launch is fitted to, and, lost again before it has run long enough to be
    latched, it is latched then and predicted on its arc (on the IMM the boost model's
    prediction grew too vague to be re-acquired: two identities and a launch point 25 km off)."""
    sim, result, s = _salvo(28, (0,))
    assert _longest_gap_s(sim, "M001") > 500.0
    assert s.missile_tracks == {"M001": ("T1",)} and s.identity_switches == 0
    assert s.launch_median_error_m < 5_000.0


# ---------------------------------------------------------------------------- hand-made scenes
RADAR = {"id": "R1", "lat_deg": 40.9, "lon_deg": 140.3, "alt_m": 50.0, "sigma_range_m": 20.0,
         "sigma_az_rad": 0.0008, "sigma_el_rad": 0.0008, "min_range_m": 5e4, "max_range_m": 2e6,
         "min_el_deg": 0.5, "max_el_deg": 85.0, "az_center_deg": 260.0, "az_half_width_deg": 90.0}
SHOT = LaunchSpec(id="M1", launch_t=0.0, launch_lat_deg=39.2, launch_lon_deg=127.1, aim_lat_deg=41.46,
                  aim_lon_deg=136.6)


@pytest.fixture(scope="module")
def flight():
    return fly(SHOT)


def _track(paths, seen, config=None, seed=0, span=(130.0, 300.0)):
    """Run one radar (1 Hz) over ``paths`` (callables t → ECEF position), detecting path ``i`` at
    ``t`` when ``seen(i, t)``; returns the tracker and the confirmed track ids reported."""
    rng = np.random.default_rng(seed)
    sa = SensorArray.from_sensors([RADAR])
    trk = Tracker([RADAR], config)
    ids = set()
    for t in np.arange(*span, 1.0):
        rows = [ecef_to_rae(p(t), sa.site[0], sa.basis[0]) for i, p in enumerate(paths) if seen(i, t)]
        z = np.array(rows).reshape(-1, 3) + rng.normal(0.0, 1.0, (len(rows), 3)) * sa.sigma[0]
        trk.process_scan(t, "R1", z)
        ids |= {tr.track_id for tr in trk.confirmed_tracks(t)}
    return trk, ids


def test_track_lost_in_a_fade_is_re_acquired_under_its_identity(flight):
    def path(t):
        return flight.state_at([t])[0, :3]
    trk, ids = _track([path], lambda i, t: not 180.0 <= t < 230.0)   # 50 s unseen in coverage
    assert ids == {"T1"} and trk.n_reacquired == 1
    # without re-acquisition the same scene ends with two identities
    _, ids = _track([path], lambda i, t: not 180.0 <= t < 230.0, TrackerConfig(reacquire_gate=0.0))
    assert ids == {"T1", "T2"}


def test_track_re_acquired_after_a_fade_is_latched_after_min_ballistic_s(flight):
    """The new track that takes over a latched identity is latched itself once it has run
    ``min_ballistic_s``, whatever its IMM mode probability: its predictions resume then, on the
    old track's arc, and it makes no boost-phase prediction meanwhile."""
    def path(t):
        return flight.state_at([t])[0, :3]
    rng = np.random.default_rng(0)
    sa = SensorArray.from_sensors([RADAR])
    trk = Tracker([RADAR])
    took = back = None
    for t in np.arange(130.0, 260.0, 1.0):
        z = [ecef_to_rae(path(t), sa.site[0], sa.basis[0])] if not 180.0 <= t < 230.0 else []
        trk.process_scan(t, "R1", np.array(z).reshape(-1, 3) + rng.normal(0.0, 1.0, (len(z), 3)) * sa.sigma[0])
        preds = [p for p in trk.predictions(t) if p.status != "lost"]
        if trk.n_reacquired and took is None:
            took = t
        if took is not None and back is None:
            assert all(p.status != "boost" for p in preds)
            if preds:
                back = t
                assert [(p.track_id, p.status) for p in preds] == [("T1", "tracking")]
    assert took is not None and back == took + TrackerConfig().min_ballistic_s


def test_drifted_track_is_re_acquired_thanks_to_its_widened_covariance(flight):
    """The missile changes velocity by 150 m/s while unseen (as a track latched ballistic before
    the real burnout drifts off): the track is deleted for misses; the lost track's velocity
    uncertainty (``lost_sigma_v``) lets the new track take its identity."""
    kick = np.array([90.0, -90.0, 80.0])

    def path(t):
        p = flight.state_at([t])[0, :3]
        return p + kick * max(0.0, t - 180.0)
    seen = lambda i, t: not 180.0 <= t < 200.0  # noqa: E731
    _, ids = _track([path], seen)
    assert ids == {"T1"}
    _, ids = _track([path], seen, TrackerConfig(lost_sigma_v=0.0))
    assert ids == {"T1", "T2"}


def test_track_still_coasting_hands_its_identity_to_the_new_track_on_its_missile(flight):
    """The new track is confirmed while the drifted old one is still alive (coasting on misses):
    the new track takes the identity, the old one goes silently (no second identity, no
    "lost" report for an identity that lives on)."""
    kick = np.array([90.0, -90.0, 80.0])

    def path(t):
        return flight.state_at([t])[0, :3] + kick * max(0.0, t - 180.0)
    cfg = TrackerConfig(confirmed_misses=12)          # alive for 12 missed scans
    rng = np.random.default_rng(0)
    sa = SensorArray.from_sensors([RADAR])
    trk = Tracker([RADAR], cfg)
    ids, lost, both_alive = set(), [], False
    for t in np.arange(130.0, 260.0, 1.0):
        z = [ecef_to_rae(path(t), sa.site[0], sa.basis[0])] if not 180.0 <= t < 184.0 else []
        z = np.array(z).reshape(-1, 3) + rng.normal(0.0, 1.0, (len(z), 3)) * sa.sigma[0]
        before = trk.n_tracks
        trk.process_scan(t, "R1", z)
        both_alive |= trk.n_reacquired == 1 and before >= 2
        ids |= {tr.track_id for tr in trk.confirmed_tracks(t)}
        lost += [p.track_id for p in trk.predictions(t) if p.status == "lost"]
    assert ids == {"T1"} and trk.n_reacquired == 1 and trk.n_confirmed == 1
    assert both_alive and lost == []


def test_another_missile_never_takes_a_lost_identity(flight):
    """A second missile 100+ km away appears after the first is lost: a fresh identity."""
    other = fly(dataclasses.replace(SHOT, id="M2", launch_t=-20.0, aim_lat_deg=43.5, aim_lon_deg=136.0))

    def first(t):
        return flight.state_at([t])[0, :3]

    def second(t):
        return other.state_at([t])[0, :3]
    assert np.linalg.norm(first(235.0) - second(235.0)) > 100e3
    trk, ids = _track([first, second], lambda i, t: (t < 180.0) if i == 0 else (t >= 230.0))
    assert ids == {"T1", "T2"} and trk.n_reacquired == 0


def test_a_track_lost_in_the_boost_is_not_re_acquired_after_its_prediction_has_diverged(flight):
    """Lost while boosting, a track is predicted with the boost model: after minutes its position
    σ is far beyond ``max_sigma_m`` and it would gate any new track, so it is not a candidate."""
    other = fly(dataclasses.replace(SHOT, id="M2", launch_t=150.0, aim_lat_deg=40.5, aim_lon_deg=134.0))

    def first(t):
        return flight.state_at([t])[0, :3]

    def second(t):
        return other.state_at([t])[0, :3]
    seen = lambda i, t: (t < 45.0) if i == 0 else (t >= 300.0)  # noqa: E731
    # the boost is below this radar's horizon (report it anyway); a gate wide enough (d² = 41
    # here) that only the σ limit stands between the diverged prediction and the new track
    cfg = TrackerConfig(report_outside_coverage=True, reacquire_gate=60.0)
    trk, ids = _track([first, second], seen, cfg, span=(20.0, 360.0))
    assert ids == {"T1", "T2"} and trk.n_reacquired == 0
    _, ids = _track([first, second], seen, dataclasses.replace(cfg, max_sigma_m=1e12), span=(20.0, 360.0))
    assert ids == {"T1"}          # without the σ limit the 300 km-wide prediction takes it over


# ---------------------------------------------------------------------------- crossing missiles
@pytest.fixture(scope="module")
def crossing():
    """Two missiles whose paths cross at 280.5 s, 600 m apart, 156 m/s relative velocity."""
    other = dataclasses.replace(SHOT, id="M2", launch_t=6.0, launch_lat_deg=39.5, aim_lat_deg=41.16,
                                aim_lon_deg=136.8)
    return fly(SHOT), fly(other)


def _track_crossing(flights, fade, seed):
    """Track both missiles with the radar blind over ``fade``; returns, per track id, the missiles
    it was nearest to whenever they were over 3 km apart, the seconds with fewer than two
    confirmed tracks after both were first confirmed, and the tracker."""
    rng = np.random.default_rng(seed)
    sa = SensorArray.from_sensors([RADAR])
    trk = Tracker([RADAR])
    owner: dict[str, set[int]] = {}
    short = []
    for t in np.arange(130.0, 420.0, 1.0):
        truth = [f.state_at([t])[0, :3] for f in flights]
        z = [ecef_to_rae(p, sa.site[0], sa.basis[0]) for p in truth] if not fade[0] <= t < fade[1] else []
        trk.process_scan(t, "R1", np.array(z).reshape(-1, 3) + rng.normal(0.0, 1.0, (len(z), 3)) * sa.sigma[0])
        tracks = trk.confirmed_tracks(t)
        if owner and len(tracks) < 2 and not fade[0] <= t < fade[1] + 5.0:
            short.append(t)
        if np.linalg.norm(truth[0] - truth[1]) < 3_000.0:
            continue
        for tr in tracks:
            x = np.array([tr.x, tr.y, tr.z])
            owner.setdefault(tr.track_id, set()).add(int(np.argmin([np.linalg.norm(x - p) for p in truth])))
    return owner, short, trk


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crossing_missiles_in_view_keep_two_tracks(crossing, seed):
    """Crossing 600 m apart in view of the radar: two tracks throughout (never merged as
    duplicates) and each stays on its own missile."""
    owner, short, trk = _track_crossing(crossing, (0.0, 0.0), seed)
    assert owner == {"T1": {0}, "T2": {1}} and short == [] and trk.n_reacquired == 0


@pytest.mark.parametrize("fade", [(260.0, 300.0), (270.0, 290.0), (250.0, 320.0), (200.0, 260.0)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crossing_missiles_lost_together_keep_their_own_identities(crossing, fade, seed):
    """Both missiles lost together in a radar fade (deleted for missed detections: the drift
    hypothesis makes each lost track consistent with both new ones), across or before their
    crossing: each new track takes its own missile's identity, matched on the lost tracks' own
    arcs first. (Matched with the drift covariance at once, (260–300 s, seed 2) and
    (270–290 s, seed 0) swapped the two identities; fades of 60 s and more gave four.)"""
    owner, short, trk = _track_crossing(crossing, fade, seed)
    assert owner == {"T1": {0}, "T2": {1}} and short == [] and trk.n_reacquired == 2
