"""Launch and impact prediction for ballistic tracks: closed-form Kepler arcs and the unscented transform.

On Accord's non-rotating spherical Earth a missile after burnout flies a Keplerian ellipse
exactly (inverse-square gravity, no drag in the formats' model), so the launch and impact points
are where that conic meets the sphere ``|r| = R`` — no numerical integration is needed.

For a state ``(r, v)`` (Vallado, *Fundamentals of Astrodynamics*, 4th ed., §2.4–2.5):

    h = r × v,  p = |h|²/μ,  e = (v × h)/μ − r/|r|,  ε = |v|²/2 − μ/|r|,  a = −μ/(2ε),
    e cos θ₀ = p/|r| − 1,   e sin θ₀ = |h| (r·v) / (μ |r|)            (current true anomaly),
    cos θ_g = (p/R − 1)/e,   θ_launch = θ_g,   θ_impact = 2π − θ_g    (ascending / descending),
    r(θ) = p/(1 + e cos θ) (P̂ cos θ + Q̂ sin θ),   P̂ = e/|e|,  Q̂ = ĥ × P̂,
    E = 2 atan2(√(1−e) sin(θ/2), √(1+e) cos(θ/2)),  M = E − e sin E,  t(θ) − t(θ₀) = (M − M₀)/n,
    n = √(μ/a³).

The *launch* is the ballistic arc continued backwards to the ground: the boost phase bends the
real trajectory, so this is the "equivalent ballistic launch point"; ``launch_sigma_m`` adds
that model error (:data:`LAUNCH_MODEL_SIGMA_M`) to the propagated uncertainty.

Uncertainty: the 6×6 state covariance is carried through that (nonlinear) map by the unscented
transform (Julier & Uhlmann 1997) with 2n + 1 = 13 sigma points, ``κ = 1``. The impact points of
the sigma points give the 2×2 covariance in the local East-North plane at the mean impact point;
the 95 % ellipse has semi-axes ``√(5.991 λ)`` (χ²₂ 95 % quantile, :data:`CHI2_2DOF_95`) along the
eigenvectors, and its bearing is the major axis' direction clockwise from north.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from accord.warning.frames import EARTH_RADIUS_M, MU, ecef_to_lla, enu_basis
from accord.warning.types import Ellipse95, Prediction

CHI2_2DOF_95 = 5.991464547107979
#: 1-σ error of the equivalent-ballistic launch point against the true pad, from the boost
#: phase's curvature (measured on the sample scenarios; see docs/tracking.md).
LAUNCH_MODEL_SIGMA_M = 20_000.0
TWO_PI = 2.0 * np.pi


def _anomaly_to_mean(theta: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Mean anomaly of true anomaly ``θ ∈ [0, 2π)`` (continuous and increasing on that range)."""
    half = 0.5 * theta
    E = 2.0 * np.arctan2(np.sqrt(1.0 - e) * np.sin(half), np.sqrt(1.0 + e) * np.cos(half))
    return E - e * np.sin(E)


def kepler_ground_arc(r: np.ndarray, v: np.ndarray, *, mu: float = MU,
                      radius: float = EARTH_RADIUS_M) -> dict[str, np.ndarray]:
    """Where and when the Kepler arc of ``(r, v)`` (…, 3) meets the sphere, both ways.

    Returns arrays over the leading axes: ``impact`` and ``launch`` (…, 3) ECEF points,
    ``dt_impact`` (> 0) and ``dt_launch`` (< 0) seconds from now, ``valid`` (the arc is a bound
    ellipse that meets the ground on both branches and the state is above ground) and the orbit
    elements ``p, e, P, Q, theta0`` for :func:`arc_points`.
    """
    rn = np.linalg.norm(r, axis=-1)
    h = np.cross(r, v)
    hn = np.linalg.norm(h, axis=-1)
    v2 = np.einsum("...i,...i->...", v, v)
    rv = np.einsum("...i,...i->...", r, v)
    eps = 0.5 * v2 - mu / rn
    p = hn * hn / mu
    evec = np.cross(v, h) / mu - r / rn[..., None]
    e = np.linalg.norm(evec, axis=-1)
    theta0 = np.mod(np.arctan2(hn * rv / (mu * rn), p / rn - 1.0), TWO_PI)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (p / radius - 1.0) / e
        a = -mu / (2.0 * eps)
        n = np.sqrt(mu / np.abs(a) ** 3)
        P = evec / e[..., None]
    valid = (eps < 0) & (np.abs(c) <= 1.0) & (e > 1e-9) & (e < 1.0) & (rn >= radius - 1.0)
    c = np.clip(np.nan_to_num(c), -1.0, 1.0)
    e_safe = np.where(valid, e, 0.5)
    P = np.where(valid[..., None], np.nan_to_num(P), np.array([1.0, 0.0, 0.0]))
    hu = h / np.maximum(hn, 1e-12)[..., None]
    Q = np.cross(hu, P)
    th_l = np.arccos(c)
    th_i = TWO_PI - th_l
    M0 = _anomaly_to_mean(theta0, e_safe)
    n = np.where(valid, n, 1.0)
    dt_i = (_anomaly_to_mean(th_i, e_safe) - M0) / n
    dt_l = (_anomaly_to_mean(th_l, e_safe) - M0) / n
    impact = radius * (np.cos(th_i)[..., None] * P + np.sin(th_i)[..., None] * Q)
    launch = radius * (np.cos(th_l)[..., None] * P + np.sin(th_l)[..., None] * Q)
    return {"impact": impact, "launch": launch, "dt_impact": dt_i, "dt_launch": dt_l,
            "valid": valid & (dt_i > 0) & (dt_l <= 0), "p": p, "e": e_safe, "P": P, "Q": Q,
            "theta0": theta0, "theta_impact": th_i}


