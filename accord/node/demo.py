"""A small end-to-end run of the trust core: three nodes, two agreements, items shared and refused.

:func:`run_demo` builds JPN, KOR and USA nodes in a directory, pins their keys to each other,
has the parties sign a bilateral JPN–KOR agreement and a trilateral warning agreement, then
sends items between them directly through the core — policy (:func:`accord.core.policy.decide`)
on the sender, a sealed envelope, :func:`accord.core.envelopes.verify_envelope` and policy again
on the receiver, storage and ledger events on both sides — including a forged, a tampered and a
replayed envelope. Every node's ledger is verified at the end. The federation layer (outbox,
inbox, HTTP) does the same steps durably; this demo shows them in one process without it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from accord.store.base import transaction
from accord.clock import ManualClock, to_rfc3339
from accord.core.agreements import new_agreement, sign_agreement
from accord.core.envelopes import Envelope, seal, verify_envelope
from accord.core.identity import Identity
from accord.core.items import Item, new_item
from accord.core.markings import Marking
from accord.errors import AccordError, InputError, VerificationError
from accord.node.node import Node

PARTIES = ("JPN", "KOR", "USA")
START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


@dataclass
class Exchange:
    """One attempted transfer and what happened to it."""

    step: str
    sender: str
    recipient: str
    kind: str
    marking: str
    outcome: str            # "delivered" | "refused by sender" | "rejected by recipient"
    reason: str
    item_id: str | None = None

    def to_json(self) -> dict:
        return self.__dict__.copy()


@dataclass
class DemoResult:
    directory: Path
    exchanges: list[Exchange] = field(default_factory=list)
    ledgers: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"directory": str(self.directory), "exchanges": [e.to_json() for e in self.exchanges],
                "ledgers": self.ledgers}


class _Wire:
    """Sequence numbers per (sender, recipient) on both sides, as federation persists them."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, str], int] = {}
        self.accepted: dict[tuple[str, str], int] = {}

    def next_seq(self, a: str, b: str) -> int:
        self.sent[(a, b)] = self.sent.get((a, b), 0) + 1
        return self.sent[(a, b)]


def _receive(node: Node, wire: _Wire, raw: bytes) -> Item:
    """Verify an envelope at ``node``, check policy, then store + ledger ``item.received`` atomically."""
    env = Envelope.from_bytes(raw)
    last = wire.accepted.get((env.originator, node.party), 0)
    item = verify_envelope(env, recipient=node.party, keys=node.partner_keys(), last_seq=last,
                           now=node.clock.now())
    node.decide(item, node.party).raise_if_denied(item, node.party)
    with node.write_lock, transaction(node.conn):
        node.store_received([item])
        node.ledger.append("item.received", {"item_id": item.id, "kind": item.kind, "from": env.originator,
                                             "seq": env.seq, "digest": item.digest()}, time=node.clock.now())
    wire.accepted[(env.originator, node.party)] = env.seq
    return item


def _reject(node: Node, sender: str, exc: AccordError, item_id: str | None) -> str:
    reason = re.sub(r"(SHA256:[0-9a-f]{12})[0-9a-f]{52}", r"\1…", f"{type(exc).__name__}: {exc}")
    node.ledger.append("item.rejected", {"from": sender, "item_id": item_id, "reason": reason[:500]},
                       time=node.clock.now())
    return reason


