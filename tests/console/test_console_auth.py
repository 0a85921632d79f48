"""The console's front door: sessions, CSRF, rate limit, headers on every response."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from console_world import csrf_of, log_in
from fastapi.testclient import TestClient

from accord.federation.tokens import revoke_token

PAGES = ["/console/", "/console/alerts", "/console/intel", "/console/federation", "/console/dialogue",
         "/console/events", "/console/items/x", "/console/no-such-page", "/console"]


def assert_csp(r) -> None:
    csp = r.headers["content-security-policy"]
    directives = dict((d.split(" ", 1) + [""])[:2] for d in (x.strip() for x in csp.split(";")))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'" and "unsafe" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"


class _InlineFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = {k for k, _ in attrs}
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")
        if tag == "script":
            self._in_script = True
        self.problems += [f"{tag}[{k}]" for k in names if k.startswith("on") or k == "style"]
        if tag == "style":
            self.problems.append("<style>")

    def handle_endtag(self, tag):
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append("script body")


def inline_code(html: str) -> list[str]:
    f = _InlineFinder()
    f.feed(html)
    return f.problems


@pytest.mark.parametrize("path", PAGES)
def test_unauthenticated_requests_are_sent_to_login_with_the_headers(anon, path):
    r = anon.get(path)
    assert r.status_code == 303 and r.headers["location"] in ("/console/login", "/console/")
    assert_csp(r)


def test_login_page_is_public_has_no_inline_code_and_a_csp(anon):
    r = anon.get("/console/login")
    assert r.status_code == 200 and 'name="token"' in r.text
    assert_csp(r)
    assert inline_code(r.text) == []


def test_every_page_of_a_session_carries_the_csp_and_no_inline_code(admin, world):
    for path in ["/console/", "/console/alerts", "/console/intel", "/console/federation", "/console/dialogue",
                 f"/console/items/{world.releasable.id}", "/console/static/console.js", "/console/nope"]:
        r = admin.get(path)
        assert r.status_code in (200, 404), (path, r.status_code)
        assert_csp(r)
        assert inline_code(r.text) == [] if r.headers["content-type"].startswith("text/html") else True


def test_login_sets_an_httponly_strict_cookie_secure_only_under_tls(app, world):
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        client = TestClient(app, base_url=base, follow_redirects=False)
        r = client.get("/console/login")
        r = client.post("/console/login", data={"token": world.admin, "csrf": csrf_of(r.text)})
        assert r.status_code == 303 and r.headers["location"] == "/console/"
        cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("accord_console="))
        attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
        assert {"httponly", "path"} <= attrs and "samesite=strict" in cookie.lower()
        assert ("secure" in attrs) is secure
        assert world.admin not in cookie  # the cookie is a session id, never the token


def test_login_without_the_form_csrf_value_is_refused(anon, world):
    anon.get("/console/login")
    r = anon.post("/console/login", data={"token": world.admin})
    assert r.status_code == 403 and "CSRF" in r.text
    r = anon.post("/console/login", data={"token": world.admin, "csrf": "forged"})
    assert r.status_code == 403
    assert "accord_console=" not in r.headers.get("set-cookie", "")


def test_a_wrong_token_fails_and_repeated_failures_are_rate_limited(anon, world):
    nonce = csrf_of(anon.get("/console/login").text)
    for _ in range(5):
        r = anon.post("/console/login", data={"token": "acc_wrong", "csrf": nonce})
        assert r.status_code == 303 and r.headers["location"] == "/console/login?error=failed"
    r = anon.post("/console/login", data={"token": world.admin, "csrf": nonce})  # even the right one now
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert_csp(r)


def test_the_rate_limit_counts_an_ipv6_client_by_its_64_network(app, world):
    # the limit was per address: a client with an IPv6 /64 (what one host or one home is given)
    # changed its address for each guess and was never limited. An IPv6 client is counted by
    # its /64 (an IPv4-mapped one by its IPv4 address); other networks stay apart
    def client(host: str) -> TestClient:
        return TestClient(app, follow_redirects=False, client=(host, 40000))

    for k in range(5):
        c = client(f"2001:db8:1:2::{k + 1:x}")
        r = c.post("/console/login", data={"token": "acc_wrong", "csrf": csrf_of(c.get("/console/login").text)})
        assert r.status_code == 303 and r.headers["location"] == "/console/login?error=failed", k
    c = client("2001:db8:1:2:ffff:ffff:ffff:fffe")   # another address of the same /64
    r = c.post("/console/login", data={"token": world.admin, "csrf": csrf_of(c.get("/console/login").text)})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    other = client("2001:db8:1:3::1")   # the next /64: not limited
    log_in(other, world.admin)
    for k in range(5):
        c = client("::ffff:192.0.2.7")
        c.post("/console/login", data={"token": "acc_wrong", "csrf": csrf_of(c.get("/console/login").text)})
    c = client("192.0.2.7")
    r = c.post("/console/login", data={"token": world.admin, "csrf": csrf_of(c.get("/console/login").text)})
    assert r.status_code == 429


def test_the_rate_limit_holds_across_the_serve_processes_of_one_node(world, clock):
    """Two processes serving one node (each its own app and connections, one database): their
    failures add up, so a proxy spreading logins over them still allows five, not ten."""
    from accord.api.app import create_app
    from accord.node import Node

    other = Node.open(world.jpn.dir, clock)
    try:
        first = TestClient(create_app(world.jpn), follow_redirects=False)
        second = TestClient(create_app(other), follow_redirects=False)
        nonces = [csrf_of(c.get("/console/login").text) for c in (first, second)]
        for i in range(5):  # 3 through the first process, 2 through the second
            c, nonce = (first, nonces[0]) if i % 2 == 0 else (second, nonces[1])
            r = c.post("/console/login", data={"token": "acc_wrong", "csrf": nonce})
            assert r.status_code == 303 and r.headers["location"] == "/console/login?error=failed"
        for c, nonce in zip((first, second), nonces):
            r = c.post("/console/login", data={"token": world.admin, "csrf": nonce})
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        clock.advance(61)  # the window has passed, for both
        r = second.post("/console/login", data={"token": world.admin, "csrf": nonces[1]})
        assert r.status_code == 303 and r.headers["location"] == "/console/"
    finally:
        other.close()


def test_logout_needs_the_session_csrf_token_and_ends_the_session(admin):
    page = admin.get("/console/")
    assert admin.post("/console/logout", data={"csrf": "nope"}).status_code == 403
    assert admin.get("/console/").status_code == 200
    r = admin.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    admin.cookies.clear()
    assert admin.get("/console/").status_code == 303


def test_a_stolen_session_id_is_dead_after_logout(app, world):
    client = log_in(TestClient(app, follow_redirects=False), world.admin)
    sid = client.cookies["accord_console"]
    client.post("/console/logout", data={"csrf": csrf_of(client.get("/console/").text)})
    thief = TestClient(app, follow_redirects=False, cookies={"accord_console": sid})
    assert thief.get("/console/").status_code == 303


def test_sessions_expire_when_idle(admin, clock):
    clock.advance(29 * 60)
    assert admin.get("/console/").status_code == 200
    clock.advance(31 * 60)
    assert admin.get("/console/").status_code == 303


def test_revoking_the_token_ends_its_sessions(admin, world):
    assert admin.get("/console/").status_code == 200
    revoke_token(world.jpn.conn, "watch-officer")
    assert admin.get("/console/").status_code == 303


def test_forms_must_be_urlencoded_and_small(admin):
    csrf = csrf_of(admin.get("/console/").text)
    r = admin.post("/console/logout", content=b'{"csrf": "x"}', headers={"content-type": "application/json"})
    assert r.status_code == 415
    r = admin.post("/console/logout", content=b"csrf=" + csrf.encode() + b"&pad=" + b"x" * 20_000,
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert_csp(r)


@pytest.mark.parametrize("path", ["/console/items/a%00b", "/console/intel?type=%00", "/console/intel/cyber/%00",
                                  "/console/intel/%00/x", "/console/intel/export?collection=%00&format=stix",
                                  "/console/alerts/cap/%00", "/console/federation?item_id=%00&recipient=KOR",
                                  "/console/dialogue?owner=x&%00=y"])
def test_a_nul_character_in_the_path_or_query_is_a_400_page(admin, path):
    """PostgreSQL refuses NUL in text: an id or a filter holding one (``%00``) reached the store
    and was a 500, with a logged traceback, for every such request to a node on PostgreSQL
    (SQLite answered 404 or 200)."""
    r = admin.get(path)
    assert r.status_code == 400 and "NUL character" in r.text, r.status_code
    assert_csp(r)


def test_a_nul_character_in_a_form_field_is_a_400_page(admin):
    csrf = csrf_of(admin.get("/console/").text)
    for path, form in (("/console/dialogue/commitments/a%00b", {"csrf": csrf, "status": "done"}),
                       ("/console/intel/import", {"csrf": csrf, "collection": "cy\x00ber", "bundle": "{}"}),
                       ("/console/dialogue/commitments/S1-M1-C1", {"csrf": csrf, "status": "done", "evidence": "a\x00"})):
        r = admin.post(path, data=form)
        assert r.status_code == 400 and "NUL character" in r.text, (path, r.status_code)


def test_console_routes_are_not_in_the_openapi_description_and_the_taxii_lane_stays_open(app, world):
    client = TestClient(app)
    spec = client.get("/openapi.json", headers={"Authorization": f"Bearer {world.admin}"}).json()
    assert not [p for p in spec["paths"] if p.startswith("/console")]
    assert app._lane_open() and app.direct_routes


def test_a_login_form_submitted_twice_logs_in_both_times(anon, world):
    nonce = csrf_of(anon.get("/console/login").text)
    for _ in range(2):
        r = anon.post("/console/login", data={"token": world.admin, "csrf": nonce})
        assert r.status_code == 303 and r.headers["location"] == "/console/"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_get_the_console_headers_too(anon, admin, method):
    r = anon.request(method, "/console/alerts")
    assert r.status_code == 303
    assert_csp(r)
    r = admin.request(method, "/console/alerts")
    assert r.status_code == 405 and "GET and POST only" in r.text
    assert_csp(r)


@pytest.mark.parametrize("method", ["HEAD", "TRACE", "PROPFIND"])
@pytest.mark.parametrize("path", ["/console/alerts", "/console/login", "/console/static/console.js",
                                  "/console/no-such-page"])
def test_methods_no_console_route_names_get_the_console_headers_too(anon, admin, method, path):
    """Only the catch-all's methods were the console's: HEAD, TRACE or any other method got the
    framework's JSON 405 without the CSP, nosniff, frame or cache headers that docs/console.md
    promises on every console response."""
    for client in (anon, admin):
        r = client.request(method, path)
        assert r.status_code in (303, 405), (method, path, r.status_code)
        assert_csp(r)
        assert r.headers["cache-control"] == "no-store" and r.headers["x-frame-options"] == "DENY"
        if method != "HEAD" and r.status_code == 405:
            assert f"GET and POST only, not {method}" in r.text


def test_logging_in_again_and_again_with_one_token_ends_only_that_token_s_oldest_sessions(app, world, admin):
    attacker = TestClient(app, follow_redirects=False)
    nonce = csrf_of(attacker.get("/console/login").text)
    first = None
    for _ in range(15):  # more than the per-token cap (10)
        r = attacker.post("/console/login", data={"token": world.partner, "csrf": nonce})
        assert r.status_code == 303 and r.headers["location"] == "/console/"
        first = first or r.cookies["accord_console"]
    assert admin.get("/console/").status_code == 200  # the operator's session lives on
    stale = TestClient(app, follow_redirects=False, cookies={"accord_console": first})
    assert stale.get("/console/").status_code == 303  # the partner's own oldest one went


def test_a_full_session_store_refuses_new_logins_and_evicts_no_one(clock, world):
    from accord.console.sessions import SessionsFull, SessionStore
    from accord.federation.tokens import Principal

    store = SessionStore(world.jpn, limit=5, per_token=2)
    p = Principal("t", "JPN", frozenset({"admin"}))
    admin = store.create(p, "admin-digest", clock.now())
    for _ in range(50):
        store.create(p, "partner-digest", clock.now())
    assert store.get(admin.id, clock.now()).token_digest == "admin-digest" and len(store) == 3
    store.create(p, "b", clock.now())
    store.create(p, "c", clock.now())
    with pytest.raises(SessionsFull):
        store.create(p, "d", clock.now())
    assert store.get(admin.id, clock.now()).principal == p
    clock.advance(31 * 60)  # once the others have expired, there is room again
    assert store.create(p, "d", clock.now()).token_digest == "d"


def test_simultaneous_wrong_logins_cannot_pass_the_rate_limit_together(app, world):
    import asyncio

    import httpx

    n = 20

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            nonce = csrf_of((await client.get("/console/login")).text)
            gate = asyncio.Event()
            state = {"reading": 0, "done": 0}

            async def body(i: int):  # every handler that reads its body waits here for the others
                state["reading"] += 1
                await gate.wait()
                yield f"csrf={nonce}&token=acc_wrong{i}".encode()

            async def post(i: int) -> int:
                try:
                    r = await client.post("/console/login", content=body(i), headers={
                        "content-type": "application/x-www-form-urlencoded"})
                    return r.status_code
                finally:
                    state["done"] += 1

            tasks = [asyncio.create_task(post(i)) for i in range(n)]
            while state["reading"] + state["done"] < n:  # all have passed (or failed) the check
                await asyncio.sleep(0)
            gate.set()
            return await asyncio.gather(*tasks)

    codes = asyncio.run(main())
    assert codes.count(303) == 5 and codes.count(429) == n - 5, codes


def test_a_successful_or_malformed_login_does_not_count_against_the_limit(anon, world):
    nonce = csrf_of(anon.get("/console/login").text)
    for _ in range(10):
        assert anon.post("/console/login", data={"token": world.admin, "csrf": nonce}).status_code == 303
        assert anon.post("/console/login", data={"token": world.admin, "csrf": "forged"}).status_code == 403
    assert anon.post("/console/login", data={"token": "acc_wrong", "csrf": nonce}).status_code == 303
    assert anon.post("/console/login", data={"token": world.admin, "csrf": nonce}).headers["location"] == "/console/"
