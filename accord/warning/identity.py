"""Is a new impact prediction the same missile as an earlier one? (identity on the ballistic arc)

A ballistic missile's impact point and time cannot jump: after burnout the arc is fixed, and a
track's successive predictions of it differ only by their (shrinking) uncertainty. A prediction
that departs from a track's own earlier one by more than their covariances allow is therefore
not a refinement of the same arc: the track has been associated with another object (a crossing
missile, a partner's track of another missile, clutter), or its identity was reused. The tracker
marks such a track *suspect* (:class:`accord.warning.tracking.Tracker`) and the alert engine
never lets such a prediction clear or narrow a warning (:mod:`accord.warning.alerts.engine`).

The test, for a reference prediction ``r`` and a new one ``n`` (impact points ``x_r``, ``x_n``,
2×2 East-North covariances ``P_r``, ``P_n`` at the impact point, impact times ``T_r``, ``T_n`` with
1-σ uncertainties ``σ_r``, ``σ_n``):

    d = x_n − x_r  (metres, local East-North plane at the mean point),
    d² = dᵀ (P_r + P_n + σ_f² I)⁻¹ d  +  (T_n − T_r)² / (σ_r² + σ_n² + τ_f²)  ≤  γ,

with ``γ`` the χ²₃ quantile at 1 − 10⁻⁶ (30.7: a true refinement fails it once in a million),
``σ_f`` = 500 m and ``τ_f`` = 1 s for model error. The impact-time σ is the unscented transform's
(``Prediction.impact_t_sigma_s``); a prediction without it gets ``√λ_max(P) / v̄``, its along-track
uncertainty over the arc's mean ground speed (launch to impact, at least 500 m/s), with
``τ_f`` = 5 s. Over the sample and simulated scenarios a track's successive predictions stay
below d² ≈ 5 (see docs/alerts.md); the exercise failure this guards against was a jump of 390 km
and 160 s against ellipses of 0.2 km. Two missiles aimed at one point seconds apart are told apart
by their impact times once those are known to a few seconds.

Comparing two predictions is symmetric, so the same test associates two tracks (a re-acquired
missile's new track, or a partner's track) with one arc.
"""

from __future__ import annotations

import math
from typing import TypeGuard

import numpy as np

from accord.warning.types import Prediction

CHI2_2_95 = -2.0 * math.log(0.05)          # 5.991: the 95 % ellipse's χ²₂ quantile
IDENTITY_GATE = 30.664849706               # χ²₃ quantile at 1 − 10⁻⁶
FLOOR_SIGMA_M = 500.0
FLOOR_SIGMA_T_S = 1.0
FLOOR_SIGMA_T_NO_UT_S = 5.0
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


def _finite(c: tuple[float, ...] | None) -> TypeGuard[tuple[float, ...]]:
    """``c`` given and all finite (a plain loop: this runs for every pair of predictions compared)."""
    if c is None:
        return False
    if len(c) == 4:
        isf = math.isfinite
        return isf(c[0]) and isf(c[1]) and isf(c[2]) and isf(c[3])
    for v in c:
        if not math.isfinite(v):
            return False
    return True


def _cov_en_abd(p: Prediction) -> tuple[float, float, float]:
    """:func:`impact_cov_en` as ``(P_ee, P_en, P_nn)`` floats (what :func:`arc_distance` reads)."""
    c = p.impact_cov_en_m2
    if _finite(c):
        return c[0], 0.5 * (c[1] + c[2]), c[3]
    P = impact_cov_en(p)
    return float(P[0, 0]), float(P[0, 1]), float(P[1, 1])


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


def _sigma_t(p: Prediction, P: tuple[float, float, float]) -> float:
    if p.impact_t_sigma_s is not None and math.isfinite(p.impact_t_sigma_s):
        return p.impact_t_sigma_s
    a, b, d = P
    lam = 0.5 * (a + d) + math.hypot(0.5 * (a - d), b)      # the larger eigenvalue
    return math.sqrt(max(lam, 0.0)) / _ground_speed(p)


def arc_distance(ref: Prediction, new: Prediction) -> float:
    """The squared distance ``d²`` of the test in the module docstring (in closed form: it is
    taken for every prediction of every track)."""
    Pr, Pn = _cov_en_abd(ref), _cov_en_abd(new)
    dlon = (new.impact_lon_deg - ref.impact_lon_deg + 180.0) % 360.0 - 180.0
    lat_m = math.radians(0.5 * (new.impact_lat_deg + ref.impact_lat_deg))
    e, n = dlon * math.cos(lat_m) * _M_PER_DEG, (new.impact_lat_deg - ref.impact_lat_deg) * _M_PER_DEG
    a = Pr[0] + Pn[0] + FLOOR_SIGMA_M ** 2
    b = Pr[1] + Pn[1]
    c = Pr[2] + Pn[2] + FLOOR_SIGMA_M ** 2
    det = a * c - b * b
    d2 = (c * e * e - 2.0 * b * e * n + a * n * n) / det if det > 0.0 else math.inf
    floor_t = FLOOR_SIGMA_T_S if ref.impact_t_sigma_s is not None and new.impact_t_sigma_s is not None \
        else FLOOR_SIGMA_T_NO_UT_S
    var_t = _sigma_t(ref, Pr) ** 2 + _sigma_t(new, Pn) ** 2 + floor_t ** 2
    return d2 + (new.impact_t - ref.impact_t) ** 2 / var_t


