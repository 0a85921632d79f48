"""Logs of a serving node: what an operator acts on, one line per event, never a secret.

The library only *emits* (``logging.getLogger("accord.…")``, with the event's fields in
``extra``); :func:`configure` — called by ``accord node serve`` — decides where the lines go and
how they look: ``text`` for people, ``json`` (one object per line) for log collectors. Events an
operator acts on, each with an ``event`` field in JSON:

``partner.unreachable`` (first failure of a run) · ``partner.still_unreachable`` (a summary while
it lasts) · ``partner.recovered`` (the outage's length and the backlog delivered) ·
``partner.refused`` (a partner refused envelopes of ours) · ``envelopes.refused`` (this node
refused a partner's) · ``auth.failed`` (a request without valid credentials) ·
``request.head_timeout``, ``request.body_idle`` (a slow or silent client's connection closed) ·
``connection.over_limit`` (a connection past ``node serve``'s caps refused) · ``alert.issued`` ·
``ledger.inconsistent`` (a partner's tree head does not extend the last one) · ``receipt.false``,
``receipt.unproven`` (a partner's receipt its signed ledger does not bear out, or does not prove) ·
``outbox.pruned`` ·
``thread.crashed``, ``process.crashed`` (an uncaught error) · ``command.failed`` (a command's
``error:`` line, with JSON logs).

Secrets never reach the output: the messages are written not to carry them (tokens are named by
their label, requests by their party), and :class:`Redact`, on every handler, rewrites anything
shaped like one that slips through anyway — API tokens, bearer credentials, RFC 9421 signatures,
PEM blocks, base64 runs of key or signature length, a connection string's password or token. In ``text`` a message
stays on its line: control characters from outside are escaped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import threading
import time
import traceback
from typing import IO, Any

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
#: The format :func:`configure` last set up (None: never called): with ``json`` the command's own
#: ``error:`` line is a log record too (:func:`accord.cli.main.main`).
configured_format: str | None = None

_SECRETS = re.compile(
    r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----"   # PEM (private keys, certificates)
    r"|acc_[A-Za-z0-9_-]{8,}"                             # Accord API tokens
    r"|(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]{12,}"      # Authorization header values
    r"|:[A-Za-z0-9+/]{40,}={0,2}:"                        # RFC 9421 / 9530 byte sequences
    # base64 keys, signatures: upper and lower case (a file path in a traceback is rarely both)
    r"|(?<![A-Za-z0-9+/])(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])[A-Za-z0-9+/]{40,}={0,2}",
    re.DOTALL)


# a URL's user information: what lies between "scheme://" and the authority's last '@' (no '/', '?',
# '#' or space before it, as clients parse it). "user:password" keeps the user; without a colon it
# is a token (nats://TOKEN@host, https://TOKEN@host), except in PostgreSQL's URLs, where it is the user
_URL_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^\s/?#]*)@")
_USER_ONLY_SCHEMES = frozenset({"postgresql", "postgres"})
# libpq's password and sslpassword: a URL's query parameter (to the next '&', '#' or space) or a
# connection string's keyword (a value in quotes, backslash escapes, or to the next space)
_QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)[^&#\s]*", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(
    r"""((?<![\w?&])(?:ssl)?password\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s'"]+)""", re.IGNORECASE)


def _userinfo(match: re.Match[str]) -> str:
    scheme, info = match.group(1), match.group(2)
    if ":" in info:
        return f"{scheme}://{info.split(':', 1)[0]}:[redacted]@"
    if scheme.lower() in _USER_ONLY_SCHEMES:
        return match.group(0)
    return f"{scheme}://[redacted]@"


def without_passwords(text: str) -> str:
    """``text`` with the secrets of every connection string in it replaced by ``[redacted]``: a URL's
    password (``scheme://user:PASSWORD@host``, the user kept), a token given as a URL's whole user
    information (``nats://TOKEN@host``; a ``postgresql://user@host`` URL's user is kept), and libpq's
    ``password=`` / ``sslpassword=``, as a URL's query parameter or a connection string's keyword
    (``host=db password='…'``). Hosts, ports, databases and other parameters stay.

    The one function for it: log lines (:func:`redact`), ``accord.store.postgres.redact`` and the
    NATS URLs errors and logs name (``accord.feeds.nats_connect.nats_shown``)."""
    # every log line comes here: the patterns are tried only where their anchor is in the text
    if "://" in text:
        text = _URL_USERINFO.sub(_userinfo, text)
    if "=" in text and "assword" in text.lower():
        text = _QUERY_PASSWORD.sub(r"\1[redacted]", text)
        text = _KEYWORD_PASSWORD.sub(r"\1[redacted]", text)
    return text


def redact(text: str) -> str:
    """``text`` with everything shaped like a secret replaced by ``[redacted]``: a connection string
    keeps its user and host, not its password or token (:func:`without_passwords`). Hex runs (digests, Merkle roots, fingerprints) stay: they are
    public and operators need them."""
    return _SECRETS.sub("[redacted]", without_passwords(text))


# the attributes every LogRecord has: anything else on a record came in through ``extra``
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class Redact(logging.Filter):
    """Rewrites each record's message, arguments and extra fields through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(_traceback(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``,
    then the event's own fields (``event``, ``partner``, ``outage_s`` …)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
"""What a text line must not carry from a message: line breaks (a client's path or header,
percent-decoded, would start a line of its choosing) and terminal control (``ESC``, ``BEL``)."""


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")



_FRAMES = ("Traceback (most recent call last):", "\nDuring handling of the above exception",
           "\nThe above exception was the direct cause")


def _traceback(exc_info: Any) -> str:
    """``exc_info``'s traceback as :meth:`logging.Formatter.formatException` writes it, but each
    exception's own message (outside text, as often as not) with its control characters escaped:
    the frames, which the node's code makes, keep their lines; a message cannot start one."""
    chunks = traceback.format_exception(*exc_info)
    return "".join(c if c.startswith((" ", *_FRAMES)) else _CONTROL.sub(_escaped, c.rstrip("\n")) + "\n"
                   for c in chunks).rstrip("\n")

class _TextFormatter(logging.Formatter):
    """One line per record: control characters in the message written as escapes (``\\n``,
    ``\\x1b``); only a traceback, which the node writes itself, takes the lines after it."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
        self.converter = time.gmtime

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return _CONTROL.sub(_escaped, super().formatMessage(record))


def configure(level: str = "info", fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """Send the ``accord`` loggers' records at ``level`` and above to ``stream`` (stderr) as
    ``text`` or ``json``, through :class:`Redact`; uvicorn's own messages go the same way at
    ``warning`` and above (or ``level``, if lower), psycopg's at ``warning`` and above (less
    its pool's warning per failed connection attempt: :mod:`accord.store.postgres`), and so do
    every other library's (nats, asyncio, httpx …: the root logger, ``warning`` and above) and
    the traceback of a thread or of the process that dies of an uncaught error (``thread.crashed``,
    ``process.crashed``): in ``json`` every line on the stream is one object, and nothing reaches
    it unredacted. Returns the handler (tests remove it)."""
    from accord.errors import InputError

    if level.lower() not in LEVELS:
        raise InputError(f"log level {level!r} is not one of {', '.join(LEVELS)}", field="log-level")
    if fmt not in FORMATS:
        raise InputError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}", field="log-format")
    global configured_format
    configured_format = fmt
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(Redact())
    handler.setFormatter(JsonFormatter() if fmt == "json" else _TextFormatter())
    numeric = getattr(logging, level.upper())
    for name, lvl in (("accord", numeric), ("uvicorn", max(numeric, logging.WARNING)),
                      ("psycopg", max(numeric, logging.WARNING)), (None, max(numeric, logging.WARNING))):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not getattr(h, "_accord", False)] + [handler]
        logger.setLevel(lvl)
        if name is not None:
            logger.propagate = False
    handler._accord = True  # type: ignore[attr-defined]
    cut_off = logging.getLogger("uvicorn.error")
    cut_off.filters = [f for f in cut_off.filters if not isinstance(f, _CutOff)] + [_CutOff()]
    threading.excepthook = _thread_crashed
    sys.excepthook = _process_crashed
    return handler


class _CutOff(logging.Filter):
    """uvicorn's traceback for each request it cancels when a stop's grace period ends: one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            record.msg, record.args, record.exc_info = (
                "a request in progress was cut off: the stop's grace period (--grace) ended", None, None)
        return True


def _thread_crashed(args: threading.ExceptHookArgs) -> None:
    """A thread's uncaught error as one ``thread.crashed`` record (threading printed it bare)."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
    logging.getLogger("accord").error("thread %s ended on an uncaught error", name, exc_info=exc_info,
                                      extra={"event": "thread.crashed", "thread_name": name})


def _process_crashed(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    """The process's own uncaught error as one ``process.crashed`` record."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("accord").critical("the process ended on an uncaught error", exc_info=(exc_type, exc, tb),
                                         extra={"event": "process.crashed"})


class Throttle:
    """At most ``per_minute`` events a minute get a line of their own; the others are counted and
    the count rides on the next line let through (``allow() -> (log it?, passed over since)``),
    so a flood of bad requests cannot flood the log."""

    def __init__(self, per_minute: int = 30) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._start, self._logged, self._passed = time.monotonic(), 0, 0

    def allow(self) -> tuple[bool, int]:
        with self._lock:
            now = time.monotonic()
            if now - self._start >= 60.0:
                self._start, self._logged = now, 0
            if self._logged >= self.per_minute:
                self._passed += 1
                return False, 0
            self._logged += 1
            passed, self._passed = self._passed, 0
            return True, passed

    def log(self, logger: logging.Logger, level: int, msg: str, *args: Any, extra: dict[str, Any]) -> None:
        """``logger.log(level, msg, *args)`` if :meth:`allow` lets it through, with
        `` (N more passed over)`` and ``suppressed`` (N) in ``extra`` when some were."""
        allowed, passed = self.allow()
        if allowed:
            logger.log(level, msg + "%s", *args, f" ({passed} more passed over)" if passed else "",
                       extra={**extra, "suppressed": passed})
