"""What every console route shares: :class:`Console` (the node, its session, login and dialogue
stores, the node's lock, and the helpers a handler starts with — the live session, the viewer,
the CSRF-checked form, a rendered page, the items a viewer may see) and :func:`read_form`.

:func:`accord.console.routes.make_router` makes one :class:`Console` per router and hands it to
each page group's ``add_routes`` (:mod:`~accord.console.routes.login`,
:mod:`~accord.console.routes.items`, :mod:`~accord.console.routes.intel`,
:mod:`~accord.console.routes.federation`, :mod:`~accord.console.routes.dialogue`,
:mod:`~accord.console.routes.live`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import HTTPException, Request
from fastapi.responses import Response

from accord.api.deps import BodyTooLarge, MalformedLength, mark_authenticated, read_body_capped
from accord.console import events as ev
from accord.console.budget import ANON_BURST, ANON_RATE, SESSION_BURST, SESSION_RATE, Budget
from accord.console.i18n import LANGS
from accord.console.overview import Overviews
from accord.console.pages import render
from accord.console.security import NUL_REFUSED, LoginRequired, has_nul
from accord.console.sessions import SESSION_COOKIE, LoginLimiter, Session, SessionStore, login_codes, same_secret
from accord.console.view import Viewer
from accord.core.markings import Marking
from accord.errors import AuthError, NotFoundError
from accord.federation.schema import write_lock
from accord.federation.tokens import principal_for_digest

if TYPE_CHECKING:
    from accord.node import Node

FORM_LIMIT = 16 * 1024


async def read_form(request: Request, limit: int = FORM_LIMIT) -> dict[str, str]:
    """A small ``application/x-www-form-urlencoded`` body as {name: first value}; 415/413/400
    pages for anything else."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise HTTPException(415, "forms must be sent as application/x-www-form-urlencoded")
    try:
        raw = await read_body_capped(request, limit)
    except (BodyTooLarge, MalformedLength):
        raise HTTPException(413, f"form larger than {limit} bytes") from None
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, f"malformed form: {exc}") from None
    if has_nul(*fields, *(v for vs in fields.values() for v in vs)):
        raise HTTPException(400, NUL_REFUSED)
    return {k: v[0] for k, v in fields.items()}


def spend(budget: Budget, key: str, who: str) -> None:
    """Spend a request of ``key``'s budget, or answer 429 with ``Retry-After``."""
    wait = budget.take(key)
    if wait is not None:
        raise HTTPException(429, f"too many requests from {who}: try again in {wait} s",
                            headers={"Retry-After": str(wait)})


class Console:
    """One console router's state and the helpers its handlers share.

    ``session_of`` is the routes' dependency (``Depends(console.session_of)``): every route but
    the login pages and the static files needs a live session."""

    def __init__(self, node: Node, sessions: SessionStore, limiter: LoginLimiter) -> None:
        from accord.dialogue.store import DialogueStore

        self.node = node
        self.sessions = sessions
        self.limiter = limiter  # in the node's store: one limit for all its processes
        self.codes = login_codes(node)
        self.dialogue = DialogueStore(node)
        self.lock = write_lock(node)
        self.event_log = ev.EventLog(node)  # what the streams read, decoded once for all of them
        self.overviews = Overviews()  # each party's last overview page, served again for a few seconds
        self.session_budget = Budget(SESSION_BURST, SESSION_RATE)  # pages a session may ask for (accord.console.budget)
        self.anon_budget = Budget(ANON_BURST, ANON_RATE)  # requests without a live session, by address

    def now(self) -> datetime:
        return self.node.clock.now()

    # --- sessions -------------------------------------------------------------------------
    def live_session(self, session_id: str | None) -> Session | None:
        """The session if it has not expired and its token is still live (revoking the token
        ends the session), else None."""
        s = self.sessions.get(session_id, self.now())
        if s is None:
            return None
        try:
            with self.lock:
                principal_for_digest(self.node.conn, s.token_digest)
        except AuthError:
            self.sessions.end(s.id)
            return None
        return s

    def session_of(self, request: Request) -> Session:
        s = self.live_session(request.cookies.get(SESSION_COOKIE))
        if s is None:
            from accord.api.conn_limit import client_key

            spend(self.anon_budget, client_key(request.client.host) if request.client else "unknown", "this address")
            raise LoginRequired()
        if request.method == "GET":  # a page or an event stream: each reads the store (accord.console.budget)
            spend(self.session_budget, s.id, "this session")
        mark_authenticated(request, s.principal)  # its body may now be read (up to the form's cap)
        # the ledger's end before the page reads anything: its stream starts there, so what is
        # stored while the page renders arrives live (console.js drops a row it already shows)
        with self.lock:
            request.state.ledger_last = self.node.ledger.size - 1
        lang = request.query_params.get("lang")
        if lang in LANGS:
            self.sessions.set_lang(s, lang)
        return s

    def viewer_of(self, s: Session) -> Viewer:
        return Viewer(s.principal, self.node.party)

    async def posted(self, request: Request, s: Session, limit: int = FORM_LIMIT) -> dict[str, str]:
        form = await read_form(request, limit)
        if not same_secret(form.get("csrf"), s.csrf):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
        return form

    @staticmethod
    def need(v: Viewer, scope: str) -> None:
        if not v.may(scope):
            raise HTTPException(403, f"token {v.principal.name!r} lacks scope {scope!r}")

    def page(self, request: Request, s: Session, template: str, markings: list[Marking], *, status: int = 200,
             **ctx: Any) -> Response:
        after = request.state.ledger_last
        return render(request, template, status=status, session=s, viewer=self.viewer_of(s), markings=markings,
                      events_url=f"/console/events?after={after}", server_now=self.now().isoformat(), **ctx)

    def visible_item(self, v: Viewer, item_id: str) -> Any:
        """The item ``item_id`` if it exists and ``v`` may see it, else None: a hidden item and a
        missing one get the same answer, so the answer gives no hint that it exists."""
        try:
            with self.lock:
                item = self.node.get_item(item_id)
        except NotFoundError:
            return None
        return item if v.sees(self.node, item) else None

    def visible_items(self, v: Viewer, kind: str | None = None, **window: Any) -> list[Any]:
        """Items ``v`` may see (``window``: :meth:`Node.items`'s ``since``, ``until``, ``newest``).

        The node's lock is held for the store's queries only — the items' (:meth:`Node.items`
        takes it for its query), then the policy's and the redactions' (:meth:`Viewer.settle`) —
        never while items are decoded or filtered: a partner's overview decoded and checked
        5,000 items with it held, and each ingest write waited for it (1.4 s a write at
        200,000 items stored, while one session reloaded the page)."""
        items = self.node.items(kind=kind, **window)
        with self.lock:
            v.settle(self.node, items)
        return v.visible(self.node, items)
