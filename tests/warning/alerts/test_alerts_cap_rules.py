"""CAP 1.2 conformance beyond the schema: every message the engine makes passes the official XSD
(lxml and xmlschema) *and* the rules CAP states in prose (``cap_rules``), UTC written ``-00:00``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from importlib import resources

import pytest
import xmlschema
from alerts_helpers import make_pred, path
from cap_rules import datetime_violation, rule_violations, stream_violations
from hypothesis import given
from hypothesis import strategies as st

from accord.warning.alerts import AlertEngine, AlertRules, validate
from accord.warning.alerts.cap import SCHEMA_PATH, cap_time

OVERFLIGHT = path(40.6, 126.4, 40.9, 141.0, 40) + path(40.9, 141.0, 40.5, 175.0, 60)[1:]


def _streams(geo) -> dict[str, list]:
    """Message streams covering Alert, Update and Cancel, both statuses and three parties."""
    jpn = AlertEngine(AlertRules(party="JPN"), geo, "accord.jpn.example", "Exercise")
    moving = (jpn.on_prediction(make_pred(100, 41.0, 139.7, 120_000, 50_000, 60, impact_t=400), 100)
              + jpn.on_prediction(make_pred(125, 41.4, 139.9, 90_000, 35_000, 60, impact_t=400), 125)
              + jpn.on_prediction(make_pred(150, 40.9, 138.6, 15_000, 6_000, 60, impact_t=400), 150)
              + jpn.on_prediction(make_pred(330, 43.3, 140.0, 8_000, 4_000, 90, impact_t=400, track="T2"), 330)
              + jpn.on_time(431))
    actual = AlertEngine(AlertRules(party="JPN"), geo, "accord.jpn.example", "Actual")
    over = (actual.on_prediction(make_pred(150, 40.5, 175.0, 15_000, 5_000, 90, impact_t=1_300,
                                           ground_track=OVERFLIGHT), 150)
            + actual.on_prediction(make_pred(400, 40.5, 175.0, 12_000, 4_000, 90, impact_t=1_300,
                                             ground_track=tuple(p for p in OVERFLIGHT if p[1] > 146.0)), 400))
    kor = AlertEngine(AlertRules(party="KOR"), geo, "accord.kor.example", "Exercise")
    usa = AlertEngine(AlertRules(party="USA"), geo, "accord.usa.example", "Actual")
    return {"JPN moving": moving, "JPN overflight": over,
            "KOR": kor.on_prediction(make_pred(300, 37.8, 129.15, 8_000, 4_000, 0, impact_t=400), 300)
            + kor.on_time(431),
            "USA": usa.on_prediction(make_pred(300, 13.6, 144.65, 8_000, 4_000, 0, impact_t=400), 300)}


def test_every_message_passes_the_xsd_twice_and_the_rules_it_cannot_express(geo):
    xsd = xmlschema.XMLSchema(str(resources.files("accord.warning.alerts") / SCHEMA_PATH))
    streams = _streams(geo)
    kinds = {m.msg_type for msgs in streams.values() for m in msgs}
    assert kinds == {"Alert", "Update", "Cancel"}
    for name, msgs in streams.items():
        assert msgs, name
        for m in msgs:
            validate(m.xml)                      # lxml, the vendored OASIS schema
            xsd.validate(m.xml.decode("utf-8"))  # a second validator
            assert rule_violations(m.xml) == [], (name, m.identifier)
            assert b"-00:00</sent>" in m.xml and b"+00:00" not in m.xml
        assert stream_violations(m.xml for m in msgs) == [], name


def _mutate(xml: bytes, old: bytes, new: bytes) -> bytes:
    assert old in xml, old
    return xml.replace(old, new, 1)


@pytest.fixture(scope="module")
def update(geo):
    msgs = _streams(geo)["JPN moving"]
    return next(m for m in msgs if m.msg_type == "Update")


BREAKS = {
    "UTC as +00:00": (lambda m: _mutate(m.xml, b"-00:00</sent>", b"+00:00</sent>"), "UTC must be written -00:00"),
    "a space in the identifier": (lambda m: _mutate(m.xml, m.identifier.encode(), b"accord JPN"),
                                  "contains a space, comma"),
    "a comma in the sender": (lambda m: _mutate(m.xml, b"<sender>accord.jpn", b"<sender>accord,jpn"),
                              "sender 'accord,jpn.example'"),
    "a references entry of two parts": (lambda m: _mutate(m.xml, b"<references>accord.jpn.example,",
                                                          b"<references>"), "is not sender,identifier,sent"),
    "a references time with +00:00": (lambda m: _mutate(m.xml, b"-00:00</references>", b"+00:00</references>"),
                                      "references sent"),
    "an Update without references": (lambda m: m.xml.replace(
        m.xml[m.xml.index(b"<references>"):m.xml.index(b"</references>") + 13], b""),
        "msgType Update names no earlier message"),
    "a polygon left open": (lambda m: m.xml.replace(b"</polygon>", b" 41.0,139.0</polygon>", 1),
                            "ring is not closed"),
    "a polygon of three pairs": (lambda m: _polygon(m.xml, b"41.0,139.0 41.1,139.1 41.0,139.0"),
                                 "3 coordinate pairs"),
    "a latitude beyond 90": (lambda m: _polygon(m.xml, b"91.0,139.0 41.1,139.1 41.2,139.0 91.0,139.0"),
                             "outside WGS 84"),
    "a restricted scope without a restriction": (lambda m: _mutate(m.xml, b"<scope>Public", b"<scope>Restricted"),
                                                 "scope Restricted without a restriction"),
}


def _polygon(xml: bytes, ring: bytes) -> bytes:
    start = xml.index(b"<polygon>") + len(b"<polygon>")
    return xml[:start] + ring + xml[xml.index(b"</polygon>", start):]


@pytest.mark.parametrize("case", BREAKS, ids=list(BREAKS))
def test_each_rule_catches_what_the_schema_lets_through(update, case):
    mutate, message = BREAKS[case]
    broken = mutate(update)
    validate(broken)  # the XSD cannot tell: that is why the rule is checked here
    problems = rule_violations(broken)
    assert problems and all(message in p for p in problems), problems


def test_a_reference_to_a_message_never_sent_is_caught(geo):
    msgs = [m.xml for m in _streams(geo)["JPN moving"]]
    first_sent = msgs[0][msgs[0].index(b"<sent>") + 6:msgs[0].index(b"</sent>")]
    # the first later message that names the first one (in its references, last or not)
    ref = next(m for m in msgs[1:] if b"<references>" in m
               and first_sent in m[m.index(b"<references>"):m.index(b"</references>")])
    head = ref[:ref.index(b"</references>")]
    later = head.replace(first_sent, b"2026-01-01T00:00:00-00:00", 1) + ref[len(head):]
    assert later != ref
    assert any("which no earlier message is" in p for p in stream_violations([msgs[0], later]))
    assert any("used twice" in p for p in stream_violations([msgs[0], msgs[0]]))


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9998, 12, 31),
                    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=9)),
                                               timezone(timedelta(hours=-5, minutes=-30)),
                                               timezone(timedelta(hours=14))])))
def test_cap_time_is_utc_written_minus_zero_and_the_same_instant(when):
    text = cap_time(when)
    assert datetime_violation("sent", text) is None
    assert text.endswith("-00:00")
    back = datetime.fromisoformat(text)
    assert back == when.replace(microsecond=0)


@pytest.mark.parametrize("text", ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5-00:00", "2026-01-01 00:00:00-00:00",
                                  "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00", ""])
def test_malformed_cap_times_are_named(text):
    assert datetime_violation("sent", text) is not None
