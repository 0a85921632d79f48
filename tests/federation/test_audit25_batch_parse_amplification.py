"""A pinned partner's batch is parsed whole — every envelope a Python object — before the
10,000-envelope cap is checked, and on the event loop's thread. 64 MiB of ``{},{},…`` (the body
cap) parse to 22 million dicts: ~2 GB of memory and ~8 s during which the server answers nobody
(up to MAX_IN_FLIGHT = 4 such requests queued per partner). Smaller bodies show the same at scale."""

from __future__ import annotations

import threading
import time
import tracemalloc

from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.errors import InputError
from accord.federation import parse_batch
from accord.federation.httpsig import sign_request
from federation_harness import now_utc

BODY_BYTES = 6 * 1024 * 1024


def _flood(size: int) -> bytes:
    n = (size - 20) // 3
    return b'{"envelopes":[' + b'{},' * (n - 1) + b'{}]}'


def test_a_batch_over_the_envelope_cap_is_refused_without_building_every_envelope():
    body = _flood(2 * 1024 * 1024)
    tracemalloc.start()
    try:
        try:
            parse_batch(body)
        except InputError:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 2 MiB of body: refusing it should not take more than a few times its size
    assert peak < 8 * len(body), f"refusing a {len(body)}-byte batch took {peak / len(body):.0f}× its size"


def test_a_partner_s_large_batch_does_not_freeze_the_server(node_pair):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    body = _flood(BODY_BYTES)
    headers = sign_request(jpn.identity, "POST", "/federation/v1/envelopes", "", body, now_utc(), "KOR")
    with TestClient(create_app(kor)) as client:
        assert client.get("/health").status_code == 200
        took: dict[str, float] = {}

        def batch() -> None:
            took["batch"] = time.monotonic()
            took["status"] = client.post("/federation/v1/envelopes", content=body, headers=headers).status_code
            took["batch"] = time.monotonic() - took["batch"]

        sender = threading.Thread(target=batch)
        sender.start()
        time.sleep(0.3)   # the body is sent and being parsed
        t0 = time.monotonic()
        assert client.get("/health").status_code == 200
        health = time.monotonic() - t0
        sender.join(60)
    assert took["status"] == 400
    assert health < 0.25, f"/health took {health:.2f} s while a partner's batch was parsed (batch: {took['batch']:.2f} s)"
