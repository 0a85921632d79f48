"""The console's intel pages: the collections' objects with their filters, one object with its
relationships, and a collection's export and import (a pasted bundle, checked as the CLI's
import is). Permissions are the TAXII API's (:func:`accord.api.taxii.has_permission`).

Part of :mod:`accord.console.routes`; the objects come from :mod:`accord.intel.store`.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from accord.console.routes.common import Console
from accord.console.sessions import Session
from accord.console.view import Viewer
from accord.errors import AccordError, InputError, NotFoundError, StixValidationError

IMPORT_LIMIT = 4 * 1024 * 1024  # a pasted STIX bundle


def add_routes(router: APIRouter, c: Console) -> None:
    """Register this module's routes on ``router`` (:func:`~accord.console.routes.make_router`
    calls each module's in turn: the order in which routes match)."""
    from accord.intel.node_store import store_for

    node = c.node
    lock = c.lock
    session_of = c.session_of
    viewer_of = c.viewer_of
    posted = c.posted
    need = c.need
    page = c.page

    @router.get("/console/intel")
    def intel(request: Request, collection: str = "", type: str = "", label: str = "", marking: str = "",
              since: str = "", q: str = "", before: str = "", s: Session = Depends(session_of)) -> Response:
        from accord.api.taxii import has_permission as taxii_allows
        from accord.console import intel_board
        from accord.intel.store import Filters

        v = viewer_of(s)
        store = store_for(node)
        colls = [c for c in store.collections() if taxii_allows(v.principal, "read", c)]
        if not colls and not v.may("taxii:read"):
            need(v, "taxii:read")
        chosen = [c for c in colls if not collection or collection in (c.id, c.alias)]
        keep, filtering = object_filter(label, marking, since, q)
        try:
            at = intel_board.parse_before(before)
        except InputError as exc:
            raise HTTPException(400, str(exc)) from None
        f = Filters(types=(type,) if type else ())
        board = intel_board.read_page(store, chosen, v.party, f, keep, at)
        if not filtering:  # the store counts what the page lists (bounded): "N of M"
            board.total, board.total_capped = intel_board.count(store, chosen, v.party, f)
        writable = [] if v.partner else [c for c in colls if taxii_allows(v.principal, "write", c)]
        query = {"collection": collection, "type": type, "label": label, "marking": marking, "since": since, "q": q}
        set_ = {k: val for k, val in query.items() if val}  # the filters the paging links carry
        return page(request, s, "intel.html", [m for _, _, m in board.rows], collections=colls, writable=writable,
                    rows=board.rows, board=board, types=intel_board.suggested_types(board), f=query,
                    older=urlencode({**set_, "before": board.older}) if board.older else None,
                    newest=f"/console/intel?{urlencode(set_)}".rstrip("?") if before else None)

    def object_filter(label: str, marking: str, since: str, q: str) -> tuple[Any, bool]:
        """The board's own filters as ``keep(text, object, marking)``, and whether any is set;
        a 400 page for a bad date or classification."""
        try:
            since_day = date.fromisoformat(since).isoformat() if since else None
        except ValueError:
            raise HTTPException(400, f"since: not a date (YYYY-MM-DD): {since[:40]!r}") from None
        level = None
        if marking:
            from accord.core.markings import Classification
            try:
                level = Classification.parse(marking)
            except AccordError as exc:
                raise HTTPException(400, f"marking: {exc}") from None
        needle = q.strip().lower()

        def keep(text: str, obj: dict[str, Any], m: Any) -> bool:
            return ((level is None or m.classification == level)
                    and (not label or label in (obj.get("labels") or []))
                    and (not since_day or str(obj.get("modified", obj.get("created", "")))[:10] >= since_day)
                    and (not needle or needle in text.lower()))

        return keep, bool(label or marking or since or needle)

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
                found = store.get_objects(coll, v.party, object_id=object_id)
                obj, by = json.loads(found.items[0]), found.originators[0]
                related = [json.loads(t) for t in store.get_objects(
                    coll, v.party, Filters(types=("relationship",))).items]
        except (NotFoundError, IndexError):
            raise HTTPException(404, f"no object {object_id!r} in collection {collection!r}") from None
        rels = [r for r in related if object_id in (r.get("source_ref"), r.get("target_ref"))]
        m = store.marking_of(obj, coll.rel_to, origin=by)[0]
        return page(request, s, "object.html", [m], coll=coll, obj=obj, marking=m, rels=rels,
                    text=json.dumps(obj, indent=2, ensure_ascii=False))
