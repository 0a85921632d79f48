"""Track initiation: two-point initiation from candidate detections, then M-of-N confirmation.

Clutter is uniform over each radar's whole coverage volume, so almost every unassigned detection
is clutter. Rather than opening a filter on each, an unassigned detection whose altitude is
plausible for a missile (``init_min_alt_m … init_max_alt_m``) becomes a *candidate*: just its
ECEF position, covariance ``J R Jᵀ`` (``J = ∂p/∂(ρ, az, el)``) and time. A later detection (any
radar, at least ``min_dt`` later and at most ``window_s``) that lies within the *velocity gate*

    |p₂ − p₁| ≤ v_max Δt + n_σ √(tr C₁ + tr C₂)

of a candidate forms a pair (one-to-one, by optimal assignment on the normalised distance); a
pair opens a tentative track (two-point initiation, Blackman & Popoli 1999, §3.2). Its state is
built the Kalman way rather than by differencing: the prior at the second time is the first point
moved by gravity, with a wide velocity prior ``σ_v`` per axis,

    p = p₁ + ½ g Δt²,  v = g Δt,  P_pp = C₁ + σ_v² Δt² I,  P_pv = σ_v² Δt I,  P_vv = σ_v² I,

and the second detection updates it through the ordinary EKF (so the range accuracy of the
radars fixes the velocity along the line of sight at once, and the angles the rest).

Confirmation is M-of-N (Bar-Shalom, Willett & Tian 2011, §3.5): each track keeps the bit history
of its last detection opportunities (a scan of a radar whose coverage holds the predicted
position, or any scan that updated the track); a tentative track is confirmed once ``M`` of the
last ``N`` bits are hits.
"""

from __future__ import annotations

import numpy as np

from accord.warning.tracking.models import BALLISTIC, BOOST, DIM, N_MODELS, gravity_terms

_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def popcount(bits: np.ndarray, n: int) -> np.ndarray:
    """Number of set bits among the ``n`` (≤ 16) lowest bits of ``bits``."""
    b = bits & ((1 << n) - 1)
    return _POP8[b & 0xFF] + _POP8[(b >> 8) & 0xFF]


def plausible(alt_m: np.ndarray, min_alt_m: float, max_alt_m: float) -> np.ndarray:
    """Detections whose altitude is plausible for a missile in flight."""
    return (alt_m >= min_alt_m) & (alt_m <= max_alt_m)


def two_point_prior(p1: np.ndarray, C1: np.ndarray, dt: np.ndarray, sigma_v: float, sigma_a: float,
                    mu0_boost: float, mu: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IMM prior ``(X (k, 2, 9), P (k, 2, 9, 9), μ (k, 2))`` at the second point's time."""
    k = p1.shape[0]
    g, _ = gravity_terms(p1, np.zeros_like(p1), mu)
    d = dt[:, None]
    X = np.zeros((k, N_MODELS, DIM))
    X[:, :, 0:3] = (p1 + 0.5 * g * d * d)[:, None]
    X[:, :, 3:6] = (g * d)[:, None]
    P = np.zeros((k, N_MODELS, DIM, DIM))
    i3 = np.arange(3)
    sv2 = sigma_v**2
    P[:, :, 0:3, 0:3] = C1[:, None]
    P[:, :, i3, i3] += (sv2 * dt * dt)[:, None, None]
    P[:, :, i3, i3 + 3] = (sv2 * dt)[:, None, None]
    P[:, :, i3 + 3, i3] = (sv2 * dt)[:, None, None]
    P[:, :, i3 + 3, i3 + 3] = sv2
    P[:, BOOST, i3 + 6, i3 + 6] = sigma_a**2
    P[:, BALLISTIC, i3 + 6, i3 + 6] = 1e-6
    mu0 = np.empty((k, N_MODELS))
    mu0[:, BOOST] = mu0_boost
    mu0[:, BALLISTIC] = 1.0 - mu0_boost
    return X, P, mu0
