"""The boost prediction: where a boosting track's flight ends and which points it reaches.

:func:`boost_prediction` places the flight plane by a fit to the track's boost positions
(:func:`_plane_fit`) or, with too few of them, from the rise fit's launch point and the track's
velocity (:func:`_plane`), weighs the hypothesis bank
(:func:`accord.warning.boost.prior.banks`) by the likelihood kernels
(:mod:`accord.warning.boost.likelihood`) over a grid of launch-time errors, and reports a
:class:`accord.warning.types.Prediction` with ``status="boost"``: the mean impact and its time,
the impact's East-North covariance and 95 % ellipse (:func:`_impact_ellipse`), and the ground
track from the point under the missile to the farthest plausible impact with, at each point, the
probability that the flight reaches it and the plane's σ across the path (:func:`_ground_points`,
:func:`_cross_sigma`).
:func:`warm_up` builds the banks and loads the compiled kernels.
"""

from __future__ import annotations

import math

import numpy as np

from accord.warning.boost.flight import fly, impact_arc
from accord.warning.boost.likelihood import log_like, plane_quadratic, posterior
from accord.warning.boost.prior import DEFAULT_CLASSES, MissileClass, banks
from accord.warning.frames import EARTH_RADIUS_M
from accord.warning.kernel_cache import njit
from accord.warning.prediction import CHI2_2DOF_95
from accord.warning.types import Ellipse95, Prediction

TRACK_POINTS = 40        # ground-track points of a boost prediction
#: Model error of the bank against a track: position (m) and velocity (m/s) σ per axis, on top
#: of the launch point's own σ (the spacing of the hypotheses, the rise fit's launch-point error).
MODEL_SIGMA_P_M = 1_500.0
MODEL_SIGMA_V_MS = 40.0
#: Launch-time error of the rise fit (1-σ, s) per 3 km of its launch-point σ (at least
#: :data:`LAUNCH_T_SIGMA_MIN_S`), integrated over ±2.4 σ in 7 steps.
LAUNCH_T_SIGMA_PER_3KM_S = 2.0
LAUNCH_T_SIGMA_MIN_S = 2.0
#: A rise fit vaguer than this (launch-point σ, m) fixes neither the flight time nor the plane
#: well enough: no boost prediction (on east-sea-10 such fits missed the launch time by 20–60 s).
MAX_LAUNCH_SIGMA_M = 8_000.0
#: Fewest boost states for which the flight plane is fitted to the track's positions
#: (:func:`_plane_fit`); with fewer, the launch point and the velocity place it (:func:`_plane`).
PLANE_FIT_MIN_STATES = 6
#: Inflation of the plane fit's σ: the boost states are filtered estimates whose errors across
#: the plane are correlated over much of the boost (a track's tilt error persists from one
#: prediction to the next), so they carry far fewer independent looks than their count — about
#: one in nine states, where the rise fit's launch point takes one in four
#: (:data:`accord.warning.prediction.BOOST_FIT_CORRELATION`, 2). With 2 one track of salvo seed 2
#: was 2–3 σ off along its whole path (docs/tracking.md, "Prediction during the boost").
PLANE_FIT_CORRELATION = 3.0


