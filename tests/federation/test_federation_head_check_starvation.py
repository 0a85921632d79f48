"""More partners holding their tree-head checks than there are check places (``HEAD_CHECKERS``)
cannot keep an honest partner's check from running: a check past ``HEAD_CHECK_SLOW`` (shrunk
here) gives its place up.

Ten hostile partners, all ordered before the honest one (USA), hold every request until the test
lets them go — as partners dripping their answers up to the deadline do. The honest partner's
check must complete while every hostile one is still held: the order of events is asserted, the
waits are only guards against a hang.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.errors import FederationError
from accord.federation import Federation, InProcessNetwork
from accord.federation import service as service_module
from accord.federation.service import HEAD_CHECKERS
from federation_harness import make_nodes

HOSTILE = ("AUS", "BEL", "CAN", "DEU", "DNK", "ESP", "FRA", "GBR", "ITA", "NLD")


@contextmanager
def _serving_hostile_partners(tmp_path, net: InProcessNetwork, let_go: threading.Event) -> Iterator[None]:
    """KOR, pinning USA and the :data:`HOSTILE` partners (keys of no node), checks their tree heads
    over ``net`` (``net.fed`` its :class:`Federation`) until the block ends; then ``let_go`` is set
    (whatever the hostile partners hold is let go) and everything stopped and closed."""
    nodes = make_nodes(tmp_path, ("KOR", "USA"))
    kor = nodes["KOR"]
    for party in HOSTILE:
        key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        kor.add_partner(party, base64.b64encode(key).decode())
    for n in nodes.values():
        net.attach(n)
    fed = Federation(kor, net, head_interval=0.02, poll_interval=0.05)
    net.fed = fed  # (Held looks at its checkers)
    fed.start()
    try:
        yield
    finally:
        let_go.set()
        fed.stop()
        for n in nodes.values():
            n.close()


class Held(InProcessNetwork):
    """The hostile partners' requests are held until ``release`` is set, then fail as a partner
    past the deadline does; USA is answered in process, ``honest_done`` set once its check
    (the head, then the gossip that follows it) has been made."""

    def __init__(self):
        super().__init__()
        self.release, self.honest_done = threading.Event(), threading.Event()
        self.lock = threading.Lock()
        self.finished: list[str] = []  # hostile requests ended, in order
        self.fed: Federation | None = None
        self.hostile_on_their_way = 0  # hostile checks running when USA's was made

    def get_checkpoint(self, node, party):
        if party not in HOSTILE:
            return super().get_checkpoint(node, party)
        self.release.wait(60)
        with self.lock:
            self.finished.append(party)
        raise FederationError(f"{party} at https://{party.lower()}.test unreachable: no whole answer within 60 s")

    def get_heads(self, node, party):
        answer = super().get_heads(node, party)
        if party == "USA" and not self.honest_done.is_set():
            checkers = dict(self.fed._checkers)
            self.hostile_on_their_way = sum(1 for p, t in checkers.items() if p in HOSTILE and t.is_alive())
            self.honest_done.set()
        return answer


def test_hostile_partners_past_the_check_places_do_not_starve_an_honest_one(tmp_path, monkeypatch):
    assert len(HOSTILE) > HEAD_CHECKERS and all(p < "USA" for p in HOSTILE)
    monkeypatch.setattr(service_module, "HEAD_CHECK_SLOW", 0.05, raising=False)
    net = Held()
    with _serving_hostile_partners(tmp_path, net, net.release):
        checked = net.honest_done.wait(30)  # a hang guard: it comes as soon as a place is given up
        with net.lock:
            finished = list(net.finished)
    assert checked, "USA's tree head was never checked while the hostile partners held their checks"
    assert finished == []  # USA's check completed before any hostile one ended
    assert net.hostile_on_their_way >= HEAD_CHECKERS  # … with every place taken by a hostile check first


class Quick(InProcessNetwork):
    """The hostile partners answer each check only just inside ``HEAD_CHECK_SLOW`` (then fail),
    so their checks never give their places up; USA is answered in process."""

    def __init__(self, hold):
        super().__init__()
        self.hold, self.honest_done = hold, threading.Event()

    def get_checkpoint(self, node, party):
        if party not in HOSTILE:
            answer = super().get_checkpoint(node, party)
            self.honest_done.set()
            return answer
        self.honest_done.wait(self.hold)
        raise FederationError(f"{party} at https://{party.lower()}.test unreachable: refused")


def test_partners_answering_just_inside_the_slow_mark_do_not_starve_an_honest_one(tmp_path, monkeypatch):
    """Checks were started in the partners' name order each round: eight or more partners whose
    checks end just before ``HEAD_CHECK_SLOW`` — so never give their places up — got their places
    back first at every round, and a partner named after them was never checked. The partner
    whose check started longest ago (or never) goes first."""
    monkeypatch.setattr(service_module, "HEAD_CHECK_SLOW", 1.0, raising=False)
    net = Quick(hold=0.3)
    with _serving_hostile_partners(tmp_path, net, net.honest_done):
        checked = net.honest_done.wait(10)  # a hang guard: once a place is free, USA's turn is next
    assert checked, "USA's tree head was never checked while the hostile partners took every place in turn"
