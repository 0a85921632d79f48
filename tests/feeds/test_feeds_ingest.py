"""``accord warning feed`` → JetStream → ``accord warning ingest`` against the real NATS server:
the same tracks, predictions and alerts as the offline commands; ``kill -9`` mid-feed loses and
duplicates nothing; bad messages are refused once, clearly, and store nothing."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import time

from feeds_helpers import (KINDS, assert_no_duplicates, assert_restart_stored_what_an_uninterrupted_run_does,
                           feed_cmd, ingest_cmd, run, stored, uninterrupted, accord)

from accord.feeds.state import IngestStore
from accord.node import Node
from accord.warning.io import read_detections, read_predictions, read_tracks


def init_node(tmp_path):
    Node.init(tmp_path / "jpn", "JPN").close()
    return tmp_path / "jpn"


def test_feed_then_ingest_stores_what_offline_track_and_alerts_give(tmp_path, names, nats_url, japan_scenario):
    node_dir = init_node(tmp_path)
    r = run(feed_cmd(japan_scenario, nats_url, names))
    assert r.returncode == 0, r.stderr
    fed = json.loads(r.stdout)
    r = run(ingest_cmd(node_dir, nats_url, names, japan_scenario, "--idle-exit", "2", "--json"))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["scans"], summary["detections"], summary["refused"]) == (fed["scans"], fed["detections"], 0)

    off = tmp_path / "offline"
    assert run(accord("warning", "track", japan_scenario, "--out", off)).returncode == 0
    r = run(accord("warning", "alerts", japan_scenario.parent, "--party", "JPN", "--out", tmp_path / "alerts", "--json"))
    assert r.returncode == 0, r.stderr
    offline_alerts = json.loads(r.stdout)["messages"]

    _, det = read_detections(japan_scenario)
    last_w = math.ceil(float(det.t[-1])) - 1  # later seconds are reported when a later scan arrives
    items = stored(node_dir)
    tracks = [(b["track_id"], float(b["t"]), b["x"], b["y"], b["z"], b["vx"], b["vy"], b["vz"], b["cov"])
              for b in (i.body for i in items["warning.track"])]
    want = [(t.track_id, t.t, t.x, t.y, t.z, t.vx, t.vy, t.vz, list(t.cov))
            for t in read_tracks(off / "tracks.jsonl") if t.t <= last_w]
    assert sorted(tracks) == sorted(want) and len(want) > 100
    preds = sorted(json.dumps(i.body, sort_keys=True) for i in items["warning.prediction"])
    want_p = sorted(json.dumps(p.to_json(), sort_keys=True) for p in read_predictions(off / "predictions.jsonl")
                    if p.t <= last_w)
    assert [json.loads(p) for p in preds] == [json.loads(p) for p in want_p] and len(want_p) > 50
    alerts = sorted(((i.body["identifier"], i.body["msgType"]) for i in items["warning.alert"]))
    want_a = sorted((m["identifier"], m["msgType"]) for m in offline_alerts if m["t"] <= last_w)
    assert alerts == want_a and ("Alert" in {a[1] for a in alerts})
    for i in items["warning.alert"]:   # the very CAP message the offline command wrote
        f = next(m["file"] for m in offline_alerts if m["identifier"] == i.body["identifier"])
        assert i.body["cap_xml"].encode() == (tmp_path / "alerts" / f).read_bytes()
    assert_no_duplicates(items)


def test_kill_9_mid_feed_then_restart_loses_and_duplicates_nothing(tmp_path, names, nats_url, japan_scenario):
    node_dir = init_node(tmp_path)
    # 573 scans over ~15 s; the second kill at 350 leaves ~6 s of feed after it: a loaded machine's
    # slow looks below (each opens the node) once saw all 573 stored before the look past 450 came
    feeder = subprocess.Popen(feed_cmd(japan_scenario, nats_url, names, speed="15"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cmd = ingest_cmd(node_dir, nats_url, names, japan_scenario, "--batch", "8")
    consumer = f"{names.stream}/{names.consumer}"
    kills = []
    try:
        for threshold in (150, 350):   # kill twice, at different points of the feed
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 300   # a hang guard: a loaded machine may take minutes
            while True:
                with Node.open(node_dir) as node:
                    state = IngestStore(node, consumer).load()
                if state is not None and state.scans >= threshold:
                    break
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "ingest made no progress"
                time.sleep(0.25)   # each look opens the node: often enough, without slowing the ingest
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills.append(state.scans)
        out, err = feeder.communicate(timeout=120)
        assert feeder.returncode == 0, err
        fed = json.loads(out)
        assert kills[-1] < fed["scans"], "the kills must come mid-feed"
        r = run(cmd + ["--idle-exit", "3", "--json"])
        assert r.returncode == 0, r.stderr
    finally:
        if feeder.poll() is None:
            feeder.kill()
    with Node.open(node_dir) as node:
        final = IngestStore(node, consumer).load()
    assert final is not None and final.scans == fed["scans"] and final.detections == fed["detections"]
    got, want = stored(node_dir), uninterrupted(tmp_path, japan_scenario)
    for kind in KINDS:
        assert sorted(i.id for i in got[kind]) == sorted(i.id for i in want[kind]), kind  # 0 lost, 0 extra
    assert len(want["warning.alert"]) >= 2
    assert_no_duplicates(got)


# The ingest with an alert engine that lags well behind the tracker: each scan's alert work
# waits 30 ms more, so work is still queued when the process is killed.
SLOW_ALERTS = """
import sys, time
from accord.feeds import ingest
real = ingest.Ingest.alert
def slow(self, preds, seconds):
    time.sleep(0.03)
    return real(self, preds, seconds)
