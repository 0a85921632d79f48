"""Accord's tracker position RMSE against the posterior Cramér–Rao bound, one clean missile.

One ballistic missile from Accord's simulator, seen by the three sample radars with ``pd = 1`` and
no clutter. Monte-Carlo runs differ only in the measurement noise (seeds); the flight is the same.
Accord's tracker (``accord.warning.pipeline.track_detections``) runs on each; its position error
at every whole second is compared with the bound at that second.

**Bound.** The recursive posterior CRLB of Tichavský, Muravchik & Nehorai, "Posterior Cramér–Rao
bounds for discrete-time nonlinear filtering", IEEE Trans. SP 46(5), 1998, eqs. (21)–(22), for
``x_{k+1} = f(x_k) + w_k``, ``w_k ~ N(0, Q_k)``, ``z_k = h(x_k) + v_k``, ``v_k ~ N(0, R)``:

    J_{k+1} = D22 − D21 (J_k + D11)^{-1} D12,
    D11 = F_kᵀ Q_k⁻¹ F_k,  D12 = D21ᵀ = −F_kᵀ Q_k⁻¹,  D22 = Q_k⁻¹ + H_{k+1}ᵀ R⁻¹ H_{k+1},

with the Jacobians ``F_k = ∂f/∂x``, ``H = ∂h/∂x`` taken on the true trajectory (the flight is
deterministic, so the expectations are exact there). ``J₀``: no information before the
first detection but the tracker's own prior on velocity and thrust (:data:`PRIOR_SIGMA_V`,
:data:`PRIOR_SIGMA_A`). The bound on position error is ``sqrt(tr [J⁻¹]_pos)``, reported where ``J`` is
invertible, causally (information from measurements at or before that second).

**State: the thrust is unknown.** ``x = [p, v, a]`` (ECEF position, velocity and the thrust
acceleration), ``ṗ = v``, ``v̇ = g(p) + a``, ``ȧ = j(t)``: the simulator's thrust
(``a₀/(1 − f τ/t_b)`` along its pitch programme) is a deterministic function of time that no
tracker is told, so its value is a state to estimate. ``F = expm(A Δt)``,
``A = [[0, I, 0], [G, 0, I], [0, 0, 0]]`` in the boost, with the gravity gradient
``G = −μ/r³ (I − 3 r̂ r̂ᵀ)``; after burnout the thrust no longer acts (the ``I`` coupling ``a`` into
``v̇`` is dropped, ``a`` stays a decoupled nuisance). The truth has no process noise (``Q = 0``: the
rate of change ``j(t)`` of the thrust is a known input to the bound, ``∂j/∂x`` — of order
``|a|/|r|`` — neglected), so the D-form reduces to ``J_{k+1} = F⁻ᵀ J_k F⁻¹ + Hᵀ R⁻¹ H``.

What the bound assumes beyond what a tracker knows, so that it stays a *lower* bound: the thrust's
rate of change ``j(t)`` and the burnout instant are known exactly; only the thrust vector itself
(three numbers) is unknown. An earlier form of this bench treated the thrust as *known* up to a
white acceleration of density ``q_boost`` (25 m²/s³) on a 6-state (p, v): that is not the
simulated flight — its missile has no random acceleration, and its thrust of ~40 m/s² is not
known to the tracker — and it put the bound 25–40 % too low in the boost and the first 10 s after
burnout (e.g. 543 m instead of 903 m 20 s before burnout), where the unknown thrust dominates;
from 30 s after burnout on both forms agree to 1 %. ``--q-jerk`` adds a white jerk of that
density on ``a`` in the boost (a thrust that wanders; ``0``, the default, is the tightest bound).

Run: ``.venv/bin/python bench/crlb.py [--runs 20] [--seed 1] [--told-burnout]``. The ratios are of
RMS values over a phase's tracked seconds (``sqrt(Σ err² / Σ bound²)``, every run and second
weighted alike), so the seconds with the largest errors — the first ten after burnout, one radar
far off — dominate the ballistic phase's figure; the windows line breaks it down.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time

import numpy as np
from scipy.linalg import expm

from accord.warning.frames import MU, gravity
from accord.warning.io import Sensor
from accord.warning.tracking import TrackerConfig
from accord.warning.sim import DEFAULT_SENSORS, Flight, LaunchSpec, ScenarioSpec, fly, in_coverage, simulate, solve_launch

#: The prior information ``J₀`` at the first detection: none on position, and on velocity and
#: thrust the tracker's own prior for a new track (``TrackerConfig.sigma_v_init`` /
#: ``sigma_a_init``) — the Bayesian bound holds for an estimator given the same prior; without it
#: the 9-state bound is barely invertible for the first ~10 s and no tracker's start compares.
PRIOR_SIGMA_V = TrackerConfig.sigma_v_init
PRIOR_SIGMA_A = TrackerConfig.sigma_a_init

LAUNCH = LaunchSpec(id="M001", launch_t=5.0, launch_lat_deg=39.7, launch_lon_deg=126.4,
                    aim_lat_deg=41.2, aim_lon_deg=134.6)


def transition(r: np.ndarray, dt: float, thrust: bool = False) -> np.ndarray:
    """Linearised transition of ``[p, v, a]`` over ``dt`` at ECEF position ``r``: ``expm(A dt)``
    (9×9); ``thrust`` couples the thrust acceleration ``a`` into ``v̇`` (the boost)."""
    rn = np.linalg.norm(r)
    u = r / rn
    G = -MU / rn**3 * (np.eye(3) - 3.0 * np.outer(u, u))
    A = np.zeros((9, 9))
    A[:3, 3:6] = np.eye(3)
    A[3:6, :3] = G
    if thrust:
        A[3:6, 6:9] = np.eye(3)
    return expm(A * dt)


def white_jerk_Q(q: float, dt: float) -> np.ndarray:
    """Discrete noise of a white jerk of density ``q`` on ``a`` over ``dt`` (9×9, [p, v, a] blocks)."""
    I = np.eye(3)
    return q * np.block([[dt**5 / 20 * I, dt**4 / 8 * I, dt**3 / 6 * I],
                         [dt**4 / 8 * I, dt**3 / 3 * I, dt**2 / 2 * I],
                         [dt**3 / 6 * I, dt**2 / 2 * I, dt * I]])


def measurement_jacobian(sensor: Sensor, p: np.ndarray) -> np.ndarray:
    """``∂(range, az, el)/∂[p, v, a]`` at ECEF position ``p`` (3×9; zero but for ``p``)."""
    B = sensor.basis
    e, n, u = B @ (p - sensor.ecef)
    rh2 = e * e + n * n
    rh = math.sqrt(rh2)
    rho2 = rh2 + u * u
    rho = math.sqrt(rho2)
    Jd = np.array([[e / rho, n / rho, u / rho],
                   [n / rh2, -e / rh2, 0.0],
                   [-u * e / (rho2 * rh), -u * n / (rho2 * rh), rh / rho2]])
    H = np.zeros((3, 9))
    H[:, :3] = Jd @ B
    return H


def burnout_thrust(flight: Flight) -> np.ndarray:
    """The thrust acceleration (m/s², ECEF) just before burnout: the flight's total acceleration
    there (left limit) less gravity."""
    k = int(np.argmin(np.abs(flight.t - flight.burnout_t)))
    return flight.a_end[k - 1] - gravity(flight.r[k])


def pcrlb(flight: Flight, sensors: tuple[Sensor, ...], seconds: np.ndarray, q_jerk: float = 0.0,
          prior_sigma_v: float = PRIOR_SIGMA_V, prior_sigma_a: float = PRIOR_SIGMA_A,
          burnout_sigma_s: float = 0.0) -> np.ndarray:
    """Position bound (m) at each whole second in ``seconds`` (NaN before J is invertible).

    Measurements: every scan of every sensor while the missile is in its coverage (pd = 1).
    ``burnout_sigma_s`` > 0: the burnout instant is unknown too, with a Gaussian prior of that σ.
    To first order a burnout ``δ`` later is a velocity impulse ``a_b δ`` at burnout (``a_b`` the
    thrust then; measurements before burnout do not depend on ``δ``), so the step across burnout
    gains ``Q_b = σ² g gᵀ``, ``g = [a_b (t_{k+1} − t_b); a_b; 0]``, and ``J ← (F J⁻¹ Fᵀ + Q_b)⁻¹``.
    """
    a_b = burnout_thrust(flight)
    events = []  # (time, sensor index) of each measurement
    for si, s in enumerate(sensors):
        scans = s.scan_offset_s + s.scan_period_s * np.arange(int(flight.impact_t / s.scan_period_s) + 2)
        scans = scans[(scans >= flight.launch_t) & (scans <= flight.impact_t)]
        ok = in_coverage(s, flight.state_at(scans)[:, :3])
        events += [(float(t), si) for t in scans[ok]]
    events.sort()
    first = events[0][0]
    out = np.full(len(seconds), np.nan)
    J = np.diag([0.0] * 3 + [prior_sigma_v**-2] * 3 + [prior_sigma_a**-2] * 3)
    t = first
    queue = [(tm, "meas", si) for tm, si in events] + [(float(w), "out", -1) for w in seconds if w >= first]
    queue.sort(key=lambda e: (e[0], e[1] == "out"))  # measurements at w come before the output at w
    index = {float(w): i for i, w in enumerate(seconds)}
    for tm, kind, si in queue:
        dt = tm - t
        if dt > 0:
            x = flight.state_at(np.array([t]))[0]
            boost = t < flight.burnout_t
            F = transition(x[:3], dt, thrust=boost)
            if boost and q_jerk > 0.0:
                Qi = np.linalg.inv(white_jerk_Q(q_jerk, dt))
                D11 = F.T @ Qi @ F
                D12 = -F.T @ Qi
                J = Qi - D12.T @ np.linalg.solve(J + D11, D12)
            else:
                Fi = np.linalg.inv(F)
                J = Fi.T @ J @ Fi
            if burnout_sigma_s > 0.0 and t < flight.burnout_t <= tm:
                g = np.concatenate([a_b * (tm - flight.burnout_t), a_b, np.zeros(3)])
                J = np.linalg.inv(np.linalg.inv(J) + burnout_sigma_s**2 * np.outer(g, g))
            J = 0.5 * (J + J.T)
            t = tm
        if kind == "meas":
            s = sensors[si]
            H = measurement_jacobian(s, flight.state_at(np.array([tm]))[0, :3])
            J = J + H.T @ np.linalg.solve(s.R, H)
        else:
            try:
                C = np.linalg.inv(J)
            except np.linalg.LinAlgError:
                continue
            v = np.trace(C[:3, :3])
            if np.isfinite(v) and v > 0 and np.linalg.cond(J) < 1e16:
                out[index[tm]] = math.sqrt(v)
    return out


def told_burnout_tracker(burnout_t: float) -> type:
    """A :class:`~accord.warning.tracking.Tracker` told the burnout instant (a diagnostic, ``--told-burnout``):
    the boost model alone before it (ballistic-mode probability pinned to ~0), and at it the boost
    model's position and velocity handed to the ballistic model alone (latched, no thrust window).
    What the IMM's detection of the burnout costs is the difference from the plain tracker."""
    from accord.warning.tracking import Tracker

    class ToldBurnout(Tracker):
        def _pin(self, t: float) -> None:
            if t < burnout_t and self.n_tracks:
                self._tracks.mu[:, 0] = 1e-12
                self._tracks.mu[:, 1] = 1.0 - 1e-12

        def _predict_to(self, t: float) -> None:
            if self.t is not None and self.t < burnout_t <= t and self.n_tracks:
                super()._predict_to(burnout_t)
                X, P = self._tracks.X, self._tracks.P
                X[:, 0, :6] = X[:, 1, :6]
                X[:, 0, 6:] = 0.0
                P[:, 0] = 0.0
                P[:, 0, :6, :6] = P[:, 1, :6, :6]
                P[:, 0, 6:, 6:] = np.eye(3) * 1e-6
                self._tracks.mu[:] = (1.0, 0.0)
                self._tracks.latched[:] = True
            super()._predict_to(t)
            self._pin(t)

        def process_validated(self, t: float, s: int, z: np.ndarray) -> None:
            super().process_validated(t, s, z)
            self._pin(t)

    return ToldBurnout


