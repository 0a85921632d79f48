"""Association, initiation, confirmation, deletion and merging on small hand-made scenes."""

from __future__ import annotations

import numpy as np

from accord.warning.frames import ecef_to_rae, lla_to_ecef, MU
from accord.warning.tracking import SensorArray, Tracker, TrackerConfig
from accord.warning.tracking.association import assign
from accord.warning.tracking.initiation import popcount

RADAR = {"id": "R1", "lat_deg": 40.0, "lon_deg": 135.0, "alt_m": 0.0, "sigma_range_m": 20.0,
         "sigma_az_rad": 0.0008, "sigma_el_rad": 0.0008, "min_range_m": 5e4, "max_range_m": 2e6,
         "min_el_deg": 0.5, "max_el_deg": 85.0, "az_center_deg": 270.0, "az_half_width_deg": 90.0}
RADAR2 = {**RADAR, "id": "R2", "lat_deg": 36.0, "lon_deg": 136.0, "az_center_deg": 300.0}


def _ballistic_path(lat: float, lon: float, heading_deg: float, t: np.ndarray) -> np.ndarray:
    """Positions of a coasting missile (numerically integrated inverse-square gravity)."""
    from scipy.integrate import solve_ivp
    p0 = lla_to_ecef(lat, lon, 120e3)
    up = p0 / np.linalg.norm(p0)
    north = np.array([0.0, 0.0, 1.0]) - up * up[2]
    north /= np.linalg.norm(north)
    east = np.cross(north, up)
    h = np.radians(heading_deg)
    v0 = 2500.0 * (np.sin(h) * east + np.cos(h) * north) + 800.0 * up

    def f(_t, s):
        return np.r_[s[3:], -MU * s[:3] / np.linalg.norm(s[:3]) ** 3]

    sol = solve_ivp(f, (0.0, float(t[-1])), np.r_[p0, v0], t_eval=t, rtol=1e-10, atol=1e-6)
    return sol.y[:3].T


def _scans(sensors, paths, t, rng, clutter=0, pd=1.0):
    """Yield (t, sensor id, rae) with every path detected (w.p. pd) plus uniform clutter."""
    sa = SensorArray.from_sensors(sensors)
    for k, tk in enumerate(t):
        s = k % len(sensors)
        rows = [ecef_to_rae(p[k], sa.site[s], sa.basis[s]) for p in paths if rng.random() < pd]
        z = np.array(rows).reshape(-1, 3) + rng.normal(0, 1, (len(rows), 3)) * sa.sigma[s]
        c = np.column_stack([rng.uniform(1e5, 2e6, clutter), rng.uniform(0, 2 * np.pi, clutter),
                             rng.uniform(0.01, 1.4, clutter)])
        yield tk, sensors[s]["id"], np.vstack([z, c])


def test_assignment_is_optimal_and_never_outside_the_gate():
    cost = np.array([[1.0, 2.0], [1.5, 9.0]])
    rows, cols = assign(cost, np.ones((2, 2), bool))
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 1), (1, 0)]   # 3.5 beats 10
    gate = np.array([[True, False], [False, False]])
    rows, cols = assign(cost, gate)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0)]


def test_m_of_n_bit_history():
    assert popcount(np.array([0b10110, 0b1, 0xFFFF]), 3).tolist() == [2, 1, 3]


def test_target_is_confirmed_after_three_detections_and_clutter_alone_confirms_nothing():
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 4.0, 0.5)
    path = _ballistic_path(39.0, 131.0, 80.0, t)
    trk = Tracker([RADAR, RADAR2])
    confirmed_at = None
    for tk, sid, z in _scans([RADAR, RADAR2], [path], t, rng, clutter=20):
        trk.process_scan(tk, sid, z)
        if confirmed_at is None and trk.n_confirmed:
            confirmed_at = tk
    assert confirmed_at == 1.0                     # third detection (two-point pair + one)
    assert trk.n_confirmed == 1
    # clutter only, for a minute: many candidates, no confirmed track
    trk = Tracker([RADAR, RADAR2])
    for tk, sid, z in _scans([RADAR, RADAR2], [], np.arange(0.0, 60.0, 0.5), rng, clutter=30):
        trk.process_scan(tk, sid, z)
    assert trk.n_confirmed == 0
    assert trk.predictions(60.0) == [] and trk.confirmed_tracks(60.0) == []


