"""Compiled per-scan kernels of the tracker (numba), one call per phase of a scan.

Kept as one module: the compiled per-scan kernels share numba helpers and one on-disk
cache; each one's numpy reference is in the module its docstring names.

A scan touches every track a handful of times; written as numpy array expressions that is some
hundred small array operations per scan, each costing microseconds of interpreter overhead
whatever the array size. These kernels do the same arithmetic in one compiled loop per phase:

* :func:`imm_predict` — IMM mixing and the model-matched time update
  (:func:`accord.warning.tracking.filters.mix`, :func:`accord.warning.tracking.models.predict`);
* :func:`gate` — predicted measurements, Jacobians, innovation covariances, squared Mahalanobis
  distances and mixture-likelihood costs of all track/detection pairs
  (:meth:`SensorArray.measure`, :func:`accord.warning.tracking.association.gate_and_cost`);
* :func:`imm_update` — the EKF update (Joseph form) of the assigned pairs and the mode
  probabilities (:func:`accord.warning.tracking.filters.ekf_update`);
* :func:`coverage`, :func:`detections_to_ecef` — radar coverage
  (:meth:`SensorArray.in_coverage`) and detection positions with covariances ``J R Jᵀ``
  (:meth:`SensorArray.to_ecef`);
* :func:`initiation_scan`, :func:`store_scan`, :func:`store_candidates` — the two-point initiation: candidates kept
  per scan and the velocity gate between them (:mod:`accord.warning.tracking.initiation`);
* :func:`bookkeep`, :func:`duplicates` — confirmation and deletion (:mod:`accord.warning.tracking.deletion`)
  and dropping a younger track that duplicates an older one.

:func:`gate`, :func:`imm_update` and the burnout bank's compiled gate
(:mod:`accord.warning.tracking.burnout`) share the measurement, innovation and Joseph-form update
steps (:func:`measure`, :func:`innovation_inverse`, :func:`innovation`, :func:`mahalanobis`,
:func:`gain_update`, :func:`joseph_update`): inlined into their callers (``inline="always"``, so
the compiled loops stay as fast as when each kernel wrote them out), writing into work arrays
the caller passes.

The numpy functions named above are the reference implementations (and document the maths).
``tests/warning/test_tracking_models.py`` checks that :func:`imm_predict`, :func:`gate` and
:func:`imm_update` agree with them; ``tests/warning/test_tracking_lifecycle.py`` checks
:func:`bookkeep` and :func:`duplicates` directly. Compiled code is cached on disk
(``cache=True``), so only the first run on a machine pays the compilation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from accord.warning.kernel_cache import njit

TWO_PI = 2.0 * math.pi
LOG_2PI = math.log(2.0 * math.pi)


@njit(cache=True)
def _propagate_model(x, j, dt, mu_g, out):
    """Taylor step of one model's mean (see :func:`accord.warning.tracking.models.propagate_mean`)."""
    px, py, pz = x[0], x[1], x[2]
    vx, vy, vz = x[3], x[4], x[5]
    r2 = px * px + py * py + pz * pz
    k = mu_g / (r2 * math.sqrt(r2))
    pv = (px * vx + py * vy + pz * vz) / r2
    thrust = 1.0 if j == 1 else 0.0
    h2 = 0.5 * dt * dt
    h3 = dt * dt * dt / 6.0
    for i in range(3):
        p = x[i]
        v = x[3 + i]
        a = x[6 + i] * thrust
        acc = -k * p + a
        gv = k * (3.0 * pv * p - v)
        out[i] = p + v * dt + acc * h2 + gv * h3
        out[3 + i] = v + acc * dt + gv * h2
        out[6 + i] = a


