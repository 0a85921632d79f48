"""How well each boost hypothesis matches a track: the likelihood and posterior kernels.

A track state ``x (6,)`` with innovation covariance ``S`` is reduced once per prediction to a
4-D quadratic form in the flight plane (:func:`plane_quadratic`); :func:`log_like` evaluates it
for every hypothesis of a bank (:func:`accord.warning.boost.prior.banks`, component-major
``(T, 4, N)`` states) at each launch-time offset, interpolating between the bank's states, and
sums over the offsets; :func:`posterior` turns the log-likelihoods into the posterior's moments
of the impact range and time and its cumulative weights (the bank is in order of impact range,
so these give the probability of reaching each down-range point).
"""

from __future__ import annotations

import math

import numpy as np

from accord.warning.kernel_cache import njit

#: A hypothesis this far (natural log) below the best one in likelihood is immaterial: see
#: :func:`log_like`.
NEGLIGIBLE_LOG_LIKE = 60.0


@njit(cache=True, nogil=True)
def log_like(states, M, s_hat, q0, offsets, log_prior):
    """Log-likelihood of each hypothesis (logsumexp over the launch-time offsets).

    With ``E`` (6×4) the plane axes that put an in-plane state ``s = (x, y, vx, vy)`` into
    ECEF and ``S`` the innovation covariance, ``(x_track − E s)ᵀ S⁻¹ (x_track − E s)
    = q₀ + (s − ŝ)ᵀ M (s − ŝ)`` with ``M = Eᵀ S⁻¹ E``, ``ŝ = M⁻¹ Eᵀ S⁻¹ x_track`` (the in-plane
    state nearest the track) and ``q₀`` the track's squared distance from the plane
    (:func:`plane_quadratic`): a 4-D quadratic form per hypothesis and offset.
    ``states`` is ``(T, 4, N)``: one time's values of one component for every hypothesis lie
    together, so the loop over hypotheses is vectorised.

    The offsets' terms of a hypothesis whose best term is more than :data:`NEGLIGIBLE_LOG_LIKE`
    below the best hypothesis' are not summed (its log-likelihood is its best term, at most
    ``log J`` low): its weight is under ``e⁻⁵⁵`` of the best hypothesis' either way."""
    T, N = states.shape[0], states.shape[2]
    J = offsets.shape[0]
    vals = np.full((J, N), -np.inf)
    m00, m01, m02, m03 = M[0, 0], M[0, 1], M[0, 2], M[0, 3]
    m11, m12, m13 = M[1, 1], M[1, 2], M[1, 3]
    m22, m23, m33 = M[2, 2], M[2, 3], M[3, 3]
    h0, h1, h2, h3 = s_hat[0], s_hat[1], s_hat[2], s_hat[3]
    best = np.full(N, -np.inf)
    for j in range(J):
        tau = offsets[j]
        if tau < 0.0 or tau >= T - 1:
            continue
        k = int(tau)
        w = tau - k
        u = 1.0 - w
        base = -0.5 * q0 + log_prior[j]
        a0, a1, a2, a3 = states[k, 0], states[k, 1], states[k, 2], states[k, 3]
        b0, b1, b2, b3 = states[k + 1, 0], states[k + 1, 1], states[k + 1, 2], states[k + 1, 3]
        v = vals[j]
        for i in range(N):
            d0 = u * a0[i] + w * b0[i] - h0
            d1 = u * a1[i] + w * b1[i] - h1
            d2 = u * a2[i] + w * b2[i] - h2
            d3 = u * a3[i] + w * b3[i] - h3
            q = (d0 * (m00 * d0 + 2.0 * (m01 * d1 + m02 * d2 + m03 * d3))
                 + d1 * (m11 * d1 + 2.0 * (m12 * d2 + m13 * d3))
                 + d2 * (m22 * d2 + 2.0 * m23 * d3) + m33 * d3 * d3)
            x = base - 0.5 * q
            v[i] = x
            best[i] = max(best[i], x)
    top = -np.inf
    for i in range(N):
        top = max(top, best[i])
    floor = top - NEGLIGIBLE_LOG_LIKE
    out = best.copy()
    for i in range(N):
        bi = best[i]
        if bi == -np.inf or bi < floor:
            continue
        acc = 0.0
        for j in range(J):
            d = vals[j, i] - bi
            if d == 0.0:           # the best term: e⁰ = 1 exactly, without the call
                acc += 1.0
            elif d > -40.0:        # e⁻⁴⁰ ≪ the double epsilon of the sum (≥ 1)
                acc += math.exp(d)
        out[i] = bi + math.log(acc)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def posterior(ll, log_prior, D, tau):
    """The posterior over the bank from the log-likelihoods ``ll``: ``(max ll, mean and σ of the
    impact range D, mean and σ of the impact time since launch τ, cumulative weights (N,))``
    (the bank is in order of impact range, so the cumulative weights give ``P(reach)``). NaN
    moments when no hypothesis has a finite likelihood."""
    N = ll.shape[0]
    best = -np.inf
    top = -np.inf
    for i in range(N):
        best = max(best, ll[i])
        top = max(top, ll[i] + log_prior[i])
    cw = np.zeros(N)
    if top == -np.inf:
        return best, np.nan, np.nan, np.nan, np.nan, cw
    w = np.empty(N)
    acc = sd = st = 0.0
    for i in range(N):
        d = ll[i] + log_prior[i] - top
        if not d > -100.0:     # e⁻¹⁰⁰: nothing beside the top weight, 1
            w[i] = 0.0         # (adding its 0 to the sums leaves them as they are)
            continue
        wi = math.exp(d)
        w[i] = wi
        acc += wi
        sd += wi * D[i]
        st += wi * tau[i]
    Dm, Tm = sd / acc, st / acc
    vd = vt = run = 0.0
    for i in range(N):
        wi = w[i] / acc
        vd += wi * (D[i] - Dm) ** 2
        vt += wi * (tau[i] - Tm) ** 2
        run += wi
        cw[i] = run
    return best, Dm, math.sqrt(vd), Tm, math.sqrt(vt), cw


@njit(cache=True)
def plane_quadratic(x, S, e1, e2):
    """``(M, ŝ, q₀)`` of :func:`log_like` for the track state ``x (6,)``, innovation covariance
    ``S (6, 6)`` and the plane's axes ``e1, e2``."""
    E = np.zeros((6, 4))
    for a in range(3):
        E[a, 0], E[a, 1], E[3 + a, 2], E[3 + a, 3] = e1[a], e2[a], e1[a], e2[a]
    Si = np.linalg.inv(S)
    SiE = Si @ E
    M = np.ascontiguousarray(E.T) @ SiE
    M = 0.5 * (M + M.T)
    s_hat = np.linalg.solve(M, np.ascontiguousarray(SiE.T) @ x)
    r = x - E @ s_hat
    return M, s_hat, r @ (Si @ r)
