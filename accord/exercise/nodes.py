"""The running exercise as its parts see it: each party's node and in-memory tracking state
(:class:`NodeState`), and the :class:`World` the deliveries and injects act on (the runner).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from accord.clock import ManualClock
from accord.exercise.network import SimulatedNetwork
from accord.exercise.scenario import Scenario
from accord.node.node import Node
from accord.warning.fusion import FusedTrack
from accord.warning.tracking import Tracker
from accord.warning.types import Prediction, TrackState


@dataclass
class NodeState:
    """One party's running node and its in-memory (loseable) tracking state."""

    party: str
    dir: Path
    node: Node | None
    sensor_idx: list[int]
    tracker: Tracker | None = None
    partner_tracks: dict[tuple[str, str], TrackState] = field(default_factory=dict)
    partner_preds: dict[tuple[str, str], Prediction] = field(default_factory=dict)
    picture: list[FusedTrack] = field(default_factory=list)
    in_flight_until: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    up: bool = True
    alert_engine: Any = None
    alert_store: Any = None
    restarts: int = 0
    own_tracks: list[TrackState] = field(default_factory=list)
    own_preds: list[Prediction] = field(default_factory=list)


class World(Protocol):
    """What a delivery and the injects read and do in a running exercise."""

    s: Scenario
    states: dict[str, NodeState]
    net: SimulatedNetwork
    clock: ManualClock
    t: float

    def crash(self, party: str, restart_at: float) -> None:
        """Kill ``party``'s node now (committed data stays on disk); reopen it at ``restart_at``."""
