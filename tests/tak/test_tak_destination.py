"""TAK destinations: the policy that decides what may go (as for partner P), and their commands."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as event_note
from hypothesis import strategies as st

from accord.core.agreements import Agreement, Rule, sign_agreement
from accord.core.items import new_item
from accord.core.markings import Classification, Marking
from accord.errors import InputError, NotFoundError
from accord.node import Node
from accord.tak.client import TakServer
from accord.tak.destination import Destination, add_destination, decide, destinations, new_items
from accord.tak.follower import coalesce

ACCORD = str(Path(sys.executable).parent / "accord")
SERVER = TakServer.parse("tcp://127.0.0.1:8087")


@pytest.fixture
def jpn(tmp_path):
    jpn, kor = Node.init(tmp_path / "jpn", "JPN"), Node.init(tmp_path / "kor", "KOR")
    jpn.add_partner("KOR", kor.identity.public_b64)
    kor.add_partner("JPN", jpn.identity.public_b64)
    now = jpn.clock.now()
    ag = Agreement("jpn-kor-warning", 1, "JPN–KOR warning", ("JPN", "KOR"),
                   {"JPN": jpn.identity.public_b64, "KOR": kor.identity.public_b64},
                   now - timedelta(days=1), now + timedelta(days=30),
                   (Rule("JPN", "KOR", ("warning.track",), Classification.CONFIDENTIAL),))
    for n in (jpn, kor):
        ag = sign_agreement(ag, n.identity)
    jpn.add_agreement(ag)
    kor.close()
    yield jpn
    jpn.close()


def _item(node: Node, marking: str, kind: str = "warning.track", track: str = "T1", t: float = 1.0):
    return new_item(kind, {"t": t, "track_id": track, "x": 6.5e6, "y": 0.0, "z": 0.0, "vx": 0.0, "vy": 0.0,
                           "vz": 0.0}, Marking.parse(marking), "JPN", node.clock.now())


def test_partner_destination_allows_exactly_what_sharing_with_the_partner_would(jpn):
    kor = Destination("kor", SERVER, "KOR", ("warning.*",))
    for marking, kind in (("CONFIDENTIAL//REL TO JPN, KOR", "warning.track"),
                          ("SECRET//REL TO JPN, KOR", "warning.track"),        # above the agreement's ceiling
                          ("CONFIDENTIAL//REL TO JPN", "warning.track"),       # not released to KOR
                          ("CONFIDENTIAL//REL TO JPN, KOR", "warning.prediction")):  # kind not agreed
        item = _item(jpn, marking, kind)
        assert decide(jpn, item, kor).allowed == jpn.decide(item, "KOR").allowed, (marking, kind)
    assert [decide(jpn, _item(jpn, m), kor).allowed for m in
            ("CONFIDENTIAL//REL TO JPN, KOR", "SECRET//REL TO JPN, KOR", "CONFIDENTIAL//REL TO JPN")] == \
        [True, False, False]


def test_own_party_destination_follows_the_marking_and_the_ceiling(jpn):
    own = Destination("own", SERVER, "JPN", ("warning.track",), max_classification=Classification.CONFIDENTIAL)
    assert decide(jpn, _item(jpn, "CONFIDENTIAL"), own).allowed            # national: JPN's own
    assert decide(jpn, _item(jpn, "CONFIDENTIAL//REL TO JPN, KOR"), own).allowed
    assert not decide(jpn, _item(jpn, "SECRET//REL TO JPN"), own).allowed   # above this server's ceiling
    assert not decide(jpn, _item(jpn, "UNCLASSIFIED//TLP:RED"), own).allowed
    assert not decide(jpn, _item(jpn, "CONFIDENTIAL", kind="warning.alert"), own).allowed  # kind not taken


def test_add_refuses_unknown_parties_bad_rules_and_starts_at_the_ledger_end(jpn):
    with pytest.raises(NotFoundError, match="neither this node's party"):
        add_destination(jpn, Destination("usa", SERVER, "USA", ("warning.*",)))
    with pytest.raises(InputError, match="report-marking"):
        add_destination(jpn, Destination("k", SERVER, "KOR", ("warning.*",), accept=("b-r-f-h-c",)))
    with pytest.raises(InputError, match="CoT type pattern"):
        add_destination(jpn, Destination("k", SERVER, "KOR", ("warning.*",), accept=("no spaces",),
                                         report_marking="UNCLASSIFIED"))
    jpn.put_item(_item(jpn, "CONFIDENTIAL//REL TO JPN, KOR", track="OLD"))
    d = add_destination(jpn, Destination("kor", SERVER, "KOR", ("warning.*",)))
    assert new_items(jpn, d)[0] == []  # items held before the destination was added do not go
    jpn.put_item(_item(jpn, "CONFIDENTIAL//REL TO JPN, KOR", track="NEW"))
    assert [i.body["track_id"] for i in new_items(jpn, d)[0]] == ["NEW"]


def test_only_the_newest_update_of_each_track_is_sent_from_one_read(jpn):
    items = [_item(jpn, "CONFIDENTIAL", track=t, t=s) for t, s in (("T1", 1), ("T2", 1), ("T1", 2), ("T1", 3))]
    kept, dropped = coalesce(items)
    assert [(i.body["track_id"], i.body["t"]) for i in kept] == [("T2", 1), ("T1", 3)] and dropped == 2


def test_node_tak_commands_add_list_remove(jpn, tmp_path):
    d = str(jpn.dir)
    jpn.close()
    run = lambda *a: subprocess.run([ACCORD, "node", "tak", *a], capture_output=True, text=True)  # noqa: E731
    res = run("add", "--dir", d, "--server", "tcp://127.0.0.1:8087", "--party", "KOR", "--kinds", "warning.*",
              "--accept", "b-r-f-h-c", "--report-marking", "UNCLASSIFIED//REL TO JPN")
    assert res.returncode == 0, res.stderr
    assert "TAK destination KOR: tcp://127.0.0.1:8087 as KOR's recipient" in res.stdout
    rows = json.loads(run("list", "--dir", d, "--json").stdout)
    assert [(r["name"], r["party"], r["kinds"], r["accept"]) for r in rows] == [("KOR", "KOR", ["warning.*"],
                                                                                  ["b-r-f-h-c"])]
    res = run("add", "--dir", d, "--server", "tcp://203.0.113.5:8087", "--party", "KOR", "--kinds", "warning.*",
              "--name", "far")
    assert res.returncode == 2 and "not loopback" in res.stderr and "Traceback" not in res.stderr
    assert run("remove", "--dir", d, "--name", "KOR").returncode == 0
    with Node.open(d) as node:
        assert destinations(node) == []


def test_node_tak_add_refuses_pem_files_that_do_not_load(jpn, tmp_path):
    # they were stored, and every connection attempt of `node tak run` then failed with a warning
    d = str(jpn.dir)
    jpn.close()
    junk = tmp_path / "junk.pem"
    junk.write_bytes(bytes(range(256)))
    base = [ACCORD, "node", "tak", "add", "--dir", d, "--server", "tls://tak.example:8089", "--party", "KOR",
            "--kinds", "warning.*"]
    for extra, words in ((["--ca", str(junk)], "cannot load the CA certificates"),
                         (["--cert", str(junk), "--key", str(junk)], "cannot load the client certificate and key")):
        res = subprocess.run(base + extra, capture_output=True, text=True)
        assert res.returncode == 2 and f"error: {junk}: {words}" in res.stderr, res.stderr
        assert res.stderr.strip().count("\n") == 0
    with Node.open(d) as node:
        assert destinations(node) == []


class _Recorder:
    """A connection that keeps what it is sent."""

    def __init__(self) -> None:
        self.events: list = []

    async def send(self, events) -> int:
        self.events += list(events)
        return len(self.events)


@pytest.mark.parametrize("alert", [
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><sent>2026-12-04T12:00:00-00:00</sent><info>'
    '<expires>2026-12-04T13:00:00</expires><area><polygon>40,130 41,130 41,131 40,130</polygon></area></info></alert>',
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><sent>0001-01-01T00:00:00-00:00</sent><info>'
    '<expires>9999-12-31T23:59:59-00:00</expires><area><polygon>40,130 41,130 41,131 40,130</polygon></area>'
    '</info></alert>',
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><incidents> </incidents><info><area>'
    '<polygon>40,130 nan,130 41,131 40,130</polygon></area></info></alert>'])
def test_a_hostile_alert_neither_stops_the_follower_nor_reaches_the_server(jpn, alert):
    """The item after it is sent and the cursor passes both; what is sent, Accord's parser accepts."""
    import asyncio

    from accord.tak.cot import parse_event
    from accord.tak.follower import Follower

    add_destination(jpn, Destination("own", SERVER, "JPN", ("warning.*",)))
    mk = Marking.parse("CONFIDENTIAL")
    jpn.put_item(new_item("warning.alert", {"cap_xml": alert}, mk, "JPN", jpn.clock.now()))
    jpn.put_item(_item(jpn, "CONFIDENTIAL", track="T9"))
    follower, conn = Follower(jpn, "own"), _Recorder()

    async def once() -> None:
        await follower.send_new(conn)  # type: ignore[arg-type]
        assert follower._ledgering is not None
        await follower._ledgering

    asyncio.run(once())
    assert "accord.JPN.T9" in [e.uid for e in conn.events]
    for e in conn.events:
        parse_event(e.to_xml())
    assert follower.dest.cursor == destinations(jpn)[0].cursor > 0


