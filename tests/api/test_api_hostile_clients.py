"""What a hostile partner or an anonymous client can do at the HTTP level beyond its body's
content: leave half way through a body it announced, call TAXII paths or methods no route
serves, and what every partner API refusal looks like.

Requests are driven at the ASGI level (as uvicorn calls the app), so what escapes the app — an
exception uvicorn would log with its traceback as "Exception in ASGI application" — is seen.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import pytest

from accord.api.app import create_app
from accord.federation.httpsig import sign_request
from accord.logs import configure
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



def test_clients_that_leave_mid_body_cannot_flood_the_log(pair, caplog, monkeypatch):
    """Anyone can announce a body and leave: one INFO line each was a line per connection an
    anonymous client cared to open. At most 30 a minute, as refused credentials are."""
    from accord.api import app as app_module
    from accord.logs import Throttle

    monkeypatch.setattr(app_module, "_left_log", Throttle(per_minute=30))  # the other tests' lines stay
    app = create_app(pair["KOR"])
    with caplog.at_level(logging.INFO, logger="accord.api"):
        for _ in range(45):
            call(app, "POST", "/console/login", {"content-type": "application/x-www-form-urlencoded"},
                 b"token=abc&", announced=100)
    left = [r for r in caplog.records if "client left" in r.getMessage()]
    assert 1 <= len(left) <= 30, len(left)

# --- TAXII paths and methods no route serves --------------------------------------------------
TAXII = "application/taxii+json;version=2.1"


def taxii_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, Any]:
    assert status == expected, body
    assert headers["content-type"] == TAXII, headers
    error = json.loads(body)
    assert error["http_status"] == str(expected) and error["title"] and "detail" not in error
    return error


def test_an_unknown_taxii_path_is_a_taxii_404(pair):
    """TAXII 2.1 §3.6.1: every error on the TAXII API is an error message in its media type; a
    path under /taxii2/ that no route serves was FastAPI's {"detail": "Not Found"} as JSON."""
    app = create_app(pair["KOR"])
    for path in ("/taxii2/intel/collections/x/objects/y/z/", "/taxii2/intel/nothing/"):
        error = taxii_error(*call(app, "GET", path, {"accept": TAXII}), 404)
        assert error["title"] == "Not Found"


def test_a_method_a_taxii_resource_does_not_take_is_a_taxii_405_naming_those_it_does(pair):
    app = create_app(pair["KOR"])
    status, headers, body = call(app, "PUT", "/taxii2/intel/collections/x/objects/", {"accept": TAXII})
    error = taxii_error(status, headers, body, 405)
    assert error["title"] == "Method Not Allowed"
    assert headers["allow"] == "GET, POST"


# --- the partner API answers every refusal in its one form --------------------------------------
def signed_get(app: Any, jpn: Any, path: str, query: str = "") -> tuple[int, dict[str, Any]]:
    headers = sign_request(jpn.identity, "GET", path, query, b"", now_utc(), "KOR")
    status, _, body = call(app, "GET", path, headers, query=query)
    return status, json.loads(body)


@pytest.mark.parametrize(("query", "status", "error", "reason"), [
    ("first=1", 400, "malformed", "query parameters first and second are required"),
    ("first=5&second=2", 400, "malformed", "no consistency proof from size 5 to size 2"),
    ("first=a&second=2", 422, "invalid", "query parameter first: Input should be a valid integer"),
])
def test_partner_refusals_of_a_consistency_request_are_error_and_reason(pair, query, status, error, reason):
    """Partners parse {"detail": {"error": …, "reason": …}} (docs/federation.md): the consistency
    endpoint answered a bare string, and a malformed number FastAPI's list of validation errors."""
    answer = signed_get(create_app(pair["KOR"]), pair["JPN"], "/federation/v1/consistency", query)
    assert answer[0] == status, answer
    assert answer[1]["detail"]["error"] == error
    assert answer[1]["detail"]["reason"].startswith(reason), answer


def test_an_unknown_partner_path_is_error_and_reason(pair):
    status, _, body = call(create_app(pair["KOR"]), "GET", "/federation/v1/nothing", {})
    assert status == 404
    assert json.loads(body) == {"detail": {"error": "not_found", "reason": "Not Found"}}


def test_an_unsigned_batch_announcing_more_than_the_cap_is_refused_as_unsigned(pair):
    """The app-wide body cap (64 MiB) answered an unsigned POST announcing 100 MB with its own
    text/plain 413 in place of the partner API's 401: partner routes read their body with their
    own cap once the signature is checked (accord.api.partner.MAX_REQUEST_BYTES)."""
    status, headers, body = call(create_app(pair["KOR"]), "POST", "/federation/v1/envelopes", {},
                                 announced=100_000_000)
    assert status == 401 and headers["content-type"] == "application/json", (status, body)
    assert json.loads(body)["detail"]["error"] == "unauthenticated"


def test_a_signed_batch_announcing_more_than_the_cap_is_too_large_in_the_partner_form(pair):
    jpn, kor = pair["JPN"], pair["KOR"]
    headers = sign_request(jpn.identity, "POST", "/federation/v1/envelopes", "", b"", now_utc(), "KOR")
    status, _, body = call(create_app(kor), "POST", "/federation/v1/envelopes", headers, announced=100_000_000)
    assert status == 413 and json.loads(body)["detail"]["error"] == "too_large", (status, body)


def test_taxii_without_its_trailing_slash_leads_a_basic_auth_client_to_discovery(pair):
    """A TAXII client given ``…/taxii2`` sends Basic credentials there: the node asked for a bearer
    API token in the user API's form instead of pointing it at ``/taxii2/`` (TAXII's discovery,
    which takes Basic)."""
    status, headers, _ = call(create_app(pair["KOR"]), "GET", "/taxii2",
                              {"authorization": "Basic dXNlcjpzZWNyZXQ=", "accept": TAXII})
    assert status == 307 and headers["location"].endswith("/taxii2/")


# --- what a client can write into the node's log -------------------------------------------------
@pytest.fixture
def text_log():
    """accord.logs.configure(text) onto a buffer; afterwards the loggers as they were."""
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in ("accord", "uvicorn", "psycopg")}
    buf = io.StringIO()
    configure("info", "text", buf)
    yield buf
    for n, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(n)
        lg.handlers, lg.level, lg.propagate = handlers, level, propagate


def test_an_anonymous_client_cannot_put_control_characters_in_the_text_log(pair, text_log):
    """The path of a refused request is logged, and a server hands the app the path
    percent-decoded: ``%1b`` was an ESC in the text log, so a client could send terminal escape
    sequences (retitle, clear or recolour the terminal of the operator reading the log) or, with
    the path logged as the server gave it, line breaks and a line of its choosing."""
    call(create_app(pair["KOR"]), "GET", "/api/v1/items\x1b]0;owned\x07\x1b[2J", {})
    out = text_log.getvalue()
    assert "refused a user API request GET /api/v1/items" in out, out
    assert "\x1b" not in out and "\x07" not in out, repr(out)
    assert "/api/v1/items\\x1b]0;owned\\x07\\x1b[2J" in out, repr(out)


def test_a_text_log_line_stays_one_line_whatever_its_message_holds(text_log):
    logging.getLogger("accord.api").warning("client left during %s %s", "POST",
                                             "/console/login\r\n2026-12-06T00:00:00.000Z INFO    forged")
    assert text_log.getvalue().count("\n") == 1, repr(text_log.getvalue())
    assert "/console/login\\r\\n2026" in text_log.getvalue()
