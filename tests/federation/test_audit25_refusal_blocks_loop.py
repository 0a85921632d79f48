"""An anonymous, unsigned request to a partner route is refused by recording it (a
``fed_rejections`` row and an ``item.rejected`` ledger entry) under the node's write lock — on
the event loop's thread. While any writer holds that lock (a partner's batch being applied, a
retention pass, a CLI share), one unsigned request freezes the whole server: no other request,
not even ``/health``, is answered until the lock is released."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.federation.schema import ensure_node_schema, write_lock


def test_an_unsigned_partner_request_does_not_freeze_the_server_while_the_write_lock_is_held(node_pair):
    kor = node_pair["KOR"]
    ensure_node_schema(kor)
    with TestClient(create_app(kor)) as client:
        assert client.get("/health").status_code == 200
        answers: dict[str, float] = {}

        def ask(name: str, path: str) -> None:
            t0 = time.monotonic()
            client.get(path)
            answers[name] = time.monotonic() - t0

        lock = write_lock(kor)
        lock.acquire()   # a writer busy for 3 s (a 2,000-envelope batch, a retention pass …)
        try:
            anon = threading.Thread(target=ask, args=("anonymous", "/federation/v1/checkpoint"))
            anon.start()
            time.sleep(0.5)   # the anonymous refusal is now waiting for the lock on the event loop
            health = threading.Thread(target=ask, args=("health", "/health"))
            health.start()
            health.join(2.5)
            health_done = "health" in answers
        finally:
            lock.release()
        anon.join(30)
        health.join(30)
    assert health_done, (f"/health was not answered while an anonymous refusal waited for the write lock "
                         f"(answered after {answers.get('health', float('nan')):.1f} s)")