_TIMES = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00-00:00", "1970-01-01T00:00:00Z", "{now}", "{soon}",
          "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999+00:00", "2016-12-31T23:59:60Z"]
_NUMBERS = ["0", "-0", "90", "-90.0", "180", "-180", "1e-320", "nan", "inf", "-inf", "1e400", "9999999.0",
            "1" + "0" * 400, "1e8", "-1e7"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(time=st.just("{now}") | st.sampled_from(_TIMES), stale=st.just("{soon}") | st.sampled_from(_TIMES),
       lat=st.just("35.5") | st.sampled_from(_NUMBERS), lon=st.just("139.5") | st.sampled_from(_NUMBERS),
       hae=st.just("10") | st.sampled_from(_NUMBERS), ce=st.just("5") | st.sampled_from(_NUMBERS),
       callsign=st.sampled_from(["", "A", "x" * 100, "\u202eRLO", "a&amp;b"]),
       remarks=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30))
def test_any_event_the_parser_accepts_is_a_report_or_one_refusal(jpn, time, stale, lat, lon, hae, ce, callsign,
                                                                   remarks):
    """Boundary times (years 1 and 9999, a leap second, -00:00) and numbers (NaN, ±inf, 1e400,
    10⁴⁰⁰, the bounds themselves) through parse_event and take_report: a stored report, an
    ignored event, or a CotError — never another exception."""
    from xml.sax.saxutils import escape, quoteattr

    from accord.tak.cot import CotError, parse_event
    from accord.tak.follower import Follower

    if not any(d.name == "in" for d in destinations(jpn)):
        add_destination(jpn, Destination("in", SERVER, "JPN", ("warning.*",), accept=("b-*",),
                                         report_marking="UNCLASSIFIED//REL TO JPN"))
    wall = datetime(2026, 12, 4, 12, tzinfo=timezone.utc)
    fill = {"now": "2026-12-04T12:00:00Z", "soon": "2026-12-04T12:10:00Z"}
    data = (f"<event version='2.0' uid='r1' type='b-r-f-h-c' how='h-e' time='{time.format(**fill)}' "
            f"start='{time.format(**fill)}' stale='{stale.format(**fill)}'><point lat='{lat}' lon='{lon}' "
            f"hae='{hae}' ce='{ce}' le='{ce}'/><detail><contact callsign={quoteattr(callsign)}/>"
            f"<remarks>{escape(remarks)}</remarks></detail></event>").encode()
    try:
        event = parse_event(data)
    except CotError:
        return
    follower = Follower(jpn, "in", wall=lambda: wall)
    try:
        item = follower.take_report(event)
    except CotError as exc:
        assert "\n" not in str(exc)
        return
    assert item is not None and jpn.get_item(item.id).body["lat_deg"] == event.lat
    event_note("stored")


