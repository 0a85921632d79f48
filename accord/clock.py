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
        raise InputError(f"not an RFC 3339 timestamp: {text[:60]!r} (e.g. '2027-12-31T00:00:00Z')", field=field) from None
    if when.tzinfo is None:
        utc = f"{text[:60]}Z" if "T" in text or " " in text else f"{text[:60]}T00:00:00Z"
        raise InputError(f"timestamp has no time zone: {text[:60]!r} (write it in UTC with a Z, e.g. {utc!r}, or "
                         "with an offset such as +09:00)", field=field)
    try:
        return when.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00, 9999-12-31T23:59:59-14:00: no UTC instant
        raise InputError(f"{text[:40]!r} is outside the years 1-9999 in UTC", field=field) from None


def add_seconds(when: datetime, seconds: float) -> datetime | None:
    """``when`` + ``seconds``, or None where no datetime holds it: past the years 1 to 9999 (a
    partner's ``impact_t`` of 1e308, a scan's ``t`` far out) or not a number (NaN)."""
    try:
        return when + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, *, field: str | None = None) -> timedelta:
    """``"0"``, ``"90s"``, ``"15m"``, ``"1h"``, ``"7d"`` (a whole number and one unit; a bare
    number is seconds) as a :class:`timedelta`; anything else is an :class:`InputError`."""
    raw = text.strip().lower() if isinstance(text, str) else ""
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in _UNITS else (raw, "s")
    if not number.isdigit() or len(number) > 9:
        raise InputError(f"duration {text!r} is not a whole number with one unit of s, m, h or d "
                         "(e.g. 90s, 15m, 1h, 7d)", field=field)
    return timedelta(seconds=int(number) * _UNITS[unit])


def duration_text(seconds: float | None) -> str:
    """A duration for people: ``-`` for none, else its two largest units (``0.4 s``, ``42 s``,
    ``4 m 10 s``, ``2 h 05 m``, ``3 d 04 h``)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 and not float(seconds).is_integer() else f"{seconds:.0f} s"
    s = int(seconds)
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if s >= size:
            return f"{s // size} {unit} {(s % size) // subsize:02d} {sub}"
    raise AssertionError("unreachable")  # pragma: no cover - s >= 60 matched "m" above