ingest.Ingest.alert = slow
from accord.cli.main import main
main()
"""


def test_kill_9_with_alert_work_queued_then_restart_loses_and_duplicates_nothing(tmp_path, names, nats_url,
                                                                                 japan_scenario):
    """The alert engine runs off the track path: a killed ingest leaves work the tracker passed
    it queued in the database; the restarted one does it first, from the engine's last commit."""
    node_dir = init_node(tmp_path)
    r = run(feed_cmd(japan_scenario, nats_url, names))
    assert r.returncode == 0, r.stderr
    fed = json.loads(r.stdout)
    cmd = ingest_cmd(node_dir, nats_url, names, japan_scenario, "--batch", "16", "--no-alert-process")
    consumer = f"{names.stream}/{names.consumer}"
    proc = subprocess.Popen([cmd[0], "-c", SLOW_ALERTS, *cmd[3:]], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    try:
        while True:
            with Node.open(node_dir) as node:
                store = IngestStore(node, consumer)
                queued, alerts = store.pending_work(), node.items(kind="warning.alert")
            if len(queued) >= 5 and alerts:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no alert work queued behind the tracker"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with Node.open(node_dir) as node:
        assert len(IngestStore(node, consumer).pending_work()) >= 5   # the kill left work queued
    r = run(cmd + ["--idle-exit", "3", "--json"])
    assert r.returncode == 0, r.stderr
    assert_restart_stored_what_an_uninterrupted_run_does(tmp_path, node_dir, consumer, fed, japan_scenario)


def test_kill_9_of_the_alert_process_mid_feed_then_restart_loses_and_duplicates_nothing(
        tmp_path, names, nats_url, japan_scenario):
    """The alert engine in its own process, not restarted by the ingest (``--alert-restarts 0``):
    killing it mid-feed makes the ingest stop with one line; the restarted ingest (and its new
    alert process) stores exactly what an uninterrupted run does."""
    node_dir = init_node(tmp_path)
    feeder = subprocess.Popen(feed_cmd(japan_scenario, nats_url, names, speed="25"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cmd = ingest_cmd(node_dir, nats_url, names, japan_scenario, "--batch", "8", "--alert-process",
                     "--alert-restarts", "0")
    consumer = f"{names.stream}/{names.consumer}"
    lock = node_dir / f"ingest-{names.consumer}.alerts.lock"
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300   # a hang guard: a loaded machine may take minutes
        while True:
            with Node.open(node_dir) as node:
                state = IngestStore(node, consumer).load()
                alerts = node.items(kind="warning.alert")
            if state is not None and state.scans >= 150 and alerts:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "ingest made no progress"
            time.sleep(0.25)
        child = int(lock.read_text())
        assert child != proc.pid
        os.kill(child, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)   # the ingest notices at its next batch
        assert proc.returncode == 1
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and "alert process" in lines[0] and "Traceback" not in err, err
        with Node.open(node_dir) as node:
            killed_store = IngestStore(node, consumer)
            killed_at, queued_at_kill = killed_store.load(), killed_store.pending_work()
        out, err = feeder.communicate(timeout=120)
        assert feeder.returncode == 0, err
        fed = json.loads(out)
        # The kill must interrupt work: the ingest still had scans to read, or (on a loaded
        # machine the ingest can read the whole feed before the engine's first alert) the alert
        # process still had queued work to do.
        assert killed_at is not None and (killed_at.scans < fed["scans"] or queued_at_kill), \
            "the kill must interrupt work"
        r = run(cmd + ["--idle-exit", "3", "--json"])
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["alert_mode"] == "process"
    finally:
        if feeder.poll() is None:
            feeder.kill()
    assert_restart_stored_what_an_uninterrupted_run_does(tmp_path, node_dir, consumer, fed, japan_scenario)


def test_bad_messages_are_refused_once_with_a_clear_error_and_store_nothing(tmp_path, names, nats_url, japan_scenario):
    import nats

    node_dir = init_node(tmp_path)
    subject = f"{names.prefix}.JPN.radar.JPN-TPY1"
    bad = [b"{not json", b'{"t": 3, "sensor": "JPN-TPY1", "plots": [[-5, 1.0, 0.1]]}',
           b'{"t": 3, "sensor": "KOR-GP1", "plots": []}']

    async def publish(payloads, subj=subject):
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for p in payloads:
            await js.publish(subj, p)
        await nc.close()

    assert run(feed_cmd(japan_scenario, nats_url, names)).returncode == 0  # creates the stream, good scans
    asyncio.run(publish(bad))
    asyncio.run(publish([b'{"t": 1.0, "sensor": "JPN-TPY1", "plots": [[900000.0, 4.0, 0.5]]}']))  # late
    # far ahead: every second up to it would be tracked one by one (the ingest hung on it)
    asyncio.run(publish([b'{"t": 1e9, "sensor": "JPN-TPY1", "plots": [[900000.0, 4.0, 0.5]]}']))
    asyncio.run(publish([b'{"t": 9999.0, "sensor": "XX-9", "plots": []}'], f"{names.prefix}.JPN.radar.XX-9"))
    r = run(ingest_cmd(node_dir, nats_url, names, japan_scenario, "--idle-exit", "2", "--json"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["refused"] == 6
    lines = [ln for ln in r.stderr.splitlines() if "refused" in ln]
    assert len(lines) == 6 and "Traceback" not in r.stderr
    for needle in ("not a JSON scan", "plot 0: range_m -5", "sent on the subject of sensor 'JPN-TPY1'",
                   "earlier than the last scan", "more than 86400 s after the last scan", "unknown sensor 'XX-9'"):
        assert sum(needle in ln for ln in lines) == 1, (needle, lines)
    # nothing of them stored: exactly what the good scans alone give
    got, want = stored(node_dir), uninterrupted(tmp_path, japan_scenario)
    for kind in KINDS:
        assert sorted(i.id for i in got[kind]) == sorted(i.id for i in want[kind])

    async def consumer_state():
        nc = await nats.connect(nats_url)
        info = await nc.jetstream().consumer_info(names.stream, names.consumer)
        await nc.close()
        return info

    info = asyncio.run(consumer_state())
    assert (info.num_pending, info.num_ack_pending, info.num_redelivered) == (0, 0, 0)
    r = run(ingest_cmd(node_dir, nats_url, names, japan_scenario, "--idle-exit", "1", "--json"))
    again = json.loads(r.stdout)
    assert (again["scans"], again["refused"], again["skipped"]) == (0, 0, 0)  # never redelivered


def test_a_feed_published_twice_is_stored_once(tmp_path, names, nats_url, japan_scenario):
    first = json.loads(run(feed_cmd(japan_scenario, nats_url, names)).stdout)
    r = run(feed_cmd(japan_scenario, nats_url, names))
    assert r.returncode == 0, r.stderr
    second = json.loads(r.stdout)
    assert first["duplicates"] == 0 and second["duplicates"] == second["scans"] == first["scans"]


def test_watch_prints_the_events_and_a_second_ingest_of_a_consumer_is_refused(tmp_path, names, nats_url,
                                                                             japan_scenario):
    node_dir = init_node(tmp_path)
    watch = subprocess.Popen(accord("warning", "watch", "--nats", nats_url, "--dir", node_dir, "--prefix",
                                    names.prefix, "--count", "20", "--json"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ing = subprocess.Popen(ingest_cmd(node_dir, nats_url, names, japan_scenario),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)   # both subscribed
        assert run(feed_cmd(japan_scenario, nats_url, names)).returncode == 0
        out, err = watch.communicate(timeout=120)
        assert watch.returncode == 0, err
        events = [json.loads(line) for line in out.splitlines()]
        assert len(events) == 20 and {e["kind"] for e in events} <= set(KINDS)
        r = run(ingest_cmd(node_dir, nats_url, names, japan_scenario, "--idle-exit", "1"))
        assert r.returncode == 2 and "another `accord warning ingest` runs consumer" in r.stderr
    finally:
        ing.send_signal(signal.SIGTERM)
        ing.wait(timeout=60)
        watch.kill() if watch.poll() is None else None
    assert ing.returncode == 0, ing.stderr.read() if ing.stderr else ""
    with Node.open(node_dir) as node:
        ids = {i.id for k in KINDS for i in node.items(kind=k)}
    assert {e["id"] for e in events} <= ids   # what was announced is stored




def test_sighup_stops_the_ingest_cleanly(tmp_path, names, nats_url, japan_scenario):
    """A closed terminal or a service manager's SIGHUP stops `warning ingest` as SIGTERM does: what
    it took is stored, its summary printed, exit 0 (it was killed outright, mid-batch)."""
    node_dir = init_node(tmp_path)
    ing = subprocess.Popen(ingest_cmd(node_dir, nats_url, names, japan_scenario, "--json"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)   # subscribed
        published = json.loads(run(feed_cmd(japan_scenario, nats_url, names)).stdout)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with Node.open(node_dir) as node:
                if node.items(kind="warning.track"):
                    break
            time.sleep(0.2)
    finally:
        ing.send_signal(signal.SIGHUP)
        out, err = ing.communicate(timeout=60)
    assert ing.returncode == 0, err
    summary = json.loads(out)
    assert 0 < summary["scans"] <= published["scans"]
