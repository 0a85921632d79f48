"""Scenario truth files, written by the simulator and read by scoring and the exercise:
``truth.jsonl`` (:class:`Truth`, every missile's state every whole second) and ``events.jsonl``
(:class:`Event`, one missile's launch, burnout and impact a line) — :func:`read_truth`,
:func:`write_truth`, :func:`read_events`, :func:`write_events`.

The line handling is :mod:`accord.warning.io.jsonl`'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accord.warning.io.jsonl import field_error, jsonl_objects, write_lines


@dataclass(frozen=True)
class Truth:
    """``truth.jsonl`` as arrays: ``t`` (N,), ``ids`` (N,) object, ``state`` (N, 6), ``phase``."""

    t: np.ndarray
    ids: np.ndarray
    state: np.ndarray
    phase: np.ndarray

    def __len__(self) -> int:
        return int(self.t.shape[0])


TRUTH_KEYS = ("x", "y", "z", "vx", "vy", "vz")


def read_truth(path: str | Path) -> Truth:
    """Read ``truth.jsonl`` (``t, id, x, y, z, vx, vy, vz, phase`` every whole second)."""
    t, ids, st, ph = [], [], [], []
    for line, d in jsonl_objects(path, "truth"):
        try:
            t.append(float(d["t"]))
            ids.append(str(d["id"]))
            st.append([float(d[k]) for k in TRUTH_KEYS])
            ph.append(str(d.get("phase", "")))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise field_error(path, line, exc) from None
    return Truth(t=np.asarray(t, dtype=float), ids=np.asarray(ids, dtype=object),
                 state=np.asarray(st, dtype=float).reshape(-1, 6), phase=np.asarray(ph, dtype=object))


@dataclass(frozen=True)
class Event:
    """One missile of ``events.jsonl``: launch, burnout and impact."""

    id: str
    launch_t: float
    launch_lat_deg: float
    launch_lon_deg: float
    burnout_t: float
    impact_t: float
    impact_lat_deg: float
    impact_lon_deg: float
    range_km: float
    apogee_km: float
    lofted: bool

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in EVENT_KEYS}


EVENT_KEYS = ("id", "launch_t", "launch_lat_deg", "launch_lon_deg", "burnout_t", "impact_t",
              "impact_lat_deg", "impact_lon_deg", "range_km", "apogee_km", "lofted")


def read_events(path: str | Path) -> list[Event]:
    """Read ``events.jsonl`` (one missile a line)."""
    out = []
    for line, d in jsonl_objects(path, "events"):
        try:
            out.append(Event(id=str(d["id"]), lofted=bool(d["lofted"]),
                             **{k: float(d[k]) for k in EVENT_KEYS if k not in ("id", "lofted")}))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise field_error(path, line, exc) from None
    return out


def write_truth(path: str | Path, truth: Truth) -> None:
    """Write ``truth.jsonl``."""
    def lines() -> Iterable[str]:
        for t, i, s, ph in zip(truth.t.tolist(), truth.ids.tolist(), truth.state.tolist(),
                               truth.phase.tolist()):
            d = {"t": t, "id": i, **dict(zip(TRUTH_KEYS, s)), "phase": ph}
            yield json.dumps(d)
    write_lines(path, lines())


def write_events(path: str | Path, events: Iterable[Event]) -> None:
    """Write ``events.jsonl``."""
    write_lines(path, (json.dumps(e.to_json()) for e in events))
