"""TAXII 2.1 (OASIS, 2021) on the node, at ``/taxii2/``: a thin layer over
:class:`accord.intel.store.IntelStore`.

Kept as one module: the TAXII 2.1 router: its endpoints with their one permission
check, filters and paging, in the order of the specification.

Endpoints (TAXII 2.1 §4–§5): discovery ``/taxii2/``, the API root ``/taxii2/intel/``, status
``/taxii2/intel/status/{id}/``, collections, manifest, objects (get, add), object (get, delete)
and versions. Responses are ``application/taxii+json;version=2.1``; errors use the TAXII error
message (§3.6.1: ``title``, ``description``, ``http_status`` …) with the right status:
400 bad filter or paging token, 401 no/bad credentials, 403 no permission, 404 unknown
collection/object/status (and a collection the caller may neither read nor write), 406 unacceptable ``Accept``, 413 request above
``max_content_length``, 415 unsupported ``Content-Type``, 422 invalid STIX (nothing stored; the first
:data:`~accord.intel.validate.MAX_LISTED_FAILURES` failures listed, ``failure_count`` counts all).

Media types are negotiated liberally where the specification allows: ``Accept`` may also be
``application/json``, ``*/*`` or ``application/stix+json;version=2.1`` (OpenCTI sends
``application/json, text/plain, */*``, opencti issue 4246), and an add may be sent as
``application/stix+json;version=2.1`` or ``application/json`` (connectors issue 7499); only a
TAXII/STIX version other than 2.1 or a non-JSON type is refused.

Authentication on every endpoint: ``Authorization: Bearer <API token>`` or HTTP Basic with the
token as password (what TAXII clients such as taxii2-client and OpenCTI send). Tokens of another
party than the node's are accepted here — TAXII is how partners' tools read — and every read is
filtered by releasability to the token's party. Permissions: ``admin``, ``taxii:read`` /
``taxii:write`` (all collections) or per collection ``taxii.read:<collection id or alias>`` /
``taxii.write:<…>`` (``taxii:read:<id>`` is accepted too). Each writer's versions of an id are
its own (:mod:`accord.intel.adding`): another party's versions of an id the node (or an earlier
writer) owns are served to that party only, so a writer can neither learn which ids the node
holds nor take one before it; a token of another party deletes only versions its party wrote
(:meth:`~accord.intel.store.IntelStore.delete_object`); the node's own tokens delete any.
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.convertors import StringConvertor
from starlette.concurrency import run_in_threadpool

from accord.api.deps import (AUTHENTICATED_KEY, UNAVAILABLE_MESSAGE, BodyTooLarge, MalformedLength, note_auth_failure,
                             read_body_capped, store_unavailable)
from accord.core.canonical import check_json_bounds, finite_float, json_limit_error
from accord.core.json_budget import check_json_containers, opening_brackets
from accord.errors import (AccordError, AuthError, CanonicalJSONError, InputError, NotFoundError, StixValidationError,
                           StoreUnavailable, shown)
from accord.intel.store import Collection, Filters, IntelStore, Page, parse_timestamp_us, us_to_rfc3339
from accord.intel.validate import MAX_LISTED_FAILURES

if TYPE_CHECKING:
    from accord.node import Node

MEDIA_TAXII = "application/taxii+json;version=2.1"
MEDIA_STIX = "application/stix+json;version=2.1"
API_ROOT = "intel"
DEFAULT_MAX_CONTENT = 10 * 1024 * 1024


class TaxiiHTTPError(Exception):
    def __init__(self, status: int, title: str, description: str = "", *,
                 details: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status, self.title, self.description = status, title, description
        self.details, self.headers = details, headers
        super().__init__(f"{status} {title}: {description}")


def error_response(status: int, title: str, description: str = "", *, details: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    if details is not None:
        body["details"] = details
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type=MEDIA_TAXII,
                    headers=headers)


_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 406: "Not Acceptable", 413: "Payload Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Entity"}


def error_form(status: int, detail: Any, headers: Mapping[str, str] | None) -> Response:
    """An HTTP error no TAXII route answered itself (a path under ``/taxii2/`` no route serves,
    a method the resource does not take) as a TAXII error message
    (:mod:`accord.api.error_forms`)."""
    title = _TITLES.get(status, "Error")
    return error_response(status, title, "" if str(detail) == title else str(detail),
                          headers=dict(headers) if headers is not None else None)


class TaxiiResponse(JSONResponse):
    """The media type TAXII answers in (so the OpenAPI document declares it, not JSON's; the
    routes build their responses themselves)."""

    media_type = MEDIA_TAXII


_ERROR_SCHEMA = {"type": "object", "required": ["title"], "properties": {
    "title": {"type": "string"}, "http_status": {"type": "string"}, "description": {"type": "string"},
    "details": {}}}


def openapi_responses() -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of every TAXII route: a success may also come as STIX (an
    ``Accept`` of ``application/stix+json`` alone), and every error is a TAXII error message."""
    errors: dict[int | str, dict[str, Any]] = {
        code: {"description": title, "content": {MEDIA_TAXII: {"schema": _ERROR_SCHEMA}}}
              for code, title in _TITLES.items() if code != 405}
    return {200: {"content": {MEDIA_STIX: {"schema": {"type": "object"}}}}, **errors}


