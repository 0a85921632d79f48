"""CoT events: Accord's picture built as CoT 2.0, and hostile CoT refused with one clear error."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lxml import etree

from accord.tak import types
from accord.tak.cot import MAX_EVENT_BYTES, CotError, CotEvent, EventSplitter, parse_event
from accord.tak.picture import Stamp, prediction_events, track_events
from accord.warning.frames import great_circle_m, lla_to_ecef

NOW = datetime(2026, 12, 4, 12, 0, 0, 123000, tzinfo=timezone.utc)
MARK = "CONFIDENTIAL//REL TO JPN, KOR, USA"


def _track(lat: float, lon: float, alt: float, *, sigma: float | None = None) -> dict:
    x, y, z = lla_to_ecef(lat, lon, alt)
    # 2 km/s due east at that point
    e = (-math.sin(math.radians(lon)), math.cos(math.radians(lon)), 0.0)
    body = {"t": 100.0, "track_id": "T3", "x": float(x), "y": float(y), "z": float(z),
            "vx": 2000 * e[0], "vy": 2000 * e[1], "vz": 0.0}
    if sigma is not None:
        body["cov"] = [sigma ** 2 if i == j and i < 3 else (1.0 if i == j else 0.0) for i in range(6) for j in range(6)]
    return body


def test_track_event_round_trips_position_uid_stale_and_marking():
    (ev,) = track_events(_track(40.123456, 131.654321, 152_000.0, sigma=100.0), party="JPN", marking=MARK,
                         stamp=Stamp(NOW, 12.0), item_id="JPN:warning.track:abc")
    back = parse_event(ev.to_xml())
    assert back.uid == "accord.JPN.T3" and back.type == types.TRACK.cot_type == "a-s-A-W-M-S-S"
    assert great_circle_m(back.lat, back.lon, 40.123456, 131.654321) < 0.05
    assert back.hae == pytest.approx(152_000.0, abs=0.1)
    assert back.time == back.start == NOW and back.stale == NOW + timedelta(seconds=12)
    assert back.ce == pytest.approx(100.0, abs=0.1) and back.le == pytest.approx(100.0, abs=0.1)
    assert back.callsign == "JPN T3" and back.remarks.startswith(MARK)
    root = etree.fromstring(ev.to_xml())
    acc = root.find("detail/__accord")
    assert acc.get("marking") == MARK and acc.get("originator") == "JPN"
    assert acc.get("item") == "JPN:warning.track:abc" and acc.get("sidc") == "SSAPWMSS-------"
    trk = root.find("detail/track")
    assert float(trk.get("course")) == pytest.approx(90.0, abs=0.1)
    assert float(trk.get("speed")) == pytest.approx(2000.0, abs=0.1)


def test_prediction_gives_launch_point_and_impact_ellipse_mapped_onto_now():
    body = {"t": 150.0, "track_id": "T1", "launch_t": 10.0, "launch_lat_deg": 39.2, "launch_lon_deg": 127.1,
            "launch_sigma_m": 2100.0, "impact_t": 450.0, "impact_lat_deg": 40.5, "impact_lon_deg": 134.5,
            "impact_ellipse_95": {"semi_major_m": 8200.0, "semi_minor_m": 2100.0, "bearing_deg": 71.0}}
    launch, impact = prediction_events(body, party="KOR", marking=MARK, stamp=Stamp(NOW, 10.0, 0.5))
    assert (launch.uid, launch.type) == ("accord.KOR.T1.launch", "a-s-G-E-W-M")
    assert (launch.lat, launch.lon, launch.ce) == (39.2, 127.1, 2100.0)
    assert (impact.uid, impact.type) == ("accord.KOR.T1.impact", "u-d-c-e")
    ell = etree.fromstring(impact.to_xml()).find("detail/shape/ellipse")
    assert (float(ell.get("major")), float(ell.get("minor")), float(ell.get("angle"))) == (8200.0, 2100.0, 71.0)
    # impact 300 s of picture time ahead, replayed at 2× (0.5 wall s per picture s): 150 s from now
    assert impact.callsign.endswith(f"{NOW + timedelta(seconds=150):%H:%M:%S}Z")
    assert prediction_events(dict(body, status="suspect"), party="KOR", marking=MARK, stamp=Stamp(NOW, 10)) == []


@pytest.mark.parametrize("data, field, words", [
    (b"<event uid='a' type='a-f-G'", None, "malformed XML"),
    (b"<?xml version='1.0'?><!DOCTYPE e [<!ENTITY x 'y'>]><event/>", None, "DTDs and entities"),
    (b"<!DOCTYPE e [<!ENTITY a '1'><!ENTITY b '&a;&a;&a;&a;'>]><event uid='&b;'/>", None, "DTDs"),
    (b"<?xml version='1.0'?><!DOCTYPE e SYSTEM 'file:///etc/passwd'><event/>", None, "DTDs"),
    (b"<alert/>", None, "not <event>"),
    (b"<event uid='x y' type='a-f-G' time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' "
     b"stale='2026-12-04T12:01:00Z'><point lat='1' lon='2'/></event>", "uid", "letters"),
    (b"<event uid='u1' type='A F G' time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' "
     b"stale='2026-12-04T12:01:00Z'><point lat='1' lon='2'/></event>", "type", "CoT type"),
    (b"<event uid='u1' type='a-f-G' time='2026-12-04T12:00:00' start='2026-12-04T12:00:00Z' "
     b"stale='2026-12-04T12:01:00Z'><point lat='1' lon='2'/></event>", "time", "time zone"),
    # valid ISO 8601 with no UTC form: the OverflowError ended the reader of the TAK connection
    (b"<event uid='u1' type='a-f-G' time='0001-01-01T00:00:00+14:00' start='2026-12-04T12:00:00Z' "
     b"stale='2026-12-04T12:01:00Z'><point lat='1' lon='2'/></event>", "time", "outside the years 1-9999"),
    (b"<event uid='u1' type='a-f-G' time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' "
     b"stale='9999-12-31T23:59:59-14:00'><point lat='1' lon='2'/></event>", "stale", "outside the years"),
    (b"<event uid='u1' type='a-f-G' time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' "
     b"stale='2026-12-04T12:01:00Z'><point lat='999' lon='2'/></event>", "point.lat", "outside"),
    (b"<event uid='u1' type='a-f-G' time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' "
     b"stale='2026-12-04T12:01:00Z'><point lat='nan' lon='2'/></event>", "point.lat", "outside"),
    (b"<event uid='u1' type='a-f-G' time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' "
     b"stale='2026-12-04T12:01:00Z'/>", "point", "no <point>"),
    (b"<event uid='u1' type='a-f-G' time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' "
     b"stale='2026-12-04T11:00:00Z'><point lat='1' lon='2'/></event>", "stale", "before start"),
    (b"<event uid='u1' type='a-f-G' time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' "
     b"stale='2026-12-04T12:01:00Z'><point lat='1' lon='2'/><detail><remarks>" + b"x" * 5000
     + b"</remarks></detail></event>", "detail.remarks", "longer than"),
])
def test_bad_events_are_refused_with_one_line_naming_the_fault(data, field, words):
    with pytest.raises(CotError) as info:
        parse_event(data, source="tcp://127.0.0.1:8087")
    msg = str(info.value)
    assert words in msg and "\n" not in msg and msg.startswith("tcp://127.0.0.1:8087")
    assert info.value.field == field


def test_splitter_cuts_a_stream_at_any_read_boundary_and_drops_an_oversized_event():
    ok = CotEvent("u1", "b-r-f-h-c", "h-e", NOW, NOW, NOW + timedelta(minutes=5), 35.0, 139.0,
                  callsign="ALPHA").to_xml()
    huge = b"<event uid='big'><detail><remarks>" + b"x" * (MAX_EVENT_BYTES + 10) + b"</remarks></detail></event>"
    stream = b"<?xml version='1.0'?>" + ok + b"\n" + huge + ok
    for size in (1, 7, 1000, len(stream)):
        sp = EventSplitter()
        out = []
        for i in range(0, len(stream), size):
            out += sp.feed(stream[i:i + size])
            assert len(sp._buf) <= MAX_EVENT_BYTES + size
        assert [type(x).__name__ for x in out] == ["bytes", "CotError", "bytes"], size
        assert parse_event(out[0]).callsign == parse_event(out[2]).callsign == "ALPHA"
        assert "larger than 65536 bytes" in str(out[1])


_EVENT = (b"<event uid='u1' type='a-f-G' time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' "
          b"stale='2026-12-04T12:01:00Z'><point lat='1' lon='2'/><detail><remarks>R</remarks></detail></event>")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=300).map(lambda s: f"<event {s}>".encode()))
@example(b"").via("empty")
@example(b"\x00" * 100).via("NUL bytes")
@example(b"<event uid='\xed\xa0\x80'/>").via("a lone surrogate in UTF-8 bytes")
@example(b"<a>" * 20_000 + b"</a>" * 20_000).via("nested 20,000 deep")
@example(_EVENT.replace(b"<remarks>R", b"<remarks>" + b"<a>" * 9_000 + b"R" + b"</a>" * 9_000)).via(
    "remarks nested 9,000 deep, within the 64 KiB bound")
@example(b'<!DOCTYPE e [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
         b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>' + _EVENT.replace(b">R<", b">&c;<")).via("billion laughs")
@example(b'<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _EVENT.replace(b">R<", b">&x;<")).via(
    "external entity")
@example(_EVENT.replace(b"lat='1'", b"lat='1e400'")).via("a latitude beyond a double")
@example(_EVENT.replace(b"lat='1'", b"lat='-0'")).via("negative zero")
@example(_EVENT.replace(b"lat='1'", b"lat='NaN'")).via("NaN")
@example(_EVENT.replace(b"lat='1'", b"lat='" + b"9" * 5000 + b"'")).via("5,000 digits")
@example(_EVENT.replace(b"uid='u1'", b"uid='" + b"u" * 60_000 + b"'")).via("a 60,000-character uid")
def test_parse_event_raises_only_cot_errors_on_arbitrary_bytes(data):
    try:
        event = parse_event(data)
    except CotError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
    else:  # what parses is within bounds: the boundary inputs above are accepted only as these
        assert math.isfinite(event.lat) and -90 <= event.lat <= 90 and len(event.uid) <= 200
        assert event.remarks in (None, "R")


def test_radar_item_is_a_friendly_ground_radar_that_lasts_a_day():
    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.tak.picture import item_events

    item = new_item("warning.radar", {"id": "JPN-TPY1", "lat_deg": 40.9, "lon_deg": 140.3, "alt_m": 50.0},
                    Marking.parse(MARK), "JPN", NOW)
    (ev,) = item_events(item, Stamp(NOW, 10.0))
    back = parse_event(ev.to_xml())
    assert (back.uid, back.type, back.callsign) == ("accord.JPN.radar.JPN-TPY1", "a-f-G-E-S-R", "JPN radar JPN-TPY1")
    assert (back.lat, back.lon, back.hae) == (40.9, 140.3, 50.0) and back.stale == NOW + timedelta(days=1)


@pytest.mark.parametrize("hostile", ["radar.JPN-TPY1", "T1.launch", "alert.x.1-JP-01.0", "T 3", "",
                                     "T" * 61, "ｔ３", "a/../b"])
def test_a_partners_track_id_never_takes_another_objects_uid(hostile):
    """A track id is partner text: one that is not a plain id (letters, digits, '-', '_') gets a
    digest instead, so it cannot overwrite the party's radar, alert area, another track's launch
    or impact point, nor another track on a TAK server."""
    body = {**_track(40.0, 131.0, 100_000.0), "track_id": hostile}
    (ev,) = track_events(body, party="JPN", marking=MARK, stamp=Stamp(NOW, 12.0))
    uid = parse_event(ev.to_xml()).uid
    assert uid.startswith("accord.JPN.+") and uid.count(".") == 2
    assert uid not in {"accord.JPN.radar.JPN-TPY1", "accord.JPN.T1.launch", "accord.JPN.T1"}
    other = track_events({**body, "track_id": hostile + "x"}, party="JPN", marking=MARK, stamp=Stamp(NOW, 12.0))
    assert other[0].uid != uid


@given(st.text(min_size=1, max_size=80))
@settings(max_examples=200)
def test_distinct_track_ids_give_distinct_uids(track_id):
    from accord.tak.picture import uid_part
    part = uid_part(track_id)
    assert "." not in part and part != uid_part(track_id + "-")
    assert (part == track_id) == (not part.startswith("+"))


def test_a_partners_text_that_xml_cannot_carry_is_replaced_not_a_failed_send():
    # a partner's track id with a control character (valid JSON, a valid item) made lxml refuse
    # the event: the ValueError left the follower's send, and it stopped at that item every restart
    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.tak.picture import item_events

    body = {"t": 1.0, "track_id": "T\x01\x00\ufffe7", "x": 6_471_000.0, "y": 0.0, "z": 0.0,
            "vx": 0.0, "vy": 1000.0, "vz": 0.0}
    track = new_item("warning.track", body, Marking.parse(MARK), "KOR", NOW)
    radar = new_item("warning.radar", {"id": "R\x1b[31m", "lat_deg": 37.0, "lon_deg": 129.0, "alt_m": 0.0},
                     Marking.parse(MARK), "KOR", NOW)
    for item, want in ((track, "KOR T\ufffd\ufffd\ufffd7"), (radar, "KOR radar R\ufffd[31m")):
        (ev,) = item_events(item, Stamp(NOW, 10.0))
        back = parse_event(ev.to_xml())
        assert back.callsign == want and "\ufffd" in (back.remarks or "")
        assert back.uid == ev.uid   # the UID is made of safe characters already


@pytest.mark.parametrize("t, impact_t", [(100.0, 1e308), (-1e308, 1e308), (100.0, "nan")])
def test_a_prediction_whose_impact_no_clock_can_show_has_no_picture_rather_than_an_overflow(t, impact_t):
    # an OverflowError left Follower.send_new (which skips an item only on an AccordError): the
    # follower stopped at a partner's prediction with impact_t 1e308, and again after a restart
    from accord.errors import InputError

    body = {"t": t, "track_id": "T1", "launch_t": 0.0, "impact_t": impact_t, "launch_lat_deg": 40.0,
            "launch_lon_deg": 127.0, "launch_sigma_m": 500.0, "impact_lat_deg": 33.0, "impact_lon_deg": 130.0,
            "impact_ellipse_95": {"semi_major_m": 900.0, "semi_minor_m": 400.0, "bearing_deg": 30.0}}
    with pytest.raises(InputError, match="impact_t"):
        prediction_events(body, party="KOR", marking=MARK, stamp=Stamp(NOW, 10))


# --- what Accord sends is what its own parser accepts ---------------------------------------------
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
HOSTILE_NUMBERS = ["nan", "inf", "-inf", "1e400", "-1e400", "1e308", "91", "-90.0000001", "180.5", "-181",
                   "1" + "0" * 400, "0", "-0", "1e-320"]
CAP_TIMES = ["2026-12-04T12:00:00-00:00", "2026-12-04T13:00:00+09:00", "2026-12-04T12:00:00Z",
             "2026-12-04T12:00:00", "0001-01-01T00:00:00-00:00", "9999-12-31T23:59:59-00:00",
             "2016-12-31T23:59:60-00:00", "", "not a time", "2026-12-04T12:00:00.123456789-00:00"]


def _cap(sent: str, expires: str, *, incidents: str | None = "INC1",
         ring: str = "40,130 41,130 41,131 40,130", msg_type: str = "Alert") -> str:
    inc = f"<incidents>{incidents}</incidents>" if incidents is not None else ""
    return (f'<alert xmlns="{CAP_NS}"><sent>{sent}</sent><msgType>{msg_type}</msgType>{inc}<info>'
            f"<language>en-US</language><expires>{expires}</expires><headline>h</headline><area>"
            f"<areaDesc>a</areaDesc><polygon>{ring}</polygon></area></info></alert>")


def _placed_or_refused(make) -> list[CotEvent] | None:
    """The events ``make`` gives, each accepted by Accord's own inbound parser (a TAK client
    places it), or None for an InputError in one line — never another exception."""
    from accord.errors import InputError

    try:
        events = make()
    except InputError as exc:
        assert "\n" not in str(exc)
        return None
    for ev in events:
        parse_event(ev.to_xml())
    return events


def _alert(body: dict, drawn=None):
    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.tak.picture import item_events

    item = new_item("warning.alert", body, Marking.parse(MARK), "KOR", NOW)
    return lambda: item_events(item, Stamp(NOW, 10.0), drawn)


@pytest.mark.parametrize("sent, expires", [
    ("2026-12-04T12:00:00-00:00", "2026-12-04T13:00:00"),          # no zone: TypeError once
    ("2026-12-04T12:00:00", "2026-12-04T13:00:00-00:00"),
    ("0001-01-01T00:00:00-00:00", "9999-12-31T23:59:59-00:00"),    # 8,000 years' life: OverflowError once
    ("2016-12-31T23:59:60-00:00", "2026-12-04T13:00:00-00:00")])   # a leap second
def test_a_partners_alert_with_times_no_clock_can_show_is_drawn_or_refused_not_a_crash(sent, expires):
    # a TypeError or OverflowError left Follower.send_new (which skips an item only on an
    # AccordError): the follower stopped at the partner's alert, and again after every restart
    events = _placed_or_refused(_alert({"cap_xml": _cap(sent, expires)}))
    assert events is None or all(e.stale > NOW for e in events)


@pytest.mark.parametrize("sent, expires, life_s", [
    ("2026-12-04T12:00:00-00:00", "2026-12-04T13:00:00-00:00", 3600.0),   # CAP's UTC
    ("2026-12-04T21:00:00+09:00", "2026-12-04T13:00:00Z", 3600.0),
    ("2026-12-04T12:00:00", "2026-12-05T12:00:00", 600.0),               # neither has its offset
    ("2026-12-04T12:00:00-00:00", "2026-12-04T13:00:00", 600.0)])
def test_an_alert_is_drawn_from_sent_to_expires_or_600_s_when_a_time_lacks_its_offset(sent, expires, life_s):
    """docs/tak.md: a sent or expires without its offset gives the drawing 600 s (CAP §3.3.2
    requires the offset); two without one were subtracted as they were, a life of their own."""
    events = _alert({"cap_xml": _cap(sent, expires)})()
    assert events and {e.stale for e in events} == {NOW + timedelta(seconds=life_s)}


@pytest.mark.parametrize("incidents, incident", [("   ", None), (None, 5), (None, ["x"]), ("\n", "")])
def test_an_alert_with_a_blank_or_odd_incident_is_drawn_under_a_safe_uid(incidents, incident):
    body = {"cap_xml": _cap("2026-12-04T12:00:00-00:00", "2026-12-04T13:00:00-00:00", incidents=incidents)}
    if incident is not None:
        body["incident"] = incident
    events = _placed_or_refused(_alert(body))
    assert events and all(e.polygon for e in events)


@pytest.mark.parametrize("bad", HOSTILE_NUMBERS[:10])
def test_an_alert_ring_off_the_map_is_not_drawn_and_the_others_are(bad):
    ring = f"40,130 {bad},130 41,131 40,130"
    xml = _cap("2026-12-04T12:00:00-00:00", "2026-12-04T13:00:00-00:00").replace(
        "</area>", f"<polygon>{ring}</polygon><polygon>{ring.replace(bad, '130', 1).replace(',130 ', f',{bad} ', 1)}"
                   "</polygon></area>")
    events = _placed_or_refused(_alert({"cap_xml": xml}))
    assert events is not None and len(events) == 1 and events[0].polygon[0] == (40.0, 130.0)


@settings(max_examples=150, deadline=None)
@given(sent=st.sampled_from(CAP_TIMES), expires=st.sampled_from(CAP_TIMES),
       numbers=st.lists(st.sampled_from(HOSTILE_NUMBERS) | st.floats().map(repr), min_size=8, max_size=8),
       incidents=st.sampled_from([None, "", " ", "INC 2", "a/b\x7f"]),
       msg_type=st.sampled_from(["Alert", "Update", "Cancel", ""]))
def test_any_partner_alert_gives_events_accords_parser_accepts_or_one_input_error(sent, expires, numbers,
                                                                                  incidents, msg_type):
    ring = " ".join(f"{numbers[i]},{numbers[i + 1]}" for i in range(0, 8, 2))
    drawn: dict = {}
    for kind in ("Alert", msg_type):
        body = {"cap_xml": _cap(sent, expires, incidents=incidents, ring=ring, msg_type=kind)}
        _placed_or_refused(_alert(body, drawn))


_CAP_OK = _cap("2026-12-04T12:00:00-00:00", "2026-12-04T13:00:00-00:00")


@pytest.mark.parametrize("xml, drawn", [
    ('<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "lol">]>' + _CAP_OK, False),      # DTD: refused
    ('<!DOCTYPE alert SYSTEM "file:///etc/passwd">' + _CAP_OK, False),                  # external: refused
    (_CAP_OK.replace("<headline>h", "<headline>h&#0;"), False),                        # NUL: not XML
    (_CAP_OK.replace("<headline>h</headline>", "<headline>" + "<x>" * 100_000 + "</x>" * 100_000
                     + "</headline>"), True),                                          # 100,000 deep
    (_CAP_OK.replace("<headline>h", "<headline>" + "h" * 1_000_000), True),            # a 1 MB headline
    (_CAP_OK.replace("40,130 41,130", "1e400,130 41,1e400"), False),                   # beyond a double
    (_CAP_OK.replace("40,130 41,130", "-0,130 41,130"), True),                         # negative zero
    (_CAP_OK.replace("40,130 41,130 41,131 40,130", " ".join(["40,130"] * 200_000)), True),  # a huge ring
    ("x" * 2_000_001, False),                                                          # past the 2 MB bound
])
def test_a_partners_alert_at_the_bounds_is_drawn_or_refused_in_one_line(xml, drawn):
    """Pins what random CAP never reaches: DTDs, entities and NULs refused, nesting 100,000 deep
    and megabyte texts drawn (no recursion, no quadratic copy), numbers beyond a double dropped."""
    events = _placed_or_refused(_alert({"cap_xml": xml}))
    assert bool(events) == drawn


def test_a_partners_alert_with_thousands_of_areas_draws_a_bounded_number_and_its_cancel_removes_them():
    """A partner's alert naming 20,000 areas made 20,000 events (seconds of the follower's time
    per message): at most MAX_ALERT_POLYGONS are drawn, and the all-clear deletes exactly those."""
    from accord.tak.picture import MAX_ALERT_POLYGONS

    areas = "".join(f"<area><areaDesc>a{i}</areaDesc><polygon>40,130 41,130 41,131 40,130</polygon></area>"
                    for i in range(20_000))
    sent, expires = "2026-12-04T12:00:00-00:00", "2026-12-04T13:00:00-00:00"
    drawn: dict = {}
    alert = _cap(sent, expires).replace(
        "<area><areaDesc>a</areaDesc><polygon>40,130 41,130 41,131 40,130</polygon></area>", areas)
    events = _placed_or_refused(_alert({"cap_xml": alert}, drawn))
    assert events is not None and len(events) == MAX_ALERT_POLYGONS
    cancel = _placed_or_refused(_alert({"cap_xml": alert.replace("<msgType>Alert", "<msgType>Cancel")}, drawn))
    assert cancel is not None and {e.link_uid for e in cancel} == {e.uid for e in events}


PREDICTION = {"t": 100.0, "track_id": "T1", "launch_t": 0.0, "impact_t": 400.0, "launch_lat_deg": 40.0,
              "launch_lon_deg": 127.0, "launch_sigma_m": 500.0, "impact_lat_deg": 33.0, "impact_lon_deg": 130.0,
              "impact_ellipse_95": {"semi_major_m": 900.0, "semi_minor_m": 400.0, "bearing_deg": 30.0}}
RADAR = {"id": "R1", "lat_deg": 37.0, "lon_deg": 129.0, "alt_m": 10.0}


@pytest.mark.parametrize("bad", HOSTILE_NUMBERS)
@pytest.mark.parametrize("kind, body, path", [
    ("prediction", PREDICTION, ("launch_lat_deg",)), ("prediction", PREDICTION, ("launch_lon_deg",)),
    ("prediction", PREDICTION, ("launch_sigma_m",)), ("prediction", PREDICTION, ("impact_lat_deg",)),
    ("prediction", PREDICTION, ("impact_lon_deg",)), ("prediction", PREDICTION, ("impact_ellipse_95", "semi_major_m")),
    ("prediction", PREDICTION, ("impact_ellipse_95", "semi_minor_m")),
    ("prediction", PREDICTION, ("impact_ellipse_95", "bearing_deg")),
    ("radar", RADAR, ("lat_deg",)), ("radar", RADAR, ("lon_deg",)), ("radar", RADAR, ("alt_m",)),
    ("track", None, ("x",)), ("track", None, ("vx",)), ("track", None, ("cov",))])
def test_a_partners_numbers_off_the_map_give_no_event_accords_parser_would_refuse(kind, body, path, bad):
    """NaN, ±inf, 1e400, a latitude of 91: sent as they were, ``lat="nan"`` or a 309-digit
    longitude went to every TAK client — events Accord's own parser refuses."""
    import copy

    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.tak.picture import item_events

    body = copy.deepcopy(body) if body is not None else _track(38.0, 128.0, 90_000.0, sigma=300.0)
    value: object = float(bad)
    if path == ("cov",):
        value = [value if i == 0 else v for i, v in enumerate(body["cov"])]
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        item = new_item(f"warning.{kind}", body, Marking.parse(MARK), "KOR", NOW)
    except Exception:   # NaN and infinities are not JSON: no such item can be stored or received
        return
    _placed_or_refused(lambda: item_events(item, Stamp(NOW, 10.0)))


