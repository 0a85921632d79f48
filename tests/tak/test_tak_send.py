"""``accord tak send``: warning-track and alert outputs replayed through a real TAK server as a
timed stream, restamped to now, received by an independent client; TLS with client certificates."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from accord.core.items import new_item
from accord.core.markings import Marking
from accord.node import Node
from accord.tak.client import TakConnection, TakServer
from accord.tak.destination import Destination, add_destination
from accord.tak.follower import Follower
from accord.warning.frames import EARTH_RADIUS_M, ecef_to_lla, great_circle_m, lla_to_ecef
from accord.warning.io import write_predictions, write_tracks
from accord.warning.types import Ellipse95, Prediction, TrackState

from tak_world import Listener, make_pki, start_taky, stop_taky, wait_until

ACCORD = str(Path(sys.executable).parent / "accord")
MARK = "UNCLASSIFIED//REL TO JPN, KOR"


def _line(lat0: float, lon0: float, lat1: float, lon1: float, n: int) -> tuple:
    return tuple((lat0 + (lat1 - lat0) * k / (n - 1), lon0 + (lon1 - lon0) * k / (n - 1)) for k in range(n))


def _tracks(n: int = 20) -> list[TrackState]:
    out = []
    for t in range(n):
        for k, (lat, lon) in enumerate(((39.5, 128.0), (40.0, 129.0))):
            x, y, z = lla_to_ecef(lat + 0.01 * t, lon + 0.05 * t, 50_000.0 + 2_000.0 * t)
            out.append(TrackState(float(t), f"T{k + 1}", float(x), float(y), float(z), 100.0, 200.0, 300.0))
    return out


async def _send_and_listen(listener: Listener, args: list[str]) -> subprocess.CompletedProcess:
    stop = asyncio.Event()
    lt = asyncio.create_task(listener.run(stop))
    await asyncio.sleep(0.3)
    proc = await asyncio.create_subprocess_exec(ACCORD, "tak", "send", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    await asyncio.sleep(0.5)
    stop.set()
    await lt
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


def test_tak_send_replays_tracks_as_a_timed_stream_restamped_to_now(tmp_path, taky):
    d = tmp_path / "out"
    d.mkdir()
    tracks = _tracks()
    write_tracks(d / "tracks.jsonl", tracks)
    write_predictions(d / "predictions.jsonl", [Prediction(
        19.0, "T1", 2.0, 39.2, 127.1, 2000.0, 400.0, 41.46, 138.59, Ellipse95(8000.0, 2000.0, 70.0))])
    listener = Listener(taky.url)
    t0 = dt.datetime.now(dt.timezone.utc)
    res = asyncio.run(_send_and_listen(listener, [str(d), "--server", taky.url, "--party", "JPN",
                                                  "--marking", MARK, "--speed", "20", "--json"]))
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["events"] == 42 and report["frames"] == 20
    assert report["by_type"] == {"a-s-A-W-M-S-S": 40, "a-s-G-E-W-M": 1, "u-d-c-e": 1}
    ev = [e for e in listener.events if e.uid.startswith("accord.JPN.T")]
    assert len(ev) == 42
    for tr in tracks[-2:]:  # the last update of each track arrived where the file put it
        e = listener.latest()[f"accord.JPN.{tr.track_id}"]
        lat, lon, alt = ecef_to_lla([tr.x, tr.y, tr.z])
        assert float(great_circle_m(e.lat, e.lon, float(lat), float(lon))) <= 1.0 and abs(e.hae - alt) <= 1.0
    for e in ev:  # restamped: sent now (the file's times are seconds from a scenario start), stale 10 s on
        assert e.time >= t0 - dt.timedelta(seconds=1) and e.stale - e.time == dt.timedelta(seconds=10)
        assert e.marking == MARK
    # timed: 19 s of picture at 20× is spread over ≥ 0.95 s, in file order
    track_ev = [e for e in ev if e.type == "a-s-A-W-M-S-S"]
    assert track_ev[-1].arrived - track_ev[0].arrived >= 0.9
    assert track_ev[-1].time > track_ev[0].time


def test_tak_send_alerts_draws_the_areas_and_the_all_clear_removes_them(tmp_path, taky):
    # October-2022 style overflight of Aomori, then the missile seen past Japan (Alert, then Cancel)
    oct2022 = _line(40.6, 126.4, 40.9, 141.0, 40) + _line(40.9, 141.0, 40.5, 175.0, 60)[1:]
    preds = [Prediction(150.0, "T1", 10.0, 39.2, 127.1, 2000.0, 1300.0, 40.5, 175.0, Ellipse95(15000.0, 5000.0, 90.0),
                        ground_track=oct2022),
             Prediction(400.0, "T1", 10.0, 39.2, 127.1, 2000.0, 1300.0, 40.5, 175.0, Ellipse95(12000.0, 4000.0, 90.0),
                        ground_track=tuple(p for p in oct2022 if p[1] > 146.0))]
    write_predictions(tmp_path / "oct.jsonl", preds)
    alerts = tmp_path / "alerts"
    subprocess.run([ACCORD, "warning", "alerts", str(tmp_path / "oct.jsonl"), "--party", "JPN", "--out", str(alerts),
                    "--status", "Actual"], check=True, capture_output=True)
    listener = Listener(taky.url)
    res = asyncio.run(_send_and_listen(listener, [str(alerts), "--server", taky.url, "--marking",
                                                  "UNCLASSIFIED//REL TO JPN, KOR, USA", "--speed", "100"]))
    assert res.returncode == 0, res.stderr
    areas = [e for e in listener.events if e.type == "u-d-f"]
    deletes = [e for e in listener.events if e.type == "t-x-d-d"]
    assert areas and all(e.uid.startswith("accord.JPN.alert.") for e in areas)
    # the overflight corridor (CAP area "Predicted overflight: Aomori") as a closed polygon over Aomori
    (corridor,) = [e for e in areas if e.xml.find("detail/contact").get("callsign") == "JPN alert: Predicted overflight: Aomori"]
    ring = [tuple(map(float, link.get("point").split(","))) for link in corridor.xml.findall("detail/link")]
    assert len(ring) >= 4 and ring[0] == ring[-1]
    assert all(40.0 < lat < 42.0 and 139.0 < lon < 142.5 for lat, lon in ring)
    assert "Aomori" in corridor.xml.findtext("detail/remarks")
    # the Cancel deletes exactly the drawn areas
    assert sorted(e.xml.find("detail/link").get("uid") for e in deletes) == sorted(e.uid for e in areas)


def test_tak_send_refuses_plain_tcp_off_loopback_and_a_bad_directory(tmp_path):
    res = subprocess.run([ACCORD, "tak", "send", str(tmp_path), "--server", "tcp://192.0.2.1:8087", "--marking",
                          MARK, "--party", "JPN"], capture_output=True, text=True)
    assert res.returncode == 2 and "plain TCP to 192.0.2.1, not loopback" in res.stderr
    assert "Traceback" not in res.stderr
    res = subprocess.run([ACCORD, "tak", "send", str(tmp_path), "--server", "tcp://127.0.0.1:9", "--marking",
                          MARK, "--party", "JPN"], capture_output=True, text=True)
    assert res.returncode == 2 and "holds none of tracks.jsonl" in res.stderr and len(res.stderr.splitlines()) == 1


def test_node_destination_over_tls_with_client_certificates(tmp_path):
    pki = make_pki(tmp_path / "pki")
    taky = start_taky(tmp_path / "taky", ssl_files={"ca": pki["ca"], **pki["server"]})
    try:
        node = Node.init(tmp_path / "jpn", "JPN")
        add_destination(node, Destination("own", TakServer.parse(taky.url, **pki["client"]), "JPN",
                                          ("warning.track",)))
        x, y, z = lla_to_ecef(38.0, 134.0, 90_000.0)
        item = new_item("warning.track", {"t": 1.0, "track_id": "T5", "x": float(x), "y": float(y), "z": float(z),
                                          "vx": 0.0, "vy": 0.0, "vz": 0.0},
                        Marking.parse("SECRET//REL TO JPN"), "JPN", node.clock.now())
        listener = Listener(taky.url, tls=pki["viewer"])

        async def scenario() -> None:
            stop = asyncio.Event()
            lt = asyncio.create_task(listener.run(stop))
            await asyncio.sleep(0.5)
            f = Follower(node, "own")
            ft = asyncio.create_task(f.run())
            await wait_until(lambda: f.connected.is_set())
            node.put_item(item)
            await wait_until(lambda: len(listener.events) == 1)
            f.stop()
            stop.set()
            await asyncio.gather(ft, lt)

        asyncio.run(scenario())
        (e,) = listener.events
        assert e.uid == "accord.JPN.T5" and e.marking == "SECRET//REL TO JPN"
        assert float(great_circle_m(e.lat, e.lon, 38.0, 134.0)) <= 1.0 and abs(e.hae - 90_000.0) <= 1.0
        # a client without a certificate the server's CA signed is turned away
        from accord.errors import ConfigError
        from accord.tak.client import TakConnection

        async def intruder() -> None:
            conn = await TakConnection.open(TakServer.parse(taky.url, ca=pki["ca"]), timeout=5)
            conn.writer.write(b"<event/>")
            await conn.writer.drain()
            assert await conn.reader.read(100) == b""  # the server closed it
        with pytest.raises((ConfigError, ConnectionError, OSError)):
            asyncio.run(intruder())
        node.close()
    finally:
        stop_taky(taky)
    assert EARTH_RADIUS_M > 0


def test_node_tak_run_sends_the_new_items_and_reports_what_it_did(tmp_path, taky):
    """`accord node tak run` (its own process, as deployed beside `node serve`)."""
    node = Node.init(tmp_path / "jpn", "JPN")
    add_destination(node, Destination("own", TakServer.parse(taky.url), "JPN", ("warning.*",)))
    x, y, z = lla_to_ecef(37.5, 133.0, 120_000.0)
    node.put_item(new_item("warning.track", {"t": 1.0, "track_id": "T7", "x": float(x), "y": float(y),
                                             "z": float(z), "vx": 0.0, "vy": 0.0, "vz": 0.0},
                           Marking.parse("SECRET"), "JPN", node.clock.now()))
    node.put_item(new_item("warning.track", {"t": 1.0, "track_id": "T8", "x": float(x), "y": float(y),
                                             "z": float(z), "vx": 0.0, "vy": 0.0, "vz": 0.0},
                           Marking.parse("SECRET//REL TO KOR"), "JPN", node.clock.now()))  # not for JPN's own
    node.close()
    listener = Listener(taky.url)

    async def scenario() -> subprocess.CompletedProcess:
        stop = asyncio.Event()
        lt = asyncio.create_task(listener.run(stop))
        await asyncio.sleep(0.3)
        proc = await asyncio.create_subprocess_exec(ACCORD, "node", "tak", "run", "--dir", str(tmp_path / "jpn"),
                                                    "--duration", "4", stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        stop.set()
        await lt
        return subprocess.CompletedProcess([], proc.returncode, out.decode(), err.decode())

    res = asyncio.run(scenario())
    assert res.returncode == 0, res.stderr
    assert "own: 1 item sent (1 event), 1 denied by policy" in res.stdout
    assert [e.uid for e in listener.events] == ["accord.JPN.T7"]


@pytest.mark.timeout(120)
@contextlib.asynccontextmanager
async def _to_a_server_that_reads_nothing() -> AsyncIterator[TakConnection]:
    """A connection (send timeout 1 s) to a TAK server that accepts and never reads; aborted
    and the server closed afterwards."""
    async def hold(reader, writer) -> None:   # accept, read nothing
        await asyncio.sleep(3600)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = await TakConnection.open(TakServer.parse(f"tcp://127.0.0.1:{port}"), send_timeout=1.0)
    try:
        yield conn
    finally:
        conn.writer.transport.abort()
        server.close()


def _large_events() -> list:
    """2,000 events of ~3 kB each: 6 MB a send, so a server's buffers fill within a few."""
    from datetime import datetime, timedelta, timezone

    from accord.tak.cot import CotEvent

    now = datetime.now(timezone.utc)
    return [CotEvent(f"u{i}", "a-f-G", "h-e", now, now, now + timedelta(minutes=1), 1.0, 2.0,
                     remarks="x" * 3000) for i in range(2000)]


