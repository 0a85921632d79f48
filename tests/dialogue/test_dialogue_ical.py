"""iCalendar export parsed back with the ``icalendar`` library."""

from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar

from accord.core.identity import Identity
from accord.dialogue.ical import to_ical, uid
from accord.dialogue.model import (Attendee, Commitment, Decision, Level, Meeting, MeetingStatus, Series,
                                   Status)
from accord.dialogue.versions import sign_version

JPN = Identity.generate("JPN")
T0 = datetime(2026, 1, 10, 3, 4, 5, 678000, tzinfo=UTC)
SERIES = Series("S", "Japan–ROK ministers", ("JPN", "KOR"), Level.MINISTERS, 6, date(2025, 9, 8),
                ("KOR", "JPN"), (("JPN", "Tokyo"), ("KOR", "Seoul"))).validate()


def _calendar() -> bytes:
    s = sign_version(JPN, SERIES, prev=None, now=T0)
    held = Meeting("S-M1", "S", 1, MeetingStatus.HELD, date(2025, 9, 8), "KOR", "Seoul",
                   attendees=(Attendee("JPN", "Minister of Defense (JPN)"),),
                   agenda=("Regional security",), decisions=(Decision("D1", "Meet regularly"),))
    m1 = sign_version(JPN, held, prev=None, now=T0)
    timed = Meeting("S-M2", "S", 2, MeetingStatus.PLANNED, date(2026, 3, 8), "JPN", "Tokyo",
                    start=datetime(2026, 3, 8, 10, 0, tzinfo=UTC) + timedelta(hours=-9), duration_minutes=90)
    m2a = sign_version(JPN, timed, prev=None, now=T0)
    m2b = sign_version(JPN, timed, prev=m2a, now=T0 + timedelta(days=1))  # a second version
    c = Commitment("S-M1-C1", "S", "S-M1", "JPN", "Host the next meeting", date(2026, 3, 31), Status.PROPOSED)
    c1 = sign_version(JPN, c, prev=None, now=T0)
    return to_ical(s, [m2b, m1], [c1])


def test_ical_parses_back_with_all_day_and_timed_events():
    cal = Calendar.from_ical(_calendar())
    assert str(cal["VERSION"]) == "2.0" and "Accord" in str(cal["PRODID"])
    events = cal.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == ["S-M1@accord-dialogue", "S-M2@accord-dialogue"]
    allday, timed = events
    assert allday["DTSTART"].dt == date(2025, 9, 8) and allday["DTEND"].dt == date(2025, 9, 9)
    assert not isinstance(allday["DTSTART"].dt, datetime)
    assert str(allday["STATUS"]) == "CONFIRMED" and str(allday["LOCATION"]) == "Seoul"
    assert "Minister of Defense (JPN)" in str(allday["DESCRIPTION"])
    assert timed["DTSTART"].dt == datetime(2026, 3, 8, 1, 0, tzinfo=UTC)
    assert timed["DTEND"].dt - timed["DTSTART"].dt == timedelta(minutes=90)
    assert str(timed["STATUS"]) == "TENTATIVE"
    assert int(timed["SEQUENCE"]) == 1 and int(allday["SEQUENCE"]) == 0
    assert timed["DTSTAMP"].dt == datetime(2026, 1, 11, 3, 4, 5, tzinfo=UTC)  # signed time, whole seconds
    todo, = cal.walk("VTODO")
    assert str(todo["UID"]) == uid("S-M1-C1") and todo["DUE"].dt == date(2026, 3, 31)
    assert str(todo["STATUS"]) == "NEEDS-ACTION" and str(todo["X-ACCORD-OWNER"]) == "JPN"
    assert str(todo["RELATED-TO"]) == "S-M1@accord-dialogue"


def test_ical_export_is_stable_byte_for_byte():
    assert _calendar() == _calendar()
    assert b"\r\n" in _calendar()


def test_ical_export_reads_the_same_in_a_second_parser():
    """vobject, written independently of the icalendar library that writes the export, reads
    every value back: long Japanese and Korean lines folded at 75 octets (never inside a
    character), commas, semicolons and backslashes escaped, newlines kept."""
    import vobject

    agenda = ("北朝鮮の弾道ミサイル発射に関する情報共有の強化、及び日米韓の三か国協力について; 詳細は別紙",
              "한일 국방장관 회담: 미사일 경보정보의 실시간 공유, 그리고 \\ 역내 안보 협력 강화 방안")
    held = Meeting("S-M3", "S", 3, MeetingStatus.HELD, date(2026, 9, 8), "JPN", "Tokyo, Ichigaya; Room 1",
                   agenda=agenda, decisions=(Decision("D1", "Meet, regularly; and report"),))
    evidence = ("차관급 회담 개최, 2026년 3월 — 東京にて実施済み; 記録は文書番号 A\\B に保存",)
    c = Commitment("S-M3-C1", "S", "S-M3", "KOR", "경보 정보 공유 체계를 구축한다, 三か国で", date(2026, 12, 31),
                   Status.DONE, evidence=evidence)
    raw = to_ical(sign_version(JPN, SERIES, prev=None, now=T0), [sign_version(JPN, held, prev=None, now=T0)],
                  [sign_version(JPN, c, prev=None, now=T0)])
    assert max(len(line) for line in raw.split(b"\r\n")) <= 75  # folded, in octets
    cal = vobject.readOne(raw.decode("utf-8"))
    assert cal.prodid.value == "-//Accord//Dialogue//EN" and cal.version.value == "2.0"
    event, = cal.vevent_list
    assert event.uid.value == "S-M3@accord-dialogue" and event.dtstart.value == date(2026, 9, 8)
    assert event.location.value == "Tokyo, Ichigaya; Room 1"
    assert event.description.value == "\n".join(["Agenda:", *[f"- {a}" for a in agenda], "Decisions:",
                                                 "- D1: Meet, regularly; and report"])
    assert event.summary.value == "Japan–ROK ministers — meeting 3 (host JPN)"
    todo, = cal.vtodo_list
    assert todo.summary.value == "[KOR] 경보 정보 공유 체계를 구축한다, 三か国で"
    assert todo.description.value == "Evidence:\n- " + evidence[0]
    assert todo.due.value == date(2026, 12, 31) and todo.status.value == "COMPLETED"
    assert todo.dtstamp.value == T0.replace(microsecond=0)