def _event(time: str = "2026-12-04T12:00:00Z", lat: str = "1") -> bytes:
    return (f"<event uid='u1' type='a-f-G' time='{time}' start='2026-12-04T12:00:00Z' "
            f"stale='2026-12-04T12:01:00Z'><point lat='{lat}' lon='2'/></event>").encode()


@pytest.mark.parametrize("text", ["2026-12-04T12:00:00.0000000000000000000Zjunk", "2026-W49-5T12:00Z",
                                  "20261204T120000Z", "2026-12-04 12:00:00Z", "2026-12-04T12:00Z",
                                  "2026-12-04T23:59:60Z", "２０２６-12-04T12:00:00Z", "2026-12-04"])
def test_a_time_that_is_not_an_xs_datetime_is_refused_not_cut_or_guessed(text):
    """A time was cut to 40 characters before parsing (junk after them was ignored) and read by
    fromisoformat, which also takes week dates, basic form and a space for the T."""
    with pytest.raises(CotError) as info:
        parse_event(_event(time=text))
    assert info.value.field == "time" and "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["1_0", "\u0665", "5\u2003", "0x10", "1e", "", "+-1", "1,5"])
def test_a_number_that_is_not_an_xs_double_is_refused(text):
    """float() reads '1_0' as 10, digits of other scripts, and ignores any Unicode space."""
    with pytest.raises(CotError, match="not a number") as info:
        parse_event(_event(lat=text))
    assert info.value.field == "point.lat"


