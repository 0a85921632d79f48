"""Motion models and the compiled kernels against their numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from accord.warning.frames import MU, lla_to_ecef
from accord.warning.tracking import SensorArray, kernels
from accord.warning.tracking.association import gate_and_cost
from accord.warning.tracking.filters import combine, ekf_update, mix, transition_matrix
from accord.warning.tracking.models import (
    gravity_terms, jacobian, predict, process_noise, propagate_mean, thrust_turn, transition, transition_axis)

SENSOR = {"id": "S", "lat_deg": 40.9, "lon_deg": 140.3, "alt_m": 50.0, "sigma_range_m": 20.0,
          "sigma_az_rad": 0.0008, "sigma_el_rad": 0.0008, "min_range_m": 5e4, "max_range_m": 2e6,
          "min_el_deg": 2.0, "max_el_deg": 85.0, "az_center_deg": 260.0, "az_half_width_deg": 60.0}


def _ballistic_state() -> np.ndarray:
    p = lla_to_ecef(39.5, 130.0, 150e3)
    up = p / np.linalg.norm(p)
    east = np.cross([0.0, 0.0, 1.0], up)
    east /= np.linalg.norm(east)
    return np.r_[p, 2500.0 * east + 300.0 * up]


def _energy(x: np.ndarray) -> float:
    return 0.5 * float(x[3:6] @ x[3:6]) - MU / float(np.linalg.norm(x[0:3]))


def test_ballistic_step_matches_numerical_integration_of_inverse_square_gravity():
    x6 = _ballistic_state()
    X = np.zeros((1, 2, 9))
    X[0, :, 0:6] = x6

    def f(_t, s):
        r = s[:3]
        return np.r_[s[3:], -MU * r / np.linalg.norm(r) ** 3]

    ref = solve_ivp(f, (0.0, 2.0), x6, rtol=1e-12, atol=1e-9).y[:, -1]
    out = propagate_mean(X, 2.0)[0, 0, 0:6]
    assert np.linalg.norm(out[0:3] - ref[0:3]) < 1e-3      # metres after a 2 s step
    assert np.linalg.norm(out[3:6] - ref[3:6]) < 1e-4      # m/s


def test_ballistic_propagation_conserves_energy_and_angular_momentum():
    x6 = _ballistic_state()
    X = np.zeros((1, 2, 9))
    X[0, :, 0:6] = x6
    for _ in range(600):                                    # 300 s in half-second steps
        X = propagate_mean(X, 0.5)
    y = X[0, 0, 0:6]
    assert abs(_energy(y) - _energy(x6)) / abs(_energy(x6)) < 1e-8
    h0, h1 = np.cross(x6[:3], x6[3:]), np.cross(y[:3], y[3:])
    assert np.linalg.norm(h1 - h0) / np.linalg.norm(h0) < 1e-7
    # and gravity really acted: the missile fell relative to a straight line
    assert np.linalg.norm(y[:3] - (x6[:3] + 300.0 * x6[3:])) > 100e3


def test_gravity_terms_are_inverse_square_and_its_gradient():
    p = lla_to_ecef(10.0, 20.0, 100e3)[None]
    v = np.array([[100.0, -50.0, 30.0]])
    g, Gv = gravity_terms(p, v)
    assert np.isclose(np.linalg.norm(g), MU / np.linalg.norm(p) ** 2)
    eps = 1.0
    num = (gravity_terms(p + eps * v, v)[0] - gravity_terms(p - eps * v, v)[0]) / (2 * eps)
    assert np.allclose(Gv, num, rtol=1e-5)


def test_thrust_acts_only_in_the_boost_model():
    X = np.zeros((1, 2, 9))
    X[0, :, 0:3] = lla_to_ecef(40.0, 127.0, 20e3)
    X[0, :, 6:9] = [0.0, 0.0, 40.0]
    out = propagate_mean(X, 1.0)
    dv = out[0, 1, 3:6] - out[0, 0, 3:6]
    assert np.allclose(dv, [0.0, 0.0, 40.0])
    assert np.allclose(out[0, 0, 6:9], 0.0) and np.allclose(out[0, 1, 6:9], [0.0, 0.0, 40.0])


def test_boost_thrust_turns_with_the_velocity():
    """Over a step the boost model's thrust is rotated by the turn of its velocity: its size and
    its angle to the velocity are kept, the ballistic model is untouched, and the Jacobian's
    thrust block is that rotation (checked against finite differences in ``a``)."""
    rng = np.random.default_rng(4)
    X = np.zeros((1, 2, 9))
    X[0, :, 0:3] = lla_to_ecef(40.0, 127.0, 60e3)
    X[0, :, 3:6] = [800.0, -300.0, 1200.0]
    X[0, 1, 6:9] = [10.0, 25.0, 30.0]               # not along v: the pitch-over leads the velocity
    out = propagate_mean(X, 2.0)
    v0, v1, a0, a1 = X[0, 1, 3:6], out[0, 1, 3:6], X[0, 1, 6:9], out[0, 1, 6:9]
    cos = lambda x, y: x @ y / np.linalg.norm(x) / np.linalg.norm(y)      # noqa: E731
    assert cos(v0, v1) < 1.0 - 1e-6                                      # the velocity did turn
    assert np.isclose(np.linalg.norm(a1), np.linalg.norm(a0), rtol=1e-12)
    assert np.isclose(cos(a1, v1), cos(a0, v0), rtol=1e-9)
    k = np.cross(v0, v1)
    assert np.isclose(a1 @ k, a0 @ k, rtol=1e-9)                         # turned about v0 × v1 only
    assert out[0, 0, 6:9] @ out[0, 0, 6:9] == 0.0                        # ballistic: a ≡ 0
    R = thrust_turn(v0, v1)
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1.0)
    assert np.allclose(R @ (v0 / np.linalg.norm(v0)), v1 / np.linalg.norm(v1), atol=1e-12)
    F = jacobian(X, 2.0)[0, 1]
    d = rng.normal(size=3) * 1e-3
    Xd = X.copy()
    Xd[0, 1, 6:9] += d
    num = propagate_mean(Xd, 2.0)[0, 1, 6:9] - a1
    # the Jacobian leaves out the rotation's own change with ``a`` (through v'), of relative
    # size at most |a| Δt / |v| (5 % here; measured 2.8 %)
    err = np.linalg.norm(num - F[6:9, 6:9] @ d) / np.linalg.norm(d)
    assert err < np.linalg.norm(a0) * 2.0 / np.linalg.norm(v0)
    assert np.allclose(thrust_turn(np.zeros(3), v1), np.eye(3))             # no velocity: no turn


def test_process_noise_is_symmetric_positive_semidefinite():
    Q = process_noise(0.7, 0.01, 2.0, 1.0)
    assert np.allclose(Q, np.swapaxes(Q, -1, -2))
    assert np.linalg.eigvalsh(Q).min() > -1e-12


def _random_tracks(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = np.zeros((n, 2, 9))
    P = np.zeros((n, 2, 9, 9))
    for i in range(n):
        x6 = _ballistic_state()
        for j in range(2):
            X[i, j, 0:6] = x6 + rng.normal(0, [2e3, 2e3, 2e3, 50, 50, 50])
            X[i, j, 6:9] = rng.normal(0, 5.0, 3) * j
            A = rng.normal(size=(9, 9))
            P[i, j] = A @ A.T * 100.0 + np.eye(9) * 10.0
    mu = rng.dirichlet([1.0, 1.0], size=n)
    return X, P, mu


def test_combine_is_the_moment_matched_mixture_to_the_bit():
    """The compiled output combination gives the array expression's values exactly (the same
    operations in the same order), on rows of any mode probabilities, and on a strided view."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(7, 2, 9)) * 1e5
    A = rng.normal(size=(7, 2, 9, 9))
    P = A @ np.swapaxes(A, -1, -2)
    mu = rng.random((7, 2))
    mu /= mu.sum(axis=1, keepdims=True)
    mu[0] = (1.0, 0.0)
    for Xs, Ps, ms in ((X, P, mu), (X[::2], P[::2], mu[::2])):
        m0, m1 = ms[:, 0:1], ms[:, 1:2]
        dd = Xs[:, 0] - Xs[:, 1]
        x_ref = m0 * Xs[:, 0] + m1 * Xs[:, 1]
        P_ref = (m0[:, :, None] * Ps[:, 0] + m1[:, :, None] * Ps[:, 1]
                 + (m0 * m1)[:, :, None] * (dd[:, :, None] * dd[:, None, :]))
        x, Pc = combine(Xs, Ps, ms)
        np.testing.assert_array_equal(x, x_ref)
        np.testing.assert_array_equal(Pc, P_ref)


