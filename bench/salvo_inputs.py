"""A salvo exercise's alert-engine inputs, recorded once and replayed under the rules as they are
(``bench/alerts.py --record DIR`` / ``--replay DIR``).

A salvo exercise (:func:`accord.exercise.salvos.random_salvo`) takes a minute of CPU, nearly all
of it the simulation, the trackers and the federation; the alert rules see only what each
party's engine is fed: at each tick the predictions (its own tracks' and its partners' shared
ones) and the time. :func:`recording` keeps exactly that, per party, while the exercise runs;
:func:`write` puts it in a gzipped JSON-lines file (one header line, then one line per engine
call); :func:`replay` feeds it to a fresh engine per party with the rules of the code that
replays it, and returns messages in the exercise log's shape, so the same audit
(``bench/alerts.py``'s ``party_figures``) judges them — a change of the alert rules is measured
on the held-out salvos in seconds instead of an hour. The truth is the salvo's own simulation
(seeded), made again on replay without running the exercise.

One engine per party runs the whole replay: a node crash in the exercise restores its engine from
the snapshot the node kept (:meth:`AlertEngine.restore`), which carries on the same incidents,
so the replay's messages are the run's; ``bench/alerts.py --replay`` prints the same figures as
the run that recorded them (checked over salvo seeds 25–56).
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from accord.warning.alerts.engine import AlertEngine
from accord.warning.types import Prediction

FORMAT = "accord-alert-inputs/1"

#: one engine call: (party, now_t, the predictions fed, or None for ``on_time``)
Call = tuple[str, float, "list[Prediction] | None"]


@contextlib.contextmanager
def recording() -> Iterator[list[Call]]:
    """Every :class:`AlertEngine`'s ``on_predictions`` / ``on_time`` call while the block runs,
    in order, as (party, now_t, predictions | None)."""
    calls: list[Call] = []
    on_predictions, on_time = AlertEngine.on_predictions, AlertEngine.on_time

    def rec_predictions(self: AlertEngine, preds: Any, now_t: float) -> list:
        preds = list(preds)
        calls.append((self.rules.party, float(now_t), preds))
        return on_predictions(self, preds, now_t)

    def rec_time(self: AlertEngine, now_t: float) -> list:
        calls.append((self.rules.party, float(now_t), None))
        return on_time(self, now_t)

    AlertEngine.on_predictions = rec_predictions  # type: ignore[method-assign]
    AlertEngine.on_time = rec_time  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        AlertEngine.on_predictions = on_predictions  # type: ignore[method-assign]
        AlertEngine.on_time = on_time  # type: ignore[method-assign]


def path_for(directory: Path, seed: int, missiles: int) -> Path:
    return directory / f"salvo-{seed}-{missiles}.jsonl.gz"


def write(path: Path, seed: int, missiles: int, calls: list[Call]) -> None:
    """The calls of one salvo run, written whole to a temporary file and renamed (a crash leaves
    no half file under the name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"format": FORMAT, "seed": seed, "missiles": missiles}) + "\n")
        for party, t, preds in calls:
            f.write(json.dumps({"party": party, "t": t,
                                "preds": None if preds is None else [p.to_json() for p in preds]}) + "\n")
    tmp.replace(path)


def read(path: Path) -> tuple[dict, list[Call]]:
    """The header and the calls of a file :func:`write` wrote; a clear error for anything else."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            header = json.loads(f.readline())
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise ValueError(f"{path}: not an {FORMAT} file")
            calls: list[Call] = []
            for line in f:
                d = json.loads(line)
                preds = d["preds"]
                calls.append((str(d["party"]), float(d["t"]),
                              None if preds is None else [Prediction.from_json(p) for p in preds]))
    except (OSError, EOFError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: cannot read recorded alert inputs ({e})") from None
    return header, calls


def replay(calls: list[Call], party: str, epoch: Any) -> list[dict[str, Any]]:
    """Feed ``party``'s recorded calls to a fresh engine with today's rules; its messages as the
    exercise log keeps them (the fields :class:`accord.warning.alerts.audit.AlertRecord` reads)."""
    from accord.exercise.alerting import make_engine

    engine = make_engine(party, status="Exercise", sender=f"{party.lower()}@accord.replay", epoch=epoch)
    log = []
    for p, t, preds in calls:
        if p != party:
            continue
        for m in (engine.on_predictions(preds, t) if preds is not None else engine.on_time(t)):
            b = m.basis
            log.append({"incident": m.incident, "msg_type": m.msg_type, "t": t, "reason": m.reason,
                        "area_codes": list(m.area_codes), "party": party,
                        "basis": None if b is None else
                        {"t": b.t, "lat": b.ground_track[0][0] if b.ground_track else None,
                         "lon": b.ground_track[0][1] if b.ground_track else None}})
    return log