def arc_points(arc: dict[str, np.ndarray], k: int, n_points: int) -> np.ndarray:
    """``n_points`` ECEF points (n, 3) along arc ``k`` from now to impact, equally spaced in θ."""
    th = np.linspace(arc["theta0"][k], arc["theta_impact"][k], n_points)
    rr = arc["p"][k] / (1.0 + arc["e"][k] * np.cos(th))
    return rr[:, None] * (np.cos(th)[:, None] * arc["P"][k] + np.sin(th)[:, None] * arc["Q"][k])


def sigma_points(x: np.ndarray, P: np.ndarray, kappa: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric sigma points ``(K, 2n+1, n)`` and weights ``(2n+1,)`` of ``N(x, P)``."""
    n = x.shape[-1]
    Pj = 0.5 * (P + np.swapaxes(P, -1, -2)) + 1e-9 * np.eye(n)
    L = np.linalg.cholesky((n + kappa) * Pj)                   # columns are the offsets
    off = np.swapaxes(L, -1, -2)                               # (K, n, n): rows are offsets
    chi = np.concatenate([x[:, None, :], x[:, None, :] + off, x[:, None, :] - off], axis=1)
    w = np.full(2 * n + 1, 0.5 / (n + kappa))
    w[0] = kappa / (n + kappa)
    return chi, w


def _ground_stats(pts: np.ndarray, w: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean lat/lon (K,), (K,) and East-North covariance (K, 2, 2) of weighted ground points."""
    mean = np.einsum("s,ksi->ki", w, pts)
    mean *= radius / np.linalg.norm(mean, axis=-1, keepdims=True)
    lat, lon, _ = ecef_to_lla(mean, radius)
    B = enu_basis(lat, lon)[:, 0:2, :]                          # (K, 2, 3) East, North rows
    en = np.einsum("kij,ksj->ksi", B, pts - mean[:, None, :])   # (K, S, 2)
    cov = np.einsum("s,ksi,ksj->kij", w, en, en)
    return lat, lon, cov, mean


def ellipse_95(cov_en: np.ndarray) -> Ellipse95:
    """The 95 % ellipse of a 2×2 East-North covariance (semi-axes in m, major-axis bearing)."""
    vals, vecs = np.linalg.eigh(cov_en)
    vals = np.clip(vals, 0.0, None)
    major = vecs[:, 1]
    bearing = float(np.degrees(np.arctan2(major[0], major[1])) % 180.0)
    return Ellipse95(semi_major_m=float(np.sqrt(CHI2_2DOF_95 * vals[1])),
                     semi_minor_m=float(np.sqrt(CHI2_2DOF_95 * vals[0])), bearing_deg=bearing)


def predict_launch_impact(t: float, track_ids: Sequence[str], x: np.ndarray, P: np.ndarray, *,
                          mu: float = MU, radius: float = EARTH_RADIUS_M,
                          ground_track_points: int = 24,
                          launch_model_sigma_m: float = LAUNCH_MODEL_SIGMA_M) -> list[Prediction]:
    """Predictions for ballistic states ``x (K, 6)`` with covariances ``P (K, 6, 6)`` at ``t``.

    A track whose arc (or any of its sigma points' arcs) does not meet the ground on both
    branches (still boosting into orbit-like states, or a diverged estimate) gets no prediction.
    """
    x = np.asarray(x, dtype=float).reshape(-1, 6)
    P = np.asarray(P, dtype=float).reshape(-1, 6, 6)
    if x.shape[0] == 0:
        return []
    chi, w = sigma_points(x, P)
    K, S = chi.shape[:2]
    arc = kepler_ground_arc(chi[..., 0:3], chi[..., 3:6], mu=mu, radius=radius)
    ok = arc["valid"].all(axis=1)
    i_lat, i_lon, i_cov, _ = _ground_stats(arc["impact"], w, radius)
    l_lat, l_lon, l_cov, _ = _ground_stats(arc["launch"], w, radius)
    t_imp = t + arc["dt_impact"] @ w
    t_lau = t + arc["dt_launch"] @ w
    nominal = kepler_ground_arc(x[:, 0:3], x[:, 3:6], mu=mu, radius=radius)
    ok &= nominal["valid"]
    out = []
    for k in np.flatnonzero(ok):
        gt = arc_points(nominal, int(k), ground_track_points)
        glat, glon, _ = ecef_to_lla(gt, radius)
        cov = i_cov[k]
        out.append(Prediction(
            t=float(t), track_id=str(track_ids[k]),
            launch_t=float(t_lau[k]), launch_lat_deg=float(l_lat[k]), launch_lon_deg=float(l_lon[k]),
            launch_sigma_m=float(np.sqrt(np.trace(l_cov[k]) + launch_model_sigma_m**2)),
            impact_t=float(t_imp[k]), impact_lat_deg=float(i_lat[k]), impact_lon_deg=float(i_lon[k]),
            impact_ellipse_95=ellipse_95(cov),
            impact_cov_en_m2=(float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 0]), float(cov[1, 1])),
            ground_track=tuple(zip(np.round(glat, 5).tolist(), np.round(glon, 5).tolist())),
        ))
    return out
