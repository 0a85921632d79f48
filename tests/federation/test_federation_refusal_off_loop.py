"""A refused partner request is recorded (a ``fed_rejections`` row, an ``item.rejected`` entry)
under the node's write lock, in a worker thread: while a writer holds that lock (a batch being
applied, a retention pass, a CLI share), an unsigned request waits for its record, and every
other request — ``/health`` among them — is still answered."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from accord.api.app import create_app
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
