"""The console's routes (``/console/…``), mounted by :func:`accord.api.app.create_app`.

Kept as one module: the console's one router: a short handler per page or form over the
same route class, viewer and CSRF checks.

Thin: each page reads through the library (the node, :mod:`accord.federation`, the intel store,
the dialogue store), filters what it shows through :class:`~accord.console.view.Viewer`, and
renders a template. Every route but the login page and the static files needs a live session
(:func:`make_router`'s ``session_of``); every ``POST`` needs the session's CSRF token. None of
these routes is in the OpenAPI description.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from anyio import sleep, to_thread
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from accord.api.deps import BodyTooLarge, MalformedLength, mark_authenticated, note_auth_failure, read_body_capped
from accord.console import events as ev
from accord.console.boards import area_names, incidents
from accord.console.i18n import LANGS, pick_lang, translator
from accord.console.pages import HERE, render
from accord.console.picture import REPLAY_SECONDS
from accord.console.security import LOGIN_PATH, ConsoleRoute, LoginRequired
from accord.console.sessions import (
    LOGIN_COOKIE, SESSION_COOKIE, LoginLimiter, Session, SessionsFull, SessionStore, login_codes, new_secret,
    same_secret)
from accord.console.view import Viewer
from accord.core.markings import Marking, is_party
from accord.errors import AccordError, AuthError, InputError, NotFoundError, NotOwnerError, StixValidationError
from accord.federation.schema import write_lock
from accord.node.bus import LEDGER as LEDGER_TOPIC
from accord.federation.tokens import authenticate_token, principal_for_digest, token_digest

if TYPE_CHECKING:
    from accord.node import Node

FORM_LIMIT = 16 * 1024
IMPORT_LIMIT = 4 * 1024 * 1024  # a pasted STIX bundle
STATIC = {"console.css": "text/css", "console.js": "text/javascript", "replay.js": "text/javascript",
          "symbols.js": "text/javascript", "milsymbol.js": "text/javascript"}
STATIC_PATHS = {"milsymbol.js": "vendor/milsymbol.js"}  # vendored (static/vendor/README.txt)
EXPIRING_DAYS = 30


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


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
    return {k: v[0] for k, v in fields.items()}


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def make_router(node: Node, *, sessions: SessionStore | None = None,
                limiter: LoginLimiter | None = None) -> APIRouter:
    from accord import federation
    from accord.dialogue.model import Status
    from accord.dialogue.store import DialogueStore
    from accord.intel.node_store import store_for

    sessions = sessions or SessionStore(node)
    limiter = limiter or LoginLimiter(node)  # in the node's store: one limit for all its processes
    codes = login_codes(node)
    dialogue = DialogueStore(node)
    lock = write_lock(node)
    event_log = ev.EventLog(node)  # what the streams read, decoded once for all of them
    # loaded now, once per process, rather than by the first page that needs them (seconds each:
    # the packaged geography for alerted areas' names and outlines, the radar model with scipy)
    from accord.warning.alerts.outlines import geography
    from accord.warning.tracking import sensors  # noqa: F401

    geography()
    router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

    def now() -> datetime:
        return node.clock.now()

    # --- sessions -------------------------------------------------------------------------
    def live_session(session_id: str | None) -> Session | None:
        """The session if it has not expired and its token is still live (revoking the token
        ends the session), else None."""
        s = sessions.get(session_id, now())
        if s is None:
            return None
        try:
            with lock:
                principal_for_digest(node.conn, s.token_digest)
        except AuthError:
            sessions.end(s.id)
            return None
        return s

    def session_of(request: Request) -> Session:
        s = live_session(request.cookies.get(SESSION_COOKIE))
        if s is None:
            raise LoginRequired()
        mark_authenticated(request, s.principal)  # its body may now be read (up to the form's cap)
        # the ledger's end before the page reads anything: its stream starts there, so what is
        # stored while the page renders arrives live (console.js drops a row it already shows)
        with lock:
            request.state.ledger_last = node.ledger.size - 1
        lang = request.query_params.get("lang")
        if lang in LANGS:
            sessions.set_lang(s, lang)
        return s

    def viewer_of(s: Session) -> Viewer:
        return Viewer(s.principal, node.party)

    async def posted(request: Request, s: Session, limit: int = FORM_LIMIT) -> dict[str, str]:
        form = await read_form(request, limit)
        if not same_secret(form.get("csrf"), s.csrf):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
        return form

    def need(v: Viewer, scope: str) -> None:
        if not v.may(scope):
            raise HTTPException(403, f"token {v.principal.name!r} lacks scope {scope!r}")

    def page(request: Request, s: Session, template: str, markings: list[Marking], *, status: int = 200,
             **ctx: Any) -> Response:
        after = request.state.ledger_last
        return render(request, template, status=status, session=s, viewer=viewer_of(s), markings=markings,
                      events_url=f"/console/events?after={after}", server_now=now().isoformat(), **ctx)

    def visible_item(v: Viewer, item_id: str) -> Any:
        """The item ``item_id`` if it exists and ``v`` may see it, else None: a hidden item and a
        missing one get the same answer, so the answer gives no hint that it exists."""
        try:
            with lock:
                item = node.get_item(item_id)
        except NotFoundError:
            return None
        return item if v.sees(node, item) else None

    def visible_items(v: Viewer, kind: str | None = None, **window: Any) -> list[Any]:
        """Items ``v`` may see (``window``: :meth:`Node.items`'s ``since``, ``until``, ``newest``)."""
        with lock:
            items = node.items(kind=kind, **window)
            return [i for i in items if v.sees(node, i)]

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

    # --- pages ----------------------------------------------------------------------------
    @router.get("/console/")
    def overview(request: Request, s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        counts: dict[str, int] = {}
        recent: list[Any] = []
        if v.may("items:read") and not v.partner:  # sees everything: counted and picked by the store
            counts = node.count_items()
            recent = visible_items(v, newest=20)[::-1]
        elif v.may("items:read"):  # a partner: only what it may see, item by item
            items = visible_items(v)
            for i in items:
                counts[i.kind] = counts.get(i.kind, 0) + 1
            recent = sorted(items, key=lambda i: i.created, reverse=True)[:20]
        return page(request, s, "overview.html", [i.marking for i in recent], counts=sorted(counts.items()),
                    recent=recent, summary=ev.summary)

    @router.get("/console/items/{item_id:path}")
    def item_detail(item_id: str, request: Request, s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "items:read")
        item = visible_item(v, item_id)
        if item is None:
            raise HTTPException(404, f"no item {item_id!r}")
        body = dict(item.body)
        body.pop("cap_xml", None)
        facts = pred = helped = None
        times: tuple[Any, Any] = (None, None)
        shown = [item.marking]
        if item.kind == "warning.track":
            from accord.console.boards import latest_prediction, prediction_times
            from accord.console.picture import contributors, radars_of, track_facts

            facts = track_facts(item)
            helped = contributors(item, visible_items(v, "warning.track"),
                                  radars_of(visible_items(v, "warning.radar")))
            shown += [i.marking for _, _, i in helped["parties"] if i is not None]
            shown += [r.marking for r, _, _ in helped["radars"] if r is not None]
            pred = latest_prediction(visible_items(v, "warning.prediction"), item.originator,
                                     str(item.body.get("track_id")))
            if pred is not None:
                times = prediction_times(pred)
                shown.append(pred.marking)
        return page(request, s, "item.html", shown, item=item, facts=facts, pred=pred, impact_at=times[1],
                    helped=helped,
                    body=json.dumps(body, indent=2, ensure_ascii=False), summary=ev.summary)

    @router.get("/console/alerts")
    def alerts(request: Request, s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "items:read")
        alerts_ = visible_items(v, "warning.alert")
        board = incidents(alerts_, visible_items(v, "warning.prediction"))
        names = area_names(s.lang)
        return page(request, s, "alerts.html", [i.marking for i in alerts_], incidents=board,
                    area_name=lambda code: names.get(code, code), now=now())

    def replay_ago(ago: str) -> int:
        """The ``ago`` parameter of the picture: whole seconds back from now, 0 to the replay
        window (30 minutes); anything else is a 400 page."""
        if not ago:
            return 0
        if not (ago.isascii() and ago.isdigit() and len(ago) <= 6) or int(ago) > REPLAY_SECONDS:
            raise HTTPException(400, f"ago: whole seconds from 0 to {REPLAY_SECONDS}, not {ago[:40]!r}")
        return int(ago)

    def picture_of(v: Viewer, lang: str, ago: int = 0) -> tuple[str, list[Marking], list[Any], list[Any]]:
        """The picture's SVG as it was ``ago`` seconds before now (drawn from the items created by
        then), the markings of what it draws, its tracks' latest items and its radars."""
        from accord.console import picture

        at = now() - timedelta(seconds=ago)
        since = at - timedelta(minutes=picture.TRAIL_MINUTES)

        def then(kind: str, window: bool = False) -> list[Any]:
            """What ``v`` may see of ``kind`` created by ``at`` (in the replay window if ``window``)."""
            return visible_items(v, kind, until=at, since=since if window else None)

        tracks = then("warning.track", window=True)
        latest: dict[tuple[str, str], Any] = {}
        for p in then("warning.prediction", window=True):
            key = (p.originator, str(p.body.get("track_id")))
            if key not in latest or p.body.get("t", 0) >= latest[key].body.get("t", 0):
                latest[key] = p
        preds = [p for p in latest.values() if p.body.get("status", "tracking") == "tracking"]
        boards = [inc for inc in incidents(then("warning.alert"), []) if inc.areas]
        alerted = sorted({c for inc in boards for c in inc.areas})
        radars = picture.radars_of(then("warning.radar"))
        svg = picture.render(home=node.party, tracks=tracks, predictions=preds, alerted=alerted, lang=lang,
                             now=at, t=translator(lang), radars=radars)
        heads: dict[tuple[str, str], Any] = {}
        for i in sorted(tracks, key=lambda i: (i.body.get("t", 0), i.created)):
            heads[(i.originator, str(i.body.get("track_id")))] = i
        shown = [i.marking for i in tracks] + [p.marking for p in preds] + \
            [inc.messages[-1].marking for inc in boards] + [r.marking for r in radars]
        return svg, shown, [heads[k] for k in sorted(heads)], radars

    @router.get("/console/picture")
    def picture_page(request: Request, ago: str = "", s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "items:read")
        seconds = replay_ago(ago)
        svg, shown, heads, radars = picture_of(v, s.lang, seconds)
        from accord.warning.symbols import LEGEND

        return page(request, s, "picture.html", shown, svg=svg, heads=heads, radars=radars, home=node.party,
                    ago=seconds, replay_max=REPLAY_SECONDS, legend_symbols=LEGEND)

    @router.get("/console/picture.svg")
    def picture_svg(ago: str = "", s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "items:read")
        return Response(picture_of(v, s.lang, replay_ago(ago))[0], media_type="image/svg+xml")

    @router.get("/console/alerts/cap/{item_id:path}")
    def cap_xml(item_id: str, s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "items:read")
        item = visible_item(v, item_id)
        if item is None or item.kind != "warning.alert" or "cap_xml" not in item.body:
            raise HTTPException(404, f"no CAP alert {item_id!r}")
        name = quote(str(item.body.get("identifier", "alert")).replace("/", "_"), safe="") + ".xml"
        return Response(item.body["cap_xml"], media_type="application/xml",
                        headers={"Content-Disposition": f"attachment; filename=\"{name}\""})

    @router.get("/console/intel")
    def intel(request: Request, collection: str = "", type: str = "", label: str = "", marking: str = "",
              since: str = "", q: str = "", s: Session = Depends(session_of)) -> Response:
        from accord.api.taxii import has_permission as taxii_allows
        from accord.intel.store import Filters

        v = viewer_of(s)
        store = store_for(node)
        with lock:
            colls = [c for c in store.collections() if taxii_allows(v.principal, "read", c)]
        if not colls and not v.may("taxii:read"):
            need(v, "taxii:read")
        chosen = [c for c in colls if not collection or collection in (c.id, c.alias)]
        try:
            since_day = date.fromisoformat(since) if since else None
        except ValueError:
            raise HTTPException(400, f"since: not a date (YYYY-MM-DD): {since[:40]!r}") from None
        level = None
        if marking:
            from accord.core.markings import Classification
            try:
                level = Classification.parse(marking)
            except AccordError as exc:
                raise HTTPException(400, f"marking: {exc}") from None
        rows, types = [], set()
        needle = q.strip().lower()
        for c in chosen:
            with lock:
                page_ = store.get_objects(c, v.party, Filters(types=(type,) if type else ()))
            for text in page_.items:
                obj = json.loads(text)
                types.add(obj.get("type", ""))
                m = store.marking_of(obj, c.rel_to)[0]
                if level is not None and m.classification != level:
                    continue
                if label and label not in (obj.get("labels") or []):
                    continue
                if since_day and str(obj.get("modified", obj.get("created", "")))[:10] < since_day.isoformat():
                    continue
                if needle and needle not in text.lower():
                    continue
                rows.append((c, obj, m))
        rows.sort(key=lambda r: str(r[1].get("modified", "")), reverse=True)
        writable = [] if v.partner else [c for c in colls if taxii_allows(v.principal, "write", c)]
        return page(request, s, "intel.html", [m for _, _, m in rows[:500]], collections=colls, writable=writable,
                    rows=rows[:500], total=len(rows), types=sorted(t for t in types if t),
                    f={"collection": collection, "type": type, "label": label, "marking": marking,
                       "since": since, "q": q})

    def collection_for(v: Viewer, key: str, action: str) -> Any:
        """The collection ``key`` if the viewer may ``action`` (read/write) it, else a 404 page
        (no hint that a collection it may not read exists)."""
        from accord.api.taxii import has_permission as taxii_allows

        try:
            with lock:
                coll = store_for(node).collection(key)
        except NotFoundError:
            coll = None
        if coll is None or not taxii_allows(v.principal, "read", coll):
            raise HTTPException(404, f"no collection {key[:100]!r}")
        if action == "write" and not (not v.partner and taxii_allows(v.principal, "write", coll)):
            raise HTTPException(403, f"token {v.principal.name!r} may not write to collection {key[:100]!r}")
        return coll

    @router.get("/console/intel/export")
    def intel_export(collection: str = "", format: str = "stix", s: Session = Depends(session_of)) -> Response:
        from accord.intel.import_export import FORMATS, export_bundle

        v = viewer_of(s)
        if format not in FORMATS:
            raise HTTPException(400, f"format: one of {', '.join(FORMATS)}, not {format[:40]!r}")
        coll = collection_for(v, collection, "read")
        with lock:
            bundle = export_bundle(store_for(node), collection=coll.id, fmt=format, party=v.party)
        name = quote(f"{coll.alias or coll.id}-{format}.json", safe="")
        return Response(json.dumps(bundle, ensure_ascii=False, indent=1), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @router.post("/console/intel/import")
    async def intel_import(request: Request, s: Session = Depends(session_of)) -> Response:
        from accord.intel.import_export import import_objects, parse_bundle

        form = await posted(request, s, IMPORT_LIMIT)
        v = viewer_of(s)
        coll = collection_for(v, form.get("collection", ""), "write")
        source = f"console import by {v.principal.name}"
        skip = form.get("skip_invalid") == "1"
        try:
            objects = parse_bundle(form.get("bundle", "").encode("utf-8"), source=source)
            result = await to_thread.run_sync(lambda: import_objects(store_for(node), objects, source=source,
                                                                     collection=coll.id, skip_invalid=skip))
        except StixValidationError as exc:
            return page(request, s, "intel_import.html", [], coll=coll, error=str(exc), failures=exc.failures,
                        result=None, status=422)
        except InputError as exc:
            return page(request, s, "intel_import.html", [], coll=coll, error=str(exc), failures=[],
                        result=None, status=422)
        return page(request, s, "intel_import.html", [], coll=coll, error=None, failures=[], result=result)

    @router.get("/console/intel/{collection}/{object_id}")
    def intel_object(collection: str, object_id: str, request: Request,
                     s: Session = Depends(session_of)) -> Response:
        from accord.api.taxii import has_permission as taxii_allows
        from accord.intel.store import Filters

        v = viewer_of(s)
        store = store_for(node)
        try:
            with lock:
                coll = store.collection(collection)
                if not taxii_allows(v.principal, "read", coll):
                    raise NotFoundError(f"no collection {collection!r}")
                obj = json.loads(store.get_objects(coll, v.party, object_id=object_id).items[0])
                related = [json.loads(t) for t in store.get_objects(
                    coll, v.party, Filters(types=("relationship",))).items]
        except (NotFoundError, IndexError):
            raise HTTPException(404, f"no object {object_id!r} in collection {collection!r}") from None
        rels = [r for r in related if object_id in (r.get("source_ref"), r.get("target_ref"))]
        m = store.marking_of(obj, coll.rel_to)[0]
        return page(request, s, "object.html", [m], coll=coll, obj=obj, marking=m, rels=rels,
                    text=json.dumps(obj, indent=2, ensure_ascii=False))

    @router.get("/console/federation")
    def federation_page(request: Request, item_id: str = "", recipient: str = "",
                        s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        if v.partner:
            raise HTTPException(403, "the federation page is for the node's own party")
        need(v, "status")
        st = federation.status(node)
        with lock:
            agreements = node.agreements()
        soon = now() + timedelta(days=EXPIRING_DAYS)
        explain = None
        if item_id or recipient:
            # the answer names the item's kind and marking, and whether it exists at all
            need(v, "items:read")
            if not is_party(recipient):
                raise HTTPException(400, f"recipient: not an ISO 3166-1 alpha-3 party: {recipient[:20]!r}")
            try:
                with lock:
                    explain = node.decide(node.get_item(item_id), recipient)
            except NotFoundError:
                raise HTTPException(404, f"no item {item_id!r}") from None
        return page(request, s, "federation.html", [], fed=st, agreements=agreements,
                    now=now(), soon=soon, explain=explain, form={"item_id": item_id, "recipient": recipient})

    def commitments(v: Viewer) -> list[tuple[Any, int, Marking]]:
        from accord.dialogue.model import KIND_COMMITMENT

        out = []
        with lock:
            versions = dialogue.all_latest(KIND_COMMITMENT)
            for sv in versions:
                try:
                    item = node.get_item(sv.item_id)
                except NotFoundError:
                    continue
                if v.sees(node, item):
                    out.append((sv.value, sv.version, item.marking))
        return out

    @router.get("/console/dialogue")
    def dialogue_page(request: Request, owner: str = "", status: str = "", updated: str = "",
                      s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "dialogue:read")
        every = commitments(v)
        owners = sorted({r[0].owner for r in every})
        rows = [r for r in every
                if (not owner or r[0].owner == owner) and (not status or r[0].status.value == status)]
        rows.sort(key=lambda r: (r[0].owner, r[0].status.value, r[0].due, r[0].id))
        today = now().date()
        with lock:
            series_ids = {r[0].series_id for r in every} if v.partner else None  # series it may see
            meetings = [m for m in dialogue.meetings() if m.date >= today and m.status.value == "planned"
                        and (series_ids is None or m.series_id in series_ids)]
        return page(request, s, "dialogue.html", [m for _, _, m in rows], rows=rows, today=today,
                    meetings=sorted(meetings, key=lambda m: m.date)[:10], statuses=[x.value for x in Status],
                    owner=owner, owners=owners, status_filter=status, updated=updated,
                    may_write=v.may_write("dialogue:write"), home=node.party)

    @router.post("/console/dialogue/commitments/{commitment_id}")
    async def update_commitment(commitment_id: str, request: Request,
                                s: Session = Depends(session_of)) -> Response:
        form = await posted(request, s)
        v = viewer_of(s)
        if not v.may_write("dialogue:write"):
            raise HTTPException(403, f"token {v.principal.name!r} may not write dialogue records")
        spec: dict[str, Any] = {"status": form.get("status") or None}
        evidence = form.get("evidence", "").strip()
        if evidence:
            spec["add_evidence"] = [evidence[:1000]]
        try:
            await to_thread.run_sync(dialogue.update_commitment, commitment_id, spec)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except NotOwnerError as exc:
            raise HTTPException(403, str(exc)) from None
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        except AccordError as exc:
            raise HTTPException(409, str(exc)) from None
        return RedirectResponse(f"/console/dialogue?updated={quote(commitment_id)}", status_code=303)

    # --- live -----------------------------------------------------------------------------
    @router.get("/console/events")
    async def events(request: Request, after: str | None = None, s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        # item events need items:read, ledger and status events status: a token with neither
        # (say metrics only) has nothing to stream
        if not (v.may("items:read") or v.may("status")):
            raise HTTPException(403, f"token {v.principal.name!r} has neither the items:read nor the "
                                     "status scope: there are no events for it")
        if sessions.streams(s) >= ev.MAX_STREAMS:  # each stream reads the ledger: a session may not open without bound
            raise HTTPException(429, f"this session already has {sessions.streams(s)} open event streams",
                                headers={"Retry-After": "5"})
        try:
            last = ev.start_index(node, request.headers.get("last-event-id"), after)
        except InputError as exc:
            raise HTTPException(400, str(exc)) from None
        return EventSourceResponse(stream(request, s, v, last), ping=15,
                                   headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def stream(request: Request, s: Session, v: Viewer, last: int) -> Any:
        sessions.stream_opened(s)
        try:
            async for e in _stream(request, s, v, last):
                yield e
        finally:
            sessions.stream_closed(s)

    async def _stream(request: Request, s: Session, v: Viewer, last: int) -> Any:
        """Events after ledger index ``last``: read when the node's bus says the ledger grew (a
        write committed in this process), and at least every :data:`ev.CHECK_SECONDS` (a write by
        another process on the same database; the session's liveness)."""
        status_due = 0.0
        clock = asyncio.get_running_loop().time
        started = clock()
        async with node.bus.waker((LEDGER_TOPIC,)) as wake:  # subscribed before the first read: no gap
            checked = -ev.CHECK_SECONDS
            while True:
                if clock() - checked >= ev.CHECK_SECONDS:
                    if await request.is_disconnected() or await to_thread.run_sync(live_session, s.id) is None:
                        return  # logged out, expired or token revoked: the stream ends with the session
                    checked = clock()
                # a fresh viewer per read: its policy answers are cached, and an agreement that
                # lapses while the stream is open must stop the flow at once
                before = last
                batch, last = await to_thread.run_sync(
                    lambda: ev.read_after(node, viewer_of(s), last, lang=s.lang, log=event_log))
                if batch:
                    yield ev.encode(batch)  # the whole batch in one write
                if last - before >= ev.BATCH:
                    continue  # a full batch read: there may be more, read on without waiting
                if not v.partner and v.may("status") and clock() - started >= status_due:
                    st = await to_thread.run_sync(federation.status, node)
                    yield ServerSentEvent(data=json.dumps(status_event(st)), event="status")
                    status_due = clock() - started + ev.STATUS_SECONDS
                if await wake.wait(ev.CHECK_SECONDS):
                    await sleep(ev.GATHER_SECONDS)  # let a burst of commits land: one read for all

    # --- anything else under /console: a 404 page with the console's headers -------------
    # every method, so that a PUT to a page is answered here (with the headers), not by the router
    @router.api_route("/console/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    def not_found(rest: str, request: Request, s: Session = Depends(session_of)) -> Response:
        if request.method not in ("GET", "POST"):
            raise HTTPException(405, f"the console answers GET and POST only, not {request.method}",
                                headers={"Allow": "GET, POST"})
        raise HTTPException(404, f"no console page /console/{rest[:100]}")

    return router


def status_event(st: dict[str, Any]) -> dict[str, Any]:
    return {"ledger": st["ledger"]["size"], "partners": [
        {"party": p["party"], "queued": p["queued"], "last_contact": p["last_contact"],
         "failures": p["consecutive_failures"], "inconsistent": bool(p["inconsistent"])}
        for p in st["partners"]]}