#: Windows of time since burnout (s) the ballistic phase is broken into: the bound falls fast after
#: burnout, so the first seconds hold most of the phase's squared error.
WINDOWS = ((0.0, 10.0), (10.0, 20.0), (20.0, 40.0), (40.0, math.inf))


@dataclasses.dataclass(frozen=True)
class MonteCarlo:
    """Squared position errors of ``runs`` noise seeds at each whole second, and the bound there."""

    flight: Flight
    seconds: np.ndarray
    sq: np.ndarray        # Σ over runs of the squared error (runs that reported a track)
    n: np.ndarray         # runs that reported a track at that second
    bound: np.ndarray     # PCRLB position σ (m)
    runs: int
    wall_s: float

    def phases(self) -> list[tuple[str, float, float, int]]:
        """(phase, RMSE m, RMS bound m, seconds) for the boost, the ballistic arc and the flight."""
        since = self.seconds - self.flight.burnout_t
        out = []
        for name, m in (("boost", since < 0), ("ballistic", since >= 0), ("whole flight", since > -1e9)):
            ok = m & (self.n > 0) & np.isfinite(self.bound)
            if ok.sum():
                r = math.sqrt(np.sum(self.sq[ok]) / np.sum(self.n[ok]))
                b = math.sqrt(np.sum(self.bound[ok] ** 2 * self.n[ok]) / np.sum(self.n[ok]))
                out.append((name, r, b, int(ok.sum())))
        return out

    def windows(self) -> list[tuple[float, float, float, float]]:
        """(from, to s after burnout, RMSE / RMS bound, share of the ballistic phase's squared
        error) for each of :data:`WINDOWS`."""
        since = self.seconds - self.flight.burnout_t
        ok = (self.n > 0) & np.isfinite(self.bound)
        total = np.sum(self.sq[ok & (since >= 0)])
        out = []
        for lo, hi in WINDOWS:
            m = ok & (since >= lo) & (since < hi)
            if m.sum():
                r = math.sqrt(np.sum(self.sq[m]) / np.sum(self.n[m]))
                b = math.sqrt(np.sum(self.bound[m] ** 2 * self.n[m]) / np.sum(self.n[m]))
                out.append((lo, hi, r / b, float(np.sum(self.sq[m]) / total)))
        return out