@njit(cache=True)
def _transition_full(x, phi, dt, mu_g, F):
    """``F = φ ⊗ I₃`` plus the gravity-gradient terms ``G = μ/r³ (3 r̂ r̂ᵀ − I)`` at ``x``:
    ``∂p'/∂p = I + G Δt²/2``, ``∂p'/∂v = I Δt + G Δt³/6``, ``∂v'/∂p = G Δt``, ``∂v'/∂v = I + G Δt²/2``."""
    for a in range(9):
        for b in range(9):
            F[a, b] = 0.0
    for a in range(3):
        for b in range(3):
            for i in range(3):
                F[3 * a + i, 3 * b + i] = phi[a, b]
    px, py, pz = x[0], x[1], x[2]
    r2 = px * px + py * py + pz * pz
    r = math.sqrt(r2)
    k = mu_g / (r2 * r)
    u0, u1, u2 = px / r, py / r, pz / r
    h2 = 0.5 * dt * dt
    h3 = dt * dt * dt / 6.0
    for i in range(3):
        ui = u0 if i == 0 else (u1 if i == 1 else u2)
        for j in range(3):
            uj = u0 if j == 0 else (u1 if j == 1 else u2)
            g = k * (3.0 * ui * uj - (1.0 if i == j else 0.0))
            F[i, j] += g * h2
            F[i, 3 + j] += g * h3
            F[3 + i, j] += g * dt
            F[3 + i, 3 + j] += g * h2


@njit(cache=True)
def _thrust_turn(x0, xo, F):
    """The boost model's thrust turns with its velocity over the step (see
    :func:`accord.warning.tracking.models.thrust_turn`): ``xo``'s thrust becomes ``R`` times
    ``x0``'s and ``F``'s thrust block ``R``, ``R`` the rotation taking ``x0``'s velocity direction
    to ``xo``'s."""
    n0 = math.sqrt(x0[3] * x0[3] + x0[4] * x0[4] + x0[5] * x0[5])
    n1 = math.sqrt(xo[3] * xo[3] + xo[4] * xo[4] + xo[5] * xo[5])
    if n0 < 1e-9 or n1 < 1e-9:
        return
    u0, u1, u2 = x0[3] / n0, x0[4] / n0, x0[5] / n0
    w0, w1, w2 = xo[3] / n1, xo[4] / n1, xo[5] / n1
    k0, k1, k2 = u1 * w2 - u2 * w1, u2 * w0 - u0 * w2, u0 * w1 - u1 * w0
    f = 1.0 / (1.0 + u0 * w0 + u1 * w1 + u2 * w2)
    # R = I + K + K² f, K = [k]ₓ; K² = k kᵀ − |k|² I
    kk = k0 * k0 + k1 * k1 + k2 * k2
    R = np.empty((3, 3))
    R[0, 0] = 1.0 + (k0 * k0 - kk) * f
    R[1, 1] = 1.0 + (k1 * k1 - kk) * f
    R[2, 2] = 1.0 + (k2 * k2 - kk) * f
    R[0, 1] = -k2 + k0 * k1 * f
    R[1, 0] = k2 + k0 * k1 * f
    R[0, 2] = k1 + k0 * k2 * f
    R[2, 0] = -k1 + k0 * k2 * f
    R[1, 2] = -k0 + k1 * k2 * f
    R[2, 1] = k0 + k1 * k2 * f
    a0, a1, a2 = x0[6], x0[7], x0[8]
    for i in range(3):
        xo[6 + i] = R[i, 0] * a0 + R[i, 1] * a1 + R[i, 2] * a2
        for j in range(3):
            F[6 + i, 6 + j] = R[i, j]


@njit(cache=True)
def _fpft_q(F, P0, Q, out):
    """``out = F P0 Fᵀ + Q`` (9×9), symmetrised."""
    FP = np.empty((9, 9))
    for a in range(9):
        for b in range(9):
            s = 0.0
            for c in range(9):
                f = F[a, c]
                if f != 0.0:
                    s += f * P0[c, b]
            FP[a, b] = s
    for a in range(9):
        for b in range(a, 9):
            s = 0.0
            for c in range(9):
                f = F[b, c]
                if f != 0.0:
                    s += FP[a, c] * f
            s += 0.5 * (Q[a, b] + Q[b, a])
            out[a, b] = s
            out[b, a] = s



