"""A partner's batch holds at most 10,000 envelopes, and that is checked as it is parsed: a body
of more is refused before the envelopes past the cap are built (a 3-byte ``{}`` parses to a
64-byte dict: 64 MiB of them would take some 2 GB), and the parse runs in a worker thread, so the
event loop answers everyone else meanwhile. The batch reader parses as the strict parser does.
A batch builds at most 1,000,000 arrays and objects, in however few envelopes: one envelope of
``[[],[],…]`` is refused before it is parsed."""

from __future__ import annotations

import threading
import tracemalloc
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

import accord.federation as federation
from accord.api.app import create_app
from accord.core.canonical import parse_json_strict
from accord.core.json_budget import MAX_JSON_CONTAINERS
from accord.errors import InputError
from accord.federation import parse_batch, wire
from accord.federation.batch_json import MAX_BATCH_ENVELOPES
from accord.federation.httpsig import sign_request
from federation_harness import note, now_utc, received

WAIT = 30.0
"""Seconds a step may take at most: never reached unless the event loop is blocked."""


def _flood(element: bytes, size: int, *, wrapped: bool = True) -> bytes:
    n = size // (len(element) + 1)
    array = b"[" + b",".join([element] * n) + b"]"
    return b'{"envelopes":' + array + b"}" if wrapped else array


def test_a_batch_holds_at_most_the_cap_of_envelopes():
    assert MAX_BATCH_ENVELOPES == 10_000
    assert len(parse_batch(b'{"envelopes":[' + b",".join([b"{}"] * MAX_BATCH_ENVELOPES) + b"]}")) == 10_000
    with pytest.raises(InputError, match="at most 10000 envelopes"):
        parse_batch(b'{"envelopes":[' + b",".join([b"{}"] * (MAX_BATCH_ENVELOPES + 1)) + b"]}")


@pytest.mark.parametrize("body", [_flood(b"{}", 2 << 20), _flood(b"[]", 2 << 20), _flood(b'"ab"', 2 << 20),
                                  _flood(b"{}", 2 << 20, wrapped=False)],
                         ids=["objects", "arrays", "strings", "top-level array"])