@pytest.mark.parametrize("source", ["JPN", "J\x01PN", "JPN.radar", ""])
def test_a_partner_s_track_never_takes_the_uid_or_callsign_of_another_party_s(jpn, source):
    """KOR's track item naming another party in its body's ``source`` (JPN's own track id T1):
    it must not be sent as JPN's symbol (UID ``accord.JPN.T1``, callsign ``JPN T1``) — TAK
    replaces an event by its UID, so every client would show KOR's positions as JPN's track —
    nor crowd JPN's own update out as "superseded", and a ``source`` XML cannot carry must not
    stop the follower."""
    import asyncio

    from accord.tak.follower import Follower

    add_destination(jpn, Destination("own", SERVER, "JPN", ("warning.*",)))
    mine = jpn.put_item(_item(jpn, "CONFIDENTIAL", track="T1", t=1.0))
    body = {"t": 2.0, "track_id": "T1", "x": 0.0, "y": 6.5e6, "z": 0.0, "vx": 0.0, "vy": 0.0, "vz": 0.0,
            "source": source}
    theirs = jpn.put_item(new_item("warning.track", body, Marking.parse("CONFIDENTIAL//REL TO JPN, KOR"), "KOR",
                                   jpn.clock.now()))
    follower, conn = Follower(jpn, "own"), _Recorder()

    async def once() -> None:
        await follower.send_new(conn)  # type: ignore[arg-type]
        await follower._ledgering

    asyncio.run(once())
    by_item = {e.accord["item"]: e for e in conn.events}
    assert set(by_item) == {mine.id, theirs.id}  # both sent: KOR's is not JPN's newer update
    assert by_item[mine.id].uid == "accord.JPN.T1"
    assert by_item[theirs.id].uid == "accord.KOR.T1"
    assert by_item[theirs.id].callsign == "KOR T1" and by_item[theirs.id].accord["originator"] == "KOR"
    for e in conn.events:
        e.to_xml()


