"""The dialogue record: meeting series, meetings, decisions and commitments.

Kept as one module: the dialogue record's types and the transitions between their
states, which docs/dialogue.md describes together.

Frozen dataclasses (values, no I/O). Each has ``to_json`` / ``from_json`` so it can travel as the
body of an :class:`accord.core.items.Item` (kinds ``dialogue.series``, ``dialogue.meeting``,
``dialogue.commitment``) and be signed over its RFC 8785 canonical JSON.

Commitment status is a small state machine::

    proposed ──▶ agreed ──▶ in_progress ──▶ done
        │           │  └──────────────────▶ done
        └──▶ lapsed └──▶ lapsed      in_progress ──▶ lapsed

Agreement can never be skipped (``proposed → in_progress`` or ``proposed → done`` is refused):
a party's work is only tracked against what its owner agreed to. ``done`` and ``lapsed`` are
terminal. :func:`check_transition` raises :class:`~accord.errors.StatusTransitionError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from accord.clock import parse_rfc3339, to_rfc3339
from accord.core.parties import party_problem
from accord.dialogue.shape import check_state
from accord.errors import InputError, StatusTransitionError

KIND_SERIES = "dialogue.series"
KIND_MEETING = "dialogue.meeting"
KIND_COMMITMENT = "dialogue.commitment"
KINDS = (KIND_SERIES, KIND_MEETING, KIND_COMMITMENT)

_RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}\Z")  # \Z: "$" lets a final newline through
LABEL_MAX = 200
"""Longest series title, venue, meeting place or attendee role, in characters. The title is
repeated in every meeting's calendar ``SUMMARY``: unbounded, one partner-signed title would be
multiplied by the number of meetings in every export."""
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2999, 12, 31)
"""Dates a record may hold (first meeting, meeting date and start, due date). With at most
:data:`MEETINGS_MAX` meetings at most 60 months apart, every date the schedule, the reports and
the calendar export derive from them (the next slots, an all-day event's exclusive end) is one a
``date`` holds: a partner's meeting on 9999-12-31 made the export fail, for every node."""
MEETINGS_MAX = 1000
"""Highest meeting number: one a month for 83 years."""
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


class Level(StrEnum):
    MINISTERS = "ministers"
    VICE_MINISTERS = "vice-ministers"
    WORKING_LEVEL = "working-level"


class Status(StrEnum):
    PROPOSED = "proposed"
    AGREED = "agreed"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    LAPSED = "lapsed"


class MeetingStatus(StrEnum):
    PLANNED = "planned"
    HELD = "held"
    CANCELLED = "cancelled"


#: allowed status changes (a change that keeps the status — e.g. adding evidence — is always
#: allowed except from a terminal status, where only evidence and links may still be added).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PROPOSED: frozenset({Status.AGREED, Status.LAPSED}),
    Status.AGREED: frozenset({Status.IN_PROGRESS, Status.DONE, Status.LAPSED}),
    Status.IN_PROGRESS: frozenset({Status.DONE, Status.LAPSED}),
    Status.DONE: frozenset(),
    Status.LAPSED: frozenset(),
}
TERMINAL = frozenset({Status.DONE, Status.LAPSED})
#: statuses in which a commitment belongs to its owner: changes need the owner's signature.
OWNER_BOUND = frozenset({Status.AGREED, Status.IN_PROGRESS, Status.DONE, Status.LAPSED})

_MEETING_TRANSITIONS: dict[MeetingStatus, frozenset[MeetingStatus]] = {
    MeetingStatus.PLANNED: frozenset({MeetingStatus.PLANNED, MeetingStatus.HELD, MeetingStatus.CANCELLED}),
    MeetingStatus.HELD: frozenset({MeetingStatus.HELD}),
    MeetingStatus.CANCELLED: frozenset({MeetingStatus.CANCELLED, MeetingStatus.PLANNED}),
}


