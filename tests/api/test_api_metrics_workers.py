"""``GET /metrics`` of ``node serve --workers N``: a scrape answered by any worker reports the
traffic counters summed over all of them, and the sum never goes backwards — not between scrapes
landing on different workers, not when a worker is killed and replaced
(:mod:`accord.api.worker_metrics`)."""

from __future__ import annotations

import logging
import os
import re
import signal
from collections import Counter

import httpx
import pytest

from accord.api import worker_metrics
from accord.api.deps import create_token
from accord.api.worker_metrics import METRICS_DIR, Traffic, WorkerShare, serve_directory
from accord.federation.stats import counters
from accord.node import Node
from federation_harness import NodeProcess, children, wait_for

pytestmark = pytest.mark.timeout(240)

FAILURES = re.compile(r'^accord_auth_failures_total\{api="user"\} ([0-9.e+]+)$', re.M)


def _admin_token(dir) -> str:
    node = Node.open(dir)
    try:
        return create_token(node.conn, "ops", node.party, {"admin"})
    finally:
        node.close()


def _refused_on_one_connection(url: str, token: str) -> int:
    """One refused request (a wrong token), then on the same connection one that names the worker
    process that served the connection: the worker that counted the refusal."""
    with httpx.Client(base_url=url, timeout=10) as c:
        r = c.get("/api/v1/status", headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401 and r.headers.get("connection") != "close"
        r = c.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        return r.json()["server"]["pid"]


def _spread_refusals(url: str, token: str, pids: set[int], at_least: int = 3) -> Counter:
    """Refused requests on new connections until each of ``pids`` has counted ``at_least``."""
    took: Counter = Counter()
    while min(took[p] for p in pids) < at_least:
        assert sum(took.values()) < 400, f"the kernel never handed {pids} enough connections: {took}"
        took[_refused_on_one_connection(url, token)] += 1
    return took


def _scrape(url: str, token: str) -> tuple[int, float]:
    """(the worker that answered, the user API's auth failures it reported)."""
    with httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.get("/metrics")
        assert r.status_code == 200
        found = FAILURES.search(r.text)
        pid = c.get("/api/v1/status").json()["server"]["pid"]
    return pid, float(found.group(1)) if found else 0.0


class Scrapes:
    """Every scrape made, in order: the totals must never go down."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token, self.seen = url, token, []

    def until_every_worker_reports(self, total: int, pids: set[int]) -> None:
        def reported() -> bool:
            self.seen.append(_scrape(self.url, self.token))
            return {pid for pid, v in self.seen if v == total} >= pids

        done = wait_for(reported, timeout=60, interval=0.02)
        assert done, f"no scrape of each of {pids} reported {total}: {self.seen[-20:]}"

    def never_went_down(self) -> None:
        values = [v for _, v in self.seen]
        assert values == sorted(values), f"a total went down between scrapes: {values}"


def test_a_scrape_of_either_worker_reports_the_sum_of_both(tmp_path):
    d = tmp_path / "JPN"
    Node.init(d, party="JPN").close()
    token = _admin_token(d)
    single = NodeProcess(d).start()  # served without --workers: one process, no file written
    try:
        _refused_on_one_connection(single.url, token)
        assert _scrape(single.url, token)[1] == 1
        assert not (d / METRICS_DIR).exists()
    finally:
        single.stop()
    server = NodeProcess(d, args=["--workers", "2"]).start()
    try:
        workers = children(server.proc.pid)
        assert len(workers) == 2
        took = _spread_refusals(server.url, token, workers)
        total = sum(took.values())
        scrapes = Scrapes(server.url, token)
        scrapes.until_every_worker_reports(total, workers)
        for _ in range(20):  # and every scrape after, on whichever worker
            scrapes.seen.append(_scrape(server.url, token))
        scrapes.never_went_down()
        assert all(v <= total for _, v in scrapes.seen)
        assert [v for _, v in scrapes.seen[-20:]] == [total] * 20
        assert len(list((d / METRICS_DIR).iterdir())) == 1  # this serve's directory
    finally:
        server.stop()
    assert list((d / METRICS_DIR).iterdir()) == []  # removed when the serve ends
    assert "Traceback" not in (d / "serve.log").read_text()


def test_a_killed_workers_counts_stay_in_the_sum_after_it_is_replaced(tmp_path):
    d = tmp_path / "JPN"
    Node.init(d, party="JPN").close()
    token = _admin_token(d)
    server = NodeProcess(d, args=["--workers", "2"]).start()
    try:
        workers = children(server.proc.pid)
        assert len(workers) == 2
        total = sum(_spread_refusals(server.url, token, workers).values())
        scrapes = Scrapes(server.url, token)
        scrapes.until_every_worker_reports(total, workers)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        scrapes.seen.append(_scrape(server.url, token))  # the survivor, with the dead worker's file
        assert scrapes.seen[-1][1] == total
        assert wait_for(lambda: len(children(server.proc.pid) - workers) == 1, timeout=60)
        now = children(server.proc.pid)
        assert victim not in now and len(now) == 2
        (replacement,) = now - workers

        def answered_by_replacement() -> bool:
            with httpx.Client(base_url=server.url, timeout=10) as c:
                r = c.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})
            return r.status_code == 200 and r.json()["server"]["pid"] == replacement

        assert wait_for(answered_by_replacement, timeout=90, interval=0.01)
        # its replacement takes refusals of its own: the sum goes on from the dead worker's counts
        more = sum(_spread_refusals(server.url, token, now).values())
        scrapes.until_every_worker_reports(total + more, now)
        scrapes.never_went_down()
        assert "ended (signal 9); starting another" in (d / "serve.log").read_text()
    finally:
        server.stop()


# --- in process -----------------------------------------------------------------------------
@pytest.fixture
def node(tmp_path):
    n = Node.init(tmp_path / "JPN", party="JPN")
    yield n
    n.close()


def test_a_replacement_worker_starts_from_the_counts_its_predecessor_wrote(node, tmp_path):
    d = tmp_path / "serve"
    d.mkdir()
    first = WorkerShare(node, d, 0)
    for _ in range(3):
        counters(node).auth_failed("user")
    counters(node).taxii_requests[("GET", 200)] += 2
    counters(node).partner("KOR").latency.observe(0.2)
    assert first.publish().auth_failures == {"user": 3}
    other = Node.open(tmp_path / "JPN")  # a process of its own: counters of its own, at zero
    try:
        counters(other).auth_failed("user")
        replacement = WorkerShare(other, d, 0)
        summed = replacement.totals()
        assert summed.auth_failures == {"user": 4}
        assert summed.taxii_requests == {("GET", 200): 2}
        assert summed.partners["KOR"].latency.count == 1
        assert Traffic.from_json((d / "worker-0.json").read_bytes()).auth_failures == {"user": 4}
    finally:
        other.close()


def test_a_file_that_is_not_a_workers_counts_is_left_out_and_said(node, tmp_path, caplog):
    d = tmp_path / "serve"
    d.mkdir()
    (d / "worker-1.json").write_text('{"partners": {"KOR": {"sent": -1}}}')
    counters(node).auth_failed("user")
    with caplog.at_level(logging.WARNING, logger="accord.api"):
        assert WorkerShare(node, d, 0).totals().auth_failures == {"user": 1}
    assert "worker-1.json: not a worker's counts" in caplog.text


def test_a_file_gone_bad_or_unreadable_counts_as_what_it_held_never_backwards(node, tmp_path, monkeypatch):
    """A scrape left out a worker whose file it could not read or that held bad numbers, so the
    sum fell (Prometheus takes that for a restart); with the directory gone, a scrape raised."""
    d = tmp_path / "serve"
    d.mkdir()
    other = Traffic(auth_failures={"user": 5}, taxii_requests={("GET", 200): 7})
    (d / "worker-1.json").write_bytes(other.to_json())
    counters(node).auth_failed("user")
    share = WorkerShare(node, d, 0)
    assert share.totals().auth_failures == {"user": 6}
    (d / "worker-1.json").write_text('{"partners": {}, "auth_failures": {"user": -3}}')  # bad numbers
    assert share.totals().auth_failures == {"user": 6}
    real = type(d).read_bytes

    def emfile(path):
        if path.name == "worker-1.json":
            raise OSError(24, "Too many open files")
        return real(path)
    monkeypatch.setattr(type(d), "read_bytes", emfile)
    assert share.totals().taxii_requests == {("GET", 200): 7}
    monkeypatch.undo()
    for f in d.iterdir():
        f.unlink()
    d.rmdir()
    summed = share.totals()  # logged, not raised
    assert summed.auth_failures == {"user": 6} and summed.taxii_requests == {("GET", 200): 7}


def test_the_serve_directory_is_emptied_and_those_of_dead_serves_removed(tmp_path):
    root = tmp_path / METRICS_DIR
    (root / "999999999").mkdir(parents=True)  # no such process
    (root / str(os.getpid())).mkdir()
    (root / str(os.getpid()) / "worker-0.json").write_text("{}")
    with serve_directory(tmp_path) as d:
        assert d == root / str(os.getpid()) and list(d.iterdir()) == []
        assert [p.name for p in root.iterdir()] == [str(os.getpid())]
    assert list(root.iterdir()) == []


def test_directories_named_by_a_number_no_process_has_are_removed(tmp_path):
    """``serve-metrics/0`` counted as a running serve (``kill(0, 0)`` asks about this process's
    group), so it was never removed; a number past a C int raised OverflowError, and no serve
    started."""
    root = tmp_path / METRICS_DIR
    for name in ("0", "99999999999999999999"):
        (root / name).mkdir(parents=True)
    with serve_directory(tmp_path):
        assert [p.name for p in root.iterdir()] == [str(os.getpid())]


def test_a_workers_file_is_0600_and_a_failed_write_leaves_no_temporary_file(node, tmp_path):
    d = tmp_path / "serve"
    d.mkdir()
    mask = os.umask(0)
    try:
        counters(node).auth_failed("user")
        WorkerShare(node, d, 0).publish()
        assert (d / "worker-0.json").stat().st_mode & 0o777 == 0o600
        (d / "worker-1.json").mkdir()   # what cannot be renamed over
        with pytest.raises(IsADirectoryError):
            WorkerShare(node, d, 1).publish()
    finally:
        os.umask(mask)
    assert sorted(p.name for p in d.iterdir()) == ["worker-0.json", "worker-1.json"]


def test_without_a_share_the_totals_are_the_process_own(node):
    counters(node).auth_failed("partner")
    assert worker_metrics.totals(node).auth_failures == {"partner": 1}
