"""Track initiation: single-point tentative tracks, confirmed M-of-N.

Every detection of a scan that no confirmed track gates becomes a *tentative* track if it is
plausible for a ballistic missile (altitude between ``min_alt_m`` and ``max_alt_m``; clutter is
uniform over the whole coverage volume, so this alone rejects much of it). Its state is the
detection's position with the measurement covariance ``J R Jᵀ`` (``J = ∂p/∂(ρ, az, el)``), a zero
velocity with a wide prior ``σ_v`` (every ballistic speed up to ~2σ), and a zero thrust
acceleration with prior ``σ_a`` under the boost model. The second detection of the same object,
from any radar, then fixes the velocity through the Kalman update — a two-point initiation whose
covariance is exact rather than differenced (Blackman & Popoli 1999, §3.2).

Confirmation is M-of-N (Bar-Shalom, Willett & Tian 2011, §3.5): each track keeps the bit history
of its last detection opportunities (a scan of a radar whose coverage holds the predicted
position, or any scan that updated the track); a tentative track is confirmed once ``M`` of the
last ``N`` bits are hits.
"""

from __future__ import annotations

import numpy as np

from accord.warning.tracking.models import BALLISTIC, BOOST, DIM, N_MODELS

_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def popcount(bits: np.ndarray, n: int) -> np.ndarray:
    """Number of set bits among the ``n`` (≤ 16) lowest bits of ``bits``."""
    b = bits & ((1 << n) - 1)
    return _POP8[b & 0xFF] + _POP8[(b >> 8) & 0xFF]


def initial_states(pos: np.ndarray, pos_cov: np.ndarray, sigma_v: float, sigma_a: float,
                   mu0_boost: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IMM states ``(X (m, 2, 9), P (m, 2, 9, 9), mu (m, 2))`` of new tentative tracks."""
    m = pos.shape[0]
    X = np.zeros((m, N_MODELS, DIM))
    X[:, :, 0:3] = pos[:, None, :]
    P = np.zeros((m, N_MODELS, DIM, DIM))
    P[:, :, 0:3, 0:3] = pos_cov[:, None]
    idx = np.arange(3, 6)
    P[:, :, idx, idx] = sigma_v**2
    ia = np.arange(6, 9)
    P[:, BOOST, ia, ia] = sigma_a**2
    P[:, BALLISTIC, ia, ia] = 1e-6
    mu = np.empty((m, N_MODELS))
    mu[:, BOOST] = mu0_boost
    mu[:, BALLISTIC] = 1.0 - mu0_boost
    return X, P, mu


def plausible(alt_m: np.ndarray, min_alt_m: float, max_alt_m: float) -> np.ndarray:
    """Detections whose altitude is plausible for a missile in flight."""
    return (alt_m >= min_alt_m) & (alt_m <= max_alt_m)