def check_transition(old: Status | str, new: Status | str, *, record: str = "commitment") -> Status:
    """Return ``new`` as a :class:`Status` if ``old → new`` is allowed, else raise.

    Staying in the same status is allowed (an edit of evidence, links or text).
    """
    old_s, new_s = parse_status(old, field="status"), parse_status(new, field="status")
    if old_s == new_s or new_s in TRANSITIONS[old_s]:
        return new_s
    if old_s == Status.PROPOSED and new_s in (Status.IN_PROGRESS, Status.DONE):
        raise StatusTransitionError(
            f"{record}: status {old_s.value} → {new_s.value} skips agreement; the owner must first "
            f"agree it (proposed → agreed)", field="status")
    allowed = ", ".join(sorted(s.value for s in TRANSITIONS[old_s])) or "none, it is final"
    raise StatusTransitionError(
        f"{record}: status {old_s.value} → {new_s.value} is not allowed (from {old_s.value}: {allowed})",
        field="status")


def parse_status(value: Status | str, *, field: str = "status") -> Status:
    try:
        return Status(value)
    except ValueError:
        raise InputError(f"unknown status {value!r}; expected one of "
                         f"{', '.join(s.value for s in Status)}", field=field) from None


def check_party(code: str, *, field: str, parties: tuple[str, ...] | None = None,
                context: str = "") -> str:
    """An ISO 3166-1 alpha-3 party code, optionally one of ``parties``."""
    problem = party_problem(code)
    if problem is not None:
        raise InputError(problem, field=field)
    if parties is not None and code not in parties:
        raise InputError(f"unknown party {code!r}{context}; known parties: {', '.join(parties)}",
                         field=field)
    return code


def check_record_id(value: str, *, field: str = "id") -> str:
    if not isinstance(value, str) or not _RECORD_ID.match(value):
        raise InputError(f"record id must be 1-80 characters [A-Za-z0-9._-] starting with a letter "
                         f"or digit, got {value!r}", field=field)
    return value


def check_label(value: str, *, field: str, what: str) -> str:
    """A short label (title, venue, place, role): one line of at most :data:`LABEL_MAX` characters."""
    if len(value) > LABEL_MAX or _NOT_ONE_LINE.search(value):
        raise InputError(f"{what} must be one line of at most {LABEL_MAX} characters, without control "
                         f"characters; got {len(value)} characters starting {value[:40]!r}", field=field)
    return value


def check_date_range(value: date, *, field: str) -> None:
    day = value.date() if isinstance(value, datetime) else value
    if not FIRST_DATE <= day <= LAST_DATE:
        raise InputError(f"{field} {value.isoformat()} is outside {FIRST_DATE.year}-{LAST_DATE.year}", field=field)


def parse_date(value: Any, *, field: str) -> date:
    """A calendar date from ``YYYY-MM-DD`` (or a ``date``); invalid dates (2025-02-30) are refused."""
    if isinstance(value, datetime):
        raise InputError(f"expected a date (YYYY-MM-DD), got a date-time {value!r}", field=field)
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise InputError(f"expected a date YYYY-MM-DD, got {value!r}", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"invalid date {value!r}: {exc}", field=field) from None


@dataclass(frozen=True)
class Attendee:
    party: str
    role: str  # a role ("Minister of Defense (JPN)"), never a personal name

    def to_json(self) -> dict:
        return {"party": self.party, "role": self.role}

    @classmethod
    def from_json(cls, d: dict) -> Attendee:
        return cls(d["party"], d["role"])


@dataclass(frozen=True)
class Decision:
    id: str
    text: str

    def to_json(self) -> dict:
        return {"id": self.id, "text": self.text}

    @classmethod
    def from_json(cls, d: dict) -> Decision:
        return cls(d["id"], d["text"])


@dataclass(frozen=True)
class Link:
    """What fulfils a commitment: an agreement, an exercise, or an item (by id)."""

    kind: str  # "agreement" | "exercise" | "item" | "url"
    ref: str

    KINDS = ("agreement", "exercise", "item", "url")

    def to_json(self) -> dict:
        return {"kind": self.kind, "ref": self.ref}

    @classmethod
    def from_json(cls, d: dict) -> Link:
        return cls(d["kind"], d["ref"])


