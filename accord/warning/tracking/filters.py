"""Interacting Multiple Model (IMM) extended Kalman filter, batched over tracks.

Shapes: ``X (N, M, d)``, ``P (N, M, d, d)``, mode probabilities ``mu (N, M)``, Markov transition
matrix ``Pi (M, M)`` with ``Pi[i, j] = P(model j at k | model i at k−1)``.

IMM cycle (Bar-Shalom, Li & Kirubarajan 2001, §11.6.6):

1. mixing: ``c̄_j = Σ_i Π_ij μ_i``, ``μ_{i|j} = Π_ij μ_i / c̄_j``,
   ``x⁰_j = Σ_i μ_{i|j} x_i``, ``P⁰_j = Σ_i μ_{i|j} [P_i + (x_i − x⁰_j)(x_i − x⁰_j)ᵀ]``;
2. model-matched prediction (:func:`accord.warning.tracking.models.predict`);
3. model-matched EKF update (:func:`ekf_update`), likelihoods ``Λ_j = N(ν_j; 0, S_j)``;
4. mode update ``μ_j ∝ Λ_j c̄_j``; 5. output combination (:func:`combine`).

The covariance update uses the Joseph form ``P = (I − K H) P (I − K H)ᵀ + K R Kᵀ``, which stays
symmetric positive semi-definite under round-off and a sub-optimal gain (Bucy & Joseph 1968).
"""

from __future__ import annotations

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))


def transition_matrix(dt: float, tau: np.ndarray) -> np.ndarray:
    """Two-model Markov matrix for a step ``dt``: leave model ``i`` with rate ``1/τ_i``."""
    leave = 1.0 - np.exp(-abs(dt) / tau)
    return np.array([[1.0 - leave[0], leave[0]], [leave[1], 1.0 - leave[1]]])


def mix(X: np.ndarray, P: np.ndarray, mu: np.ndarray, Pi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IMM interaction: mixed initial conditions ``(X⁰, P⁰)`` and predicted probabilities ``c̄``."""
    w = mu[:, :, None] * Pi[None, :, :]          # (N, i, j) = μ_i Π_ij
    cbar = w.sum(axis=1)                          # (N, j)
    w = w / cbar[:, None, :]                      # μ_{i|j}
    X0 = np.einsum("nij,nid->njd", w, X)
    dx = X[:, :, None, :] - X0[:, None, :, :]     # (N, i, j, d)
    P0 = np.einsum("nij,nide->njde", w, P) + np.einsum("nij,nijd,nije->njde", w, dx, dx)
    return X0, P0, cbar


def combine(X: np.ndarray, P: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IMM output: moment-matched mean and covariance of the model mixture."""
    x = np.einsum("nj,njd->nd", mu, X)
    dx = X - x[:, None, :]
    Pc = np.einsum("nj,njde->nde", mu, P) + np.einsum("nj,njd,nje->nde", mu, dx, dx)
    return x, Pc


def ekf_update(X: np.ndarray, P: np.ndarray, nu: np.ndarray, Hp: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measurement update of states whose measurement depends on position only.

    ``X (K, d)``, ``P (K, d, d)``, innovation ``ν (K, 3)``, ``H_p (K, 3, 3)`` (∂h/∂p),
    ``R (3, 3)``. With ``H = [H_p 0]``: ``S = H P Hᵀ + R``, ``K = P Hᵀ S⁻¹``, ``x += K ν`` and the
    Joseph-form covariance. Returns ``(X, P, log Λ)`` with ``log Λ = log N(ν; 0, S)``.
    """
    PHt = P[:, :, 0:3] @ np.swapaxes(Hp, -1, -2)            # (K, d, 3)
    S = Hp @ PHt[:, 0:3, :] + R                              # (K, 3, 3)
    Sinv = np.linalg.inv(S)
    Kg = PHt @ Sinv                                          # (K, d, 3)
    Xn = X + np.einsum("kij,kj->ki", Kg, nu)
    d = X.shape[-1]
    IKH = np.broadcast_to(np.eye(d), P.shape).copy()
    IKH[:, :, 0:3] -= Kg @ Hp
    Pn = IKH @ P @ np.swapaxes(IKH, -1, -2) + Kg @ R @ np.swapaxes(Kg, -1, -2)
    Pn = 0.5 * (Pn + np.swapaxes(Pn, -1, -2))
    d2 = np.einsum("ki,kij,kj->k", nu, Sinv, nu)
    loglik = -0.5 * (d2 + np.log(np.linalg.det(S)) + 3 * LOG_2PI)
    return Xn, Pn, loglik