def boost_prediction(t: float, track_id: str, x: np.ndarray, P: np.ndarray, launch_t: float,
                     launch_lat_deg: float, launch_lon_deg: float, launch_sigma_m: float, *,
                     classes: tuple[MissileClass, ...] = DEFAULT_CLASSES,
                     states: np.ndarray | None = None) -> Prediction | None:
    """The impact distribution of a boosting track ``x (6,)``, ``P (6, 6)`` at ``t``, given its
    launch estimate; ``None`` when no hypothesis of the class fits (another class, a bad track)
    or the track is too close to its launch point to fix the flight plane.

    ``states``: the track's boost states ``(m, 9)`` — rows ``(t, p, v, σp, σv)``, the ones the
    rise fit reads (:func:`accord.warning.prediction.launch_from_boost_states`). With at least
    :data:`PLANE_FIT_MIN_STATES` of them the flight plane is fitted to their positions and the
    track's (:func:`_plane_fit`) instead of taken from the launch point and the velocity.

    The numbers are two compiled calls: :func:`_weigh` (the plane, the likelihood over the bank
    and the posterior) and :func:`_ground_track`, with the dot products of the position and the
    plane's axes taken by numpy between them."""
    if not launch_sigma_m <= MAX_LAUNCH_SIGMA_M:
        return None
    b = banks(classes)
    R = EARTH_RADIUS_M
    cl, sl = math.cos(math.radians(launch_lat_deg)), math.sin(math.radians(launch_lat_deg))
    co, so = math.cos(math.radians(launch_lon_deg)), math.sin(math.radians(launch_lon_deg))
    e1 = np.array([cl * co, cl * so, sl])
    x = np.ascontiguousarray(x[0:6], dtype=float)
    p = x[0:3]
    h = p - (p @ e1) * e1
    down = math.sqrt(h.dot(h))     # np.linalg.norm's sum and root, without its checks
    if down < 5_000.0 + 3.0 * launch_sigma_m:
        return None
    if states is None or len(states) < PLANE_FIT_MIN_STATES:
        states = _NO_STATES
    sp2 = MODEL_SIGMA_P_M**2 + launch_sigma_m**2
    sig_t = max(LAUNCH_T_SIGMA_MIN_S, LAUNCH_T_SIGMA_PER_3KM_S * launch_sigma_m / 3_000.0)
    ok, e1, e2, s_plane, fitted, C, Dm, sD, tau_m, sT, cw = _weigh(
        x, np.ascontiguousarray(P[0:6, 0:6], dtype=float), e1, down, float(launch_sigma_m),
        np.ascontiguousarray(states, dtype=float), float(sp2), float(sig_t), float(t - launch_t),
        b.states, b.log_prior, b.impact_range_m, b.impact_tau_s)
    if not ok:   # no hypothesis within χ²₆ 60 of the track
        return None
    s_now = math.atan2(float(p @ e2), float(p @ e1)) * R
    glat, glon, reach, t_sig, ilat, ilon, c_ee, c_en, c_nn, ma, mi, bearing = _ground_track(
        s_now, e1, e2, R, s_plane, fitted, C, Dm, sD, b.impact_range_m, cw)
    return Prediction(
        t=float(t), track_id=track_id, launch_t=float(launch_t), launch_lat_deg=float(launch_lat_deg),
        launch_lon_deg=float(launch_lon_deg), launch_sigma_m=float(launch_sigma_m), impact_t=launch_t + tau_m,
        impact_lat_deg=ilat, impact_lon_deg=ilon, impact_ellipse_95=Ellipse95(ma, mi, bearing),
        impact_cov_en_m2=(c_ee, c_en, c_en, c_nn), ground_track=tuple(zip(glat.tolist(), glon.tolist())),
        status="boost", impact_t_sigma_s=max(sT, 1.0), reach_prob=tuple(reach.tolist()),
        track_sigma_m=tuple(t_sig.tolist()))


_NO_STATES = np.zeros((0, 9))     # boost states too few for the plane fit