def test_a_series_without_meetings_exports_a_calendar_with_its_name_and_no_component():
    """The shape docs/dialogue.md gives the reasons for: no placeholder of any kind, just the
    calendar's properties, which both parsers read (the first meeting appears on a refresh)."""
    import vobject

    raw = to_ical(sign_version(JPN, SERIES, prev=None, now=T0), [], [])
    assert raw == (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Accord//Dialogue//EN\r\nCALSCALE:GREGORIAN\r\n"
                   + "X-WR-CALNAME:Japan–ROK ministers\r\nEND:VCALENDAR\r\n".encode())
    cal = vobject.readOne(raw.decode("utf-8"))
    assert cal.name == "VCALENDAR" and list(cal.components()) == []
    assert [(p.name, p.value) for p in cal.getChildren()] == [
        ("VERSION", "2.0"), ("PRODID", "-//Accord//Dialogue//EN"), ("CALSCALE", "GREGORIAN"),
        ("X-WR-CALNAME", "Japan–ROK ministers")]
    assert cal.validate()  # vobject's own checks accept it
    assert Calendar.from_ical(raw).subcomponents == []  # and so does the library that writes it


HOSTILE = ("Talks\r\nATTENDEE:mailto:spy@example.org\r\nEND:VEVENT\rX-A:1\nBEGIN:VEVENT\x0b\x0c\x00\x1b\x7f"
           " a;b,c\\d \\N e\u2028f")
"""A partner-signed text trying to end the event and add properties: CR, LF, lone CR, the other
control characters, a Unicode line separator, the TEXT specials and a literal backslash-N."""
CLEAN = "Talks\nATTENDEE:mailto:spy@example.org\nEND:VEVENT\nX-A:1\nBEGIN:VEVENT a;b,c\\d \\N e\nf"
"""What a calendar reads back: the line breaks kept as line breaks, the other controls gone."""


def test_hostile_text_stays_inside_its_property_in_every_field():
    """Every partner-signed text — series title (also the calendar's name), venue, agenda,
    decisions, roles, commitment text and evidence — comes back as one value of its own property:
    no line of its own, no extra component, and both parsers read the same text."""
    import vobject

    series = Series("S", HOSTILE, ("JPN", "KOR"), Level.MINISTERS, 6, date(2025, 9, 8), ("KOR", "JPN"))
    held = Meeting("S-M1", "S", 1, MeetingStatus.HELD, date(2025, 9, 8), "KOR", HOSTILE,
                   attendees=(Attendee("JPN", HOSTILE),), agenda=(HOSTILE,), decisions=(Decision("D1", HOSTILE),))
    c = Commitment("S-M1-C1", "S", "S-M1", "JPN", HOSTILE, date(2026, 3, 31), Status.PROPOSED, evidence=(HOSTILE,))
    raw = to_ical(sign_version(JPN, series, prev=None, now=T0), [sign_version(JPN, held, prev=None, now=T0)],
                  [sign_version(JPN, c, prev=None, now=T0)])
    lines = raw.split(b"\r\n")
    assert not any(line.startswith((b"ATTENDEE", b"X-A:")) for line in lines)
    assert [line for line in lines if line.startswith((b"BEGIN:", b"END:"))] == [
        b"BEGIN:VCALENDAR", b"BEGIN:VEVENT", b"END:VEVENT", b"BEGIN:VTODO", b"END:VTODO", b"END:VCALENDAR"]
    assert not any(ch < 0x20 and ch != 0x09 for line in lines for ch in line)  # RFC 5545: no CONTROL in TEXT
    cal = Calendar.from_ical(raw)  # it keeps X- properties as written: vobject reads them as TEXT, below
    event, = cal.walk("VEVENT")
    assert str(event["SUMMARY"]) == f"{CLEAN} — meeting 1 (host KOR)" and str(event["LOCATION"]) == CLEAN
    assert str(event["DESCRIPTION"]) == "\n".join(["Agenda:", f"- {CLEAN}", "Decisions:", f"- D1: {CLEAN}",
                                                   "Attendees:", f"- {CLEAN}"])
    todo, = cal.walk("VTODO")
    assert str(todo["SUMMARY"]) == f"[JPN] {CLEAN}" and str(todo["DESCRIPTION"]) == f"Evidence:\n- {CLEAN}"
    second = vobject.readOne(raw.decode("utf-8"))
    assert second.vevent.location.value == CLEAN and second.x_wr_calname.value == CLEAN
