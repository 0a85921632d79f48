"""Interacting Multiple Model (IMM) extended Kalman filter, batched over tracks.

Shapes: ``X (N, 2, d)``, ``P (N, 2, d, d)``, mode probabilities ``mu (N, 2)``, Markov transition
matrix ``Pi (2, 2)`` with ``Pi[i, j] = P(model j at k | model i at k−1)``.

IMM cycle (Bar-Shalom, Li & Kirubarajan 2001, §11.6.6):

1. mixing: ``c̄_j = Σ_i Π_ij μ_i``, ``μ_{i|j} = Π_ij μ_i / c̄_j``,
   ``x⁰_j = Σ_i μ_{i|j} x_i``, ``P⁰_j = Σ_i μ_{i|j} [P_i + (x_i − x⁰_j)(x_i − x⁰_j)ᵀ]``
   — for two models the spread term is ``μ_{0|j} μ_{1|j} (x_0 − x_1)(x_0 − x_1)ᵀ``;
2. model-matched prediction (:func:`accord.warning.tracking.models.predict`);
3. model-matched EKF update (:func:`ekf_update`), likelihoods ``Λ_j = N(ν_j; 0, S_j)``;
4. mode update ``μ_j ∝ Λ_j c̄_j``; 5. output combination (:func:`combine`).

The covariance update uses the Joseph form ``P = (I − K H) P (I − K H)ᵀ + K R Kᵀ``, which stays
symmetric positive semi-definite under round-off and a sub-optimal gain (Bucy & Joseph 1968).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from accord.warning.kernel_cache import njit

LOG_2PI = float(np.log(2.0 * np.pi))
_EYE9 = np.eye(9)


@lru_cache(maxsize=512)
def transition_matrix(dt: float, tau_0: float, tau_1: float) -> np.ndarray:
    """Two-model Markov matrix for a step ``dt``: leave model ``i`` at the rate ``1/τ_i``."""
    l0, l1 = 1.0 - np.exp(-abs(dt) / tau_0), 1.0 - np.exp(-abs(dt) / tau_1)
    Pi = np.array([[1.0 - l0, l0], [l1, 1.0 - l1]])
    Pi.setflags(write=False)
    return Pi


def mix(X: np.ndarray, P: np.ndarray, mu: np.ndarray, Pi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IMM interaction (two models): mixed ``(X⁰, P⁰)`` and predicted probabilities ``c̄``."""
    w = mu[:, :, None] * Pi                        # (N, i, j) = μ_i Π_ij
    cbar = w[:, 0, :] + w[:, 1, :]                 # (N, j)
    w = w / cbar[:, None, :]                       # μ_{i|j}
    X0 = np.swapaxes(w, 1, 2) @ X                  # (N, j, d)
    w0 = w[:, 0, :, None, None]
    w1 = w[:, 1, :, None, None]
    dd = X[:, 0] - X[:, 1]
    P0 = w0 * P[:, 0:1] + w1 * P[:, 1:2] + (w0 * w1) * (dd[:, :, None] * dd[:, None, :])[:, None]
    return X0, P0, cbar


def combine(X: np.ndarray, P: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IMM output: moment-matched mean and covariance of the two-model mixture,
    ``x = μ₀ x₀ + μ₁ x₁``, ``P = μ₀ P₀ + μ₁ P₁ + μ₀ μ₁ (x₀ − x₁)(x₀ − x₁)ᵀ`` (one compiled
    loop, :func:`_combine`: it runs for every report and prediction)."""
    X = np.ascontiguousarray(X, dtype=float)
    P = np.ascontiguousarray(P, dtype=float)
    mu = np.ascontiguousarray(mu, dtype=float)
    return _combine(X, P, mu)


@njit(cache=True, nogil=True)
def _combine(X, P, mu):  # pragma: no cover
    """:func:`combine`'s loop, each element's arithmetic in the order of the array expression
    it replaced (the same values to the bit)."""
    N, d = X.shape[0], X.shape[2]
    x = np.empty((N, d))
    Pc = np.empty((N, d, d))
    for n in range(N):
        m0, m1 = mu[n, 0], mu[n, 1]
        c = m0 * m1
        for a in range(d):
            x[n, a] = m0 * X[n, 0, a] + m1 * X[n, 1, a]
        for a in range(d):
            da = X[n, 0, a] - X[n, 1, a]
            for b in range(d):
                Pc[n, a, b] = m0 * P[n, 0, a, b] + m1 * P[n, 1, a, b] + c * (da * (X[n, 0, b] - X[n, 1, b]))
    return x, Pc


def ekf_update(X: np.ndarray, P: np.ndarray, nu: np.ndarray, Hp: np.ndarray, Sinv: np.ndarray,
               R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Measurement update of states whose measurement depends on position only.

    ``X (K, d)``, ``P (K, d, d)``, innovation ``ν (K, 3)``, ``H_p (K, 3, 3)`` (∂h/∂p), the
    inverse innovation covariance ``S⁻¹ (K, 3, 3)`` (already formed for gating) and ``R (3, 3)``.
    With ``H = [H_p 0]``: ``K = P Hᵀ S⁻¹``, ``x += K ν`` and the Joseph-form covariance.
    """
    PHt = P[:, :, 0:3] @ np.swapaxes(Hp, -1, -2)            # (K, d, 3)
    Kg = PHt @ Sinv                                          # (K, d, 3)
    Xn = X + (Kg @ nu[:, :, None])[:, :, 0]
    IKH = np.tile(_EYE9, (X.shape[0], 1, 1))
    IKH[:, :, 0:3] -= Kg @ Hp
    Pn = IKH @ P @ np.swapaxes(IKH, -1, -2) + Kg @ R @ np.swapaxes(Kg, -1, -2)
    return Xn, 0.5 * (Pn + np.swapaxes(Pn, -1, -2))
