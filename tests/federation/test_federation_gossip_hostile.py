"""Tree-head gossip under hostile answers and honest load: a relayed answer that is malformed,
too large, too long or full of notes that do not verify under the third party's pinned key is
refused in one line (or its entries skipped) and flags nobody; honest nodes growing their ledgers
while they gossip are never flagged; the partner route answers only pinned partners."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.core.checkpoint import Checkpoint, sign_checkpoint
from accord.core.identity import Identity
from accord.errors import FederationError
from accord.federation import Federation, InProcessNetwork
from accord.federation.gossip import MAX_ANSWER_BYTES, MAX_HEADS, exchange_heads
from accord.federation.httpsig import sign_request
from accord.federation.treeheads import check_partner_head, local_checkpoint
from federation_harness import note


class Relays(InProcessNetwork):
    """The in-process network, with KOR's gossip answer replaced by the test's bytes."""

    def __init__(self, nodes, answer=None):
        super().__init__()
        for n in nodes.values():
            self.attach(n)
        self.answer = answer
        self.asked = 0

    def get_heads(self, node, party):
        with self._lock:
            self.asked += 1
        return self.answer if self.answer is not None else super().get_heads(node, party)


def _nobody_flagged(nodes):
    for n in nodes.values():
        assert [tuple(r) for r in n.conn.execute("SELECT party FROM fed_partner_state WHERE inconsistent "
                                                 "IS NOT NULL")] == [], n.party
        assert n.conn.execute("SELECT COUNT(*) FROM ledger_leaves WHERE type='partner.equivocated'").fetchone()[0] == 0


def _heads(entries):
    return json.dumps({"party": "KOR", "heads": entries}).encode()


@pytest.fixture
def trio(net_trio):
    """JPN, KOR and USA on one network, each having verified the others' heads."""
    nodes, _ = net_trio
    for n in nodes.values():
        n.put_item(note(n, 1, kind="warning.track"))
    net = Relays(nodes)
    for me in nodes.values():
        for p in nodes:
            if p != me.party:
                check_partner_head(me, p, net)
    return nodes, net


WHOLE = {
    "not JSON": b"{\"heads\": [",
    "not an object": b"[1, 2, 3]",
    "heads not a list": _heads("USA"),
    "too many entries": _heads([{"party": "USA", "note": "x"}] * (MAX_HEADS + 1)),
    "thousands of entries": _heads([{"party": "USA", "note": "x"}] * 5000),
    "too large": b" " * (MAX_ANSWER_BYTES + 1),
}


@pytest.mark.parametrize("case", WHOLE)
def test_a_malformed_answer_is_refused_in_one_line_and_flags_nobody(trio, case):
    nodes, net = trio
    net.answer = WHOLE[case]
    with pytest.raises(FederationError) as err:
        exchange_heads(nodes["JPN"], "KOR", net)
    assert "\n" not in str(err.value) and "KOR" in str(err.value)
    _nobody_flagged(nodes)


def test_entries_that_do_not_verify_under_the_pinned_key_are_skipped_and_flag_nobody(trio):
    nodes, net = trio
    usa, kor = nodes["USA"], nodes["KOR"]
    origin = usa.origin
    forged = Checkpoint(origin, 3, b"\x01" * 32)
    good = local_checkpoint(usa)
    entries = [
        {"party": "USA", "note": sign_checkpoint(forged, Identity.generate("USA"))},   # another key, USA's name
        {"party": "USA", "note": sign_checkpoint(forged, kor.identity, origin)},        # the relayer forging it
        {"party": "USA", "note": "accord.node/USA/x\n99999999999999999999999\nAAAA\n\n— x AAAAAAAA\n"},
        {"party": "USA", "note": "garbage"},
        {"party": "USA", "note": "n" * 100_000},
        {"party": "ZZZ", "note": good},                                                # not pinned
        {"party": "KOR", "note": local_checkpoint(kor)},                               # the relayer itself
        {"party": "JPN", "note": local_checkpoint(nodes["JPN"])},                      # the requester
        {"party": 7, "note": None},
        "USA",
        {"party": "USA", "note": good},                                                # the real one
        {"party": "USA", "note": good},                                                # listed twice
    ]
    net.answer = _heads(entries)
    result = exchange_heads(nodes["JPN"], "KOR", net)
    assert result.agreed == ["USA"] and result.equivocated == []
    assert len(result.skipped) == len(entries) - 1
    assert all("\n" not in s for s in result.skipped)
    _nobody_flagged(nodes)


def test_a_note_of_a_party_signed_under_an_older_pin_flags_nobody(trio):
    """The relayer may be behind a key rotation: its note of USA is signed by USA's old key."""
    nodes, net = trio
    old = Identity.generate("USA")
    from accord.core.checkpoint import origin_for
    cp = Checkpoint(origin_for("USA", old.public_key), 1000, b"\x02" * 32)
    net.answer = _heads([{"party": "USA", "note": sign_checkpoint(cp, old)}])
    result = exchange_heads(nodes["JPN"], "KOR", net)
    assert result.equivocated == [] and len(result.skipped) == 1
    _nobody_flagged(nodes)