def test_two_crossing_missiles_keep_their_tracks_under_clutter():
    rng = np.random.default_rng(4)
    t = np.arange(0.0, 60.0, 0.5)
    paths = [_ballistic_path(39.0, 131.0, 90.0, t), _ballistic_path(38.6, 131.4, 60.0, t)]
    trk = Tracker([RADAR, RADAR2])
    history: dict[str, list[float]] = {}
    for tk, sid, z in _scans([RADAR, RADAR2], paths, t, rng, clutter=10, pd=0.9):
        trk.process_scan(tk, sid, z)
        if tk == int(tk):
            for st in trk.confirmed_tracks(tk):
                k = int(tk / 0.5)
                d = [np.linalg.norm(np.array([st.x, st.y, st.z]) - p[k]) for p in paths]
                history.setdefault(st.track_id, []).append(int(np.argmin(d)))
                assert min(d) < 3_000.0
    assert len(history) == 2
    assert all(len(set(v)) == 1 for v in history.values())   # no swaps


def test_confirmed_track_is_deleted_after_missed_opportunities_and_reported_lost():
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 30.0, 0.5)
    path = _ballistic_path(39.0, 131.0, 80.0, t)
    cfg = TrackerConfig(min_ballistic_s=2.0)
    trk = Tracker([RADAR, RADAR2], cfg)
    for tk, sid, z in _scans([RADAR, RADAR2], [path], t, rng):
        trk.process_scan(tk, sid, z)
    assert trk.n_confirmed == 1
    live = trk.predictions(30.0)
    assert len(live) == 1 and live[0].status == "tracking"
    # the missile vanishes (jammed or below the horizon): scans keep coming, empty
    tk = 30.0
    while trk.n_confirmed and tk < 60.0:
        tk += 0.5
        trk.process_scan(tk, ["R1", "R2"][int(tk * 2) % 2], np.zeros((0, 3)))
    assert trk.n_confirmed == 0
    assert tk - 30.0 <= cfg.confirmed_misses * 0.5 + 0.5    # deleted after k missed opportunities
    lost = trk.predictions(tk)
    assert [p.status for p in lost] == ["lost"] and lost[0].track_id == live[0].track_id
    assert trk.predictions(tk + 1) == []                      # reported once


def test_split_echoes_of_one_target_do_not_start_a_second_track():
    rng = np.random.default_rng(6)
    t = np.arange(0.0, 10.0, 0.5)
    path = _ballistic_path(39.0, 131.0, 80.0, t)
    trk = Tracker([RADAR, RADAR2])
    for tk, sid, z in _scans([RADAR, RADAR2], [path], t, rng):
        # every scan reports the missile twice (a split echo): two tracks start, one survives
        trk.process_scan(tk, sid, np.vstack([z, z + [5.0, 0.0, 0.0]]))
    assert trk.n_confirmed == 1


def test_duplicate_confirmed_tracks_are_merged_keeping_the_older():
    from accord.warning.tracking import kernels
    X = np.zeros((3, 2, 9))
    X[:, :, 0:3] = lla_to_ecef(39.0, 131.0, 100e3)
    X[:, :, 3:6] = [1000.0, 2000.0, 500.0]
    X[1, :, 0] += 30.0                       # track 1: the same target, 30 m off
    X[2, :, 0] += 40e3                       # track 2: another target 40 km away
    P = np.broadcast_to(np.diag([1e4] * 3 + [100.0] * 3 + [1.0] * 3), (3, 2, 9, 9)).copy()
    mu = np.full((3, 2), 0.5)
    ids = np.array([7, 3, 9])
    drop = kernels.duplicates(X, P, mu, np.arange(3), ids, 22.46)
    assert drop.tolist() == [True, False, False]          # id 3 is older than id 7


