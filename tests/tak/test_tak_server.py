"""Accord's picture through a real TAK server (taky on loopback) to an independent TAK client.

An exercise runs; its JPN node keeps the TAK server as a standing destination for USA; a pytak
client connected to the same server receives what Accord sends, and the checks compare it with the
node's own track items (position ≤ 1 m, UIDs, stale times), check that nothing above USA's
releasability arrives, and that hostile CoT coming back is refused without harm.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import datetime as dt
from pathlib import Path

import pytest

from accord.core.items import new_item
from accord.core.markings import Classification, Marking
from accord.exercise.runner import run_exercise
from accord.exercise.scenario import load_scenario
from accord.node import Node
from accord.tak.client import TakServer
from accord.tak.destination import SENT_EVENT, Destination, add_destination
from accord.tak.follower import Follower
from accord.warning.frames import EARTH_RADIUS_M, ecef_to_lla, great_circle_m

from tak_world import Listener, wait_until

DRILL = Path(__file__).parents[1] / "exercise" / "data" / "small-drill.yaml"


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    """One run of the small drill (JPN, KOR, USA; one missile): its nodes hold the picture."""
    return run_exercise(load_scenario(DRILL), tmp_path_factory.mktemp("drill"), progress=False)


def _expected_tracks(node: Node, dest: Destination) -> dict[str, tuple[float, float, float]]:
    """uid → (lat, lon, alt) of the newest track item of each track that USA may receive."""
    from accord.tak.destination import decide

    out = {}
    for item in node.items("warning.track"):
        if decide(node, item, dest).allowed:
            b = item.body
            lat, lon, alt = ecef_to_lla([b["x"], b["y"], b["z"]])
            out[f"accord.{b.get('source') or item.originator}.{b['track_id']}"] = (float(lat), float(lon), float(alt))
    return out


def _add_probes(node: Node) -> None:
    """Two JPN tracks USA must never see: one above the JPN–USA ceiling, one not released to USA."""
    now = node.clock.now()
    body = {"t": 1.0, "x": EARTH_RADIUS_M + 1e5, "y": 0.0, "z": 0.0, "vx": 0.0, "vy": 0.0, "vz": 0.0, "source": "JPN"}
    node.put_items([
        new_item("warning.track", dict(body, track_id="PROBE-SECRET"), Marking.parse("SECRET//REL TO JPN, KOR, USA"),
                 "JPN", now),
        new_item("warning.track", dict(body, track_id="PROBE-NOREL"), Marking.parse("CONFIDENTIAL//REL TO JPN, KOR"),
                 "JPN", now)])


def _cot(uid: str, cot_type: str, *, lat: str = "35.68", callsign: str | None = "ALPHA-1",
         remarks: str = "smoke seen", stale_s: float = 300.0, time_shift_s: float = 0.0) -> bytes:
    now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=time_shift_s)
    t = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    stale = (now + dt.timedelta(seconds=stale_s)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    contact = f'<contact callsign="{callsign}"/>' if callsign else ""
    return (f'<event version="2.0" uid="{uid}" type="{cot_type}" how="h-e" time="{t}" start="{t}" stale="{stale}">'
            f'<point lat="{lat}" lon="139.77" hae="40.0" ce="10.0" le="10.0"/>'
            f'<detail>{contact}<remarks>{remarks}</remarks></detail></event>').encode()


def test_exercise_picture_reaches_an_independent_tak_client_under_policy(drill, taky):
    node = Node.open(drill.out_dir / "nodes" / "jpn")
    _add_probes(node)
    dest = add_destination(node, Destination(
        "usa-tak", TakServer.parse(taky.url), "USA", ("warning.*",), accept=("b-r-f-h-c",),
        report_marking="UNCLASSIFIED//REL TO JPN"), from_start=True)
    expected = _expected_tracks(node, dest)
    assert {u.split(".")[1] for u in expected} == {"JPN", "KOR"}  # own and partner tracks
    follower = Follower(node, "usa-tak")
    listener = Listener(taky.url)

    async def scenario() -> None:
        stop = asyncio.Event()
        lt = asyncio.create_task(listener.run(stop))
        await asyncio.sleep(0.3)  # the listener is connected before anything is sent
        ft = asyncio.create_task(follower.run())
        await wait_until(lambda: set(expected) <= set(listener.latest()))
        # an ATAK user on the same server: a spot report, then hostile or invalid CoT, then another report
        _, w = await asyncio.open_connection("127.0.0.1", taky.port)
        for data in (_cot("atak-1.report", "b-r-f-h-c"),
                     _cot("atak-1.bad-lat", "b-r-f-h-c", lat="999"),
                     _cot("atak-1.huge", "b-r-f-h-c", remarks="x" * 100_000),
                     _cot("atak-1.anon", "b-r-f-h-c", callsign=None),
                     _cot("atak-1.future", "b-r-f-h-c", time_shift_s=3600),
                     _cot("atak-1.sa", "a-f-G-U-C"),  # a position report: no rule takes it
                     _cot("accord.JPN.echo", "b-r-f-h-c"),  # Accord's own UID space: never taken back
                     _cot("atak-1.report2", "b-r-f-h-c", callsign="BRAVO-2", remarks="second sighting")):
            w.write(data)
            await w.drain()
        await wait_until(lambda: follower.stats.reports == 2 and follower.stats.refused >= 4)
        await asyncio.sleep(0.5)
        follower.stop()
        stop.set()
        w.close()
        await asyncio.gather(ft, lt)

    t0 = dt.datetime.now(dt.timezone.utc)
    asyncio.run(scenario())
    got = listener.latest()

    # positions: each track's newest item, within 1 m (horizontal and vertical)
    for uid, (lat, lon, alt) in expected.items():
        e = got[uid]
        assert float(great_circle_m(e.lat, e.lon, lat, lon)) <= 1.0, uid
        assert abs(e.hae - alt) <= 1.0, uid
        assert e.type == "a-s-A-W-M-S-S"
        # stamped now, stale after the destination's 10 s
        assert t0 - dt.timedelta(seconds=5) <= e.time <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
        assert e.stale - e.time == dt.timedelta(seconds=10)
    # predictions came too (launch points and impact ellipses of the same tracks)
    assert any(u.endswith(".impact") and got[u].type == "u-d-c-e" for u in got)
    assert any(u.endswith(".launch") for u in got)
    # nothing above USA's releasability: no probe, every marking releases to USA at or under CONFIDENTIAL
    assert not any("PROBE" in u for u in got)
    from_accord = [e for e in listener.events if not e.uid.startswith("atak-1.") and e.uid != "accord.JPN.echo"]
    for e in from_accord:
        m = Marking.parse(e.marking)
        assert "USA" in m.rel_to and m.classification <= Classification.CONFIDENTIAL, e.uid
    assert follower.stats.denied >= 2
    # every item sent is ledgered, as sent to USA's TAK destination
    sent = [ent for ent in node.ledger.entries(0) if ent.type == SENT_EVENT]
    assert len(sent) == follower.stats.items_sent > 0
    assert all(ent.data["party"] == "USA" and ent.data["destination"] == "usa-tak" for ent in sent)
    # CoT in: exactly the two good reports were stored, as warning.report items, marked by the rule
    reports = node.items("warning.report")
    assert sorted(r.body["callsign"] for r in reports) == ["ALPHA-1", "BRAVO-2"]
    assert all(str(r.marking) == "UNCLASSIFIED//REL TO JPN" and r.originator == "JPN" for r in reports)
    assert reports[0].body["lat_deg"] == pytest.approx(35.68) and reports[0].body["cot_type"] == "b-r-f-h-c"
    node.close()


def test_a_track_that_stops_updating_goes_stale(tmp_path, taky):
    """A track's stale time is its last update plus the destination's stale seconds."""
    node = Node.init(tmp_path / "jpn", "JPN")
    add_destination(node, Destination("own", TakServer.parse(taky.url), "JPN", ("warning.track",), stale_s=3.0))
    listener = Listener(taky.url)
    mk = Marking.parse("SECRET")  # national: may go to the node's own TAK server, no partner's

    def track(t: float) -> None:
        body = {"t": t, "track_id": "T9", "x": EARTH_RADIUS_M + 2e5, "y": 1000.0 * t, "z": 0.0,
                "vx": 0.0, "vy": 1000.0, "vz": 0.0}
        node.put_item(new_item("warning.track", body, mk, "JPN", node.clock.now() + dt.timedelta(seconds=t)))

    async def scenario() -> None:
        stop = asyncio.Event()
        lt = asyncio.create_task(listener.run(stop))
        await asyncio.sleep(0.3)
        f = Follower(node, "own")
        ft = asyncio.create_task(f.run())
        for t in range(3):
            track(float(t))
            await wait_until(lambda: len(listener.events) == t + 1)
        f.stop()
        stop.set()
        await asyncio.gather(ft, lt)

    asyncio.run(scenario())
    ev = listener.events
    assert [e.uid for e in ev] == ["accord.JPN.T9"] * 3
    for t, e in enumerate(ev):  # each update moved it, and each arrives where its item put it
        lat, lon, alt = ecef_to_lla([EARTH_RADIUS_M + 2e5, 1000.0 * t, 0.0])
        assert float(great_circle_m(e.lat, e.lon, float(lat), float(lon))) <= 1.0 and abs(e.hae - alt) <= 1.0
    assert all(e.stale - e.time == dt.timedelta(seconds=3) for e in ev)
    # once the updates stop, the last event's stale passes: a TAK client drops the track
    assert ev[-1].stale < dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    node.close()



@contextlib.asynccontextmanager
async def _following_bare_server(node, payload: bytes):
    """A follower of ``node``'s destination "own": a bare server on loopback (it relays the XML as
    sent, which taky does not) that sends ``payload`` on each connection; stopped on exit."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        await reader.read()   # until the follower goes

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    add_destination(node, Destination("own", TakServer.parse(f"tcp://127.0.0.1:{port}"), "JPN",
                                      ("warning.track",), accept=("b-r-f-h-c",),
                                      report_marking="UNCLASSIFIED//REL TO JPN"))
    follower = Follower(node, "own")
    ft = asyncio.create_task(follower.run())
    try:
        yield follower
    finally:
        follower.stop()
        await ft
        server.close()