class TaxiiRoute(APIRoute):
    """Every failure of a TAXII route — ours, FastAPI's, a dependency's — leaves as a TAXII
    error message (§3.6.1) with the TAXII media type."""

    counts: "Counter[tuple[str, int]] | None" = None
    """Where this route counts its requests by (method, status): the node's
    :class:`~accord.federation.stats.NodeCounters`, set by :func:`make_router`."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()
        direct = self._direct_call()

        async def route(request: Request) -> Response:
            response = await answer(request)
            if self.counts is not None:  # for the metrics: one dict update (the event loop's thread)
                self.counts[(request.method, response.status_code)] += 1
            return response

        async def answer(request: Request) -> Response:
            try:
                if direct is not None:
                    dep_name, dep, names = direct
                    call = getattr(request.app, "dependency_overrides", {}).get(dep, dep)
                    if call is dep:  # no override: call it and the endpoint ourselves
                        kwargs = {n: request.path_params[n] for n in names}
                        kwargs[dep_name] = await dep(request)
                        return await self.endpoint(request=request, **kwargs)
                return await handler(request)
            except TaxiiHTTPError as exc:
                return error_response(exc.status, exc.title, exc.description, details=exc.details,
                                      headers=exc.headers)
            except StoreUnavailable as exc:  # the database is away (a PostgreSQL restart): retry
                unavailable = store_unavailable(exc)  # its status, Retry-After and message, in TAXII's form
                return error_response(unavailable.status_code, "Service Unavailable", UNAVAILABLE_MESSAGE,
                                      headers=dict(unavailable.headers or {}))
            except HTTPException as exc:
                return error_response(exc.status_code, _TITLES.get(exc.status_code, "Error"),
                                      str(exc.detail), headers=getattr(exc, "headers", None))
            except RequestValidationError as exc:
                return error_response(400, "Bad Request", "invalid request parameters",
                                      details=[{"loc": list(e.get("loc", ())), "msg": e.get("msg")}
                                               for e in exc.errors()])
            except StixValidationError as exc:
                # the first failures and how many there are: one record per object made a
                # 2 MiB add of ``{}`` objects a 74 MB answer
                return error_response(422, "Invalid STIX", str(exc), details={
                    "failures": exc.failures[:MAX_LISTED_FAILURES], "failure_count": exc.count})
            except NotFoundError as exc:
                return error_response(404, "Not Found", str(exc))
            except InputError as exc:
                return error_response(400, "Bad Request", str(exc))
            except AuthError as exc:
                note_auth_failure(request, "taxii", str(exc))
                return error_response(401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})

        return route

    @staticmethod
    def internal_error() -> Response:
        return error_response(500, "Internal Server Error", "the server failed to process the request")

    def direct_handler(self) -> Callable[[Request], Any] | None:
        """``async (request) -> Response`` for this route when it needs nothing of the app's
        middleware or of FastAPI's dependency solving (see :class:`accord.api.app.NodeApp`);
        None if the endpoint is not of the direct shape."""
        return self.get_route_handler() if self._direct_call() is not None else None

    def _direct_call(self) -> tuple[str, Callable[..., Any], list[str]] | None:
        """For an endpoint of the shape every TAXII route has — ``async (<path params: str>,
        request, principal=Depends(async (request) -> principal))`` — what is needed to call it
        without FastAPI's per-request dependency solving (a third of a small request's time);
        the route, its parameters and its OpenAPI entry stay as declared. None otherwise."""
        if not inspect.iscoroutinefunction(self.endpoint):
            return None
        path_names: list[str] = []
        dep_name, dep = "", None
        for name, param in inspect.signature(self.endpoint).parameters.items():
            if name == "request":
                continue
            if isinstance(param.default, params.Depends) and dep is None:
                dep_name, dep = name, param.default.dependency
            elif name in self.param_convertors and param.annotation in (str, "str"):
                path_names.append(name)
            else:
                return None
        if dep is None or not inspect.iscoroutinefunction(dep):
            return None
        if list(inspect.signature(dep).parameters) != ["request"]:
            return None
        if any(not isinstance(c, StringConvertor) for c in self.param_convertors.values()):
            return None
        return dep_name, dep, path_names


# --- media types --------------------------------------------------------------------------
def _media_ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    out = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        params = {}
        for f in fields[1:]:
            k, _, v = f.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')
        out.append((fields[0].lower(), params))
    return out


def _json_type(mtype: str, params: dict[str, str]) -> str | None:
    """``"taxii"``/``"stix"``/``"json"`` if the media range is an acceptable JSON type."""
    version = params.get("version")
    if mtype == "application/taxii+json" and version in (None, "2.1"):
        return "taxii"
    if mtype == "application/stix+json" and version in (None, "2.1"):
        return "stix"
    if mtype == "application/json":
        return "json"
    return None


def negotiate(request: Request) -> str:
    """The response media type for the request's ``Accept``, or 406 (TAXII 2.1 §1.6.8)."""
    header = request.headers.get("accept")
    if not header:
        return MEDIA_TAXII
    media = _negotiated(header)
    if media is None:
        raise TaxiiHTTPError(406, "Not Acceptable",
                             f"cannot answer Accept: {header!r}; this server speaks {MEDIA_TAXII}")
    return media