@dataclass(frozen=True)
class Series:
    """A standing series of meetings between parties at one level.

    Meeting ``n`` (0-based) is planned on ``first_meeting + n × cadence_months`` (month arithmetic
    from the first date, not from the previous meeting, so 31 Aug → 28/29 Feb → 31 Aug does not
    drift) and hosted by ``host_rotation[n mod len]``.
    """

    id: str
    title: str
    parties: tuple[str, ...]
    level: Level
    cadence_months: int
    first_meeting: date
    host_rotation: tuple[str, ...]
    venues: tuple[tuple[str, str], ...] = ()  # (host party, usual place)

    def venue(self, host: str) -> str:
        return dict(self.venues).get(host, "")

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "parties": list(self.parties),
                "level": self.level.value, "cadence_months": self.cadence_months,
                "first_meeting": self.first_meeting.isoformat(),
                "host_rotation": list(self.host_rotation),
                "venues": {h: p for h, p in self.venues}}

    @classmethod
    def from_json(cls, d: dict) -> Series:
        return cls(d["id"], d["title"], tuple(d["parties"]), Level(d["level"]), int(d["cadence_months"]),
                   date.fromisoformat(d["first_meeting"]), tuple(d["host_rotation"]),
                   tuple(sorted(d.get("venues", {}).items())))

    def validate(self) -> Series:
        check_record_id(self.id, field="id")
        if not self.title.strip():
            raise InputError("series title is empty", field="title")
        check_label(self.title, field="title", what="series title")
        if len(self.parties) < 2:
            raise InputError(f"a series needs at least two parties, got {list(self.parties)}",
                             field="parties")
        if len(set(self.parties)) != len(self.parties):
            raise InputError(f"duplicate party in {list(self.parties)}", field="parties")
        for i, p in enumerate(self.parties):
            check_party(p, field=f"parties[{i}]")
        check_date_range(self.first_meeting, field="first_meeting")
        if not 1 <= self.cadence_months <= 60:
            raise InputError(f"cadence must be 1-60 months, got {self.cadence_months}",
                             field="cadence_months")
        if not self.host_rotation:
            raise InputError("host rotation is empty", field="host_rotation")
        for i, h in enumerate(self.host_rotation):
            check_party(h, field=f"host_rotation[{i}]", parties=self.parties, context=" (not in the series)")
        for h, place in self.venues:
            check_party(h, field=f"venues.{h}", parties=self.parties, context=" (not in the series)")
            check_label(place, field=f"venues.{h}", what="venue")
        return self


@dataclass(frozen=True)
class Meeting:
    """One meeting of a series: planned from the cadence, then recorded as held (or cancelled).

    ``start`` (timezone-aware) and ``duration_minutes`` make it a timed event; without them it is
    an all-day event on ``date``.
    """

    id: str
    series_id: str
    number: int  # 1-based position in the series
    status: MeetingStatus
    date: date
    host: str
    place: str = ""
    start: datetime | None = None
    duration_minutes: int | None = None
    attendees: tuple[Attendee, ...] = ()
    agenda: tuple[str, ...] = ()
    minutes: str = ""
    decisions: tuple[Decision, ...] = ()
    outcomes: tuple[str, ...] = ()  # ids of the commitments this meeting produced

    @property
    def end(self) -> datetime | None:
        if self.start is None:
            return None
        return self.start + timedelta(minutes=self.duration_minutes or 60)

    def to_json(self) -> dict:
        return {"id": self.id, "series_id": self.series_id, "number": self.number,
                "status": self.status.value, "date": self.date.isoformat(), "host": self.host,
                "place": self.place, "start": to_rfc3339(self.start) if self.start else None,
                "duration_minutes": self.duration_minutes,
                "attendees": [a.to_json() for a in self.attendees], "agenda": list(self.agenda),
                "minutes": self.minutes, "decisions": [d.to_json() for d in self.decisions],
                "outcomes": list(self.outcomes)}

    @classmethod
    def from_json(cls, d: dict) -> Meeting:
        return cls(d["id"], d["series_id"], int(d["number"]), MeetingStatus(d["status"]),
                   date.fromisoformat(d["date"]), d["host"], d.get("place", ""),
                   parse_rfc3339(d["start"]) if d.get("start") else None, d.get("duration_minutes"),
                   tuple(Attendee.from_json(a) for a in d.get("attendees", [])),
                   tuple(d.get("agenda", [])), d.get("minutes", ""),
                   tuple(Decision.from_json(x) for x in d.get("decisions", [])),
                   tuple(d.get("outcomes", [])))

    def validate(self, series: Series) -> Meeting:
        check_record_id(self.id, field="id")
        if self.series_id != series.id:
            raise InputError(f"meeting belongs to series {self.series_id!r}, not {series.id!r}",
                             field="series_id")
        if not 1 <= self.number <= MEETINGS_MAX:
            raise InputError(f"meeting number must be 1 to {MEETINGS_MAX}, got {self.number}", field="number")
        check_date_range(self.date, field="date")
        check_party(self.host, field="host", parties=series.parties, context=f" (not in series {series.id})")
        for i, a in enumerate(self.attendees):
            check_party(a.party, field=f"attendees[{i}].party", parties=series.parties,
                        context=f" (not in series {series.id})")
            if not a.role.strip():
                raise InputError("attendee role is empty", field=f"attendees[{i}].role")
            check_label(a.role, field=f"attendees[{i}].role", what="attendee role")
        check_label(self.place, field="place", what="meeting place")
        if self.start is not None:
            if self.start.tzinfo is None:
                raise InputError("meeting start must carry a time zone", field="start")
            check_date_range(self.start, field="start")  # its own date: a UTC one could overflow
        if self.duration_minutes is not None and not 1 <= self.duration_minutes <= 7 * 24 * 60:
            raise InputError(f"duration must be 1 minute to 7 days, got {self.duration_minutes}",
                             field="duration_minutes")
        ids = [d.id for d in self.decisions]
        if len(set(ids)) != len(ids):
            raise InputError(f"duplicate decision id in {ids}", field="decisions")
        return self


