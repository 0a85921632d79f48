"""The error bodies of the node's HTTP APIs: one form per API, chosen by the request's path.

* TAXII 2.1, ``/taxii2/``: the TAXII error message (§3.6.1: ``title``, ``http_status``,
  ``description`` …) in ``application/taxii+json;version=2.1`` — what TAXII clients expect
  (:func:`accord.api.taxii.error_form`);
* the partner API, ``/federation/``: ``{"detail": {"error": <code>, "reason": <one line>}}``, the
  form partners parse (docs/federation.md), :func:`partner_error`;
* the user, dialogue and metrics APIs: FastAPI's ``{"detail": …}``, a message (or, for a policy
  refusal or an unavailable database, an object with ``error`` and ``message``; for a malformed
  field, a list naming it).

The routes answer their own errors in their API's form. What is decided here is the form of the
errors that come before any endpoint runs: a path no route serves (404), a method the resource
does not take (405), a parameter FastAPI refuses (422) — and any ``HTTPException`` a route of the
partner API raises with a bare message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import get_route_path

ErrorForm = Callable[[int, Any, "Mapping[str, str] | None"], Response]
"""``(status, detail, headers) -> Response``: an error in one API's form."""

FORMS_KEY = "error_forms"
"""The app state's ``[(path prefix, ErrorForm)]`` (:func:`accord.api.app.create_app` fills it)."""

PARTNER_CODES = {400: "malformed", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "too_large", 422: "invalid", 503: "unavailable"}
"""The partner API's ``error`` code of a refusal that names none itself."""


def partner_error(status: int, detail: Any, headers: Mapping[str, str] | None) -> Response:
    """``{"detail": {"error": …, "reason": …}}``: ``detail`` as it is if it already has an
    ``error`` (with ``reason`` added from its ``message`` if it had none: the unavailable
    database's 503), else a message under the status's code."""
    if isinstance(detail, dict) and "error" in detail:
        body = {**detail, "reason": detail.get("reason", detail.get("message", ""))}
    else:
        body = {"error": PARTNER_CODES.get(status, "error"), "reason": str(detail)}
    return JSONResponse({"detail": body}, status, headers=headers)


def _form(request: Request) -> ErrorForm | None:
    path = get_route_path(request.scope)
    for prefix, form in getattr(request.app.state, FORMS_KEY, ()):
        if path.startswith(prefix):
            return form
    return None


def error_response(request: Request, status: int, detail: str) -> Response:
    """An error answered before any route runs, in the form of the API its path belongs to
    (FastAPI's ``{"detail": …}`` outside them)."""
    form = _form(request)
    return form(status, detail, None) if form is not None else JSONResponse({"detail": detail}, status)


async def http_error(request: Request, exc: Exception) -> Response:
    """The app's handler of an ``HTTPException`` no route answered itself: in the form of the
    API the path belongs to, else FastAPI's."""
    assert isinstance(exc, HTTPException)
    form = _form(request)
    if form is not None:
        return form(exc.status_code, exc.detail, exc.headers)
    return await http_exception_handler(request, exc)


def _printable(value: Any) -> Any:
    """``value`` (a location part or message) as JSON can carry it: a string with lone
    surrogates escaped, an int as it is, anything else as its repr."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:200]


async def validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 without the ``input`` it echoes: that is the request's body (up to
    :data:`accord.api.app.MAX_BODY_BYTES`, sent back whole), and bytes that are not UTF-8 or a
    string holding a lone surrogate made rendering the answer fail with a 500. What is wrong and
    where stays. On a path of an API with a form of its own, one line in that form:
    ``query parameter first: Input should be a valid integer, …``."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    form = _form(request)
    if form is not None:
        parts = []
        for e in errors:
            loc = [str(_printable(p)) for p in e.get("loc", ())]
            where = f"{loc[0]} parameter {'.'.join(loc[1:])}" if len(loc) > 1 else ".".join(loc) or "request"
            parts.append(f"{where}: {_printable(e.get('msg', ''))}")
        return form(422, "; ".join(parts) or "invalid request", None)
    return JSONResponse({"detail": [{"type": _printable(e.get("type", "")),
                                     "loc": [_printable(p) for p in e.get("loc", ())],
                                     "msg": _printable(e.get("msg", ""))} for e in errors]}, 422)
