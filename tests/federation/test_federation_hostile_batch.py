"""What an authenticated partner's malformed envelopes leave behind: refusals recorded under the
partner that delivered them (never an originator the envelope merely claims), claimed sequence
numbers and ids kept only when they are storable, and the rest of the batch applied — a claimed
``seq`` of 10**30 or a dict for an originator used to fail the whole batch's commit (503,
retried for ever)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.core.canonical import parse_json_strict
from accord.federation import wire
from accord.federation.httpsig import sign_request
from federation_harness import note, received


@pytest.fixture
def pair(node_pair):
    """JPN's and KOR's nodes (conftest's ``node_pair``) and a client of KOR's app."""
    return node_pair["JPN"], node_pair["KOR"], TestClient(create_app(node_pair["KOR"]), raise_server_exceptions=True)


def _post(client, jpn, body: bytes):
    headers = sign_request(jpn.identity, "POST", "/federation/v1/envelopes", "", body, datetime.now(UTC), "KOR")
    return client.post("/federation/v1/envelopes", content=body, headers=headers)


def _rejected(kor) -> list[dict]:
    return [parse_json_strict(bytes(r[0]))["data"] for r in
            kor.conn.execute("SELECT leaf FROM ledger_leaves WHERE type='item.rejected' ORDER BY idx")]


def test_a_malformed_envelope_is_recorded_under_the_partner_that_delivered_it(pair):
    jpn, kor, client = pair
    r = _post(client, jpn, json.dumps({"envelopes": [{"originator": "USA", "seq": 5}]}).encode())
    assert r.status_code == 200, r.text
    assert [(x["status"], x["code"]) for x in r.json()["receipts"]] == [("rejected", "malformed")]
    assert [(e["from"], e["seq"]) for e in _rejected(kor)] == [("JPN", 5)]
    assert [tuple(x) for x in kor.conn.execute("SELECT sender, seq FROM fed_rejections")] == [("JPN", 5)]


def test_unstorable_claims_are_dropped_and_the_rest_of_the_batch_is_applied(pair):
    jpn, kor, client = pair
    item = note(jpn, 1)
    good = json.loads(wire.seal_envelope(jpn, item, "KOR", 1, jpn.clock.now()))
    forged_huge = {**good, "seq": 10**30}  # well formed, but its signature no longer holds
    hostile = [{"originator": "JPN", "seq": 10**30}, {"originator": {"a": [1]}, "seq": "zz"},
               {"originator": "JPN", "seq": 1.5}, {"originator": "JPN", "seq": True},
               {"originator": "X" * 100_000, "seq": -(10**30)}, {"originator": "JPN", "seq": 3, "item": {"id": "i" * 5000}},
               forged_huge]
    body = json.dumps({"envelopes": [*hostile, good]}).encode()
    r = _post(client, jpn, body)
    assert r.status_code == 200, r.text
    receipts = r.json()["receipts"]
    assert [x["status"] for x in receipts] == ["rejected"] * len(hostile) + ["stored"]
    assert [x["seq"] for x in receipts[:len(hostile)]] == [None, None, None, None, None, 3, None]
    assert received(kor.dir, "JPN") == [(1, item.id)]
    events = _rejected(kor)
    assert len(events) == len(hostile) and {e["from"] for e in events} == {"JPN"}
    assert all(e["seq"] is None or type(e["seq"]) is int for e in events)
    rows = kor.conn.execute("SELECT sender, seq FROM fed_rejections").fetchall()
    assert {r[0] for r in rows} == {"JPN"} and all(r[1] is None or type(r[1]) is int for r in rows)
    assert max(len(e["reason"]) for e in events) <= 500
    kor.ledger.verify()


def test_a_refusal_of_megabyte_values_is_stored_and_answered_short(pair):
    """An envelope whose format or originator is 1 MB, or which has 10,000 unknown fields: the
    reason quoted them whole, and fed_rejections kept it (1 MB a row) beside the receipt."""
    jpn, kor, client = pair
    good = json.loads(wire.seal_envelope(jpn, note(jpn, 1), "KOR", 1, jpn.clock.now()))
    hostile = [{**good, "format": "f" * 1_000_000}, {**good, "originator": "O" * 1_000_000},
               {**good, **{f"x{i}": 1 for i in range(10_000)}}]
    r = _post(client, jpn, json.dumps({"envelopes": hostile}).encode())
    assert r.status_code == 200 and len(r.content) < 10_000, len(r.content)
    assert [x["code"] for x in r.json()["receipts"]] == ["malformed"] * 3
    stored = [len(row[0]) for row in kor.conn.execute("SELECT reason FROM fed_rejections")]
    assert len(stored) == 3 and max(stored) <= 500, stored


def test_a_batch_holding_a_lone_surrogate_is_refused_whole_in_one_line(pair):
    jpn, kor, client = pair
    r = _post(client, jpn, b'{"envelopes": [{"originator": "\\ud800", "seq": 1}]}')
    assert r.status_code == 400 and "lone surrogate" in r.json()["detail"]["reason"], r.text


def test_a_claimed_seq_a_database_holds_but_rfc_8785_cannot_is_dropped_not_the_batch(pair):
    """A 64-bit ``seq`` above 2**53 fits the rejection row but not the ``item.rejected`` entry's
    canonical JSON (RFC 8785's exact integers): kept, it failed the whole batch's commit (503)."""
    jpn, kor, client = pair
    item = note(jpn, 1)
    good = json.loads(wire.seal_envelope(jpn, item, "KOR", 1, jpn.clock.now()))
    hostile = [{"originator": "JPN", "seq": 2**60}, {**good, "seq": -(2**62)}, {**good, "seq": 2**53}]
    r = _post(client, jpn, json.dumps({"envelopes": [*hostile, good]}).encode())
    assert r.status_code == 200, r.text
    receipts = r.json()["receipts"]
    assert [(x["status"], x["seq"]) for x in receipts] == [("rejected", None)] * 3 + [("stored", 1)]
    assert received(kor.dir, "JPN") == [(1, item.id)]
    assert [e["seq"] for e in _rejected(kor)] == [None, None, None]
    kor.ledger.verify()
