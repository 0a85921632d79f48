"""Launch and impact prediction for ballistic tracks: closed-form Kepler arcs and the unscented transform.

Kept as one module: the launch and impact estimators share the Kepler arc and the
unscented transform they are built on.

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
that model error (:data:`LAUNCH_MODEL_SIGMA_M`) to the propagated uncertainty. When the track
saw the boost, :func:`launch_from_boost_states` fits a rise from rest to its boost-phase states
instead (closer; :func:`launch_from_boost` back-extrapolates one early state when too few).

Uncertainty: the 6×6 state covariance is carried through that (nonlinear) map by the unscented
transform (Julier & Uhlmann 1997) with 2n + 1 = 13 sigma points, ``κ = 1``. The impact points of
the sigma points give the 2×2 covariance in the local East-North plane at the mean impact point;
the 95 % ellipse has semi-axes ``√(5.991 λ)`` (χ²₂ 95 % quantile, :data:`CHI2_2DOF_95`) along the
eigenvectors, and its bearing is the major axis' direction clockwise from north.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import math

import numpy as np

from accord.warning.frames import EARTH_RADIUS_M, MU, ecef_to_lla
from accord.warning.kernel_cache import njit
from accord.warning.types import Ellipse95, Prediction

CHI2_2DOF_95 = 5.991464547107979
#: 1-σ error of the equivalent-ballistic launch point against the true pad, from the boost
#: phase's curvature: medians of 4 km on the sample scenarios and 40–50 km on random simulated
#: salvos (longer burns), see docs/tracking.md.
LAUNCH_MODEL_SIGMA_M = 40_000.0
TWO_PI = 2.0 * np.pi


@njit(cache=True)
def _mean_anomaly(theta, e):
    """Mean anomaly of true anomaly ``θ ∈ [0, 2π)`` (continuous and increasing on that range)."""
    half = 0.5 * theta
    E = 2.0 * math.atan2(math.sqrt(1.0 - e) * math.sin(half), math.sqrt(1.0 + e) * math.cos(half))
    return E - e * math.sin(E)


@njit(cache=True, nogil=True)
def _ground_arc_kernel(r, v, mu, radius, n_track):
    """The formulas of the module docstring for each row of ``r, v (K, 3)``."""
    K = r.shape[0]
    impact = np.zeros((K, 3))
    launch = np.zeros((K, 3))
    dt_i = np.zeros(K)
    dt_l = np.zeros(K)
    valid = np.zeros(K, dtype=np.bool_)
    track = np.zeros((K, n_track, 3))
    for k in range(K):
        rx, ry, rz = r[k, 0], r[k, 1], r[k, 2]
        vx, vy, vz = v[k, 0], v[k, 1], v[k, 2]
        rn = math.sqrt(rx * rx + ry * ry + rz * rz)
        hx, hy, hz = ry * vz - rz * vy, rz * vx - rx * vz, rx * vy - ry * vx
        hn = math.sqrt(hx * hx + hy * hy + hz * hz)
        v2 = vx * vx + vy * vy + vz * vz
        rv = rx * vx + ry * vy + rz * vz
        eps = 0.5 * v2 - mu / rn
        if eps >= 0.0 or hn <= 0.0 or rn < radius - 1.0:
            continue
        p = hn * hn / mu
        ex = (vy * hz - vz * hy) / mu - rx / rn
        ey = (vz * hx - vx * hz) / mu - ry / rn
        ez = (vx * hy - vy * hx) / mu - rz / rn
        e = math.sqrt(ex * ex + ey * ey + ez * ez)
        if e <= 1e-9 or e >= 1.0:
            continue
        c = (p / radius - 1.0) / e
        if abs(c) > 1.0:
            continue
        theta0 = math.atan2(hn * rv / (mu * rn), p / rn - 1.0) % TWO_PI
        Px, Py, Pz = ex / e, ey / e, ez / e
        ux, uy, uz = hx / hn, hy / hn, hz / hn
        Qx, Qy, Qz = uy * Pz - uz * Py, uz * Px - ux * Pz, ux * Py - uy * Px
        th_l = math.acos(c)
        th_i = TWO_PI - th_l
        a = -mu / (2.0 * eps)
        n = math.sqrt(mu / (a * a * a))
        M0 = _mean_anomaly(theta0, e)
        dt_i[k] = (_mean_anomaly(th_i, e) - M0) / n
        dt_l[k] = (_mean_anomaly(th_l, e) - M0) / n
        ci, si, cl, sl = math.cos(th_i), math.sin(th_i), math.cos(th_l), math.sin(th_l)
        impact[k, 0] = radius * (ci * Px + si * Qx)
        impact[k, 1] = radius * (ci * Py + si * Qy)
        impact[k, 2] = radius * (ci * Pz + si * Qz)
        launch[k, 0] = radius * (cl * Px + sl * Qx)
        launch[k, 1] = radius * (cl * Py + sl * Qy)
        launch[k, 2] = radius * (cl * Pz + sl * Qz)
        valid[k] = dt_i[k] > 0.0 and dt_l[k] <= 0.0
        for q in range(n_track):
            th = theta0 + (th_i - theta0) * q / max(n_track - 1, 1)
            rr = p / (1.0 + e * math.cos(th))
            ct, st = math.cos(th), math.sin(th)
            track[k, q, 0] = rr * (ct * Px + st * Qx)
            track[k, q, 1] = rr * (ct * Py + st * Qy)
            track[k, q, 2] = rr * (ct * Pz + st * Qz)
    return impact, launch, dt_i, dt_l, valid, track


def kepler_ground_arc(r: np.ndarray, v: np.ndarray, *, mu: float = MU, radius: float = EARTH_RADIUS_M,
                      track_points: int = 0) -> dict[str, np.ndarray]:
    """Where and when the Kepler arc of ``(r, v)`` (…, 3) meets the sphere, both ways.

    Returns arrays over the leading axes: ``impact`` and ``launch`` (…, 3) ECEF points,
    ``dt_impact`` (> 0) and ``dt_launch`` (≤ 0) seconds from now, ``valid`` (a bound arc that
    meets the ground on both branches, from a state above ground) and, when ``track_points`` > 0,
    ``track`` (…, track_points, 3): points of the arc from now to impact, equally spaced in θ.
    """
    r = np.asarray(r, dtype=float)
    lead = r.shape[:-1]
    out = _ground_arc_kernel(np.ascontiguousarray(r.reshape(-1, 3)),
                             np.ascontiguousarray(np.asarray(v, dtype=float).reshape(-1, 3)),
                             float(mu), float(radius), int(track_points))
    names = ("impact", "launch", "dt_impact", "dt_launch", "valid", "track")
    shapes = (lead + (3,), lead + (3,), lead, lead, lead, lead + (int(track_points), 3))
    return {k: a.reshape(sh) for k, a, sh in zip(names, out, shapes)}


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


@njit(cache=True)
def _ground_stats(pts, w, radius):
    """Weighted mean point on the sphere (lat°, lon°) and East-North covariance (K, 2, 2) of
    ground points ``pts (K, S, 3)`` with sigma-point weights ``w (S,)``."""
    K, S = pts.shape[0], pts.shape[1]
    lat = np.empty(K)
    lon = np.empty(K)
    cov = np.zeros((K, 2, 2))
    for k in range(K):
        mx = my = mz = 0.0
        for q in range(S):
            mx += w[q] * pts[k, q, 0]
            my += w[q] * pts[k, q, 1]
            mz += w[q] * pts[k, q, 2]
        nrm = math.sqrt(mx * mx + my * my + mz * mz)
        mx, my, mz = mx * radius / nrm, my * radius / nrm, mz * radius / nrm
        la = math.asin(max(-1.0, min(1.0, mz / radius)))
        lo = math.atan2(my, mx)
        lat[k] = math.degrees(la)
        lon[k] = math.degrees(lo)
        sl, cl, so, co = math.sin(la), math.cos(la), math.sin(lo), math.cos(lo)
        for q in range(S):
            dx, dy, dz = pts[k, q, 0] - mx, pts[k, q, 1] - my, pts[k, q, 2] - mz
            e = -so * dx + co * dy
            n = -sl * co * dx - sl * so * dy + cl * dz
            cov[k, 0, 0] += w[q] * e * e
            cov[k, 0, 1] += w[q] * e * n
            cov[k, 1, 1] += w[q] * n * n
        cov[k, 1, 0] = cov[k, 0, 1]
    return lat, lon, cov


def ellipse_95(cov_en: np.ndarray) -> Ellipse95:
    """The 95 % ellipse of a 2×2 East-North covariance ``[[a, b], [b, d]]``.

    Eigenvalues ``λ± = (a + d)/2 ± √(((a − d)/2)² + b²)``; the major axis makes the angle
    ``φ = ½ atan2(2b, a − d)`` with East, so its bearing (clockwise from north) is ``90° − φ``.
    """
    a, b, d = float(cov_en[0, 0]), 0.5 * float(cov_en[0, 1] + cov_en[1, 0]), float(cov_en[1, 1])
    mid, rad = 0.5 * (a + d), math.hypot(0.5 * (a - d), b)
    phi = 0.5 * math.degrees(math.atan2(2.0 * b, a - d))
    return Ellipse95(semi_major_m=math.sqrt(CHI2_2DOF_95 * max(mid + rad, 0.0)),
                     semi_minor_m=math.sqrt(CHI2_2DOF_95 * max(mid - rad, 0.0)),
                     bearing_deg=(90.0 - phi) % 180.0)


@njit(cache=True, nogil=True)
def _ballistic_kernel(x, P, mu, radius, n_track, launch_model_sigma_m, t, lfit):
    """The numbers of :func:`predict_launch_impact` in one pass: sigma points (as
    :func:`sigma_points`), their arcs and the nominal one (:func:`kepler_ground_arc`), the
    impact and launch statistics (:func:`_ground_stats`), the ellipse axes (:func:`ellipse_95`).

    Returns ``sel`` (the tracks whose arcs all meet the ground) and, per selected track, ``cols
    (n, 11)``: launch t, lat°, lon°, σ m (from ``lfit (K, 4)`` where its σ > 0; ``lfit`` may have
    no rows), impact t, lat°, lon°, semi-major, semi-minor, bearing°, σ of impact t, then
    ``fitted (n,)`` (the launch came from ``lfit``), the impact covariance ``cov (n, 2, 2)`` and the nominal
    ground track ``(n, n_track)`` lat°, lon° rounded to 1e-5° (as ``np.round(·, 5)``)."""
    K = x.shape[0]
    nx = 6
    kappa = 1.0
    S = 2 * nx + 1
    w = np.full(S, 0.5 / (nx + kappa))
    w[0] = kappa / (nx + kappa)
    r = np.empty((K * S, 3))
    v = np.empty((K * S, 3))
    Pj = np.empty((nx, nx))
    for k in range(K):
        for i in range(nx):
            for j in range(nx):
                Pj[i, j] = (nx + kappa) * (0.5 * (P[k, i, j] + P[k, j, i]) + (1e-9 if i == j else 0.0))
        L = np.linalg.cholesky(Pj)
        base = k * S
        for a in range(3):
            r[base, a] = x[k, a]
            v[base, a] = x[k, 3 + a]
        for i in range(nx):
            for a in range(3):
                r[base + 1 + i, a] = x[k, a] + L[a, i]
                v[base + 1 + i, a] = x[k, 3 + a] + L[3 + a, i]
                r[base + 1 + nx + i, a] = x[k, a] - L[a, i]
                v[base + 1 + nx + i, a] = x[k, 3 + a] - L[3 + a, i]
    imp, lau, dti, dtl, valid, _ = _ground_arc_kernel(r, v, mu, radius, 0)
    x0 = np.ascontiguousarray(x[:, 0:3])
    v0 = np.ascontiguousarray(x[:, 3:6])
    _, _, _, _, nvalid, track = _ground_arc_kernel(x0, v0, mu, radius, n_track)
    ok = np.zeros(K, dtype=np.bool_)
    for k in range(K):
        good = nvalid[k]
        for q in range(S):
            good = good and valid[k * S + q]
        ok[k] = good
    sel = np.flatnonzero(ok)
    n = len(sel)
    ip = np.empty((n, S, 3))
    lp = np.empty((n, S, 3))
    for q in range(n):
        base = sel[q] * S
        for s in range(S):
            for a in range(3):
                ip[q, s, a] = imp[base + s, a]
                lp[q, s, a] = lau[base + s, a]
    i_lat, i_lon, i_cov = _ground_stats(ip, w, radius)
    l_lat, l_lon, l_cov = _ground_stats(lp, w, radius)
    cols = np.empty((n, 11))
    fitted = np.zeros(n, dtype=np.bool_)
    glat = np.empty((n, n_track))
    glon = np.empty((n, n_track))
    for q in range(n):
        base = sel[q] * S
        mi = ml = 0.0
        for s in range(S):
            mi += w[s] * dti[base + s]
            ml += w[s] * dtl[base + s]
        vi = 0.0
        for s in range(S):
            d = dti[base + s] - mi
            vi += w[s] * d * d
        a, d = i_cov[q, 0, 0], i_cov[q, 1, 1]
        b = 0.5 * (i_cov[q, 0, 1] + i_cov[q, 1, 0])
        mid, rad = 0.5 * (a + d), math.hypot(0.5 * (a - d), b)
        phi = 0.5 * math.degrees(math.atan2(2.0 * b, a - d))
        k = sel[q]
        if lfit.shape[0] > 0 and lfit[k, 3] > 0.0:     # NaN (no fit) compares false
            fitted[q] = True
            for j in range(4):
                cols[q, j] = lfit[k, j]
        else:
            cols[q, 0] = t + ml
            cols[q, 1] = l_lat[q]
            cols[q, 2] = l_lon[q]
            cols[q, 3] = math.sqrt(l_cov[q, 0, 0] + l_cov[q, 1, 1] + launch_model_sigma_m ** 2)
        cols[q, 4] = t + mi
        cols[q, 5] = i_lat[q]
        cols[q, 6] = i_lon[q]
        cols[q, 7] = math.sqrt(CHI2_2DOF_95 * max(mid + rad, 0.0))
        cols[q, 8] = math.sqrt(CHI2_2DOF_95 * max(mid - rad, 0.0))
        cols[q, 9] = (90.0 - phi) % 180.0
        cols[q, 10] = math.sqrt(max(vi, 0.0))
        for j in range(n_track):
            px, py, pz = track[k, j, 0], track[k, j, 1], track[k, j, 2]
            rr = math.sqrt(px * px + py * py + pz * pz)
            glat[q, j] = np.rint(math.degrees(math.asin(max(-1.0, min(1.0, pz / rr)))) * 1e5) / 1e5
            glon[q, j] = np.rint(math.degrees(math.atan2(py, px)) * 1e5) / 1e5
    return sel, cols, fitted, i_cov, glat, glon


_NO_FIT = np.zeros((0, 4))


def predict_launch_impact(t: float, track_ids: Sequence[str], x: np.ndarray, P: np.ndarray, *,
                          mu: float = MU, radius: float = EARTH_RADIUS_M,
                          ground_track_points: int = 24,
                          launch_model_sigma_m: float = LAUNCH_MODEL_SIGMA_M,
                          anchors: np.ndarray | None = None,
                          launch_fit: np.ndarray | None = None) -> list[Prediction]:
    """Predictions for ballistic states ``x (K, 6)`` with covariances ``P (K, 6, 6)`` at ``t``.

    ``launch_fit (K, 4)``: optional launches already estimated from the boost phase
    ``(t, lat°, lon°, σ m)`` (:func:`launch_from_boost_states`); rows with ``σ > 0`` are used as
    they are. Otherwise ``anchors (K, 7)``: optional boost-phase states ``(t, p, v)``; where
    usable the launch comes from them (:func:`launch_from_anchors`, σ
    :data:`LAUNCH_ANCHOR_SIGMA_M`). Otherwise the ballistic arc continued to the ground.

    A track whose arc (or any of its sigma points' arcs) does not meet the ground on both
    branches (still boosting into orbit-like states, or a diverged estimate) gets no prediction.
    """
    x = np.ascontiguousarray(np.asarray(x, dtype=float).reshape(-1, 6))
    P = np.ascontiguousarray(np.asarray(P, dtype=float).reshape(-1, 6, 6))
    if x.shape[0] == 0:
        return []
    t = float(t)
    lf = _NO_FIT if launch_fit is None else np.ascontiguousarray(np.asarray(launch_fit, dtype=float).reshape(-1, 4))
    sel, cols, fitted, i_cov, glat, glon = _ballistic_kernel(x, P, float(mu), float(radius), int(ground_track_points),
                                                             float(launch_model_sigma_m), t, lf)
    if len(sel) == 0:
        return []
    if anchors is not None and not fitted.all():
        rest = np.flatnonzero(~fitted)
        ok_a, a_t, a_lat, a_lon = launch_from_anchors(np.asarray(anchors)[sel[rest]], radius=radius)
        r = rest[ok_a]
        cols[r, 0], cols[r, 1], cols[r, 2], cols[r, 3] = a_t[ok_a], a_lat[ok_a], a_lon[ok_a], LAUNCH_ANCHOR_SIGMA_M
    rows = cols.tolist()
    covs = i_cov.reshape(-1, 4).tolist()
    glat, glon = glat.tolist(), glon.tolist()
    out = []
    for q, k in enumerate(sel.tolist()):
        tl, la, lo, ls, ti, ia, io, ma, mi, be, ts = rows[q]
        out.append(Prediction(
            t=t, track_id=str(track_ids[k]), launch_t=tl, launch_lat_deg=la, launch_lon_deg=lo,
            launch_sigma_m=ls, impact_t=ti, impact_lat_deg=ia, impact_lon_deg=io,
            impact_ellipse_95=Ellipse95(ma, mi, be), impact_cov_en_m2=tuple(covs[q]),
            ground_track=tuple(zip(glat[q], glon[q])), impact_t_sigma_s=ts))
    return out


#: 1-σ error of the launch point estimated from a boost-phase anchor (:func:`launch_from_boost`),
#: measured on simulated salvos (see docs/tracking.md).
LAUNCH_ANCHOR_SIGMA_M = 12_000.0
#: Anchors above this altitude are too far into the pitch programme for a straight-line rise.
LAUNCH_ANCHOR_MAX_ALT_M = 80_000.0


def launch_from_anchors(anchors: np.ndarray, *, radius: float = EARTH_RADIUS_M) -> tuple[np.ndarray, ...]:
    """Launch points from boost-phase anchors ``(t, p, v)`` (K, 7), vectorised.

    A rise from rest under a constant net acceleration ``a`` along a straight line gives
    ``p = p_L + ½ a τ²``, ``v = a τ``, hence ``p_L = p − ½ v τ`` with ``|p_L| = R``: the smaller
    positive root of ``|u|² τ² − 2 (p·u) τ + |p|² − R² = 0``, ``u = v/2``; launch time ``t − τ``.
    Returns ``(ok, launch_t, lat°, lon°)``; ``ok`` is false for a missing anchor (NaN), one above
    :data:`LAUNCH_ANCHOR_MAX_ALT_M` or not rising.
    """
    A = np.asarray(anchors, dtype=float).reshape(-1, 7)
    t0, p, v = A[:, 0], A[:, 1:4], A[:, 4:7]
    with np.errstate(invalid="ignore", divide="ignore"):
        u = 0.5 * v
        a = (u * u).sum(axis=1)
        b = (p * u).sum(axis=1)
        pp = (p * p).sum(axis=1)
        disc = b * b - a * (pp - radius * radius)
        tau = (b - np.sqrt(disc)) / a
        ok = (np.isfinite(A).all(axis=1) & (np.sqrt(pp) - radius <= LAUNCH_ANCHOR_MAX_ALT_M)
              & (b > 0.0) & (disc >= 0.0) & (tau > 0.0) & (tau < 600.0))
        pl = p - u * np.where(ok, tau, 0.0)[:, None]
        lat, lon, _ = ecef_to_lla(pl, radius)
    return ok, t0 - tau, lat, lon


def launch_from_boost(pred: Prediction, anchor: np.ndarray, *, radius: float = EARTH_RADIUS_M,
                      sigma_m: float = LAUNCH_ANCHOR_SIGMA_M) -> Prediction:
    """``pred`` with its launch taken from the boost-phase ``anchor`` (:func:`launch_from_anchors`),
    or ``pred`` itself when the anchor is unusable."""
    ok, lt, la, lo = launch_from_anchors(anchor, radius=radius)
    if not ok[0]:
        return pred
    return replace(pred, launch_t=float(lt[0]), launch_lat_deg=float(la[0]), launch_lon_deg=float(lo[0]),
                   launch_sigma_m=float(sigma_m))


#: Boost-phase states kept per track for :func:`launch_from_boost_states` (one every
#: :data:`BOOST_STATE_EVERY_S` from confirmation while the ballistic mode is below
#: :data:`BOOST_STATE_MAX_BALLISTIC`).
BOOST_STATES = 32
BOOST_STATE_EVERY_S = 2.0
BOOST_STATE_MAX_BALLISTIC = 0.9
#: Fewest states and shortest span the rise fit needs; otherwise the single anchor is used.
BOOST_FIT_MIN_STATES = 6
BOOST_FIT_MIN_SPAN_S = 10.0
#: Model error of the rise fit (radial 1-σ, m) for a launch :data:`BOOST_FIT_MODEL_TAU_S` before
#: the first kept state, growing as the square of that extrapolation (an acceleration-like bias):
#: the cubic rise against the simulator's vertical-rise-then-pitch-over boost, calibrated on
#: simulated salvos and the sample scenarios (docs/tracking.md).
BOOST_FIT_MODEL_SIGMA_M = 3_000.0
BOOST_FIT_MODEL_TAU_S = 45.0
#: Inflation of the fit's own σ: the kept states are filtered estimates, correlated in time, so
#: they carry fewer independent measurements than their count says.
BOOST_FIT_CORRELATION = 2.0
#: Launch times searched, seconds before the first kept state, and the grid step.
BOOST_FIT_TAU_MAX_S = 150.0
BOOST_FIT_TAU_STEP_S = 1.0


@njit(cache=True)
def _rise_moments(S, k, m, T, M):
    """Per-track sums for :func:`_rise_ls`, with ``u = (t − t₀)/T`` (``t₀`` the first state's time):
    ``M[0, j] = Σ w_p uʲ`` (j ≤ 6), ``M[1, j] = Σ w_v uʲ`` (j ≤ 4), ``M[2 + ax, j] = Σ w_p uʲ y``
    (j ≤ 3), ``M[5 + ax, j] = Σ w_v uʲ ẏ`` (j ≤ 2). Every power sum over ``s = u + d`` follows by
    the binomial theorem; with ``u, d ≥ 0`` and positive weights its terms do not cancel."""
    M[:, :] = 0.0
    t0 = S[k, 0, 0]
    for i in range(m):
        u = (S[k, i, 0] - t0) / T
        wp = S[k, i, 7]
        wv = S[k, i, 8]
        pw = 1.0
        for j in range(7):
            M[0, j] += wp * pw
            if j <= 4:
                M[1, j] += wv * pw
            if j <= 3:
                for ax in range(3):
                    M[2 + ax, j] += wp * pw * S[k, i, 1 + ax]
            if j <= 2:
                for ax in range(3):
                    M[5 + ax, j] += wv * pw * S[k, i, 4 + ax]
            pw *= u


@njit(cache=True)
def _rise_ls(S, k, m, tl, T, M, c, residual):
    """Weighted least squares of the rise from rest at ``tl`` for track ``k``'s first ``m`` states
    (positions relative to the first state's; ``M`` from :func:`_rise_moments`): the
    coefficients into ``c (3, 3)`` (rows ``p_L``, ``c₂ T²``, ``c₃ T³``, one column per axis),
    returns ``(Σ w r², (AᵀWA)⁻¹₀₀)`` (both NaN unless ``residual``).

    Well conditioned: ``τ`` is scaled by ``T`` (columns ``1, s², s³`` with ``s = τ/T``); the 3×3
    normal matrix is solved by Cholesky; the residual is summed from the residuals themselves,
    not as ``yᵀWy − cᵀAᵀWy`` (which cancels ~10 of its 16 digits on ECEF coordinates, so rounding
    would pick between two ground crossings of near-equal fit)."""
    iT = 1.0 / T
    d = (S[k, 0, 0] - tl) * iT
    # power sums Σ w sᵖ = Σⱼ C(p, j) d^(p−j) Σ w uʲ
    P0 = M[0, 0]
    d2, d3, d4, d5, d6 = d * d, d * d * d, d ** 4, d ** 5, d ** 6
    P2 = M[0, 2] + 2.0 * d * M[0, 1] + d2 * M[0, 0]
    P3 = M[0, 3] + 3.0 * d * M[0, 2] + 3.0 * d2 * M[0, 1] + d3 * M[0, 0]
    P4 = M[0, 4] + 4.0 * d * M[0, 3] + 6.0 * d2 * M[0, 2] + 4.0 * d3 * M[0, 1] + d4 * M[0, 0]
    P5 = (M[0, 5] + 5.0 * d * M[0, 4] + 10.0 * d2 * M[0, 3] + 10.0 * d3 * M[0, 2] + 5.0 * d4 * M[0, 1]
          + d5 * M[0, 0])
    P6 = (M[0, 6] + 6.0 * d * M[0, 5] + 15.0 * d2 * M[0, 4] + 20.0 * d3 * M[0, 3] + 15.0 * d4 * M[0, 2]
          + 6.0 * d5 * M[0, 1] + d6 * M[0, 0])
    V2 = M[1, 2] + 2.0 * d * M[1, 1] + d2 * M[1, 0]
    V3 = M[1, 3] + 3.0 * d * M[1, 2] + 3.0 * d2 * M[1, 1] + d3 * M[1, 0]
    V4 = M[1, 4] + 4.0 * d * M[1, 3] + 6.0 * d2 * M[1, 2] + 4.0 * d3 * M[1, 1] + d4 * M[1, 0]
    g = 2.0 * iT
    h = 3.0 * iT
    n00 = P0
    n01 = P2
    n02 = P3
    n11 = P4 + g * g * V2
    n12 = P5 + g * h * V3
    n22 = P6 + h * h * V4
    l00 = math.sqrt(n00)
    l10 = n01 / l00
    l20 = n02 / l00
    l11 = math.sqrt(n11 - l10 * l10)
    l21 = (n12 - l20 * l10) / l11
    l22 = math.sqrt(n22 - l20 * l20 - l21 * l21)
    for ax in range(3):
        Y = M[2 + ax]
        Z = M[5 + ax]
        b0 = Y[0]
        b1 = (Y[2] + 2.0 * d * Y[1] + d2 * Y[0]) + g * (Z[1] + d * Z[0])
        b2 = ((Y[3] + 3.0 * d * Y[2] + 3.0 * d2 * Y[1] + d3 * Y[0])
              + h * (Z[2] + 2.0 * d * Z[1] + d2 * Z[0]))
        z0 = b0 / l00
        z1 = (b1 - l10 * z0) / l11
        z2 = (b2 - l20 * z0 - l21 * z1) / l22
        c2 = z2 / l22
        c1 = (z1 - l21 * c2) / l11
        c[0, ax] = (z0 - l10 * c1 - l20 * c2) / l00
        c[1, ax] = c1
        c[2, ax] = c2
    if not residual:
        return np.nan, np.nan
    ss = 0.0
    for i in range(m):
        s = (S[k, i, 0] - tl) * iT
        f1 = s * s
        f2 = f1 * s
        g1 = g * s
        g2 = h * f1
        wp = S[k, i, 7]
        wv = S[k, i, 8]
        for ax in range(3):
            rp = S[k, i, 1 + ax] - c[0, ax] - f1 * c[1, ax] - f2 * c[2, ax]
            rv = S[k, i, 4 + ax] - g1 * c[1, ax] - g2 * c[2, ax]
            ss += wp * rp * rp + wv * rv * rv
    y0 = 1.0 / l00                     # (AᵀWA)⁻¹₀₀ = |L⁻¹ e₀|²
    y1 = -l10 * y0 / l11
    y2 = -(l20 * y0 + l21 * y1) / l22
    return ss, y0 * y0 + y1 * y1 + y2 * y2


@njit(cache=True)
def _height(c, ref, radius):
    """``|ref + p_L| − R``: the height of the fitted launch point above the sphere."""
    x = ref[0] + c[0, 0]
    y = ref[1] + c[0, 1]
    z = ref[2] + c[0, 2]
    return math.sqrt(x * x + y * y + z * z) - radius


@njit(cache=True, nogil=True)
def _rise_fit_kernel(S, n, radius, tau_max, tau_step, min_states, min_span, correlation, model_sigma, model_tau):
    """:func:`launch_from_boost_states` for each track: the launch-time grid brackets the ground
    crossings of ``|p_L|``, the best one is bisected. Returns ``ok, t_L, lat°, lon°, σ``."""
    K, Mx = S.shape[0], S.shape[1]
    ok = np.zeros(K, dtype=np.bool_)
    lt = np.full(K, np.nan)
    lat = np.zeros(K)
    lon = np.zeros(K)
    sig = np.full(K, np.nan)
    G = int(tau_max / tau_step)
    W = np.empty((1, Mx, 9))   # the track's states: positions relative to the first, weights 1/σ²
    M = np.empty((8, 7))
    c = np.empty((3, 3))
    r = np.empty(3)
    for k in range(K):
        m = n[k]
        if m < max(min_states, 4) or not S[k, m - 1, 0] - S[k, 0, 0] >= min_span:
            continue
        for ax in range(3):
            r[ax] = S[k, 0, 1 + ax]
        for i in range(m):
            W[0, i, 0] = S[k, i, 0]
            for ax in range(3):
                W[0, i, 1 + ax] = S[k, i, 1 + ax] - r[ax]
                W[0, i, 4 + ax] = S[k, i, 4 + ax]
            W[0, i, 7] = 1.0 / max(S[k, i, 7], 1.0) ** 2
            W[0, i, 8] = 1.0 / max(S[k, i, 8], 0.1) ** 2
        t0 = S[k, 0, 0]
        T = S[k, m - 1, 0] - t0 + 0.5 * tau_max     # the scale of τ
        _rise_moments(W, 0, m, T, M)
        best_ss = np.inf
        lo = hi = np.nan
        prev_g = np.nan
        for gi in range(G + 1):
            tl = t0 - 1.0 - gi * tau_step
            _rise_ls(W, 0, m, tl, T, M, c, False)
            g = _height(c, r, radius)
            if gi > 0 and (g <= 0.0) != (prev_g <= 0.0):
                ss, _ = _rise_ls(W, 0, m, tl, T, M, c, True)   # only at a crossing
                if ss < best_ss:
                    best_ss, lo, hi = ss, tl + tau_step, tl
            prev_g = g
        if not np.isfinite(lo):
            continue
        _rise_ls(W, 0, m, lo, T, M, c, False)
        g_lo = _height(c, r, radius)
        mid = lo
        g = g_lo
        for _ in range(20):   # bisection to ~1 ms
            mid = 0.5 * (lo + hi)
            _rise_ls(W, 0, m, mid, T, M, c, False)
            g = _height(c, r, radius)
            if (g <= 0.0) == (g_lo <= 0.0):
                lo, g_lo = mid, g
            else:
                hi = mid
        ss, var = _rise_ls(W, 0, m, mid, T, M, c, True)
        ok[k] = True
        lt[k] = mid
        x, y, z = r[0] + c[0, 0], r[1] + c[0, 1], r[2] + c[0, 2]   # then onto the sphere
        rr = math.sqrt(x * x + y * y + z * z)
        lat[k] = math.degrees(math.asin(max(-1.0, min(1.0, z / rr))))
        lon[k] = math.degrees(math.atan2(y, x))
        tr = 3.0 * var                                  # tr Cov(p_L), m²
        chi2 = ss / max(6 * m - 9, 1)                   # χ²/dof
        mod = model_sigma * ((t0 - mid) / model_tau) ** 2
        sig[k] = math.sqrt(correlation ** 2 * max(chi2, 1.0) * tr + mod * mod)
    return ok, lt, lat, lon, sig


def launch_from_boost_states(states: np.ndarray, counts: np.ndarray, *, radius: float = EARTH_RADIUS_M,
                             model_sigma_m: float = BOOST_FIT_MODEL_SIGMA_M,
                             correlation: float = BOOST_FIT_CORRELATION) -> tuple[np.ndarray, ...]:
    """Launch points from several boost-phase states per track, by a least-squares rise fit.

    ``states (K, M, 9)``: per track up to ``M`` rows ``(t, p, v, σp, σv)`` (ECEF, σ per axis of
    the filter's position / velocity), the first ``counts[k]`` of them filled, in time order.

    Model (one per ECEF axis, the same design for the three): a rise from rest at ``t_L``,
    ``p(t) = p_L + c₂ τ² + c₃ τ³``, ``v(t) = 2 c₂ τ + 3 c₃ τ²``, ``τ = t − t_L`` — no ``τ`` term
    because the missile starts at rest, a ``τ³`` term for the pitch-over and the growing thrust
    (the single-anchor :func:`launch_from_anchors` is the ``c₃ = 0``, one-state case). For a
    given ``t_L`` it is linear: weighted least squares over positions (weight ``1/σp²``) and
    velocities (``1/σv²``). ``t_L`` is where the fitted ``|p_L|`` crosses ``R`` — the launch is on the
    ground: a 1 s grid up to :data:`BOOST_FIT_TAU_MAX_S` before the first state brackets the
    crossings, the one with the smallest residual is bisected.

    Numerics: positions relative to the first state, ``τ`` scaled, the 3×3 normal equations
    solved by Cholesky (their sums over the states come from per-track power sums by the
    binomial theorem, so each grid time costs O(1)), and the residual that ranks the crossings
    summed from the residuals themselves, so the crossing picked does not depend on rounding.

    σ (radial, m, the RMS of the horizontal error; the 95 % circle has radius ``√(5.991/2) σ``):
    ``√(k² s² tr Cov(p_L) + (σ_m (τ₀/τ_m)²)²)`` with ``Cov(p_L)`` the least-squares covariance
    (``(AᵀWA)⁻¹₀₀`` per axis) scaled by ``s² = max(1, χ²/dof)``, ``k``
    (:data:`BOOST_FIT_CORRELATION`) for the time correlation of filtered states, and the model
    term ``σ_m = ``:data:`BOOST_FIT_MODEL_SIGMA_M` at ``τ_m = ``:data:`BOOST_FIT_MODEL_TAU_S`,
    scaled by the square of ``τ₀``, the time from launch to the first kept state.

    Returns ``(ok, launch_t, lat°, lon°, sigma_m)``; ``ok`` false when a track has fewer than
    :data:`BOOST_FIT_MIN_STATES` states or a span under :data:`BOOST_FIT_MIN_SPAN_S`, or no
    crossing was found.
    """
    S = np.ascontiguousarray(np.asarray(states, dtype=float))
    if S.ndim != 3 or S.shape[2] != 9:
        raise ValueError(f"states must be (K, M, 9), got {S.shape}")
    n = np.ascontiguousarray(np.asarray(counts, dtype=np.int64).reshape(-1))
    return _rise_fit_kernel(S, n, float(radius), BOOST_FIT_TAU_MAX_S, BOOST_FIT_TAU_STEP_S, BOOST_FIT_MIN_STATES,
                            BOOST_FIT_MIN_SPAN_S, float(correlation), float(model_sigma_m), BOOST_FIT_MODEL_TAU_S)
