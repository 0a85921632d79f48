"""Limits on what an unauthenticated client can make a node do: the partner API reads at most
MAX_REQUEST_BYTES before the signature is checked, refused requests are recorded at most
REFUSALS_PER_MINUTE a minute, and a sender's batches stop growing at MAX_BATCH_BYTES."""

from __future__ import annotations

from fastapi.testclient import TestClient

import accord.api.partner as partner
import accord.federation.refusals as refusals
import accord.federation.service as service
from accord.api.app import create_app
from accord.api.deps import create_token
from accord.federation.httpsig import sign_request
from federation_harness import ledger_events, now_utc


def test_oversized_partner_request_is_refused_before_it_is_read(node_pair, monkeypatch):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    monkeypatch.setattr(partner, "MAX_REQUEST_BYTES", 2000)
    size = kor.ledger.size
    with TestClient(create_app(kor)) as client:
        big = b'{"envelopes":[' + b" " * 5000 + b"]}"
        headers = sign_request(jpn.identity, "POST", "/federation/v1/envelopes", "", big, now_utc(), "KOR")
        r = client.post("/federation/v1/envelopes", content=big, headers=headers)
        assert r.status_code == 413 and r.json()["detail"]["error"] == "too_large"

        def chunks():  # no Content-Length: the cap applies while reading
            for _ in range(10):
                yield b" " * 500
        r = client.post("/federation/v1/envelopes", content=chunks(), headers=headers)
        assert r.status_code == 413
        # a request under the cap is read and judged as before (here: a valid, empty batch)
        small = b'{"envelopes":[]}'
        headers = sign_request(jpn.identity, "POST", "/federation/v1/envelopes", "", small, now_utc(), "KOR")
        r = client.post("/federation/v1/envelopes", content=small, headers=headers)
        assert r.status_code == 200
    assert kor.ledger.size == size  # nothing oversized reached the ledger


def test_refusals_are_recorded_at_most_so_many_a_minute(node_pair, monkeypatch):
    kor = node_pair["KOR"]
    monkeypatch.setattr(refusals, "REFUSALS_PER_MINUTE", 5)
    clock = [1000.0]
    monkeypatch.setattr(refusals.time, "monotonic", lambda: clock[0])
    for i in range(12):
        refusals.record_request_rejection(kor, None, f"forged #{i}")
    events = ledger_events(kor.dir, "item.rejected")
    assert len(events) == 5
    assert kor.conn.execute("SELECT COUNT(*) FROM fed_rejections").fetchone()[0] == 5
    clock[0] += 61  # a new minute: the next refusal is recorded with the count of those skipped
    refusals.record_request_rejection(kor, None, "forged again")
    events = ledger_events(kor.dir, "item.rejected")
    assert len(events) == 6 and events[-1]["suppressed_before"] == 7
    reason = kor.conn.execute("SELECT reason FROM fed_rejections ORDER BY id DESC").fetchone()[0]
    assert "+7 earlier refusals" in reason


def test_refusals_are_recorded_at_most_so_many_a_day_as_well(node_pair, monkeypatch):
    """30 a minute alone would still let a steady flood add 43,200 ledger entries a day."""
    kor = node_pair["KOR"]
    monkeypatch.setattr(refusals, "REFUSALS_PER_MINUTE", 5)
    monkeypatch.setattr(refusals, "REFUSALS_PER_DAY", 8)
    clock = [1000.0]
    monkeypatch.setattr(refusals.time, "monotonic", lambda: clock[0])

    def minute_of_refusals(n: int) -> None:
        for i in range(n):
            refusals.record_request_rejection(kor, None, f"forged #{i}")
        clock[0] += 61

    minute_of_refusals(6)  # 5 recorded, 1 counted
    minute_of_refusals(6)  # 3 recorded (the first with that count: the day's 8 are used up), 3 counted
    minute_of_refusals(6)  # a new minute, but the same day: all 6 counted
    assert len(ledger_events(kor.dir, "item.rejected")) == 8
    clock[0] += 86400  # the next day: recorded again, with the count of all those skipped
    refusals.record_request_rejection(kor, "JPN", "expired")
    events = ledger_events(kor.dir, "item.rejected")
    assert len(events) == 9 and events[-1]["suppressed_before"] == 3 + 6
    assert (events[-1]["from"], events[-1]["signer"]) == ("JPN", "JPN")
    assert kor.conn.execute("SELECT COUNT(*) FROM fed_rejections").fetchone()[0] == 9


def test_batches_stop_growing_at_the_byte_cap(monkeypatch):
    monkeypatch.setattr(service, "MAX_BATCH_BYTES", 1000)
    rows = [(i, b"x" * 300) for i in range(1, 10)]
    assert [s for s, _ in service._cap_bytes(rows)] == [1, 2, 3]  # 3 × 301 ≤ 1000 < 4 × 301
    huge = [(1, b"x" * 5000), (2, b"y")]
    assert service._cap_bytes(huge) == [(1, b"x" * 5000)]  # never empty: one envelope always goes
    assert service._cap_bytes([]) == []


def test_every_route_refuses_bodies_over_the_app_limit(node_pair, monkeypatch):
    import accord.api.app as app_module

    monkeypatch.setattr(app_module, "MAX_BODY_BYTES", 1000)
    token = create_token(node_pair["KOR"].conn, "ops", "KOR", {"items:write"})
    auth = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    with TestClient(create_app(node_pair["KOR"])) as client:
        # an authenticated request is read up to the app's cap
        r = client.post("/api/v1/items", content=b"x" * 5000, headers=auth)
        assert r.status_code == 413
        # an anonymous one is refused on its token, whatever its size
        r = client.post("/api/v1/items", content=b"x" * 5000, headers={"Content-Type": "application/json"})
        assert r.status_code == 401


def test_a_flood_followed_by_silence_leaves_its_count_when_the_server_stops(node_pair, monkeypatch):
    kor = node_pair["KOR"]
    monkeypatch.setattr(refusals, "REFUSALS_PER_MINUTE", 2)
    with TestClient(create_app(kor)) as client:
        for _ in range(7):  # unsigned requests: refused, 2 recorded, 5 counted
            assert client.post("/federation/v1/envelopes", content=b"{}").status_code == 401
    events = ledger_events(kor.dir, "item.rejected")
    assert len(events) == 3 and events[-1]["suppressed_before"] == 5
    assert refusals.flush_refusal_count(kor) == 0  # nothing left to flush