@functools.lru_cache(maxsize=256)  # a client sends the same header on every request
def _negotiated(header: str) -> str | None:
    kinds = set()
    for mtype, mparams in _media_ranges(header):
        if mparams.get("q") in ("0", "0.0", "0.00", "0.000"):
            continue
        if mtype in ("*/*", "application/*"):
            kinds.add("taxii")
        kind = _json_type(mtype, mparams)
        if kind:
            kinds.add(kind)
    if not kinds:
        return None
    if kinds == {"stix"}:
        return MEDIA_STIX
    return MEDIA_TAXII


def _check_content_type(request: Request) -> None:
    header = request.headers.get("content-type", "")
    if not _json_content_type(header):
        raise TaxiiHTTPError(415, "Unsupported Media Type",
                             f"Content-Type {header!r} is not accepted; send {MEDIA_TAXII}")


@functools.lru_cache(maxsize=256)
def _json_content_type(header: str) -> bool:
    ranges = _media_ranges(header)
    return bool(ranges) and _json_type(*ranges[0]) is not None


async def _read_body(request: Request, limit: int) -> bytes:
    try:
        return await read_body_capped(request, limit)
    except BodyTooLarge as exc:
        raise TaxiiHTTPError(413, "Payload Too Large",
                             f"request of {exc.declared} bytes exceeds max_content_length {limit}"
                             if exc.declared is not None else
                             f"request body exceeds max_content_length {limit}") from None
    except MalformedLength:
        raise TaxiiHTTPError(400, "Bad Request", "malformed Content-Length") from None


