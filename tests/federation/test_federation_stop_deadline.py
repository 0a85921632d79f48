"""The delivery service's stop waits ``timeout`` seconds in all for its threads, not that long
for each: with several partners' workers stuck (a send to an unresponsive partner) and a head
check still out, a server's stop still ends within the unit's ``TimeoutStopSec``."""

from __future__ import annotations

from types import SimpleNamespace

from accord.federation import Federation
from accord.federation import service

from federation_harness import attached, make_nodes


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


class _Stuck:
    """A thread that never ends: each join takes its whole timeout (on the fake clock)."""

    def __init__(self, clock: _Clock, waits: list[float]) -> None:
        self.clock, self.waits = clock, waits

    def join(self, timeout: float | None = None) -> None:
        assert timeout is not None, "an unbounded join"
        self.waits.append(timeout)
        self.clock.now += timeout

    def is_alive(self) -> bool:
        return True


def test_stuck_workers_and_head_checks_share_one_deadline(tmp_path, monkeypatch):
    nodes = make_nodes(tmp_path, ("JPN", "KOR", "USA"))
    fed = Federation(nodes["JPN"], attached(nodes))
    clock, waits = _Clock(), []
    monkeypatch.setattr(service, "time", SimpleNamespace(monotonic=clock.monotonic))
    for party in ("KOR", "USA", "AUS", "GBR"):
        fed._threads[party] = _Stuck(clock, waits)
    fed._checkers["KOR"] = _Stuck(clock, waits)
    start = clock.now
    try:
        fed.stop(timeout=5.0)
    finally:
        for n in nodes.values():
            n.close()
    assert len(waits) == 5, waits                 # every thread was waited for …
    assert clock.now - start <= 5.0, waits        # … within one 5 s deadline, not 5 s each
    assert waits[0] == 5.0 and waits[1:] == [0.0] * 4, waits
