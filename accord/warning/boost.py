"""Impact prediction during the boost: a missile-class prior over the burn still to come.

Kept as one module: the hypothesis bank's component-major layout, the likelihood kernel that
reads it and the posterior and output kernels that weigh it are one model, and the class's
prior is drawn with the same flight kernel the bank is flown with; split, each part would have
to know the others' array layout and private kernels.

Before burnout nobody knows where a missile will fall: the impact depends on how long the motor
still burns and how far the pitch programme still turns it. What the track does show is the
flight so far — altitude, speed and flight-path angle at a known time since launch — and a
missile class flies only some trajectories. This module weighs a fixed set of trajectories drawn
from the class (a *hypothesis bank*) by how well each matches the track now, and reports the
impact distribution they imply and, along the ground track, the probability that the missile's
flight reaches each point (the alert rules name an area only where that probability passes
their threshold, :attr:`accord.warning.alerts.rules.AlertRules.boost_alert_probability`).

The class (:class:`MissileClass`; :data:`DEFAULT_CLASS` is the missile the simulator flies,
``accord.warning.sim``): thrust acceleration ``a₀/(1 − f τ/t_b)`` with ``a₀`` uniform in its
range and ``f`` fixed, a vertical rise for ``t_v`` then a linear pitch-over to the burnout
elevation ``γ_b`` at ``t_b``; ranges ``range_km``. Its hypotheses ``(a₀, t_v, t_b, γ_b)`` are
drawn by trajectory kind as the simulator solves its launches (``MissileClass.kinds``,
:func:`_draw_by_kind`): a minimum-energy shot at the best pitch of its burn, or a lofted or
depressed one burning a surplus longer on the pitch above or below it that reaches the same
range, in the shares the simulator's launch generators use. A class without kinds draws
``(a₀, t_v, t_b, γ_b)`` uniformly and keeps a burn at most ``surplus_max`` longer than the
minimum-energy burn for its range. Each hypothesis is flown once (RK4 in the launch/aim plane,
which is independent of where the launch is, so the bank is built once per class and process)
and kept when its range fits the class.

For a boosting track at ``t`` with a launch estimate ``(t_L, p_L)`` (the rise fit,
:func:`accord.warning.prediction.launch_from_boost_states`): the flight plane is the one through
the Earth's centre, ``p_L`` and the track's position. Hypothesis ``i`` at ``τ = t − t_L + δ``
(``δ`` over a grid of launch-time errors with prior ``N(0, σ_t²)``) is put in that plane and its
likelihood is ``N(x_track − x_i; 0, P_track + Q)``, ``Q = diag(σ_p² I, σ_v² I)`` the model error
(the launch point's σ and the bank's spacing). The posterior weights give the impact down-range
(each hypothesis' Kepler arc from its burnout), its time, and ``P(reach s)`` = the weight of the
hypotheses whose impact lies beyond down-range ``s``.

Defensive use only: this estimates where a threat may fall, for warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from accord.warning.frames import EARTH_RADIUS_M, MU
from accord.warning.prediction import CHI2_2DOF_95, kepler_ground_arc
from accord.warning.types import Ellipse95, Prediction

BANK_DT_S = 0.5          # RK4 step of the bank's flights
BANK_NODE_S = 1.0        # their states are kept every second
TRACK_POINTS = 40        # ground-track points of a boost prediction
#: A hypothesis this far (natural log) below the best one in likelihood is immaterial: see
#: :func:`_log_like`.
NEGLIGIBLE_LOG_LIKE = 60.0


@dataclass(frozen=True)
class MissileClass:
    """The trajectories a class of missile can fly (see the module docstring)."""

    name: str = "sim"
    a0: tuple[float, float] = (32.0, 45.0)          # thrust acceleration at ignition, m/s²
    propellant_fraction: float = 0.12
    vertical_s: tuple[float, float] = (4.0, 8.0)
    pitch_over_s: float | None = None               # γ reaches γ_b this long after t_v (None: at t_b)
    burn_s: tuple[float, float] = (25.0, 220.0)
    burnout_elev_deg: tuple[float, float] = (-5.0, 80.0)
    range_km: tuple[float, float] = (250.0, 2200.0)
    surplus_max: float = 0.27                       # burn at most this much over minimum energy
    n: int = 6000                                   # hypotheses drawn (kept: those that fit)
    tau_max_s: float = 260.0                        # states kept up to this time since launch
    seed: int = 2026
    #: The trajectories flown, ``(kind, share, surplus low, surplus high)`` with kind
    #: ``minimum-energy``, ``lofted`` or ``depressed``: a hypothesis is a minimum-energy flight of
    #: a burn drawn uniformly from ``burn_s``, burning ``1 + surplus`` times as long on the high
    #: (lofted) or low (depressed) pitch that reaches the same range (:func:`_draw_by_kind`).
    #: Empty: ``(a₀, t_v, t_b, γ_b)`` uniform, kept when the burn is within ``surplus_max`` of the
    #: minimum-energy one.
    kinds: tuple[tuple[str, float, float, float], ...] = ()


#: The simulator's missile (``accord.warning.sim``: mass depletion, pitch-over until burnout),
#: with the trajectory mix the simulator draws: ``sim.random_launches`` 70 % minimum-energy,
#: 20 % lofted (surplus 0.10–0.25), 10 % depressed (0.05–0.12); the exercises' launches
#: (``accord.exercise``: scenario profiles, ``salvos.random_salvo``) 65 / 25 / 10 % with the
#: default surplus 0.15 (halved when a depressed shot cannot take it).
SIM_CLASS = MissileClass(kinds=(("minimum-energy", 0.65, 0.0, 0.0), ("lofted", 0.25, 0.10, 0.25),
                                ("depressed", 0.10, 0.04, 0.12)), n=5000)
#: Constant thrust acceleration, pitched over within a second of the vertical rise and held at
#: its elevation until burnout — the missiles of the sample scenarios (``east-sea-*``).
STEP_CLASS = MissileClass(name="step", a0=(30.0, 48.0), propellant_fraction=0.0, vertical_s=(2.0, 9.0),
                          pitch_over_s=1.0, burnout_elev_deg=(10.0, 80.0), range_km=(250.0, 1600.0), seed=2027)
#: The classes a boost prediction weighs (equal prior mass each).
DEFAULT_CLASSES = (SIM_CLASS, STEP_CLASS)
DEFAULT_CLASS = SIM_CLASS


@dataclass(frozen=True)
class Bank:
    """Flown hypotheses: in-plane states every second (x up at the launch site, y down-range)."""

    states: np.ndarray     # (N, T, 4): x, y, vx, vy at τ = 0, 1, … s ((T, 4, N) once joined by banks())
    burn_s: np.ndarray     # (N,)
    impact_range_m: np.ndarray   # (N,) down-range of the impact along the sphere
    impact_tau_s: np.ndarray     # (N,) impact time since launch
    log_prior: np.ndarray        # (N,) log prior weight of each hypothesis


@njit(cache=True)
def _acc(tau, x, y, a0, tv, tb, gb, f, tp):
    """In-plane acceleration: gravity + thrust (off after ``t_b``), the thrust elevation falling
    linearly from 90° at ``t_v`` to ``γ_b`` at ``t_p`` (``t_p = t_b``: ``accord.warning.sim``)."""
    rn = math.sqrt(x * x + y * y)
    g = -MU / (rn * rn * rn)
    ax, ay = g * x, g * y
    if tau < tb:
        frac = min(max((tau - tv) / (tp - tv), 0.0), 1.0)
        gam = 0.5 * math.pi - (0.5 * math.pi - gb) * frac
        at = a0 / (1.0 - f * min(tau, tb) / tb) / rn
        s, c = math.sin(gam), math.cos(gam)
        # u = r̂ (sin γ + i cos γ) in complex form
        ax += at * (x * s - y * c)
        ay += at * (x * c + y * s)
    return ax, ay


@njit(cache=True)
def _rk4(tau, x, y, vx, vy, h, a0, tv, tb, gb, f, tp):
    k1x, k1y = _acc(tau, x, y, a0, tv, tb, gb, f, tp)
    k2x, k2y = _acc(tau + h / 2, x + h / 2 * vx, y + h / 2 * vy, a0, tv, tb, gb, f, tp)
    k3x, k3y = _acc(tau + h / 2, x + h / 2 * vx + h * h / 4 * k1x, y + h / 2 * vy + h * h / 4 * k1y,
                    a0, tv, tb, gb, f, tp)
    k4x, k4y = _acc(tau + h, x + h * vx + h * h / 2 * k2x, y + h * vy + h * h / 2 * k2y, a0, tv, tb, gb, f, tp)
    return (x + h * vx + h * h / 6 * (k1x + k2x + k3x), y + h * vy + h * h / 6 * (k1y + k2y + k3y),
            vx + h / 6 * (k1x + 2 * k2x + 2 * k3x + k4x), vy + h / 6 * (k1y + 2 * k2y + 2 * k3y + k4y))


@njit(cache=True)
def _fly(a0, tv, tb, gb, f, tp, T, dt, node):
    """RK4 in the launch/aim plane (x up at the launch site, y down-range) for arrays of motors:
    states every ``node`` seconds up to ``T`` (``(N, K, 4)``) and the burnout states ``(N, 4)``.
    A step that crosses burnout is split there, so the cut-off is exact."""
    n = a0.shape[0]
    steps = int(round(T / dt))
    every = int(round(node / dt))
    out = np.zeros((n, steps // every + 1, 4))
    burn = np.zeros((n, 4))
    for i in range(n):
        x, y, vx, vy = EARTH_RADIUS_M, 0.0, 0.0, 0.0
        out[i, 0, 0] = x
        for k in range(steps):
            tau = k * dt
            if tau < tb[i] < tau + dt - 1e-9:
                h1 = tb[i] - tau
                x, y, vx, vy = _rk4(tau, x, y, vx, vy, h1, a0[i], tv[i], tb[i], gb[i], f, tp[i])
                burn[i, 0], burn[i, 1], burn[i, 2], burn[i, 3] = x, y, vx, vy
                x, y, vx, vy = _rk4(tb[i], x, y, vx, vy, dt - h1, a0[i], tv[i], tb[i], gb[i], f, tp[i])
            else:
                x, y, vx, vy = _rk4(tau, x, y, vx, vy, dt, a0[i], tv[i], tb[i], gb[i], f, tp[i])
                if abs(tau + dt - tb[i]) <= 1e-9:
                    burn[i, 0], burn[i, 1], burn[i, 2], burn[i, 3] = x, y, vx, vy
            if (k + 1) % every == 0:
                j = (k + 1) // every
                out[i, j, 0], out[i, j, 1], out[i, j, 2], out[i, j, 3] = x, y, vx, vy
    return out, burn


def _arc(burn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, down-range m, seconds to impact) of in-plane burnout states ``(N, 4)``."""
    z = np.zeros((len(burn), 1))
    r3 = np.hstack([burn[:, 0:2], z])
    v3 = np.hstack([burn[:, 2:4], z])
    arc = kepler_ground_arc(r3, v3)
    imp = arc["impact"]
    ang = np.arctan2(imp[:, 1], imp[:, 0])
    ok = arc["valid"] & (ang > 0.0)
    return ok, ang * EARTH_RADIUS_M, arc["dt_impact"]