def test_bookkeeping_kernel_applies_the_documented_deletion_rules():
    from dataclasses import replace

    from accord.warning.tracking import deletion, kernels
    from accord.warning.tracking.tracks import Bookkeeping, Tracks
    rng = np.random.default_rng(8)
    n = 40
    X = np.zeros((n, 2, 9))
    X[:, :, 0:3] = lla_to_ecef(rng.uniform(30, 45, n), rng.uniform(125, 140, n),
                               rng.uniform(-5e3, 300e3, n))[:, None, :]
    P = np.zeros((n, 2, 9, 9))
    P[:, :, [0, 1, 2], [0, 1, 2]] = rng.choice([1e4, 1e10], n)[:, None, None]
    mu = np.full((n, 2), 0.5)
    misses = rng.integers(0, 7, n)
    last = rng.uniform(0.0, 30.0, n)
    confirmed = rng.random(n) < 0.5
    sa = SensorArray.from_sensors([RADAR])
    cfg = TrackerConfig()
    hist = np.zeros(n, np.int64)
    hit = np.zeros(n, bool)
    m_after = misses.copy()
    tracks = replace(Tracks.empty(), X=X, P=P, mu=mu, hist=hist, misses=m_after, last=last.copy(),
                     ball_since=np.full(n, np.inf), latched=np.zeros(n, bool), confirmed=confirmed)
    rules = Bookkeeping(3, 5, 0.95, 6.0, cfg.tentative_misses, cfg.confirmed_misses, cfg.max_coast_tentative_s,
                        cfg.max_coast_s, cfg.max_sigma_m**2, cfg.min_alt_m, 6371000.0)
    _, dead = kernels.bookkeep(tracks, hit, 30.0, sa.coverage(0), rules)
    pos = X[:, 0, 0:3]
    ref = deletion.to_delete(30.0, confirmed, m_after, last, np.linalg.norm(pos, axis=1) - 6371000.0,
                             np.trace(P[:, 0, 0:3, 0:3], axis1=1, axis2=2),
                             tentative_misses=cfg.tentative_misses, confirmed_misses=cfg.confirmed_misses,
                             max_coast_tentative_s=cfg.max_coast_tentative_s, max_coast_s=cfg.max_coast_s,
                             max_sigma_m=cfg.max_sigma_m, min_alt_m=cfg.min_alt_m)
    assert dead.tolist() == ref.tolist()
    assert 0 < dead.sum() < n


def test_reports_at_one_time_are_shared_only_until_the_next_scan():
    """confirmed_tracks and predictions at one time share one prediction of the tracks; a scan
    in between (even at that same time) makes the next report see it: the output of a tracker
    asked after every scan equals that of one asked only at the end."""
    t = np.arange(0.0, 24.0, 1.0)
    rng = np.random.default_rng(4)
    scans = list(_scans([RADAR, RADAR2], [_ballistic_path(38.0, 131.0, 80.0, t)], t, rng))
    asked, quiet = Tracker([RADAR, RADAR2]), Tracker([RADAR, RADAR2])
    for tk, sid, z in scans:
        for trk in (asked, quiet):
            trk.process_scan(tk, sid, z)
        asked.confirmed_tracks(24.0)
        asked.predictions(24.0)
        tk2 = tk + 0.0        # a second radar's scan at the same time
        for trk in (asked, quiet):
            trk.process_scan(tk2, "R2" if sid == "R1" else "R1", z[:0])
    got, want = asked.confirmed_tracks(24.0), quiet.confirmed_tracks(24.0)
    assert got and got == want
    assert asked.confirmed_tracks(24.0) == got        # asked again: the same (shared) answer


def test_a_scan_of_more_free_detections_than_candidate_slots_stores_each_once():
    # the candidate table starts with 64 slots: a first scan of 150 plausible detections must
    # leave 150 candidates, one per detection (a table that wrote the ones that fitted and then,
    # grown, all of them again held some twice and opened pairs of a detection with itself)
    trk = Tracker([RADAR])
    sa = trk.sensors
    rng = np.random.default_rng(7)
    lat = 40.0 + rng.uniform(-1.0, 1.0, 150)
    lon = 131.0 + rng.uniform(-1.0, 1.0, 150)
    z = np.array([ecef_to_rae(lla_to_ecef(a, b, 150e3), sa.site[0], sa.basis[0]) for a, b in zip(lat, lon)])
    trk.process_scan(0.0, "R1", z)
    assert trk.n_tracks == 0
    pos = trk._cpos[trk._cvalid]
    assert len(pos) == 150
    assert len(np.unique(np.round(pos, 3), axis=0)) == 150
