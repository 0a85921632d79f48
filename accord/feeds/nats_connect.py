"""Connecting to NATS: the server list of a URL, the URL as logs show it, the inbox each kind
of Accord process takes its replies on, and the connection itself."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from accord.errors import ConfigError
from accord.feeds.scans import check_token
from accord.logs import Throttle, without_passwords

log = logging.getLogger("accord.feeds")

_refused_lines = Throttle(30)


def _is_refusal(text: str) -> bool:
    return "permissions violation" in text.lower()


async def _nats_error(exc: Exception) -> None:
    """nats-py's error callback: one debug line. Its default logs every failed attempt with a
    traceback, which ``warning feed`` and ``warning watch`` printed before their one-line error;
    a failure that matters reaches the caller as an exception. (A connection made by
    :func:`connect` reports the server's refusals of its subjects itself.)"""
    log.debug("NATS: %s", str(exc) or type(exc).__name__)


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


async def connect(url: str, *, party: str, role: str, refused: list[str] | None = None) -> Any:
    """A NATS connection of ``role`` for ``party`` (its inboxes under :func:`inbox_prefix`), or
    :class:`ConfigError` naming the URL (one line, no traceback).

    The server refusing a subject to the connection's user (a permissions violation: a NATS user
    not allowed what the command does, docs/deployment.md, "NATS users") is one warning line
    naming the subject, and its text goes to ``refused``: the command's own operation then fails
    with no more than a timeout (a refused subscription gets no answer), and :func:`refusal` says
    why instead."""
    import nats

    async def on_error(exc: Exception) -> None:
        text = (str(exc) or type(exc).__name__).strip()
        if not _is_refusal(text):
            await _nats_error(exc)
            return
        if refused is not None and len(refused) < 16:
            refused.append(text)
        _refused_lines.log(log, logging.WARNING, "NATS refused this user: %s", text,
                           extra={"event": "nats.permission_refused"})

    prefix = inbox_prefix(party, role)
    try:
        return await nats.connect(nats_servers(url), connect_timeout=3, max_reconnect_attempts=2,
                                  allow_reconnect=True, name=f"accord-{role}-{party}", error_cb=on_error,
                                  inbox_prefix=prefix)
    except Exception as exc:  # nats-py raises several kinds (OSError, NoServersError, timeouts)
        raise ConfigError(f"cannot connect to NATS at {nats_shown(url)}: {exc or type(exc).__name__}") from None


@contextmanager
def explained(url: str, role: str, refused: list[str]) -> Iterator[None]:
    """Inside, an exception — a timeout, most likely — that a refusal :func:`connect` kept
    explains becomes that refusal's :func:`refusal` error."""
    try:
        yield
    except Exception:
        why = refusal(url, role, refused)
        if why is not None:
            raise why from None
        raise


def refusal(url: str, role: str, refused: list[str]) -> ConfigError | None:
    """The one-line error for a command whose NATS user the server refused a subject (the first
    refusal :func:`connect` kept), or None if it refused none."""
    if not refused:
        return None
    why = "; ".join(dict.fromkeys(r.removeprefix("nats: ") for r in refused[:3]))
    command = {"feed": "accord warning feed", "ingest": "accord warning ingest", "watch": "accord warning watch",
               "events": "accord node serve --nats"}[role]
    user = "serve" if role == "events" else role
    return ConfigError(f"the NATS server at {nats_shown(url)} refused this user: {why} — run `{command}` as a "
                       f"user allowed it (deploy/nats/accord-users.conf: user {user})")
