"""Seeded-random salvos through the alert engine: the rules hold over many cases, not one (#21).

Each case flies a seeded salvo (:func:`accord.exercise.salvos.random_salvo`: crossing paths,
coastal, overflying and open-sea shots, lofted and depressed ones) and feeds the engine what a
node would see, with the faults that broke alerts before:

* each missile tracked by the node and by a partner (hand-over: the partner sees it first, the
  node later; the partner's predictions arrive late);
* coverage gaps: a track lost (``status: "lost"``) and the missile picked up by a new track;
* identity errors: at a random moment a track carries another missile's prediction (a crossing
  path, a fusion association at the impact second), or a track's id is reused after a restart;
* a node crash: the engine's state goes through :meth:`AlertEngine.snapshot` / JSON /
  :meth:`AlertEngine.restore`, nothing is fed for 20–60 s, and the restarted tracker numbers its
  tracks anew.

Predictions are drawn around the truth with a 95 % ellipse shrinking from ~40 km to ~0.3 km. The
audit (:mod:`accord.warning.alerts.audit`) must find no Cancel for an area the true path still
ends in or crosses, no Alert left open after its threat ends, and no incident that switched to
another missile. The exercise-level version (real radars, tracker, fusion, federation and a
killed node) is in ``tests/exercise/test_exercise_alerts.py``; ``bench/alerts.py`` runs more.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest

from accord.exercise.salvos import random_salvo
from accord.warning.alerts import AlertEngine, AlertRules
from accord.warning.alerts.audit import AlertRecord, audit_alerts, missile_of, missile_threats
from accord.warning.frames import ecef_to_lla
from accord.warning.io import Truth
from accord.warning.sim import LaunchSpec, fly
from accord.warning.types import Ellipse95, Prediction

SENDER = "accord.jpn.example"
STEP_S = 3.0


@functools.lru_cache(maxsize=None)
def flights_of(seed: int, missiles: int) -> tuple:
    """The seeded salvo's flights, solved once a process: every feed of a seed (each party, each
    engine variant the equivalence tests compare) flies the same missiles, and solving them is
    most of a feed's CPU. Flights are frozen and only read."""
    sc = random_salvo(seed, missiles, crash=False, partition=False)
    return tuple(fly(LaunchSpec(id=e.id, launch_t=e.t, launch_lat_deg=e.launch.lat_deg, launch_lon_deg=e.launch.lon_deg,
                                aim_lat_deg=e.aim.lat_deg, aim_lon_deg=e.aim.lon_deg, trajectory=e.profile))
                 for e in sc.launches.explicit)


def truth_of(flights) -> Truth:
    t, ids, st = [], [], []
    for f in flights:
        secs = np.arange(math.ceil(f.launch_t), math.floor(f.impact_t) + 1, dtype=float)
        t.append(secs)
        ids.append(np.full(secs.size, f.spec.id, dtype=object))
        st.append(f.state_at(secs))
    return Truth(np.concatenate(t), np.concatenate(ids), np.concatenate(st),
                 np.full(sum(len(x) for x in t), "ballistic", dtype=object))


class Missile:
    """One flight and a seeded predictor of it."""

    def __init__(self, f, rng: np.random.Generator) -> None:
        self.f, self.rng = f, rng
        ilat, ilon, _ = ecef_to_lla(f.impact_ecef)
        self.impact = (float(ilat), float(ilon))
        self.start = f.burnout_t + rng.uniform(5.0, 25.0)     # first prediction after burnout

    def predict(self, t: float, track: str, status: str = "tracking") -> Prediction:
        f, rng = self.f, self.rng
        frac = max(0.0, (f.impact_t - t) / (f.impact_t - f.launch_t))
        a = 300.0 + 40_000.0 * frac ** 2
        b = a * 0.4
        brg = float(rng.uniform(0, 180))
        e_n = rng.standard_normal(2) * a / 2.45 * 0.6            # well inside the 95 % ellipse
        lat = self.impact[0] + e_n[1] / 111_195.0
        lon = self.impact[1] + e_n[0] / (111_195.0 * math.cos(math.radians(self.impact[0])))
        secs = np.linspace(t, f.impact_t, 24)
        glat, glon, _ = ecef_to_lla(f.state_at(secs)[:, :3])
        return Prediction(t=t, track_id=track, launch_t=f.launch_t, launch_lat_deg=f.spec.launch_lat_deg,
                          launch_lon_deg=f.spec.launch_lon_deg, launch_sigma_m=20_000.0,
                          impact_t=f.impact_t + float(rng.normal(0.0, 1.0 + 6.0 * frac)),
                          impact_t_sigma_s=1.0 + 6.0 * frac,
                          impact_lat_deg=lat, impact_lon_deg=lon, impact_ellipse_95=Ellipse95(a, b, brg),
                          ground_track=tuple(zip(np.round(glat, 5).tolist(), np.round(glon, 5).tolist())),
                          status=status)