@njit(cache=True, nogil=True)
def imm_predict(X, P, mu, latched, dt, Pi, Phi, Q, mu_g):
    """In place: IMM mixing with ``Pi`` then ``x = f(x)``, ``P = F P Fᵀ + Q`` per model, with
    ``F`` the Jacobian of the Taylor step (kinematic ``φ ⊗ I₃`` plus gravity-gradient terms).

    ``Phi (2, 3, 3)`` are the per-axis kinematic transition matrices, ``Q (2, 9, 9)``. A
    *latched* track (burnout declared: a missile does not relight) no longer mixes: its
    ballistic model runs alone with ``μ = (1, 0)``.
    """
    N = X.shape[0]
    x0 = np.empty(9)
    P0 = np.empty((9, 9))
    xo = np.empty(9)
    F = np.empty((9, 9))
    c = np.empty(2)
    for n in range(N):
        m0, m1 = mu[n, 0], mu[n, 1]
        if latched[n]:
            _transition_full(X[n, 0], Phi[0], dt, mu_g, F)
            _propagate_model(X[n, 0].copy(), 0, dt, mu_g, xo)
            X[n, 0, :] = xo
            X[n, 1, :] = xo
            P0[:, :] = P[n, 0]
            _fpft_q(F, P0, Q[0], P[n, 0])
            P[n, 1] = P[n, 0]
            mu[n, 0] = 1.0
            mu[n, 1] = 0.0
            continue
        c[0] = m0 * Pi[0, 0] + m1 * Pi[1, 0]
        c[1] = m0 * Pi[0, 1] + m1 * Pi[1, 1]
        Xn0 = X[n, 0].copy()
        Xn1 = X[n, 1].copy()
        Pn0 = P[n, 0].copy()
        Pn1 = P[n, 1].copy()
        for j in range(2):
            wa = m0 * Pi[0, j] / c[j]
            wb = m1 * Pi[1, j] / c[j]
            ww = wa * wb
            for a in range(9):
                x0[a] = wa * Xn0[a] + wb * Xn1[a]
            for a in range(9):
                da = Xn0[a] - Xn1[a]
                for b in range(9):
                    P0[a, b] = wa * Pn0[a, b] + wb * Pn1[a, b] + ww * da * (Xn0[b] - Xn1[b])
            _transition_full(x0, Phi[j], dt, mu_g, F)
            _propagate_model(x0, j, dt, mu_g, xo)
            if j == 1:
                _thrust_turn(x0, xo, F)
            X[n, j, :] = xo
            _fpft_q(F, P0, Q[j], P[n, j])
        mu[n, 0] = c[0]
        mu[n, 1] = c[1]


@njit(cache=True)
def inv3(S, out):
    """Inverse of a 3×3 matrix by cofactors; returns the determinant."""
    a, b, c = S[0, 0], S[0, 1], S[0, 2]
    d, e, f = S[1, 0], S[1, 1], S[1, 2]
    g, h, i = S[2, 0], S[2, 1], S[2, 2]
    A = e * i - f * h
    B = -(d * i - f * g)
    C = d * h - e * g
    det = a * A + b * B + c * C
    r = 1.0 / det
    out[0, 0] = A * r
    out[1, 0] = B * r
    out[2, 0] = C * r
    out[0, 1] = -(b * i - c * h) * r
    out[1, 1] = (a * i - c * g) * r
    out[2, 1] = -(a * h - b * g) * r
    out[0, 2] = (b * f - c * e) * r
    out[1, 2] = -(a * f - c * d) * r
    out[2, 2] = (a * e - b * d) * r
    return det


@njit(cache=True, inline="always")
def measure(x, site, B, zh, H, Hd):
    """Into ``zh (3,)`` and ``H (3, 3)``: the measurement (range, azimuth, elevation) predicted
    from state ``x`` for the radar at ``site`` with ENU rows ``B``, and its Jacobian with respect
    to the position (``Hd``: 3×3 work array)."""
    dx = x[0] - site[0]
    dy = x[1] - site[1]
    dz = x[2] - site[2]
    e = B[0, 0] * dx + B[0, 1] * dy + B[0, 2] * dz
    nn = B[1, 0] * dx + B[1, 1] * dy + B[1, 2] * dz
    u = B[2, 0] * dx + B[2, 1] * dy + B[2, 2] * dz
    h2 = e * e + nn * nn
    rho2 = h2 + u * u
    rho = math.sqrt(rho2)
    h = math.sqrt(h2)
    zh[0] = rho
    zh[1] = math.atan2(e, nn) % TWO_PI
    zh[2] = math.atan2(u, h)
    Hd[0, 0] = e / rho
    Hd[0, 1] = nn / rho
    Hd[0, 2] = u / rho
    Hd[1, 0] = nn / h2
    Hd[1, 1] = -e / h2
    Hd[1, 2] = 0.0
    kk = u / (rho2 * h)
    Hd[2, 0] = -e * kk
    Hd[2, 1] = -nn * kk
    Hd[2, 2] = h / rho2
    for a in range(3):
        for b in range(3):
            H[a, b] = Hd[a, 0] * B[0, b] + Hd[a, 1] * B[1, b] + Hd[a, 2] * B[2, b]


