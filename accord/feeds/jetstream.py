"""The JetStream pieces the feed and the ingest share: connecting, the radar stream, the consumer."""

from __future__ import annotations

import logging
from typing import Any

from accord.errors import ConfigError
from accord.feeds.scans import check_token, radar_filter

log = logging.getLogger("accord.feeds")

DEFAULT_STREAM = "ACCORD_RADAR"
DUPLICATE_WINDOW_S = 120.0


async def _nats_error(exc: Exception) -> None:
    """nats-py's error callback: one debug line. Its default logs every failed attempt with a
    traceback, which ``warning feed`` and ``warning watch`` printed before their one-line error;
    a failure that matters reaches the caller as an exception."""
    log.debug("NATS: %s", exc or type(exc).__name__)


async def connect(url: str) -> Any:
    """A NATS connection, or :class:`ConfigError` naming the URL (one line, no traceback)."""
    import nats

    try:
        return await nats.connect(url, connect_timeout=3, max_reconnect_attempts=2,
                                  allow_reconnect=True, name="accord", error_cb=_nats_error)
    except Exception as exc:  # nats-py raises several kinds (OSError, NoServersError, timeouts)
        raise ConfigError(f"cannot connect to NATS at {url}: {exc or type(exc).__name__}") from None


async def ensure_stream(js: Any, stream: str, prefix: str, party: str) -> None:
    """Create the radar stream ``stream`` over ``<prefix>.<party>.radar.>`` if it does not exist
    (file storage, limits retention, a duplicate window for the message ids)."""
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    check_token(stream, "stream")
    subject = radar_filter(prefix, party)
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=stream, subjects=[subject], storage=StorageType.FILE,
                                         duplicate_window=DUPLICATE_WINDOW_S))
        return
    if subject not in (info.config.subjects or []):
        raise ConfigError(f"stream {stream} exists but does not take {subject} "
                          f"(its subjects: {', '.join(info.config.subjects or [])})")


async def pull_consumer(js: Any, stream: str, durable: str, prefix: str, party: str,
                        *, after_seq: int, max_pending: int) -> Any:
    """The durable pull subscription of the ingest, delivering from stream sequence
    ``after_seq + 1`` on: the node's stored sequence, not the server's, says where to resume.

    The consumer is made anew at each start. An old one would hand out new messages first and
    the unacknowledged ones of a killed process only once their ack wait expired, out of order.
    Acknowledgements are cumulative (``AckAll``: acknowledging a message acknowledges every
    earlier one), sent after the commit."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    from nats.js.errors import NotFoundError

    check_token(durable, "consumer")
    try:
        await js.delete_consumer(stream, durable)
    except NotFoundError:
        pass
    start = {"deliver_policy": DeliverPolicy.ALL} if after_seq <= 0 else \
        {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": after_seq + 1}
    cfg = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.ALL, ack_wait=30.0,
                         max_ack_pending=max_pending, filter_subject=radar_filter(prefix, party), **start)
    return await js.pull_subscribe(radar_filter(prefix, party), durable=durable, stream=stream, config=cfg)