@njit(cache=True, nogil=True, error_model="numpy")
def _weigh(x, P, e1, down, launch_sigma_m, states, sp2, sig_t, dt, bank_states, log_prior, D, tau):
    """The flight plane and the posterior over the bank: ``(ok, e1, e2, plane's σ, fitted, C, mean
    and σ of the impact range, of the impact time since launch, cumulative weights)``; ``ok``
    false when no hypothesis is within χ²₆ 60 of the track. The plane is :func:`_plane`'s, or
    :func:`_plane_fit_kernel`'s (``fitted``, normal's covariance ``C``) when ``states`` has
    rows; the innovation covariance adds ``sp2`` (position) and :data:`MODEL_SIGMA_V_MS` ² to
    ``P``; the launch-time offsets span ±2.4 ``sig_t`` in 7 steps about ``dt`` (numpy's
    ``linspace`` and arithmetic, to the bit)."""
    p = x[0:3].copy()
    e1, e2, s_plane = _plane(e1, p, x[3:6].copy(), P, down, launch_sigma_m)
    fitted = False
    C = np.zeros((3, 3))
    if states.shape[0] > 0:
        ok, n, Cf = _plane_fit_kernel(np.ascontiguousarray(states[:, 1:4]), np.ascontiguousarray(states[:, 7]), p,
                                      np.ascontiguousarray(P[0:3, 0:3]), PLANE_FIT_CORRELATION)
        if ok:
            fitted, C = True, Cf
            e1 = e1 - _dot(e1, n) * n
            e1 /= math.sqrt(_dot(e1, e1))
            e2 = _cross(n, e1)
            if _dot(p, e2) < 0.0:     # the normal's sign: down-range towards the missile
                e2 = -e2
    S = np.empty((6, 6))
    for i in range(6):
        for j in range(6):
            S[i, j] = P[i, j] + ((sp2 if i < 3 else MODEL_SIGMA_V_MS**2) if i == j else 0.0)
    M, s_hat, q0 = plane_quadratic(x, S, e1, e2)
    offs = _linspace(-2.4 * sig_t, 2.4 * sig_t, 7)
    lp, taus = np.empty(7), np.empty(7)
    for j in range(7):
        r = offs[j] / sig_t
        lp[j] = -0.5 * (r * r)
        taus[j] = dt + offs[j]
    ll = log_like(bank_states, M, s_hat, q0, taus, lp)
    best, Dm, sD, tau_m, sT, cw = posterior(ll, log_prior, D, tau)
    return best >= -30.0, e1, e2, s_plane, fitted, C, Dm, sD, tau_m, sT, cw


@njit(cache=True, nogil=True, error_model="numpy")
def _ground_track(s_now, e1, e2, R, s_plane, fitted, C, Dm, sD, D, cw):
    """The ground track from down-range ``s_now`` to the farthest plausible impact (where the
    cumulative weights ``cw`` over the impact ranges ``D`` pass 0.999): its points' lat°, lon°,
    P(reach) and σ across the path, rounded as reported (5, 5, 4 and 1 decimals), then
    :func:`_impact_ellipse`'s numbers. Numpy's ``searchsorted``, ``linspace``, ``interp`` and
    ``round`` to the bit."""
    N = D.shape[0]
    far = D[min(np.searchsorted(cw, 0.999), N - 1)]
    hi = s_now + 1.0
    s = _linspace(s_now, hi if hi > far else far, TRACK_POINTS)
    reach = np.empty(TRACK_POINTS)
    for k in range(TRACK_POINTS):
        reach[k] = 1.0 - _interp(s[k], D, cw, 0.0, 1.0)
    glat, glon, t_sig = _ground_points(s, e1, e2, R, s_plane)
    s_cross = -1.0
    if fitted:
        both = _cross_sigma(np.append(s, Dm), e1, e2, R, C)
        t_sig, s_cross = both[:-1], both[-1]
    ilat, ilon, c_ee, c_en, c_nn, ma, mi, bearing = _impact_ellipse(e1, e2, R, Dm, sD, s_plane, s_cross)
    return (_round(glat, 1e5), _round(glon, 1e5), _round(reach, 1e4), _round(t_sig, 10.0),
            ilat, ilon, c_ee, c_en, c_nn, ma, mi, bearing)


@njit(cache=True)
def _linspace(a, b, n):
    """``np.linspace(a, b, n)`` (n ≥ 2) with numpy's arithmetic."""
    div = n - 1
    step = (b - a) / div
    out = np.empty(n)
    for k in range(n):
        out[k] = (k / div * (b - a) if step == 0.0 else k * step) + a
    out[n - 1] = b
    return out