def test_a_flood_of_reports_from_the_server_stores_a_bounded_number_a_minute(jpn, monkeypatch):
    # a TAK server does not say who sent an event: any client on it sending distinct spot
    # reports as fast as it can made as many items and ledger entries on the node, unbounded
    from accord.tak import follower as fl
    from accord.tak.cot import CotError, parse_event

    add_destination(jpn, Destination("in", SERVER, "JPN", ("warning.*",), accept=("b-*",),
                                     report_marking="UNCLASSIFIED//REL TO JPN"))
    monkeypatch.setattr(fl, "REPORTS_PER_MINUTE", 20, raising=False)
    wall = [datetime(2026, 12, 4, 12, tzinfo=timezone.utc)]
    follower = fl.Follower(jpn, "in", wall=lambda: wall[0])

    def report(n: int):
        return parse_event((f"<event version='2.0' uid='r{n}' type='b-r-f-h-c' how='h-e' "
                            "time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' stale='2026-12-04T13:00:00Z'>"
                            "<point lat='35.5' lon='139.5'/><detail><contact callsign='X'/></detail></event>").encode())

    stored = refused = 0
    for n in range(100):
        try:
            follower.take_report(report(n))
            stored += 1
        except CotError as exc:
            assert "reports in a minute" in str(exc)
            refused += 1
    assert (stored, refused) == (20, 80)
    assert len(jpn.items(kind="warning.report")) == 20
    wall[0] += timedelta(seconds=61)  # a minute on, reports are taken again
    follower.take_report(report(1000))
    assert len(jpn.items(kind="warning.report")) == 21


def _cap_areas(incident: str, msg_type: str, codes: list[str]) -> str:
    areas = "".join(f"<area><areaDesc>{c}</areaDesc><polygon>40,{130 + k} 41,{130 + k} 41,{131 + k} 40,{130 + k}"
                    f"</polygon><geocode><valueName>code</valueName><value>{c}</value></geocode></area>"
                    for k, c in enumerate(codes))
    return ('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><sent>2026-12-04T12:00:00-00:00</sent>'
            f"<msgType>{msg_type}</msgType><incidents>{incident}</incidents><info><language>en-US</language>"
            f"<expires>2026-12-04T13:00:00-00:00</expires><headline>h</headline>{areas}</info></alert>")


def _follow_once(node: Node, items: list) -> list:
    """Store ``items``, start a follower of destination ``own`` (as after a restart), send what is
    new and wait for its record: the events sent."""
    import asyncio

    from accord.tak.follower import Follower

    for item in items:
        node.put_item(item)
    follower, conn = Follower(node, "own"), _Recorder()

    async def once() -> None:
        await follower.send_new(conn)  # type: ignore[arg-type]
        if follower._ledgering is not None:
            await follower._ledgering

    asyncio.run(once())
    return conn.events


