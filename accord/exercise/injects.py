"""The scenario's injects, played against the running nodes: a forged envelope, a replayed one,
a policy-violating share, a node crash and a ledger rewrite. Each must be caught by the real
components; :class:`Injects` records what happened to each (``caught``, ``how``), and the
metrics settle the two that can only be judged at the end (a crash: nothing lost or duplicated
after the restart; a rewrite: every partner flagged the node inconsistent).
"""

from __future__ import annotations

from typing import Any

from accord.core.canonical import parse_json_strict
from accord.core.envelopes import seal
from accord.core.identity import Identity
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.errors import AccordError, PolicyDenied
from accord.exercise.nodes import World
from accord.federation import receive_batch
from accord.federation.outbox import share_many
from accord.store.base import transaction

#: the marking of the exercise's shared tracks (and of the forged inject)
TRACK_MARKING = "CONFIDENTIAL//REL TO JPN, KOR, USA"


class Injects:
    """Plays injects on ``world``; ``played`` holds one record per inject played."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.played: list[dict[str, Any]] = []
        self._deferred: list[Any] = []

    def play(self, inj: Any) -> None:
        rec: dict[str, Any] = {"t": inj.t, "type": inj.type, "node": inj.node, "to": inj.to, "caught": False}
        self.played.append(rec)
        try:
            getattr(self, f"_{inj.type}")(inj, rec)
        except AccordError as exc:  # the inject itself could not be played
            rec["how"] = f"inject failed to play: {exc}"

    def play_retries(self, t: float) -> None:
        """Play again the injects postponed to ``t`` or before."""
        retry, self._deferred = self._deferred, []
        for inj in retry:
            if inj.t <= t:
                self.play(inj)
            else:
                self._deferred.append(inj)

    def _retry_next_second(self, inj: Any, rec: dict[str, Any], why_not: str) -> None:
        """Play ``inj`` again a second later or, at the end of the run, record it as not played
        (``why_not``)."""
        if inj.t + 1 <= self.world.s.duration_s:
            self._deferred.append(inj.model_copy(update={"t": inj.t + 1}))
            self.played.remove(rec)
        else:
            rec["how"] = why_not

    def _postpone_while_down(self, inj: Any, rec: dict[str, Any], *parties: str) -> bool:
        """True if a node ``inj`` acts on is down (crashed, not yet restarted): the inject is then
        played again a second later, or — at the end of the run — recorded as not played."""
        down = [p for p in parties if self.world.states[p].node is None]
        if not down:
            return False
        self._retry_next_second(inj, rec, f"{', '.join(down)} down until the end of the run: the inject could "
                                          "not be played")
        return True

    def _forged_envelope(self, inj: Any, rec: dict[str, Any]) -> None:
        if self._postpone_while_down(inj, rec, inj.to):
            return
        target = self.world.states[inj.to].node
        assert target is not None
        now = self.world.clock.now()
        forger = Identity.generate(inj.node)  # right name, wrong key
        item = new_item(inj.kind, {"note": "forged by exercise inject"}, Marking.parse(TRACK_MARKING), inj.node, now)
        env = seal(item, inj.to, 10**9, forger, now).to_bytes()
        before = len(target.items())
        ack = receive_batch(target, [parse_json_strict(env)], sender=inj.node)
        r = ack.receipts[0]
        rec["caught"] = r.status == "rejected" and len(target.items()) == before
        rec["how"] = f"{inj.to} rejected it: {r.code}"

    def _replay(self, inj: Any, rec: dict[str, Any]) -> None:
        sender, target = self.world.states[inj.node].node, self.world.states[inj.to].node
        row = None
        if sender is not None:
            row = sender.conn.execute(
                "SELECT envelope FROM fed_outbox WHERE recipient=? AND state='delivered' ORDER BY seq DESC LIMIT 1",
                (inj.to,)).fetchone()
        if row is None or target is None:
            # nothing delivered yet on that link (or the target is down): try again next second
            self._retry_next_second(inj, rec, f"nothing from {inj.node} to {inj.to} was ever delivered to replay")
            return
        env = bytes(row[0])
        before = len(target.items())
        ack = receive_batch(target, [parse_json_strict(env)], sender=inj.node)
        r = ack.receipts[0]
        rec["caught"] = r.status in ("duplicate", "rejected") and len(target.items()) == before
        rec["how"] = f"{inj.to} answered {r.status} ({r.code or 'already applied'}); nothing stored twice"

    def _policy_violation(self, inj: Any, rec: dict[str, Any]) -> None:
        if self._postpone_while_down(inj, rec, inj.node, inj.to):  # both sides' policy is checked
            return
        sender, target = self.world.states[inj.node].node, self.world.states[inj.to].node
        assert sender is not None and target is not None
        banner = f"{inj.classification}//REL TO {inj.node}, {inj.to}"
        item = new_item(inj.kind, {"note": "policy-violating share attempt (exercise inject)"},
                        Marking.parse(banner), inj.node, self.world.clock.now())
        count = "SELECT COUNT(*) FROM fed_outbox WHERE recipient=?"
        before = sender.conn.execute(count, (inj.to,)).fetchone()[0]
        why = "NOT refused"
        try:
            share_many(sender, [item], inj.to)
            refused_by_sender = False
        except PolicyDenied as exc:
            refused_by_sender = True
            why = "; ".join(exc.refusals)[:200]
        after = sender.conn.execute(count, (inj.to,)).fetchone()[0]
        # A rogue sender that skipped its own check would meet the same policy at the receiver:
        # receive_batch applies the receiver's decide() before storing anything.
        receiver_denies = not target.decide(item, inj.to).allowed
        rec["caught"] = refused_by_sender and after == before and receiver_denies
        rec["how"] = (f"{inj.node} refused to queue it ({why}); {inj.to}'s own policy also denies it"
                      if rec["caught"] else f"{inj.node}: {why}; receiver denies: {receiver_denies}")

    def _node_crash(self, inj: Any, rec: dict[str, Any]) -> None:
        restart_at = inj.t + inj.restart_after_s
        self.world.crash(inj.node, restart_at)
        rec["how"] = f"{inj.node} crashed; restart at t={restart_at:.0f}s"
        rec["_crash"] = True

    def _ledger_rewrite(self, inj: Any, rec: dict[str, Any]) -> None:
        if self._postpone_while_down(inj, rec, inj.node):
            return
        node = self.world.states[inj.node].node
        assert node is not None
        entries = node.ledger.entries()
        if len(entries) < 2:
            rec["how"] = "ledger too short to rewrite"
            return
        # The node rewrites history: drops its first event and re-signs a new tree of the rest.
        with node.write_lock, transaction(node.conn):
            node.conn.execute("DELETE FROM ledger_leaves")
            node.conn.execute("DELETE FROM ledger_nodes")
        node.ledger._frontier = None
        node.ledger.append_many([(e.type, e.data, e.time) for e in entries[1:]] +
                                [("item.created", {"note": "rewritten history"}, self.world.clock.now())] * 2)
        rec["_rewrite"] = inj.node
        rec["how"] = f"{inj.node} rebuilt its ledger without its first event"
