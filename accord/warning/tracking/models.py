"""Motion models of the tracker: ballistic flight and boosted flight under inverse-square gravity.

State ``x = [p, v, a]`` (9 numbers, ECEF metres, m/s, m/s²): position, velocity and the
*non-gravitational* (thrust) acceleration. Two models share that layout so the IMM can mix them
(Blom & Bar-Shalom 1988; Bar-Shalom, Li & Kirubarajan, *Estimation with Applications to Tracking
and Navigation*, 2001, §11.6):

* **ballistic** (index :data:`BALLISTIC`): ``ṗ = v``, ``v̇ = g(p)``, ``a ≡ 0``, with a white-noise
  acceleration ``q_ballistic`` (m²/s³) that is only a numerical floor (10⁻⁸ by default): after
  burnout the formats' flight *is* this model (no drag, non-rotating sphere), the Taylor step
  errs by ~10⁻⁵ m and the gravity linearisation by ~10⁻¹⁰ m/s² at the filter's σ, so any real
  process noise would only make the filter forget good measurements (5·10⁻⁴ gives a position
  RMSE 1.3× the Cramér–Rao bound and a NEES ≈ 3 late in the arc);
* **boost** (index :data:`BOOST`): ``ṗ = v``, ``v̇ = g(p) + a``, and the thrust acceleration
  ``a`` turns with the velocity — over a step it is rotated by the rotation ``R`` that takes the
  direction of ``v`` to that of ``v'`` (:func:`thrust_turn`) — plus a random walk driven by white
  jerk of spectral density ``q_boost`` (m²/s⁵) for what that does not explain (the pitch
  programme's own turn, the rising thrust-to-mass ratio); at burnout the IMM hands the track to
  the ballistic model. A thrust held fixed trailed the pitch-over (~0.7°/s, ~0.5 m/s³ on the
  simulated missiles): the velocity at burnout was biased and the ballistic arc, with no
  process noise, kept the error (docs/tracking.md, "Accuracy at the bound"). In the Jacobian
  ``∂a'/∂a = R``; the rotation's own dependence on the state (through ``v'``, relative size
  ``|a| Δt / |v|``, a few per cent in the boost) is left out.

Gravity is ``g(p) = −μ p / |p|³`` (:func:`accord.warning.frames.gravity`) on the non-rotating
sphere. Over a step ``Δt`` the mean is propagated by the third-order Taylor series

    p' = p + v Δt + ½ (g + a) Δt² + ⅙ G v Δt³,     v' = v + (g + a) Δt + ½ G v Δt²,

with the gravity gradient ``G = ∂g/∂p = μ/r³ (3 r̂ r̂ᵀ − I)``, so ``G v = μ/r³ (3 r̂ (r̂·v) − v)``;
the neglected terms are of order ``|G|² |p| Δt⁴ ≈ 10⁻⁵ m`` for ``Δt = 2 s``. Longer gaps are split
into sub-steps of at most ``max_step`` seconds.

The covariance is propagated with the Jacobian of that step: the kinematic matrix
``φ ⊗ I₃``, ``φ = [[1, Δt, ½Δt²], [0, 1, Δt], [0, 0, 1]]`` (thrust column and row zeroed for
the ballistic model), plus the gravity-gradient terms ``∂p'/∂p = I + G Δt²/2``,
``∂p'/∂v = I Δt + G Δt³/6``, ``∂v'/∂p = G Δt``, ``∂v'/∂v = I + G Δt²/2``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from accord.warning.frames import MU

BALLISTIC = 0
BOOST = 1
N_MODELS = 2
DIM = 9
_I3 = np.eye(3)
#: Model mask: the thrust acceleration acts (1) or is held at zero (0).
_THRUST = np.array([0.0, 1.0])[:, None]


def _kron_i3(C: np.ndarray) -> np.ndarray:
    """``C ⊗ I₃`` for stacked 3×3 blocks ``C (M, 3, 3)`` → ``(M, 9, 9)`` in [p, v, a] layout."""
    return (C[:, :, None, :, None] * _I3[None, None, :, None, :]).reshape(C.shape[0], 9, 9)


@lru_cache(maxsize=512)
def transition_axis(dt: float) -> np.ndarray:
    """Per-axis kinematic transition matrices ``φ (2, 3, 3)`` over (p, v, a) of both models."""
    c = np.array([[[1.0, dt, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
                  [[1.0, dt, 0.5 * dt * dt], [0.0, 1.0, dt], [0.0, 0.0, 1.0]]])
    c.setflags(write=False)
    return c


@lru_cache(maxsize=512)
def transition(dt: float) -> np.ndarray:
    """Kinematic transition matrices ``Φ = φ ⊗ I₃ (2, 9, 9)`` of both models for a step ``dt``."""
    F = _kron_i3(transition_axis(dt))
    F.setflags(write=False)
    return F


@lru_cache(maxsize=512)
def process_noise(dt: float, q_ballistic: float, q_boost: float, q_boost_vel: float = 0.0,
                  sigma_a_ballistic: float = 1e-3) -> np.ndarray:
    """Discrete process noise ``Q (2, 9, 9)`` for a step of ``dt`` seconds.

    Ballistic: white acceleration of density ``q`` on each axis,
    ``Q = q [[Δt³/3, Δt²/2], [Δt²/2, Δt]] ⊗ I₃`` over (p, v), and ``σ²`` on the pinned ``a``.
    Boost: white jerk of density ``q_j`` on the thrust acceleration (the continuous
    Wiener-process-acceleration model, Bar-Shalom et al. §6.2.3),
    ``Q = q_j [[Δt⁵/20, Δt⁴/8, Δt³/6], [Δt⁴/8, Δt³/3, Δt²/2], [Δt³/6, Δt²/2, Δt]] ⊗ I₃``,
    plus a white acceleration of density ``q_boost_vel`` on (p, v).
    """
    dt = abs(dt)
    d2, d3, d4, d5 = dt**2, dt**3, dt**4, dt**5
    wa = np.array([[d3 / 3, d2 / 2], [d2 / 2, dt]])
    c = np.zeros((2, 3, 3))
    c[0, :2, :2] = q_ballistic * wa
    c[0, 2, 2] = sigma_a_ballistic**2
    c[1] = q_boost * np.array([[d5 / 20, d4 / 8, d3 / 6], [d4 / 8, d3 / 3, d2 / 2], [d3 / 6, d2 / 2, dt]])
    c[1, :2, :2] += q_boost_vel * wa
    Q = _kron_i3(c)
    Q.setflags(write=False)
    return Q


def gravity_terms(p: np.ndarray, v: np.ndarray, mu: float = MU) -> tuple[np.ndarray, np.ndarray]:
    """``g(p) = −μ p/r³`` and ``G v = μ/r³ (3 p (p·v)/r² − v)``, both (…, 3)."""
    r2 = (p * p).sum(axis=-1, keepdims=True)
    k = mu / (r2 * np.sqrt(r2))
    pv = (p * v).sum(axis=-1, keepdims=True) / r2
    return -k * p, k * (3.0 * pv * p - v)


def propagate_mean(X: np.ndarray, dt: float, mu: float = MU) -> np.ndarray:
    """Taylor step of the means ``X (..., 2, 9)`` (model axis second to last) over ``dt``."""
    p, v, a = X[..., 0:3], X[..., 3:6], X[..., 6:9]
    g, Gv = gravity_terms(p, v, mu)
    acc = g + a * _THRUST
    out = np.empty_like(X)
    out[..., 0:3] = p + v * dt + acc * (0.5 * dt * dt) + Gv * (dt * dt * dt / 6.0)
    out[..., 3:6] = v + acc * dt + Gv * (0.5 * dt * dt)
    out[..., 6:9] = a * _THRUST
    R = thrust_turn(v[..., 1, :], out[..., 1, 3:6])
    out[..., 1, 6:9] = (R @ a[..., 1, :, None])[..., 0]
    return out


def thrust_turn(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """The rotation ``R (..., 3, 3)`` that turns the direction of ``v0`` into that of ``v1``
    about their common normal (Rodrigues: ``R = I + [k]ₓ + [k]ₓ² / (1 + c)``, ``k = v̂0 × v̂1``,
    ``c = v̂0 · v̂1``): the boost model's thrust turns with the velocity over a step."""
    n0 = np.linalg.norm(v0, axis=-1, keepdims=True)
    n1 = np.linalg.norm(v1, axis=-1, keepdims=True)
    still = (n0 < 1e-9) | (n1 < 1e-9)           # no direction to follow: no turn
    u = v0 / np.where(still, 1.0, n0)
    w = np.where(still, u, v1 / np.where(still, 1.0, n1))
    k = np.cross(u, w)
    c = np.where(still[..., 0], 1.0, (u * w).sum(axis=-1))[..., None, None]
    K = np.zeros(k.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    K[..., 1, 0], K[..., 2, 0], K[..., 2, 1] = k[..., 2], -k[..., 1], k[..., 0]
    return _I3 + K + K @ K / (1.0 + c)


def jacobian(X: np.ndarray, dt: float, mu: float = MU) -> np.ndarray:
    """Transition matrices ``F (..., 2, 9, 9)`` of the Taylor step at the states ``X (..., 2, 9)``."""
    p = X[..., 0:3]
    r2 = (p * p).sum(axis=-1)[..., None, None]
    u = p / np.sqrt(r2[..., 0])
    G = mu / (r2 * np.sqrt(r2)) * (3.0 * u[..., :, None] * u[..., None, :] - _I3)
    F = np.broadcast_to(transition(dt), X.shape[:-1] + (9, 9)).copy()
    F[..., 0:3, 0:3] += G * (0.5 * dt * dt)
    F[..., 0:3, 3:6] += G * (dt * dt * dt / 6.0)
    F[..., 3:6, 0:3] += G * dt
    F[..., 3:6, 3:6] += G * (0.5 * dt * dt)
    v1 = propagate_mean(X, dt, mu)[..., 1, 3:6]
    F[..., 1, 6:9, 6:9] = thrust_turn(X[..., 1, 3:6], v1)
    return F


def predict(X: np.ndarray, P: np.ndarray, dt: float, Q: np.ndarray, *, mu: float = MU,
            max_step: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """EKF time update of both models: ``x_{k|k-1} = f(x_{k-1})``, ``P_{k|k-1} = F P Fᵀ + Q``.

    ``X (N, 2, 9)``, ``P (N, 2, 9, 9)``; ``Q (2, 9, 9)`` is the noise of the whole step ``dt``
    (spread evenly over sub-steps when ``|dt| > max_step``). ``dt`` may be negative. This numpy
    version is the reference for the compiled :func:`accord.warning.tracking.kernels.imm_predict`.
    """
    if X.shape[0] == 0 or dt == 0.0:
        return X, P
    n = max(1, int(np.ceil(abs(dt) / max_step)))
    h = dt / n
    Qs = Q / n if n > 1 else Q
    for _ in range(n):
        F = jacobian(X, h, mu)
        X = propagate_mean(X, h, mu)
        P = F @ P @ np.swapaxes(F, -1, -2) + Qs
    return X, P