def test_an_all_clear_after_a_restart_deletes_every_area_its_incident_drew(jpn):
    """The areas an incident drew are kept with the destination's cursor: a follower started again
    deletes with the Cancel the areas an earlier run drew, also those the Cancel no longer names."""
    add_destination(jpn, Destination("own", SERVER, "JPN", ("warning.alert",)))
    mk, now = Marking.parse("CONFIDENTIAL"), jpn.clock.now()
    drew = _follow_once(jpn, [new_item("warning.alert", {"cap_xml": _cap_areas("INC1", "Alert", ["A1", "A2"])},
                                       mk, "JPN", now)])
    areas = sorted(e.uid for e in drew if e.type == "u-d-f")
    assert len(areas) == 2
    cancel = _follow_once(jpn, [new_item("warning.alert", {"cap_xml": _cap_areas("INC1", "Cancel", ["A1"])},
                                         mk, "JPN", now + timedelta(seconds=1))])
    assert sorted(e.link_uid for e in cancel if e.type == "t-x-d-d") == areas
    # and after the all-clear nothing of INC1 is remembered: a third run deletes nothing more
    again = _follow_once(jpn, [new_item("warning.alert", {"cap_xml": _cap_areas("INC1", "Cancel", [])},
                                        mk, "JPN", now + timedelta(seconds=2))])
    assert [e for e in again if e.type == "t-x-d-d"] == []


def test_the_areas_remembered_are_bounded_and_go_with_the_destination(jpn, monkeypatch, caplog):
    from accord.tak import destination as dst

    monkeypatch.setattr(dst, "MAX_DRAWN_INCIDENTS", 2)
    add_destination(jpn, Destination("own", SERVER, "JPN", ("warning.alert",)))
    mk, now = Marking.parse("CONFIDENTIAL"), jpn.clock.now()
    _follow_once(jpn, [new_item("warning.alert", {"cap_xml": _cap_areas(f"INC{k}", "Alert", ["A"])}, mk, "JPN",
                                now + timedelta(seconds=k)) for k in range(3)])
    assert list(dst.drawn_areas(jpn, "own")) == ["INC1", "INC2"]   # the oldest forgotten
    with jpn.write_lock, jpn.conn:
        jpn.conn.execute("UPDATE tak_drawn SET areas = ? WHERE destination = ?", ('{"INC1": 5}', "own"))
    with caplog.at_level("WARNING", logger="accord.tak"):
        assert dst.drawn_areas(jpn, "own") == {}   # a record that does not read: said, not a crash
    assert "does not read" in caplog.text
    dst.remove_destination(jpn, "own")
    assert jpn.conn.execute("SELECT COUNT(*) FROM tak_drawn").fetchone()[0] == 0


#: a radar's item body: a sensor of the warning-file header (site, noise, coverage)
SENSOR = {"lat_deg": 38.0, "lon_deg": 135.0, "alt_m": 10.0, "sigma_range_m": 20.0, "sigma_az_rad": 0.0008,
          "sigma_el_rad": 0.0008, "min_range_m": 5e4, "max_range_m": 2e6, "min_el_deg": 0.5, "max_el_deg": 85.0,
          "az_center_deg": 270.0, "az_half_width_deg": 90.0}


def _radar(node: Node, radar: str, lat: float, marking: str, seconds: float, **body):
    return new_item("warning.radar", {**SENSOR, "id": radar, "lat_deg": lat, **body},
                    Marking.parse(marking), "JPN", node.clock.now() + timedelta(seconds=seconds))


def test_radar_items_leave_out_what_is_not_a_radar_as_the_console_does(jpn):
    """The radars a destination is sent are the console's (``latest_radars``): the newest item per
    (originator, id) whose body is a header sensor. A later malformed item of a radar (no coverage,
    a coordinate that is not a number) is left out, so it no longer hides that radar's newest
    item that can be drawn; an item without an id is no radar; the order stays oldest first."""
    from accord.console.picture import radars_of
    from accord.tak.destination import radar_items

    items = [_radar(jpn, "R2", 39.0, "CONFIDENTIAL", 0), _radar(jpn, "R1", 38.0, "CONFIDENTIAL", 1),
             _radar(jpn, "R1", 38.5, "CONFIDENTIAL", 2),
             new_item("warning.radar", {"id": "R1", "lat_deg": 38.9, "lon_deg": 135.0}, Marking.parse("CONFIDENTIAL"),
                      "JPN", jpn.clock.now() + timedelta(seconds=3)),    # no noise, no coverage
             _radar(jpn, "R2", 39.5, "CONFIDENTIAL", 4, lat_deg="north"),
             _radar(jpn, "R3", 40.0, "CONFIDENTIAL", 5, id=None)]
    for item in items:
        jpn.put_item(item)
    dest = add_destination(jpn, Destination("own", SERVER, "JPN", ("warning.*",), Classification.CONFIDENTIAL))
    sent = radar_items(jpn, dest)
    assert [(r.body["id"], r.body["lat_deg"]) for r in sent] == [("R2", 39.0), ("R1", 38.5)]
    assert [r.id for r in radars_of(jpn.items("warning.radar"))] == [sent[1].id, sent[0].id]   # (originator, id)