def test_a_report_dated_with_no_utc_form_is_refused_and_the_connection_reads_on(tmp_path):
    """``0001-01-01T00:00:00+14:00`` is valid ISO 8601 with no UTC time: its OverflowError ended
    the follower's reader, silently, and the reports after it on that connection were lost; each
    reconnection met the same event again (the server sends it on every connection). (taky
    rewrites the times it relays; a server that relays the XML as sent, here a bare one on
    loopback, passes it on.)"""
    node = Node.init(tmp_path / "jpn", "JPN")
    bad = _cot("atak-1.early", "b-r-f-h-c").replace(b'time="', b'time="0001-01-01T00:00:00+14:00" x="', 1)
    good = _cot("atak-1.report", "b-r-f-h-c", callsign="BRAVO-2")

    async def scenario() -> Follower:
        async with _following_bare_server(node, bad + good) as follower:
            try:
                await wait_until(lambda: follower.stats.reports + follower.stats.refused >= 2, timeout=15)
                await asyncio.sleep(0.3)
            except AssertionError:
                pass   # the check below says what arrived
        return follower

    follower = asyncio.run(scenario())
    assert (follower.stats.refused, follower.stats.reports, follower.stats.connects) == (1, 1, 1)
    assert [r.body["callsign"] for r in node.items("warning.report")] == ["BRAVO-2"]
    node.close()


