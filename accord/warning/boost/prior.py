"""The missile-class prior of a boost prediction: the classes and their hypothesis banks.

A :class:`MissileClass` says which trajectories a class of missile can fly; :data:`SIM_CLASS`
(the simulator's missile and trajectory mix) and :data:`STEP_CLASS` (the sample scenarios'
missiles) are the classes a prediction weighs (:data:`DEFAULT_CLASSES`). :func:`bank` draws a
class's hypotheses ``(a₀, t_v, t_b, γ_b)`` — by trajectory kind as the simulator solves its
launches (:func:`_draw_by_kind`, reading ranges off a table flown on a grid) or uniformly with a
bound on the burn's surplus over the minimum-energy one — flies each once
(:func:`accord.warning.boost.flight.fly`) and keeps those whose range fits the class, with their
impact range and time. :func:`banks` joins several classes' banks with equal prior mass each, in
order of impact range and component-major (``(T, 4, N)``), the layout the likelihood kernel
(:func:`accord.warning.boost.likelihood.log_like`) reads.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np

from accord.warning.boost.flight import fly, impact_arc
from accord.warning.kernel_cache import cache_dir, owned_alone

log = logging.getLogger(__name__)

BANK_DT_S = 0.5          # RK4 step of the bank's flights
BANK_NODE_S = 1.0        # their states are kept every second


@dataclass(frozen=True)
class MissileClass:
    """The trajectories a class of missile can fly (see :mod:`accord.warning.boost`)."""

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
                          pitch_over_s=1.0, burnout_elev_deg=(10.0, 80.0), range_km=(250.0, 2200.0), seed=2027)
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


def _range_table(cls: MissileClass, B: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Range (m, 0 where the flight does not come down beyond the pad) on a grid of
    (a₀, t_v, t_b ``B``, γ_b ``G`` rad): ``(A, V, R)``, ``R`` shaped ``(A, V, B, G)``."""
    A = np.linspace(*cls.a0, 5)
    V = np.linspace(*cls.vertical_s, 3)
    a, v, b, g = (x.ravel() for x in np.meshgrid(A, V, B, G, indexing="ij"))
    T = float(math.ceil(B[-1]) + 1.0)      # whole steps past the longest burn
    _, burn = fly(a, v, b, g, cls.propellant_fraction, _tp(cls, v, b), T, 1.0, T)
    ok, rng, _ = impact_arc(burn)
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


def _draw_uniform(cls: MissileClass) -> tuple[np.ndarray, ...]:
    """``(a₀, t_v, t_b, γ_b)`` of ``cls.n`` hypotheses spread uniformly over the class's box: the
    first ``n`` points of a scrambled Sobol' sequence (seeded by ``cls.seed``) rather than
    independent draws. A track late in a step-class boost is matched by a handful of hypotheses
    (effective sample size 3–8), so the chance the bank gives carries the draw's error: on
    east-sea-10's M010 independent draws of 6,000 named Hokkaido anywhere from 87 to 95 s after
    launch, scrambled Sobol' points at the 90.7 s that 90,000 draws converge to for 6 seeds of 12
    and within 2 s of it for 11 (docs/alerts.md, "The bank's Monte Carlo error")."""
    from scipy.stats import qmc

    m = max(int(math.ceil(math.log2(max(cls.n, 2)))), 1)
    u = qmc.Sobol(d=4, scramble=True, seed=cls.seed).random_base2(m)[: cls.n]

    def scale(k: int, box: tuple[float, float]) -> np.ndarray:
        return box[0] + (box[1] - box[0]) * u[:, k]
    return scale(0, cls.a0), scale(1, cls.vertical_s), scale(2, cls.burn_s), np.radians(scale(3, cls.burnout_elev_deg))


