"""What the burnout-time bank (:mod:`.burnout`) keeps of the boosting tracks: one table.

Every scan, each confirmed boosting track updated with a detection adds one row: the track's
id, the time, radar and (range, azimuth, elevation) of that detection, the boost model's
predictive log-likelihood of it and the boost model's 9-D state and covariance after the
update. The rows of all tracks share preallocated columns, written by one compiled call per
scan (:func:`record_rows`), so the recording costs no Python per track. A track's
:class:`History` is its rows over the ``keep_s`` seconds up to its latest one; rows older than
that, and those of tracks dropped, are reclaimed when the table fills.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accord.warning.kernel_cache import njit
from accord.warning.tracking.models import DIM
from accord.warning.tracking.tracks import Tracks


@dataclass
class History:
    """One track's recent detections and boost-model snapshots (:mod:`.burnout`), ``J`` rows
    in time order: ``t``, ``s`` (radar index), ``z`` (J, 3), ``ll`` (the boost model's
    predictive log-likelihood), ``x`` (J, 9) and ``P`` (J, 9, 9) (the boost model after the
    update), ``ok`` (a snapshot kept: a history restored from an older form may lack some)."""

    t: np.ndarray
    s: np.ndarray
    z: np.ndarray
    ll: np.ndarray
    x: np.ndarray
    P: np.ndarray
    ok: np.ndarray

    def to_json(self) -> dict:
        """The history as JSON values (floats round-trip exactly); :meth:`from_json` reads it."""
        return {"t": self.t.tolist(), "s": self.s.tolist(), "z": self.z.tolist(), "ll": self.ll.tolist(),
                "snap": [[x.tolist(), P.tolist()] if ok else None for x, P, ok in zip(self.x, self.P, self.ok)]}

    @classmethod
    def from_json(cls, v: dict) -> "History":
        J = len(v["t"])
        x = np.zeros((J, DIM))
        P = np.zeros((J, DIM, DIM))
        ok = np.zeros(J, bool)
        for j, sn in enumerate(v["snap"]):
            if sn is None:
                continue
            xs, Ps = np.array(sn[0], dtype=float), np.array(sn[1], dtype=float)
            d = len(xs)              # a (p, v) snapshot written before the thrust was kept gets no thrust
            x[j, :d] = xs
            P[j, :d, :d] = Ps
            ok[j] = True
        return cls(np.array(v["t"], dtype=float).reshape(J), np.array(v["s"], dtype=np.int64).reshape(J),
                   np.array(v["z"], dtype=float).reshape(J, 3), np.array(v["ll"], dtype=float).reshape(J), x, P, ok)


class Records:
    """The table of all boosting tracks' rows (see the module); ``keep_s``: the window a
    :class:`History` covers, seconds before a track's latest row."""

    COLUMNS = ("id", "t", "s", "z", "ll", "x", "P", "ok")

    def __init__(self, keep_s: float, capacity: int = 128) -> None:
        self.keep_s = keep_s
        self.n = 0
        self._alloc(capacity)

    def _alloc(self, cap: int) -> None:
        self.id = np.zeros(cap, np.int64)     # 0: a free or dropped row
        self.t = np.zeros(cap)
        self.s = np.zeros(cap, np.int64)
        self.z = np.zeros((cap, 3))
        self.ll = np.zeros(cap)
        self.x = np.zeros((cap, DIM))
        self.P = np.zeros((cap, DIM, DIM))
        self.ok = np.zeros(cap, bool)

    def record(self, t: float, s: int, z: np.ndarray, ri: np.ndarray, ci: np.ndarray, ll: np.ndarray,
               X: np.ndarray, P: np.ndarray, confirmed: np.ndarray, latched: np.ndarray, ids: np.ndarray,
               took: np.ndarray) -> None:
        """Add this scan's rows: track ``ri[q]`` updated with detection ``ci[q]`` of ``z`` (radar
        ``s``, time ``t``; ``ll`` the gate's (N, 2, m) log-likelihoods, ``X``, ``P`` after the
        update), for the tracks confirmed, boosting (not latched), with an identity and not
        waiting to take a latched one's (``took`` NaN)."""
        if self.n + len(ri) > len(self.id):
            self._make_room(len(ri))
        self.n = record_rows(self.id, self.t, self.s, self.z, self.ll, self.x, self.P, self.ok, self.n,
                             t, s, z, ri, ci, ll, X, P, confirmed, latched, ids, took)

    def _make_room(self, m: int) -> None:
        """Reclaim the rows no history reads any more (dropped, or older than ``keep_s`` before
        their track's latest row); double the columns if that leaves too little room for ``m``."""
        n = self.n
        ids, t = self.id[:n], self.t[:n]
        u, inv = np.unique(ids, return_inverse=True)
        last = np.full(len(u), -np.inf)
        np.maximum.at(last, inv, t)
        keep = np.flatnonzero((ids > 0) & ~(t < last[inv] - self.keep_s))
        cols = {k: getattr(self, k)[keep] for k in self.COLUMNS}
        cap = len(self.id)
        if 2 * (len(keep) + m) > cap:
            self._alloc(max(2 * cap, 2 * (len(keep) + m)))
        for k, a in cols.items():
            getattr(self, k)[: len(keep)] = a
        self.id[len(keep): n] = 0
        self.n = len(keep)

    def _rows(self, tid: int) -> np.ndarray:
        return np.flatnonzero(self.id[: self.n] == tid)

    def _history(self, rows: np.ndarray) -> History:
        t = self.t[rows]
        rows = rows[~(t < t[-1] - self.keep_s)]      # the window before the track's latest row
        return History(self.t[rows], self.s[rows], self.z[rows], self.ll[rows], self.x[rows], self.P[rows],
                       self.ok[rows])

    def peek(self, tid: int) -> History | None:
        """Track ``tid``'s :class:`History` (``None`` if it has no rows), its rows kept."""
        rows = self._rows(tid)
        return self._history(rows) if len(rows) else None

    def discard(self, tid: int) -> None:
        """Drop track ``tid``'s rows (its detections are not another track's)."""
        self.id[self._rows(tid)] = 0

    def histories(self) -> dict[int, History]:
        """Every track's :class:`History`, by track id."""
        ids = self.id[: self.n]
        return {int(tid): self._history(np.flatnonzero(ids == tid)) for tid in np.unique(ids[ids > 0]).tolist()}

    def to_json(self) -> dict:
        """``{track id: History.to_json()}``; :meth:`from_json` reads it."""
        return {str(tid): h.to_json() for tid, h in self.histories().items()}

    @classmethod
    def from_json(cls, v: dict, keep_s: float) -> "Records":
        rec = cls(keep_s)
        for tid, hv in v.items():
            h = History.from_json(hv)
            J = len(h.t)
            if rec.n + J > len(rec.id):
                rec._make_room(J)
            a = slice(rec.n, rec.n + J)
            rec.id[a] = int(tid)
            for k in cls.COLUMNS[1:]:
                getattr(rec, k)[a] = getattr(h, k)
            rec.n += J
        return rec


@njit(cache=True, nogil=True)
def record_rows(rid, rt, rs, rz, rll, rx, rP, rok, n, t, s, z, ri, ci, ll, X, P, confirmed, latched, ids,
                took):  # pragma: no cover
    """:meth:`Records.record`'s loop: appends at row ``n`` (room made) and returns the new count."""
    for q in range(ri.shape[0]):
        r = ri[q]
        if confirmed[r] and not latched[r] and ids[r] > 0 and math.isnan(took[r]):
            k = ci[q]
            rid[n] = ids[r]
            rt[n] = t
            rs[n] = s
            rz[n, :] = z[k]
            rll[n] = ll[r, 1, k]
            rx[n, :] = X[r, 1]
            rP[n, :, :] = P[r, 1]
            rok[n] = True
            n += 1
    return n


def warm_up() -> None:
    """Load (or compile) :func:`record_rows` with the types the tracker passes (its track table's columns)."""
    tr = Tracks.empty()
    i0 = np.zeros(0, np.int64)
    Records(1.0).record(0.0, 0, np.zeros((0, 3)), i0, i0.copy(), np.zeros((0, 2, 0)), tr.X, tr.P, tr.confirmed,
                        tr.latched, tr.id, tr.took)