def test_a_reader_that_fails_is_logged_and_the_follower_backs_off(tmp_path, monkeypatch, caplog):
    """Whatever ends the reading of a connection is said in one line (it used to vanish with the
    reader task) and the follower waits, longer each time, before it connects again."""
    import logging

    import accord.tak.client as client

    def broken(data, **kw):
        raise RuntimeError("a bug in reading")

    monkeypatch.setattr(client, "parse_event", broken)
    node = Node.init(tmp_path / "jpn", "JPN")
    caplog.set_level(logging.INFO, logger="accord.tak")

    async def scenario() -> Follower:
        async with _following_bare_server(node, _cot("atak-1.report", "b-r-f-h-c")) as follower:
            await wait_until(lambda: sum(getattr(r, "event", "") == "tak.read_failed" for r in caplog.records) >= 3,
                             timeout=15)
        return follower

    follower = asyncio.run(scenario())
    failed = [r for r in caplog.records if getattr(r, "event", "") == "tak.read_failed"]
    assert "RuntimeError: a bug in reading; reconnecting" in failed[0].getMessage()
    assert follower.stats.connects == len(failed) or follower.stats.connects == len(failed) + 1
    node.close()


def test_a_server_that_closes_each_connection_at_once_gets_reconnections_with_backoff(tmp_path, caplog):
    """A TAK server (hostile, or a proxy in front of one that is down) that accepts each
    connection and closes it at once: the follower connected again at once, some 40 times a
    second, and ledgered its radars' send (``item.sent_tak``) on each connection — the node's
    ledger grew by millions of entries a day, and no line said why. A connection the server ends
    before it lasted :data:`~accord.tak.follower.STEADY_S` now counts as a failure: one line
    (event ``tak.closed``) and the follower's backoff before the next."""
    import logging

    from accord.tak import follower as fl

    node = Node.init(tmp_path / "jpn", "JPN")
    # a radar the follower sends: a sensor of the warning-file header (accord.warning.tracking.sensors.latest_radars)
    radar = {"id": "JPN-TPY1", "lat_deg": 40.9, "lon_deg": 140.3, "alt_m": 50.0, "sigma_range_m": 20.0,
             "sigma_az_rad": 0.0008, "sigma_el_rad": 0.0008, "min_range_m": 5e4, "max_range_m": 2e6,
             "min_el_deg": 0.5, "max_el_deg": 85.0, "az_center_deg": 270.0, "az_half_width_deg": 90.0}
    node.put_item(new_item("warning.radar", radar, Marking.parse("UNCLASSIFIED//REL TO JPN"), "JPN", node.clock.now()))
    caplog.set_level(logging.INFO, logger="accord.tak")

    async def scenario() -> Follower:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        add_destination(node, Destination("own", TakServer.parse(f"tcp://127.0.0.1:{port}"), "JPN", ("warning.*",)))
        follower = Follower(node, "own")
        task = asyncio.create_task(follower.run())
        await asyncio.sleep(3.0)
        follower.stop()
        await task
        server.close()
        return follower

    follower = asyncio.run(scenario())
    # backoff from 0.1 s doubling (each wait at least a tenth of its ceiling): ≤ 10 in 3 s, not ~130
    assert 2 <= follower.stats.connects <= 10, follower.stats.connects
    sent = [e for e in node.ledger.entries(0) if e.type == SENT_EVENT]
    assert 1 <= len(sent) <= follower.stats.connects, (len(sent), follower.stats.connects)  # radars sent, not each 40 times a second
    closed = [r.getMessage() for r in caplog.records if getattr(r, "event", "") == "tak.closed"]
    assert len(closed) in (follower.stats.connects - 1, follower.stats.connects), closed
    assert re.fullmatch(r"TAK own: the server closed the connection after \d+\.\d s; connecting again in \d+\.\d s",
                        closed[0]), closed[0]
    assert fl.STEADY_S >= 30
    node.close()


def test_a_flood_of_bad_events_is_counted_not_a_flood_of_log_lines(tmp_path, caplog):
    """Each refused event was a warning line of its own: a server sending ``<x></event>`` back to
    back (11 bytes an event) wrote thousands of lines a second to the node's log. At most 30
    refusals a minute get a line (``tak.refused``), the next one carrying the count passed over;
    every refusal is still counted, and a good report after the flood is still taken."""
    import logging

    node = Node.init(tmp_path / "jpn", "JPN")
    flood = b"<x></event>" * 5000
    good = _cot("atak-1.report", "b-r-f-h-c", callsign="BRAVO-2")
    caplog.set_level(logging.INFO, logger="accord.tak")

    async def scenario() -> Follower:
        async with _following_bare_server(node, flood + good) as follower:
            await wait_until(lambda: follower.stats.reports == 1, timeout=30)
        return follower

    follower = asyncio.run(scenario())
    assert (follower.stats.refused, follower.stats.reports) == (5000, 1)
    lines = [r.getMessage() for r in caplog.records if getattr(r, "event", "") == "tak.refused"]
    assert 1 <= len(lines) <= 30, len(lines)
    assert "malformed XML: mismatched tag" in lines[0]
    node.close()