def run_demo(directory: str | Path) -> DemoResult:
    """Run the demo in ``directory`` (created; must not already hold nodes)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clock = ManualClock(START)
    nodes = {p: Node.init(directory / p.lower(), p, clock) for p in PARTIES}
    try:
        return _play(directory, nodes, clock)
    finally:
        for n in nodes.values():
            n.close()


def _play(directory: Path, nodes: dict[str, Node], clock: ManualClock) -> DemoResult:
    result = DemoResult(directory)
    for a in nodes.values():
        for b in nodes.values():
            if a is not b:
                a.add_partner(b.party, b.identity.public_b64, f"http://127.0.0.1/{b.party.lower()}")
    keys = {p: n.identity.public_key for p, n in nodes.items()}
    until = START + timedelta(days=365)

    bilateral = new_agreement("jpn-kor-bilateral", ["JPN", "KOR"], {p: keys[p] for p in ("JPN", "KOR")},
                              [("JPN", "KOR", ["warning.*"], "SECRET"), ("KOR", "JPN", ["warning.*"], "SECRET"),
                               ("JPN", "KOR", ["intel.*"], "CONFIDENTIAL"), ("KOR", "JPN", ["intel.*"], "CONFIDENTIAL")],
                              START, until, title="JPN–KOR missile warning and cyber intelligence (GSOMIA levels)")
    trilateral = new_agreement("trilateral-warning", list(PARTIES), keys,
                               [(a, b, ["warning.alert", "warning.prediction"], "CONFIDENTIAL")
                                for a in PARTIES for b in PARTIES if a != b],
                               START, until, title="JPN–KOR–USA real-time missile warning data sharing")
    for agreement in (bilateral, trilateral):
        for p in agreement.parties:
            agreement = sign_agreement(agreement, nodes[p].identity)
        agreement.save(directory / f"{agreement.id}.yaml")
        for p in agreement.parties:
            nodes[p].add_agreement(agreement)

    wire = _Wire()
    sent: dict[str, bytes] = {}

    def share(step: str, sender: str, to: str, kind: str, banner: str, body: dict) -> None:
        clock.advance(1.0)
        node = nodes[sender]
        item = node.put_item(new_item(kind, body, Marking.parse(banner), sender, clock.now()))
        decision = node.decide(item, to)
        if not decision.allowed:
            no = decision.refusals
            reasons = "; ".join([r.text for r in no if r.code != "none-allows"] or [r.text for r in no])
            node.ledger.append("item.rejected", {"to": to, "item_id": item.id, "reason": ("policy: " + reasons)[:500]},
                               time=clock.now())
            result.exchanges.append(Exchange(step, sender, to, kind, banner, "refused by sender", reasons, item.id))
            return
        raw = seal(item, to, wire.next_seq(sender, to), node.identity, clock.now()).to_bytes()
        node.ledger.append("item.shared", {"item_id": item.id, "to": to, "agreement": decision.agreement_id,
                                           "digest": item.digest()}, time=clock.now())
        sent[step] = raw
        deliver(step, sender, to, kind, banner, raw, item.id)

    def deliver(step: str, sender: str, to: str, kind: str, banner: str, raw: bytes, item_id: str | None) -> None:
        clock.advance(0.2)
        try:
            got = _receive(nodes[to], wire, raw)
            result.exchanges.append(Exchange(step, sender, to, kind, banner, "delivered",
                                             f"verified, allowed under {nodes[to].decide(got, to).agreement_id}",
                                             got.id))
        except (VerificationError, InputError, AccordError) as exc:
            reason = _reject(nodes[to], sender, exc, item_id)
            result.exchanges.append(Exchange(step, sender, to, kind, banner, "rejected by recipient", reason, item_id))

    track = {"track_id": "T-0007", "phase": "ballistic", "position_ecef_m": [-3.43e6, 3.98e6, 3.84e6],
             "velocity_ecef_m_s": [1200.0, -800.0, 1500.0], "note": "simulated"}
    share("1", "JPN", "KOR", "warning.track", "SECRET//REL TO JPN, KOR", track)
    share("2", "JPN", "USA", "warning.track", "SECRET//REL TO JPN, KOR", track)
    alert = {"headline": "Simulated ballistic missile: impact predicted at sea", "urgency": "Immediate"}
    share("3", "JPN", "KOR", "warning.alert", "CONFIDENTIAL//REL TO JPN, KOR, USA", alert)
    share("4", "JPN", "USA", "warning.alert", "CONFIDENTIAL//REL TO JPN, KOR, USA", alert)
    share("5", "USA", "JPN", "warning.prediction", "CONFIDENTIAL//REL TO JPN, KOR, USA",
          {"impact_lat": 40.1, "impact_lon": 135.2, "ellipse_95_km": [12.0, 4.0], "note": "simulated"})
    share("6", "USA", "KOR", "warning.track", "SECRET//REL TO JPN, KOR, USA", track)
    share("7", "JPN", "USA", "warning.alert", "SECRET//REL TO JPN, KOR, USA", alert)
    stix = {"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix"}
    share("8", "KOR", "JPN", "intel.stix", "CONFIDENTIAL//REL TO JPN, KOR//TLP:AMBER", stix)
    share("9", "KOR", "JPN", "intel.stix", "CONFIDENTIAL//REL TO JPN, KOR//TLP:RED", stix)

    # attacks on the wire: a forger with its own key claiming to be JPN, a tampered and a replayed envelope
    clock.advance(1.0)
    forger = Identity.generate("JPN")
    fake = new_item("warning.alert", {"headline": "FAKE: all clear"}, Marking.parse("CONFIDENTIAL//REL TO JPN, KOR, USA"),
                    "JPN", clock.now())
    deliver("10", "JPN?", "KOR", fake.kind, str(fake.marking),
            seal(fake, "KOR", wire.sent.get(("JPN", "KOR"), 0) + 1, forger, clock.now()).to_bytes(), fake.id)
    tampered = json.loads(sent["1"])
    tampered["item"]["marking"]["classification"] = "UNCLASSIFIED"
    deliver("11", "JPN", "KOR", "warning.track", "SECRET→UNCLASSIFIED in transit",
            json.dumps(tampered).encode(), tampered["item"]["id"])
    deliver("12", "JPN", "KOR", "warning.track", "SECRET//REL TO JPN, KOR (replay of 1)", sent["1"],
            tampered["item"]["id"])

    for p, n in nodes.items():
        head = n.ledger.verify()
        events: dict[str, int] = {}
        for e in n.ledger.entries():
            events[e.type] = events.get(e.type, 0) + 1
        result.ledgers[p] = {"size": head.size, "root": head.root_hash.hex(), "verified": True,
                             "items": len(n.items()), "events": events,
                             "checkpoint": n.ledger.checkpoint(), "at": to_rfc3339(clock.now())}
    return result