def feed(seed: int, missiles: int = 4, party: str = "JPN", geo=None):
    """Run one seeded case through the engine; return (messages, threats)."""
    rng = np.random.default_rng([seed, 21])
    flights = flights_of(seed, missiles)
    ms = [Missile(f, rng) for f in flights]
    rules = AlertRules(party=party)
    eng = AlertEngine(rules, geo, SENDER, "Exercise")
    end = max(f.impact_t for f in flights) + 90.0
    # per missile: the node's own track (with a gap and a new track), the partner's (late, earlier)
    plan = []
    for k, m in enumerate(ms):
        gap0 = rng.uniform(m.start, m.f.impact_t)
        gap1 = gap0 + rng.uniform(10.0, 90.0)
        plan.append({"gap": (gap0, gap1), "own": [f"JPN:T{k + 1}", f"JPN:T{k + 11}"],
                     "partner": f"KOR:T{k + 1}", "partner_until": rng.uniform(m.start, m.f.impact_t),
                     "lost_said": False})
    swap_t = rng.uniform(min(m.start for m in ms), end - 120.0)      # a track carries another missile
    swap = (int(rng.integers(len(ms))), int(rng.integers(len(ms)))) if len(ms) > 1 else (0, 0)
    crash_t = rng.uniform(min(m.start for m in ms), end - 120.0)
    down = rng.uniform(20.0, 60.0)
    generation = 0
    out = []
    t = 0.0
    crashed = False
    while t <= end:
        if not crashed and t >= crash_t:
            state = json.loads(json.dumps(eng.snapshot()))
            crashed, t = True, t + down
            eng = AlertEngine.restore(state, rules, geo, SENDER, "Exercise")
            generation = 1
            continue
        preds = []
        for k, (m, p) in enumerate(zip(ms, plan)):
            if not m.start <= t <= m.f.impact_t:
                continue
            src = k
            if swap[0] != swap[1] and abs(t - swap_t) < STEP_S * 2 and k == swap[0]:
                src = swap[1]  # identity error: the track now carries another missile's arc
            mm = ms[src] if ms[src].start <= t <= ms[src].f.impact_t else m
            g0, g1 = p["gap"]
            own, first = (p["own"][0] if t < g0 else p["own"][1]), p["own"][0]
            own, first = (x.replace("JPN:T", f"JPN:G{generation}T") for x in (own, first))
            if g0 <= t < g1:
                if not p["lost_said"]:
                    preds.append(m.predict(g0 - STEP_S, first, status="lost"))
                    p["lost_said"] = True
            else:
                preds.append(mm.predict(t, own))
            if t <= p["partner_until"] and t >= m.start - 10.0:
                preds.append(mm.predict(max(m.start, t - 2.0), p["partner"]))
        out += eng.on_predictions(preds, t)
        out += eng.on_time(t)
        t += STEP_S
    out += eng.on_time(end + 60.0)
    threats = missile_threats(truth_of(flights), [f.event() for f in flights], geo, rules)
    return out, threats


@functools.lru_cache(maxsize=None)
def case(seed: int):
    """One seeded case, run once for the tests that look at it."""
    from accord.warning.alerts.outlines import geography
    return feed(seed, geo=geography())


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_salvos_never_clear_falsely_always_close_and_never_switch(seed):
    msgs, threats = case(seed)
    audit = audit_alerts([AlertRecord.of(m) for m in msgs], threats)
    assert audit.false_all_clears == [] and audit.never_closed == [] and audit.switched == [], audit
    assert audit.duplicated == [] and audit.realerted == [], audit  # one missile, one incident (#18)
    # the cases are not vacuous: something was threatened and alerted
    if any(th.until for th in threats.values()):
        assert audit.incidents >= 1


def test_the_audit_catches_each_failure():
    """The audit itself: a premature Cancel, a missing Cancel and a switched incident."""
    msgs, threats = case(1)
    recs = [AlertRecord.of(m) for m in msgs]
    threatened = next(r for r in recs if r.msg_type == "Cancel" and any(
        code in th.until for th in threats.values() for code in r.area_codes))
    inc = threatened.incident
    alert = next(r for r in recs if r.incident == inc and r.msg_type == "Alert")
    early = AlertRecord(inc, "Cancel", alert.t + 1.0, "clear-moved", threatened.area_codes,
                        alert.basis_t, alert.basis_lat, alert.basis_lon)
    assert audit_alerts([alert, early], threats).false_all_clears
    assert audit_alerts([alert], threats).never_closed == [inc]
    own = missile_of(threats, alert.basis_t, alert.basis_lat, alert.basis_lon)
    other = next(th for th in threats.values() if th.id != own)
    k = len(other.t) // 2
    mixed = [alert, AlertRecord(inc, "Update", float(other.t[k]), "update", alert.area_codes,
                                float(other.t[k]), float(other.lat[k]), float(other.lon[k]))]
    assert audit_alerts(mixed, threats).switched == [{"incident": inc, "missiles": sorted([own, other.id])}]


def test_an_impact_behind_straight_baselines_far_from_land_threatens_the_nearest_area():
    """Japan's sea behind its straight baselines reaches farther from land than 12 nmi + the
    margin (north of Kyushu, behind Table 1 item 9's lines): an impact there truly threatens the
    nearest area, as the rules count it (docs/alerts.md, "Naming areas by chance"), not no area."""
    from accord.warning.alerts.geography import local_projection, project
    from accord.warning.alerts.outlines import geography

    geo = geography()
    rules = AlertRules(party="JPN")
    f = fly(LaunchSpec(id="B1", launch_t=0.0, launch_lat_deg=36.6, launch_lon_deg=131.2,
                       aim_lat_deg=34.5, aim_lon_deg=130.2))
    ev = f.event()
    pg = geo.party("JPN")
    from shapely.geometry import Point
    imp = Point(ev.impact_lon_deg, ev.impact_lat_deg)
    assert pg.territorial.contains(imp)
    fwd, _ = local_projection(round(ev.impact_lat_deg, 1), round(ev.impact_lon_deg, 1))
    reach = geo.territorial_m + rules.margin_m
    assert min(project(a.geometry, fwd).distance(project(imp, fwd)) for a in pg.areas) > reach
    threats = missile_threats(truth_of([f]), [ev], geo, rules)["B1"]
    nearest = geo.nearest_area("JPN", ev.impact_lon_deg, ev.impact_lat_deg).code
    assert threats.until.get(nearest) == ev.impact_t
