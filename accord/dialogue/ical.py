"""iCalendar (RFC 5545) export of a series: its meetings as VEVENTs, its commitments as VTODOs.

Built with the ``icalendar`` library. Choices, with the RFC sections they follow:

* ``UID`` (§3.8.4.7) is ``<record id>@accord-dialogue``: the same on every node and in every
  export, so a calendar client updates an event instead of duplicating it;
* ``SEQUENCE`` (§3.8.7.4) is the record's version − 1 and ``DTSTAMP`` (§3.8.7.2) the time that
  version was signed — for a calendar without ``METHOD`` DTSTAMP is the last modification, and
  taking it from the signed record (not the export time) keeps exports byte-for-byte stable;
* a meeting without a start time is an all-day event (``DTSTART;VALUE=DATE`` and an exclusive
  ``DTEND`` the next day, §3.6.1); a timed meeting is in UTC (``…Z``);
* ``STATUS`` (§3.8.1.11): planned → TENTATIVE, held → CONFIRMED, cancelled → CANCELLED for
  events; proposed/agreed → NEEDS-ACTION, in_progress → IN-PROCESS, done → COMPLETED,
  lapsed → CANCELLED for to-dos. Accord's own status is kept in ``X-ACCORD-STATUS``;
* every text a party signed (titles, venues, agenda, decisions, roles, commitment text,
  evidence) is a TEXT value (§3.3.11) — the ``X-`` properties too, which the library would
  otherwise write verbatim: ``\\``, ``;`` and ``,`` escaped, each line break (CR LF, CR, LF,
  U+0085, U+2028, U+2029) written as ``\\n``, and the other control characters, which TEXT
  does not allow, left out. So no text can end its property or its component;
* a series with no meeting yet is a calendar with its properties and no component — short of
  §3.4's "at least one", but what parsers read and CalDAV servers export for an empty calendar,
  and no component would be true of it (``docs/dialogue.md`` gives the reasons).
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import cast

from icalendar import Calendar, Event, Todo, vText

from accord.clock import parse_rfc3339
from accord.dialogue.model import Commitment, Meeting, MeetingStatus, Series, Status
from accord.dialogue.versions import SignedVersion

UID_DOMAIN = "accord-dialogue"
PRODID = "-//Accord//Dialogue//EN"

_EVENT_STATUS = {MeetingStatus.PLANNED: "TENTATIVE", MeetingStatus.HELD: "CONFIRMED",
                 MeetingStatus.CANCELLED: "CANCELLED"}
_TODO_STATUS = {Status.PROPOSED: "NEEDS-ACTION", Status.AGREED: "NEEDS-ACTION",
                Status.IN_PROGRESS: "IN-PROCESS", Status.DONE: "COMPLETED", Status.LAPSED: "CANCELLED"}


_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


class _Text(vText):
    """A TEXT value (RFC 5545 §3.3.11) escaped exactly: ``\\`` ``;`` ``,`` and line breaks.

    icalendar's own escaping first reads a literal backslash-N as a line break (so evidence
    naming ``\\\\server\\Notes`` would lose a backslash and gain a line); this class escapes the
    backslash instead. Built only through :func:`_text`, so it holds no control character.
    """

    __slots__ = ()

    def to_ical(self) -> bytes:
        escaped = str(self).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
        return escaped.encode("utf-8")


def _text(value: str) -> _Text:
    """``value`` as TEXT: every line break one LF, no other control character, valid UTF-8."""
    value = value.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate is not UTF-8
    return _Text(_CONTROL.sub("", _LINE_BREAK.sub("\n", value)))


def uid(record_id: str) -> str:
    return f"{record_id}@{UID_DOMAIN}"


def _meeting_event(series: Series, v: SignedVersion) -> Event:
    m = cast(Meeting, v.value)
    ev = Event()
    ev.add("uid", uid(m.id))
    ev.add("dtstamp", parse_rfc3339(v.signed_at).replace(microsecond=0))  # RFC 5545: whole seconds
    ev.add("sequence", v.version - 1)
    ev.add("summary", _text(f"{series.title} — meeting {m.number} (host {m.host})"))
    if m.start is not None:
        end = m.end
        assert end is not None  # None only when start is
        ev.add("dtstart", m.start.astimezone(UTC))
        ev.add("dtend", end.astimezone(UTC))
    else:
        ev.add("dtstart", m.date)
        ev.add("dtend", m.date + timedelta(days=1))
    if m.place:
        ev.add("location", _text(m.place))
    ev.add("status", _EVENT_STATUS[m.status])
    ev.add("categories", [series.level.value, *series.parties])
    lines = []
    if m.agenda:
        lines += ["Agenda:", *[f"- {a}" for a in m.agenda]]
    if m.decisions:
        lines += ["Decisions:", *[f"- {d.id}: {d.text}" for d in m.decisions]]
    if m.attendees:
        lines += ["Attendees:", *[f"- {a.role}" for a in m.attendees]]
    if lines:
        ev.add("description", _text("\n".join(lines)))
    ev.add("x-accord-status", _text(m.status.value))
    return ev


def _commitment_todo(series: Series, v: SignedVersion) -> Todo:
    c = cast(Commitment, v.value)
    todo = Todo()
    todo.add("uid", uid(c.id))
    todo.add("dtstamp", parse_rfc3339(v.signed_at).replace(microsecond=0))
    todo.add("sequence", v.version - 1)
    todo.add("summary", _text(f"[{c.owner}] {c.text}"))
    todo.add("due", c.due)
    todo.add("status", _TODO_STATUS[c.status])
    todo.add("categories", [series.id, c.owner])
    todo.add("related-to", uid(c.meeting_id))
    if c.evidence:
        todo.add("description", _text("Evidence:\n" + "\n".join(f"- {e}" for e in c.evidence)))
    todo.add("x-accord-status", _text(c.status.value))
    todo.add("x-accord-owner", _text(c.owner))
    return todo


def to_ical(series: SignedVersion, meetings: list[SignedVersion], commitments: list[SignedVersion]) -> bytes:
    """The series as an RFC 5545 calendar (bytes, CRLF line endings), records in id order."""
    s = cast(Series, series.value)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", _text(s.title))
    for v in sorted(meetings, key=lambda v: (cast(Meeting, v.value).number, v.record_id)):
        cal.add_component(_meeting_event(s, v))
    for v in sorted(commitments, key=lambda v: v.record_id):
        cal.add_component(_commitment_todo(s, v))
    return cal.to_ical()
