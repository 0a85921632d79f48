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


def gate_and_cost(z: np.ndarray, zhat: np.ndarray, S: np.ndarray, log_cbar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances and costs for all track/detection pairs of a scan.

    ``z (m, 3)``, ``zhat (N, M, 3)``, ``S (N, M, 3, 3)``, ``log_cbar (N, M)``.
    Returns ``d2min (N, m)`` (smallest squared Mahalanobis distance over the models) and
    ``cost (N, m)`` (negative log mixture likelihood).
    """
    nu = z[None, None, :, :] - zhat[:, :, None, :]               # (N, M, m, 3)
    nu[..., 1] = wrap_angle(nu[..., 1])
    Sinv = np.linalg.inv(S)
    d2 = np.einsum("nkmi,nkij,nkmj->nkm", nu, Sinv, nu)
    logdet = np.log(np.linalg.det(S))                            # (N, M)
    ll = -0.5 * (d2 + (logdet + 3 * LOG_2PI + 0.0)[:, :, None]) + log_cbar[:, :, None]
    top = ll.max(axis=1)
    cost = -(top + np.log(np.exp(ll - top[:, None, :]).sum(axis=1)))
    return d2.min(axis=1), cost


def assign(cost: np.ndarray, in_gate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one assignment of rows (tracks) to columns (detections) within the gate.

    Returns index arrays ``(rows, cols)`` of the accepted pairs.
    """
    if cost.size == 0 or not in_gate.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    c = np.where(in_gate, cost, _BIG)
    rows, cols = linear_sum_assignment(c)
    ok = in_gate[rows, cols]
    return rows[ok], cols[ok]
