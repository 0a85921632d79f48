"""The simulated truth, for scoring only: which missile a position belongs to, and which
missiles are inside some radar's coverage each second. Nothing a node decides reads these.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from accord.warning.io import Sensor
from accord.warning.scoring import GOSPA_C_M
from accord.warning.sim import SimResult, in_any_coverage

#: a position farther than this from every missile belongs to none (GOSPA's cut-off c)
ASSOC_M = GOSPA_C_M


class TruthAssociator:
    """Which missile, if any, a position at time ``t`` belongs to: the nearest one in flight at
    ``t`` whose true position is within :data:`ASSOC_M`."""

    def __init__(self, flights: Sequence[Any]) -> None:
        self.flights = list(flights)

    def nearest(self, pos: np.ndarray, t: np.ndarray) -> list[str | None]:
        pos = np.asarray(pos, dtype=float).reshape(-1, 3)
        t = np.asarray(t, dtype=float).reshape(-1)
        best = np.full(len(t), ASSOC_M)
        who: list[str | None] = [None] * len(t)
        for f in self.flights:
            inside = (t >= f.launch_t) & (t <= f.impact_t)
            if not inside.any():
                continue
            idx = np.flatnonzero(inside)
            d = np.linalg.norm(f.state_at(t[idx])[:, :3] - pos[idx], axis=1)
            for i, di in zip(idx, d):
                if di < best[i]:
                    best[i] = di
                    who[i] = f.spec.id
        return who


def truth_by_second(sim: SimResult, sensors: Sequence[Sensor]) -> dict[int, list[tuple[str, np.ndarray]]]:
    """Each whole second's true missile states that some radar covers (GOSPA's truth set)."""
    tr = sim.truth
    out: dict[int, list[tuple[str, np.ndarray]]] = defaultdict(list)
    if len(tr.t) == 0:
        return out
    cov = in_any_coverage(list(sensors), tr.state[:, :3])
    for t, mid, x, c in zip(tr.t, tr.ids, tr.state, cov):
        if c:
            out[int(t)].append((str(mid), x))
    return out