def _tp(cls: MissileClass, tv: np.ndarray, tb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(tb if cls.pitch_over_s is None else np.minimum(tv + cls.pitch_over_s, tb))


@lru_cache(maxsize=4)
def bank(cls: MissileClass = DEFAULT_CLASS) -> Bank:
    """The class's hypothesis bank (built once per process: about a second)."""
    return _flown(cls)


def _flown(cls: MissileClass) -> Bank:
    """The class's hypothesis bank, drawn and flown (:func:`bank` keeps it)."""
    rng = np.random.default_rng(cls.seed)
    if cls.kinds:
        a0, tv, tb, gb = _draw_by_kind(cls, rng)
    else:
        a0, tv, tb, gb = _draw_uniform(cls)
    n = len(a0)
    states, burn = fly(a0, tv, tb, gb, cls.propellant_fraction, _tp(cls, tv, tb), cls.tau_max_s, BANK_DT_S,
                        BANK_NODE_S)
    ok, rng_m, dt_imp = impact_arc(burn)
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
    """The banks of several classes joined, each class with equal prior mass.

    Flying the default banks costs several seconds of CPU, so the joined bank is kept on disk
    beside the compiled kernels (:func:`_bank_file`): a later process reads it instead of flying
    it again. That directory is named by a digest of the kernels' sources, this module's and
    :mod:`~accord.warning.boost.flight`'s included, and the file by the classes, so an edit of
    either or another class list never reads a stale bank."""
    path = _bank_file(classes)
    stored = _load_bank(path) if path is not None else None
    if stored is not None:
        return stored
    joined = _join(classes)
    if path is not None:
        _save_bank(path, joined)
    return joined


def _bank_file(classes: tuple[MissileClass, ...]) -> Path | None:
    """Where the joined bank of ``classes`` is kept (None: no writable cache directory). The name
    digests the classes and the numpy and scipy versions (the draws and the Sobol' points are
    theirs), so another draw never reads this one's file."""
    import scipy

    root = cache_dir()
    if root is None:
        return None
    key = hashlib.sha256(f"{classes!r}\0{np.__version__}\0{scipy.__version__}".encode()).hexdigest()[:16]
    return Path(root) / f"boost-bank-{key}.npz"


def _load_bank(path: Path) -> Bank | None:
    """The bank kept at ``path``, or None when there is none, it does not read whole, it is not a
    bank as :func:`_join` makes one, or another user could have written it (a shared cache root:
    ``allow_pickle=False`` keeps code out, not false flights)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not owned_alone(st):
                log.warning("boost bank %s not written by this user alone: flying it again", path.name)
                return None
            with np.load(fh, allow_pickle=False) as f:
                b = Bank(**{k.name: f[k.name] for k in fields(Bank)})
    except FileNotFoundError:
        return None
    except Exception as exc:   # noqa: BLE001 — a damaged file is flown again and replaced
        log.warning("boost bank %s unreadable (%s): flying it again", path.name, exc)
        return None
    if not _whole(b):
        log.warning("boost bank %s malformed: flying it again", path.name)
        return None
    return b


def _whole(b: Bank) -> bool:
    """Whether ``b`` is a joined bank: its arrays' shapes and types those :func:`_join` gives, all
    finite, in order of impact range (P(reach) is a cumulative sum over it)."""
    n = b.burn_s.shape[0] if b.burn_s.ndim == 1 else -1
    flat = (b.burn_s, b.impact_range_m, b.impact_tau_s, b.log_prior)
    return (n > 0 and b.states.ndim == 3 and b.states.shape[1:] == (4, n) and b.states.dtype == np.float32
            and all(a.shape == (n,) and a.dtype == np.float64 for a in flat)
            and all(bool(np.isfinite(a).all()) for a in (b.states, *flat))
            and bool((np.diff(b.impact_range_m) >= 0).all()))


def _save_bank(path: Path, b: Bank) -> None:
    """Write ``b`` to ``path`` whole or not at all (a temporary file renamed into place)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(out, **{k.name: getattr(b, k.name) for k in fields(Bank)})
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        log.warning("boost bank not kept on disk (%s): it is flown again by the next process", exc)


def _join(classes: tuple[MissileClass, ...]) -> Bank:
    """The banks of ``classes`` flown and joined (see :func:`banks`); the classes' own banks are
    not kept beside the joined one (twice the memory, and nothing reads them after)."""
    parts = [_flown(c) for c in classes]
    lp = np.concatenate([b.log_prior for b in parts]) - math.log(len(parts))
    D = np.concatenate([b.impact_range_m for b in parts])
    o = np.argsort(D, kind="stable")      # in order of impact range: P(reach) is a cumulative sum
    return Bank(states=np.ascontiguousarray(np.concatenate([b.states for b in parts])[o].transpose(1, 2, 0),
                                            dtype=np.float32),
                burn_s=np.concatenate([b.burn_s for b in parts])[o], impact_range_m=D[o],
                impact_tau_s=np.concatenate([b.impact_tau_s for b in parts])[o], log_prior=lp[o])