def test_imm_predict_kernel_matches_numpy_reference():
    rng = np.random.default_rng(1)
    X, P, mu = _random_tracks(rng, 4)
    dt = 0.5
    Pi = transition_matrix(dt, 2000.0, 30.0)
    Q = process_noise(dt, 0.01, 2.0, 1.0)
    X0, P0, cbar = mix(X, P, mu, Pi)
    Xr, Pr = predict(X0, P0, dt, Q)
    Xk, Pk, muk = X.copy(), P.copy(), mu.copy()
    kernels.imm_predict(Xk, Pk, muk, np.zeros(4, bool), dt, Pi, transition_axis(dt), Q, MU)
    assert np.allclose(Xk, Xr, rtol=1e-12, atol=1e-6)
    assert np.allclose(Pk, Pr, rtol=1e-9, atol=1e-6)
    assert np.allclose(muk, cbar)
    assert np.allclose(transition(dt)[1], np.kron(transition_axis(dt)[1], np.eye(3)))


def test_gate_and_update_kernels_match_numpy_reference():
    rng = np.random.default_rng(2)
    sa = SensorArray.from_sensors([SENSOR])
    X, P, mu = _random_tracks(rng, 3)
    zhat_r, Hp_r = sa.measure(X[:, :, 0:3], 0)
    S = Hp_r @ P[:, :, 0:3, 0:3] @ np.swapaxes(Hp_r, -1, -2) + sa.R[0]
    z = zhat_r[:, 0, :] + rng.normal(0, [30, 1e-3, 1e-3], (3, 3))
    z[:, 1] %= 2 * np.pi
    d2_r, ll_r, cost_r, Sinv_r = gate_and_cost(z, zhat_r, S, np.log(mu))
    zhat, Hp, Sinv, d2, ll, cost = kernels.gate(X, P, mu, z, sa.site[0], sa.basis[0], sa.R[0])
    for a, b in ((zhat, zhat_r), (Hp, Hp_r), (Sinv, Sinv_r), (d2, d2_r), (ll, ll_r), (cost, cost_r)):
        assert np.allclose(a, b, rtol=1e-7, atol=1e-12)
    rows, cols = np.array([0, 2]), np.array([1, 0])
    Xk, Pk, muk = X.copy(), P.copy(), mu.copy()
    kernels.imm_update(Xk, Pk, muk, np.zeros(3, bool), rows, cols, z, zhat, Hp, Sinv, ll, sa.R[0])
    for r, c in zip(rows, cols):
        nu = z[c][None] - zhat[r]
        nu[:, 1] = (nu[:, 1] + np.pi) % (2 * np.pi) - np.pi
        Xr, Pr = ekf_update(X[r], P[r], nu, Hp[r], Sinv[r], sa.R[0])
        assert np.allclose(Xk[r], Xr, atol=1e-6) and np.allclose(Pk[r], Pr, rtol=1e-8, atol=1e-6)
        w = mu[r] * np.exp(ll[r, :, c] - ll[r, :, c].max())
        assert np.allclose(muk[r], w / w.sum(), atol=1e-8)
    assert np.array_equal(Xk[1], X[1])                      # an unassigned track is untouched


@pytest.mark.parametrize("az_true", [0.0005, 2 * np.pi - 0.0005])
def test_measurement_jacobian_matches_finite_differences_and_wraps_north(az_true):
    sa = SensorArray.from_sensors([{**SENSOR, "az_center_deg": 0.0}])
    from accord.warning.frames import rae_to_ecef
    p = rae_to_ecef(np.array([800e3, az_true, 0.3]), sa.site[0], sa.basis[0])
    z, H = sa.measure(p[None], 0)
    num = np.empty((3, 3))
    for k in range(3):
        d = np.zeros(3)
        d[k] = 1.0
        zp, zm = sa.measure((p + d)[None], 0)[0][0], sa.measure((p - d)[None], 0)[0][0]
        dz = zp - zm
        dz[1] = (dz[1] + np.pi) % (2 * np.pi) - np.pi
        num[:, k] = dz / 2.0
    assert np.allclose(H[0], num, rtol=1e-5, atol=1e-12)
