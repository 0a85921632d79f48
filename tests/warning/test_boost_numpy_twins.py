"""The compiled twins of numpy's linspace, interp and round that a boost prediction's ground track
uses (accord.warning.boost.predict: ``_linspace``, ``_interp``, ``_round``) give numpy's numbers to
the bit, so moving the ground track into one compiled call left every prediction unchanged; and
the posterior's cumulative weights read by ``_ground_track`` give the same far point, P(reach)
and rounding as numpy does on the same inputs."""

from __future__ import annotations

import math

import numpy as np

from accord.warning.boost import banks, predict
from accord.warning.frames import EARTH_RADIUS_M


def _same(a, b) -> bool:
    return np.asarray(a, dtype=float).tobytes() == np.asarray(b, dtype=float).tobytes()


def test_linspace_is_numpys_to_the_bit():
    rng = np.random.default_rng(1)
    cases = [(0.0, 1.0, 7), (-4.8, 4.8, 7), (5.0, 5.0, 40), (1e6, 1e6 + 1.0, 40), (-1.0, -3.0, 2)]
    cases += [(float(a), float(a + d), int(n)) for a, d, n in
              zip(rng.normal(0, 1e6, 300), rng.exponential(1e6, 300), rng.integers(2, 60, 300))]
    cases += [(float(-2.4 * s), float(2.4 * s), 7) for s in rng.uniform(2.0, 6.0, 300)]
    for a, b, n in cases:
        assert _same(predict._linspace(a, b, n), np.linspace(a, b, n)), (a, b, n)


def test_interp_is_numpys_to_the_bit():
    rng = np.random.default_rng(2)
    for _ in range(200):
        xp = np.sort(rng.uniform(0.0, 2e6, int(rng.integers(2, 400))))
        xp[rng.integers(0, len(xp), 3)] = xp[0]            # repeated nodes
        xp = np.sort(xp)
        fp = np.cumsum(rng.exponential(1.0, len(xp)))
        fp /= fp[-1]
        x = np.concatenate([rng.uniform(-1e5, 2.1e6, 50), xp[rng.integers(0, len(xp), 10)], [xp[0], xp[-1]]])
        want = np.interp(x, xp, fp, left=0.0, right=1.0)
        got = [predict._interp(float(v), xp, fp, 0.0, 1.0) for v in x]
        assert _same(got, want)


def test_round_is_numpys_to_the_bit():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0.0, 100.0, 5000), rng.uniform(0.0, 1.0, 5000), rng.normal(0.0, 1e5, 5000),
                        (np.arange(-2000, 2000) + 0.5) / 1e4, (np.arange(-2000, 2000) + 0.5) / 10.0])
    for d in (1, 4, 5):
        assert _same(predict._round(x, 10.0**d), np.round(x, d)), d


def test_ground_track_is_the_numpy_ground_track():
    """``_ground_track`` on a posterior of the bank: numpy's far point, linspace, interp and round."""
    b = banks()
    D = b.impact_range_m
    rng = np.random.default_rng(4)
    e1 = np.array([0.6, 0.5, math.sqrt(1.0 - 0.61)])
    n = np.cross(e1, [0.0, 0.0, 1.0])
    e2 = np.cross(n / np.linalg.norm(n), e1)
    for _ in range(30):
        w = np.exp(-0.5 * ((D - rng.uniform(3e5, 1.5e6)) / rng.uniform(2e4, 3e5)) ** 2)
        cw = np.cumsum(w / w.sum())
        s_now = float(rng.uniform(5e3, 2e5))
        out = predict._ground_track(s_now, e1, e2, EARTH_RADIUS_M, 0.004, False, np.zeros((3, 3)), 7e5, 5e4, D, cw)
        far = float(D[min(int(np.searchsorted(cw, 0.999)), len(D) - 1)])
        s = np.linspace(s_now, max(far, s_now + 1.0), predict.TRACK_POINTS)
        reach = 1.0 - np.interp(s, D, cw, left=0.0, right=1.0)
        glat, glon, sig = predict._ground_points(s, e1, e2, EARTH_RADIUS_M, 0.004)
        assert _same(out[0], np.round(glat, 5)) and _same(out[1], np.round(glon, 5))
        assert _same(out[2], np.round(reach, 4)) and _same(out[3], np.round(sig, 1))
