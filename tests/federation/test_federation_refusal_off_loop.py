"""A refused partner request is recorded (a ``fed_rejections`` row, an ``item.rejected`` entry)
under the node's write lock, in a worker thread: while a writer holds that lock (a batch being
applied, a retention pass, a CLI share), an unsigned request waits for its record, and every
other request — ``/health`` among them — is still answered. The app's shutdown ends that thread,
after the records still pending, waiting for them a bounded time."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.federation import refusals
from accord.federation.schema import ensure_node_schema, write_lock
from accord.federation.stats import counters

WAIT = 30.0
"""Seconds a step may take at most: never reached unless the event loop is blocked."""


def _until(predicate) -> bool:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _rejections(node) -> int:
    return node.conn.execute("SELECT COUNT(*) FROM fed_rejections WHERE code = 'unauthenticated'").fetchone()[0]


def test_health_is_answered_while_an_unsigned_request_waits_for_the_write_lock(node_pair):
    kor = node_pair["KOR"]
    ensure_node_schema(kor)
    refused_before = counters(kor).auth_failures["partner"]
    with TestClient(create_app(kor)) as client:
        answers: dict[str, int] = {}

        def ask(name: str, path: str) -> None:
            answers[name] = client.get(path).status_code

        lock = write_lock(kor)
        lock.acquire()  # a writer busy for as long as this test wants
        try:
            anonymous = threading.Thread(target=ask, args=("anonymous", "/federation/v1/checkpoint"))
            anonymous.start()
            # refused and admitted for the record: the record now waits for the lock
            assert _until(lambda: counters(kor).auth_failures["partner"] > refused_before)
            health = threading.Thread(target=ask, args=("health", "/health"))
            health.start()
            health.join(WAIT)
            answered_while_held = dict(answers)
        finally:
            lock.release()
        anonymous.join(WAIT)
    assert answered_while_held == {"health": 200}, "the server stopped answering while a refusal waited for the lock"
    # once the lock is free, the refusal is recorded and answered
    assert answers["anonymous"] == 401
    assert _rejections(kor) == 1


def test_refusals_waiting_for_the_lock_are_recorded_in_the_order_they_came(node_pair):
    kor = node_pair["KOR"]
    ensure_node_schema(kor)
    labels = ["first", "second", "third"]
    with TestClient(create_app(kor)) as client:
        threads = []
        lock = write_lock(kor)
        lock.acquire()
        try:
            for label in labels:
                refused_before = counters(kor).auth_failures["partner"]
                headers = {"content-digest": "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
                           "signature-input": f"{label}=1", "signature": f"{label}=:AAAA:"}
                t = threading.Thread(target=client.get, args=("/federation/v1/checkpoint",), kwargs={"headers": headers})
                t.start()
                threads.append(t)
                assert _until(lambda: counters(kor).auth_failures["partner"] > refused_before)
            assert _rejections(kor) == 0  # nothing is written while the lock is held
        finally:
            lock.release()
        for t in threads:
            t.join(WAIT)
    rows = [r[0] for r in kor.conn.execute("SELECT reason FROM fed_rejections WHERE code = 'unauthenticated' "
                                           "ORDER BY id").fetchall()]
    entries = [e.data["reason"] for e in kor.ledger.entries() if e.type == "item.rejected"]
    for recorded in (rows, entries):
        assert len(recorded) == len(labels)
        assert all(f'"{label}"' in reason for label, reason in zip(labels, recorded)), recorded


def _recorders() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(refusals.RECORDER_THREAD)}


def _asker(app, answers: list[int]) -> threading.Thread:
    """A thread making an unsigned request to ``app`` on a test client of its own (its own event
    loop, no lifespan), the answer's status appended to ``answers``. Not on the client whose exit
    stops the app: a test client stopped from another thread while one of its requests is being
    answered can hang for good — the answer's body waits for the requesting thread to read it,
    which the stopped client no longer lets through ("portal is not running"), and the stop
    waits for the answer (what hung 72d6040's version of the test below under load)."""
    return threading.Thread(target=lambda: answers.append(TestClient(app).get("/federation/v1/checkpoint").status_code))


@pytest.fixture
def shutdown_waits(monkeypatch):
    """Set when the app's shutdown has begun waiting for the refusals' records."""
    waiting = threading.Event()
    close = refusals.Recorder.close

    def noted(self, budget=None):
        waiting.set()
        return close(self, budget)

    monkeypatch.setattr(refusals.Recorder, "close", noted)
    return waiting


@dataclass
class Stopping:
    """An app stopping while a refusal's record waits for the write lock (:func:`_stopping`)."""
    closing: threading.Thread  # the app's shutdown (its test client's exit), begun
    recorders: set[threading.Thread]  # the refusals' thread the refusal started
    answers: list[int]  # the refused request's status, once answered
    begun: float  # time.monotonic() as the shutdown began


@contextlib.contextmanager
def _stopping(kor, passed_over: int = 0) -> Iterator[Stopping]:
    """``kor``'s app started, and a writer holding the node's write lock for the whole block: an
    unsigned request is refused, its record queued (waiting for the lock) in the refusals' thread,
    ``passed_over`` more refusals counted only (past the minute's limit, set to 1 here), and the
    app's shutdown begun in a thread. After the block the lock is let go, and the request and the
    shutdown are waited for."""
    ensure_node_schema(kor)
    before = _recorders()
    app = create_app(kor)
    client = TestClient(app)
    client.__enter__()   # its lifespan
    answers: list[int] = []
    lock = write_lock(kor)
    lock.acquire()   # a writer busy: the refusal's record waits in its thread
    try:
        anonymous = _asker(app, answers)
        anonymous.start()
        try:
            assert _until(lambda: len(_recorders() - before) == 1)  # its thread started: the record is queued
            if passed_over:
                with pytest.MonkeyPatch.context() as patch:
                    patch.setattr(refusals, "REFUSALS_PER_MINUTE", 1)  # the queued one took the minute's place
                    for _ in range(passed_over):
                        assert refusals.admit_request_rejection(kor, None, "passed over") is None
            closing = threading.Thread(target=client.__exit__, args=(None, None, None))
            begun = time.monotonic()
            closing.start()
            try:
                yield Stopping(closing, _recorders() - before, answers, begun)
            finally:
                lock.release()
                lock = None
                closing.join(WAIT)
        finally:
            anonymous.join(WAIT)
    finally:
        if lock is not None:
            lock.release()


def test_the_apps_shutdown_writes_the_pending_refusals_and_ends_their_thread(node_pair, monkeypatch,
                                                                              shutdown_waits):
    """An app built per test (or per reload) left its refusals' thread running until the process
    ended. The app's lifespan now ends it, once the refusals still waiting for the write lock are
    recorded: a refusal admitted just before shutdown is in the store afterwards."""
    monkeypatch.setattr(refusals, "RECORD_WAIT_S", WAIT)  # the bound is not what this test is about
    kor = node_pair["KOR"]
    with _stopping(kor) as stop:
        assert shutdown_waits.wait(WAIT)   # the shutdown waits for the record, which waits for the lock
        assert _rejections(kor) == 0 and stop.closing.is_alive()
    assert not stop.closing.is_alive()
    assert stop.answers == [401]
    assert _rejections(kor) == 1
    assert [t for t in stop.recorders if t.is_alive()] == [], "the refusals' thread outlived the app"


def test_the_apps_shutdown_ends_even_while_a_writer_keeps_the_lock(node_pair, monkeypatch, caplog):
    """The shutdown waited for the pending records without bound, and they for the node's write
    lock: a writer that held it on (a long batch or retention pass; under a loaded CI, a slow one)
    held the shutdown as long — it hung. It now waits RECORD_WAIT_S, then drops the records not
    begun (never written later, even once the lock is free), logs their count and ends the thread."""
    monkeypatch.setattr(refusals, "RECORD_WAIT_S", 0.3)
    kor = node_pair["KOR"]
    refused_before = counters(kor).auth_failures["partner"]
    with caplog.at_level(logging.WARNING, logger="accord.federation"), _stopping(kor) as stop:
        stop.closing.join(WAIT)   # the lock still held
        stopped = not stop.closing.is_alive()
        ended = not any(t.is_alive() for t in stop.recorders)
    assert stopped, "the app's shutdown waited for the write lock's holder"
    assert ended, "the refusals' thread outlived the app"
    assert [r.count for r in caplog.records if getattr(r, "event", None) == "refusals.unrecorded"] == [1]
    assert stop.answers == [401]   # refused, and counted, as ever
    assert counters(kor).auth_failures["partner"] == refused_before + 1
    assert _rejections(kor) == 0   # dropped: not written once the lock was free


BUDGET = 2.0
"""The stop's budget for the refusals' records in the one-budget test (5 s in service)."""


def test_the_stops_waits_for_the_refusals_share_one_budget(node_pair, monkeypatch, caplog):
    """Both of the stop's waits for the refusals' records stuck behind a writer that keeps the
    lock: the record queued (the partner routes' stop), and the count of refusals passed over
    (the app's). Each waited RECORD_WAIT_S of its own, one after the other — at least twice the
    bound, on top of ``--grace``, against systemd's TimeoutStopSec. They share it now: the stop
    waits between them no more than the bound: the time each wait is given (what is left of the
    budget when it begins) sums to the bound, whatever the machine's load makes the stop take
    around them; and each count not recorded is logged."""
    monkeypatch.setattr(refusals, "RECORD_WAIT_S", BUDGET)
    given: list[float] = []
    left = refusals.StopBudget.left

    def recorded(self) -> float:
        given.append(left(self))
        return given[-1]

    monkeypatch.setattr(refusals.StopBudget, "left", recorded)
    kor = node_pair["KOR"]
    with caplog.at_level(logging.WARNING, logger="accord.federation"), _stopping(kor, passed_over=3) as stop:
        stop.closing.join(WAIT)   # the lock still held
        stopped = not stop.closing.is_alive()
    assert stopped, "the app's shutdown waited for the write lock's holder"
    assert len(given) >= 2 and given[0] > 0.5 * BUDGET, given   # the first wait was given the budget …
    assert sum(given) <= BUDGET + 0.01, f"the stop's waits were given {given} s: {BUDGET:g} s each, not in all"
    assert sorted(r.count for r in caplog.records if getattr(r, "event", None) == "refusals.unrecorded") == [1, 3]
    assert _rejections(kor) == 0


def _while_locked(kor, step, before=lambda: None):
    """Run ``step`` (a stop's wait) in a thread while a writer holds ``kor``'s write lock (``before``
    run first, under it): (whether it ended while the lock was held — within WAIT —, what it returned)."""
    returned: list = []
    stopping = threading.Thread(target=lambda: returned.append(step()))
    lock = write_lock(kor)
    lock.acquire()   # a writer that does not let go while the server stops
    try:
        before()
        stopping.start()
        stopping.join(WAIT)
        stopped = not stopping.is_alive()
    finally:
        lock.release()
    if stopping.ident is not None:
        stopping.join(WAIT)
    return stopped, returned[0] if returned else None


def test_a_spent_budget_is_not_waited_again(node_pair, monkeypatch):
    """On a clock of the test's, the stop's budget spent by the time both waits come: the queued
    record's and the count's each give up at once, though the lock is held and RECORD_WAIT_S is
    the test's whole WAIT — a wait of its own each would outlast the join below."""
    monkeypatch.setattr(refusals, "RECORD_WAIT_S", WAIT)
    monkeypatch.setattr(refusals, "REFUSALS_PER_MINUTE", 1)
    kor = node_pair["KOR"]
    ensure_node_schema(kor)
    now = [0.0]
    budget = refusals.StopBudget(clock=lambda: now[0])
    assert budget.left() == WAIT
    now[0] = WAIT + 1   # spent (by the grace's requests, say)
    assert budget.left() == 0.0
    recorder = refusals.Recorder(kor)
    write = refusals.admit_request_rejection(kor, None, "queued")
    assert write is not None and refusals.admit_request_rejection(kor, None, "passed over") is None
    queued: list = []
    stopped, results = _while_locked(kor, lambda: [recorder.close(budget), refusals.flush_refusal_count(kor, budget)],
                                     before=lambda: queued.append(recorder.submit(write)))
    assert stopped, "a stop whose budget was spent still waited for the write lock"
    assert results == [1, 0] and queued[0].done()   # the record dropped, the count not recorded
    assert _rejections(kor) == 0


def test_the_count_of_refusals_passed_over_is_logged_if_the_lock_is_held_at_the_stop(node_pair, monkeypatch,
                                                                                     caplog):
    """The app's shutdown records the count of refusals passed over (flush_refusal_count), on the
    event loop: it waited for the write lock without bound. It waits RECORD_WAIT_S, then logs the
    count it could not record."""
    monkeypatch.setattr(refusals, "REFUSALS_PER_MINUTE", 1)
    monkeypatch.setattr(refusals, "RECORD_WAIT_S", 0.3)
    kor = node_pair["KOR"]
    ensure_node_schema(kor)
    assert refusals.admit_request_rejection(kor, None, "the first") is not None  # (its record not written here)
    for _ in range(3):  # past the minute's limit: counted only
        assert refusals.admit_request_rejection(kor, None, "passed over") is None
    with caplog.at_level(logging.WARNING, logger="accord.federation"):
        stopped, flushed = _while_locked(kor, lambda: refusals.flush_refusal_count(kor))
    assert stopped, "the count's record waited for the write lock's holder"
    assert flushed == 0
    assert [r.count for r in caplog.records if getattr(r, "event", None) == "refusals.unrecorded"] == [3]
    assert [e for e in kor.ledger.entries() if e.type == "item.rejected"] == []