@njit(cache=True)
def _interp(x, xp, fp, left, right):
    """``np.interp(x, xp, fp, left, right)`` of one point, with numpy's arithmetic."""
    n = xp.shape[0]
    if np.isnan(x):
        return x
    if x > xp[n - 1]:
        return right
    if x < xp[0]:
        return left
    j = np.searchsorted(xp, x, side="right") - 1    # xp[j] <= x < xp[j + 1]
    if j == n - 1 or xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    y = slope * (x - xp[j]) + fp[j]
    if np.isnan(y):
        y = slope * (x - xp[j + 1]) + fp[j + 1]
        if np.isnan(y) and fp[j] == fp[j + 1]:
            y = fp[j]
    return y


@njit(cache=True)
def _round(a, f):
    """``np.round(a, d)`` with ``f = 10.0 ** d`` (d ≥ 0): numpy's ``rint(a · f) / f``."""
    out = np.empty(a.shape[0])
    for k in range(a.shape[0]):
        out[k] = np.rint(a[k] * f) / f
    return out


@njit(cache=True, error_model="numpy")
def _ground_points(s, e1, e2, R, s_plane):
    """(lat°, lon°, σ across the path m) of the points at down-range ``s`` along the plane
    ``e1, e2`` (σ: the plane's angular σ ``s_plane`` seen from the launch)."""
    n = s.shape[0]
    lat, lon, sig = np.empty(n), np.empty(n), np.empty(n)
    for k in range(n):
        c, si = math.cos(s[k] / R), math.sin(s[k] / R)
        x, y, z = R * (c * e1[0] + si * e2[0]), R * (c * e1[1] + si * e2[1]), R * (c * e1[2] + si * e2[2])
        r = math.sqrt(x * x + y * y + z * z)
        lat[k] = math.degrees(math.asin(min(max(z / r, -1.0), 1.0)))
        lon[k] = math.degrees(math.atan2(y, x))
        sig[k] = s_plane * R * math.sin(min(max(s[k] / R, 0.0), math.pi / 2))
    return lat, lon, sig


@njit(cache=True, error_model="numpy")
def _cross_sigma(s, e1, e2, R, C):
    """σ across the path (m) at down-range ``s`` along the plane ``e1, e2`` from the covariance
    ``C`` (3×3) of the plane's unit normal: a point ``u`` of the plane lies ``R (δn · u)`` off
    a plane tilted by ``δn``."""
    n = s.shape[0]
    out = np.empty(n)
    for k in range(n):
        c, si = math.cos(s[k] / R), math.sin(s[k] / R)
        u = c * e1 + si * e2
        q = 0.0
        for i in range(3):
            for j in range(3):
                q += u[i] * C[i, j] * u[j]
        out[k] = R * math.sqrt(max(q, 0.0))
    return out


@njit(cache=True, error_model="numpy")
def _impact_ellipse(e1, e2, R, Dm, sD, s_plane, s_cross_m=-1.0):
    """The mean impact at down-range ``Dm`` (lat°, lon°) and its East-North covariance
    ``(ee, en, nn)`` and 95 % ellipse ``(semi-major, semi-minor, bearing°)``: along the path σ_D
    (at least 1 km), across it ``s_cross_m`` when given (≥ 0), else the plane's tilt (the launch
    point's and the track's cross-plane σ seen from the launch) carried out to ``Dm`` (at least
    1 km either way)."""
    ang = Dm / R
    ca, sa = math.cos(ang), math.sin(ang)
    ux, uy, uz = ca * e1[0] + sa * e2[0], ca * e1[1] + sa * e2[1], ca * e1[2] + sa * e2[2]   # up at the impact
    lat = math.degrees(math.asin(min(max(uz, -1.0), 1.0)))
    lon = math.degrees(math.atan2(uy, ux))
    s_cross = max(s_plane * R * math.sin(min(Dm / R, math.pi / 2)) if s_cross_m < 0.0 else s_cross_m, 1_000.0)
    h = math.sqrt(ux * ux + uy * uy)
    ex, ey = -uy / h, ux / h                                      # east = ẑ × up, normalised
    nx, ny, nz = -uz * ey, uz * ex, ux * ey - uy * ex            # north = up × east
    ax, ay, az = -sa * e1[0] + ca * e2[0], -sa * e1[1] + ca * e2[1], -sa * e1[2] + ca * e2[2]  # along
    u0, u1 = ax * ex + ay * ey, ax * nx + ay * ny + az * nz
    un = math.sqrt(u0 * u0 + u1 * u1)
    u0, u1 = u0 / un, u1 / un
    sa2, sc2 = max(sD, 1_000.0) ** 2, s_cross**2
    c_ee = sa2 * u0 * u0 + sc2 * u1 * u1
    c_en = sa2 * u0 * u1 - sc2 * u1 * u0
    c_nn = sa2 * u1 * u1 + sc2 * u0 * u0
    k = math.sqrt(CHI2_2DOF_95)
    ma, mi = k * max(sD, 1_000.0), k * s_cross
    bearing = math.degrees(math.atan2(u0, u1)) % 180.0
    if mi > ma:
        ma, mi, bearing = mi, ma, (bearing + 90.0) % 180.0
    return lat, lon, c_ee, c_en, c_nn, ma, mi, bearing


