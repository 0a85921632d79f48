"""Seeded random salvos as whole exercises: the cases the alert rules must hold over.

:func:`random_salvo` takes the default trilateral exercise (JPN, KOR and USA nodes; one Korean
and two Japanese radars, whose coverage leaves gaps and hands missiles over between the
partners) and replaces its launches and injects with a seeded draw:

* missiles launched within a few minutes of each other from across North Korea, so their paths
  cross: some aimed into a coastal area's territorial sea (Japan's west coast, Korea's east and
  south coasts), some over northern Japan into the Pacific, some into the open Sea of Japan;
  a share of them lofted or depressed;
* a crash of the JPN node (the one that warns Japan) while missiles fly, restarted 20–60 s
  later, and sometimes of the KOR node too;
* a partition of the JPN–KOR link during the salvo (tracks reach the partner late, or not).

The run lasts until two minutes after the last impact, so every alert has had time to close.
"""

from __future__ import annotations

import math

import numpy as np

from accord.errors import InputError
from accord.exercise.scenario import Scenario, builtin_text, parse_scenario
from accord.warning.sim import LaunchSpec, fly

#: Points in a territorial sea (5–15 km off the coast) that salvos aim at, (lat, lon).
COASTAL_AIMS = ((43.3, 140.0), (42.1, 139.95), (41.0, 139.85), (39.7, 139.9), (38.3, 138.2),
                (37.95, 138.95), (37.3, 136.6), (36.3, 133.1), (35.62, 132.75), (35.55, 134.3),
                (34.45, 130.75), (33.6, 130.1), (37.6, 129.2), (36.0, 129.6), (35.3, 129.4),
                (34.3, 126.4), (37.45, 130.95))
LAUNCH_BOX = ((38.7, 40.8), (124.9, 128.3))
OVERFLIGHT_BOX = ((38.0, 43.0), (142.5, 147.0))
SEA_BOX = ((37.0, 42.5), (131.0, 137.0))


def _launches(rng: np.random.Generator, missiles: int, window_s: float) -> list[dict]:
    out: list[dict] = []
    while len(out) < missiles:
        la, lo = rng.uniform(*LAUNCH_BOX[0]), rng.uniform(*LAUNCH_BOX[1])
        u = rng.random()
        if u < 0.45:
            aa, ao = COASTAL_AIMS[int(rng.integers(len(COASTAL_AIMS)))]
            aa, ao = aa + rng.uniform(-0.04, 0.04), ao + rng.uniform(-0.04, 0.04)
        elif u < 0.7:
            aa, ao = rng.uniform(*OVERFLIGHT_BOX[0]), rng.uniform(*OVERFLIGHT_BOX[1])
        else:
            aa, ao = rng.uniform(*SEA_BOX[0]), rng.uniform(*SEA_BOX[1])
        v = rng.random()
        profile = "lofted" if v < 0.25 else "depressed" if v < 0.35 else "minimum-energy"
        mid, t = f"S{len(out) + 1:02d}", round(float(rng.uniform(0.0, window_s)), 1)
        la, lo, aa, ao = (round(float(x), 4) for x in (la, lo, aa, ao))
        try:  # a draw no trajectory of that profile reaches is drawn again
            flight = fly(LaunchSpec(id=mid, launch_t=t, launch_lat_deg=la, launch_lon_deg=lo,
                                    aim_lat_deg=aa, aim_lon_deg=ao, trajectory=profile))
        except InputError:
            continue
        out.append({"id": mid, "t": t, "launch": {"lat_deg": la, "lon_deg": lo},
                    "aim": {"lat_deg": aa, "lon_deg": ao}, "profile": profile, "impact_t": flight.impact_t})
    return out


def random_salvo(seed: int, missiles: int = 6, *, window_s: float = 180.0, crash: bool = True,
                 partition: bool = True) -> Scenario:
    """A seeded salvo exercise (module docstring); the same seed gives the same scenario."""
    rng = np.random.default_rng([seed, 2121])
    base = parse_scenario(builtin_text("trilateral-warning"), source="trilateral-warning").model_dump(mode="json")
    launches = _launches(rng, missiles, window_s)
    last_impact = max(s.pop("impact_t") for s in launches)
    duration = float(math.ceil(last_impact + 120.0))
    injects: list[dict] = []
    if crash:
        t = float(rng.uniform(0.35, 0.85) * last_impact)
        injects.append({"t": round(t, 1), "type": "node_crash", "node": "JPN",
                        "restart_after_s": round(float(rng.uniform(20.0, 60.0)), 1)})
        if rng.random() < 0.5:
            injects.append({"t": round(float(rng.uniform(0.3, 0.8) * last_impact), 1), "type": "node_crash",
                            "node": "KOR", "restart_after_s": round(float(rng.uniform(20.0, 60.0)), 1)})
    links = base["links"]
    if partition:
        start = float(rng.uniform(60.0, 0.7 * last_impact))
        links[0]["partitions"] = [{"start_s": round(start, 1),
                                   "end_s": round(start + float(rng.uniform(30.0, 150.0)), 1)}]
    doc = {**base, "name": f"salvo-{seed}", "seed": int(seed), "duration_s": duration,
           "description": f"Seeded random salvo {seed}: {missiles} missiles, crossing paths, "
                         f"{'a node crash, ' if crash else ''}{'a JPN-KOR partition' if partition else 'no partition'}",
           "launches": {"explicit": launches}, "links": links, "injects": injects}
    return Scenario.model_validate(doc)