@njit(cache=True, inline="always")
def innovation_inverse(H, Pm, R, Si, HP, S):
    """Into ``Si``: the inverse of the innovation covariance ``S = H P Hᵀ + R`` (``H`` acting on
    the position block of ``Pm``); returns ``det S`` (``HP``, ``S``: 3×3 work arrays)."""
    for a in range(3):
        for b in range(3):
            HP[a, b] = H[a, 0] * Pm[0, b] + H[a, 1] * Pm[1, b] + H[a, 2] * Pm[2, b]
    for a in range(3):
        for b in range(3):
            S[a, b] = HP[a, 0] * H[b, 0] + HP[a, 1] * H[b, 1] + HP[a, 2] * H[b, 2] + R[a, b]
    return inv3(S, Si)


@njit(cache=True, inline="always")
def innovation(z, zh, nu):
    """Into ``nu (3,)``: ``z − ẑ`` with the azimuth difference wrapped into [−π, π)."""
    nu[0] = z[0] - zh[0]
    nu[1] = (z[1] - zh[1] + math.pi) % TWO_PI - math.pi
    nu[2] = z[2] - zh[2]


@njit(cache=True, inline="always")
def mahalanobis(nu, Si):
    """``νᵀ S⁻¹ ν`` for a 3-vector ``nu``."""
    n0, n1, n2 = nu[0], nu[1], nu[2]
    return (n0 * (Si[0, 0] * n0 + Si[0, 1] * n1 + Si[0, 2] * n2)
            + n1 * (Si[1, 0] * n0 + Si[1, 1] * n1 + Si[1, 2] * n2)
            + n2 * (Si[2, 0] * n0 + Si[2, 1] * n1 + Si[2, 2] * n2))


@njit(cache=True, inline="always")
def gain_update(x, Pm, H, Si, nu, K, PHt):
    """In place on ``x (9,)``: ``x += K ν`` with the gain ``K = P Hᵀ S⁻¹`` written into
    ``K (9, 3)`` (``PHt``: 9×3 work array)."""
    for a in range(9):
        for b in range(3):
            PHt[a, b] = Pm[a, 0] * H[b, 0] + Pm[a, 1] * H[b, 1] + Pm[a, 2] * H[b, 2]
    for a in range(9):
        for b in range(3):
            K[a, b] = PHt[a, 0] * Si[0, b] + PHt[a, 1] * Si[1, b] + PHt[a, 2] * Si[2, b]
    for a in range(9):
        x[a] += K[a, 0] * nu[0] + K[a, 1] * nu[1] + K[a, 2] * nu[2]


@njit(cache=True, inline="always")
def joseph_update(Pm, K, H, R, A, AP, KR):
    """In place on ``Pm (9, 9)``: the Joseph-form update ``P ← (I − K H) P (I − K H)ᵀ + K R Kᵀ``
    with ``H = [H_p 0]`` (``A``, ``AP``: 9×9 and ``KR``: 9×3 work arrays)."""
    for a in range(9):
        for b in range(9):
            A[a, b] = 1.0 if a == b else 0.0
        for b in range(3):
            A[a, b] -= K[a, 0] * H[0, b] + K[a, 1] * H[1, b] + K[a, 2] * H[2, b]
    # A = I − K H is the identity outside its first three columns (H reads the position alone):
    # the products skip A's zeros, the terms kept in the same order (the same sums, bit for bit)
    for a in range(9):
        for b in range(9):
            s = 0.0
            for c in range(3):
                s += A[a, c] * Pm[c, b]
            if a >= 3:
                s += Pm[a, b]
            AP[a, b] = s
    for a in range(9):
        for b in range(3):
            KR[a, b] = K[a, 0] * R[0, b] + K[a, 1] * R[1, b] + K[a, 2] * R[2, b]
    for a in range(9):
        for b in range(a, 9):
            s = 0.0
            for c in range(3):
                s += AP[a, c] * A[b, c]
            if b >= 3:
                s += AP[a, b]
            s += KR[a, 0] * K[b, 0] + KR[a, 1] * K[b, 1] + KR[a, 2] * K[b, 2]
            Pm[a, b] = s
            Pm[b, a] = s


