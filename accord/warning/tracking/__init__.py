"""Accord's ballistic-missile tracker: IMM-EKF, GNN association, M-of-N initiation, deletion.

Public API::

    from accord.warning.tracking import Tracker, TrackerConfig
    trk = Tracker(header.sensors)                 # io.Sensor objects or header dicts
    trk.process_scan(t, "JPN-TPY1", rae)          # rae: (n, 3) range m, az rad, el rad
    trk.confirmed_tracks(t)                       # list[TrackState] predicted to t
    trk.predictions(t)                            # list[Prediction] (launch, impact, ellipse)

Modules: :mod:`.models` (gravity, ballistic and boost models), :mod:`.filters` (IMM, EKF,
Joseph form), :mod:`.sensors` (radar measurement model, coverage), :mod:`.association`
(gating, GNN), :mod:`.initiation` (tentative tracks, M-of-N), :mod:`.deletion`, :mod:`.tracks` (the track
table: every per-track column in one place), :mod:`.burnout` (the burnout-time bank the latch takes
its state from), :mod:`.tracker`.
"""

from accord.warning.tracking.sensors import SensorArray
from accord.warning.tracking.tracker import Tracker, TrackerConfig

__all__ = ["SensorArray", "Tracker", "TrackerConfig"]


def warm_up() -> None:
    """Load (or, on a machine's first run, compile) the numba kernels by tracking a tiny
    synthetic scene, so that timing a run measures tracking and not compilation. Benches call
    this before starting the clock; it is never needed for correctness."""
    import numpy as np

    sensors = [{"id": "W", "lat_deg": 40.0, "lon_deg": 135.0, "alt_m": 0.0, "sigma_range_m": 20.0,
                "sigma_az_rad": 0.001, "sigma_el_rad": 0.001, "min_range_m": 1e4, "max_range_m": 2e6,
                "min_el_deg": 0.0, "max_el_deg": 89.0, "az_center_deg": 270.0, "az_half_width_deg": 90.0}]
    sensors.append(dict(sensors[0], id="V", lon_deg=136.0))   # several radars: the arrays' layouts differ
    trk = Tracker(sensors)
    for k in range(12):
        trk.process_scan(float(k), "W", np.array([[600e3 - 2e3 * k, 4.7, 0.2 + 0.002 * k], [900e3, 4.0, 0.5]]))
    trk.confirmed_tracks(12.0)
    trk.predictions(12.0)
    # the kernels that scene does not reach: a confirmed track's coverage test, the statistics
    # of a ballistic arc's impact points, the launch fit of boost-phase states and the burnout bank's
    # recording, planning and scan loop
    from accord.warning import prediction

    trk.sensors.in_coverage(np.zeros((1, 3)))
    from accord.warning.tracking import burnout, history

    burnout.warm_up(trk.sensors, trk.config.mu)
    history.warm_up()
    SensorArray.from_sensors(sensors[:1]).in_coverage(np.zeros((1, 3)))
    x = np.array([[6_471e3, 0.0, 0.0, 1_000.0, 2_000.0, 0.0]])
    prediction.predict_launch_impact(0.0, ["W"], x, np.diag([1e4] * 3 + [1.0] * 3)[None])
    prediction.launch_from_boost_states(np.zeros((1, prediction.BOOST_STATES, 9)), np.zeros(1, np.int64))
    from accord.warning.boost import warm_up as boost_warm_up

    boost_warm_up()   # the boost-phase hypothesis banks (built once per process) and kernel
    from accord.warning.kernel_cache import mark_warm

    mark_warm()   # every kernel is compiled in the cache now (``warning track`` says when it is not)


__all__ += ["warm_up"]