def test_xml_white_space_around_a_number_or_a_time_is_collapsed_as_xs_types_do():
    ev = parse_event(_event(time=" 2026-12-04T12:00:00Z\n", lat="\t5 "))
    assert ev.lat == 5.0 and ev.time == datetime(2026, 12, 4, 12, tzinfo=timezone.utc)


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))),
       st.sampled_from(["seconds", "milliseconds", "microseconds"]), st.booleans())
def test_every_xs_datetime_with_an_offset_is_read_as_its_utc_instant(when, spec, zulu):
    text = when.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z") if zulu else \
        when.isoformat(timespec=spec)
    ev = parse_event(_event(time=text).replace(b"start='2026-12-04T12:00:00Z'", f"start='{text}'".encode())
                     .replace(b"stale='2026-12-04T12:01:00Z'", f"stale='{text}'".encode()))
    exact = when.replace(microsecond={"seconds": 0, "milliseconds": when.microsecond // 1000 * 1000,
                                      "microseconds": when.microsecond}[spec])
    assert ev.time == ev.stale == exact.astimezone(timezone.utc)


@settings(max_examples=200, deadline=None)
@given(st.floats(-90, 90))
def test_every_latitude_python_writes_is_read_back_exactly(lat):
    assert parse_event(_event(lat=repr(lat))).lat == lat


