"""Accord's ballistic-missile tracker: IMM-EKF, GNN association, M-of-N initiation, deletion.

Public API::

    from accord.warning.tracking import Tracker, TrackerConfig
    trk = Tracker(header.sensors)                 # io.Sensor objects or header dicts
    trk.process_scan(t, "JPN-TPY1", rae)          # rae: (n, 3) range m, az rad, el rad
    trk.confirmed_tracks(t)                       # list[TrackState] predicted to t
    trk.predictions(t)                            # list[Prediction] (launch, impact, ellipse)

Modules: :mod:`.models` (gravity, ballistic and boost models), :mod:`.filters` (IMM, EKF,
Joseph form), :mod:`.sensors` (radar measurement model, coverage), :mod:`.association`
(gating, GNN), :mod:`.initiation` (tentative tracks, M-of-N), :mod:`.deletion`, :mod:`.tracker`.
"""

from accord.warning.tracking.sensors import SensorArray
from accord.warning.tracking.tracker import Tracker, TrackerConfig

__all__ = ["SensorArray", "Tracker", "TrackerConfig"]