def _range_table(cls: MissileClass, B: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Range (m, 0 where the flight does not come down beyond the pad) on a grid of
    (a₀, t_v, t_b ``B``, γ_b ``G`` rad): ``(A, V, R)``, ``R`` shaped ``(A, V, B, G)``."""
    A = np.linspace(*cls.a0, 5)
    V = np.linspace(*cls.vertical_s, 3)
    a, v, b, g = (x.ravel() for x in np.meshgrid(A, V, B, G, indexing="ij"))
    T = float(math.ceil(B[-1]) + 1.0)      # whole steps past the longest burn
    _, burn = _fly(a, v, b, g, cls.propellant_fraction, _tp(cls, v, b), T, 1.0, T)
    ok, rng, _ = _arc(burn)
    return A, V, np.where(ok, rng, 0.0).reshape(len(A), len(V), len(B), len(G))


def _max_range_table(cls: MissileClass) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best range over the burnout elevation, on a grid of (a₀, t_v, t_b)."""
    B = np.arange(cls.burn_s[0], cls.burn_s[1] + 1e-9, 5.0)
    A, V, R = _range_table(cls, B, np.radians(np.linspace(5.0, 75.0, 29)))
    return A, V, B, np.maximum.accumulate(R.max(axis=3), axis=2)


def _curves(A, V, B, R, a0, tv, tb):
    """Range over the γ grid of each ``(a₀, t_v, t_b)`` (``(N, G)``), interpolated linearly in
    the table ``R`` of :func:`_range_table`."""
    def at(X, x):
        i = np.clip(np.searchsorted(X, x) - 1, 0, len(X) - 2)
        return i, np.clip((x - X[i]) / (X[i + 1] - X[i]), 0.0, 1.0)[:, None]
    (ia, fa), (iv, fv), (ib, fb) = at(A, a0), at(V, tv), at(B, tb)
    out = 0.0
    for da, wa in ((0, 1 - fa), (1, fa)):
        for dv, wv in ((0, 1 - fv), (1, fv)):
            for db, wb in ((0, 1 - fb), (1, fb)):
                out = out + wa * wv * wb * R[ia + da, iv + dv, ib + db]
    return out


def _peak(G: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(best range, its γ) of range curves ``c (N, G)``: the grid's best refined by a parabola."""
    i = np.clip(c.argmax(axis=1), 1, len(G) - 2)
    k = np.arange(len(c))
    y0, y1, y2 = c[k, i - 1], c[k, i], c[k, i + 1]
    den = y0 - 2 * y1 + y2
    off = np.where(den < 0, 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0)
    off = np.clip(off, -1.0, 1.0)
    return y1 - 0.25 * (y0 - y2) * off, G[i] + off * (G[1] - G[0])


def _root(G: np.ndarray, c: np.ndarray, target: np.ndarray, high: bool) -> np.ndarray:
    """γ where each range curve ``c (N, G)`` meets ``target`` above (``high``: lofted) or below
    its peak, linearly between grid points; NaN where it does not within the grid."""
    out = np.full(len(c), np.nan)
    for n in range(len(c)):
        top = int(c[n].argmax())
        idx = range(top, len(G) - 1) if high else range(top, 0, -1)
        for j in idx:
            k = j + 1 if high else j - 1
            if (c[n, j] - target[n]) * (c[n, k] - target[n]) <= 0.0 and c[n, j] != c[n, k]:
                w = (c[n, j] - target[n]) / (c[n, j] - c[n, k])
                out[n] = G[j] + w * (G[k] - G[j])
                break
    return out


def _draw_by_kind(cls: MissileClass, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """``(a₀, t_v, t_b, γ_b)`` of ``cls.n`` hypotheses drawn from the class's trajectory mix
    (``cls.kinds``) the way the simulator solves its launches (``accord.warning.sim.solve_launch``):
    a minimum-energy burn ``t_m`` uniform in ``burn_s`` and its best pitch ``γ*`` reach range
    ``R*``; a minimum-energy shot burns ``t_m`` at ``γ*``, a lofted / depressed one burns
    ``t_m (1 + surplus)`` at the pitch above / below the best one that reaches ``R*``. Ranges
    and pitches come from a table flown on a grid (:func:`_range_table`; ½° of pitch); a draw
    whose pitch falls outside the grid is dropped."""
    n = cls.n
    a0 = rng.uniform(*cls.a0, n)
    tv = rng.uniform(*cls.vertical_s, n)
    tm = rng.uniform(*cls.burn_s, n)
    share = np.array([k[1] for k in cls.kinds])
    kind = rng.choice(len(cls.kinds), n, p=share / share.sum())
    lo = np.array([k[2] for k in cls.kinds])[kind]
    hi = np.array([k[3] for k in cls.kinds])[kind]
    surplus = lo + (hi - lo) * rng.random(n)
    tb = tm * (1.0 + surplus)
    B = np.arange(cls.burn_s[0], cls.burn_s[1] * (1.0 + hi.max()) + 2.5 + 1e-9, 2.5)
    G = np.radians(np.arange(-25.0, 87.6, 2.5))
    A, V, R = _range_table(cls, B, G)
    r_star, g_star = _peak(G, _curves(A, V, B, R, a0, tv, tm))
    gb = g_star.copy()
    names = [k[0] for k in cls.kinds]
    for j, name in enumerate(names):
        sel = np.flatnonzero((kind == j) & (name != "minimum-energy"))
        if len(sel):
            gb[sel] = _root(G, _curves(A, V, B, R, a0[sel], tv[sel], tb[sel]), r_star[sel], name == "lofted")
    ok = np.isfinite(gb) & (r_star > 0.0) & (tb < cls.tau_max_s - 1.0)
    return a0[ok], tv[ok], tb[ok], gb[ok]


def _tp(cls: MissileClass, tv: np.ndarray, tb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(tb if cls.pitch_over_s is None else np.minimum(tv + cls.pitch_over_s, tb))


@lru_cache(maxsize=4)
def bank(cls: MissileClass = DEFAULT_CLASS) -> Bank:
    """The class's hypothesis bank (built once per process: about a second)."""
    rng = np.random.default_rng(cls.seed)
    if cls.kinds:
        a0, tv, tb, gb = _draw_by_kind(cls, rng)
    else:
        a0 = rng.uniform(*cls.a0, cls.n)
        tv = rng.uniform(*cls.vertical_s, cls.n)
        tb = rng.uniform(*cls.burn_s, cls.n)
        gb = np.radians(rng.uniform(*cls.burnout_elev_deg, cls.n))
    n = len(a0)
    states, burn = _fly(a0, tv, tb, gb, cls.propellant_fraction, _tp(cls, tv, tb), cls.tau_max_s, BANK_DT_S,
                        BANK_NODE_S)
    ok, rng_m, dt_imp = _arc(burn)
    ok &= (rng_m >= cls.range_km[0] * 1e3) & (rng_m <= cls.range_km[1] * 1e3)
    if cls.kinds:
        keep = np.flatnonzero(ok)
        return Bank(states=np.ascontiguousarray(states[keep]), burn_s=tb[keep],
                    impact_range_m=rng_m[keep], impact_tau_s=tb[keep] + dt_imp[keep],
                    log_prior=np.full(len(keep), -math.log(max(len(keep), 1))))
    # minimum-energy burn for each hypothesis' range (its a₀, t_v cell), by interpolation
    A, V, B, R = _max_range_table(cls)
    ia = np.clip(np.searchsorted(A, a0) - 1, 0, len(A) - 2)
    fa = (a0 - A[ia]) / (A[ia + 1] - A[ia])
    iv = np.abs(tv[:, None] - V[None, :]).argmin(axis=1)
    tb_min = np.full(n, np.inf)
    for k in range(n):
        if not ok[k]:
            continue
        curve = (1 - fa[k]) * R[ia[k], iv[k]] + fa[k] * R[ia[k] + 1, iv[k]]
        if rng_m[k] <= curve[-1]:
            tb_min[k] = float(np.interp(rng_m[k], curve, B))
    surplus = tb / tb_min - 1.0
    ok &= (surplus >= -0.05) & (surplus <= cls.surplus_max)
    keep = np.flatnonzero(ok)
    return Bank(states=np.ascontiguousarray(states[keep]), burn_s=tb[keep],
                impact_range_m=rng_m[keep], impact_tau_s=tb[keep] + dt_imp[keep],
                log_prior=np.full(len(keep), -math.log(max(len(keep), 1))))


@lru_cache(maxsize=4)
def banks(classes: tuple[MissileClass, ...] = DEFAULT_CLASSES) -> Bank:
    """The banks of several classes joined, each class with equal prior mass."""
    parts = [bank(c) for c in classes]
    lp = np.concatenate([b.log_prior for b in parts]) - math.log(len(parts))
    D = np.concatenate([b.impact_range_m for b in parts])
    o = np.argsort(D, kind="stable")      # in order of impact range: P(reach) is a cumulative sum
    return Bank(states=np.ascontiguousarray(np.concatenate([b.states for b in parts])[o].transpose(1, 2, 0),
                                            dtype=np.float32),
                burn_s=np.concatenate([b.burn_s for b in parts])[o], impact_range_m=D[o],
                impact_tau_s=np.concatenate([b.impact_tau_s for b in parts])[o], log_prior=lp[o])


@njit(cache=True)
def _log_like(states, M, s_hat, q0, offsets, log_prior):
    """Log-likelihood of each hypothesis (logsumexp over the launch-time offsets).

    With ``E`` (6×4) the plane axes that put an in-plane state ``s = (x, y, vx, vy)`` into
    ECEF and ``S`` the innovation covariance, ``(x_track − E s)ᵀ S⁻¹ (x_track − E s)
    = q₀ + (s − ŝ)ᵀ M (s − ŝ)`` with ``M = Eᵀ S⁻¹ E``, ``ŝ = M⁻¹ Eᵀ S⁻¹ x_track`` (the in-plane
    state nearest the track) and ``q₀`` the track's squared distance from the plane
    (:func:`_plane_quadratic`): a 4-D quadratic form per hypothesis and offset.
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
            v[i] = base - 0.5 * q
        for i in range(N):
            best[i] = max(best[i], v[i])
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
            if d > -40.0:          # e⁻⁴⁰ ≪ the double epsilon of the sum (≥ 1)
                acc += math.exp(d)
        out[i] = bi + math.log(acc)
    return out


@njit(cache=True, error_model="numpy")
def _posterior(ll, log_prior, D, tau):
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
        wi = math.exp(d) if d > -100.0 else 0.0     # e⁻¹⁰⁰: nothing beside the top weight, 1
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
def _plane_quadratic(x, S, e1, e2):
    """``(M, ŝ, q₀)`` of :func:`_log_like` for the track state ``x (6,)``, innovation covariance
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


def boost_prediction(t: float, track_id: str, x: np.ndarray, P: np.ndarray, launch_t: float,
                     launch_lat_deg: float, launch_lon_deg: float, launch_sigma_m: float, *,
                     classes: tuple[MissileClass, ...] = DEFAULT_CLASSES) -> Prediction | None:
    """The impact distribution of a boosting track ``x (6,)``, ``P (6, 6)`` at ``t``, given its
    launch estimate; ``None`` when no hypothesis of the class fits (another class, a bad track)
    or the track is too close to its launch point to fix the flight plane."""
    if not launch_sigma_m <= MAX_LAUNCH_SIGMA_M:
        return None
    b = banks(classes)
    R = EARTH_RADIUS_M
    cl, sl = math.cos(math.radians(launch_lat_deg)), math.sin(math.radians(launch_lat_deg))
    co, so = math.cos(math.radians(launch_lon_deg)), math.sin(math.radians(launch_lon_deg))
    e1 = np.array([cl * co, cl * so, sl])
    p = np.ascontiguousarray(x[0:3], dtype=float)
    h = p - (p @ e1) * e1
    down = float(np.linalg.norm(h))
    if down < 5_000.0 + 3.0 * launch_sigma_m:
        return None
    P = np.ascontiguousarray(P[0:6, 0:6], dtype=float)
    e1, e2, s_plane = _plane(e1, p, np.ascontiguousarray(x[3:6], dtype=float), P, down, float(launch_sigma_m))
    sp2 = MODEL_SIGMA_P_M**2 + launch_sigma_m**2
    S = P + np.diag([sp2] * 3 + [MODEL_SIGMA_V_MS**2] * 3)
    M, s_hat, q0 = _plane_quadratic(np.ascontiguousarray(x[0:6], dtype=float), S, e1, e2)
    sig_t = max(LAUNCH_T_SIGMA_MIN_S, LAUNCH_T_SIGMA_PER_3KM_S * launch_sigma_m / 3_000.0)
    offs = np.linspace(-2.4 * sig_t, 2.4 * sig_t, 7)
    lp = -0.5 * (offs / sig_t) ** 2
    ll = _log_like(b.states, M, s_hat, q0, float(t - launch_t) + offs, lp)
    best, Dm, sD, tau_m, sT, cw = _posterior(ll, b.log_prior, b.impact_range_m, b.impact_tau_s)
    if not best >= -30.0:   # no hypothesis within χ²₆ 60 of the track
        return None
    D = b.impact_range_m
    Tm = launch_t + tau_m
    # ground track from the sub-missile point now to the farthest plausible impact
    s_now = math.atan2(float(p @ e2), float(p @ e1)) * R
    far = float(D[min(int(np.searchsorted(cw, 0.999)), len(D) - 1)])
    s = np.linspace(s_now, max(far, s_now + 1.0), TRACK_POINTS)
    reach = 1.0 - np.interp(s, D, cw, left=0.0, right=1.0)
    glat, glon, t_sig = _ground_points(s, e1, e2, R, s_plane)
    ilat, ilon, c_ee, c_en, c_nn, ma, mi, bearing = _impact_ellipse(e1, e2, R, Dm, sD, s_plane)
    return Prediction(
        t=float(t), track_id=track_id, launch_t=float(launch_t), launch_lat_deg=float(launch_lat_deg),
        launch_lon_deg=float(launch_lon_deg), launch_sigma_m=float(launch_sigma_m), impact_t=Tm,
        impact_lat_deg=ilat, impact_lon_deg=ilon, impact_ellipse_95=Ellipse95(ma, mi, bearing),
        impact_cov_en_m2=(c_ee, c_en, c_en, c_nn),
        ground_track=tuple(zip(np.round(glat, 5).tolist(), np.round(glon, 5).tolist())),
        status="boost", impact_t_sigma_s=max(sT, 1.0),
        reach_prob=tuple(np.round(reach, 4).tolist()), track_sigma_m=tuple(np.round(t_sig, 1).tolist()))


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
def _impact_ellipse(e1, e2, R, Dm, sD, s_plane):
    """The mean impact at down-range ``Dm`` (lat°, lon°) and its East-North covariance
    ``(ee, en, nn)`` and 95 % ellipse ``(semi-major, semi-minor, bearing°)``: along the path σ_D
    (at least 1 km), across it the plane's tilt (the launch point's and the track's cross-plane σ
    seen from the launch) carried out to ``Dm`` (at least 1 km)."""
    ang = Dm / R
    ca, sa = math.cos(ang), math.sin(ang)
    ux, uy, uz = ca * e1[0] + sa * e2[0], ca * e1[1] + sa * e2[1], ca * e1[2] + sa * e2[2]   # up at the impact
    lat = math.degrees(math.asin(min(max(uz, -1.0), 1.0)))
    lon = math.degrees(math.atan2(uy, ux))
    s_cross = max(s_plane * R * math.sin(min(Dm / R, math.pi / 2)), 1_000.0)
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


def warm_up(classes: tuple[MissileClass, ...] = DEFAULT_CLASSES) -> None:
    """Build the banks and load the kernels, so a timed run measures predictions."""
    b = banks(classes)
    _posterior(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1))
    e1, e2, up = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    P = np.eye(6)
    _plane(e1, e1 + e2, up, P, 1.0, 1.0)
    _plane_quadratic(np.zeros(6), P, e1, e2)
    _ground_points(np.zeros(1), e1, e2, 1.0, 0.0)
    _impact_ellipse(e1, e2, 1.0, 0.0, 0.0, 0.0)
    _log_like(np.ascontiguousarray(b.states[:2, :, :1]), np.eye(4), np.zeros(4), 0.0, np.zeros(1), np.zeros(1))