def test_a_batch_over_the_cap_is_refused_without_building_every_envelope(body):
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="at most 10000 envelopes"):
            parse_batch(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the text decoded once, and 10,000 elements: parsing all of them took some twenty times the body
    assert peak < 2 * len(body), f"refusing a {len(body)}-byte batch took {peak / len(body):.1f}× its size"


@pytest.mark.parametrize("body", [
    b' { "envelopes" : [ {} , {"a": [1, 2.5, "x", null, true]} ] , "more": {"b": []} } ',
    b'{"envelopes":[1,]}', b'{"envelopes":[1 2]}', b'{"envelopes":[{"a":1,"a":2}]}', b'{"envelopes":[],"envelopes":[]}',
    b'{"envelopes":[NaN]}', b'{"envelopes":[1e400]}', b'{"envelopes":[' + b"[" * 101 + b"]" * 101 + b"]}",
    b'{"envelopes":[' + b"[" * 100_000 + b"]}", b'{"x":1,}', b"{x:1}", b'{"envelopes":[1]} x', b"", b'"text"',
    b'\xef\xbb\xbf{"envelopes":[]}', b'{"envelopes":["\\ud800"]}', b'{"envelopes":["\xff"]}',
    b'{"envelopes":[' + b"1" * 5000 + b"]}", b'{"envelopes":["a\x01"]}', b'{"envelopes":{}}', b'{"envelopes":[1',
    '{"envelopes":["é"]}'.encode("utf-16"),
])
def test_the_batch_reader_parses_as_the_strict_parser(body):
    def outcome(parse):
        try:
            data = parse(body)
        except InputError as exc:
            return "refused", str(exc)
        return "parsed", data

    whole = outcome(lambda b: parse_json_strict(b, source="envelope batch"))
    if whole[0] == "parsed" and not (isinstance(whole[1], dict) and isinstance(whole[1].get("envelopes"), list)):
        whole = "refused", 'envelope batch: an envelope batch must be {"envelopes": [...]}'
    elif whole[0] == "parsed":
        whole = "parsed", whole[1]["envelopes"]
    assert outcome(parse_batch) == whole


def test_the_event_loop_answers_while_a_partner_s_batch_is_parsed(node_pair, monkeypatch):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    parsing, release = threading.Event(), threading.Event()
    real = federation.parse_batch

    def held_parse(body):
        parsing.set()
        assert release.wait(WAIT)
        return real(body)
    monkeypatch.setattr(federation, "parse_batch", held_parse)
    body = b'{"envelopes":[' + b",".join([b"{}"] * (MAX_BATCH_ENVELOPES + 1)) + b"]}"
    headers = sign_request(jpn.identity, "POST", "/federation/v1/envelopes", "", body, now_utc(), "KOR")
    with TestClient(create_app(kor)) as client:
        answers: dict[str, object] = {}

        def post() -> None:
            answers["batch"] = client.post("/federation/v1/envelopes", content=body, headers=headers)

        def health() -> None:
            answers["health"] = client.get("/health").status_code
        sender = threading.Thread(target=post)
        sender.start()
        try:
            assert parsing.wait(WAIT)
            asker = threading.Thread(target=health)
            asker.start()
            asker.join(WAIT)
            answered_while_parsing = dict(answers)
        finally:
            release.set()
        sender.join(WAIT)
    assert answered_while_parsing == {"health": 200}, "the server stopped answering while a batch was parsed"
    r = answers["batch"]
    assert r.status_code == 400 and r.json()["detail"]["error"] == "malformed"
    assert "at most 10000 envelopes" in r.json()["detail"]["reason"]
    # refused, and recorded under the partner that sent it
    row = kor.conn.execute("SELECT sender, reason FROM fed_rejections WHERE code = 'unauthenticated'").fetchone()
    assert row[0] == "JPN" and "at most 10000 envelopes" in row[1]


def _one_element(element: bytes, n: int, *, before: bytes = b"") -> bytes:
    """A batch whose last envelope is an array of ``n`` copies of ``element``."""
    return b'{"envelopes":[' + before + b"[" + b",".join([element] * n) + b"]]}"


def test_a_batch_builds_at_most_the_budget_of_arrays_and_objects():
    assert MAX_JSON_CONTAINERS == 1_000_000
    # the batch object, its envelopes array and the envelope itself are three of them
    assert len(parse_batch(_one_element(b"[]", MAX_JSON_CONTAINERS - 3))[0]) == MAX_JSON_CONTAINERS - 3
    with pytest.raises(InputError, match=r"^envelope batch: JSON holds more than 1,000,000 arrays and objects$"):
        parse_batch(_one_element(b"[]", MAX_JSON_CONTAINERS - 2))
    # brackets in strings are text: a batch of them is parsed
    assert parse_batch(_one_element(b'"[{[{"', MAX_JSON_CONTAINERS))[0][0] == "[{[{"


@pytest.mark.parametrize("element", [b"[]", b"{}", b'{"a":0}'], ids=["arrays", "objects", "one-key objects"])
def test_an_envelope_of_tiny_containers_is_refused_before_it_is_built(element):
    body = _one_element(element, (8 << 20) // (len(element) + 1))
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="more than 1,000,000 arrays and objects"):
            parse_batch(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # parsed, the element took some thirty times the body
    assert peak < len(body), f"refusing a {len(body)}-byte batch took {peak / len(body):.1f}× its size"


def test_a_partner_s_batch_with_an_envelope_of_tiny_containers_is_refused_whole(node_pair):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    good = wire.seal_envelope(jpn, note(jpn, 1), "KOR", 1, jpn.clock.now())
    body = _one_element(b"[]", MAX_JSON_CONTAINERS, before=good + b",")
    headers = sign_request(jpn.identity, "POST", "/federation/v1/envelopes", "", body, datetime.now(UTC), "KOR")
    ledger_before = kor.conn.execute("SELECT COUNT(*) FROM ledger_leaves").fetchone()[0]
    with TestClient(create_app(kor)) as client:
        r = client.post("/federation/v1/envelopes", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == {"error": "malformed", "reason":
                                  "envelope batch: JSON holds more than 1,000,000 arrays and objects"}
    # nothing of the batch taken (its good envelope neither), none of its envelopes ledgered: the
    # one entry is the refused request's, as every malformed batch's is
    assert received(kor.dir, "JPN") == []
    assert kor.conn.execute("SELECT COUNT(*) FROM fed_inbox").fetchone()[0] == 0
    leaves = kor.conn.execute("SELECT type, leaf FROM ledger_leaves ORDER BY idx").fetchall()[ledger_before:]
    assert [(t, parse_json_strict(bytes(leaf))["data"]["code"]) for t, leaf in leaves] == [
        ("item.rejected", "unauthenticated")]
    rows = kor.conn.execute("SELECT sender, reason FROM fed_rejections").fetchall()
    assert [(s, "more than 1,000,000 arrays and objects" in reason) for s, reason in rows] == [("JPN", True)]