@dataclass(frozen=True)
class Commitment:
    """What a party undertook at a meeting: owner, text, due date, status, evidence, links."""

    id: str
    series_id: str
    meeting_id: str
    owner: str
    text: str
    due: date
    status: Status = Status.PROPOSED
    evidence: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()

    def to_json(self) -> dict:
        return {"id": self.id, "series_id": self.series_id, "meeting_id": self.meeting_id,
                "owner": self.owner, "text": self.text, "due": self.due.isoformat(),
                "status": self.status.value, "evidence": list(self.evidence),
                "links": [x.to_json() for x in self.links]}

    @classmethod
    def from_json(cls, d: dict) -> Commitment:
        return cls(d["id"], d["series_id"], d["meeting_id"], d["owner"], d["text"],
                   date.fromisoformat(d["due"]), Status(d["status"]), tuple(d.get("evidence", [])),
                   tuple(Link.from_json(x) for x in d.get("links", [])))

    def validate(self, series: Series) -> Commitment:
        check_record_id(self.id, field="id")
        check_record_id(self.meeting_id, field="meeting_id")  # the calendar's RELATED-TO names it
        if self.series_id != series.id:
            raise InputError(f"commitment belongs to series {self.series_id!r}, not {series.id!r}",
                             field="series_id")
        if not self.owner:
            raise InputError("a commitment needs an owner party", field="owner")
        check_party(self.owner, field="owner", parties=series.parties, context=f" (not in series {series.id})")
        if not self.text.strip():
            raise InputError("commitment text is empty", field="text")
        if not isinstance(self.due, date):
            raise InputError("a commitment needs a due date", field="due")
        check_date_range(self.due, field="due")
        for i, link in enumerate(self.links):
            if link.kind not in Link.KINDS:
                raise InputError(f"link kind must be one of {', '.join(Link.KINDS)}, got {link.kind!r}",
                                 field=f"links[{i}].kind")
            if not link.ref:
                raise InputError("link reference is empty", field=f"links[{i}].ref")
        return self

    # --- time ------------------------------------------------------------------------------
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    def is_overdue(self, now: datetime) -> bool:
        """Open and its due date (a whole UTC day) has passed: ``today(now) > due``."""
        return self.is_open() and _today(now) > self.due

    def is_due_soon(self, now: datetime, days: int) -> bool:
        """Open, not overdue, and due within ``days`` days of today (inclusive)."""
        today = _today(now)
        return self.is_open() and today <= self.due <= today + timedelta(days=days)


