"""Is a new impact prediction the same missile as an earlier one? (identity on the ballistic arc)

A ballistic missile's impact point and time cannot jump: after burnout the arc is fixed, and a
track's successive predictions of it differ only by their (shrinking) uncertainty. A prediction
that departs from a track's own earlier one by more than their covariances allow is therefore
not a refinement of the same arc: the track has been associated with another object (a crossing
missile, a partner's track of another missile, clutter), or its identity was reused. The tracker
marks such a track *suspect* (:class:`accord.warning.tracking.Tracker`) and the alert engine
never lets such a prediction clear or narrow a warning (:mod:`accord.warning.alerts.engine`).

The test, for a reference prediction ``r`` and a new one ``n`` (impact points ``x_r``, ``x_n``,
2×2 East-North covariances ``P_r``, ``P_n`` at the impact point, impact times ``T_r``, ``T_n``):

    d = x_n − x_r  (metres, local East-North plane at x_r),
    S = P_r + P_n + σ_f² I,                d² = dᵀ S⁻¹ d ≤ γ,
    |T_n − T_r| ≤ τ_f + √γ · σ_T,          σ_T = √(λ_max(P_r) + λ_max(P_n)) / v̄,

with ``γ`` the χ²₂ quantile at 1 − 10⁻⁶ (27.6: a true refinement fails it once in a million),
``σ_f`` = 500 m for model error, ``τ_f`` = 15 s, and ``v̄`` the arc's mean ground speed (launch to
impact, at least 500 m/s), which turns the along-track uncertainty into a time uncertainty. Over
the sample and simulated scenarios a track's successive predictions stay below d² ≈ 5 (see
docs/alerts.md); the exercise failure this guards against was a jump of 390 km and 160 s against
ellipses of 0.2 km.

Comparing two predictions is symmetric, so the same test associates two tracks (a re-acquired
missile's new track, or a partner's track) with one arc.
"""

from __future__ import annotations

import math

import numpy as np

from accord.warning.types import Prediction

CHI2_2_95 = -2.0 * math.log(0.05)          # 5.991: the 95 % ellipse's χ²₂ quantile
IDENTITY_GATE = -2.0 * math.log(1e-6)      # 27.63: χ²₂ quantile at 1 − 10⁻⁶ (χ²₂ is exponential)
FLOOR_SIGMA_M = 500.0
TIME_FLOOR_S = 15.0
MIN_GROUND_SPEED_MPS = 500.0
_M_PER_DEG = 111_194.9  # spherical Earth (radius 6 371 km): metres per degree of arc


def impact_cov_en(p: Prediction) -> np.ndarray:
    """The 2×2 East-North impact covariance (m²): ``impact_cov_en_m2``, or else the one the 95 %
    ellipse describes (semi-axes ``√(χ²₂(0.95) λᵢ)``)."""
    if p.impact_cov_en_m2 is not None and all(math.isfinite(c) for c in p.impact_cov_en_m2):
        P = np.array(p.impact_cov_en_m2, dtype=float).reshape(2, 2)
        return 0.5 * (P + P.T)
    e = p.impact_ellipse_95
    a2, b2 = e.semi_major_m ** 2 / CHI2_2_95, e.semi_minor_m ** 2 / CHI2_2_95
    brg = math.radians(e.bearing_deg)
    u = np.array([math.sin(brg), math.cos(brg)])   # major axis (east, north)
    v = np.array([u[1], -u[0]])
    return a2 * np.outer(u, u) + b2 * np.outer(v, v)


def impact_offset_en(ref: Prediction, new: Prediction) -> np.ndarray:
    """``new``'s impact point relative to ``ref``'s, (east, north) metres (local tangent plane,
    good to a fraction of a per cent over the hundreds of kilometres that matter here)."""
    dlon = (new.impact_lon_deg - ref.impact_lon_deg + 180.0) % 360.0 - 180.0
    lat_m = math.radians(0.5 * (new.impact_lat_deg + ref.impact_lat_deg))
    return np.array([dlon * math.cos(lat_m), new.impact_lat_deg - ref.impact_lat_deg]) * _M_PER_DEG


def _ground_speed(p: Prediction) -> float:
    flight = p.impact_t - p.launch_t
    lat1, lon1, lat2, lon2 = map(math.radians, (p.launch_lat_deg, p.launch_lon_deg,
                                                p.impact_lat_deg, p.impact_lon_deg))
    c = (math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(lon2 - lon1))
    dist = math.degrees(math.acos(max(-1.0, min(1.0, c)))) * _M_PER_DEG
    if not (math.isfinite(flight) and flight > 0 and math.isfinite(dist)):
        return MIN_GROUND_SPEED_MPS
    return max(MIN_GROUND_SPEED_MPS, dist / flight)


def arc_distance(ref: Prediction, new: Prediction) -> tuple[float, float, float]:
    """``(d², |ΔT|, allowed |ΔT|)`` of the test in the module docstring."""
    Pr, Pn = impact_cov_en(ref), impact_cov_en(new)
    d = impact_offset_en(ref, new)
    S = Pr + Pn + FLOOR_SIGMA_M ** 2 * np.eye(2)
    d2 = float(d @ np.linalg.solve(S, d))
    lam = float(np.linalg.eigvalsh(Pr)[-1] + np.linalg.eigvalsh(Pn)[-1])
    sigma_t = math.sqrt(max(lam, 0.0)) / min(_ground_speed(ref), _ground_speed(new))
    allowed = TIME_FLOOR_S + math.sqrt(IDENTITY_GATE) * sigma_t
    return d2, abs(new.impact_t - ref.impact_t), allowed


def same_arc(ref: Prediction, new: Prediction, *, gate: float = IDENTITY_GATE) -> bool:
    """True when ``new`` predicts the same impact (point and time) as ``ref`` within their
    uncertainty: the two can be one missile. False is an identity error (module docstring)."""
    d2, dt, allowed = arc_distance(ref, new)
    return math.isfinite(d2) and d2 <= gate and dt <= allowed