# every ASCII digit -> "0", every other byte -> " ": a run of 19 digits is then a plain substring
# search (C speed; a regex over a 50 kB body costs ~1 ms here)
_DIGITS = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))
_RUN19 = b"0" * 19


def parse_json(raw: bytes) -> tuple[Any, bool]:
    """``(value, plain)``: the request body parsed by orjson when that gives exactly what
    :func:`json.loads` gives (``plain=True``: the store may then write it back with orjson),
    else by :func:`json.loads` (``plain=False``). orjson reads integers beyond 64 bits as
    floats, so bodies with a run of 19+ digits go to :mod:`json`; so does anything orjson
    refuses that :mod:`json` accepts (UTF-16/32, a BOM). 400 if neither parses it, if it holds
    ``NaN`` or ``Infinity``, nests deeper than :data:`~accord.core.canonical.MAX_JSON_DEPTH`, holds
    a number beyond a double (``1e400``), an integer of more than 4,300 digits or a string with a
    lone surrogate, and, before it is parsed, if it would build more than
    :data:`~accord.core.json_budget.MAX_JSON_CONTAINERS` arrays and objects."""
    try:
        opens = opening_brackets(raw)   # one count for both bounds
        check_json_containers(raw, opens=opens)
        value, plain = _parse_json(raw)
        return check_json_bounds(value, text=raw, opens=opens), plain
    except CanonicalJSONError as exc:
        raise TaxiiHTTPError(400, "Bad Request", f"body is not acceptable JSON: {exc}") from None
    except RecursionError as exc:
        raise TaxiiHTTPError(400, "Bad Request", f"body is not acceptable JSON: {json_limit_error(exc)}") from None
    except UnicodeDecodeError as exc:
        raise TaxiiHTTPError(400, "Bad Request", f"body is not JSON: {exc}") from None
    except ValueError as exc:  # json.JSONDecodeError, or an integer past 4,300 digits
        detail = exc if isinstance(exc, json.JSONDecodeError) else json_limit_error(exc)
        raise TaxiiHTTPError(400, "Bad Request", f"body is not JSON: {detail}") from None


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    if _RUN19 not in raw.translate(_DIGITS):
        try:
            return orjson.loads(raw), True
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw, parse_float=finite_float, parse_constant=_no_constant), False


def _no_constant(name: str) -> Any:
    """``parse_constant`` for :func:`json.loads`: JSON has no ``NaN``, ``Infinity`` or
    ``-Infinity`` (orjson refuses them too), and a stored object holding one would make every page
    of its collection invalid JSON for every reader."""
    raise CanonicalJSONError(f"{name} is not valid JSON")


