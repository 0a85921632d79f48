"""How envelopes travel: a small interface, an HTTP implementation and an in-process one.

:class:`Transport` has four calls, all made by the *sending* node ``node`` towards partner
``party``: deliver a batch body and get the partner's :class:`~accord.federation.inbox.BatchAck`,
fetch its latest signed checkpoint, fetch a consistency proof, and fetch the heads of third
parties it has verified (:mod:`accord.federation.gossip`, the answer's bytes, read up to a cap).
Both implementations also fetch receipt proofs (``get_receipts``, ``get_receipt``:
:mod:`accord.federation.receipts`; a transport without them checks no receipt). Any failure to get an answer
raises :class:`~accord.errors.FederationError` (the caller retries with backoff); a refusal of
the request itself raises :class:`~accord.errors.AuthError`.

* :class:`HttpTransport` — HTTPS (or HTTP on loopback) with httpx, every request signed per
  RFC 9421 (:mod:`accord.federation.httpsig`); a partner's TLS certificate is pinned (it is the
  only trust anchor for that partner). Each request has an overall deadline
  (:data:`REQUEST_DEADLINE`, more for a large batch: :data:`SLOWEST_UPLOAD`), enforced on every
  read and write of its socket, so a partner that answers one byte at a time, each in less than
  the per-read ``timeout``, fails as an unreachable one does; the same deadline bounds the
  partner's name lookup, each connection attempt and the TLS handshake as a whole
  (:mod:`accord.federation.deadline`); and an answer is read up to :data:`MAX_ANSWER_BYTES`.
* :class:`InProcessNetwork` — nodes in one process (exercises, property tests) with injectable
  delay, loss (of the request or of the answer after the receiver committed) and partitions.
"""

from __future__ import annotations

import os
import random
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from accord.core.canonical import canonical_json, parse_json_strict
from accord.core.plain_http import plain_remote_host
from accord.errors import AuthError, FederationError, InputError, PartnerDeferred, QuotaExceeded, shown
from accord.federation import deadline
from accord.federation.httpsig import sign_request
from accord.federation.inbox import BatchAck, receive_batch

if TYPE_CHECKING:
    from accord.store.protocol import Node


class Transport(Protocol):
    def send(self, node: Node, party: str, envelopes: list[bytes]) -> BatchAck: ...
    def get_checkpoint(self, node: Node, party: str) -> str: ...
    def get_consistency(self, node: Node, party: str, first: int, second: int) -> list[str]: ...
    def get_heads(self, node: Node, party: str) -> bytes: ...


def batch_body(envelopes: list[bytes]) -> bytes:
    """``{"envelopes": [...]}`` without re-canonicalising each stored envelope."""
    return b'{"envelopes":[' + b",".join(envelopes) + b"]}"


# --- HTTP -------------------------------------------------------------------------------------
REQUEST_DEADLINE = 60.0
"""Seconds one request to a partner may take as a whole — connecting, sending, the partner's work
and reading its whole answer — past which it fails as an unreachable partner does. The largest
answer, a 2,000-envelope batch's acknowledgement, is under 1.5 MB (a receipt's reason is at most
500 characters; usually about 150 KB); a consistency proof is at most 64 hashes (3 KB), a
checkpoint note about 200 bytes, relayed tree heads at most 512 KiB."""

SLOWEST_UPLOAD = 128 * 1024
"""Bytes per second: a request with a body (a batch, up to 32 MiB) has one more second of
deadline per this many bytes of it, so a large batch on a slow link still gets there."""

MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""The largest answer read from a partner (past it, the answer is refused, not held whole)."""


def _read_capped(resp: httpx.Response, cap: int, party: str) -> bytes:
    """The answer's body, at most ``cap`` + 1 bytes of it. An answer in a ``Content-Encoding``
    (asked for none: a partner's API sends none) is refused unread: decoded, 64 KiB of gzip
    make 64 MiB in one piece, past any cap, and the whole answer was decoded twice."""
    encoding = resp.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FederationError(f"{party} answered in Content-Encoding {shown(encoding)}, not asked for: refused")
    body = bytearray()
    for chunk in resp.iter_bytes():
        body += chunk
        if len(body) > cap:
            break
    return bytes(body[:cap + 1])


class _Client:
    """One partner's httpx client, made for one configuration (``key``: URL, the pinned
    certificate file's path and :func:`_stamp`, timeout), and the requests using it now
    (``users``): a client replaced after a re-pin is closed once the last request made on it is
    over, never under a request on its way."""

    def __init__(self, key: tuple[Any, ...], client: httpx.Client) -> None:
        self.key, self.client, self.users = key, client, 0


class HttpTransport:
    """Signed HTTP(S) requests to each partner's URL (``node.partners()[party].url``).

    Each request looks the partner's pin up again (its URL, and one ``stat`` of its pinned
    certificate's file: the file is read only when that changes): a partner pinned again with
    another URL or certificate while the node serves (``accord node partner add``, ``accord node
    tls pin``, which replaces the file) gets a new client at its next request, and the old one is
    closed once the requests still on their way on it are over."""

    def __init__(self, *, timeout: float = 10.0, tls_pins: dict[str, Path] | None = None) -> None:
        self.timeout = timeout
        self.tls_pins = dict(tls_pins or {})
        self._clients: dict[str, _Client] = {}
        self._replaced: set[_Client] = set()  # replaced under a request on its way: close() reaches them here
        self._lock = threading.Lock()
        self._closed = False  # (a request still on its way at close() makes no new client)

    @contextmanager
    def _client(self, node: Node, party: str) -> Iterator[tuple[httpx.Client, str]]:
        """The client for ``party``'s pin as it is now, and its URL, for the ``with`` block."""
        partner = node.partners().get(party)
        url = getattr(partner, "url", None) if partner is not None else None
        if not url:
            raise FederationError(f"partner {party} has no URL (pin it with a URL to deliver to it)")
        if plain_remote_host(url) is not None and not getattr(partner, "insecure", False):
            raise FederationError(f"partner {party}'s URL {url} is plain HTTP off loopback and was not accepted "
                                  "with --insecure; re-pin it with https:// or --insecure")
        path = None
        if url.startswith("https://"):
            path = self.tls_pins.get(party) or Path(node.dir) / "tls" / "partners" / f"{party}.pem"
        key = (url, str(path), _stamp(path, party) if path is not None else None, self.timeout)
        stale: _Client | None = None
        with self._lock:
            if self._closed:
                raise FederationError(f"partner {party}: the transport is closed (the service stopped)")
            entry = self._clients.get(party)
            if entry is None or entry.key != key:
                pem = _read_pin(Path(path), party, Path.read_bytes) if path is not None else None  # stamp changed
                made = _Client(key, _new_client(url, pem, self.timeout))  # first: a bad PEM leaves the old one
                if entry is not None:  # pinned again: the old client goes once no request uses it
                    if entry.users:
                        self._replaced.add(entry)
                    else:
                        stale = entry
                entry = self._clients[party] = made
            entry.users += 1
        if stale is not None:
            stale.client.close()
        try:
            yield entry.client, url
        finally:
            with self._lock:
                entry.users -= 1
                done = entry.users == 0 and entry in self._replaced
                if done:
                    self._replaced.discard(entry)
            if done:
                entry.client.close()

    def _request(self, node: Node, party: str, method: str, path: str, params: dict[str, Any] | None,
                 body: bytes, allow: tuple[int, ...] = (200,), within: float | None = None) -> httpx.Response:
        query = str(httpx.QueryParams(params or {}))
        headers = sign_request(node.identity, method, path, query, body, node.clock.now(), party)
        if body:
            headers["Content-Type"] = "application/json"
        headers["Accept-Encoding"] = "identity"
        seconds = REQUEST_DEADLINE + len(body) / SLOWEST_UPLOAD
        seconds = seconds if within is None else min(seconds, within)
        with self._client(node, party) as (client, url):
            try:
                with deadline.within(seconds), client.stream(method, path, params=params, content=body,
                                                       headers=headers) as streamed:
                    content = _read_capped(streamed, MAX_ANSWER_BYTES, party)
            except httpx.HTTPError as exc:
                raise _unreachable(party, url, exc, seconds) from None
        resp = httpx.Response(streamed.status_code, headers=streamed.headers, content=content)
        if resp.status_code in (401, 403):
            raise AuthError(f"{party} refused the request: {shown(resp.text, 300)}")
        if resp.status_code == 429:
            raise PartnerDeferred(f"{party} answered HTTP 429: {shown(resp.text, 300)}",
                                  retry_after=retry_after(resp.headers.get("retry-after")))
        if resp.status_code not in allow:
            raise FederationError(f"{party} answered HTTP {resp.status_code}: {shown(resp.text, 300)}")
        if len(content) > MAX_ANSWER_BYTES:
            raise FederationError(f"{party}'s answer to {path} is over {MAX_ANSWER_BYTES} bytes: refused")
        return resp

    def send(self, node: Node, party: str, envelopes: list[bytes]) -> BatchAck:
        resp = self._request(node, party, "POST", "/federation/v1/envelopes", None, batch_body(envelopes))
        return BatchAck.from_json(parse_json_strict(resp.content, source=f"ack from {party}"))

    def get_checkpoint(self, node: Node, party: str) -> str:
        return self._request(node, party, "GET", "/federation/v1/checkpoint", None, b"").text

    def get_consistency(self, node: Node, party: str, first: int, second: int) -> list[str]:
        resp = self._request(node, party, "GET", "/federation/v1/consistency",
                             {"first": first, "second": second}, b"")
        try:  # bounded like every JSON a partner sends (depth, numbers)
            proof = parse_json_strict(resp.content, source=f"consistency proof from {party}")["proof"]
        except (InputError, KeyError, TypeError) as exc:
            raise FederationError(f"{party} sent a malformed consistency proof: {exc}") from None
        if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
            # (a string or an object would be taken apart into "hashes" and flag the partner's
            # ledger inconsistent; numbers would fail in base64 decoding)
            raise FederationError(f"{party} sent a malformed consistency proof: not a list of strings")
        return proof

    def get_receipt(self, node: Node, party: str, index: int, size: int) -> bytes | None:
        """The partner's proof of ledger entry ``index`` in its tree of ``size`` (the answer's bytes,
        parsed and checked by :func:`accord.federation.receipts.parse_proof`), or None if it answers 404."""
        resp = self._request(node, party, "GET", "/federation/v1/receipt", {"index": index, "size": size}, b"",
                             allow=(200, 404))
        return None if resp.status_code == 404 else resp.content

    def get_receipts(self, node: Node, party: str, indices: list[int], size: int,
                     within: float | None = None) -> bytes | None:
        """The partner's proofs of ledger entries ``indices`` (at most 64) in its tree of ``size``
        (the answer's bytes, parsed and checked by :func:`accord.federation.receipts.parse_proofs`),
        the request given ``within`` seconds at most; None if the partner has no such route (404:
        older than it, it is asked one index at a time)."""
        resp = self._request(node, party, "GET", "/federation/v1/receipts", {"index": indices, "size": size}, b"",
                             allow=(200, 404), within=within)
        return None if resp.status_code == 404 else resp.content

    def get_heads(self, node: Node, party: str) -> bytes:
        """The partner's relayed heads, read up to one byte past the gossip cap (so a larger
        answer is refused by :func:`accord.federation.gossip.parse_heads`, never held whole)."""
        from accord.federation.gossip import MAX_ANSWER_BYTES as HEADS_CAP  # (under the transport's cap)

        path = "/federation/v1/heads"
        headers = sign_request(node.identity, "GET", path, "", b"", node.clock.now(), party)
        headers["Accept-Encoding"] = "identity"
        with self._client(node, party) as (client, url):
            try:
                with deadline.within(REQUEST_DEADLINE), client.stream("GET", path, headers=headers) as resp:
                    if resp.status_code in (401, 403):
                        raise AuthError(f"{party} refused the request: {_read_capped(resp, 300, party)[:300]!r}")
                    if resp.status_code != 200:
                        raise FederationError(f"{party} answered HTTP {resp.status_code} for its tree heads")
                    return _read_capped(resp, HEADS_CAP, party)
            except httpx.HTTPError as exc:
                raise _unreachable(party, url, exc, REQUEST_DEADLINE) from None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            entries = [*self._clients.values(), *self._replaced]
            self._clients.clear()
            self._replaced.clear()
        for entry in entries:  # (a request still on its way is cut short: the service stops)
            entry.client.close()


def _new_client(url: str, pem: bytes | None, timeout: float) -> httpx.Client:
    verify: Any = True
    if pem is not None:
        try:
            ctx = ssl.create_default_context(cadata=pem.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as exc:
            raise FederationError(f"the certificate pinned for {url} is not a PEM certificate: {exc}") from None
        ctx.check_hostname = False  # the pinned self-signed cert is the only anchor
        verify = ctx
    return httpx.Client(base_url=url.rstrip("/"), timeout=timeout, transport=deadline.DeadlineTransport(verify))


def _stamp(path: Path, party: str) -> tuple[int, int, int, int]:
    """What tells that ``party``'s pinned certificate file changed, from one ``stat``: inode (``tls
    pin`` replaces the file), size, mtime and ctime (a write in place with mtime set back changes it)."""
    st = _read_pin(path, party, os.stat)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read_pin(path: Path, party: str, read: Any) -> Any:
    """``read(path)`` of the pinned certificate (a stat, its bytes), its errors as :class:`FederationError`."""
    try:
        return read(path)
    except FileNotFoundError:
        raise FederationError(f"partner {party} uses HTTPS but no certificate is pinned (accord node tls pin)") from None
    except OSError as exc:
        raise FederationError(f"the pinned certificate {path} cannot be read: {exc}") from None


MAX_RETRY_AFTER = 3600.0
"""The longest ``Retry-After`` honoured (a partner's quota window); a longer one is cut to it."""

MIN_RETRY_AFTER = 1.0
"""The shortest ``Retry-After`` honoured; a shorter one (0) is raised to it, so a partner answering
every batch 429 "retry now" cannot have the delivery worker resend (and record the deferral) in
a loop that never waits."""

_DELAY_SECONDS = re.compile(r"[0-9]{1,12}")  # ASCII digits only (str.isdigit also takes '²', '٣' …)


def honoured_wait(seconds: float) -> float:
    """A partner's asked-for wait within :data:`MIN_RETRY_AFTER` .. :data:`MAX_RETRY_AFTER`, as both transports pass it."""
    return min(max(float(seconds), MIN_RETRY_AFTER), MAX_RETRY_AFTER)


def retry_after(value: str | None) -> float | None:
    """A 429's ``Retry-After`` in seconds (RFC 9110 §10.2.3: delay-seconds; an HTTP date is not
    read), bounded by :func:`honoured_wait`; None when absent or not a number of seconds."""
    if value is None or not _DELAY_SECONDS.fullmatch(value.strip()):
        return None
    return honoured_wait(float(value.strip()))


def _unreachable(party: str, url: str, exc: Exception, seconds: float) -> FederationError:
    if isinstance(exc, httpx.TimeoutException) and deadline.cut():
        return FederationError(f"{party} at {url} unreachable: no whole answer within {seconds:g} s")
    return FederationError(f"{party} at {url} unreachable: {type(exc).__name__}: {exc}")


# --- in process -------------------------------------------------------------------------------
class InProcessNetwork:
    """Nodes in one process, linked by a simulated network.

    ``delay`` seconds per request, ``loss`` probability that a request is lost before the
    receiver sees it, ``ack_loss`` probability that the answer is lost *after* the receiver
    committed (the sender then retries and must get an idempotent duplicate), ``partition(a, b)``
    cuts a link both ways, ``down(party)`` makes a node unreachable (a crashed process).
    """

    def __init__(self, *, delay: float = 0.0, loss: float = 0.0, ack_loss: float = 0.0,
                 seed: int | None = None) -> None:
        self.nodes: dict[str, Any] = {}
        self.delay, self.loss, self.ack_loss = delay, loss, ack_loss
        self.rng = random.Random(seed)
        self.cut: set[frozenset[str]] = set()
        self.stopped: set[str] = set()
        self._lock = threading.Lock()

    def attach(self, node: Node) -> None:
        self.nodes[node.party] = node

    def partition(self, a: str, b: str) -> None:
        self.cut.add(frozenset((a, b)))

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        if a is None:
            self.cut.clear()
        else:
            self.cut.discard(frozenset((a, b)))

    def down(self, party: str) -> None:
        self.stopped.add(party)

    def up(self, party: str, node: Node | None = None) -> None:
        self.stopped.discard(party)
        if node is not None:
            self.nodes[party] = node

    def _target(self, node: Node, party: str) -> Any:
        if self.delay:
            time.sleep(self.delay)
        if party in self.stopped or node.party in self.stopped or party not in self.nodes:
            raise FederationError(f"{party} is down")
        if frozenset((node.party, party)) in self.cut:
            raise FederationError(f"link {node.party}–{party} is cut")
        with self._lock:
            lost = self.loss and self.rng.random() < self.loss
        if lost:
            raise FederationError(f"request {node.party} → {party} lost")
        return self.nodes[party]

    def send(self, node: Node, party: str, envelopes: list[bytes]) -> BatchAck:
        target = self._target(node, party)
        parsed = [parse_json_strict(e) for e in envelopes]
        try:
            ack = receive_batch(target, parsed, sender=node.party)
        except QuotaExceeded as exc:  # as HttpTransport reads the partner API's 429, its wait bounded alike
            raise PartnerDeferred(f"{party} answered HTTP 429: {exc}", retry_after=honoured_wait(exc.retry_after)) from None
        with self._lock:
            lost = self.ack_loss and self.rng.random() < self.ack_loss
        if lost:
            raise FederationError(f"acknowledgement {party} → {node.party} lost")
        # round-trip through JSON, as over the wire
        return BatchAck.from_json(parse_json_strict(canonical_json(ack.to_json())))

    def get_checkpoint(self, node: Node, party: str) -> str:
        from accord.federation.treeheads import local_checkpoint
        return local_checkpoint(self._target(node, party))

    def get_consistency(self, node: Node, party: str, first: int, second: int) -> list[str]:
        from accord.federation.treeheads import local_consistency
        return local_consistency(self._target(node, party), first, second)

    def get_receipt(self, node: Node, party: str, index: int, size: int) -> Any:
        from accord.federation.receipts import local_receipt
        return local_receipt(self._target(node, party), node.party, index, size)

    def get_receipts(self, node: Node, party: str, indices: list[int], size: int,
                     within: float | None = None) -> Any:
        from accord.federation.receipts import local_receipts
        return local_receipts(self._target(node, party), node.party, indices, size)

    def get_heads(self, node: Node, party: str) -> bytes:
        from accord.federation.gossip import relayed_heads
        return canonical_json(relayed_heads(self._target(node, party), node.party))
