"""Gating and global-nearest-neighbour data association for one scan.

For track ``i`` under model ``j`` with predicted measurement ``ẑ_ij`` and innovation covariance
``S_ij = H_ij P_ij H_ijᵀ + R``, detection ``z_k`` has innovation ``ν = z_k − ẑ_ij`` (azimuth
wrapped to [−π, π)) and squared Mahalanobis distance ``d² = νᵀ S⁻¹ ν``. A pair is *in the gate*
when ``min_j d²_ijk < γ`` with ``γ`` a χ²(3) quantile (Blackman & Popoli 1999, §6.3).

The assignment cost is the negative log of the IMM mixture likelihood
``−log Σ_j c̄_ij N(ν_ijk; 0, S_ij)`` (the GNN cost of Blackman & Popoli §6.5 generalised to an
IMM), minimised over one-to-one assignments by the Hungarian method
(:func:`scipy.optimize.linear_sum_assignment`); pairs outside the gate are never assigned.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from accord.warning.tracking.filters import LOG_2PI
from accord.warning.tracking.sensors import wrap_angle

_BIG = 1e9


def gate_and_cost(z: np.ndarray, zhat: np.ndarray, S: np.ndarray, log_cbar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distances, likelihoods and costs for all track/detection pairs of a scan.

    ``z (m, 3)``, ``zhat (N, 2, 3)``, ``S (N, 2, 3, 3)``, ``log_cbar (N, 2)``. Returns
    ``in_gate_d2 (N, m)`` (smallest squared Mahalanobis distance over the models),
    ``loglik (N, 2, m)`` (``log N(ν; 0, S)`` per model), ``cost (N, m)`` and ``S⁻¹``.
    """
    nu = z[None, None, :, :] - zhat[:, :, None, :]               # (N, 2, m, 3)
    nu[..., 1] = wrap_angle(nu[..., 1])
    Sinv = np.linalg.inv(S)
    d2 = ((nu @ Sinv) * nu).sum(axis=-1)                         # (N, 2, m)
    ll = -0.5 * (d2 + (np.log(np.linalg.det(S)) + 3 * LOG_2PI)[:, :, None])
    lw = ll + log_cbar[:, :, None]
    a, b = lw[:, 0], lw[:, 1]
    top = np.maximum(a, b)
    cost = -(top + np.log1p(np.exp(-np.abs(a - b))))
    return np.minimum(d2[:, 0], d2[:, 1]), ll, cost, Sinv


def assign(cost: np.ndarray, in_gate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one assignment of rows (tracks) to columns (detections) within the gate.

    Returns index arrays ``(rows, cols)`` of the accepted pairs.
    """
    if not np.count_nonzero(in_gate):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    c = np.where(in_gate, cost, _BIG)
    rows, cols = linear_sum_assignment(c)
    ok = in_gate[rows, cols]
    return rows[ok], cols[ok]
