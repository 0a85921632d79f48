"""Motion models of the tracker: ballistic flight and boosted flight under inverse-square gravity.

State ``x = [p, v, a]`` (9 numbers, ECEF metres, m/s, m/s²): position, velocity and the
*non-gravitational* (thrust) acceleration. Two models share that layout so the IMM can mix them
(Blom & Bar-Shalom 1988; Bar-Shalom, Li & Kirubarajan, *Estimation with Applications to Tracking
and Navigation*, §11.6):

* **ballistic** (index :data:`BALLISTIC`): ``ṗ = v``, ``v̇ = g(p)``, ``a ≡ 0``, with a small
  white-noise acceleration ``q_ballistic`` (m²/s³) for linearisation and round-off;
* **boost** (index :data:`BOOST`): ``ṗ = v``, ``v̇ = g(p) + a``, ``ȧ = w`` — the thrust
  acceleration is a random walk driven by white jerk of spectral density ``q_boost`` (m²/s⁵),
  which follows the pitch programme and the rising thrust-to-mass ratio, and drops to the
  ballistic model at burnout.

Gravity is ``g(p) = −μ p / |p|³`` (:func:`accord.warning.frames.gravity`) on the non-rotating
sphere. Over a step ``Δt`` the mean is propagated by the third-order Taylor series

    p' = p + v Δt + ½ (g + a) Δt² + ⅙ G v Δt³,     v' = v + (g + a) Δt + ½ G v Δt²,

with the gravity gradient ``G = ∂g/∂p = μ/r³ (3 r̂ r̂ᵀ − I)``; the neglected terms are of order
``|G|² |p| Δt⁴ ≈ 10⁻⁵ m`` for ``Δt = 2 s``. Longer gaps are split into sub-steps of at most
``max_step`` seconds. The transition matrix is the Jacobian of that map (with ``G`` held fixed).
"""

from __future__ import annotations

import numpy as np

from accord.warning.frames import MU

BALLISTIC = 0
BOOST = 1
N_MODELS = 2
DIM = 9
_I3 = np.eye(3)
#: Model mask: the thrust acceleration acts (1) or is held at zero (0).
_THRUST = np.array([0.0, 1.0])


def gravity_and_gradient(p: np.ndarray, mu: float = MU) -> tuple[np.ndarray, np.ndarray]:
    """``g(p) = −μ p/r³`` (…, 3) and its gradient ``G = μ/r³ (3 r̂ r̂ᵀ − I)`` (…, 3, 3)."""
    r2 = np.einsum("...i,...i->...", p, p)
    r = np.sqrt(r2)
    k = mu / (r2 * r)
    g = -k[..., None] * p
    u = p / r[..., None]
    G = k[..., None, None] * (3.0 * u[..., :, None] * u[..., None, :] - _I3)
    return g, G


def _propagate_once(X: np.ndarray, dt: float, mu: float) -> tuple[np.ndarray, np.ndarray]:
    """One Taylor step for stacked states ``X (..., 2, 9)`` (model axis second to last)."""
    p, v, a = X[..., 0:3], X[..., 3:6], X[..., 6:9]
    thrust = _THRUST[:, None]
    g, G = gravity_and_gradient(p, mu)
    Gv = np.einsum("...ij,...j->...i", G, v)
    acc = g + a * thrust
    dt2, dt3 = dt * dt, dt * dt * dt
    out = np.empty_like(X)
    out[..., 0:3] = p + v * dt + 0.5 * acc * dt2 + Gv * (dt3 / 6.0)
    out[..., 3:6] = v + acc * dt + 0.5 * Gv * dt2
    out[..., 6:9] = a * thrust
    # Transition matrix (Jacobian of the step, G frozen at the start of the step).
    F = np.zeros(X.shape + (DIM,))
    Gd2 = G * (0.5 * dt2)
    F[..., 0:3, 0:3] = _I3 + Gd2
    F[..., 0:3, 3:6] = _I3 * dt + G * (dt3 / 6.0)
    F[..., 3:6, 0:3] = G * dt
    F[..., 3:6, 3:6] = _I3 + Gd2
    F[..., 0:3, 6:9] = (0.5 * dt2) * _I3 * thrust[..., None]
    F[..., 3:6, 6:9] = dt * _I3 * thrust[..., None]
    F[..., 6:9, 6:9] = _I3 * thrust[..., None]
    return out, F


def process_noise(dt: float, q_ballistic: float, q_boost: float, q_boost_vel: float = 0.0,
                  sigma_a_ballistic: float = 1e-3) -> np.ndarray:
    """Discrete process noise ``Q (2, 9, 9)`` for a step of ``dt`` seconds.

    Ballistic: white acceleration of density ``q`` on each axis,
    ``Q = q [[Δt³/3, Δt²/2], [Δt²/2, Δt]] ⊗ I₃`` over (p, v), and ``σ²`` on the pinned ``a``.
    Boost: white jerk of density ``q_j`` on the thrust acceleration (the discrete Wiener-process
    acceleration model of Bar-Shalom et al. §6.3.3, continuous form),
    ``Q = q_j [[Δt⁵/20, Δt⁴/8, Δt³/6], [Δt⁴/8, Δt³/3, Δt²/2], [Δt³/6, Δt²/2, Δt]] ⊗ I₃``,
    plus a white acceleration of density ``q_boost_vel`` on (p, v).
    """
    dt = abs(dt)
    d2, d3, d4, d5 = dt**2, dt**3, dt**4, dt**5
    cb = np.zeros((3, 3))
    cb[:2, :2] = [[d3 / 3, d2 / 2], [d2 / 2, dt]]
    cb *= q_ballistic
    cb[2, 2] = sigma_a_ballistic**2
    cj = q_boost * np.array([[d5 / 20, d4 / 8, d3 / 6], [d4 / 8, d3 / 3, d2 / 2], [d3 / 6, d2 / 2, dt]])
    cj[:2, :2] += q_boost_vel * np.array([[d3 / 3, d2 / 2], [d2 / 2, dt]])
    return np.stack([np.kron(cb, _I3), np.kron(cj, _I3)])


def predict(X: np.ndarray, P: np.ndarray, dt: float, Q: np.ndarray, *, mu: float = MU,
            max_step: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """EKF time update of both models: ``x_{k|k-1} = f(x_{k-1})``, ``P_{k|k-1} = F P Fᵀ + Q``.

    ``X (N, 2, 9)``, ``P (N, 2, 9, 9)``; ``Q (2, 9, 9)`` is the noise of the whole step ``dt``
    (split evenly over sub-steps when ``|dt| > max_step``). ``dt`` may be negative.
    """
    if X.shape[0] == 0 or dt == 0.0:
        return X, P
    n = max(1, int(np.ceil(abs(dt) / max_step)))
    h = dt / n
    Qs = Q / n
    for _ in range(n):
        X, F = _propagate_once(X, h, mu)
        P = F @ P @ np.swapaxes(F, -1, -2) + Qs
    return X, 0.5 * (P + np.swapaxes(P, -1, -2))