@pytest.mark.parametrize("kind", ["warning.track", "warning.prediction"])
def test_a_partners_long_track_id_gives_events_accords_parser_accepts(kind):
    # a track id is a partner's text of any length: it went whole into the callsign and the
    # remarks, so one of 5,000 characters made events whose callsign (≤ 100) and remarks
    # (≤ 4,000) no TAK client of Accord's own would take — and events of any size on every client
    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.tak.cot import MAX_CALLSIGN, MAX_REMARKS
    from accord.tak.picture import item_events

    long_id = "T" * 5000
    body = {**_track(40.0, 131.0, 100_000.0), "track_id": long_id}
    if kind == "warning.prediction":
        body = {"t": 100.0, "track_id": long_id, "launch_lat_deg": 40.0, "launch_lon_deg": 127.0,
                "launch_sigma_m": 500.0, "impact_lat_deg": 38.0, "impact_lon_deg": 135.0, "impact_t": 400.0,
                "impact_ellipse_95": {"semi_major_m": 4100.0, "semi_minor_m": 1300.0, "bearing_deg": 83.0}}
    events = item_events(new_item(kind, body, Marking.parse(MARK), "KOR", NOW), Stamp(NOW, 10.0))
    assert events
    for ev in events:
        back = parse_event(ev.to_xml())
        assert back.callsign.startswith("KOR T") and len(back.callsign) <= MAX_CALLSIGN
        assert back.remarks.startswith(MARK) and len(back.remarks) <= MAX_REMARKS