def _cov_bound(p: Prediction) -> float:
    """An upper bound of the largest eigenvalue of :func:`impact_cov_en` (m²), or NaN when this
    cheap test cannot give one (a covariance that is not positive semi-definite, bad fields)."""
    c = p.impact_cov_en_m2
    if _finite(c):
        off = 0.5 * (c[1] + c[2])
        # positive semi-definite 2×2: its largest eigenvalue is at most its trace
        return c[0] + c[3] if c[0] >= 0.0 and c[3] >= 0.0 and c[0] * c[3] >= off * off else math.nan
    e = p.impact_ellipse_95
    if e is None:
        return math.nan
    return max(e.semi_major_m, e.semi_minor_m) ** 2 / CHI2_2_95


def _surely_apart(ref: Prediction, new: Prediction, gate: float) -> bool:
    """True only when :func:`arc_distance` certainly exceeds ``gate``: a cheap exact pre-check
    of :func:`same_arc` (most pairs an alert engine compares are different missiles, hundreds of
    kilometres apart against ellipses of kilometres). ``d²`` is at least its position term, and
    that is at least ``|d|² / λ_max(S)``, with ``λ_max(S) ≤ λ_max(P_r) + λ_max(P_n) + σ_f²``;
    the 1 % margin covers the rounding of the two computations."""
    lam = _cov_bound(ref) + _cov_bound(new) + FLOOR_SIGMA_M ** 2
    if not (math.isfinite(lam) and lam > 0.0):
        return False
    dlon = (new.impact_lon_deg - ref.impact_lon_deg + 180.0) % 360.0 - 180.0
    lat_m = math.radians(0.5 * (new.impact_lat_deg + ref.impact_lat_deg))
    de, dn = dlon * math.cos(lat_m) * _M_PER_DEG, (new.impact_lat_deg - ref.impact_lat_deg) * _M_PER_DEG
    dd = de * de + dn * dn
    return math.isfinite(dd) and dd > 1.01 * gate * lam


def same_arc(ref: Prediction, new: Prediction, *, gate: float = IDENTITY_GATE) -> bool:
    """True when ``new`` predicts the same impact (point and time) as ``ref`` within their
    uncertainty: the two can be one missile. False is an identity error (module docstring)."""
    if _surely_apart(ref, new, gate):
        return False
    d2 = arc_distance(ref, new)
    return math.isfinite(d2) and d2 <= gate


#: Two live tracks whose missiles are farther apart than this (plus 30 % of the ground covered
#: between their predictions' times) are two missiles, whatever their arcs say.
SAME_PLACE_M = 15_000.0


def _ground_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lon) points on the spherical Earth, metres."""
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2.0 * math.degrees(math.asin(min(1.0, math.sqrt(h)))) * _M_PER_DEG


def same_place(ref: Prediction, new: Prediction) -> bool:
    """Are the two predictions' missiles where one missile would be? Each prediction's ground
    track starts at the missile's sub-point when it was made (radar-precise); ``ref``'s is moved
    on along its ground track to ``new``'s time at its mean ground speed (remaining length over
    remaining time). Meant for predictions made seconds apart: the test that tells two missiles
    on one arc (a salvo at one point, seconds apart) from one missile seen by two trackers."""
    if len(ref.ground_track) < 2 or not new.ground_track:
        return True  # nothing to compare: the arc test alone decides
    seg = [_ground_m(a, b) for a, b in zip(ref.ground_track, ref.ground_track[1:])]
    total, left = sum(seg), ref.impact_t - ref.t
    dt = new.t - ref.t
    s = total * min(max(dt / left, 0.0), 1.0) if left > 0 else total
    k, pos = 0, ref.ground_track[0]
    while k < len(seg) and s > seg[k]:
        s -= seg[k]
        k += 1
    if k < len(seg):
        f = s / seg[k] if seg[k] > 0 else 0.0
        a, b = ref.ground_track[k], ref.ground_track[k + 1]
        pos = (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))
    else:
        pos = ref.ground_track[-1]
    speed = total / left if left > 0 else 0.0
    return _ground_m(pos, new.ground_track[0]) <= SAME_PLACE_M + 0.3 * speed * abs(dt)
