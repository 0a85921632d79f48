"""Track-to-track fusion of a node's own tracks with partners' shared tracks.

Partners' tracks and a node's own tracks may share information (common process noise, and in a
federation possibly the same radar data relayed twice), so their cross-covariance is unknown.
Covariance intersection (Julier & Uhlmann, 1997) is consistent for *any* cross-correlation:

    P⁻¹ = ω P₁⁻¹ + (1 − ω) P₂⁻¹,     x = P (ω P₁⁻¹ x₁ + (1 − ω) P₂⁻¹ x₂),

with ω ∈ [0, 1] chosen to minimise trace(P) (a scalar, bounded search).

Association: partner tracks, propagated to the fusion time with the ballistic model, are matched
to own tracks by the Mahalanobis distance of the position difference under P₁ + P₂, gated at the
χ²(3) 99.9 % quantile, by optimal assignment (Hungarian method, ``linear_sum_assignment``).
Unmatched own tracks stay as they are; unmatched partner tracks enter the fused picture as
partner-only tracks (that is the value of sharing: coverage the node's own radars lack).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment, minimize_scalar
from scipy.stats import chi2

from accord.errors import InputError
from accord.warning.frames import MU
from accord.warning.types import TrackState

GATE_3D_999 = float(chi2.ppf(0.999, 3))


@dataclass(frozen=True)
class FusedTrack:
    """A track in the fused picture: state, covariance and where it came from."""

    track_id: str
    t: float
    x: np.ndarray  # (6,) ECEF position and velocity
    P: np.ndarray  # (6, 6)
    sources: tuple[str, ...]  # e.g. ("JPN:T3", "KOR:T1")

    def to_state(self) -> TrackState:
        x, y, z, vx, vy, vz = map(float, self.x)
        return TrackState(self.t, self.track_id, x, y, z, vx, vy, vz, cov=tuple(map(float, self.P.ravel())))


def _as_xp(track: TrackState) -> tuple[np.ndarray, np.ndarray]:
    if track.cov is None:
        raise InputError(f"track {track.track_id} has no covariance; it cannot be fused", field="cov")
    x = np.array([track.x, track.y, track.z, track.vx, track.vy, track.vz], dtype=float)
    P = np.asarray(track.cov, dtype=float).reshape(6, 6)
    return x, 0.5 * (P + P.T)


def propagate(x: np.ndarray, P: np.ndarray, dt: float, *, q: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Propagate a ballistic state by ``dt`` seconds under inverse-square gravity.

    State by RK4; covariance by the first-order transition ``F = I + A dt`` with
    ``A = [[0, I], [G, 0]]`` and the gravity gradient ``G = -μ/r³ (I − 3 r̂ r̂ᵀ)``, plus white
    acceleration noise of spectral density ``q`` (m²/s³) to cover unmodelled thrust.
    """
    if dt == 0.0:
        return x.copy(), P.copy()

    def f(s: np.ndarray) -> np.ndarray:
        r = s[:3]
        return np.concatenate([s[3:], -MU * r / np.linalg.norm(r) ** 3])

    n = max(1, int(np.ceil(abs(dt) / 1.0)))
    h = dt / n
    s = x.astype(float).copy()
    for _ in range(n):
        k1 = f(s)
        k2 = f(s + 0.5 * h * k1)
        k3 = f(s + 0.5 * h * k2)
        k4 = f(s + h * k3)
        s = s + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    r = x[:3]
    rn = np.linalg.norm(r)
    u = r / rn
    G = -MU / rn**3 * (np.eye(3) - 3.0 * np.outer(u, u))
    F = np.eye(6)
    F[:3, 3:] = np.eye(3) * dt
    F[3:, :3] = G * dt
    adt = abs(dt)
    Q = q * np.block([[np.eye(3) * adt**3 / 3, np.eye(3) * adt**2 / 2],
                      [np.eye(3) * adt**2 / 2, np.eye(3) * adt]])
    Pn = F @ P @ F.T + Q
    return s, 0.5 * (Pn + Pn.T)


def covariance_intersection(x1: np.ndarray, P1: np.ndarray, x2: np.ndarray,
                            P2: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Fuse two estimates with unknown cross-correlation; returns (x, P, ω)."""
    I1 = np.linalg.inv(P1)
    I2 = np.linalg.inv(P2)

    def trace_of(w: float) -> float:
        return float(np.trace(np.linalg.inv(w * I1 + (1.0 - w) * I2)))

    res = minimize_scalar(trace_of, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-4})
    w = float(res.x)
    # The bounded search never evaluates the end points; take them when they are better.
    for end in (0.0, 1.0):
        if trace_of(end) < trace_of(w):
            w = end
    P = np.linalg.inv(w * I1 + (1.0 - w) * I2)
    P = 0.5 * (P + P.T)
    x = P @ (w * I1 @ x1 + (1.0 - w) * I2 @ x2)
    return x, P, w


def fuse(own: Sequence[TrackState], partner: Sequence[tuple[str, TrackState]], t: float, *,
         own_party: str, gate: float = GATE_3D_999) -> list[FusedTrack]:
    """Fuse a node's own tracks with partners' tracks at time ``t``.

    ``partner`` holds ``(party, track)`` pairs, each track at its own time (≤ ``t``); they are
    propagated to ``t`` first. Partner tracks of several partners are fused one partner at a time.
    """
    picture: list[FusedTrack] = []
    for tr in own:
        x, P = _as_xp(tr)
        x, P = propagate(x, P, t - tr.t)
        picture.append(FusedTrack(f"{own_party}:{tr.track_id}", t, x, P, (f"{own_party}:{tr.track_id}",)))

    by_party: dict[str, list[TrackState]] = {}
    for party, tr in partner:
        by_party.setdefault(party, []).append(tr)

    for party in sorted(by_party):
        incoming = []
        for tr in by_party[party]:
            x, P = _as_xp(tr)
            x, P = propagate(x, P, t - tr.t)
            incoming.append((f"{party}:{tr.track_id}", x, P))
        if not incoming:
            continue
        if picture:
            cost = np.full((len(picture), len(incoming)), 1e9)
            for i, ft in enumerate(picture):
                for j, (_, x, P) in enumerate(incoming):
                    d = ft.x[:3] - x[:3]
                    S = ft.P[:3, :3] + P[:3, :3]
                    m2 = float(d @ np.linalg.solve(S, d))
                    if m2 <= gate:
                        cost[i, j] = m2
            rows, cols = linear_sum_assignment(cost)
            matched = {(r, c) for r, c in zip(rows, cols) if cost[r, c] < 1e9}
        else:
            matched = set()
        used = set()
        for i, j in matched:
            ft = picture[i]
            name, x, P = incoming[j]
            xf, Pf, _ = covariance_intersection(ft.x, ft.P, x, P)
            picture[i] = FusedTrack(ft.track_id, t, xf, Pf, ft.sources + (name,))
            used.add(j)
        for j, (name, x, P) in enumerate(incoming):
            if j not in used:
                picture.append(FusedTrack(name, t, x, P, (name,)))
    return picture
