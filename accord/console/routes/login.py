"""The console's way in and out: the login page (a token, or a one-time code from
``accord exercise run --console``) with its double-submit CSRF nonce and the login rate limit,
logout, the static files and the bare ``/console`` redirect. Of the console's routes, only
logout here needs a session.

Part of :mod:`accord.console.routes`; the session store, the one-time codes and the login limiter
are :mod:`accord.console.sessions`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from accord.api.deps import note_auth_failure
from accord.console.i18n import pick_lang
from accord.console.pages import HERE, render
from accord.console.routes.common import Console, read_form
from accord.console.security import LOGIN_PATH
from accord.console.sessions import LOGIN_COOKIE, SESSION_COOKIE, Session, SessionsFull, new_secret, same_secret
from accord.errors import AuthError
from accord.federation.tokens import authenticate_token, principal_for_digest, token_digest

STATIC = {"console.css": "text/css", "console.js": "text/javascript", "replay.js": "text/javascript",
          "symbols.js": "text/javascript", "milsymbol.js": "text/javascript"}
STATIC_PATHS = {"milsymbol.js": "vendor/milsymbol.js"}  # vendored (static/vendor/README.txt)


def _client(request: Request) -> str:
    """What the login limit counts a client by: its IPv4 address, or its IPv6 /64 — one host or
    one home is given a whole /64, and counted by address it had 2^64 of them to change for each
    guess —; an IPv4-mapped IPv6 address counts as its IPv4 address (the connection caps' key,
    :func:`accord.api.conn_limit.client_key`)."""
    from accord.api.conn_limit import client_key

    return client_key(request.client.host) if request.client else "unknown"


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def add_routes(router: APIRouter, c: Console) -> None:
    """Register this module's routes on ``router`` (:func:`~accord.console.routes.make_router`
    calls each module's in turn: the order in which routes match)."""
    node = c.node
    sessions = c.sessions
    limiter = c.limiter
    codes = c.codes
    lock = c.lock
    now = c.now
    session_of = c.session_of
    posted = c.posted

    # --- login / logout -------------------------------------------------------------------
    @router.get("/console/login")
    def login_form(request: Request, error: str | None = None) -> Response:
        messages = {"failed": "login_failed", "limited": "login_limited"}
        return with_login_nonce(request, "login.html", error=messages.get(error or ""))

    def with_login_nonce(request: Request, template: str, **ctx: Any) -> Response:
        """A login page whose form carries a fresh double-submit CSRF nonce (also set as a cookie)."""
        nonce = new_secret()
        response = render(request, template, login_nonce=nonce, **ctx)
        _cookie(response, request, LOGIN_COOKIE, nonce, 600)
        return response

    async def log_in(request: Request, again: str, check: Callable[[dict[str, str]], tuple[Any, str]],
                     wrong_answer: Callable[[], Response]) -> Response:
        """A login POST: the rate limit, the login form's CSRF nonce (403, ``again`` says what to
        do), then ``check(form)`` → (principal, token digest) or AuthError (``wrong_answer()``,
        counted as a failed login); a session and a redirect to the overview."""
        client = _client(request)
        # counted before the body is read (check and count in one step): simultaneous logins
        # cannot all pass the check before the first failure is recorded
        at = now()
        wait = await to_thread.run_sync(limiter.attempt, client, at)  # a write: never on the event loop
        if wait is not None:
            raise HTTPException(429, "too many failed logins from this address",
                                headers={"Retry-After": str(wait)})
        wrong = False
        try:
            form = await read_form(request)
            if not same_secret(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
                raise HTTPException(403, f"missing or wrong CSRF token: {again}")
            try:
                with lock:
                    principal, digest = check(form)
            except AuthError as exc:
                wrong = True
                note_auth_failure(request, "console", str(exc))
                return wrong_answer()
        finally:
            if not wrong:  # only a wrong token stays counted
                await to_thread.run_sync(limiter.release, client, at)
        lang = pick_lang(form.get("lang"), request.headers.get("accept-language"))
        try:
            s = await to_thread.run_sync(sessions.create, principal, digest, now(), lang)
        except SessionsFull as exc:  # refused rather than ending someone else's session
            raise HTTPException(503, f"{exc}: try again later", headers={"Retry-After": "60"}) from None
        response = RedirectResponse("/console/", status_code=303)
        # the login nonce stays (it expires on its own): a form submitted twice — Enter pressed
        # twice, a browser's retry — logs in twice instead of showing a CSRF error
        _cookie(response, request, SESSION_COOKIE, s.id, int(sessions.lifetime.total_seconds()))
        return response

    @router.post("/console/login")
    async def login(request: Request) -> Response:
        def by_token(form: dict[str, str]) -> tuple[Any, str]:
            secret = form.get("token", "").strip()
            return authenticate_token(node.conn, secret), token_digest(secret)

        return await log_in(request, "reload the login page and try again", by_token,
                            lambda: RedirectResponse(f"{LOGIN_PATH}?error=failed", status_code=303))

    # A one-time link (``accord exercise run --console``): the GET only shows a button, so a link
    # preview or prefetch cannot spend it and a cross-site page cannot log a victim in; the POST
    # carries the login form's double-submit CSRF token and spends the code.
    @router.get("/console/login/once")
    def login_once_form(request: Request, code: str = "") -> Response:
        return with_login_nonce(request, "login_once.html", code=code)

    @router.post("/console/login/once")
    async def login_once(request: Request) -> Response:
        def by_code(form: dict[str, str]) -> tuple[Any, str]:
            digest = codes.redeem(form.get("code", "").strip())
            if digest is None:
                raise AuthError("unknown, used or expired one-time login code")
            return principal_for_digest(node.conn, digest), digest

        def refused() -> Response:
            raise HTTPException(403, "this login link is unknown, already used or expired: log in with a token")

        return await log_in(request, "open the login link again", by_code, refused)

    @router.post("/console/logout")
    async def logout(request: Request, s: Session = Depends(session_of)) -> Response:
        await posted(request, s)
        await to_thread.run_sync(sessions.end, s.id)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return response

    @router.get("/console/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(HERE / "static" / STATIC_PATHS.get(name, name), media_type=STATIC[name],
                            headers={"Cache-Control": "max-age=300"})

    @router.get("/console")
    def bare() -> Response:
        return RedirectResponse("/console/", status_code=303)
