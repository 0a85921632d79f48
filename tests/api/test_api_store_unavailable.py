"""Every route that needs the node's database while it is away (a PostgreSQL restart, a failover)
answers 503 with ``Retry-After: 1`` and says only that — user and dialogue APIs in the API's
error shape ``{"detail": {"error": "unavailable", "message": …}}``, the partner API with the
``reason`` every partner refusal carries besides, TAXII in its own error form — never where the
database is; the log names it. (The same against a real server stopped
under the node: tests/federation/test_federation_store_outage.py, tests/store/test_store_postgres_restart.py.)"""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.api.deps import UNAVAILABLE_MESSAGE, create_token
from accord.errors import StoreUnavailable
from accord.federation.httpsig import sign_request
from accord.federation.tokens import TOKENS_DDL
from accord.logs import Throttle
from accord.store.sqlite import ensure_schema

from federation_harness import make_nodes

WHERE = "PostgreSQL at postgresql://accord@db-7.internal:5432/accord_jpn"


def away(*args, **kwargs):
    raise StoreUnavailable(f"{WHERE} is unavailable (connection refused); nothing was committed, retry")


@pytest.fixture(autouse=True)
def fresh_log_throttle(monkeypatch):
    """The 503 lines are throttled per process (6 a minute): each test starts with none spent."""
    monkeypatch.setattr("accord.api.deps._unavailable_log", Throttle(per_minute=6))


@pytest.fixture
def nodes(tmp_path):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    yield nodes
    for n in nodes.values():
        n.close()


def assert_unavailable(r, caplog) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert "db-7" not in r.text and "accord_jpn" not in r.text and "5432" not in r.text
    assert any("db-7.internal" in rec.getMessage() for rec in caplog.records), "the log does not name the server"
    caplog.clear()


def test_user_and_dialogue_routes_answer_the_api_error_shape(nodes, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="accord.api")
    jpn = nodes["JPN"]
    ensure_schema(jpn.conn, TOKENS_DDL)
    secret = create_token(jpn.conn, "ops", "JPN", {"items:read", "dialogue:read"})
    bearer = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(jpn)) as client:
        monkeypatch.setattr(jpn, "get_item", away)                    # a user route's own read
        r = client.get("/api/v1/items/JPN:test.note:1", headers=bearer)
        assert_unavailable(r, caplog)
        assert r.json() == {"detail": {"error": "unavailable", "message": UNAVAILABLE_MESSAGE}}

        from accord.dialogue.store import DialogueStore
        monkeypatch.setattr(DialogueStore, "list_series", away)     # a dialogue route's
        r = client.get("/api/v1/dialogue/series", headers=bearer)
        assert_unavailable(r, caplog)
        assert r.json() == {"detail": {"error": "unavailable", "message": UNAVAILABLE_MESSAGE}}

        monkeypatch.setattr("accord.api.deps.authenticate_token", away)  # the token lookup itself
        r = client.get("/api/v1/items", headers=bearer)
        assert_unavailable(r, caplog)
        assert r.json() == {"detail": {"error": "unavailable", "message": UNAVAILABLE_MESSAGE}}


def test_partner_routes_do_not_tell_a_partner_where_the_database_is(nodes, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="accord")
    jpn, kor = nodes["JPN"], nodes["KOR"]

    def signed(method: str, path: str, body: bytes = b"") -> dict[str, str]:
        return sign_request(kor.identity, method, path, "", body, kor.clock.now(), "JPN")

    import accord.federation
    from accord.federation import treeheads
    monkeypatch.setattr(treeheads, "local_checkpoint", away)
    monkeypatch.setattr(accord.federation, "receive_batch", away)
    with TestClient(create_app(jpn)) as client:
        r = client.get("/federation/v1/checkpoint", headers=signed("GET", "/federation/v1/checkpoint"))
        assert_unavailable(r, caplog)
        assert r.json() == PARTNER_UNAVAILABLE
        body = b'{"envelopes":[]}'
        r = client.post("/federation/v1/envelopes", content=body,
                        headers={**signed("POST", "/federation/v1/envelopes", body), "Content-Type": "application/json"})
        assert_unavailable(r, caplog)
        assert r.json() == PARTNER_UNAVAILABLE


PARTNER_UNAVAILABLE = {"detail": {"error": "unavailable", "reason": UNAVAILABLE_MESSAGE,
                                  "message": UNAVAILABLE_MESSAGE}}
"""The partner API's form (``reason``, accord.api.error_forms), ``message`` kept for clients that
read the user API's."""


def test_taxii_answers_a_taxii_error_document(nodes, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="accord.api")
    jpn = nodes["JPN"]
    ensure_schema(jpn.conn, TOKENS_DDL)
    secret = create_token(jpn.conn, "analyst", "JPN", {"admin"})
    monkeypatch.setattr("accord.federation.tokens.authenticate_token", away)
    with TestClient(create_app(jpn)) as client:
        r = client.get("/taxii2/", headers={"Authorization": f"Bearer {secret}",
                                            "Accept": "application/taxii+json;version=2.1"})
    assert_unavailable(r, caplog)
    assert r.headers["content-type"].startswith("application/taxii+json")
    assert r.json()["title"] == "Service Unavailable"
    assert r.json()["description"] == UNAVAILABLE_MESSAGE
    assert r.json()["http_status"] == "503"


@pytest.mark.parametrize("fault", ["away", "failed"])
def test_a_batch_the_store_could_not_commit_names_no_database_to_the_partner(nodes, monkeypatch, caplog, fault):
    """A batch whose commit fails: the database away is the 503 above (retry); any other store
    failure (an I/O error, a full disk) is ``not_committed`` with a reason that names nothing of
    the database — the log keeps the store's error."""
    import json
    import sqlite3

    from accord.api.partner import NOT_COMMITTED
    from accord.federation import wire
    from federation_harness import note

    caplog.set_level(logging.WARNING, logger="accord")
    jpn, kor = nodes["JPN"], nodes["KOR"]
    good = wire.seal_envelope(kor, note(kor, 1), "JPN", 1, kor.clock.now())
    body = json.dumps({"envelopes": [json.loads(good)]}).encode()

    def failing(*args, **kwargs):
        if fault == "away":
            away()
        raise sqlite3.OperationalError(f"disk I/O error writing {WHERE}")

    monkeypatch.setattr(jpn.ledger, "append_many", failing)
    headers = {**sign_request(kor.identity, "POST", "/federation/v1/envelopes", "", body, kor.clock.now(), "JPN"),
               "Content-Type": "application/json"}
    with TestClient(create_app(jpn)) as client:
        r = client.post("/federation/v1/envelopes", content=body, headers=headers)
    assert r.status_code == 503, r.text
    assert "db-7" not in r.text and "accord_jpn" not in r.text
    assert any("db-7.internal" in rec.getMessage() for rec in caplog.records), "the log does not name the server"
    if fault == "away":
        assert r.headers["retry-after"] == "1"
        assert r.json() == PARTNER_UNAVAILABLE
    else:
        assert r.json() == {"detail": {"error": "not_committed", "reason": NOT_COMMITTED}}
    assert jpn.conn.execute("SELECT COUNT(*) FROM items WHERE originator = 'KOR'").fetchone()[0] == 0
