"""The track table: every per-track array of the tracker, one row per track, in one place.

The tracker keeps its tracks as columns (numpy arrays with the track on axis 0) so that a scan is
a handful of array operations and compiled kernels, never a Python object per track
(STYLE.md, "arrays on the hot path"). :class:`Tracks` names those columns and is the one place
that grows (:meth:`Tracks.append`) and compacts (:meth:`Tracks.take`) them together, so no column
can fall out of step with the others. The same table holds the live tracks and the pool of lost
confirmed tracks awaiting re-acquisition.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from accord.warning import prediction
from accord.warning.tracking.models import DIM, N_MODELS

INT = np.int64


@dataclass
class Tracks:
    """Columns of the track table (``n`` rows: one per track)."""

    X: np.ndarray          # (n, models, 9) per-model state: ECEF position, velocity, thrust acceleration
    P: np.ndarray          # (n, models, 9, 9) per-model covariance
    mu: np.ndarray         # (n, models) IMM model probabilities
    hist: np.ndarray       # (n,) detection-opportunity history, a bit per opportunity (M-of-N)
    misses: np.ndarray     # (n,) consecutive missed opportunities
    last: np.ndarray       # (n,) time of the last update
    ball_since: np.ndarray  # (n,) since when the ballistic mode has led (inf: it does not)
    latched: np.ndarray    # (n,) burnout latched: the ballistic model alone from then on
    confirmed: np.ndarray  # (n,) confirmed (else tentative)
    id: np.ndarray         # (n,) track number (``T<id>``); -1 until confirmed, or given away
    conf_t: np.ndarray     # (n,) time of confirmation (inf: not yet)
    anchor: np.ndarray     # (n, 7) boost-phase state (t, p, v) for the launch estimate; NaN: none yet
    boost: np.ndarray      # (n, BOOST_STATES, 9) boost states (t, p, v, σp, σv) for the rise fit
    boost_n: np.ndarray    # (n,) boost states kept
    lfit: np.ndarray       # (n, 4) launch from the boost phase (t, lat, lon, σ): the rise fit, else the
    #                        single anchor; NaN: not yet, σ −1: neither
    born: np.ndarray       # (n,) time of the track's first detection
    took: np.ndarray       # (n,) when the track took over the identity of a track latched ballistic
    #                        (it is latched in turn once it has run ``min_ballistic_s``); NaN: never

    @classmethod
    def empty(cls) -> "Tracks":
        return cls(np.zeros((0, N_MODELS, DIM)), np.zeros((0, N_MODELS, DIM, DIM)), np.zeros((0, N_MODELS)),
                   np.zeros(0, INT), np.zeros(0, INT), np.zeros(0), np.zeros(0), np.zeros(0, bool),
                   np.zeros(0, bool), np.zeros(0, INT), np.zeros(0), np.zeros((0, 7)),
                   np.zeros((0, prediction.BOOST_STATES, 9)), np.zeros(0, INT), np.zeros((0, 4)), np.zeros(0),
                   np.zeros(0))

    @classmethod
    def opened(cls, X: np.ndarray, P: np.ndarray, mu: np.ndarray, t: float, born: np.ndarray) -> "Tracks":
        """New tentative tracks of states ``X``, ``P``, ``mu`` updated at ``t``, first seen at ``born``."""
        k = len(X)
        return cls(X, P, mu, np.full(k, 0b11, INT), np.zeros(k, INT), np.full(k, t), np.full(k, np.inf),
                   np.zeros(k, bool), np.zeros(k, bool), np.full(k, -1, INT), np.full(k, np.inf),
                   np.full((k, 7), np.nan), np.full((k, prediction.BOOST_STATES, 9), np.nan), np.zeros(k, INT),
                   np.full((k, 4), np.nan), born, np.full(k, np.nan))

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def columns(self) -> dict[str, np.ndarray]:
        """The columns by name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def take(self, rows: np.ndarray) -> "Tracks":
        """The table of ``rows`` (a mask or indices): what compacts it."""
        return Tracks(**{name: a[rows] for name, a in self.columns().items()})

    def append(self, other: "Tracks") -> "Tracks":
        """This table with ``other``'s rows after its own: what grows it."""
        mine = self.columns()
        return Tracks(**{name: np.concatenate([mine[name], a]) for name, a in other.columns().items()})


class Bookkeeping(NamedTuple):
    """The confirmation, burnout and deletion rules the bookkeeping kernel applies (from
    :class:`~accord.warning.tracking.tracker.TrackerConfig`)."""

    confirm_m: int
    confirm_n: int
    ballistic_prob: float
    min_ballistic_s: float
    tentative_misses: int
    confirmed_misses: int
    max_coast_tentative_s: float
    max_coast_s: float
    max_var: float          # max_sigma_m², on the position variance (trace)
    min_alt_m: float
    earth_radius_m: float
