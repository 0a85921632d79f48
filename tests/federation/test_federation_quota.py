"""Per-partner intake quota (accord.federation.quota): a partner past its budget for the hour is
answered 429 ``over_quota`` (with Retry-After), what fitted is taken, the rest stays queued at the
sender and arrives in a later window — once each, in order; the first refusal of a window is
ledgered, once; the counts live in the store, so every process serving the node shares them."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from accord.api.app import create_app
from accord.cli.main import app
from accord.clock import ManualClock
from accord.core.envelopes import seal
from accord.errors import ConfigError, InputError, PartnerDeferred, QuotaExceeded
from accord.federation import quota, share, status
from accord.federation.tokens import create_token
from accord.federation.httpsig import sign_request
from accord.federation.schema import write_lock
from accord.node.node import Node
from federation_harness import ledger_events, make_nodes, note, wait_for

WINDOW = quota.WINDOW_SECONDS


def _limit(node: Node, party: str, **limits: int) -> None:
    """``node`` takes at most ``limits`` from ``party`` an hour (its pin otherwise unchanged)."""
    pinned = node.partners()[party]
    node.add_partner(party, pinned.public_key_b64, pinned.url, **limits)


def _received(node: Node, originator: str) -> list[tuple[int, str]]:
    with write_lock(node):  # the node's shared connection: a delivery thread may be writing on it
        return [tuple(r) for r in node.conn.execute(
            "SELECT seq, item_id FROM fed_received WHERE originator = ? ORDER BY seq", (originator,))]


def _queued(node: Node, recipient: str) -> int:
    with write_lock(node):
        return node.conn.execute("SELECT COUNT(*) FROM fed_outbox WHERE recipient = ? AND state = 'queued'",
                                 (recipient,)).fetchone()[0]


def test_a_partner_over_its_quota_is_deferred_and_its_items_arrive_in_later_windows_once_each(fed_pair):
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    _limit(kor, "JPN", max_items_per_hour=5)
    ids = []
    for i in range(12):
        item = note(jpn, i)
        share(jpn, item, "KOR")
        ids.append(item.id)

    out = fed.sync("KOR", heads=False)
    assert "429" in out["KOR"] and "over its intake quota" in out["KOR"]
    assert [i for _, i in _received(kor, "JPN")] == ids[:5]
    assert _queued(jpn, "KOR") == 7                  # the rest kept, not refused
    (kor_at_jpn,) = status(jpn)["partners"]          # reached and deferred, not failing
    assert kor_at_jpn["consecutive_failures"] == 0 and "429" in kor_at_jpn["last_error"]
    assert "429" in fed.sync("KOR", heads=False)["KOR"]   # the same window: nothing more taken
    assert len(_received(kor, "JPN")) == 5

    clock.advance(WINDOW)
    assert "429" in fed.sync("KOR", heads=False)["KOR"]
    assert [i for _, i in _received(kor, "JPN")] == ids[:10]
    clock.advance(WINDOW)
    assert fed.sync("KOR", heads=False)["KOR"] is None
    got = _received(kor, "JPN")
    assert [i for _, i in got] == ids and [s for s, _ in got] == list(range(1, 13))   # once each, in order
    assert _queued(jpn, "KOR") == 0
    assert {r[0] for r in jpn.conn.execute("SELECT state FROM fed_outbox WHERE recipient='KOR'")} == {"delivered"}
    assert len(kor.items()) == 12
    # one ledger entry per window that ran over, whatever the number of refused requests in it
    events = ledger_events(kor.dir, quota.OVER_QUOTA_EVENT)
    assert [(e["party"], e["items"], e["max_items"]) for e in events] == [("JPN", 5, 5), ("JPN", 5, 5)]
    assert events[0]["window_start"] == "2026-01-01T00:00:00.000Z"
    # nothing deferred was recorded as a refusal
    assert ledger_events(kor.dir, "item.rejected") == []
    assert kor.conn.execute("SELECT COUNT(*) FROM fed_rejections").fetchone()[0] == 0


def test_the_byte_budget_stops_a_window_after_the_envelope_that_crosses_it(fed_pair):
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    _limit(kor, "JPN", max_bytes_per_hour=1000)     # a note's envelope is a few hundred bytes
    for i in range(10):
        share(jpn, note(jpn, i), "KOR")
    assert "429" in fed.sync("KOR", heads=False)["KOR"]
    taken = len(_received(kor, "JPN"))
    assert 1 < taken < 10
    (row,) = kor.conn.execute("SELECT items, bytes FROM fed_quota WHERE partner = 'JPN'").fetchall()
    assert row[0] == taken and row[1] >= 1000           # crossed by the last envelope taken, no more
    clock.advance(WINDOW)
    fed.sync("KOR", heads=False)
    clock.advance(WINDOW)
    fed.sync("KOR", heads=False)
    clock.advance(WINDOW)
    fed.sync("KOR", heads=False)
    assert [s for s, _ in _received(kor, "JPN")] == list(range(1, 11))
    # windows before the previous one dropped
    assert set(_windows(kor, "JPN")) == {quota.window_start(clock.now()) - w * WINDOW for w in (1, 0)}


def test_two_nodes_serving_one_database_share_the_count_and_ledger_it_once(fed_pair):
    """``node serve --workers N``: each process its own node object on the one database."""
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    _limit(kor, "JPN", max_items_per_hour=4)
    from accord.federation import receive_batch

    envs = [seal(note(jpn, i), "KOR", i + 1, jpn.identity, clock.now()).to_json() for i in range(8)]
    with Node.open(kor.dir, clock) as other:
        a = receive_batch(kor, envs[:3], sender="JPN")
        assert [r.status for r in a.receipts] == ["stored"] * 3
        b = receive_batch(other, envs[3:6], sender="JPN")   # the other process: 1 of 3 fits
        assert [(r.status, r.code, r.consumed) for r in b.receipts] == [
            ("stored", None, True), ("rejected", "over_quota", False), ("rejected", "over_quota", False)]
        assert b.next_seq == 5
        for node in (kor, other, kor):
            with pytest.raises(Exception, match="over its intake quota") as raised:
                receive_batch(node, envs[4:], sender="JPN")
            assert raised.value.retry_after == WINDOW
            with pytest.raises(Exception, match="over its intake quota"):
                quota.admit(node, "JPN")
    assert len(_received(kor, "JPN")) == 4
    assert len(ledger_events(kor.dir, quota.OVER_QUOTA_EVENT)) == 1
    clock.advance(WINDOW)
    c = receive_batch(kor, envs[4:], sender="JPN")
    assert [r.status for r in c.receipts] == ["stored"] * 4 and c.next_seq == 9


def _signed(jpn, method, path, body=b""):
    return sign_request(jpn.identity, method, path, "", body, jpn.clock.now(), "KOR")


def test_the_partner_api_answers_429_with_retry_after_before_reading_the_body(tmp_path):
    clock = ManualClock()
    nodes = make_nodes(tmp_path, ("JPN", "KOR"), clock=clock)
    jpn, kor = nodes["JPN"], nodes["KOR"]
    try:
        _limit(kor, "JPN", max_items_per_hour=2)
        clock.advance(600)                              # 50 minutes left in the window
        envs = [seal(note(jpn, i), "KOR", i + 1, jpn.identity, clock.now()).to_json() for i in range(3)]
        with TestClient(create_app(kor)) as client:
            body = json.dumps({"envelopes": envs}).encode()
            r = client.post("/federation/v1/envelopes", content=body,
                            headers=_signed(jpn, "POST", "/federation/v1/envelopes", body))
            assert r.status_code == 200
            ack = r.json()
            assert [x["status"] for x in ack["receipts"]] == ["stored", "stored", "rejected"]
            assert ack["receipts"][2]["code"] == "over_quota" and ack["next_seq"] == 3
            # now refused unread: a body that does not match its digest is never looked at
            headers = _signed(jpn, "POST", "/federation/v1/envelopes", body)
            r = client.post("/federation/v1/envelopes", content=b"not the signed body", headers=headers)
            assert r.status_code == 429, r.text
            assert r.json()["detail"]["error"] == "over_quota"
            assert r.headers["retry-after"] == "3000"
            # the read-only routes are not a batch: still served
            r = client.get("/federation/v1/checkpoint", headers=_signed(jpn, "GET", "/federation/v1/checkpoint"))
            assert r.status_code == 200
        assert len(ledger_events(kor.dir, quota.OVER_QUOTA_EVENT)) == 1
        # counted for the metrics (the batch cut short, then the one refused unread), shown by status
        token = create_token(kor.conn, "prometheus", "KOR", {"metrics"})
        with TestClient(create_app(kor)) as client:
            page = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
        assert 'accord_batches_over_quota_total{partner="JPN"} 2.0' in page
        (intake,) = [p["intake"] for p in status(kor)["partners"]]
        assert intake == {"window_start": "2026-01-01T00:00:00.000Z", "items": 2, "bytes": intake["bytes"],
                          "max_items": 2, "max_bytes": quota.DEFAULT_MAX_BYTES, "over_quota": True}
        clock.advance(3000)
        with TestClient(create_app(kor)) as client:
            body = json.dumps({"envelopes": envs[2:]}).encode()
            r = client.post("/federation/v1/envelopes", content=body,
                            headers=_signed(jpn, "POST", "/federation/v1/envelopes", body))
            assert r.status_code == 200 and r.json()["receipts"][0]["status"] == "stored"
    finally:
        for n in nodes.values():
            n.close()


def test_the_delivery_worker_waits_out_retry_after_on_the_node_clock_then_delivers(fed_pair):
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    _limit(kor, "JPN", max_items_per_hour=3)
    fed.poll_interval = 0.05
    ids = []
    for i in range(7):
        item = note(jpn, i)
        share(jpn, item, "KOR")
        ids.append(item.id)
    sent, deferrals = threading.Event(), []
    real_send = net.send

    def watched_send(node, party, envelopes):
        sent.set()
        try:
            return real_send(node, party, envelopes)
        except PartnerDeferred:
            deferrals.append(clock.now())
            raise
    net.send = watched_send
    waits = []   # the times the worker waits until (Retry-After counts from when the worker reads the clock)
    real_wait = fed._wait_until

    def watched_wait(halt, until):
        waits.append(until)
        return real_wait(halt, until)
    fed._wait_until = watched_wait
    fed.start()
    try:
        # (each window's clock advance waits until the worker has set its wake time: advanced between
        # the deferral and the worker's reading of the clock, the wait would run a whole window more)
        assert wait_for(lambda: len(deferrals) == 1 and len(waits) == 1, timeout=30)
        assert len(_received(kor, "JPN")) == 3
        sent.clear()
        assert not sent.wait(1.0)                        # it honours Retry-After: no request meanwhile
        assert _queued(jpn, "KOR") == 4
        (kor_at_jpn,) = status(jpn)["partners"]       # reached, deferred: not a failure
        assert "over its intake quota" in kor_at_jpn["last_error"] and kor_at_jpn["consecutive_failures"] == 0
        clock.advance(WINDOW)
        assert wait_for(lambda: len(_received(kor, "JPN")) == 6, timeout=30)
        assert wait_for(lambda: len(deferrals) == 2 and len(waits) == 2, timeout=30)
        clock.advance(WINDOW)
        assert wait_for(lambda: len(_received(kor, "JPN")) == 7, timeout=30)
    finally:
        fed.stop()
    assert [i for _, i in _received(kor, "JPN")] == ids
    assert status(jpn)["partners"][0]["last_error"] is None   # cleared by the next acknowledgement


def test_quota_settings_are_checked_in_one_line(tmp_path):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    kor = nodes["KOR"]
    try:
        key = kor.partners()["JPN"].public_key_b64
        with pytest.raises(InputError, match=r"--max-items-per-hour must be a whole number of at least 0"):
            kor.add_partner("JPN", key, max_items_per_hour=-1)
        kor.add_partner("JPN", key, max_items_per_hour=10, max_bytes_per_hour=0)
        kor.add_partner("JPN", key)                      # re-pinned without them: kept
        assert (kor.partners()["JPN"].max_items_per_hour, kor.partners()["JPN"].max_bytes_per_hour) == (10, 0)
        assert quota.limits_for(kor, "JPN") == quota.Limits(10, 0)
        assert [e["max_items_per_hour"] for e in ledger_events(kor.dir, "partner.quota")] == [10]
        assert quota.limits_for(nodes["JPN"], "KOR") == quota.Limits(quota.DEFAULT_MAX_ITEMS,
                                                                      quota.DEFAULT_MAX_BYTES)
    finally:
        for n in nodes.values():
            n.close()
    cfg = tmp_path / "KOR" / "node.yaml"
    text = cfg.read_text()
    for bad in ("-3", "lots", "true", "1.5"):
        cfg.write_text(text.replace("max_items_per_hour: 10", f"max_items_per_hour: {bad}"))
        with pytest.raises(ConfigError) as raised:
            with Node.open(tmp_path / "KOR") as node:
                node.partners()
        message = str(raised.value)
        assert "\n" not in message and "partners.JPN.max_items_per_hour must be a whole number" in message
    cfg.write_text(text)
    r = CliRunner().invoke(app, ["node", "partner", "add", "--dir", str(tmp_path / "KOR"), "--party", "JPN",
                                 "--key", key, "--max-bytes-per-hour", "-5"])
    assert r.exit_code != 0 and isinstance(r.exception, InputError)
    assert str(r.exception) == "--max-bytes-per-hour must be a whole number of at least 0 (0: unlimited), not -5"
    r = CliRunner().invoke(app, ["node", "partner", "add", "--dir", str(tmp_path / "KOR"), "--party", "JPN",
                                 "--key", key, "--max-items-per-hour", "500"])
    assert r.exit_code == 0, r.output
    assert "max_items_per_hour: 500" in cfg.read_text()
    listed = CliRunner().invoke(app, ["node", "partner", "list", "--dir", str(tmp_path / "KOR")])
    assert listed.exit_code == 0 and "500 envelopes, unlimited" in listed.output   # its bytes were set to 0 above
    assert "(default)" not in listed.output


def test_refusals_that_use_up_no_number_count_against_the_quota_too(fed_pair):
    """Each refusal writes a ledger entry (``item.rejected``, append-only) and a ``fed_rejections``
    row whether or not it uses up a number: a partner sending envelopes refused without using
    one (out of sequence, not its own, malformed) must not write without bound under its quota."""
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    _limit(kor, "JPN", max_items_per_hour=3)
    from accord.federation import receive_batch

    # numbers far ahead of the one expected: each refused (out of sequence), none uses one up
    ahead = [seal(note(jpn, i), "KOR", 100 + i, jpn.identity, clock.now()).to_json() for i in range(5)]
    first = receive_batch(kor, ahead + ["not an envelope"], sender="JPN")
    assert [(r.code == "over_quota") for r in first.receipts] == [False] * 3 + [True] * 3
    assert all(not r.consumed for r in first.receipts)
    for _ in range(3):                                  # the window used up: nothing more written
        with pytest.raises(Exception, match="over its intake quota"):
            receive_batch(kor, ahead, sender="JPN")
        with pytest.raises(Exception, match="over its intake quota"):
            quota.admit(kor, "JPN")
    assert len(ledger_events(kor.dir, "item.rejected")) == 3
    assert kor.conn.execute("SELECT COUNT(*) FROM fed_rejections").fetchone()[0] == 3
    (row,) = kor.conn.execute("SELECT items, bytes FROM fed_quota WHERE partner = 'JPN'").fetchall()
    assert row[0] == 3 and row[1] > 0
    # the next window: the partner's own stream goes on as before
    clock.advance(WINDOW)
    ack = receive_batch(kor, [seal(note(jpn, 9), "KOR", 1, jpn.identity, clock.now()).to_json()], sender="JPN")
    assert [r.status for r in ack.receipts] == ["stored"]


def test_a_hostile_retry_after_neither_spins_the_sender_nor_raises():
    """``Retry-After: 0`` made the delivery worker resend at once, without end (a request, a ledger
    of the deferral and a warning per turn); a Latin-1 superscript digit passed ``str.isdigit``
    and raised ValueError from the transport."""
    from accord.federation.transport import MAX_RETRY_AFTER, retry_after

    assert retry_after("0") == retry_after(" 0 ") == 1.0
    assert retry_after("3000") == 3000.0 and retry_after("99999999") == MAX_RETRY_AFTER
    for bad in ("\xb2", "1\xb3", "\u0663", "-5", "1.5", "Wed, 21 Oct 2026 07:28:00 GMT", "", "9" * 13, None):
        assert retry_after(bad) is None, bad


def test_the_in_process_network_bounds_a_partners_wait_as_the_http_transport_does(fed_pair):
    """A process whose clock is still in the hour before the window another opened asks for up to
    the skew more than an hour; the HTTP transport honours at most MAX_RETRY_AFTER of it, the
    in-process network passed all of it on."""
    from datetime import UTC, datetime

    from accord.core.canonical import canonical_json
    from accord.federation import receive_batch
    from accord.federation.transport import MAX_RETRY_AFTER, retry_after

    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    _limit(kor, "JPN", max_items_per_hour=1)
    envs = [seal(note(jpn, i), "KOR", i + 1, jpn.identity, clock.now()).to_json() for i in range(2)]
    nxt = quota.window_start(clock.now()) + WINDOW
    ahead = ManualClock(datetime.fromtimestamp(nxt + 2, UTC))           # 01:00:02: opens the next window
    behind = _apart(ahead, 5)                                           # 00:59:57
    with Node.open(kor.dir, ahead) as a, Node.open(kor.dir, behind) as b:
        assert [r.status for r in receive_batch(a, envs[:1], sender="JPN").receipts] == ["stored"]
        with pytest.raises(QuotaExceeded) as asked:
            quota.admit(b, "JPN")
        assert asked.value.retry_after == WINDOW + 3 > MAX_RETRY_AFTER
        net.up("KOR", b)
        with pytest.raises(PartnerDeferred) as deferred:
            net.send(jpn, "KOR", [canonical_json(envs[1])])
    assert deferred.value.retry_after == retry_after(str(WINDOW + 3)) == MAX_RETRY_AFTER


def _apart(clock: ManualClock, seconds: float) -> ManualClock:
    """A clock of another process: ``seconds`` behind ``clock`` (moved with :func:`_tick`)."""
    return ManualClock(clock.now() - timedelta(seconds=seconds))


def _tick(seconds: float, *clocks: ManualClock) -> None:
    for c in clocks:
        c.advance(seconds)


def _windows(node: Node, party: str) -> dict[int, int]:
    with write_lock(node):
        return dict(node.conn.execute("SELECT window_start, items FROM fed_quota WHERE partner = ?", (party,)))


def test_two_processes_with_clocks_apart_across_the_hour_take_one_budget_a_window(fed_pair):
    """Several processes on one database (``--workers``, several machines on PostgreSQL) whose
    clocks are a few seconds apart: around the turn of the hour the one ahead opens the new window;
    the one behind, still in the old hour by its clock, counts into that new window — it neither
    finds the count gone (the old window's row dropped) and starts again from nothing, nor is it
    refused for ever; a window more than one ahead of its own (a clock gone wrong) it ignores."""
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    _limit(kor, "JPN", max_items_per_hour=4)
    from accord.federation import receive_batch

    envs = [seal(note(jpn, i), "KOR", i + 1, jpn.identity, clock.now()).to_json() for i in range(19)]
    h0 = quota.window_start(clock.now())
    ahead = ManualClock(clock.now() + timedelta(seconds=WINDOW - 10))     # 00:59:50
    behind = _apart(ahead, 5)                                           # 00:59:45
    with Node.open(kor.dir, ahead) as a, Node.open(kor.dir, behind) as b:
        assert [r.status for r in receive_batch(a, envs[:2], sender="JPN").receipts] == ["stored"] * 2
        assert [r.status for r in receive_batch(b, envs[2:3], sender="JPN").receipts] == ["stored"]
        _tick(12, ahead, behind)                                        # 01:00:02 and 00:59:57
        assert [r.status for r in receive_batch(a, envs[3:6], sender="JPN").receipts] == ["stored"] * 3
        ack = receive_batch(b, envs[6:9], sender="JPN")                 # the old hour by its clock
        assert [r.status for r in ack.receipts] == ["stored", "rejected", "rejected"] and ack.next_seq == 8
        assert _windows(kor, "JPN") == {h0: 3, h0 + WINDOW: 4}            # one budget a window, no more
        for node in (b, a):
            with pytest.raises(QuotaExceeded) as raised:
                receive_batch(node, envs[7:9], sender="JPN")
            # until the window the one ahead opened ends, by the process's own clock
            assert raised.value.retry_after == (WINDOW - 2 if node is a else WINDOW + 3)
            with pytest.raises(QuotaExceeded):
                quota.admit(node, "JPN")
        events = ledger_events(kor.dir, quota.OVER_QUOTA_EVENT)
        assert [e["window_start"] for e in events] == ["2026-01-01T01:00:00.000Z"]
        intake = status(b)["partners"][0]["intake"]
        assert (intake["window_start"], intake["items"], intake["over_quota"]) == ("2026-01-01T01:00:00.000Z", 4, True)

        _tick(WINDOW, ahead, behind)                                    # 02:00:02 and 01:59:57
        assert [r.status for r in receive_batch(a, envs[7:9], sender="JPN").receipts] == ["stored"] * 2
        assert [r.status for r in receive_batch(b, envs[9:12], sender="JPN").receipts] == [
            "stored", "stored", "rejected"]                             # the new window's budget, shared
        assert _windows(kor, "JPN") == {h0 + WINDOW: 4, h0 + 2 * WINDOW: 4}   # older windows dropped
        # a process that alone serves for a while, still behind: the new window is its own next
        _tick(10, behind)                                               # 02:00:07
        with pytest.raises(QuotaExceeded) as raised:
            receive_batch(b, envs[11:], sender="JPN")
        assert raised.value.retry_after == WINDOW - 7
        _tick(WINDOW, behind)
        assert [r.status for r in receive_batch(b, envs[11:14], sender="JPN").receipts] == ["stored"] * 3
        # a clock hours ahead is gone wrong, not skewed: the window it uses up holds no one else back
        with Node.open(kor.dir, ManualClock(behind.now() + timedelta(seconds=3 * WINDOW))) as far:
            assert [r.status for r in receive_batch(far, envs[14:18], sender="JPN").receipts] == ["stored"] * 4
        assert [r.status for r in receive_batch(b, envs[18:], sender="JPN").receipts] == ["stored"]
    assert [s for s, _ in _received(kor, "JPN")] == list(range(1, 20))



def test_a_clock_hours_ahead_does_not_wipe_the_count_of_the_window_the_others_count_into(fed_pair):
    """A process whose clock is hours ahead counts into a window of its own, and dropped the rows
    of every window before the one before its own: the row the processes with the right time
    counted into went at each of its batches, so a partner whose batches reached both in turn was
    given the whole budget again by the right clock's process each time — no bound at all. The
    rows of the two newest windows are kept whatever their age: each side takes one budget."""
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    _limit(kor, "JPN", max_items_per_hour=2)
    from accord.federation import receive_batch

    envs = [seal(note(jpn, i), "KOR", i + 1, jpn.identity, clock.now()).to_json() for i in range(12)]
    right = ManualClock(clock.now())
    gone_wrong = ManualClock(clock.now() + timedelta(seconds=3 * WINDOW))
    stored = {"right": 0, "wrong": 0}
    with Node.open(kor.dir, right) as a, Node.open(kor.dir, gone_wrong) as b:
        at = 0
        for _ in range(3):   # the partner's batches reach the two processes in turn
            for name, node in (("right", a), ("wrong", b)):
                try:
                    ack = receive_batch(node, envs[at:at + 2], sender="JPN")
                except QuotaExceeded:
                    continue
                taken = sum(r.status == "stored" for r in ack.receipts)
                stored[name] += taken
                at += taken
    assert stored == {"right": 2, "wrong": 2}, stored   # one budget on either side of the wrong clock


def test_a_quota_changed_by_partner_add_holds_in_every_process_serving_the_directory_at_once(fed_pair):
    """``node partner add --max-items-per-hour`` rewrites ``node.yaml``; a process already serving
    the node from that directory (``--workers``, ``--join``) reads it again at its next look at
    the pins, so the new budget holds there without a restart."""
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    from accord.federation import receive_batch

    envs = [seal(note(jpn, i), "KOR", i + 1, jpn.identity, clock.now()).to_json() for i in range(6)]
    with Node.open(kor.dir, clock) as serving:
        assert [r.status for r in receive_batch(serving, envs[:2], sender="JPN").receipts] == ["stored"] * 2
        key = serving.partners()["JPN"].public_key_b64
        r = CliRunner().invoke(app, ["node", "partner", "add", "--dir", str(kor.dir), "--party", "JPN",
                                     "--key", key, "--max-items-per-hour", "3"])
        assert r.exit_code == 0, r.output
        assert quota.limits_for(serving, "JPN") == quota.Limits(3, quota.DEFAULT_MAX_BYTES)
        ack = receive_batch(serving, envs[2:], sender="JPN")
        assert [r.status for r in ack.receipts] == ["stored"] + ["rejected"] * 3
        with pytest.raises(QuotaExceeded):
            quota.admit(serving, "JPN")
        r = CliRunner().invoke(app, ["node", "partner", "add", "--dir", str(kor.dir), "--party", "JPN",
                                     "--key", key, "--max-items-per-hour", "0"])
        assert r.exit_code == 0, r.output
        assert [r.status for r in receive_batch(serving, envs[3:], sender="JPN").receipts] == ["stored"] * 3
