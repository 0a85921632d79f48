"""The partner API (``/federation/v1``): what pinned partner nodes call.

Every request must carry an RFC 9421 HTTP message signature by a pinned partner key
(:mod:`accord.federation.httpsig`); each envelope inside is then verified again on its own
(signature, sequence, policy) by :func:`accord.federation.receive_batch` before anything is stored.

* ``POST /envelopes`` — a batch ``{"envelopes": [...]}`` from one originator, applied in one
  transaction; the answer (sent only after the commit is on disk) lists each envelope's outcome
  and the next sequence number this node expects from the sender.
* ``GET /checkpoint`` — this node's latest signed ledger checkpoint (C2SP signed note).
* ``GET /consistency?first=M&second=N`` — an RFC 9162 consistency proof between two tree sizes.
* ``GET /receipts?index=N&index=M&…&size=S`` — for each index (1 to 64, all different), that
  entry of this node's ledger with its RFC 9162 inclusion path to the tree of size ``S``, only if
  the entry records an item received from the caller (:mod:`accord.federation.receipts`; every
  other index is listed in ``not_found``, whatever the reason). ``GET /receipt?index=N&size=S``
  is the same for one index (anything else is one uniform 404), for senders older than the batch.
* ``GET /heads`` — for each third party this node pins, the latest checkpoint of that party this
  node verified, as that party signed it (tree-head gossip, :mod:`accord.federation.gossip`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse

from accord.api.deps import (BodyTooLarge, MalformedLength, error_responses, mark_authenticated, read_body_capped,
                             store_unavailable)
from accord.errors import AccordError, InputError, QuotaExceeded, RequestSignatureError, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from accord.node import Node

log = logging.getLogger("accord.federation")


NOT_COMMITTED = "the batch could not be committed; nothing was applied, retry"
"""A partner's batch the node's store failed to commit (an I/O error, a full disk): what the
partner is told; the log has the store's error."""

MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""The largest partner request read (a batch; senders cap theirs at half this, and one envelope
is at most 16 MiB). It is read only once the headers' signature by a pinned key has been checked,
and the cap bounds what even a partner can make the node hold."""


MAX_IN_FLIGHT = 4
"""The most requests one partner may have in progress at once in one serving process. A sender
has one batch in flight (two while a stalled worker's lease passes on) besides its tree-head
check; without a bound a partner's concurrent requests could make the node hold 64 MiB bodies
without limit. One more is answered 429 before its body is read, and the sender retries."""


class _InFlight:
    """Requests in progress per partner (the event loop's thread takes and releases them)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def take(self, party: str) -> bool:
        held = self.counts.get(party, 0)
        if held >= MAX_IN_FLIGHT:
            return False
        self.counts[party] = held + 1
        return True

    def release(self, party: str) -> None:
        held = self.counts.get(party, 0) - 1
        if held > 0:
            self.counts[party] = held
        else:
            self.counts.pop(party, None)


_NO_APP_CAP = 2 ** 62
"""The partner routes' FastAPI ``max_body_size``: none in effect (:data:`MAX_REQUEST_BYTES` is read by
:func:`_capped_body`)."""


async def _capped_body(request: Request) -> bytes:
    """The request body, read at most once and refused with 413 past :data:`MAX_REQUEST_BYTES`
    (by its Content-Length before reading, or while reading a body that has none)."""
    cached = getattr(request.state, "capped_body", None)
    if cached is not None:
        return cached
    try:
        body = await read_body_capped(request, MAX_REQUEST_BYTES)
    except (BodyTooLarge, MalformedLength) as exc:
        declared = exc.declared if isinstance(exc, BodyTooLarge) else exc.args[0]
        reason = (f"Content-Length {str(declared)!r} exceeds {MAX_REQUEST_BYTES} bytes" if declared is not None
                  else f"body exceeds {MAX_REQUEST_BYTES} bytes")
        raise HTTPException(413, {"error": "too_large", "reason": reason}) from None
    request.state.capped_body = body
    return body


def _over_quota(exc: QuotaExceeded) -> HTTPException:
    """429 ``over_quota``, with ``Retry-After`` the seconds until the partner's window has room."""
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, {"error": "over_quota", "reason": str(exc)},
                         headers={"Retry-After": str(exc.retry_after)})


UNVERIFIED_REASON = ("no valid signature by a pinned partner key (RFC 9421); the reason is in the node's "
                     "log (auth.failed)")
"""The reason a 401 gives a caller whose signature no pinned key verified: what was wrong would
tell anyone who can reach the port which parties the node pins and their keys' fingerprints."""


def make_router(node: Node) -> APIRouter:
    from accord import federation
    from accord.federation import gossip, httpsig, quota, receipts, refusals, treeheads
    from accord.federation.inbox import MAX_LEDGER_INDEX

    # the app-wide cap (accord.api.app.MAX_BODY_BYTES) answers a large Content-Length with its
    # own text/plain 413 before the route runs, even to an unsigned request: partner routes read
    # their body themselves, after the signature, with their own cap and error form
    # a refusal's record waits for the node's write lock and syncs its commit: written in a
    # thread of its own (refusals.Recorder, started by the first refusal), which the router's
    # lifespan (merged into the app's by include_router) ends when the server stops; only the
    # event loop's thread starts and detaches it
    recorder: refusals.Recorder | None = None

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        """Once the server has stopped taking requests: the refusals' records still pending are
        written, waited for a bounded time (the stop's refusals.StopBudget, begun here and shared
        with the app's own lifespan, which runs after; the rest are counted in the log), and their
        thread ends — in a worker thread, as a record waits for the write lock."""
        nonlocal recorder
        try:
            yield
        finally:
            budget = refusals.stop_budget(app.state)  # the stop's first wait for the refusals' records
            ending, recorder = recorder, None  # a refusal after this starts another
            if ending is not None:
                await asyncio.to_thread(ending.close, budget)

    router = APIRouter(tags=["partner"], responses=error_responses(400, 401, 413, 422, 429, 503),
                       max_body_size=_NO_APP_CAP, lifespan=lifespan)

    async def record_refusal(signer: str | None, reason: str) -> None:
        nonlocal recorder
        write = refusals.admit_request_rejection(node, signer, reason)
        if write is not None:  # answered once recorded (a request cancelled meanwhile still is)
            if recorder is None:
                recorder = refusals.Recorder(node)
            await asyncio.shield(asyncio.wrap_future(recorder.submit(write)))

    async def refuse(exc: RequestSignatureError) -> HTTPException:
        # recorded under the key that signed it, if any: never under the keyid it claims
        await record_refusal(exc.signer, str(exc))
        # the reason names the node's pinned parties and their keys' fingerprints: only a caller
        # whose pinned key verified is told it; anyone else gets one reason (the detail is logged)
        reason = str(exc) if exc.signer is not None else UNVERIFIED_REASON
        return HTTPException(status.HTTP_401_UNAUTHORIZED, {"error": "unauthenticated", "reason": reason})

    in_flight = _InFlight()

    async def authenticate(request: Request) -> AsyncIterator[str]:
        """Dependency: the authenticated partner party (runs before any parameter validation).

        The signature is checked over the headers first — it covers the Content-Digest header,
        not the body — so a request without a valid signature by a pinned key is refused before
        a byte of its body is read; then a partner with :data:`MAX_IN_FLIGHT` requests in
        progress is answered 429, and a batch from a partner whose intake quota for the hour is used
        up (:mod:`accord.federation.quota`) 429 ``over_quota``; only then is the body read (capped)
        and its digest matched."""
        try:
            party = httpsig.verify_request(request.headers, request.method, request.url.path,
                                           request.url.query, None, federation.partner_keys(node),
                                           node.clock.now(), recipient=node.party,
                                           authority=request.headers.get("host"), scheme=request.url.scheme)
        except RequestSignatureError as exc:
            raise await refuse(exc) from None
        mark_authenticated(request)
        if not in_flight.take(party):
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, {
                "error": "too_many", "reason": f"{party} has {MAX_IN_FLIGHT} requests in progress already; "
                                              "retry once one is answered"})
        try:
            if request.method == "POST":  # a batch: refused unread if the partner's window is used up
                from starlette.concurrency import run_in_threadpool
                try:
                    await run_in_threadpool(quota.admit, node, party)
                except QuotaExceeded as exc:
                    raise _over_quota(exc) from None
                except StoreUnavailable as exc:
                    raise store_unavailable(exc) from None
            try:
                httpsig.verify_content_digest(request.headers, await _capped_body(request), party)
            except RequestSignatureError as exc:
                raise await refuse(exc) from None
            yield party
        finally:
            in_flight.release(party)

    @router.post("/envelopes", summary="Deliver a batch of signed envelopes (partners only)")
    async def envelopes(request: Request, sender: str = Depends(authenticate)) -> JSONResponse:
        body = await _capped_body(request)
        # parsed in a worker thread, as the sqlite work below: the event loop keeps serving others
        from starlette.concurrency import run_in_threadpool
        try:
            envs = await run_in_threadpool(federation.parse_batch, body)
        except InputError as exc:
            await record_refusal(sender, str(exc))
            raise HTTPException(status.HTTP_400_BAD_REQUEST, {"error": "malformed", "reason": str(exc)}) from None
        try:
            ack = await run_in_threadpool(federation.receive_batch, node, envs, sender=sender)
        except StoreUnavailable as exc:  # the node database is away: the sender retries (no location said)
            raise store_unavailable(exc) from None
        except QuotaExceeded as exc:  # nothing of the batch fitted the sender's window: nothing applied
            raise _over_quota(exc) from None
        except AccordError as exc:  # the batch could not be committed: nothing was applied
            log.warning("batch from %s not committed (sender will retry): %s", sender, exc)
            # a store's error names the database (and what failed in it): the log says it, not the partner
            reason = NOT_COMMITTED if isinstance(exc, StoreError) else str(exc)
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                {"error": "not_committed", "reason": reason}) from None
        return JSONResponse(ack.to_json())

    @router.get("/checkpoint", summary="This node's latest signed checkpoint (partners only)")
    async def checkpoint(sender: str = Depends(authenticate)) -> PlainTextResponse:
        # in a worker thread: with the database away a read waits for a connection, and the
        # event loop must keep serving meanwhile
        from starlette.concurrency import run_in_threadpool
        try:
            return PlainTextResponse(await run_in_threadpool(treeheads.local_checkpoint, node))
        except StoreUnavailable as exc:
            raise store_unavailable(exc) from None

    @router.get("/consistency", summary="RFC 9162 consistency proof (partners only)")
    async def consistency(first: int | None = None, second: int | None = None,
                          sender: str = Depends(authenticate)) -> dict[str, Any]:
        if first is None or second is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "query parameters first and second are required")
        from starlette.concurrency import run_in_threadpool
        try:
            proof = await run_in_threadpool(treeheads.local_consistency, node, first, second)
        except StoreUnavailable as exc:  # not the request's fault: retry
            raise store_unavailable(exc) from None
        except AccordError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
        return {"first": first, "second": second, "proof": proof}

    @router.get("/receipt", summary="Proof of a ledger entry recording an item from the caller (partners only)",
                responses=error_responses(404))
    async def receipt(index: int | None = None, size: int | None = None,
                      sender: str = Depends(authenticate)) -> dict[str, Any]:
        if index is None or size is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "query parameters index and size are required")
        if not (0 <= index <= MAX_LEDGER_INDEX and 0 <= size <= MAX_LEDGER_INDEX + 1):
            raise HTTPException(status.HTTP_400_BAD_REQUEST,
                                f"query parameter index must be an integer in 0..{MAX_LEDGER_INDEX} and size "
                                f"in 0..{MAX_LEDGER_INDEX + 1}")
        from starlette.concurrency import run_in_threadpool
        try:
            found = await run_in_threadpool(receipts.local_receipt, node, sender, index, size)
        except StoreUnavailable as exc:
            raise store_unavailable(exc) from None
        if found is None:  # one answer, whatever the entry is: the rest of the log is not the caller's
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                {"error": "not_found", "reason": receipts.not_found_reason(sender, index, size)})
        return found

    @router.get("/receipts", summary="Proofs of ledger entries recording items from the caller (partners only)")
    async def receipts_batch(index: list[int] = Query([]), size: int | None = None,
                             sender: str = Depends(authenticate)) -> dict[str, Any]:
        most = receipts.PROOFS_PER_REQUEST
        if not index or size is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST,
                                f"query parameters index (1 to {most} of them) and size are required")
        if len(index) > most or len(set(index)) != len(index):
            raise HTTPException(status.HTTP_400_BAD_REQUEST,
                                f"query parameter index must be given 1 to {most} times, each time another one "
                                f"({len(index)} given, {len(set(index))} different)")
        if not (all(0 <= i <= MAX_LEDGER_INDEX for i in index) and 0 <= size <= MAX_LEDGER_INDEX + 1):
            raise HTTPException(status.HTTP_400_BAD_REQUEST,
                                f"query parameter index must be an integer in 0..{MAX_LEDGER_INDEX} and size "
                                f"in 0..{MAX_LEDGER_INDEX + 1}")
        from starlette.concurrency import run_in_threadpool
        try:  # one answer for every index not given, whatever the reason: the rest of the log is not the caller's
            return await run_in_threadpool(receipts.local_receipts, node, sender, index, size)
        except StoreUnavailable as exc:
            raise store_unavailable(exc) from None

    @router.get("/heads", summary="The third parties' heads this node verified (partners only)")
    async def heads(sender: str = Depends(authenticate)) -> JSONResponse:
        from starlette.concurrency import run_in_threadpool
        try:
            return JSONResponse(await run_in_threadpool(gossip.relayed_heads, node, sender))
        except StoreUnavailable as exc:
            raise store_unavailable(exc) from None

    return router