@njit(cache=True, nogil=True)
def gate(X, P, mu, z, site, B, R):
    """All-pairs gating of a scan for the radar at ``site`` with ENU rows ``B`` and noise ``R``.

    Returns ``zhat (N,2,3)``, ``Hp (N,2,3,3)``, ``Sinv (N,2,3,3)``, ``d2min (N,m)``,
    ``ll (N,2,m)`` (``log N(ν; 0, S)``) and ``cost (N,m)`` (``−log Σ_j μ_j N(ν_j; 0, S_j)``).
    """
    N = X.shape[0]
    m = z.shape[0]
    zhat = np.empty((N, 2, 3))
    Hp = np.empty((N, 2, 3, 3))
    Sinv = np.empty((N, 2, 3, 3))
    ll = np.empty((N, 2, m))
    d2min = np.empty((N, m))
    cost = np.empty((N, m))
    Hd = np.empty((3, 3))
    S = np.empty((3, 3))
    HP = np.empty((3, 3))
    nu = np.empty(3)
    logdet = np.empty(2)
    for n in range(N):
        for j in range(2):
            measure(X[n, j], site, B, zhat[n, j], Hp[n, j], Hd)
            logdet[j] = math.log(innovation_inverse(Hp[n, j], P[n, j], R, Sinv[n, j], HP, S))
        lm0 = math.log(max(mu[n, 0], 1e-300))
        lm1 = math.log(max(mu[n, 1], 1e-300))
        for k in range(m):
            best = 1e300
            for j in range(2):
                innovation(z[k], zhat[n, j], nu)
                d2 = mahalanobis(nu, Sinv[n, j])
                if d2 < best:
                    best = d2
                ll[n, j, k] = -0.5 * (d2 + logdet[j] + 3.0 * LOG_2PI)
            d2min[n, k] = best
            a0 = ll[n, 0, k] + lm0
            a1 = ll[n, 1, k] + lm1
            top = max(a0, a1)
            cost[n, k] = -(top + math.log1p(math.exp(-abs(a0 - a1))))
    return zhat, Hp, Sinv, d2min, ll, cost


@njit(cache=True, nogil=True)
def imm_update(X, P, mu, latched, rows, cols, z, zhat, Hp, Sinv, ll, R):
    """In place: EKF update (Joseph form) of track ``rows[i]`` with detection ``cols[i]``, both
    models, and the mode probabilities ``μ_j ∝ μ_j Λ_j``."""
    K = np.empty((9, 3))
    PHt = np.empty((9, 3))
    A = np.empty((9, 9))
    AP = np.empty((9, 9))
    KR = np.empty((9, 3))
    nu = np.empty(3)
    for q in range(rows.shape[0]):
        n = rows[q]
        k = cols[q]
        for j in range(2):
            innovation(z[k], zhat[n, j], nu)
            gain_update(X[n, j], P[n, j], Hp[n, j], Sinv[n, j], nu, K, PHt)
            joseph_update(P[n, j], K, Hp[n, j], R, A, AP, KR)
        if latched[n]:
            continue
        l0 = ll[n, 0, k]
        l1 = ll[n, 1, k]
        top = max(l0, l1)
        w0 = mu[n, 0] * math.exp(l0 - top)
        w1 = mu[n, 1] * math.exp(l1 - top)
        s = w0 + w1
        w0 = max(w0 / s, 1e-9)
        w1 = max(w1 / s, 1e-9)
        mu[n, 0] = w0 / (w0 + w1)
        mu[n, 1] = w1 / (w0 + w1)


