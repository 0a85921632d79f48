"""``accord node status``: partners, last contact, queues, ledger head, rejections.

For each partner it tells *how long* as well as how many: since when delivery has been failing
(``failing_since``, stamped by the first failure of a run and cleared by the next
acknowledgement), the age of the oldest item still waiting for it (``oldest_queued``), and since
when its current pin has been in place (``pinned_at``; null for a partner pinned before the node
recorded pin times).
:func:`backlogs` is the one query behind both this and the metrics endpoint
(:mod:`accord.api.metrics`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from accord.clock import parse_rfc3339, to_rfc3339
from accord.federation import quota
from accord.federation.schema import ensure_node_schema
from accord.federation.schema import write_lock

if TYPE_CHECKING:
    from accord.store.protocol import Node


def _age(now: datetime, stamp: str | None) -> float | None:
    return None if stamp is None else round(max(0.0, (now - parse_rfc3339(stamp)).total_seconds()), 3)


def backlogs(conn: Any) -> dict[str, tuple[int, str | None]]:
    """``{partner: (items queued, when the oldest of them was queued)}`` for every partner with a
    backlog, in one query over the queued rows only (the outbox's state index)."""
    return {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT recipient, COUNT(*), MIN(queued) FROM fed_outbox WHERE state = 'queued' GROUP BY recipient")}


def _unpinned_config_rules(node: Node) -> list[str]:
    from accord.federation.outbox import unpinned_config_rules
    return unpinned_config_rules(node)


def _pending_receipts(conn: Any) -> dict[str, int]:
    from accord.federation.receipts import counts
    return counts(conn)


def _lease_table(conn: Any) -> list[dict[str, Any]]:
    from accord.federation.leases import lease_table
    return lease_table(conn)


def status(node: Node, *, rejections: int = 10) -> dict[str, Any]:
    """A JSON-ready picture of the node's federation state (read-only)."""
    ensure_node_schema(node)
    conn = node.conn
    now = node.clock.now()
    with write_lock(node):
        head = node.ledger.checkpoint_body()
        queued = backlogs(conn)
        leases = {row["partner"]: row for row in _lease_table(conn)}
        pending_proofs = _pending_receipts(conn)
        partners = []
        for party in sorted(node.partners()):
            st = conn.execute("SELECT last_contact, last_error, failures, peer_next_seq, head_size, head_root, "
                              "head_checked, inconsistent, failing_since, pruned_delivered, pruned_rejected, pinned_at, "
                              "receipts_proven, receipts_false, receipts_unindexed FROM fed_partner_state WHERE party=?", (party,)).fetchone()
            counts = dict(conn.execute("SELECT state, COUNT(*) FROM fed_outbox WHERE recipient=? GROUP BY state",
                                       (party,)).fetchall())
            last_out = conn.execute("SELECT last_seq FROM fed_out_seq WHERE recipient=?", (party,)).fetchone()
            last_in = conn.execute("SELECT MAX(seq) FROM fed_inbox WHERE originator=?", (party,)).fetchone()
            url = getattr(node.partners()[party], "url", None)
            limits = quota.limits_for(node, party)
            window, taken, taken_bytes = quota.current(conn, party, now)
            window_text = to_rfc3339(datetime.fromtimestamp(window, timezone.utc))
            backlog, oldest = queued.get(party, (0, None))
            failing_since = st[8] if st else None
            partners.append({
                "party": party, "url": url,
                "pinned_at": st[11] if st else None,
                "pinned_for_s": _age(now, st[11] if st else None),
                "last_contact": st[0] if st else None,
                "last_error": st[1] if st else None,
                "consecutive_failures": st[2] if st else 0,
                "failing_since": failing_since,
                "failing_for_s": _age(now, failing_since),
                "queued": backlog,
                "oldest_queued": oldest,
                "oldest_queued_age_s": _age(now, oldest),
                # acknowledged rows still held plus those retention pruned
                "delivered": counts.get("delivered", 0) + (st[9] if st else 0),
                "rejected_by_partner": counts.get("rejected", 0) + (st[10] if st else 0),
                "sent_seq": last_out[0] if last_out else 0,
                "partner_expects_seq": st[3] if st else None,
                "received_seq": last_in[0] or 0,
                "partner_head": None if not st or st[4] is None else {"size": st[4], "root": st[5],
                                                                      "checked": st[6]},
                "inconsistent": st[7] if st else None,
                # its stored/duplicate receipts checked against its signed ledger (accord.federation.receipts):
                # waiting for a proof, proven, found false, and without a ledger index (never checkable)
                "receipts": {"pending": pending_proofs.get(party, 0), "proven": st[12] if st else 0,
                             "false": st[13] if st else 0, "unindexed": st[14] if st else 0},
                # its intake quota here (0: unlimited): this hour's window, what it took, whether it is used up
                "intake": {"window_start": window_text, "items": taken, "bytes": taken_bytes,
                           "max_items": limits.items, "max_bytes": limits.bytes,
                           "over_quota": not limits.room(taken, taken_bytes)},
                # which delivery worker drains its outbox (host:pid:random) and for how long yet
                "lease": ({"holder": leases[party]["holder"], "expires_in_s": leases[party]["expires_in_s"]}
                          if party in leases else None),
            })
        rej_total = conn.execute("SELECT COUNT(*) FROM fed_rejections").fetchone()[0]
        rej_pruned = conn.execute("SELECT pruned FROM fed_rejections_pruned WHERE name = 'total'").fetchone()
        rej_total += rej_pruned[0] if rej_pruned else 0   # the rows retention pruned, counted
        recent = [{"at": r[0], "from": r[1], "seq": r[2], "code": r[3], "reason": r[4]} for r in conn.execute(
            "SELECT at, sender, seq, code, reason FROM fed_rejections ORDER BY id DESC LIMIT ?", (rejections,))]
    return {
        "party": node.party,
        "at": to_rfc3339(now),
        "ledger": {"origin": head.origin, "size": head.size, "root": head.root_hash.hex()},
        "partners": partners,
        "rejections": {"total": rej_total, "recent": recent},
        # node.yaml sharing rules that share nothing: they name a party not pinned
        "sharing_warnings": _unpinned_config_rules(node),
    }



def problems(st: dict[str, Any], after_s: float) -> list[str]:
    """What ``accord node status --check`` reports, one line per partner in trouble for at least
    ``after_s`` seconds (``st``: :func:`status`): inconsistent; deliveries failing; silent (its
    last answer, to a delivery or a tree-head check, that long ago, or never — never answered
    counts once the partner has been pinned that long, its ``pinned_at``; a partner with no pin
    time, pinned before the node recorded them, counts as pinned long ago); or an item waiting
    that long. Empty when every partner is well."""
    from accord.clock import duration_text

    now = parse_rfc3339(st["at"])
    out = []
    for p in st["partners"]:
        party, oldest = p["party"], p["oldest_queued_age_s"]
        backlog = f"; {p['queued']} item(s) queued, the oldest {duration_text(oldest)}" if p["queued"] else ""
        silent = _age(now, p["last_contact"])
        if p["inconsistent"]:
            out.append(f"{party} INCONSISTENT: {p['inconsistent']}")
        elif p["failing_for_s"] is not None and p["failing_for_s"] >= after_s:
            n = p["consecutive_failures"]
            out.append(f"{party} deliveries failing for {duration_text(p['failing_for_s'])} ({n} attempt"
                       f"{'' if n == 1 else 's'}){backlog}; last error: {p['last_error']}")
        elif silent is None:
            pinned = p.get("pinned_for_s")
            if pinned is None or pinned >= after_s:
                out.append(f"{party} never answered{backlog}")
            elif oldest is not None and oldest >= after_s:  # queued before a re-pin
                out.append(f"{party} has items waiting{backlog}")
        elif silent >= after_s:
            out.append(f"{party} last answered {duration_text(silent)} ago{backlog}")
        elif oldest is not None and oldest >= after_s:
            out.append(f"{party} has items waiting{backlog}")
    return out