def test_honest_nodes_growing_while_they_gossip_are_never_flagged(net_trio):
    """Three honest nodes append from their own threads while every node's tree-head thread
    checks and gossips as often as it can; then one last exchange in every direction compares
    heads of different sizes (a proof fetched each time) and agrees."""
    nodes, _ = net_trio
    net = Relays(nodes)
    feds = {p: Federation(n, net, head_interval=0.005, gossip_interval=0.0, poll_interval=0.05)
            for p, n in nodes.items()}
    for f in feds.values():
        f.start()
    try:
        def grow(n):  # until the nodes have gossiped 60 times (at most 2,000 entries each)
            for i in range(2000):
                n.put_item(note(n, 1000 + i, kind="warning.track"))
                if net.asked >= 60 and i >= 20:
                    break

        threads = [threading.Thread(target=grow, args=(n,)) for n in nodes.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for f in feds.values():
            f.stop()
    assert net.asked >= 60
    for i, me in enumerate(nodes.values()):  # each node's heads of the others of another size
        for p in nodes:
            if p != me.party:
                check_partner_head(me, p, net)
        for n in nodes.values():
            n.put_item(note(n, 5000 + i, kind="warning.track"))
    compared = 0
    for me in nodes.values():
        for relayer in nodes:
            if relayer != me.party:
                result = exchange_heads(me, relayer, net)
                assert result.equivocated == [] and result.skipped == [] and result.unproven == []
                compared += len(result.agreed)
    assert compared == 6
    _nobody_flagged(nodes)


def test_the_heads_route_answers_pinned_partners_only_and_never_their_own_head(trio):
    nodes, _ = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    client = TestClient(create_app(kor), raise_server_exceptions=True)
    assert client.get("/federation/v1/heads").status_code == 401
    stranger = Identity.generate("JPN")
    headers = sign_request(stranger, "GET", "/federation/v1/heads", "", b"", datetime.now(UTC), "KOR")
    assert client.get("/federation/v1/heads", headers=headers).status_code == 401
    headers = sign_request(jpn.identity, "GET", "/federation/v1/heads", "", b"", datetime.now(UTC), "KOR")
    r = client.get("/federation/v1/heads", headers=headers)
    assert r.status_code == 200, r.text
    stored = kor.conn.execute("SELECT head_note FROM fed_partner_state WHERE party='USA'").fetchone()[0]
    assert r.json() == {"party": "KOR", "heads": [{"party": "USA", "note": stored}]}


def test_an_endless_answer_over_http_is_read_only_to_the_cap_and_refused(trio):
    """HttpTransport stops reading a relayed answer one byte past the cap: a partner streaming
    without end costs the requester at most that much."""
    from contextlib import contextmanager

    import httpx

    from accord.federation.transport import HttpTransport

    nodes, _ = trio
    sent = []

    def endless():
        for _ in range(1000):  # 64 MiB, were it all read
            sent.append(1)
            yield b" " * 65536

    def answer(request):
        assert request.url.path == "/federation/v1/heads" and "signature" in request.headers
        return httpx.Response(200, content=endless())

    class Endless(HttpTransport):  # KOR answers from the test (no request leaves the process)
        @contextmanager
        def _client(self, node, party):
            with httpx.Client(base_url="http://kor.test", transport=httpx.MockTransport(answer)) as client:
                yield client, "http://kor.test"

    transport = Endless()
    try:
        body = transport.get_heads(nodes["JPN"], "KOR")
        assert len(body) == MAX_ANSWER_BYTES + 1 and len(sent) < 20
        with pytest.raises(FederationError, match="over"):
            exchange_heads(nodes["JPN"], "KOR", transport)
    finally:
        transport.close()
    _nobody_flagged(nodes)


def test_honest_nodes_in_any_order_of_growth_checks_and_gossip_are_never_flagged(tmp_path_factory):
    """Property: whatever the interleaving of appends, tree-head checks and gossip exchanges
    among three honest nodes, nobody is flagged and every comparison made agrees."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from federation_harness import networked

    parties = ("JPN", "KOR", "USA")
    op = st.tuples(st.sampled_from(("grow", "check", "gossip")), st.sampled_from(parties), st.sampled_from(parties))

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(op, min_size=1, max_size=30))
    def run(ops):
        with networked(tmp_path_factory.mktemp("honest")) as (nodes, net):
            for i, (kind, a, b) in enumerate(ops):
                if kind == "grow":
                    nodes[a].put_item(note(nodes[a], i, kind="warning.track"))
                elif a != b and kind == "check":
                    assert check_partner_head(nodes[a], b, net).consistent
                elif a != b:
                    result = exchange_heads(nodes[a], b, net)
                    assert result.equivocated == [] and result.skipped == []
            _nobody_flagged(nodes)

    run()


def test_a_party_pinned_again_with_another_key_during_a_comparison_is_not_flagged(trio, monkeypatch):
    """The keys are read before the comparison, the pin inside it: USA pinned again with a new
    key in between had it flagged under the new pin on two notes signed by the old key."""
    import accord.federation.gossip as gossip
    from accord.core.checkpoint import origin_for

    nodes, net = trio
    jpn, usa = nodes["JPN"], nodes["USA"]
    size = jpn.conn.execute("SELECT head_size FROM fed_partner_state WHERE party='USA'").fetchone()[0]
    other = Checkpoint(origin_for("USA", usa.identity.public_key), size, b"\x03" * 32)
    net.answer = _heads([{"party": "USA", "note": sign_checkpoint(other, usa.identity)}])  # an equivocation
    pinned = jpn.partners()["USA"]
    real_open = gossip.open_checkpoint
    repinned = []

    def open_then_repin(*args, **kwargs):
        if not repinned:
            repinned.append(True)
            jpn.add_partner("USA", Identity.generate("USA").public_b64, url=pinned.url, replace=True)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(gossip, "open_checkpoint", open_then_repin)
    result = exchange_heads(jpn, "KOR", net)
    assert repinned and result.equivocated == [] and "pinned again" in result.unproven[0]
    _nobody_flagged(nodes)
    jpn.add_partner("USA", usa.identity.public_b64, url=pinned.url, replace=True)  # the same answer, pinned as it was: flagged
    monkeypatch.setattr(gossip, "open_checkpoint", real_open)
    assert exchange_heads(jpn, "KOR", net).equivocated == ["USA"]