def test_radars_stored_before_a_destination_are_sent_on_connecting_and_before_they_go_stale(jpn, monkeypatch):
    """A radar's item is stored once, its event stale a day later: a destination added after it
    still shows the radar (the newest item of each radar it may have), sent again on each
    connection and every RADAR_REFRESH_S while connected; each send ledgered."""
    import asyncio

    from accord.tak import follower as fol
    from accord.tak.destination import SENT_EVENT

    for item in (_radar(jpn, "R1", 38.0, "CONFIDENTIAL", 0), _radar(jpn, "R1", 38.5, "CONFIDENTIAL", 1),
                 _radar(jpn, "R2", 39.0, "SECRET", 2)):   # R2 above the destination's ceiling
        jpn.put_item(item)
    add_destination(jpn, Destination("own", SERVER, "JPN", ("warning.*",), Classification.CONFIDENTIAL))
    follower = fol.Follower(jpn, "own", poll_s=0.001,
                            clock=iter(k * fol.RADAR_REFRESH_S / 2 for k in range(1000)).__next__)

    class _Conn(_Recorder):
        async def events(self):
            await asyncio.Event().wait()
            yield

        async def close(self) -> None:
            pass

    conn = _Conn()

    async def opened(*args, **kwargs):
        return conn

    monkeypatch.setattr(fol.TakConnection, "open", opened)

    async def run() -> None:
        task = asyncio.create_task(follower.run())
        while len(conn.events) < 2:
            await asyncio.sleep(0.001)
        follower.stop()
        await task

    asyncio.run(run())
    assert [e.uid for e in conn.events] == ["accord.JPN.radar.R1"] * 2   # at connecting, then one refresh
    assert all(e.lat == 38.5 for e in conn.events)                       # its newest item
    sent = [e for e in jpn.ledger.entries(0) if e.type == SENT_EVENT]
    assert [e.data["uids"] for e in sent] == [["accord.JPN.radar.R1"]] * 2


class _Feed:
    """A connection that delivers ``events`` and then stays open; what is sent to it is dropped."""

    def __init__(self, events) -> None:
        self._events = list(events)

    async def send(self, events) -> int:
        return len(events)

    async def events(self):
        import asyncio

        for e in self._events:
            yield e
        await asyncio.Event().wait()

    async def close(self) -> None:
        pass


