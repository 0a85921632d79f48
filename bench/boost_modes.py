#!/usr/bin/env python3
"""Would the IMM's mode-conditioned states weigh the boost hypotheses better than its combined one?

The tracker gives each boost prediction (:func:`accord.warning.boost.boost_prediction`) the IMM's
moment-matched combined state. Near burnout that mixes the ballistic mode's state (slower: no
thrust) into the boost mode's, so the likelihood leans to hypotheses whose motor stops early
(docs/alerts.md, "Over every boosting track state"). This runs the tracker once over a scenario
(``events.jsonl``, ``truth.jsonl``, ``detections.jsonl``), records for every boost prediction the
tracker's inputs and the IMM's mode states ``X_m, P_m`` and probabilities ``μ_m`` predicted to the
same time, and makes each of the missile's predictions again three ways:

* ``combined`` — the tracker's own (the moment-matched state);
* ``boost`` — the boost mode's state and covariance alone (the plane fitted with them too);
* ``mixture`` — the plane placed as the tracker does (combined state), each hypothesis weighed
  by ``Σ_m μ_m N(x_m − s_h; P_m + Q)`` (each mode's 6-D Gaussian, its normalisation included;
  the mode-wise log-likelihood kernels of :mod:`accord.warning.boost.likelihood` summed).

Per prediction of ``--missile``: the seconds since launch, ``μ_boost`` and, per variant, the
threat chance of the truly threatened areas (path / path moved +3 σ / −3 σ, the boost rule's
lateral test) and whether the rule names them. Then, over every boost prediction of the run put
to the missile whose true position is nearest (within 20 km) while still boosting: per variant,
the share of true impacts inside the 95 % impact ellipse (of the ``--all`` missiles), the mean
and median of the impact-range error in the predicted σ (``z``, honest ≈ N(0, 1)), and the share
of truly threatened area predictions whose lowest chance reached the bar. Usage::

    PYTHONPATH=$PWD .venv/bin/python bench/boost_modes.py ../shared/scenarios/east-sea-10 --missile M010
    PYTHONPATH=$PWD .venv/bin/python bench/boost_modes.py ../shared/scenarios/east-sea-2 --salvos 1-8
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from unittest import mock

import numpy as np

from accord.warning import boost
from accord.warning.alerts import AlertRules
from accord.warning.alerts.audit import missile_threats
from accord.warning.alerts.outlines import geography
from accord.warning.alerts.rules.boost import BOOST_CROSS_K, _shifted, assess_boost, boost_threat_chances
from accord.warning.boost import predict as bp
from accord.warning.boost.likelihood import log_like, plane_quadratic, posterior
from accord.warning.frames import EARTH_RADIUS_M
from accord.warning.io import read_detections, read_events, read_truth
from accord.warning.pipeline import track_detections
from accord.warning.sim import DEFAULT_SENSORS, ScenarioSpec, random_launches, simulate
from accord.warning.tracking import TrackerConfig
from accord.warning.tracking.filters import combine
from accord.warning.tracking.models import BOOST
from accord.warning.tracking.tracker import Tracker
from accord.warning.types import Ellipse95, Prediction

VARIANTS = ("combined", "boost", "mixture", "true-launch", "true-state")


def recorded(sensors, det, config: TrackerConfig) -> list[dict]:
    """Run the tracker; per boost prediction it asks for: its arguments and the mode states of the
    track (``X (2, 9)``, ``P (2, 9, 9)``, ``mu (2,)``) predicted to the same time."""
    calls: list[dict] = []
    mus: dict[int, np.ndarray] = {}
    sel_modes: list = [None]
    made = boost.boost_prediction

    def predicted_copy(self, t, idx):       # Tracker._predicted_copy, keeping the predicted μ
        X, P, mu = self._tracks.X[idx], self._tracks.P[idx], self._tracks.mu[idx]
        dt = t - (self.t if self.t is not None else t)
        if dt != 0.0 and len(idx):
            self._step(X, P, mu, self._tracks.latched[idx], dt)
        x, Pc = combine(X, P, mu)
        mus.clear()
        mus[id(X)] = mu
        return X, P, x, Pc

    rows_at = Tracker._confirmed_rows_at

    def confirmed_rows_at(self, t, sel):
        idx, X, _, _, _ = self._confirmed_at(t)
        q = np.searchsorted(idx, sel)
        mu = mus.get(id(X))
        out = rows_at(self, t, sel)
        sel_modes[0] = (out[0], out[1], None if mu is None else mu[q], out[2])
        return out

    def recording(*args, **kw):
        X, P, mu, x = sel_modes[0]
        q = next(k for k in range(len(x)) if np.array_equal(x[k, 0:6], args[2]))
        calls.append({"args": args, "kw": kw, "X": X[q].copy(), "P": P[q].copy(), "mu": mu[q].copy()})
        return made(*args, **kw)

    with mock.patch.object(Tracker, "_predicted_copy", predicted_copy), \
            mock.patch.object(Tracker, "_confirmed_rows_at", confirmed_rows_at), \
            mock.patch.object(boost, "boost_prediction", recording):
        track_detections(sensors, det, config)
    return calls


def mixture_prediction(t, track_id, x, P, launch_t, launch_lat_deg, launch_lon_deg, launch_sigma_m, *,
                       states=None, modes=()) -> Prediction | None:
    """:func:`accord.warning.boost.boost_prediction` with the likelihood a mixture over ``modes``
    (``(μ_m, x_m, P_m)``): the plane as the tracker places it from ``x, P``."""
    if not launch_sigma_m <= bp.MAX_LAUNCH_SIGMA_M:
        return None
    b = boost.banks(boost.DEFAULT_CLASSES)
    R = EARTH_RADIUS_M
    cl, sl = math.cos(math.radians(launch_lat_deg)), math.sin(math.radians(launch_lat_deg))
    co, so = math.cos(math.radians(launch_lon_deg)), math.sin(math.radians(launch_lon_deg))
    e1 = np.array([cl * co, cl * so, sl])
    x = np.ascontiguousarray(x[0:6], dtype=float)
    P = np.ascontiguousarray(P[0:6, 0:6], dtype=float)
    p = x[0:3].copy()
    h = p - (p @ e1) * e1
    down = math.sqrt(h.dot(h))
    if down < 5_000.0 + 3.0 * launch_sigma_m:
        return None
    if states is None or len(states) < bp.PLANE_FIT_MIN_STATES:
        states = bp._NO_STATES
    sp2 = bp.MODEL_SIGMA_P_M**2 + launch_sigma_m**2
    sig_t = max(bp.LAUNCH_T_SIGMA_MIN_S, bp.LAUNCH_T_SIGMA_PER_3KM_S * launch_sigma_m / 3_000.0)
    e1, e2, s_plane = bp._plane(e1, p, x[3:6].copy(), P, down, float(launch_sigma_m))
    fitted, C = False, np.zeros((3, 3))
    if len(states):
        ok, n, Cf = bp._plane_fit_kernel(np.ascontiguousarray(states[:, 1:4]), np.ascontiguousarray(states[:, 7]), p,
                                         np.ascontiguousarray(P[0:3, 0:3]), bp.PLANE_FIT_CORRELATION)
        if ok:
            fitted, C = True, Cf
            e1 = e1 - (e1 @ n) * n
            e1 /= np.linalg.norm(e1)
            e2 = np.cross(n, e1)
            if p @ e2 < 0.0:
                e2 = -e2
    offs = np.linspace(-2.4 * sig_t, 2.4 * sig_t, 7)
    lp = -0.5 * (offs / sig_t) ** 2
    taus = (t - launch_t) + offs
    Qd = np.diag([sp2] * 3 + [bp.MODEL_SIGMA_V_MS**2] * 3)
    terms, best = [], -np.inf
    for w, xm, Pm in modes:
        if w <= 0.0:
            continue
        S = np.ascontiguousarray(Pm[0:6, 0:6] + Qd)
        M, s_hat, q0 = plane_quadratic(np.ascontiguousarray(xm[0:6], dtype=float), S, e1, e2)
        ll = log_like(b.states, M, s_hat, q0, taus, lp)
        best = max(best, float(ll.max()))     # the tracker's test: some mode within χ²₆ 60
        terms.append(ll + math.log(w) - 0.5 * np.linalg.slogdet(S)[1])
    T = np.array(terms)
    top = T.max(axis=0)
    with np.errstate(invalid="ignore"):
        ll = np.where(np.isfinite(top), top + np.log(np.exp(T - np.where(np.isfinite(top), top, 0.0)).sum(axis=0)),
                      -np.inf)
    _, Dm, sD, tau_m, sT, cw = posterior(ll, b.log_prior, b.impact_range_m, b.impact_tau_s)
    if not best >= -30.0:
        return None
    s_now = math.atan2(float(p @ e2), float(p @ e1)) * R
    glat, glon, reach, t_sig, ilat, ilon, c_ee, c_en, c_nn, ma, mi, bearing = bp._ground_track(
        s_now, e1, e2, R, s_plane, fitted, C, Dm, sD, b.impact_range_m, cw)
    return Prediction(
        t=float(t), track_id=track_id, launch_t=float(launch_t), launch_lat_deg=float(launch_lat_deg),
        launch_lon_deg=float(launch_lon_deg), launch_sigma_m=float(launch_sigma_m), impact_t=launch_t + tau_m,
        impact_lat_deg=ilat, impact_lon_deg=ilon, impact_ellipse_95=Ellipse95(ma, mi, bearing),
        impact_cov_en_m2=(c_ee, c_en, c_en, c_nn), ground_track=tuple(zip(glat.tolist(), glon.tolist())),
        status="boost", impact_t_sigma_s=max(sT, 1.0), reach_prob=tuple(reach.tolist()),
        track_sigma_m=tuple(t_sig.tolist()))


def variant(call: dict, name: str, true_launch_t: float | None = None,
            true_state: np.ndarray | None = None) -> Prediction | None:
    """One recorded boost prediction made again the way ``name`` (:data:`VARIANTS`) says
    (``true-launch``: the combined state with the rise fit's launch time replaced by the truth's
    ``true_launch_t`` — a diagnostic, not a method; ``None`` without it; ``true-state``: the true
    state ``true_state (6,)`` and launch time with the combined covariance — what the bank makes
    of a perfect track as sharp as the tracker's)."""
    args, kw = call["args"], call["kw"]
    if name == "true-state":
        if true_launch_t is None or true_state is None:
            return None
        return boost.boost_prediction(args[0], args[1], np.asarray(true_state, dtype=float), args[3], true_launch_t,
                                      *args[5:], **kw)
    if name == "true-launch":
        if true_launch_t is None:
            return None
        return boost.boost_prediction(args[0], args[1], args[2], args[3], true_launch_t, *args[5:], **kw)
    if name == "combined":
        return boost.boost_prediction(*args, **kw)
    X, P, mu = call["X"], call["P"], call["mu"]
    if name == "boost":
        return boost.boost_prediction(args[0], args[1], X[BOOST, 0:6].copy(), P[BOOST, 0:6, 0:6].copy(), *args[4:], **kw)
    modes = [(float(mu[m]), X[m], P[m]) for m in range(len(mu))]
    return mixture_prediction(*args, **kw, modes=modes)


def impact_check(pred: Prediction, lat: float, lon: float) -> tuple[float, bool]:
    """(the true impact's East-North Mahalanobis distance² from the predicted mean, inside 95 %)."""
    R = EARTH_RADIUS_M
    la0 = math.radians(pred.impact_lat_deg)
    de = math.radians(((lon - pred.impact_lon_deg + 180.0) % 360.0) - 180.0) * R * math.cos(la0)
    dn = math.radians(lat - pred.impact_lat_deg) * R
    C = np.array(pred.impact_cov_en_m2).reshape(2, 2)
    d2 = float(np.array([de, dn]) @ np.linalg.solve(C, np.array([de, dn])))
    return d2, d2 <= 5.991


def truth_at(truth, t: float, p: np.ndarray) -> tuple[str, np.ndarray] | None:
    """(missile, true state (6,)) of the missile whose true position at ``t`` (interpolated between
    its samples) is nearest ``p``, within 20 km; ``None`` if none is."""
    best = None
    for m in np.unique(truth.ids):
        sel = truth.ids == m
        ts = truth.t[sel]
        if not ts[0] <= t <= ts[-1]:
            continue
        s = np.array([np.interp(t, ts, truth.state[sel, i]) for i in range(6)])
        d = float(np.linalg.norm(s[:3] - p))
        if d <= 20_000.0 and (best is None or d < best[0]):
            best = (d, str(m), s)
    return None if best is None else (best[1], best[2])


def along_v(x: np.ndarray, P: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """(speed error along the true velocity m/s, its σ) of the state ``x, P`` against the truth ``s``."""
    u = s[3:6] / np.linalg.norm(s[3:6])
    return float(u @ (x[3:6] - s[3:6])), float(math.sqrt(u @ P[3:6, 3:6] @ u))


def study(calls: list[dict], truth, events: dict, threats: dict, rules: AlertRules, geo, missile: str | None,
          from_s: float, acc: dict) -> None:
    """Make every recorded boost prediction again each way (:data:`VARIANTS`); print ``missile``'s
    lines and add to ``acc``: ``impact`` (variant → (missile, d², inside)), ``nees`` rows, ``first``
    ((missile, variant) → seconds after launch of the first naming of a truly threatened area) and
    ``wrong`` ((missile, variant) → areas named that the missile does not truly threaten)."""
    for call in calls:
        got = truth_at(truth, float(call["args"][0]), np.asarray(call["args"][2][0:3], dtype=float))
        m = None if got is None else got[0]
        e = events.get(m) if m else None
        if e is None:
            continue
        boosting = e.launch_t <= float(call["args"][0]) < e.burnout_t
        st = got[1]
        if boosting:
            row = []
            for x, P in ((call["args"][2], call["args"][3]), (call["X"][BOOST], call["P"][BOOST])):
                d = np.asarray(x[3:6], dtype=float) - st[3:6]
                row += [float(d @ np.linalg.solve(np.asarray(P)[3:6, 3:6], d)), along_v(np.asarray(x), np.asarray(P), st)[0]]
            acc["nees"].append((row[0], row[2], row[1], row[3]))
        preds = {v: variant(call, v, e.launch_t, st) for v in VARIANTS}
        base = preds["combined"]
        if base is None or not base.ground_track:
            continue
        th = threats.get(m)
        true_areas = sorted(set(th.since) | set(th.until)) if th is not None else []
        since = base.t - e.launch_t
        parts = []
        for v, p in preds.items():
            if p is None:
                parts.append(f"{v} —")
                continue
            if boosting:
                d2, inside = impact_check(p, e.impact_lat_deg, e.impact_lon_deg)
                acc["impact"][v].append((f"{acc['tag']}/{m}", d2, inside))
            named = set(assess_boost(p, rules, geo).area_codes)
            if named & set(true_areas) and (m, v) not in acc["first"]:
                acc["first"][(m, v)] = since
            acc["wrong"].setdefault((m, v), set()).update(named - set(true_areas))
            if m == missile:
                ch = [boost_threat_chances(q, rules, geo) for q in (p, _shifted(p, BOOST_CROSS_K), _shifted(p, -BOOST_CROSS_K))]
                parts.append(f"{v} " + ",".join(f"{c} {ch[0].get(c, 0):.2f}/{ch[1].get(c, 0):.2f}/{ch[2].get(c, 0):.2f}"
                                                 + ("*" if c in named else "") for c in true_areas))
        if m == missile and since >= from_s:
            xc, Pc = np.asarray(call["args"][2]), np.asarray(call["args"][3])
            ec, sc = along_v(xc, Pc, st)
            eb, sb = along_v(call["X"][BOOST], call["P"][BOOST], st)
            ea, sa = along_v(call["X"][1 - BOOST], call["P"][1 - BOOST], st)
            print(f"+{since:6.2f} s launch {call['args'][4] - e.launch_t:+.1f} s (σ {call['args'][7] / 1e3:.1f} km) "
                  f"μ_boost {call['mu'][BOOST]:.3f} | " + " | ".join(parts)
                  + f" | speed error (σ) m/s: combined {ec:+.0f} ({sc:.0f}), boost {eb:+.0f} ({sb:.0f}), "
                  f"ballistic {ea:+.0f} ({sa:.0f})")


def self_check(calls: list[dict]) -> float:
    """The largest difference of P(reach) and impact time (s) between the tracker's predictions
    and :func:`mixture_prediction` given the combined state as its one mode (``inf`` where one
    makes a prediction and the other not): the mixture's code is the tracker's but for the sum."""
    worst = 0.0
    for c in calls:
        a, kw = c["args"], c["kw"]
        p0 = boost.boost_prediction(*a, **kw)
        p1 = mixture_prediction(*a, **kw, modes=[(1.0, np.asarray(a[2]), np.asarray(a[3]))])
        if (p0 is None) != (p1 is None):
            return math.inf
        if p0 is not None:
            worst = max(worst, float(np.max(np.abs(np.array(p0.reach_prob) - np.array(p1.reach_prob)))),
                        abs(p0.impact_t - p1.impact_t))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", type=Path, nargs="?", default=None)
    ap.add_argument("--missile", default=None, help="print this missile's predictions (e.g. M010)")
    ap.add_argument("--party", default="JPN")
    ap.add_argument("--from-s", type=float, default=60.0, help="print the missile's predictions from this many s after launch")
    ap.add_argument("--salvos", default="", help="also seeded random salvos on the sample radars, first-last (e.g. 1-4)")
    ap.add_argument("--salvo-missiles", type=int, default=6)
    ap.add_argument("--self-check", action="store_true",
                    help="also check that the mixture code given the combined state as its one mode makes the "
                         "tracker's predictions (largest difference of P(reach) and impact time)")
    a = ap.parse_args()
    geo = geography()
    rules = AlertRules(party=a.party)
    runs = []
    if a.scenario is not None:
        header, det = read_detections(a.scenario / "detections.jsonl")
        runs.append((a.scenario.name, header.sensors, det, read_truth(a.scenario / "truth.jsonl"),
                     read_events(a.scenario / "events.jsonl")))
    if a.salvos:
        lo, hi = (int(x) for x in a.salvos.split("-"))
        for seed in range(lo, hi + 1):
            sim = simulate(ScenarioSpec(DEFAULT_SENSORS, random_launches(seed, a.salvo_missiles), seed=seed))
            runs.append((f"salvo{seed}", sim.header.sensors, sim.detections, sim.truth, sim.events))
    acc: dict = {"impact": {v: [] for v in VARIANTS}, "nees": [], "first": {}, "wrong": {}}
    for tag, sensors, det, truth, evs in runs:
        events = {e.id: e for e in evs}
        threats = missile_threats(truth, list(events.values()), geo, rules)
        calls = recorded(sensors, det, TrackerConfig())
        print(f"{tag}: {len(calls)} boost predictions recorded")
        if a.missile in events:
            ev = events[a.missile]
            th = threats.get(a.missile)
            print(f"{a.missile}: launch t={ev.launch_t:.2f}, burnout +{ev.burnout_t - ev.launch_t:.1f} s; truly threatened "
                  f"({a.party}): {', '.join(sorted(th.since)) if th else 'none'}")
        acc["tag"] = tag
        if a.self_check:
            print(f"{tag}: one-mode mixture against the tracker's predictions: largest difference {self_check(calls):.2e}")
        study(calls, truth, events, threats, rules, geo, a.missile if a.missile in events else None, a.from_s, acc)
        acc["first"] = {(f"{tag}/{k[0]}" if "/" not in k[0] else k[0], k[1]): v for k, v in acc["first"].items()}
        acc["wrong"] = {(f"{tag}/{k[0]}" if "/" not in k[0] else k[0], k[1]): v for k, v in acc["wrong"].items()}
    if acc["nees"]:
        n = np.array(acc["nees"])
        print(f"states while boosting {len(n)}: velocity NEES mean/median combined {n[:, 0].mean():.2f}/{np.median(n[:, 0]):.2f}, "
              f"boost mode {n[:, 1].mean():.2f}/{np.median(n[:, 1]):.2f}; mean speed error along the true velocity "
              f"combined {n[:, 2].mean():+.1f} m/s, boost mode {n[:, 3].mean():+.1f} m/s")
    for v in VARIANTS:
        firsts = {k[0]: t for k, t in acc["first"].items() if k[1] == v}
        wrong = sum(len(w) for k, w in acc["wrong"].items() if k[1] == v)
        rs = acc["impact"][v]
        line = (f"{v}: missiles named in the boost {len(firsts)}, median first naming "
                f"+{np.median(list(firsts.values())) if firsts else math.nan:.1f} s"
                + (f" ({a.missile} +{firsts[k]:.1f} s)" if (k := next((x for x in firsts if x.endswith('/' + str(a.missile))), None)) else "")
                + f"; areas named not truly threatened {wrong}")
        base = {k[0]: t for k, t in acc["first"].items() if k[1] == "combined"}
        both = [firsts[k] - base[k] for k in firsts if k in base]
        if v != "combined":
            line += (f"; against combined: {sum(d < -0.05 for d in both)} earlier, {sum(d > 0.05 for d in both)} later "
                     f"of {len(both)} named by both (mean {np.mean(both) if both else math.nan:+.1f} s), "
                     f"{len(set(firsts) - set(base))} named only this way, {len(set(base) - set(firsts))} only combined")
            moved = [f"{k} {base[k]:+.1f}→{firsts[k]:+.1f} s" for k in sorted(firsts) if k in base
                     and abs(firsts[k] - base[k]) > 0.05]
            if moved:
                line += " (" + ", ".join(moved) + ")"
            only = sorted(set(firsts) - set(base))
            if only:
                line += " (" + ", ".join(f"{k} +{firsts[k]:.1f} s" for k in only) + ")"
        bad = sorted(f"{k[0]}: {', '.join(sorted(w))}" for k, w in acc["wrong"].items() if k[1] == v and w)
        if bad:
            line += f"; named not truly threatened: {'; '.join(bad)}"
        if rs:
            d2 = np.array([r[1] for r in rs])
            line += (f"; boosting predictions {len(rs)} ({len({r[0] for r in rs})} missiles): true impact inside 95 % "
                     f"ellipse {100 * np.mean([r[2] for r in rs]):.0f} %, d² mean {d2.mean():.2f} median {np.median(d2):.2f} "
                     "(honest: 2, 1.39)")
        print(line)


if __name__ == "__main__":
    main()