async def _closed_in_time(conn: TakConnection) -> str:
    try:   # a guard against the hang, not a measure: closing takes no time at all
        await asyncio.wait_for(conn.close(), 30)
    except asyncio.TimeoutError:
        return "close() hung"
    return "closed"


def test_a_server_that_reads_nothing_ends_the_send_with_one_error_not_a_hang():
    """A TAK server that accepts and never reads: the socket's buffers fill and drain() waited
    for ever — the follower neither sent, reconnected, nor stopped when told to."""
    events = _large_events()

    async def go() -> str:
        async with _to_a_server_that_reads_nothing() as conn:
            try:
                for _ in range(200):   # the buffers fill within a few rounds
                    await conn.send(events)
                return "never blocked"
            except ConnectionError as exc:
                return str(exc)

    msg = asyncio.run(go())
    assert "took nothing" in msg and "\n" not in msg


@pytest.mark.timeout(120)
def test_a_connection_a_server_reads_nothing_of_closes_after_the_send_gives_up():
    """The follower and ``tak send`` close the connection after that ConnectionError; close()
    waited for the unsent bytes to drain, which a server that reads nothing never lets happen —
    the hang the send timeout ended came back one step later."""
    events = _large_events()

    async def go() -> str:
        async with _to_a_server_that_reads_nothing() as conn:
            with pytest.raises(ConnectionError):
                for _ in range(200):
                    await conn.send(events)
            return await _closed_in_time(conn)

    assert asyncio.run(go()) == "closed"