def test_a_store_write_that_waits_holds_up_neither_reading_nor_the_loop(jpn, monkeypatch):
    """A report's write that waits on the database (here: holding the node's lock until released)
    ran on the follower's event loop: reading the server, the poll and every other coroutine
    stopped behind it. The write waits here until the loop itself, having read on and polled
    meanwhile, releases it; the reports are stored in the order read."""
    import asyncio
    import threading

    from accord.tak import follower as fl
    from accord.tak.cot import parse_event

    add_destination(jpn, Destination("own", SERVER, "JPN", ("warning.*",), accept=("b-r-f-h-c",),
                                     report_marking="UNCLASSIFIED//REL TO JPN"))
    wall = datetime(2026, 12, 4, 12, tzinfo=timezone.utc)

    def cot(uid: str, cot_type: str = "b-r-f-h-c"):
        return parse_event((f"<event version='2.0' uid='{uid}' type='{cot_type}' how='h-e' "
                            "time='2026-12-04T12:00:00Z' start='2026-12-04T12:00:00Z' stale='2026-12-04T13:00:00Z'>"
                            f"<point lat='35.5' lon='139.5'/><detail><contact callsign='{uid}'/></detail></event>"
                            ).encode())

    feed = _Feed([cot("first"), cot("position", "a-f-G"), cot("second")])

    async def open_feed(server):
        return feed

    monkeypatch.setattr(fl.TakConnection, "open", staticmethod(open_feed))
    waiting, release, released_by_loop = threading.Event(), threading.Event(), []
    put_items, writes = jpn.put_items, []

    def slow_put_items(items):
        writes.append(items[0].body["uid"])
        if len(writes) == 1:   # the first report's write waits, holding the lock as a write does
            with jpn.write_lock:
                waiting.set()
                released_by_loop.append(release.wait(timeout=10))
        return put_items(items)

    monkeypatch.setattr(jpn, "put_items", slow_put_items)
    # a poll's reads (new items, the radars) in progress: a poll waiting for the lock the write
    # holds is one, and the loop must go on meanwhile (a poll on the loop would stop it there)
    polling_now: list[int] = []

    def polling(read):
        def wrapped(node, dest, **kw):
            polling_now.append(1)
            try:
                return read(node, dest, **kw)
            finally:
                polling_now.pop()
        return wrapped

    monkeypatch.setattr(fl.dst, "new_items", polling(fl.dst.new_items))
    monkeypatch.setattr(fl.dst, "radar_items", polling(fl.dst.radar_items))
    follower = fl.Follower(jpn, "own", poll_s=0.01, wall=lambda: wall)

    async def scenario() -> None:
        from tak_world import wait_until

        run = asyncio.create_task(follower.run())
        await asyncio.to_thread(waiting.wait, 10)
        # meanwhile the loop reads on (the next two events), and a poll is under way beside it
        await wait_until(lambda: follower.stats.ignored == 1 and bool(polling_now), timeout=20)
        release.set()
        await wait_until(lambda: follower.stats.reports == 2, timeout=20)
        follower.stop()
        await run

    asyncio.run(scenario())
    assert released_by_loop == [True]
    assert writes == ["first", "second"]
    reports = jpn.items(kind="warning.report")
    assert sorted(r.body["uid"] for r in reports) == ["first", "second"]
    ids = {r.body["uid"]: r.id for r in reports}
    created = [e.data["item_id"] for e in jpn.ledger.entries() if e.type == "item.created"]
    assert created.index(ids["first"]) < created.index(ids["second"])


def test_a_report_write_that_fails_is_said_in_one_line_and_the_follower_connects_again(jpn, monkeypatch, caplog):
    """As when the write ran in the reader: the connection ends, one log line says why, and the
    follower connects again with backoff; a later write that works stores the report."""
    import asyncio
    import logging
    import sqlite3

    from accord.tak import follower as fl
    from accord.tak.cot import parse_event

    add_destination(jpn, Destination("own", SERVER, "JPN", ("warning.*",), accept=("b-r-f-h-c",),
                                     report_marking="UNCLASSIFIED//REL TO JPN"))
    report = parse_event(b"<event version='2.0' uid='r1' type='b-r-f-h-c' how='h-e' time='2026-12-04T12:00:00Z' "
                         b"start='2026-12-04T12:00:00Z' stale='2026-12-04T13:00:00Z'><point lat='35.5' lon='139.5'/>"
                         b"<detail><contact callsign='X'/></detail></event>")

    async def open_feed(server):
        return _Feed([report])

    monkeypatch.setattr(fl.TakConnection, "open", staticmethod(open_feed))
    put_items, calls = jpn.put_items, []

    def failing_once(items):
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return put_items(items)

    monkeypatch.setattr(jpn, "put_items", failing_once)
    caplog.set_level(logging.INFO, logger="accord.tak")
    follower = fl.Follower(jpn, "own", poll_s=0.01, wall=lambda: datetime(2026, 12, 4, 12, tzinfo=timezone.utc))

    async def scenario() -> None:
        from tak_world import wait_until

        run = asyncio.create_task(follower.run())
        await wait_until(lambda: follower.stats.reports == 1, timeout=20)
        follower.stop()
        await run

    asyncio.run(scenario())
    failed = [r.getMessage() for r in caplog.records if getattr(r, "event", "") == "tak.store_failed"]
    assert failed == ["TAK own: storing a report failed: OperationalError: database is locked; "
                      "0 accepted report(s) not stored; reconnecting"]
    assert follower.stats.connects == 2 and [r.body["uid"] for r in jpn.items(kind="warning.report")] == ["r1"]
