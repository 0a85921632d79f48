"""Connecting to NATS: the server list of a URL, the URL as logs show it, the inbox each kind
of Accord process takes its replies on, and the connection itself."""

from __future__ import annotations

import logging
from typing import Any

from accord.errors import ConfigError
from accord.feeds.scans import check_token
from accord.logs import Throttle, without_passwords

log = logging.getLogger("accord.feeds")

_refused_lines = Throttle(30)


async def _nats_error(exc: Exception) -> None:
    """nats-py's error callback. The server refusing a subject to this connection's user (a
    permissions violation: a NATS user not allowed what the command does, docs/deployment.md,
    "NATS users") is one warning line naming the subject — the command itself then fails with no
    more than a timeout, since a refused subscription gets no answer. Anything else is one debug
    line: nats-py's default logs every failed attempt with a traceback, which ``warning feed`` and
    ``warning watch`` printed before their one-line error; a failure that matters reaches the
    caller as an exception."""
    text = str(exc) or type(exc).__name__
    if "permissions violation" in text.lower():
        _refused_lines.log(log, logging.WARNING, "NATS refused this user: %s", text.strip(),
                           extra={"event": "nats.permission_refused"})
        return
    log.debug("NATS: %s", text)


def nats_servers(url: str) -> list[str]:
    """``url`` — one NATS server URL or several, comma-separated (``ACCORD_NATS`` names a cluster's
    servers so) — as the list nats-py takes: it read a comma-separated string as one URL and
    refused it."""
    servers = [u.strip() for u in url.split(",") if u.strip()]
    if not servers:
        raise ConfigError(f"no NATS server URL in {url!r}")
    return servers


def nats_shown(url: str) -> str:
    """``url`` as errors and logs name it: without a password (``nats://user:password@host``)."""
    return without_passwords(url)


INBOX_ROOT = "_ACCORD_INBOX"
"""The first token of the reply subjects (inboxes) of Accord's NATS connections, instead of
nats-py's shared ``_INBOX``: see :func:`inbox_prefix`."""

ROLES = ("feed", "ingest", "watch", "events")
"""Who holds a connection: ``accord warning feed``, ``accord warning ingest`` (its alert process
too), ``accord warning watch``, and a node's live-event bridge (``node serve --nats``)."""


def inbox_prefix(party: str, role: str) -> str:
    """``_ACCORD_INBOX.<party>.<role>``: the subjects on which one kind of process gets its answers
    (JetStream's acknowledgements of a feed's publishes, the messages of the ingest's pulls). Under
    nats-py's default ``_INBOX.>`` every user that may subscribe to its own replies could read
    every other's, and one that may publish there could put a message into the ingest's pull; a
    prefix per party and role lets the server's permissions give each user its own and nobody
    else's (deploy/nats/accord-users.conf, docs/deployment.md)."""
    if role not in ROLES:
        raise ValueError(f"unknown NATS role {role!r} (one of {', '.join(ROLES)})")
    return f"{INBOX_ROOT}.{check_token(party, 'party')}.{role}"


async def connect(url: str, *, party: str, role: str) -> Any:
    """A NATS connection of ``role`` for ``party`` (its inboxes under :func:`inbox_prefix`), or
    :class:`ConfigError` naming the URL (one line, no traceback)."""
    import nats

    prefix = inbox_prefix(party, role)
    try:
        return await nats.connect(nats_servers(url), connect_timeout=3, max_reconnect_attempts=2,
                                  allow_reconnect=True, name=f"accord-{role}-{party}", error_cb=_nats_error,
                                  inbox_prefix=prefix)
    except Exception as exc:  # nats-py raises several kinds (OSError, NoServersError, timeouts)
        raise ConfigError(f"cannot connect to NATS at {nats_shown(url)}: {exc or type(exc).__name__}") from None
