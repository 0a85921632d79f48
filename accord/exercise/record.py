"""What happened in one exercise run: the frozen record the runner returns and the metrics and
report read (they never reach into the runner, and never write into the record)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from accord.core.items import Item
from accord.exercise.scenario import Scenario
from accord.warning.fusion import FusedTrack
from accord.warning.io import Sensor
from accord.warning.sim import SimResult
from accord.warning.types import Prediction, TrackState


@dataclass(frozen=True)
class ExerciseRecord:
    scenario: Scenario
    seed: int
    #: how envelopes travelled (``inproc`` or ``http``)
    transport: str
    out: Path
    #: each party's node directory, and which of ``sensors`` are its radars
    node_dirs: dict[str, Path]
    sensor_idx: dict[str, list[int]]
    sensors: tuple[Sensor, ...]
    sensor_owner: tuple[str, ...]
    #: the simulator's truth and detections
    sim: SimResult
    #: each second's covered true states (GOSPA's truth set)
    truth_by_sec: dict[int, list[tuple[str, np.ndarray]]]
    #: per party: (t, its own confirmed tracks) each tick; (t, its fused picture) each share period
    own_tracks_log: dict[str, list[tuple[float, list[TrackState]]]]
    fused_log: dict[str, list[tuple[float, list[FusedTrack]]]]
    #: (party, t, prediction) each tick
    preds_log: list[tuple[str, float, Prediction]]
    #: every CAP message issued, as the alert step described it (party, t, msg_type, areas …)
    alerts_log: list[dict[str, Any]]
    #: (receiver, originator, t, item) for every item a node stored from a partner
    receipts: list[tuple[str, str, float, Item]]
    #: simulated creation-to-receipt latency of each shared item, ms
    latencies_ms: list[float]
    #: each inject as played: t, type, node, to, caught, how (and ``_crash``/``_rewrite`` marks
    #: for the checks that can only be made at the end)
    injects: list[dict[str, Any]]
    #: the simulated network's counters
    network_messages: int
    network_losses: int
    partition_drops: int
    #: when every outbox was empty after the last tick (None: not within the drain limit)
    drained_at: float | None
    #: the simulated clock when the run ended
    ended: datetime
    wall_s: float
    cpu_s: float
