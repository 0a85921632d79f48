"""The JetStream pieces the feed and the ingest share: the radar stream, the consumer and its pulls
(connecting: :mod:`accord.feeds.nats_connect`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from accord.errors import ConfigError
from accord.feeds.scans import MAX_SCAN_BYTES, check_token, radar_filter

log = logging.getLogger("accord.feeds")

DEFAULT_STREAM = "ACCORD_RADAR"
DUPLICATE_WINDOW_S = 120.0
STREAM_MAX_MSG_BYTES = MAX_SCAN_BYTES + 1024
"""The radar stream's ``max_msg_size``: the server refuses a larger publish (nats-py raises
``BadRequestError``, "message size exceeds maximum allowed"), so junk of any size up to the
server's payload limit never reaches the stream. The server counts the headers with the body, so
the limit is the ingest's bound on a scan's body (:data:`~accord.feeds.scans.MAX_SCAN_BYTES`,
which the ingest still applies, unread, to what a stream holds) plus 1 KiB for the headers (the
feed's ``Nats-Msg-Id`` header is some 60 bytes): the server never refuses a scan the ingest would
take."""
STREAM_MAX_BYTES = 1024**3
"""The radar stream's ``max_bytes``: beyond it the server drops the oldest messages (``discard``
old). A stream under limits retention keeps every message, acknowledged or terminated, until a
limit drops it: without one, a radar feed over days — or a publisher of junk on the radar
subjects — filled JetStream's store, and then every publish failed (the feed took no scan). Some
six hours of a very busy feed (100 scans a second of 500 bytes), days of a usual one. The server
reserves a stream's ``max_bytes`` in its store when the stream is made (a server whose
``max_file_store`` has less room left refuses it), so the bound is kept modest: a test run's few
streams at once, or a small server, have room for it."""
STREAM_MAX_AGE_S = 86_400.0
"""The radar stream's ``max_age``: a scan is kept a day. The ingest processes a scan within
seconds; one not taken within a day (the ingest stopped that long) is dropped unprocessed."""


async def ensure_stream(js: Any, stream: str, prefix: str, party: str) -> None:
    """Create the radar stream ``stream`` over ``<prefix>.<party>.radar.>`` if it does not exist
    (file storage, limits retention, a duplicate window for the message ids, messages of at most
    :data:`STREAM_MAX_MSG_BYTES`, at most :data:`STREAM_MAX_BYTES` and :data:`STREAM_MAX_AGE_S`
    of them, the oldest dropped). A stream that exists with another ``max_msg_size`` (none, or an
    operator's own) is updated to it, with one warning line: the messages it holds stay, and the
    ingest refuses a scan over its bound unread; one that keeps its messages without any bound
    is given those two, with one warning line (left as it is, with one warning line, if the server
    refuses). A stream that takes other subjects too is left
    as it is (one warning line): its limits serve what else it holds."""
    import nats.errors
    from nats.js.api import DiscardPolicy, StorageType, StreamConfig
    from nats.js.errors import APIError, NotFoundError

    check_token(stream, "stream")
    subject = radar_filter(prefix, party)
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        try:
            await js.add_stream(StreamConfig(name=stream, subjects=[subject], storage=StorageType.FILE,
                                             duplicate_window=DUPLICATE_WINDOW_S, max_msg_size=STREAM_MAX_MSG_BYTES,
                                             max_bytes=STREAM_MAX_BYTES, max_age=STREAM_MAX_AGE_S,
                                             discard=DiscardPolicy.OLD))
        except APIError as exc:   # e.g. 10047 "insufficient storage resources available"
            raise ConfigError(f"cannot create stream {stream} of at most {STREAM_MAX_BYTES} bytes: {exc.description}"
                              " (JetStream reserves a stream's max_bytes in its store: see its max_file_store)"
                              ) from None
        return
    if subject not in (info.config.subjects or []):
        raise ConfigError(f"stream {stream} exists but does not take {subject} "
                          f"(its subjects: {', '.join(info.config.subjects or [])})")
    old = info.config.max_msg_size
    others = [s for s in info.config.subjects or [] if s != subject]
    if old != STREAM_MAX_MSG_BYTES and others:
        # the stream is not the radar's alone: its limit is the operator's, for what else it
        # takes; the ingest's own bound (MAX_SCAN_BYTES, applied unread) still holds
        log.warning("stream %s takes other subjects too (%s): its max_msg_size (%s) is left as it is",
                    stream, ", ".join(others), _size(old), extra={"event": "feed.stream_not_updated", "stream": stream})
    elif old != STREAM_MAX_MSG_BYTES:
        info.config.max_msg_size = STREAM_MAX_MSG_BYTES
        try:
            await js.update_stream(info.config)
        except (APIError, nats.errors.TimeoutError) as exc:
            # a user the server's permissions deny $JS.API.STREAM.UPDATE gets no answer at all
            why = (f"{exc}" if isinstance(exc, APIError) else
                   "no answer from JetStream (may this user update streams? a denied request is not answered)")
            raise ConfigError(f"stream {stream} takes messages of {_size(old)}; setting its max_msg_size to "
                              f"{STREAM_MAX_MSG_BYTES} failed: {why}") from None
        log.warning("stream %s took messages of %s; its max_msg_size is now %d (larger scans are refused)",
                    stream, _size(old), STREAM_MAX_MSG_BYTES,
                    extra={"event": "feed.stream_updated", "stream": stream})
    if not others and _unbounded(info.config):
        await _bound(js, info.config, stream)


def _unbounded(config: Any) -> bool:
    """Whether a stream keeps its messages without any limit (bytes, count or age) under limits
    retention: one made by an Accord before :data:`STREAM_MAX_BYTES`, by hand or by another
    tool. A limit an operator set is the operator's choice, and is left as it is; so is another
    retention (work queue, interest), which drops a message once it is consumed."""
    from nats.js.api import RetentionPolicy

    return ((config.retention in (None, RetentionPolicy.LIMITS))
            and (config.max_bytes is None or config.max_bytes < 0) and (config.max_msgs is None or config.max_msgs < 0)
            and not config.max_age)


async def _bound(js: Any, config: Any, stream: str) -> None:
    """Give the radar stream ``stream`` (``config``: its own) :data:`STREAM_MAX_BYTES` and
    :data:`STREAM_MAX_AGE_S`, the oldest messages dropped past them; one warning line. If the
    server refuses (no room to reserve the bound, no permission to update streams), one warning
    line too, and the stream is left as it was: it served the feed until now."""
    import nats.errors
    from nats.js.api import DiscardPolicy
    from nats.js.errors import APIError

    config.max_bytes, config.max_age, config.discard = STREAM_MAX_BYTES, STREAM_MAX_AGE_S, DiscardPolicy.OLD
    try:
        await js.update_stream(config)
    except (APIError, nats.errors.TimeoutError) as exc:
        # the stream worked unbounded until now (an operator's, or an older Accord's): a server
        # without room to reserve the bound, or a user not allowed to update streams, is said in
        # one line, and the feed goes on as it did — refusing here stopped an ingest that ran
        why = (f"{exc.description}" if isinstance(exc, APIError) else
               "no answer from JetStream (may this user update streams? a denied request is not answered)")
        log.warning("stream %s keeps its messages without bound; setting its max_bytes to %d and max_age to %g s "
                    "failed: %s; it is left as it is (bound it with `nats stream edit`)", stream, STREAM_MAX_BYTES,
                    STREAM_MAX_AGE_S, why, extra={"event": "feed.stream_not_updated", "stream": stream})
        return
    log.warning("stream %s kept its messages without bound; it now keeps at most %d bytes and %g s of them "
                "(the oldest are dropped)", stream, STREAM_MAX_BYTES, STREAM_MAX_AGE_S,
                extra={"event": "feed.stream_updated", "stream": stream})


def _size(max_msg_size: int | None) -> str:
    return "any size" if max_msg_size is None or max_msg_size < 0 else f"at most {max_msg_size} bytes"


async def pull_consumer(nc: Any, stream: str, durable: str, prefix: str, party: str,
                        *, after_seq: int, max_pending: int) -> BytePull:
    """The durable pull consumer of the ingest, delivering from stream sequence
    ``after_seq + 1`` on: the node's stored sequence, not the server's, says where to resume.

    The consumer is made anew at each start. An old one would hand out new messages first and
    the unacknowledged ones of a killed process only once their ack wait expired, out of order.
    Acknowledgements are cumulative (``AckAll``: acknowledging a message acknowledges every
    earlier one), sent after the commit. Fetched through :class:`BytePull`, bounded in bytes."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    from nats.js.errors import NotFoundError

    check_token(durable, "consumer")
    js = nc.jetstream()
    try:
        await js.delete_consumer(stream, durable)
    except NotFoundError:
        pass
    start = {"deliver_policy": DeliverPolicy.ALL} if after_seq <= 0 else \
        {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": after_seq + 1}
    cfg = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.ALL, ack_wait=30.0,
                         max_ack_pending=max_pending, filter_subject=radar_filter(prefix, party), **start)
    await js.add_consumer(stream, cfg)
    inbox = await nc.subscribe(nc.new_inbox())
    return BytePull(nc, inbox, stream, durable)


class PullError(ConfigError):
    """A pull of the ingest's consumer that cannot go on: the consumer deleted (by another
    ingest made with the same ``--consumer`` name, or by hand), or JetStream refusing the
    requests themselves. Raised out of :meth:`BytePull.fetch`, so the ingest stops with one line
    rather than sitting idle on a consumer that will never deliver."""

    def __init__(self, message: str, status: str | None = None, description: str = "") -> None:
        super().__init__(message)
        self.status, self.description = status, description


WARN_EVERY_S = 60.0
"""How often :class:`BytePull` logs the same unexpected status at most."""
#: statuses that end a pull request normally: no message now, the request expired
_END_STATUSES = frozenset({"404", "408"})
#: 409 descriptions (lower case, their start) that end a request at its own bounds: the next
#: message is past ``max_bytes`` (it waits for the next request), or the batch is complete
_END_409 = ("message size exceeds maxbytes", "batch completed")
#: 409 descriptions that no later request can get past: the consumer is gone or is not a pull
#: consumer, or it refuses requests of the ingest's form (limits another tool set on it)
_FATAL_409 = ("consumer deleted", "consumer is push based", "exceeded maxrequestbatch",
              "exceeded maxrequestexpires", "exceeded maxrequestmaxbytes")


class BytePull:
    """Fetches of a pull consumer bounded in bytes as well as in messages.

    nats-py's ``fetch`` asks JetStream for a number of messages only, so a batch of 512 messages
    of junk near NATS's 1 MB payload limit was 512 MB in the ingest's memory at once. Each
    request here also carries ``max_bytes``: the server delivers messages until the next would
    pass it, then ends the request (status 409) and keeps that message for the next one. A
    message larger than a request's ``max_bytes`` would never be delivered, so the first request
    of a batch asks for at least :attr:`min_bytes` (twice the server's payload limit, which
    bounds every stored message): no message is ever stuck, and none is skipped.

    JetStream ends a request with a status message. 404 (no messages), 408 (expired) and 409
    "Message Size Exceeds MaxBytes" are a request's normal ends, 100 a heartbeat. Any other
    status is logged in one warning line (status and description; the same one again at most
    every :data:`WARN_EVERY_S`, with the count of those in between): 409 "Exceeded MaxWaiting" or
    "Leadership Change" end that request, and the next one goes on (:meth:`fetch` first waits out
    the rest of its timeout, up to 1 s). :class:`PullError` is raised for 409 "Consumer Deleted",
    "Consumer is push based" or "Exceeded MaxRequest…" (every later request would meet the same),
    and for any status but 100, 404, 408, 409 and 503, as nats-py raises ``APIError`` for them
    (it counts every 409 as temporary). A request that gets no answer at all — no message, no
    status: the server drops the requests of a consumer deleted between two of them — or 503 (no
    responders: nothing listens on the pull subject for now, as between two leaders of a
    clustered consumer) asks the server for the consumer: :class:`PullError` says so if it is
    gone, else it is one warning line, and a 503 pauses :meth:`fetch` as a warned 409 does."""

    def __init__(self, nc: Any, sub: Any, stream: str, durable: str) -> None:
        self.nc, self.sub, self.stream, self.durable = nc, sub, stream, durable
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.min_bytes = 2 * int(nc.max_payload)
        self.clock = time.monotonic
        self.warned: dict[tuple[str, str], list[float]] = {}   # status logged: [when, repeats since]
        self.paused = False   # the last request ended by a warned status or 503: fetch waits a little

    async def fetch(self, batch: int, timeout: float, max_bytes: int) -> list[Any]:
        """Up to ``batch`` messages of at most ``max_bytes`` in all: those the server has now,
        else the first to arrive within ``timeout`` (``asyncio.TimeoutError`` if none).
        ``max_bytes`` below a waiting message's size returns [] (the message waits for a larger
        request). :class:`PullError` if the pull cannot go on (see the class)."""
        t0 = time.monotonic()
        msgs = await self._request({"batch": batch, "max_bytes": max_bytes, "no_wait": True}, batch, timeout + 1.0)
        if msgs or timeout < 0.01 or self.paused:
            if msgs:
                return msgs
            await self._pause(t0, timeout)
            raise asyncio.TimeoutError
        msgs = await self._request({"batch": 1, "max_bytes": max_bytes, "expires": int((timeout - 0.005) * 1e9)},
                                   1, timeout + 1.0)
        if not msgs:
            await self._pause(t0, timeout)
            raise asyncio.TimeoutError
        return msgs

    async def _pause(self, t0: float, timeout: float) -> None:
        """After a request the server ended for want of a leader or of room (a warned status, 503):
        the rest of ``timeout`` waited out, so a caller pulling again at once does not send the
        server requests (and the consumer's info) in a tight loop meanwhile."""
        if self.paused:
            await asyncio.sleep(max(t0 + min(timeout, 1.0) - time.monotonic(), 0.0))

    async def _request(self, req: dict[str, Any], batch: int, wait_s: float) -> list[Any]:
        """One pull request: its messages until ``batch`` of them or the server's status ending it
        (404 no messages, 408 expired, 409 the next is past ``max_bytes``). Messages of an
        earlier request that arrived after its caller stopped waiting come first (and a status
        among them is checked as the request's own would be)."""
        import nats.errors

        msgs: list[Any] = []
        self.paused = False
        while self.sub.pending_msgs:
            msg = await self.sub.next_msg(timeout=1.0)
            if self.check(msg) is None:
                msgs.append(msg)
        size = sum(len(m.data) for m in msgs)
        if len(msgs) >= batch or size >= req["max_bytes"]:
            return msgs
        req = {**req, "batch": batch - len(msgs), "max_bytes": req["max_bytes"] - size}
        await self.nc.publish(self.subject, json.dumps(req).encode(), reply=self.sub.subject)
        deadline = time.monotonic() + wait_s
        answered, status = False, None
        while len(msgs) < batch:
            try:
                msg = await self.sub.next_msg(timeout=max(deadline - time.monotonic(), 0.001))
            except nats.errors.TimeoutError:
                break
            answered = True
            status = self.check(msg)
            if status is None:
                msgs.append(msg)
            elif status != "100":   # 100: a heartbeat
                break
        if not answered:
            await self._unanswered(("", "no answer"), f"no answer to a pull of consumer {self.durable} of stream "
                                   f"{self.stream} within {wait_s:.1f} s", {"status": None, "description": "no answer"})
        elif status == "503":
            self.paused = True
            await self._unanswered(("503", ""), f"JetStream status 503 (no responders) to a pull of consumer "
                                   f"{self.durable} of stream {self.stream}", {"status": "503", "description": ""})
        return msgs

    def check(self, msg: Any) -> str | None:
        """The status of a JetStream status message (None for a stored message), after the
        warning or :class:`PullError` it calls for (see the class)."""
        status = _status(msg)
        if status is None or status == "100":
            return status
        if status == "503":  # nothing listens on the pull subject for now: _request asks for the consumer
            return status
        desc = str(msg.headers.get("Description", ""))
        low = desc.lower()
        if status in _END_STATUSES or (status == "409" and low.startswith(_END_409)):
            return status
        what = f"JetStream status {status} {desc!r} to a pull of consumer {self.durable} of stream {self.stream}"
        if status != "409" or low.startswith(_FATAL_409):
            raise PullError(f"{what}: the ingest cannot go on", status, desc)
        self._warn((status, desc), what, {"status": status, "description": desc})
        self.paused = True
        return status

    def _warn(self, key: tuple[str, str], what: str, extra: dict[str, Any]) -> None:
        """One warning line, unless the same one was logged less than :data:`WARN_EVERY_S` ago."""
        now, seen = self.clock(), self.warned.get(key)
        if seen is not None and now - seen[0] < WARN_EVERY_S:
            seen[1] += 1
            return
        if len(self.warned) > 100:   # descriptions are the server's: keep the record bounded
            self.warned.clear()
        more = f" ({seen[1]:.0f} more since the last line)" if seen and seen[1] else ""
        self.warned[key] = [now, 0]
        log.warning("%s; the pull is tried again%s", what, more, extra={"event": "feed.pull_status", **extra})

    async def _unanswered(self, key: tuple[str, str], what: str, extra: dict[str, Any]) -> None:
        """A request with no answer (JetStream answers every one, with messages or a status), or
        answered 503 (no responders: nothing listens on the consumer's pull subject — between
        two leaders of a clustered consumer, or on a server whose JetStream is not up yet):
        :class:`PullError` if the consumer is gone, else one warning line (``what``)."""
        from nats.js.errors import NotFoundError

        try:
            await self.nc.jetstream().consumer_info(self.stream, self.durable)
        except NotFoundError as exc:
            raise PullError(f"consumer {self.durable} of stream {self.stream} no longer exists ({exc.description}; "
                            "deleted while the ingest pulled from it): the ingest cannot go on", None,
                            str(exc.description or "")) from None
        except Exception as exc:  # nats-py raises several kinds (timeouts, a connection closed)
            log.debug("NATS: consumer info: %s", exc or type(exc).__name__)
        self._warn(key, what, extra)

    async def close(self) -> None:
        await self.sub.unsubscribe()


def _status(msg: Any) -> str | None:
    """The status code of a JetStream status message (a ``Status`` header and no ack subject:
    a stored message always has one), else None."""
    headers = msg.headers
    return str(headers["Status"]) if headers and "Status" in headers and not msg.reply else None
