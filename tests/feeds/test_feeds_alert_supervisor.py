"""The alert process's supervision policy (:class:`accord.feeds.alert_proc.AlertProcess`), on
stand-in children: no spawn, no database, so each death comes as fast as the policy allows.
The end-to-end restarts (a real child killed mid-feed) are in test_feeds_alert_restart.py."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from accord.feeds import alert_proc
from accord.feeds.alert_proc import AlertProcess, AlertProcessDied


class _DeadChild:
    """A child that has already ended, killed by SIGKILL."""

    pid = 4242
    exitcode = -9

    def join(self, timeout: float | None = None) -> None:
        pass

    def is_alive(self) -> bool:
        return False

    def kill(self) -> None:
        pass


class _Pipe:
    def close(self) -> None:
        self.closed = True

    def send(self, _msg: object) -> None:
        pass


class _Store:
    """The ingest's store, as far as the supervisor writes it: the restarts it counts."""

    counted = 0

    def count_alert_restart(self) -> None:
        self.counted += 1


def _supervisor(restarts: int, window_s: float, reads) -> AlertProcess:
    """An AlertProcess whose children are stand-ins and whose reads come from ``reads``."""
    ap = AlertProcess.__new__(AlertProcess)
    ap.ingest = SimpleNamespace(store=_Store())  # type: ignore[assignment]
    ap.max_restarts, ap.window_s = restarts, window_s
    ap.error, ap.cpu_seconds, ap._cpu_before, ap.restarts = None, 0.0, 0.0, 0
    ap._recent, ap._deaths_since_commit = [], 0
    ap._lock, ap._stop = threading.Lock(), threading.Event()
    ap._finishing = ap._abandoning = False
    ap.proc, ap._in, ap._out = _DeadChild(), _Pipe(), _Pipe()

    def start() -> None:
        ap.proc, ap._in, ap._out = _DeadChild(), _Pipe(), _Pipe()

    ap._start = start  # type: ignore[method-assign]
    ap._read = reads.__get__(ap)  # type: ignore[method-assign]
    return ap


def _run(ap: AlertProcess) -> None:
    t = threading.Thread(target=ap._supervise, daemon=True)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "the supervisor never gave up"


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alert_proc, "BACKOFF_S", 0.0)


def test_a_child_that_dies_before_any_commit_every_time_is_given_up_however_slowly_it_dies() -> None:
    # window 0 s: the deaths are "far apart", so the window alone would restart forever
    deaths = []

    def reads(self: AlertProcess) -> None:
        deaths.append(1)
        return None

    ap = _supervisor(restarts=3, window_s=0.0, reads=reads)
    _run(ap)
    assert isinstance(ap.error, AlertProcessDied)
    assert ap.restarts == 3 and len(deaths) == 4
    assert ap.ingest.store.counted == 3   # each restart counted in the node's database (its /metrics)
    assert "3 since its last commit" in str(ap.error) and "SIGKILL" in str(ap.error)


def test_a_commit_between_deaths_resets_the_count() -> None:
    # each child commits once before it dies: far-apart deaths of a child that works are
    # restarted, until a child dies with no commit restarts + 1 times in a row
    n = []

    def reads(self: AlertProcess) -> None:
        n.append(1)
        if len(n) <= 6:
            self._deaths_since_commit = 0   # what a ("done", …) message does in _read
        return None

    ap = _supervisor(restarts=2, window_s=0.0, reads=reads)
    _run(ap)
    assert isinstance(ap.error, AlertProcessDied)
    # 6 children committed then died (each restarted); the 6th's death and the next two have no
    # commit between them: restarts + 1 = 3 deaths in a row, given up at the 8th
    assert len(n) == 8 and ap.restarts == 7 and ap.ingest.store.counted == 7


def test_a_failure_of_the_supervisor_itself_fails_the_ingest_and_closes_the_pipe() -> None:
    def reads(self: AlertProcess) -> None:
        raise RuntimeError("unpickling error")

    ap = _supervisor(restarts=3, window_s=600.0, reads=reads)
    pipe = ap._in
    _run(ap)
    assert isinstance(ap.error, AlertProcessDied)
    assert "supervisor failed" in str(ap.error) and "unpickling error" in str(ap.error)
    assert getattr(pipe, "closed", False)
    with pytest.raises(AlertProcessDied):
        ap.check()


def test_a_restart_the_database_cannot_count_does_not_stop_the_ingest(caplog: pytest.LogCaptureFixture) -> None:
    # the restart counter (the node's /metrics) meets a database blip: the restarted child goes
    # on, the ingest is not failed, and one warning says the count was missed
    from accord.errors import StoreUnavailable

    n = []

    def reads(self: AlertProcess) -> None:
        n.append(1)
        if len(n) == 2:   # the restarted child: the supervisor stops here (as on an abandon)
            self._abandoning = True
        return None

    ap = _supervisor(restarts=3, window_s=600.0, reads=reads)

    def blip() -> None:
        raise StoreUnavailable("PostgreSQL at postgresql://db/x is unavailable")

    ap.ingest.store.count_alert_restart = blip  # type: ignore[attr-defined]
    _run(ap)
    assert ap.error is None and ap.restarts == 1 and len(n) == 2
    assert any("not counted in the node's metrics" in r.getMessage() for r in caplog.records)