@njit(cache=True)
def _cross(a, b):
    """``a × b`` of two 3-vectors."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


@njit(cache=True)
def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@njit(cache=True)
def _quad(u, P, o):
    """``uᵀ P[o:o+3, o:o+3] u``."""
    q = 0.0
    for i in range(3):
        for j in range(3):
            q += u[i] * P[o + i, o + j] * u[j]
    return q


@njit(cache=True, error_model="numpy")
def _plane(e1, p, v, P, down, launch_sigma_m):
    """The flight plane (through the Earth's centre) from two estimates of its tilt about the
    missile's position ``p``: the launch point (``n ∝ p_L × p``; angular σ = launch σ and the
    track's cross-plane position σ over the down-range distance) and the velocity
    (``n ∝ p × v``; σ = the cross-plane velocity σ over the speed across ``p̂``), combined by
    inverse variance. Returns the launch direction moved into that plane, the down-range
    direction ``e2 = n × e1`` and the plane's angular σ (rad)."""
    up = p / math.sqrt(_dot(p, p))
    nL = _cross(e1, p)
    nL /= math.sqrt(_dot(nL, nL))
    sL2 = (launch_sigma_m**2 + _quad(nL, P, 0)) / down**2
    vh = v - _dot(v, up) * up
    nV = _cross(p, v)
    nn = math.sqrt(_dot(nV, nV))
    th, s2 = 0.0, sL2
    if nn > 0.0 and math.sqrt(_dot(vh, vh)) > 100.0:
        nV /= nn
        sV2 = _quad(nV, P, 3) / _dot(vh, vh)
        # angle from nL to nV about p̂, weighted towards the sharper estimate
        th = math.atan2(_dot(_cross(nL, nV), up), _dot(nL, nV)) * sL2 / (sL2 + sV2)
        s2 = sL2 * sV2 / (sL2 + sV2)
    n = math.cos(th) * nL + math.sin(th) * _cross(up, nL)
    n /= math.sqrt(_dot(n, n))
    e1p = e1 - _dot(e1, n) * n
    e1p /= math.sqrt(_dot(e1p, e1p))
    return e1p, _cross(n, e1p), math.sqrt(s2)


def _plane_fit(pos: np.ndarray, sig: np.ndarray, p: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The flight plane through the Earth's centre fitted to the track's boost positions ``pos
    (m, 3)`` (1-σ per axis ``sig``) and its position now ``p`` (covariance ``P[0:3, 0:3]``):
    the unit normal ``n`` minimising ``Σ (n · pᵢ)² / σᵢ²`` (the smallest eigenvector of
    ``Σ pᵢ pᵢᵀ / σᵢ²``; the current position weighted by its σ along ``n``, refined once) and the
    3×3 covariance of ``n`` — ``Σₖ eₖ eₖᵀ / (λₖ − λ₀)`` over the other two eigenvectors, scaled
    by ``s² = max(1, χ²/dof)`` and :data:`PLANE_FIT_CORRELATION` ² (filtered states are
    correlated in time). A missile's flight is planar (thrust and gravity in the plane of the
    Earth's centre, the launch and the aim: the bank's model, :mod:`accord.warning.boost.flight`),
    so every position of the boost lies in it: a hundred km of them fix it to a few mrad where
    the velocity's direction (tens of m/s across in 2–3 km/s) and the launch point (km) give
    ~7 mrad. ``None`` when the positions do not fix a plane (all on one line through the centre)."""
    ok, n, C = _plane_fit_kernel(np.ascontiguousarray(pos, dtype=float), np.ascontiguousarray(sig, dtype=float),
                                 np.ascontiguousarray(p, dtype=float), np.ascontiguousarray(P[0:3, 0:3], dtype=float),
                                 float(PLANE_FIT_CORRELATION))
    return (n, C) if ok else None


@njit(cache=True, error_model="numpy")
def _plane_fit_kernel(pos, sig, p, Pp, corr):
    """:func:`_plane_fit`'s numbers: ``(ok, n, C)``."""
    m = pos.shape[0]
    A = np.zeros((3, 3))
    for k in range(m):
        w = 1.0 / (sig[k] * sig[k])
        for i in range(3):
            for j in range(3):
                A[i, j] += w * pos[k, i] * pos[k, j]
    lam, V = np.linalg.eigh(A)
    n = V[:, 0].copy()
    for _ in range(2):
        q = 0.0
        for i in range(3):
            for j in range(3):
                q += n[i] * Pp[i, j] * n[j]
        B = A.copy()
        for i in range(3):
            for j in range(3):
                B[i, j] += p[i] * p[j] / max(q, 1.0)
        lam, V = np.linalg.eigh(B)
        n = V[:, 0].copy()
    C = np.zeros((3, 3))
    g1, g2 = lam[1] - lam[0], lam[2] - lam[0]
    if not (np.isfinite(lam[0]) and np.isfinite(lam[2]) and g1 > 0.0 and g2 > 0.0):
        return False, n, C
    k2 = corr * corr * max(1.0, lam[0] / max(m - 1, 1))
    for i in range(3):
        for j in range(3):
            C[i, j] = k2 * (V[i, 1] * V[j, 1] / g1 + V[i, 2] * V[j, 2] / g2)
    return True, n, C


def warm_up(classes: tuple[MissileClass, ...] = DEFAULT_CLASSES) -> None:
    """Build the banks and load the kernels, so a timed run measures predictions: the two that
    :func:`boost_prediction` calls (with the argument types it passes them) and
    :func:`_plane_fit_kernel`, which :func:`_plane_fit` calls."""
    b = banks(classes)
    e1, e2 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    P = np.eye(6)
    states = np.zeros((PLANE_FIT_MIN_STATES, 9))
    states[:, 1:4], states[:, 7] = np.eye(3)[[0, 1, 2, 0, 1, 2]], 1.0
    bank = (np.ascontiguousarray(b.states[:2, :, :1]), b.log_prior[:1].copy(), b.impact_range_m[:1].copy(),
            b.impact_tau_s[:1].copy())
    for st in (_NO_STATES, states):
        _weigh(np.ones(6), P, e1, 1.0, 1.0, st, 1.0, 1.0, 0.0, *bank)
    _ground_track(0.0, e1, e2, 1.0, 0.0, True, P[0:3, 0:3].copy(), 0.0, 0.0, np.zeros(1), np.zeros(1))
    _plane_fit_kernel(np.eye(3), np.ones(3), e1, P[0:3, 0:3].copy(), 1.0)
    # the bank usually comes from disk (prior.banks): fly one, so flying it again never compiles
    one = np.ones(1)
    _, burn = fly(40.0 * one, 5.0 * one, 60.0 * one, 0.7 * one, 0.0, 6.0 * one, 61.0, 0.5, 1.0)
    impact_arc(burn)