@pytest.mark.timeout(120)
def test_a_close_with_bytes_a_server_never_reads_drops_the_connection():
    """Bytes still buffered when a connection is closed (written, the server then stopped
    reading): close() sends them for at most send_timeout, then drops the connection."""
    async def go() -> str:
        async with _to_a_server_that_reads_nothing() as conn:
            conn.writer.write(b"<event/>" * 8_000_000)   # 64 MB: more than any socket buffer holds
            return await _closed_in_time(conn)

    assert asyncio.run(go()) == "closed"


@pytest.mark.parametrize("t, words", [("1" + "0" * 400, "not a finite number"), ("true", "not a finite number"),
                                      ('"10"', "not a finite number"), ("null", "not a finite number")])
def test_an_alerts_index_with_a_time_that_is_not_a_number_is_one_input_error(tmp_path, t, words):
    """``"t": 10**400`` (valid JSON) was an OverflowError traceback from ``accord tak send``."""
    from accord.errors import InputError
    from accord.tak.replay import load_picture

    (tmp_path / "a.xml").write_text("<alert/>")
    (tmp_path / "index.json").write_text(
        '{"format": "accord-alerts/1", "party": "JPN", "messages": [{"file": "a.xml", "t": ' + t + "}]}")
    with pytest.raises(InputError, match=words) as info:
        load_picture(tmp_path)
    assert "message 0" in str(info.value) and "\n" not in str(info.value)
