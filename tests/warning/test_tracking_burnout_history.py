"""The burnout bank's record table keeps, per track, exactly the window of rows a per-track
queue pruned at every addition keeps; its JSON form is the per-track histories'; the bank's
hypothesis times are those of the loop that defines them."""

from __future__ import annotations

import json
from collections import deque

import numpy as np
import pytest

from accord.warning.tracking import burnout
from accord.warning.tracking.history import History, Records
from accord.warning.tracking.models import DIM


class _Queue:
    """The reference: one track's rows in queues, the oldest dropped while older than ``keep_s``
    before the row just added."""

    def __init__(self) -> None:
        self.rows: deque = deque()

    def add(self, row: tuple, keep_s: float) -> None:
        self.rows.append(row)
        while self.rows and self.rows[0][0] < row[0] - keep_s:
            self.rows.popleft()


def _scan(rng, n_tracks):
    """One scan's inputs for ``n_tracks`` track rows, each updated with its own detection."""
    X = rng.normal(size=(n_tracks, 2, DIM))
    P = rng.normal(size=(n_tracks, 2, DIM, DIM))
    z = rng.normal(size=(n_tracks, 3))
    ll = rng.normal(size=(n_tracks, 2, n_tracks))
    ri = rng.permutation(n_tracks).astype(np.int64)
    ci = rng.permutation(n_tracks).astype(np.int64)
    return X, P, z, ll, ri, ci


def _equal(h: History, rows: deque) -> None:
    assert len(h.t) == len(rows)
    for j, (t, s, z, ll, x, P) in enumerate(rows):
        assert h.t[j] == t and h.s[j] == s and h.ll[j] == ll and h.ok[j]
        np.testing.assert_array_equal(h.z[j], z)
        np.testing.assert_array_equal(h.x[j], x)
        np.testing.assert_array_equal(h.P[j], P)


@pytest.mark.parametrize("keep_s", [3.0, 30.0])
def test_records_keep_each_tracks_window(keep_s):
    """Tracks boosting, latched, tentative, without identity or waiting on one; ids dropped and
    reused; the table reclaiming and growing (a small start): every history read and dropped, and the
    JSON form at any time, equal the reference queues'; a table read back from JSON goes on
    the same."""
    rng = np.random.default_rng(3)
    rec = Records(keep_s, capacity=4)
    ref: dict[int, _Queue] = {}
    n = 6
    t = 0.0
    for scan in range(300):
        t += float(rng.choice([0.5, 1.0, 2.0]))
        X, P, z, ll, ri, ci = _scan(rng, n)
        confirmed = rng.random(n) < 0.8
        latched = rng.random(n) < 0.2
        ids = rng.choice(np.r_[-1, -1, 1:9], size=n, replace=False)    # a track's id on one row at most
        took = np.where(rng.random(n) < 0.1, 1.0, np.nan)
        s = int(rng.integers(0, 3))
        rec.record(t, s, z, ri, ci, ll, X, P, confirmed, latched, ids, took)
        for r, k in zip(ri.tolist(), ci.tolist()):
            if confirmed[r] and not latched[r] and ids[r] > 0 and np.isnan(took[r]):
                ref.setdefault(int(ids[r]), _Queue()).add((t, s, z[k], ll[r, 1, k], X[r, 1], P[r, 1]), keep_s)
        if scan % 7 == 3:                      # a track latched or lost: its history taken or dropped
            tid = int(rng.integers(1, 9))
            got = rec.peek(tid) if scan % 2 else None
            rec.discard(tid)
            q = ref.pop(tid, None)
            if scan % 2:
                assert (got is None) == (q is None)
                if q is not None:
                    _equal(got, q.rows)
        if scan % 50 == 49:
            doc = json.loads(json.dumps(rec.to_json()))
            assert sorted(int(k) for k in doc) == sorted(ref)
            for tid, hv in doc.items():
                _equal(History.from_json(hv), ref[int(tid)].rows)
            rec = Records.from_json(doc, keep_s)
    assert len(rec.id) > 4                     # it grew
    for tid, q in ref.items():
        _equal(rec.peek(tid), q.rows)
        rec.discard(tid)
        assert rec.peek(tid) is None


def test_history_reads_older_snapshots():
    """A history written with a missing snapshot and a (p, v) one (before the thrust was kept)
    reads as rows without a snapshot and a 9-D one with no thrust; the bank skips the former."""
    x6, P6 = list(range(6)), np.eye(6).tolist()
    v = {"t": [0.0, 1.0, 2.0, 3.0], "s": [0, 0, 1, 1], "z": [[1.0, 2.0, 3.0]] * 4, "ll": [0.0, -1.0, -2.0, -3.0],
         "snap": [[x6, P6], None, [list(range(9)), np.eye(9).tolist()], [list(range(9)), np.eye(9).tolist()]]}
    h = History.from_json(v)
    assert h.ok.tolist() == [True, False, True, True]
    np.testing.assert_array_equal(h.x[0], list(range(6)) + [0, 0, 0])
    assert h.P[0, 6:, 6:].sum() == 0 and h.P[0, :6, :6].trace() == 6
    assert burnout.hypothesis_times(h, 1.0) == [(0.0, 0), (2.0, 2), (3.0, 3)]
    assert History.from_json(h.to_json()).to_json() == h.to_json()


def _times(ts, ok, every):
    """The hypothesis times as the loop that defines them (:func:`burnout.hypothesis_times`)."""
    out, last = [], -np.inf
    for j, tj in enumerate(ts):
        if not ok[j]:
            continue
        if tj - last >= every - 1e-6:
            out.append((tj, j))
            last = tj
        if j + 1 < len(ts):
            tau = last + every
            while tau < ts[j + 1] - 1e-6:
                out.append((tau, j))
                last = tau
                tau += every
    return out


@pytest.mark.parametrize("seed", range(4))
def test_hypothesis_times_are_the_loops(seed):
    """Irregular detection times (same-time scans, short revisits, gaps of several seconds,
    rows without a snapshot): the compiled plan gives the loop's times and detections."""
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.choice([0.0, 0.3, 0.7, 1.0, 1.0000001, 2.0, 4.5, 6.0], size=40))
    ok = rng.random(40) < 0.9
    h = History(ts, np.zeros(40, np.int64), np.zeros((40, 3)), np.zeros(40), np.zeros((40, DIM)),
                np.zeros((40, DIM, DIM)), ok)
    for every in (0.5, 1.0, 2.0):
        assert burnout.hypothesis_times(h, every) == _times(ts.tolist(), ok, every)