# --- authentication and permissions ---------------------------------------------------------
def _credentials(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise AuthError("malformed Basic credentials") from None
        return decoded.partition(":")[2]
    raise TaxiiHTTPError(401, "Unauthorized", "missing credentials: send a bearer API token "
                         "(or HTTP Basic with the token as password)",
                         headers={"WWW-Authenticate": 'Bearer, Basic realm="taxii"'})


def make_principal_dependency(node: Node) -> Callable[..., Any]:
    """Authenticate a TAXII caller by API token (any party; reads are filtered by party)."""
    from accord.federation.tokens import authenticate_token

    # the lookup takes the node's write lock (reads on its shared connection): in the thread
    # pool, never on the event loop, where it would wait out a partner batch's transaction
    def lookup(state: Any, secret: str) -> Any:
        conn = getattr(state, "auth_conn", None) or node.conn
        lock = getattr(state, "auth_lock", None)
        if lock is not None:
            with lock:
                return authenticate_token(conn, secret)
        return authenticate_token(conn, secret)

    async def taxii_principal(request: Request) -> Any:
        secret = _credentials(request)
        principal = await run_in_threadpool(lookup, request.app.state, secret)
        request.scope[AUTHENTICATED_KEY] = True  # the body may now be read (NodeApp's guard)
        return principal

    return taxii_principal


def has_permission(principal: Any, action: str, coll: Collection) -> bool:
    """Whether ``principal`` (a bearer token's) may ``action`` (``read`` or ``write``) the
    collection ``coll``: scope ``admin``, ``taxii:<action>`` (every collection), or
    ``taxii.<action>:<id, alias or *>``. The console asks the same question of its users."""
    scopes = principal.scopes
    if "admin" in scopes or f"taxii:{action}" in scopes:
        return True
    for key in (coll.id, coll.alias, "*"):
        if key and (f"taxii.{action}:{key}" in scopes or f"taxii:{action}:{key}" in scopes):
            return True
    return False


# --- filters --------------------------------------------------------------------------------
def _values(request: Request, name: str) -> tuple[str, ...]:
    out: list[str] = []
    for raw in request.query_params.getlist(name):
        out.extend(v.strip() for v in raw.split(",") if v.strip())
    return tuple(out)


_NO_FILTERS = Filters()


def _filters(request: Request) -> tuple[Filters, int | None, str | None]:
    if not request.scope.get("query_string"):  # most gets by id and deletes: nothing to parse
        return _NO_FILTERS, None, None
    q = request.query_params
    known = {"added_after", "limit", "next", "match[id]", "match[type]", "match[version]",
             "match[spec_version]"}
    unknown = sorted(k for k in q.keys() if k not in known)
    if unknown:
        raise TaxiiHTTPError(400, "Bad Request", f"unsupported filter or parameter(s): {', '.join(unknown)}")
    after = q.get("added_after")
    added_after = parse_timestamp_us(after, field="added_after") if after else None
    limit = None
    if q.get("limit"):
        try:
            limit = int(q["limit"])
        except ValueError:
            raise TaxiiHTTPError(400, "Bad Request", f"limit must be an integer, got {shown(q['limit'])}") from None
        if limit < 1:
            raise TaxiiHTTPError(400, "Bad Request", "limit must be at least 1")
    return (Filters(added_after, _values(request, "match[id]"), _values(request, "match[type]"),
                    _values(request, "match[version]"), _values(request, "match[spec_version]")),
            limit, q.get("next") or None)


def _page_headers(page: Page) -> dict[str, str]:
    if page.first_added is None:
        return {}
    return {"X-TAXII-Date-Added-First": us_to_rfc3339(page.first_added),
            "X-TAXII-Date-Added-Last": us_to_rfc3339(page.last_added or page.first_added)}


def _dumps(body: Any) -> bytes:
    """JSON of a response body we built (str keys, plain values): orjson, else :mod:`json`."""
    try:
        return orjson.dumps(body)
    except TypeError:  # e.g. a string with a lone surrogate: the error json.dumps gives
        return json.dumps(body, ensure_ascii=False).encode()


def _envelope(page: Page, key: str, raw: bool) -> bytes:
    head = '{"more":' + ("true" if page.more else "false")
    if page.next:
        head += ',"next":' + json.dumps(page.next)
    if page.items:
        items = ",".join(page.items) if raw else orjson.dumps(page.items).decode()[1:-1]
        head += f',"{key}":[' + items + "]"
    return (head + "}").encode("utf-8")


# --- the router -----------------------------------------------------------------------------
def make_router(node: Node, *, store: IntelStore | None = None,
                principal_dependency: Callable[..., Any] | None = None,
                max_content_length: int = DEFAULT_MAX_CONTENT, title: str | None = None) -> APIRouter:
    """The TAXII 2.1 router of ``node`` (paths carry the ``/taxii2`` prefix)."""
    if store is None:
        from accord.intel.node_store import store_for

        store = store_for(node)
    the_store = store
    party = store.party
    principal_dep = principal_dependency or make_principal_dependency(node)
    # routes of a class bound to this node's request counters (include_router copies routes
    # with their class, so the app's copies count too)
    from accord.federation.stats import counters

    route_class = type("TaxiiRoute", (TaxiiRoute,), {"counts": counters(node).taxii_requests})
    router = APIRouter(prefix="/taxii2", route_class=route_class, tags=["taxii"],
                       default_response_class=TaxiiResponse, responses=openapi_responses())

    def ok(body: Any, media: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        content = body if isinstance(body, bytes) else _dumps(body)
        return Response(content, status_code=status, media_type=media, headers=headers)

    def root_check(api_root: str) -> None:
        if api_root != API_ROOT:
            raise TaxiiHTTPError(404, "Not Found", f"no API root {api_root!r} (this server has {API_ROOT!r})")

    def coll_for(api_root: str, collection_id: str, principal: Any, *actions: str,
                 unknown: str | None = None) -> Collection:
        """The collection, once the principal may do each of ``actions`` (``"any"``: read or
        write) on it; 403 otherwise, checked in the order given. A collection the principal may
        neither read nor write is answered 404 exactly as one that does not exist (``unknown``,
        else ``no collection '<key>'``): default deny, so a token cannot learn which collections
        exist, or their ids, by trying names (TAXII 2.1 §3.6.1 allows 404 for no access)."""
        root_check(api_root)
        coll = the_store.collection(collection_id)
        if not (has_permission(principal, "read", coll) or has_permission(principal, "write", coll)):
            raise TaxiiHTTPError(404, "Not Found", unknown or f"no collection {collection_id!r}")
        for action in actions:
            if action == "any":
                continue
            if not has_permission(principal, action, coll):
                raise TaxiiHTTPError(403, "Forbidden", f"{principal.name} may not {action} collection {coll.id}")
        return coll

    def coll_json(coll: Collection, principal: Any) -> dict[str, Any]:
        out = {"id": coll.id, "title": coll.title, "can_read": has_permission(principal, "read", coll),
               "can_write": has_permission(principal, "write", coll), "media_types": [MEDIA_STIX]}
        if coll.description:
            out["description"] = coll.description
        if coll.alias:
            out["alias"] = coll.alias
        return out

    @router.get("/", summary="TAXII server discovery (§4.1)")
    async def discovery(request: Request, principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        base = str(request.url_for("api_root_info", api_root=API_ROOT))
        return ok({"title": title or f"Accord node {party} TAXII server",
                   "description": "STIX 2.1 intelligence shared under Accord agreements and markings",
                   "default": base, "api_roots": [base]}, media)

    @router.get("/{api_root}/", summary="API root information (§4.2)")
    async def api_root_info(api_root: str, request: Request, principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        root_check(api_root)
        return ok({"title": f"Accord {party} intelligence", "versions": [MEDIA_TAXII],
                   "max_content_length": max_content_length}, media)

    @router.get("/{api_root}/status/{status_id}/", summary="Status of an add request (§4.3)")
    async def get_status(api_root: str, status_id: str, request: Request,
                         principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        root_check(api_root)

        def read() -> Any:
            coll_id, status = the_store.status(status_id, principal.party)
            coll_for(api_root, coll_id, principal, "any", unknown=f"no status {status_id!r}")
            return status
        return ok(await run_in_threadpool(read), media)

    @router.get("/{api_root}/collections/", summary="Collections (§5.1)")
    async def collections(api_root: str, request: Request, principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        root_check(api_root)

        def read() -> list[dict[str, Any]]:
            the_store.sync()
            return [coll_json(c, principal) for c in the_store.collections()
                    if has_permission(principal, "read", c) or has_permission(principal, "write", c)]
        visible = await run_in_threadpool(read)
        return ok({"collections": visible} if visible else {}, media)

    @router.get("/{api_root}/collections/{collection_id}/", summary="A collection (§5.2)")
    async def collection(api_root: str, collection_id: str, request: Request,
                         principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        coll = await run_in_threadpool(coll_for, api_root, collection_id, principal, "any")
        return ok(coll_json(coll, principal), media)

    @router.get("/{api_root}/collections/{collection_id}/manifest/", summary="Manifest (§5.3)")
    async def manifest(api_root: str, collection_id: str, request: Request,
                       principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        f, limit, nxt = _filters(request)

        def read() -> Page:
            the_store.sync()
            coll = coll_for(api_root, collection_id, principal, "read")
            return the_store.manifest(coll, principal.party, f, limit=limit, next=nxt)
        page = await run_in_threadpool(read)
        return ok(_envelope(page, "objects", raw=False), media, headers=_page_headers(page))

    @router.get("/{api_root}/collections/{collection_id}/objects/", summary="Get objects (§5.4)")
    async def get_objects(api_root: str, collection_id: str, request: Request,
                          principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        f, limit, nxt = _filters(request)

        def read() -> Page:
            the_store.sync()
            coll = coll_for(api_root, collection_id, principal, "read")
            return the_store.get_objects(coll, principal.party, f, limit=limit, next=nxt)
        page = await run_in_threadpool(read)
        return ok(_envelope(page, "objects", raw=True), media, headers=_page_headers(page))

    @router.post("/{api_root}/collections/{collection_id}/objects/", summary="Add objects (§5.5)",
                 status_code=202)
    async def add_objects(api_root: str, collection_id: str, request: Request,
                          principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        coll = await run_in_threadpool(coll_for, api_root, collection_id, principal, "write")
        _check_content_type(request)
        raw = await _read_body(request, max_content_length)
        # A token of another party (a partner's tool) writes as that party: the node did not
        # originate what it sent, so never shares it onward in its own name (accord.intel.sharing)
        origin = principal.party if principal.party != party else None

        def add() -> Any:
            envelope, plain = parse_json(raw)
            if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
                raise TaxiiHTTPError(400, "Bad Request",
                                     "body must be a TAXII envelope (or STIX bundle) with an 'objects' list")
            if not envelope["objects"]:
                raise TaxiiHTTPError(400, "Bad Request", "the envelope has no objects")
            return the_store.add_objects(coll, envelope["objects"], originator=origin, principal=principal.name,
                                         plain_json=plain)
        # parsing (up to max_content_length), validating and the write (which waits for the
        # node's write lock): in the thread pool, never on the event loop
        result = await run_in_threadpool(add)
        return ok(result.status, media, status=202)

    @router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/", summary="Get an object (§5.6)")
    async def get_object(api_root: str, collection_id: str, object_id: str, request: Request,
                         principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        f, limit, nxt = _filters(request)

        def read() -> Page:
            coll = coll_for(api_root, collection_id, principal, "read")
            return the_store.get_objects(coll, principal.party, f, limit=limit, next=nxt, object_id=object_id)
        page = await run_in_threadpool(read)
        return ok(_envelope(page, "objects", raw=True), media, headers=_page_headers(page))

    @router.delete("/{api_root}/collections/{collection_id}/objects/{object_id}/", summary="Delete an object (§5.7)")
    async def delete_object(api_root: str, collection_id: str, object_id: str, request: Request,
                            principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        f, _, _ = _filters(request)

        def delete() -> None:
            coll = coll_for(api_root, collection_id, principal, "read", "write")
            the_store.delete_object(coll, object_id, principal.party, f, principal=principal.name)
        await run_in_threadpool(delete)
        return Response(status_code=200, media_type=media)

    @router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/versions/",
                summary="Object versions (§5.8)")
    async def versions(api_root: str, collection_id: str, object_id: str, request: Request,
                       principal: Any = Depends(principal_dep)) -> Response:
        media = negotiate(request)
        f, limit, nxt = _filters(request)

        def read() -> Page:
            coll = coll_for(api_root, collection_id, principal, "read")
            return the_store.versions(coll, object_id, principal.party, f, limit=limit, next=nxt)
        page = await run_in_threadpool(read)
        return ok(_envelope(page, "versions", raw=False), media, headers=_page_headers(page))

    return router


__all__ = ["make_router", "MEDIA_TAXII", "MEDIA_STIX", "API_ROOT", "negotiate", "AccordError"]