@njit(cache=True, nogil=True)
def coverage(pos, site, B, range_lim, el_lim, az_center, az_half):
    """``ok[n]``: position ``n`` is inside the coverage of at least one of the given radars."""
    N = pos.shape[0]
    S = site.shape[0]
    ok = np.zeros(N, dtype=np.bool_)
    for n in range(N):
        for s in range(S):
            dx = pos[n, 0] - site[s, 0]
            dy = pos[n, 1] - site[s, 1]
            dz = pos[n, 2] - site[s, 2]
            e = B[s, 0, 0] * dx + B[s, 0, 1] * dy + B[s, 0, 2] * dz
            nn = B[s, 1, 0] * dx + B[s, 1, 1] * dy + B[s, 1, 2] * dz
            u = B[s, 2, 0] * dx + B[s, 2, 1] * dy + B[s, 2, 2] * dz
            rho = math.sqrt(e * e + nn * nn + u * u)
            if rho < range_lim[s, 0] or rho > range_lim[s, 1]:
                continue
            el = math.asin(min(1.0, max(-1.0, u / rho)))
            if el < el_lim[s, 0] or el > el_lim[s, 1]:
                continue
            daz = (math.atan2(e, nn) - az_center[s] + math.pi) % TWO_PI - math.pi
            if abs(daz) <= az_half[s]:
                ok[n] = True
                break
    return ok


@njit(cache=True)
def detections_to_ecef(z, site, B, R, radius):
    """ECEF positions (m,3), covariances ``J R Jᵀ`` (m,3,3), their traces and altitudes."""
    m = z.shape[0]
    pos = np.empty((m, 3))
    cov = np.empty((m, 3, 3))
    tr = np.empty(m)
    alt = np.empty(m)
    J = np.empty((3, 3))
    Je = np.empty((3, 3))
    for k in range(m):
        rng, az, el = z[k, 0], z[k, 1], z[k, 2]
        ce, se, ca, sa = math.cos(el), math.sin(el), math.cos(az), math.sin(az)
        enu0, enu1, enu2 = rng * ce * sa, rng * ce * ca, rng * se
        r2 = 0.0
        for i in range(3):
            pos[k, i] = site[i] + enu0 * B[0, i] + enu1 * B[1, i] + enu2 * B[2, i]
            r2 += pos[k, i] * pos[k, i]
        alt[k] = math.sqrt(r2) - radius
        J[0, 0], J[0, 1], J[0, 2] = ce * sa, rng * ce * ca, -rng * se * sa
        J[1, 0], J[1, 1], J[1, 2] = ce * ca, -rng * ce * sa, -rng * se * ca
        J[2, 0], J[2, 1], J[2, 2] = se, 0.0, rng * ce
        for i in range(3):
            for c in range(3):
                Je[i, c] = B[0, i] * J[0, c] + B[1, i] * J[1, c] + B[2, i] * J[2, c]
        t = 0.0
        for a in range(3):
            for b in range(3):
                cov[k, a, b] = (Je[a, 0] * R[0, 0] * Je[b, 0] + Je[a, 1] * R[1, 1] * Je[b, 1]
                                + Je[a, 2] * R[2, 2] * Je[b, 2])
            t += cov[k, a, a]
        tr[k] = t
    return pos, cov, tr, alt


@njit(cache=True)
def _popcount(b, n):
    c = 0
    for i in range(n):
        c += (b >> i) & 1
    return c


def bookkeep(tracks: Any, hit: np.ndarray, t: float, cover: Any, rules: Any) -> tuple[np.ndarray, np.ndarray]:
    """In place on the track table ``tracks`` (:class:`~accord.warning.tracking.tracks.Tracks`):
    detection-opportunity history, miss counts, ballistic-since times and the burnout latch
    (ballistic-mode probability ≥ ``rules.ballistic_prob`` for ``rules.min_ballistic_s``), after
    a scan of the radar of coverage ``cover`` (:class:`~accord.warning.tracking.sensors.Coverage`)
    that updated the tracks ``hit``; returns the masks of tracks to confirm (M-of-N) and to
    delete (:mod:`.deletion`'s rules), ``rules`` a
    :class:`~accord.warning.tracking.tracks.Bookkeeping`."""
    return _bookkeep(tracks.X, tracks.P, tracks.mu, tracks.hist, tracks.misses, tracks.last, tracks.ball_since,
                     tracks.latched, tracks.confirmed, hit, t, *cover, *rules)