def _today(now: datetime) -> date:
    if now.tzinfo is None:
        raise InputError("now must be timezone-aware")
    return now.astimezone(UTC).date()


@dataclass(frozen=True)
class CommitmentChange:
    """An edit of a commitment; ``None`` fields are unchanged. ``add_*`` append."""

    status: Status | None = None
    text: str | None = None
    due: date | None = None
    owner: str | None = None
    add_evidence: tuple[str, ...] = ()
    add_links: tuple[Link, ...] = ()
    note: str = ""  # why (kept in the signed version, shown in the history)

    def to_json(self) -> dict:
        d: dict[str, Any] = {}
        if self.status is not None:
            d["status"] = self.status.value
        if self.text is not None:
            d["text"] = self.text
        if self.due is not None:
            d["due"] = self.due.isoformat()
        if self.owner is not None:
            d["owner"] = self.owner
        if self.add_evidence:
            d["add_evidence"] = list(self.add_evidence)
        if self.add_links:
            d["add_links"] = [x.to_json() for x in self.add_links]
        if self.note:
            d["note"] = self.note
        return d


def apply_change(old: Commitment, change: CommitmentChange, series: Series) -> Commitment:
    """The commitment after ``change``; raises if the change is not allowed in ``old.status``.

    Rules: the status transition must be allowed (:func:`check_transition`); once agreed, the
    owner cannot be changed (a new commitment is made instead); a final (done / lapsed)
    commitment only accepts more evidence and links.
    """
    new_status = check_transition(old.status, change.status or old.status, record=f"commitment {old.id}")
    if old.status in TERMINAL and (change.text is not None or change.due is not None
                                   or change.owner is not None):
        raise StatusTransitionError(f"commitment {old.id} is {old.status.value}; only evidence and "
                                    "links may be added", field="status")
    if change.owner is not None and change.owner != old.owner and old.status in OWNER_BOUND:
        raise InputError(f"commitment {old.id} is {old.status.value} by {old.owner}; its owner "
                         "cannot change (record a new commitment instead)", field="owner")
    if not (change.status or change.text is not None or change.due or change.owner
            or change.add_evidence or change.add_links):
        raise InputError(f"commitment {old.id}: the change is empty", field="change")
    new = replace(old, status=new_status,
                  text=change.text if change.text is not None else old.text,
                  due=change.due or old.due, owner=change.owner or old.owner,
                  evidence=old.evidence + tuple(change.add_evidence),
                  links=old.links + tuple(x for x in change.add_links if x not in old.links))
    return new.validate(series)


def check_meeting_transition(old: MeetingStatus, new: MeetingStatus, *, record: str) -> None:
    if new not in _MEETING_TRANSITIONS[old]:
        raise StatusTransitionError(f"meeting {record}: {old.value} → {new.value} is not allowed",
                                    field="status")


def state_from_json(kind: str, d: dict) -> Series | Meeting | Commitment:
    """The record a signed state holds; its shape is checked first (:mod:`accord.dialogue.shape`),
    and a value no record holds (an unknown level or status, a date that is not one) is an
    :class:`~accord.errors.InputError` too."""
    check_state(kind, d)
    try:
        if kind == KIND_SERIES:
            return Series.from_json(d)
        if kind == KIND_MEETING:
            return Meeting.from_json(d)
        return Commitment.from_json(d)
    except ValueError as exc:
        raise InputError(f"{kind} state: {str(exc)[:200]}", field="state") from None


_RANK = {Status.PROPOSED: 0, Status.AGREED: 1, Status.IN_PROGRESS: 2, Status.DONE: 3}


def steps_to(current: Status, target: Status) -> list[Status]:
    """The shortest allowed status steps from ``current`` forward to ``target`` ([] if none or
    if ``current`` is already final or beyond ``target``: status never moves backwards)."""
    if current == target or current in TERMINAL:
        return []
    if target == Status.LAPSED:
        return [Status.LAPSED]
    if _RANK[current] >= _RANK[target]:
        return []
    steps = [Status.AGREED] if current == Status.PROPOSED else []
    if target in (Status.IN_PROGRESS, Status.DONE):
        steps.append(target)
    return steps
