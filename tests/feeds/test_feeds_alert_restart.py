"""``accord warning ingest`` starts its alert process again when it dies (``--alert-restarts``):
a child killed mid-feed is replaced by the ingest itself, which finishes with exactly the items
of an uninterrupted run; one death more than the restarts allowed stops the ingest with one line."""

from __future__ import annotations

import logging
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from fastapi.testclient import TestClient
from feeds_helpers import assert_restart_stored_what_an_uninterrupted_run_does, feed_cmd, ingest_cmd

from accord.api.app import create_app
from accord.api.deps import create_token
from accord.feeds.state import IngestStore
from accord.node import Node


def init_node(tmp_path):
    Node.init(tmp_path / "jpn", "JPN").close()
    return tmp_path / "jpn"


def wait_for(what: str, proc: subprocess.Popen, cond, timeout: float = 300.0):
    """Poll ``cond()`` until it returns something true; the ingest must not end meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert proc.poll() is None, f"the ingest ended while waiting for {what}: " + (proc.stderr.read() if proc.stderr else "")
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.05)


def alert_child(lock, other_than: int | None = None):
    """The pid the alert process wrote into its lock file, once it is not ``other_than``."""
    try:
        pid = int(lock.read_text())
    except (OSError, ValueError):   # not there yet, or being rewritten
        return None
    return pid if pid != other_than else None


def working(node_dir, consumer: str, scans: int = 0):
    """The ingest state once ``scans`` scans are read and the alert process stored an alert."""
    with Node.open(node_dir) as node:
        state = IngestStore(node, consumer).load()
        alerts = node.items(kind="warning.alert")
    return state if state is not None and state.scans >= scans and alerts else None


class Run(NamedTuple):
    node_dir: Path
    consumer: str       # the ingest state's name (stream/consumer)
    lock: Path          # the alert process's lock file: it holds the child's pid
    feeder: subprocess.Popen
    proc: subprocess.Popen


@contextmanager
def feed_and_ingest(tmp_path, names, nats_url, japan_scenario, *ingest_args: str,
                    stdout=subprocess.PIPE) -> Iterator[Run]:
    """A new JPN node, the scenario fed at 25× and ``accord warning ingest`` reading it with its
    alert process (``--batch 8 --alert-process`` and ``ingest_args``); whichever of the two is
    still running afterwards is killed."""
    node_dir = init_node(tmp_path)
    feeder = subprocess.Popen(feed_cmd(japan_scenario, nats_url, names, speed="25"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cmd = ingest_cmd(node_dir, nats_url, names, japan_scenario, "--batch", "8", "--alert-process",
                     *ingest_args)
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
    try:
        yield Run(node_dir, f"{names.stream}/{names.consumer}",
                  node_dir / f"ingest-{names.consumer}.alerts.lock", feeder, proc)
    finally:
        for p in (proc, feeder):
            if p.poll() is None:
                p.kill()


def test_alert_process_killed_mid_feed_is_restarted_by_the_ingest_which_stores_what_an_uninterrupted_run_does(
        tmp_path, names, nats_url, japan_scenario):
    with feed_and_ingest(tmp_path, names, nats_url, japan_scenario, "--idle-exit", "3",
                         "--json") as (node_dir, consumer, lock, feeder, proc):
        wait_for("alerts after 150 scans", proc, lambda: working(node_dir, consumer, 150))
        child = wait_for("alert process", proc, lambda: alert_child(lock))
        assert child != proc.pid
        os.kill(child, signal.SIGKILL)
        with Node.open(node_dir) as node:
            store = IngestStore(node, consumer)
            killed_at, queued_at_kill = store.load(), store.pending_work()
        wait_for("new alert process", proc, lambda: alert_child(lock, other_than=child))
        out, err = proc.communicate(timeout=600)   # the same ingest goes on to the end of the feed
        fout, ferr = feeder.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert feeder.returncode == 0, ferr
    fed = json.loads(fout)
    # the kill interrupted work: scans still to read, or queued alert work still to do
    assert killed_at is not None and (killed_at.scans < fed["scans"] or queued_at_kill), "the kill must interrupt work"
    restarted = [ln for ln in err.splitlines() if "restarting it" in ln]
    assert len(restarted) == 1 and f"pid {child}" in restarted[0] and "SIGKILL" in restarted[0], err
    assert "error" not in err.lower() and "Traceback" not in err, err
    summary = json.loads(out)
    assert summary["alert_mode"] == "process" and summary["alert_process_restarts"] == 1
    with Node.open(node_dir) as node:   # and the node's /metrics counts it
        token = create_token(node.conn, "prometheus", "JPN", {"metrics"})
        r = TestClient(create_app(node)).get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert f'accord_ingest_alert_restarts_total{{consumer="{consumer}"}} 1.0' in r.text.splitlines()
    assert summary["scans"] == fed["scans"]
    assert_restart_stored_what_an_uninterrupted_run_does(tmp_path, node_dir, consumer, fed, japan_scenario)


def test_an_alert_process_that_dies_more_often_than_allowed_stops_the_ingest_with_one_line(
        tmp_path, names, nats_url, japan_scenario):
    with feed_and_ingest(tmp_path, names, nats_url, japan_scenario, "--alert-restarts", "1",
                         stdout=subprocess.DEVNULL) as (node_dir, consumer, lock, feeder, proc):
        wait_for("alerts", proc, lambda: working(node_dir, consumer))
        first = wait_for("alert process", proc, lambda: alert_child(lock))
        os.kill(first, signal.SIGKILL)
        second = wait_for("restarted alert process", proc, lambda: alert_child(lock, other_than=first))
        os.kill(second, signal.SIGKILL)   # one death more than --alert-restarts 1
        _, err = proc.communicate(timeout=120)
        feeder.communicate(timeout=120)
    assert proc.returncode != 0
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err
    assert f"pid {second}" in errors[0] and "SIGKILL" in errors[0] and "--alert-restarts 1" in errors[0], err
    assert "restart the ingest" in errors[0] and "Traceback" not in err, err
    restarted = [ln for ln in err.splitlines() if "restarting it" in ln]
    assert len(restarted) == 1 and f"pid {first}" in restarted[0], err
    with Node.open(node_dir) as node:   # what the tracker passed the engine and it did not do is kept
        assert IngestStore(node, consumer).load() is not None


def test_an_ingest_killed_while_its_alert_process_has_work_leaves_it_to_stop_quietly(
        tmp_path, names, nats_url, japan_scenario):
    """``kill -9`` of the ingest while its alert process works: the child commits what it has
    in hand and stops with one warning line — not an error "the alert process failed:
    BrokenPipeError" for what is the documented way it learns the ingest is gone."""
    with feed_and_ingest(tmp_path, names, nats_url, japan_scenario) as (node_dir, consumer, lock, feeder, proc):
        wait_for("alerts", proc, lambda: working(node_dir, consumer, 1))
        child = wait_for("alert process", proc, lambda: alert_child(lock))
        os.kill(child, signal.SIGSTOP)
        try:
            # the ingest goes on queueing alert work the stopped child has not taken (or, if the
            # child stopped inside a commit, waits for it): either way the child has a commit to
            # finish when it goes on, and then finds the ingest gone
            time.sleep(3.0)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            proc.kill()
            proc.wait(timeout=30)
        finally:
            os.kill(child, signal.SIGCONT)
        _, err = proc.communicate(timeout=120)   # the child holds the pipes until it ends
    assert "alert process failed" not in err and "Traceback" not in err and "BrokenPipe" not in err, err
    gone = [ln for ln in err.splitlines() if "the ingest process is gone" in ln]
    assert len(gone) == 1 and "WARNING" in gone[0], err


def test_an_idle_alert_process_whose_ingest_is_gone_says_so_once(caplog):
    """The child waiting for work when the ingest is killed (no commit in hand, so no send to
    fail) finds the pipe closed: it stops with the same one warning line, not in silence."""
    import multiprocessing

    from accord.feeds import alert_proc

    inbox, out = multiprocessing.Pipe(duplex=False)
    out.send("finish")
    out.close()
    caplog.set_level(logging.WARNING, logger="accord.feeds.ingest")
    assert alert_proc._wait(inbox) == (True, True)   # what was sent is read, then the end found
    gone = [r for r in caplog.records if getattr(r, "event", None) == "feed.alerts_orphaned"]
    assert len(gone) == 1 and "the ingest process is gone" in gone[0].getMessage()
    caplog.clear()
    inbox, out = multiprocessing.Pipe(duplex=False)
    out.send("abandon")   # told to stop: no warning
    assert alert_proc._wait(inbox) == (False, True)
    assert not [r for r in caplog.records if getattr(r, "event", None) == "feed.alerts_orphaned"]