@njit(cache=True, nogil=True)
def _bookkeep(X, P, mu, hist, misses, last, ball_since, latched, confirmed, hit, t, site, B, range_lim,
              el_lim, az_center, az_half, confirm_m, confirm_n, ball_prob, min_ball_s, tent_misses,
              conf_misses, coast_tent, coast, max_var, min_alt, radius):
    """:func:`bookkeep` on the columns and values themselves (what numba compiles)."""
    N = X.shape[0]
    pos = np.empty((N, 3))
    for n in range(N):
        for i in range(3):
            pos[n, i] = mu[n, 0] * X[n, 0, i] + mu[n, 1] * X[n, 1, i]
    opp = coverage(pos, site, B, range_lim, el_lim, az_center, az_half)
    newly = np.zeros(N, dtype=np.bool_)
    dead = np.zeros(N, dtype=np.bool_)
    for n in range(N):
        h = hit[n]
        if opp[n] or h:
            hist[n] = ((hist[n] << 1) | (1 if h else 0)) & 0xFFFF
            misses[n] += 1
        if h:
            misses[n] = 0
            last[n] = t
        if not confirmed[n] and _popcount(hist[n], confirm_n) >= confirm_m:
            newly[n] = True
        if mu[n, 0] >= ball_prob:
            ball_since[n] = min(ball_since[n], t)
            if t - ball_since[n] >= min_ball_s and not latched[n]:
                # collapse the mixture onto the ballistic model by moment matching, so the
                # boost hypothesis' spread stays in the covariance the predictions start from
                latched[n] = True
                m0, m1 = mu[n, 0], mu[n, 1]
                xc = m0 * X[n, 0] + m1 * X[n, 1]
                d = X[n, 0] - X[n, 1]
                for a in range(6):
                    for b in range(6):
                        P[n, 0, a, b] = m0 * P[n, 0, a, b] + m1 * P[n, 1, a, b] + m0 * m1 * d[a] * d[b]
                for a in range(6):
                    X[n, 0, a] = xc[a]
        elif not latched[n]:
            ball_since[n] = np.inf
        conf = confirmed[n] or newly[n]
        r = math.sqrt(pos[n, 0] ** 2 + pos[n, 1] ** 2 + pos[n, 2] ** 2)
        pvar = 0.0
        for j in range(2):
            pvar += mu[n, j] * (P[n, j, 0, 0] + P[n, j, 1, 1] + P[n, j, 2, 2])
        kmax = conf_misses if conf else tent_misses
        cmax = coast if conf else coast_tent
        dead[n] = (misses[n] >= kmax or t - last[n] > cmax or pvar > max_var or r - radius < min_alt)
    return newly, dead


@njit(cache=True, nogil=True)
def initiation_scan(z, site, B, R, radius, min_alt, max_alt, cpos, ccov, ctr, ct, cvalid, t, window,
                    v_max, n_sigma, min_dt):
    """Expire old candidates, place this scan's free detections (ECEF, ``J R Jᵀ``, plausible
    altitude) and evaluate the velocity gate against the live candidates: ``(ok, cost, anyok,
    left)``. When no pair passes (``anyok`` false: most scans), the plausible detections are
    stored as candidates here (:func:`store_candidates`; ``left`` of them did not fit), else
    nothing is stored (``left`` 0) and the caller stores what its assignment leaves
    (:func:`store_scan`). Only the gate's two arrays go back to Python."""
    for i in range(ct.shape[0]):
        if cvalid[i] and ct[i] < t - window:
            cvalid[i] = False
    pos, cov, tr, alt = detections_to_ecef(z, site, B, R, radius)
    m = z.shape[0]
    plaus = np.empty(m, dtype=np.bool_)
    for k in range(m):
        plaus[k] = min_alt <= alt[k] <= max_alt
    C = cpos.shape[0]
    ok = np.zeros((C, m), dtype=np.bool_)
    cost = np.full((C, m), 1e9)
    anyok = False
    for i in range(C):
        if not cvalid[i]:
            continue
        dt = t - ct[i]
        if dt < min_dt:
            continue
        for k in range(m):
            if not plaus[k]:
                continue
            dx = cpos[i, 0] - pos[k, 0]
            dy = cpos[i, 1] - pos[k, 1]
            dz = cpos[i, 2] - pos[k, 2]
            d = math.sqrt(dx * dx + dy * dy + dz * dz)
            reach = v_max * dt + n_sigma * math.sqrt(ctr[i] + tr[k])
            if d <= reach:
                ok[i, k] = True
                cost[i, k] = d / reach
                anyok = True
    left = 0
    if not anyok:
        left = store_candidates(cpos, ccov, ctr, ct, cvalid, pos, cov, tr, t, plaus)
    return ok, cost, anyok, left