def monte_carlo(runs: int, seed: int = 1, q_jerk: float = 0.0, progress: bool = False,
                told_burnout: bool = False) -> MonteCarlo:
    """Track the clean missile ``runs`` times (noise seeds ``seed, seed + 1, …``) against the bound
    (``told_burnout``: with :func:`told_burnout_tracker`)."""
    from unittest import mock

    from accord.warning import pipeline

    sensors = tuple(dataclasses.replace(s, pd=1.0, clutter_per_scan=0.0) for s in DEFAULT_SENSORS)
    spec = solve_launch(LAUNCH)
    flight = fly(spec)
    seconds = np.arange(math.ceil(flight.launch_t), math.floor(flight.impact_t) + 1, dtype=float)
    truth = flight.state_at(seconds)
    bound = pcrlb(flight, sensors, seconds, q_jerk)
    sq = np.zeros(len(seconds))
    n = np.zeros(len(seconds))
    t0 = time.perf_counter()
    for k in range(runs):
        res = simulate(ScenarioSpec(sensors, (spec,), seed=seed + k))
        if told_burnout:
            with mock.patch.object(pipeline, "Tracker", told_burnout_tracker(flight.burnout_t)):
                out = pipeline.track_detections(res.header.sensors, res.detections)
        else:
            out = pipeline.track_detections(res.header.sensors, res.detections)
        by_t: dict[float, list] = {}
        for tr in out.tracks:
            by_t.setdefault(tr.t, []).append((tr.x, tr.y, tr.z))
        for i, w in enumerate(seconds):
            if w in by_t:
                d = np.linalg.norm(np.asarray(by_t[w]) - truth[i, :3], axis=1).min()
                sq[i] += d * d
                n[i] += 1
        if progress:
            print(f"  run {k + 1}/{runs}: {len(res.detections)} detections, {len(out.tracks)} track points",
                  file=sys.stderr, flush=True)
    return MonteCarlo(flight, seconds, sq, n, bound, runs, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="Monte-Carlo runs")
    ap.add_argument("--seed", type=int, default=1, help="first noise seed")
    ap.add_argument("--q-jerk", type=float, default=0.0,
                    help="boost-phase white jerk density on the thrust for the bound (m²/s⁵; 0: tightest)")
    ap.add_argument("--burnout-sigma", type=float, default=0.0,
                    help="also report a bound with the burnout instant unknown, prior σ in s (0: not)")
    ap.add_argument("--told-burnout", action="store_true",
                    help="diagnostic: the tracker is told the burnout instant (told_burnout_tracker)")
    args = ap.parse_args(argv)
    mc = monte_carlo(args.runs, args.seed, args.q_jerk, progress=True, told_burnout=args.told_burnout)
    flight, seconds, sq, n, bound = mc.flight, mc.seconds, mc.sq, mc.n, mc.bound
    ev = flight.event()
    print(f"missile: {ev.range_km:.0f} km, apogee {ev.apogee_km:.0f} km, launch {ev.launch_t:.1f} s, "
          f"burnout {ev.burnout_t:.1f} s, impact {ev.impact_t:.1f} s; radars pd=1, no clutter")
    with np.errstate(invalid="ignore", divide="ignore"):
        rmse = np.sqrt(sq / n)
    since = seconds - flight.burnout_t
    print(f"{args.runs} Monte-Carlo runs in {mc.wall_s:.1f} s")
    print(f"{'t since launch':>15} {'since burnout':>14} {'tracked':>8} {'RMSE m':>9} {'bound m':>9} {'ratio':>6}")
    picks = sorted({flight.burnout_t - 20, *[flight.burnout_t + d for d in (1, 10, 30, 60, 120, 200)],
                    flight.impact_t - 30})
    for tp in picks:
        i = int(np.argmin(np.abs(seconds - round(tp))))
        print(f"{seconds[i] - flight.launch_t:15.0f} {since[i]:14.0f} {n[i] / args.runs:8.0%} {rmse[i]:9.1f} "
              f"{bound[i]:9.1f} {rmse[i] / bound[i]:6.2f}")
    for name, r, b, k in mc.phases():
        label = name if name == "whole flight" else f"{name} (tracked seconds)"
        print(f"{label}: RMSE {r:.1f} m, RMS bound {b:.1f} m, ratio {r / b:.2f} (issue #18 target ≤ 1.15), {k} s")
    print("ballistic phase by time since burnout (ratio, share of its squared error):",
          ", ".join(f"{lo:.0f}–{hi:.0f} s {q:.2f} ({sh:.0%})" if math.isfinite(hi) else f"≥ {lo:.0f} s {q:.2f} ({sh:.0%})"
                    for lo, hi, q, sh in mc.windows()))
    if args.burnout_sigma > 0.0:
        sensors = tuple(dataclasses.replace(s, pd=1.0, clutter_per_scan=0.0) for s in DEFAULT_SENSORS)
        alt = dataclasses.replace(mc, bound=pcrlb(flight, sensors, seconds, args.q_jerk,
                                                  burnout_sigma_s=args.burnout_sigma))
        print(f"with the burnout instant unknown too (prior σ {args.burnout_sigma:g} s), bound m / ratio:",
              ", ".join(f"{since[i]:+.0f} s {alt.bound[i]:.1f} / {rmse[i] / alt.bound[i]:.2f}"
                        for i in (int(np.argmin(np.abs(seconds - round(tp)))) for tp in picks)))
        for name, r, b, k in alt.phases():
            print(f"  {name}: RMS bound {b:.1f} m, ratio {r / b:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
