"""Time comes from here, so tests and exercises can control it.

Domain code takes ``now`` as an argument; edges (nodes, servers, runners) hold a :class:`Clock`.
All times are timezone-aware UTC ``datetime`` objects; on the wire they are RFC 3339 strings
(:func:`to_rfc3339` / :func:`parse_rfc3339`).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from accord.errors import InputError


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, as-fast-as-possible exercises)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise InputError("ManualClock start must be timezone-aware")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


def to_rfc3339(when: datetime) -> str:
    """UTC RFC 3339 with millisecond precision and a ``Z`` suffix (as STIX uses)."""
    if when.tzinfo is not UTC:
        if when.tzinfo is None:
            raise InputError("timestamp must be timezone-aware")
        when = when.astimezone(UTC)
    # isoformat truncates to milliseconds (as the wire precision wants) and, unlike strftime's
    # %Y, always writes four year digits; it is also ~2x cheaper (a hot path: items, ledger)
    return when.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_rfc3339(text: str, *, field: str | None = None) -> datetime:
    """Parse an RFC 3339 timestamp; it must carry a zone (``Z`` or an offset)."""
    if not isinstance(text, str):
        raise InputError(f"expected an RFC 3339 timestamp string, got {type(text).__name__}", field=field)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(f"not an RFC 3339 timestamp: {text!r}", field=field) from None
    if when.tzinfo is None:
        raise InputError(f"timestamp has no time zone: {text!r}", field=field)
    return when.astimezone(UTC)