@njit(cache=True, nogil=True)
def store_scan(z, site, B, R, radius, min_alt, max_alt, cpos, ccov, ctr, ct, cvalid, t, used):
    """Store this scan's plausible detections not ``used`` (paired into a track) as candidates,
    placed as :func:`initiation_scan` places them; returns how many did not fit."""
    pos, cov, tr, alt = detections_to_ecef(z, site, B, R, radius)
    keep = np.empty(z.shape[0], dtype=np.bool_)
    for k in range(z.shape[0]):
        keep[k] = min_alt <= alt[k] <= max_alt and not used[k]
    return store_candidates(cpos, ccov, ctr, ct, cvalid, pos, cov, tr, t, keep)


@njit(cache=True, nogil=True)
def store_candidates(cpos, ccov, ctr, ct, cvalid, pos, cov, tr, t, keep):
    """Write detections ``keep`` into free candidate slots, all of them or, when the free slots
    are too few, none (the caller grows the table and stores them again: written in part, the
    ones written would be stored twice); returns how many did not fit."""
    C = ct.shape[0]
    need = 0
    for k in range(pos.shape[0]):
        if keep[k]:
            need += 1
    free = 0
    for i in range(C):
        if not cvalid[i]:
            free += 1
    if need > free:
        return need - free
    slot = 0
    for k in range(pos.shape[0]):
        if not keep[k]:
            continue
        while cvalid[slot]:
            slot += 1
        cpos[slot] = pos[k]
        ccov[slot] = cov[k]
        ctr[slot] = tr[k]
        ct[slot] = t
        cvalid[slot] = True
    return 0


@njit(cache=True, nogil=True)
def duplicates(X, P, mu, idx, ids, gate):
    """Tracks (indices into ``X``) to drop because an older track (smaller id) among ``idx``
    estimates the same target: 6-D Mahalanobis distance of the combined IMM states under
    ``P_a + P_b`` below ``gate``. A cheap 50 km position test screens the pairs first."""
    n = idx.shape[0]
    drop = np.zeros(X.shape[0], dtype=np.bool_)
    xs = np.empty((n, 6))
    Ps = np.empty((n, 6, 6))
    for q in range(n):
        i = idx[q]
        m0, m1 = mu[i, 0], mu[i, 1]
        for a in range(6):
            xs[q, a] = m0 * X[i, 0, a] + m1 * X[i, 1, a]
        for a in range(6):
            da = X[i, 0, a] - X[i, 1, a]
            for b in range(6):
                Ps[q, a, b] = (m0 * P[i, 0, a, b] + m1 * P[i, 1, a, b]
                               + m0 * m1 * da * (X[i, 0, b] - X[i, 1, b]))
    for a in range(n):
        for b in range(a + 1, n):
            d2p = 0.0
            for k in range(3):
                d2p += (xs[a, k] - xs[b, k]) ** 2
            if d2p > 2.5e9:
                continue
            d = xs[a] - xs[b]
            y = np.linalg.solve(Ps[a] + Ps[b], d)
            if (d * y).sum() < gate:
                if ids[idx[a]] > ids[idx[b]]:
                    drop[idx[a]] = True
                else:
                    drop[idx[b]] = True
    return drop
