"""What one message may cost the ingest: the bytes a batch holds, and a scan's time against the
node's clock (a real NATS server with JetStream and a real ingest)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from feeds_helpers import MARKING, ingest_cmd, publish, run, uninterrupted

from accord.errors import InputError
from accord.feeds.ingest import Ingest, IngestOptions
from accord.feeds.jetstream import STREAM_MAX_BYTES, STREAM_MAX_MSG_BYTES, ensure_stream
from accord.feeds.scans import CLOCK_AHEAD_S, MAX_SCAN_BYTES, Scan, check_not_ahead, scans_of
from accord.node import Node
from accord.warning.io import read_detections

MiB = 1024 * 1024


def consumer_info(nats_url, names):
    import nats

    async def go():
        nc = await nats.connect(nats_url)
        info = await nc.jetstream().consumer_info(names.stream, names.consumer)
        await nc.close()
        return info

    return asyncio.run(go())


def stream_config(nats_url, names):
    import nats

    async def go():
        nc = await nats.connect(nats_url)
        info = await nc.jetstream().stream_info(names.stream)
        await nc.close()
        return info.config

    return asyncio.run(go())


def test_the_radar_stream_refuses_a_message_over_the_scan_bound_and_takes_every_scan_the_ingest_takes(
        names, nats_url, caplog):
    # the stream took any message up to the server's payload limit (1 MB by default): junk the
    # ingest then fetched and refused unread. The server now refuses it at the publish
    import nats
    import numpy as np
    from nats.js.errors import BadRequestError

    from accord.feeds.scans import MAX_SCAN_PLOTS, msg_id, radar_subject

    subject = radar_subject(names.prefix, "JPN", "JPN-TPY1")
    widest = Scan(1.2345678901234567e300, "JPN-TPY1", np.full((MAX_SCAN_PLOTS, 3), -2.2250738585072014e-308))
    # a body of exactly the ingest's bound, with a message id as long as the feed's
    at_bound = b" " * (MAX_SCAN_BYTES - len(widest.payload())) + widest.payload()

    async def go():
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        with caplog.at_level(logging.WARNING, logger="accord.feeds"):
            await ensure_stream(js, names.stream, names.prefix, "JPN")   # made with the limit
            await ensure_stream(js, names.stream, names.prefix, "JPN")   # already right: left alone
        acks = [await js.publish(subject, d, headers={"Nats-Msg-Id": msg_id(d)}) for d in (widest.payload(), at_bound)]
        refused = []
        for size in (STREAM_MAX_MSG_BYTES + 1, 1_000_000):
            with pytest.raises(BadRequestError, match="maximum") as exc:
                await js.publish(subject, b"x" * size)
            refused.append(exc.value)
        info = await js.stream_info(names.stream)
        await nc.close()
        return acks, refused, info

    acks, refused, info = asyncio.run(go())
    assert [a.seq for a in acks] == [1, 2] and len(refused) == 2
    assert (info.config.max_msg_size, info.state.messages) == (STREAM_MAX_MSG_BYTES, 2)
    assert MAX_SCAN_BYTES < STREAM_MAX_MSG_BYTES < 1_000_000
    assert not [r for r in caplog.records if getattr(r, "event", None) == "feed.stream_updated"]


def test_a_stream_whose_limit_cannot_be_set_stops_the_command_with_one_line():
    # an account that may not update streams: the limit cannot be set, and the command says so
    # rather than running on a stream other than it says (a fake JetStream context: the server
    # of the tests lets every client update every stream)
    from types import SimpleNamespace

    from nats.js.api import StreamConfig
    from nats.js.errors import APIError

    from accord.errors import ConfigError

    class Refusing:
        async def stream_info(self, name):
            return SimpleNamespace(config=StreamConfig(name=name, subjects=["accord.JPN.radar.>"], max_msg_size=-1))

        async def update_stream(self, config):
            raise APIError(code=403, description="insufficient permissions")

    with pytest.raises(ConfigError, match=r"stream S takes messages of any size; setting its max_msg_size to "
                                          rf"{STREAM_MAX_MSG_BYTES} failed: .*insufficient permissions"):
        asyncio.run(ensure_stream(Refusing(), "S", "accord", "JPN"))


def test_a_batch_of_junk_near_the_payload_limit_holds_at_most_batch_bytes(tmp_path, names, nats_url, japan_scenario,
                                                                       caplog, monkeypatch):
    # a fetch asked for 512 messages whatever their size: 512 messages of ~1 MB junk were
    # 512 MB in memory at once. Here 24 of them between good scans: every batch holds at most
    # batch_bytes (8 MiB), each junk message is refused in one line, every good scan is tracked.
    # The stream is one made without a message size limit (as they were before the ingest set
    # one): the ingest sets the limit at its start, and the junk stored before stays in the stream
    header, det = read_detections(japan_scenario)
    scans = list(scans_of(det))
    a, b = len(scans) // 3, 2 * len(scans) // 3
    junk = (scans[0].sensor, b"x" * 1_000_000)
    publish(nats_url, names, scans[:a] + [junk] * 12 + scans[a:b] + [junk] * 12 + scans[b:], size_limit=False)

    held: list[int] = []
    batch = Ingest._batch

    async def spy(self, nc, msgs):
        held.append(sum(len(m.data) for m in msgs))
        await batch(self, nc, msgs)

    monkeypatch.setattr(Ingest, "_batch", spy)
    node = Node.init(tmp_path / "jpn", "JPN")
    try:
        ing = Ingest(node, header, IngestOptions(url=nats_url, stream=names.stream, durable=names.consumer,
                                                 prefix=names.prefix, marking=MARKING, alerts=False,
                                                 idle_exit_s=1.5))
        with caplog.at_level(logging.WARNING, logger="accord.feeds"):
            summary = asyncio.run(ing.run())
        got = {k: sorted(i.id for i in node.items(kind=k)) for k in ("warning.track", "warning.prediction")}
    finally:
        node.close()
    assert sum(held) == 24 * 1_000_000 + sum(len(s.payload()) for s in scans)   # every message seen once
    assert max(held) <= 8 * MiB and summary.batch_bytes_max == max(held)
    assert (summary.scans, summary.refused) == (len(scans), 24)
    lines = [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "feed.scan_refused"]
    assert len(lines) == 24 and all("\n" not in ln for ln in lines)
    assert all(f"scan message of 1000000 bytes exceeds {MAX_SCAN_BYTES}" in ln for ln in lines), lines[:2]
    want = uninterrupted(tmp_path, japan_scenario)
    assert got == {k: sorted(i.id for i in want[k]) for k in got} and got["warning.track"]   # none lost
    info = consumer_info(nats_url, names)
    assert (info.num_pending, info.num_ack_pending, info.num_redelivered) == (0, 0, 0)
    updated = [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "feed.stream_updated"]
    assert updated == [f"stream {names.stream} took messages of any size; its max_msg_size is now "
                       f"{STREAM_MAX_MSG_BYTES} (larger scans are refused)",
                       f"stream {names.stream} kept its messages without bound; it now keeps at most "
                       f"{STREAM_MAX_BYTES} bytes and 86400 s of them (the oldest are dropped)"]
    assert stream_config(nats_url, names).max_msg_size == STREAM_MAX_MSG_BYTES


def test_max_scan_bytes_holds_the_largest_scan_the_feed_writes():
    import numpy as np

    from accord.feeds.scans import MAX_SCAN_PLOTS, parse_scan

    widest = Scan(1.2345678901234567e300, "A" * 64, np.full((MAX_SCAN_PLOTS, 3), -2.2250738585072014e-308))
    assert len(widest.payload()) < MAX_SCAN_BYTES < 1_000_000
    with pytest.raises(InputError, match="exceeds"):
        parse_scan(b" " * (MAX_SCAN_BYTES + 1), "accord.JPN.radar.A")


def test_a_scan_dated_hours_ahead_of_the_node_clock_is_refused_and_the_feed_goes_on(tmp_path, names, nats_url,
                                                                                  japan_scenario):
    # a scan three hours ahead, within a day of the last one, was taken: the tracker's clock moved
    # three hours on and every true scan after it was refused as "earlier than the last scan"
    header, det = read_detections(japan_scenario)
    scans = list(scans_of(det))
    k = len(scans) // 2
    ahead = Scan(scans[k - 1].t + 3 * 3600.0, scans[k - 1].sensor, scans[k - 1].plots)
    publish(nats_url, names, scans[:k] + [ahead] + scans[k:])
    # the scenario's times a wall-clock epoch puts ten minutes in the past: a live feed's
    epoch = datetime.now(timezone.utc) - timedelta(seconds=scans[-1].t + 600)
    Node.init(tmp_path / "jpn", "JPN").close()
    r = run(ingest_cmd(tmp_path / "jpn", nats_url, names, japan_scenario, "--epoch",
                       epoch.isoformat().replace("+00:00", "Z"), "--no-alerts", "--idle-exit", "2", "--json"))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert (out["scans"], out["refused"]) == (len(scans), 1), r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if "refused" in ln]
    assert len(lines) == 1 and "s ahead of the node's clock" in lines[0], lines


def test_the_clock_rule_leaves_replays_and_simulations_dated_in_the_past_alone(tmp_path, japan_scenario):
    from accord.clock import ManualClock
    from accord.warning.alerts.engine import DEFAULT_EPOCH

    now = datetime(2026, 12, 6, 7, 0, tzinfo=timezone.utc)
    check_not_ahead(DEFAULT_EPOCH, now, 5e6)                  # no --epoch: the scenario's seconds of 2026-01-01
    check_not_ahead(now - timedelta(days=30), now, 86_000.0)  # a replay of a month ago
    check_not_ahead(now, now, CLOCK_AHEAD_S)                  # clock skew: the bound passes
    for t in (CLOCK_AHEAD_S + 1, 3 * 3600.0, 1e12):
        with pytest.raises(InputError, match="ahead of the node's clock"):
            check_not_ahead(now, now, t)
    check_not_ahead(now, now, 3 * 3600.0, ahead_s=4 * 3600.0)   # --clock-ahead: a feed dated ahead on purpose

    # the ingest checks it with the node's clock, after the tracker's own checks
    header, det = read_detections(japan_scenario)
    scans = list(scans_of(det))
    Node.init(tmp_path / "jpn", "JPN").close()
    node = Node.open(tmp_path / "jpn", clock=ManualClock(now))
    try:
        ing = Ingest(node, header, IngestOptions(url="-", stream="S", durable="d", epoch=now, alerts=False))
        for s in scans[:20]:
            ing.check(s.t, s.sensor)
            ing.track(s.t, s.sensor, s.plots)
        last = scans[19]
        with pytest.raises(InputError, match="ahead of the node's clock"):
            ing.check(last.t + 3600.0, last.sensor)
        with pytest.raises(InputError, match="earlier than the last scan"):
            ing.check(last.t - 1.0, last.sensor)
        ing.check(scans[20].t, scans[20].sensor)              # the next true scan is still taken
    finally:
        node.close()


def test_a_user_denied_stream_updates_stops_the_command_with_one_line(tmp_path):
    # a real server's permissions: a user denied $JS.API.STREAM.UPDATE gets no answer at all
    # (nats-py's TimeoutError, which went through as it was), not the APIError the fake above
    # raises. A server of the test's own (the shared one has no users)
    import socket
    import subprocess
    import time

    import nats
    from nats.js.api import StorageType, StreamConfig

    from accord.errors import ConfigError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "nats.conf"
    conf.write_text(f"listen: 127.0.0.1:{port}\njetstream {{ store_dir: {tmp_path / 'js'} }}\n"
                    "accounts { A { jetstream: enabled, users: [ {user: adm, password: a},\n"
                    '  {user: ing, password: b, permissions: { publish: { deny: ["$JS.API.STREAM.UPDATE.>"] } } } ] } }\n')
    server = subprocess.Popen(["nats-server", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def go():
        for _ in range(50):
            try:
                admin = await nats.connect(f"nats://adm:a@127.0.0.1:{port}")
                break
            except Exception:  # noqa: BLE001 - the server still starting
                await asyncio.sleep(0.1)
        user = await nats.connect(f"nats://ing:b@127.0.0.1:{port}")
        try:
            await admin.jetstream().add_stream(StreamConfig(name="S", subjects=["accord.JPN.radar.>"],
                                                            storage=StorageType.FILE))
            with pytest.raises(ConfigError, match=r"stream S takes messages of any size; setting its max_msg_size "
                                                  r"to \d+ failed: no answer from JetStream"):
                await ensure_stream(user.jetstream(timeout=1.0), "S", "accord", "JPN")
        finally:
            await user.close()
            await admin.close()

    try:
        t0 = time.monotonic()
        asyncio.run(go())
        assert time.monotonic() - t0 < 30
    finally:
        server.terminate()
        server.wait(10)


def test_a_stream_taking_other_subjects_too_keeps_its_own_limit(names, nats_url, caplog):
    # the radar subject in a stream of the operator's that holds other messages as well: its
    # max_msg_size serves those too, and was set to the scan bound all the same (a publisher of
    # larger messages to the other subjects then refused)
    import nats
    from nats.js.api import StorageType, StreamConfig

    from accord.feeds.scans import radar_filter

    other = f"{names.prefix}.documents.>"

    async def go():
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name=names.stream, subjects=[radar_filter(names.prefix, "JPN"), other],
                                             storage=StorageType.FILE, max_msg_size=800_000))
            await ensure_stream(js, names.stream, names.prefix, "JPN")
            await js.publish(f"{names.prefix}.documents.a", b"x" * 500_000)   # the stream's own use goes on
            return (await js.stream_info(names.stream)).config.max_msg_size
        finally:
            await nc.close()

    with caplog.at_level(logging.WARNING, logger="accord.feeds"):
        assert asyncio.run(go()) == 800_000
    assert [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "feed.stream_not_updated"] == [
        f"stream {names.stream} takes other subjects too ({other}): its max_msg_size (at most 800000 bytes) is left "
        "as it is"]


def test_the_radar_stream_is_bounded_in_bytes_and_age_so_a_flood_cannot_fill_the_server(names, nats_url,
                                                                                      monkeypatch, caplog):
    # the radar stream kept every message for ever (limits retention, no limit): acknowledged
    # and terminated scans stayed, so a publisher on the radar subjects — or a radar feed over
    # days — filled JetStream's store, and then every publish failed: the feed stopped taking
    # scans. The stream now keeps at most STREAM_MAX_BYTES and STREAM_MAX_AGE_S, dropping the
    # oldest messages: a flood costs the server that much, and the newest scan still goes in
    import nats
    from nats.js.api import StorageType, StreamConfig

    from accord.feeds import jetstream
    from accord.feeds.scans import radar_filter, radar_subject

    monkeypatch.setattr(jetstream, "STREAM_MAX_BYTES", 2 * MiB, raising=False)   # the flood's size below
    subject = radar_subject(names.prefix, "JPN", "JPN-TPY1")
    scan = Scan(1.0, "JPN-TPY1", __import__("numpy").array([[900000.0, 4.0, 0.5]])).payload()

    async def go():
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await ensure_stream(js, names.stream, names.prefix, "JPN")
            for _ in range(48):   # 6 MiB of junk, three times the bound
                await js.publish(subject, b"x" * 128 * 1024)
            await js.publish(subject, scan)
            made = await js.stream_info(names.stream)
            last = await js.get_last_msg(names.stream, subject)
            # a stream made without bounds (by an older Accord, by hand) is given them, in one line
            other = names.stream + "_OLD"
            await js.add_stream(StreamConfig(name=other, subjects=[radar_filter(names.prefix + "old", "JPN")],
                                             storage=StorageType.FILE, max_msg_size=jetstream.STREAM_MAX_MSG_BYTES))
            try:
                with caplog.at_level(logging.WARNING, logger="accord.feeds"):
                    await ensure_stream(js, other, names.prefix + "old", "JPN")
                old = (await js.stream_info(other)).config
            finally:
                await js.delete_stream(other)
            return made, last, old
        finally:
            await nc.close()

    made, last, old = asyncio.run(go())
    assert made.state.bytes <= 2 * MiB and made.state.messages < 49, made.state
    assert last.data == scan   # the newest went in, the oldest were dropped
    assert made.config.max_age and 3600 <= made.config.max_age <= 7 * 86400, made.config.max_age
    assert (old.max_bytes, old.max_age) == (made.config.max_bytes, made.config.max_age)
    lines = [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "feed.stream_updated"]
    assert len(lines) == 1 and "kept its messages without bound" in lines[0], lines


def test_a_server_without_room_for_the_radar_stream_is_one_line(names, nats_url, monkeypatch):
    # JetStream reserves a stream's max_bytes in its store: a server with less room refuses the
    # stream (10047 "insufficient storage resources available"); the command says so in one line
    import nats

    from accord.errors import ConfigError
    from accord.feeds import jetstream

    monkeypatch.setattr(jetstream, "STREAM_MAX_BYTES", 10**15)   # a petabyte: no test server has it

    async def go():
        nc = await nats.connect(nats_url)
        try:
            await ensure_stream(nc.jetstream(), names.stream, names.prefix, "JPN")
        finally:
            await nc.close()

    with pytest.raises(ConfigError, match=f"cannot create stream {names.stream} of at most 1000000000000000 bytes: "
                                          "insufficient storage resources available"):
        asyncio.run(go())


def test_an_unbounded_stream_the_server_will_not_bound_is_left_as_it_was(names, nats_url, monkeypatch, caplog):
    # a stream that served the feed unbounded (made by an older Accord, or by an operator with
    # `nats stream add`'s defaults): a server without room to reserve the bound, or an account not
    # allowed to update streams, stopped `warning feed` / `warning ingest` after an upgrade. Now one
    # warning line, the stream as it was, and the command goes on
    import nats
    from nats.js.api import StorageType, StreamConfig

    from accord.feeds import jetstream
    from accord.feeds.scans import radar_filter

    monkeypatch.setattr(jetstream, "STREAM_MAX_BYTES", 10**15)   # a petabyte: no test server has room for it

    async def go():
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name=names.stream, subjects=[radar_filter(names.prefix, "JPN")],
                                             storage=StorageType.FILE, max_msg_size=jetstream.STREAM_MAX_MSG_BYTES))
            with caplog.at_level(logging.WARNING, logger="accord.feeds"):
                await ensure_stream(js, names.stream, names.prefix, "JPN")
            return (await js.stream_info(names.stream)).config
        finally:
            await nc.close()

    config = asyncio.run(go())
    assert (config.max_bytes in (None, -1), config.max_age in (None, 0, 0.0)) == (True, True), config
    lines = [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "feed.stream_not_updated"]
    assert len(lines) == 1 and "insufficient storage resources available" in lines[0], lines
    assert "it is left as it is" in lines[0]


def test_an_unbounded_work_queue_stream_is_left_as_it_was(names, nats_url):
    # a work-queue (or interest) stream drops a message once it is consumed: an operator who
    # chose one without limits did not leave it unbounded by mistake; it was given a day's age
    import nats
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig

    from accord.feeds import jetstream
    from accord.feeds.scans import radar_filter

    async def go():
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name=names.stream, subjects=[radar_filter(names.prefix, "JPN")],
                                             storage=StorageType.FILE, retention=RetentionPolicy.WORK_QUEUE,
                                             max_msg_size=jetstream.STREAM_MAX_MSG_BYTES))
            await ensure_stream(js, names.stream, names.prefix, "JPN")
            return (await js.stream_info(names.stream)).config
        finally:
            await nc.close()

    config = asyncio.run(go())
    assert config.retention == "workqueue" or getattr(config.retention, "value", None) == "workqueue"
    assert config.max_age in (None, 0) and config.max_bytes in (None, -1)
