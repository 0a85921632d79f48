"""`accord node partner remove`: the key is unpinned, the rules naming the partner go, its
undelivered queue is held (delivered in order if it is pinned again), and the ledger says so."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from typer.testing import CliRunner

from accord import federation
from accord.cli.main import app
from accord.errors import NotFoundError, PolicyDenied
from accord.federation import Federation
from accord.federation.leases import lease_table
from accord.federation.outbox import pending, queue_depth
from accord.federation.tokens import create_token, list_tokens
from accord.node import Node

from federation_harness import NodeProcess, free_port, make_nodes, note, received, wait_for

runner = CliRunner()


@pytest.fixture
def nodes(tmp_path):
    return make_nodes(tmp_path, ("JPN", "KOR"))


def test_remove_unpins_deletes_its_rules_holds_its_queue_and_is_ledgered(nodes, tmp_path):
    jpn, kor = nodes["JPN"], nodes["KOR"]
    federation.add_rule(jpn, "test.*", "KOR")
    federation.add_rule(jpn, "warning.*", "*")
    federation.share(jpn, note(jpn, 1), "KOR")
    federation.share(jpn, note(jpn, 2), "KOR")
    create_token(jpn.conn, "kor-soc", "KOR", {"taxii.read:cyber"})
    create_token(jpn.conn, "ops", "JPN", {"status"})
    size = jpn.ledger.size

    out = federation.remove_partner(jpn, "KOR")
    assert out == {"party": "KOR", "fingerprint": kor.fingerprint, "rules_removed": 1,
                   "tokens_revoked": ["kor-soc"], "queue_held": 2}
    assert {t.name: t.revoked for t in list_tokens(jpn.conn)} == {"kor-soc": True, "ops": False}
    assert "KOR" not in jpn.partners() and "KOR" not in Node.open(tmp_path / "JPN").partners()
    assert federation.rules(jpn) == [("warning.*", "*")]
    entry = jpn.ledger.entry(size)
    assert (entry.type, entry.data) == ("partner.removed", out) and jpn.ledger.size == size + 1
    # nothing more goes to KOR: the policy refuses (its key no longer verifies the agreement)
    with pytest.raises((PolicyDenied, NotFoundError)):
        federation.share(jpn, note(jpn, 3), "KOR")
    assert federation.status(jpn)["partners"] == []
    # the queue is held, with its numbers: pinned again, KOR gets 1 and 2 in order, no gap
    assert [s for s, _ in pending(jpn, "KOR", 10)] == [1, 2]
    jpn.add_partner("KOR", kor.identity.public_b64)
    assert queue_depth(jpn, "KOR") == 2 and [s for s, _ in pending(jpn, "KOR", 10)] == [1, 2]
    assert federation.share(jpn, note(jpn, 4), "KOR").seq == 3


def test_removing_a_partner_that_is_not_pinned_changes_nothing(nodes):
    jpn = nodes["JPN"]
    size = jpn.ledger.size
    with pytest.raises(NotFoundError, match="USA is not a pinned partner"):
        federation.remove_partner(jpn, "USA")
    with pytest.raises(Exception, match="'KRO'"):
        federation.remove_partner(jpn, "KRO")
    assert jpn.ledger.size == size and set(jpn.partners()) == {"KOR"}


def test_cli_partner_remove(nodes, tmp_path):
    r = runner.invoke(app, ["node", "partner", "remove", "--dir", str(tmp_path / "JPN"), "--party", "KOR"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("removed KOR SHA256:") and "0 standing rule(s) deleted, 0 token(s) revoked, 0 queued" in r.stdout
    listed = runner.invoke(app, ["node", "partner", "list", "--dir", str(tmp_path / "JPN"), "--json"])
    assert json.loads(listed.stdout) == []
    r = runner.invoke(app, ["node", "partner", "remove", "--dir", str(tmp_path / "JPN"), "--party", "KOR"])
    assert isinstance(r.exception, NotFoundError)


def test_a_removal_by_another_process_takes_effect_in_a_running_node(nodes, tmp_path):
    """`accord node partner remove` beside a running `node serve`: the serving node (another
    Node on the same directory) stops trusting the key at once, without a restart."""
    serving = nodes["JPN"]
    kor = nodes["KOR"]
    assert "KOR" in serving.partner_keys()
    cli = Node.open(tmp_path / "JPN")
    federation.remove_partner(cli, "KOR")
    assert "KOR" not in serving.partner_keys() and "KOR" not in serving.partners()
    assert not serving.decide(note(serving, 9), "KOR").allowed
    cli.add_partner("KOR", kor.identity.public_b64)  # and a pin made elsewhere is seen too
    assert "KOR" in serving.partners()
    # a node.yaml broken meanwhile leaves the pins as they were
    (tmp_path / "JPN" / "node.yaml").write_text("party: [")
    assert "KOR" in serving.partners()


def test_a_rule_to_a_party_not_pinned_is_refused_in_one_line_naming_it(nodes, tmp_path):
    # `node rule add --to USA` on a node that has not pinned USA was taken without a word and
    # never sent anything (a rule only sends to pinned partners; unpinning deletes its rules)
    from accord.errors import InputError

    jpn_dir = str(tmp_path / "JPN")

    def rule_add(to):
        return runner.invoke(app, ["node", "rule", "add", "--dir", jpn_dir, "--kinds", "warning.*", "--to", to])

    r = rule_add("USA")
    assert isinstance(r.exception, InputError), r.output
    msg = str(r.exception)
    assert "\n" not in msg and "USA is not a pinned partner of JPN" in msg
    assert "accord node partner add --party USA" in msg
    assert federation.rules(nodes["JPN"]) == []
    assert rule_add("KOR").exit_code == 0 and rule_add("*").exit_code == 0
    assert federation.rules(nodes["JPN"]) == [("warning.*", "KOR"), ("warning.*", "*")]
    federation.remove_partner(nodes["JPN"], "KOR")        # unpinned: its rule goes, and a new one is refused
    assert isinstance(rule_add("KOR").exception, InputError)
    assert federation.rules(nodes["JPN"]) == [("warning.*", "*")]


# --- the delivery worker of a removed partner -------------------------------------------------
def _workers(party):
    """The live threads a delivery worker for ``party`` runs (its own, its acknowledgement helper)."""
    return sorted(t.name for t in threading.enumerate() if t.name.startswith((f"accord-deliver-{party}",
                                                                                f"accord-ack-{party}")))


def _inbox(node):
    return [tuple(r) for r in node.conn.execute(
        "SELECT seq, item_id, outcome FROM fed_inbox WHERE originator = 'JPN' ORDER BY seq")]


def _outbox(node):
    return [tuple(r) for r in node.conn.execute(
        "SELECT seq, item_id, state FROM fed_outbox WHERE recipient = 'KOR' ORDER BY seq")]


class _Readers:
    """Counts the readers the store hands out (``store.reader()``) that are still open."""

    def __init__(self, store, monkeypatch):
        self.open = 0
        real = store.reader

        def reader():
            conn = real()
            self.open += 1
            counter = self

            class Counted:
                def __getattr__(self, name):
                    return getattr(conn, name)

                def close(self):
                    counter.open -= 1
                    conn.close()
            return Counted()

        monkeypatch.setattr(store, "reader", reader)


@pytest.mark.parametrize("where", ["here", "elsewhere"])
def test_a_removed_partners_worker_retires_and_pinned_again_it_gets_the_held_queue_in_order(
        net_pair, tmp_path, monkeypatch, caplog, where):
    """Removed while it was unreachable (its worker backing off), here or by `accord node partner
    remove` in another process: the worker stops within a lease period (not at the end of its
    backoff), its reader closes, its lease goes back, and nothing more reaches the partner; pinned
    again, a new worker delivers the held rows in order."""
    (nodes, net) = net_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    readers = _Readers(jpn.store, monkeypatch)
    caplog.set_level(logging.INFO, logger="accord.federation")
    fed = Federation(jpn, net, poll_interval=0.05, lease_renew=0.1, backoff_base=300, backoff_cap=300,
                     head_interval=60)  # a failed delivery backs off for 30 s at least
    fed.start()
    try:
        federation.share(jpn, note(jpn, 1), "KOR")
        assert wait_for(lambda: len(_inbox(kor)) == 1)
        assert _workers("KOR") and readers.open == 1 and fed.leases.held() == ["KOR"]
        net.down("KOR")
        federation.share(jpn, note(jpn, 2), "KOR")
        federation.share(jpn, note(jpn, 3), "KOR")
        assert wait_for(lambda: any(getattr(r, "event", None) == "partner.unreachable" for r in caplog.records))
        remover = jpn if where == "here" else Node.open(tmp_path / "JPN")
        assert federation.remove_partner(remover, "KOR")["queue_held"] == 2
        net.up("KOR")
        assert wait_for(lambda: not _workers("KOR"), timeout=10), _workers("KOR")
        assert readers.open == 0 and fed.leases.held() == []
        assert [r[0] for r in lease_table(jpn.conn)] == []
        retired = [r for r in caplog.records if getattr(r, "event", None) == "partner.retired"]
        assert [(r.levelno, r.partner) for r in retired] == [(logging.INFO, "KOR")]
        # nothing reaches KOR any more: rows 2 and 3 are held
        assert [s for s, _, _ in _inbox(kor)] == [1]
        assert [state for _, _, state in _outbox(jpn)] == ["delivered", "queued", "queued"]

        remover.add_partner("KOR", kor.identity.public_b64)
        if remover is not jpn:
            remover.close()
        assert wait_for(lambda: len(_inbox(kor)) == 3, timeout=10), _inbox(kor)
        federation.share(jpn, note(jpn, 4), "KOR")
        assert wait_for(lambda: len(_inbox(kor)) == 4, timeout=10), _inbox(kor)
        assert _inbox(kor) == [(s, i, "stored") for s, i, _ in _outbox(jpn)]
        assert [s for s, _, _ in _inbox(kor)] == [1, 2, 3, 4]
        assert len([t for t in _workers("KOR") if t.startswith("accord-deliver-")]) == 1 and readers.open == 1
    finally:
        fed.stop()
    assert readers.open == 0


def test_a_batch_in_flight_when_the_partner_is_removed_is_settled_and_nothing_follows_it(net_pair, caplog):
    """The removal commits while a batch is on its way: its acknowledgement is applied (those rows
    are delivered), and no further batch is sent; the rest is held, and sent in order once the
    partner is pinned again."""
    (nodes, net) = net_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    for n in range(1, 7):
        federation.share(jpn, note(jpn, n), "KOR")
    sent = []

    class RemovingMidway:
        def send(self, node, party, envelopes):
            sent.append(len(envelopes))
            if len(sent) == 1:
                federation.remove_partner(jpn, "KOR")  # committed while this batch is in flight
            return net.send(node, party, envelopes)

        def __getattr__(self, name):
            return getattr(net, name)

    caplog.set_level(logging.INFO, logger="accord.federation")
    fed = Federation(jpn, RemovingMidway(), batch_size=2, poll_interval=0.05, lease_renew=0.1, head_interval=60)
    fed.start()
    try:
        assert wait_for(lambda: any(getattr(r, "event", None) == "partner.retired" for r in caplog.records))
        assert wait_for(lambda: not _workers("KOR"))
        assert sent == [2]
        assert [s for s, _, _ in _inbox(kor)] == [1, 2]
        assert [state for _, _, state in _outbox(jpn)] == ["delivered"] * 2 + ["queued"] * 4
        jpn.add_partner("KOR", kor.identity.public_b64)
        assert wait_for(lambda: len(_inbox(kor)) == 6, timeout=10), _inbox(kor)
        assert _inbox(kor) == [(s, i, "stored") for s, i, _ in _outbox(jpn)] and sent == [2, 2, 2]
    finally:
        fed.stop()


def test_partner_remove_beside_a_running_serve_retires_its_worker_and_partner_add_brings_one_back(tmp_path):
    """Real processes: `accord node partner remove` while `accord node serve` backs off from an
    unreachable KOR; the server's worker for KOR retires (one info line); `partner add` pins KOR
    again and the server delivers the held queue to it, in order."""
    ports = {"JPN": free_port(), "KOR": free_port()}
    nodes = make_nodes(tmp_path, ("JPN", "KOR"), ports=ports)
    jpn, kor = nodes["JPN"], nodes["KOR"]
    for i in range(3):
        federation.share(jpn, note(jpn, i), "KOR")
    key = kor.identity.public_b64
    for n in nodes.values():
        n.close()

    def lines():
        return [json.loads(line) for line in (jpn.dir / "serve.log").read_text().splitlines()
                if line.startswith("{")]

    def said(event):
        return [line for line in lines() if line.get("event") == event]

    server = NodeProcess(jpn.dir, ports["JPN"], args=["--log-format", "json"]).start()
    partner = NodeProcess(kor.dir, ports["KOR"])
    try:
        assert wait_for(lambda: said("partner.unreachable"))
        r = runner.invoke(app, ["node", "partner", "remove", "--dir", str(jpn.dir), "--party", "KOR"])
        assert r.exit_code == 0 and "3 queued" in r.stdout, r.output
        assert wait_for(lambda: said("partner.retired")), lines()[-5:]
        partner.start()
        r = runner.invoke(app, ["node", "partner", "add", "--dir", str(jpn.dir), "--party", "KOR", "--key", key,
                                "--url", f"http://127.0.0.1:{ports['KOR']}"])
        assert r.exit_code == 0, r.output
        assert wait_for(lambda: len(received(kor.dir, "JPN")) == 3, 60)
    finally:
        server.stop()
        partner.stop()
    assert [s for s, _ in received(kor.dir, "JPN")] == [1, 2, 3]
    retired = said("partner.retired")
    assert [(line["level"], line["partner"]) for line in retired] == [("info", "KOR")], retired


def test_a_removal_written_after_the_worker_looked_at_the_pins_stops_the_batch_it_read(net_pair, caplog):
    """The removal commits between the worker's look at the pins and its send (while it reads
    the batch from the outbox: a query, which may take a while on a loaded database): that batch
    is not sent — the pins are looked at again once the batch is read, just before it goes."""
    (nodes, net) = net_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    for n in range(1, 3):
        federation.share(jpn, note(jpn, n), "KOR")
    sent = []

    class Counting:
        def send(self, node, party, envelopes):
            sent.append(len(envelopes))
            return net.send(node, party, envelopes)

        def __getattr__(self, name):
            return getattr(net, name)

    caplog.set_level(logging.INFO, logger="accord.federation")
    fed = Federation(jpn, Counting(), poll_interval=0.05, lease_renew=0.1, head_interval=60)
    real = fed._pending_after

    def reading(reader, party, cursor):
        batch = real(reader, party, cursor)
        if batch and party == "KOR" and "KOR" in jpn.partners():
            federation.remove_partner(jpn, "KOR")  # written while the batch was being read
        return batch

    fed._pending_after = reading  # type: ignore[method-assign]
    fed.start()
    try:
        assert wait_for(lambda: any(getattr(r, "event", None) == "partner.retired" for r in caplog.records))
        assert wait_for(lambda: not _workers("KOR"))
        assert sent == [], "a batch was sent to a partner already removed"
        assert _inbox(kor) == [] and [state for _, _, state in _outbox(jpn)] == ["queued"] * 2
    finally:
        fed.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_that_died_is_replaced_by_the_lease_thread(net_pair, caplog):
    """A delivery worker killed by an error its loop does not catch (here in the bookkeeping of
    a failed delivery) is not left in the service's table as if it ran: the lease thread, which
    starts the worker of a partner pinned again, starts another, and the partner is delivered to."""
    (nodes, net) = net_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    fed = Federation(jpn, net, poll_interval=0.05, lease_renew=0.1, backoff_base=0.01, backoff_cap=0.05,
                     head_interval=60)
    real = fed._unreached
    died = threading.Event()

    def fatal(party, exc, reader):
        if not died.is_set() and threading.current_thread().name == "accord-deliver-KOR":
            died.set()
            raise RuntimeError("bookkeeping failed")
        return real(party, exc, reader)

    fed._unreached = fatal  # type: ignore[method-assign]
    net.down("KOR")
    federation.share(jpn, note(jpn, 1), "KOR")
    caplog.set_level(logging.INFO, logger="accord.federation")
    fed.start()
    try:
        assert died.wait(10)
        net.up("KOR")
        assert wait_for(lambda: len(_inbox(kor)) == 1, timeout=10), "the dead worker was never replaced"
    finally:
        fed.stop()


def test_a_thread_reading_the_pins_while_another_rereads_them_sees_the_removal(net_pair, tmp_path, monkeypatch):
    """`accord node partner remove` in another process rewrites node.yaml; two threads of the
    serving node (two delivery workers, or a worker and the lease thread) look at the pins at
    once. The one that finds the file changed rereads it; the other must not be told the old pins
    meanwhile as if they were current (it would send a batch to the partner just removed)."""
    from accord.node import node as node_module

    (nodes, _net) = net_pair
    jpn = nodes["JPN"]
    other = Node.open(tmp_path / "JPN")
    try:
        federation.remove_partner(other, "KOR")
    finally:
        other.close()
    reading, release = threading.Event(), threading.Event()
    real = node_module._read_config

    def slow_read(path):
        if threading.current_thread().name == "rereads":
            reading.set()
            release.wait(30)
        return real(path)

    monkeypatch.setattr(node_module, "_read_config", slow_read)
    seen: dict[str, dict] = {}
    first = threading.Thread(target=lambda: seen.setdefault("first", jpn.partners()), name="rereads")
    first.start()
    assert reading.wait(30)
    second_done = threading.Event()

    def second_look():
        seen["second"] = jpn.partners()
        second_done.set()

    second = threading.Thread(target=second_look)
    second.start()
    second_done.wait(1.0)  # (a bound: the second look may wait for the first one's reading)
    release.set()
    first.join(30)
    second.join(30)
    assert "KOR" not in seen["first"]
    assert "KOR" not in seen["second"], "the old pins were given while node.yaml was being reread"


def test_a_tree_head_check_cut_by_the_removal_does_not_report_the_partner_unreachable(net_pair, caplog):
    """The tree-head thread was checking KOR when KOR was removed and its check failed: a partner
    no longer pinned has no outage to report (the operator would read a stale "unreachable")."""
    from accord.errors import FederationError

    (nodes, net) = net_pair
    jpn = nodes["JPN"]
    checked = threading.Event()

    class RemovedWhileChecking:
        def get_checkpoint(self, node, party):
            federation.remove_partner(jpn, "KOR")
            checked.set()
            raise FederationError("KOR at http://kor.example unreachable: ConnectionResetError")

        def __getattr__(self, name):
            return getattr(net, name)

    caplog.set_level(logging.INFO, logger="accord.federation")
    fed = Federation(jpn, RemovedWhileChecking(), poll_interval=0.05, lease_renew=0.1, head_interval=0.05)
    fed.start()
    try:
        assert checked.wait(10)
        assert wait_for(lambda: any(getattr(r, "event", None) == "partner.retired" for r in caplog.records))
    finally:
        fed.stop()
    events = [getattr(r, "event", None) for r in caplog.records if getattr(r, "partner", None) == "KOR"]
    assert "partner.unreachable" not in events, events


def test_a_lease_taken_as_the_partner_is_removed_is_given_back_and_starts_no_worker(net_pair, caplog):
    """The lease thread read the pins, then KOR was removed (its worker retiring gave the lease
    back) before the refresh took the free lease again: the lease is given back at once and no
    worker starts only to retire."""
    (nodes, net) = net_pair
    jpn = nodes["JPN"]
    caplog.set_level(logging.INFO, logger="accord.federation")
    fed = Federation(jpn, net, poll_interval=0.05, lease_renew=0.05, head_interval=60)
    refresh = fed.leases.refresh
    removed = threading.Event()

    def removal_meanwhile(partners):
        partners = list(partners)
        if "KOR" in partners and not removed.is_set() and "KOR" in fed.leases.held():
            federation.remove_partner(jpn, "KOR")
            assert wait_for(lambda: any(getattr(r, "event", None) == "partner.retired" for r in caplog.records))
            removed.set()
        return refresh(partners)

    fed.leases.refresh = removal_meanwhile
    fed.start()
    try:
        assert removed.wait(10)
        assert wait_for(lambda: "KOR" not in fed.leases.held())
        assert wait_for(lambda: not _workers("KOR"))
        threading.Event().wait(0.3)   # several lease rounds
        assert not _workers("KOR") and "KOR" not in fed.leases.held()
        assert jpn.conn.execute("SELECT COUNT(*) FROM partner_leases WHERE partner = 'KOR'").fetchone()[0] == 0
    finally:
        fed.stop()
    events = [getattr(r, "event", None) for r in caplog.records if getattr(r, "partner", None) == "KOR"]
    assert events.count("partner.retired") == 1, events
