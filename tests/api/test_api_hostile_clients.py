"""What a hostile partner or an anonymous client can do at the HTTP level beyond its body's
content: leave half way through a body it announced, call TAXII paths or methods no route
serves, and what every partner API refusal looks like.

Requests are driven at the ASGI level (as uvicorn calls the app), so what escapes the app — an
exception uvicorn would log with its traceback as "Exception in ASGI application" — is seen.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from accord.api.app import create_app
from accord.federation.httpsig import sign_request
from federation_harness import make_nodes, now_utc


@pytest.fixture
def pair(tmp_path):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    yield nodes
    for n in nodes.values():
        n.close()


def call(app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b"", *,
         announced: int | None = None, query: str = "") -> tuple[int, dict[str, str], bytes]:
    """One request; ``announced`` > len(body): the client sends ``body``, then leaves. Returns the
    status, the response headers and body (status 0: nothing was answered)."""
    out: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}
    parts = [{"type": "http.request", "body": body, "more_body": announced is not None}]

    async def receive() -> dict[str, Any]:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    head = {"content-length": str(announced if announced is not None else len(body)),
            **{k.lower(): v for k, v in headers.items()}}
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "root_path": "", "headers": [(k.encode(), v.encode()) for k, v in head.items()],
             "server": ("127.0.0.1", 8443), "client": ("127.0.0.1", 50000)}
    asyncio.run(app(scope, receive, send))
    return int(out["status"]), out["headers"], bytes(out["body"])


# --- a client that leaves while sending the body it announced ------------------------------------
def left_mid_body(caplog: pytest.LogCaptureFixture, app: Any, path: str, headers: dict[str, str],
                  sent: bytes, announced: int) -> None:
    """The client announces ``announced`` bytes, sends ``sent`` and leaves: nothing may escape
    the app (uvicorn would log it with its traceback as "Exception in ASGI application") and
    nothing is logged as an error — there is no one to answer and nothing went wrong on the node."""
    with caplog.at_level(logging.INFO):
        call(app, "POST", path, headers, sent, announced=announced)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert any("client left" in r.getMessage() for r in caplog.records)


def test_anonymous_console_login_that_leaves_mid_body_is_not_an_error(pair, caplog):
    """The login form is read before anyone is authenticated: an anonymous client announcing 100
    bytes and leaving after 10 was a 500 and a logged traceback ("console error in POST
    /console/login"), as many as the client cared to send."""
    left_mid_body(caplog, create_app(pair["KOR"]), "/console/login",
                  {"content-type": "application/x-www-form-urlencoded"}, b"token=abc&", 100)


def test_partner_that_leaves_mid_batch_is_not_an_error(pair, caplog):
    """A signed batch whose sender leaves half way: ClientDisconnect escaped the app."""
    jpn, kor = pair["JPN"], pair["KOR"]
    body = b'{"envelopes":[]}'
    headers = sign_request(jpn.identity, "POST", "/federation/v1/envelopes", "", body, now_utc(), "KOR")
    left_mid_body(caplog, create_app(kor), "/federation/v1/envelopes", headers, body[:8], len(body))
