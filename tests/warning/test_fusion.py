"""Track-to-track fusion: covariance intersection and association."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import InputError
from accord.warning.frames import lla_to_ecef
from accord.warning.fusion import covariance_intersection, fuse, propagate
from accord.warning.types import TrackState


def spd(rng, n=6, scale=1.0):
    a = rng.normal(size=(n, n))
    return scale * (a @ a.T + n * np.eye(n))


def track(tid, pos, vel, var=100.0**2, t=0.0, cov=None):
    P = np.diag([var] * 3 + [100.0] * 3) if cov is None else cov
    return TrackState(t, tid, *pos, *vel, cov=tuple(P.ravel()))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_ci_is_never_worse_than_the_better_input_and_stays_consistent(seed):
    rng = np.random.default_rng(seed)
    P1, P2 = spd(rng), spd(rng, scale=3.0)
    x1, x2 = rng.normal(size=6), rng.normal(size=6)
    x, P, w = covariance_intersection(x1, P1, x2, P2)
    assert 0.0 <= w <= 1.0
    assert np.trace(P) <= min(np.trace(P1), np.trace(P2)) + 1e-9
    # CI's defining property: P ⪰ (ωP1⁻¹ + (1−ω)P2⁻¹)⁻¹ equality, and P is symmetric positive definite
    assert np.allclose(P, P.T)
    assert np.all(np.linalg.eigvalsh(P) > 0)


def test_ci_of_identical_estimates_returns_them():
    rng = np.random.default_rng(1)
    P = spd(rng)
    x = rng.normal(size=6)
    xf, Pf, _ = covariance_intersection(x, P, x, P)
    assert np.allclose(xf, x) and np.allclose(Pf, P)


def test_propagation_conserves_energy_and_grows_covariance():
    r = lla_to_ecef(40.0, 130.0, 150_000.0)
    v = np.cross([0, 0, 1.0], r)
    v = 2000.0 * v / np.linalg.norm(v)
    x = np.concatenate([r, v])
    P = np.diag([100.0] * 3 + [10.0] * 3)
    xn, Pn = propagate(x, P, 60.0)

    def energy(s):
        return 0.5 * s[3:] @ s[3:] - 3.986004418e14 / np.linalg.norm(s[:3])

    assert energy(xn) == pytest.approx(energy(x), rel=1e-9)
    assert np.trace(Pn[:3, :3]) > np.trace(P[:3, :3])


def test_partner_track_of_the_same_missile_is_fused_and_a_new_one_is_added():
    r1 = lla_to_ecef(40.0, 131.0, 100_000.0)
    r2 = lla_to_ecef(38.0, 133.0, 100_000.0)
    # Own radar is precise along x, the partner's along y: CI must beat both.
    own_cov = np.diag([100.0**2, 1000.0**2, 1000.0**2, 100.0, 100.0, 100.0])
    kor_cov = np.diag([1000.0**2, 100.0**2, 1000.0**2, 100.0, 100.0, 100.0])
    own = [track("T1", r1, [0, 0, 0], cov=own_cov)]
    partner = [("KOR", track("K7", r1 + np.array([150.0, -80.0, 60.0]), [0, 0, 0], cov=kor_cov)),
               ("KOR", track("K8", r2, [0, 0, 0]))]
    picture = fuse(own, partner, 0.0, own_party="JPN")
    assert sorted(p.sources for p in picture) == [("JPN:T1", "KOR:K7"), ("KOR:K8",)]
    fused = next(p for p in picture if len(p.sources) == 2)
    assert np.trace(fused.P[:3, :3]) < min(np.trace(own_cov[:3, :3]), np.trace(kor_cov[:3, :3]))


def test_track_without_covariance_is_refused():
    bad = TrackState(0.0, "T1", 1e6, 0, 6.4e6, 0, 0, 0, cov=None)
    with pytest.raises(InputError, match="no covariance"):
        fuse([bad], [], 0.0, own_party="JPN")