def test_a_radar_or_alert_named_in_another_script_gives_uids_accords_parser_accepts():
    # a radar id, an incident or an area code is a partner's text: one in Hangul went into the
    # UID as it was (str.isalnum() is true for it) and Accord's own parser refused the event;
    # two radars "R 1" and "R.1" of one party took one UID (one symbol on every client)
    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.tak.picture import item_events

    def radar(sensor: str):
        body = {"id": sensor, "lat_deg": 37.0, "lon_deg": 129.0, "alt_m": 0.0}
        return item_events(new_item("warning.radar", body, Marking.parse(MARK), "KOR", NOW), Stamp(NOW, 10.0))[0]

    back = parse_event(radar("레이더-1").to_xml())
    assert back.uid.startswith("accord.KOR.radar.") and back.callsign == "KOR radar 레이더-1"
    assert radar("R 1").uid != radar("R.1").uid != radar("R_1").uid
    assert radar("JPN-TPY1").uid == "accord.KOR.radar.JPN-TPY1"  # a plain id stays readable
    xml = _cap("2026-12-04T12:00:00-00:00", "2026-12-04T13:00:00-00:00", incidents="사건-7").replace(
        "<area>", "<area><geocode><valueName>x</valueName><value>경북</value></geocode>")
    events = _placed_or_refused(_alert({"cap_xml": xml}))
    assert events and all(e.uid.startswith("accord.KOR.alert.") for e in events)
