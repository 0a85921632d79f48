"""``accord node status``: partners, last contact, queues, ledger head, rejections."""

from __future__ import annotations

from typing import Any

from accord.federation.inbox import _ready
from accord.federation.schema import write_lock


def status(node: Any, *, rejections: int = 10) -> dict[str, Any]:
    """A JSON-ready picture of the node's federation state (read-only)."""
    _ready(node)
    conn = node.conn
    with write_lock(node):
        head = node.ledger.checkpoint_body()
        partners = []
        for party in sorted(node.partners()):
            st = conn.execute("SELECT last_contact, last_error, failures, peer_next_seq, head_size, head_root, "
                              "head_checked, inconsistent FROM fed_partner_state WHERE party=?", (party,)).fetchone()
            counts = dict(conn.execute("SELECT state, COUNT(*) FROM fed_outbox WHERE recipient=? GROUP BY state",
                                       (party,)).fetchall())
            last_out = conn.execute("SELECT last_seq FROM fed_out_seq WHERE recipient=?", (party,)).fetchone()
            last_in = conn.execute("SELECT MAX(seq) FROM fed_inbox WHERE originator=?", (party,)).fetchone()
            url = getattr(node.partners()[party], "url", None)
            partners.append({
                "party": party, "url": url,
                "last_contact": st[0] if st else None,
                "last_error": st[1] if st else None,
                "consecutive_failures": st[2] if st else 0,
                "queued": counts.get("queued", 0),
                "delivered": counts.get("delivered", 0),
                "rejected_by_partner": counts.get("rejected", 0),
                "sent_seq": last_out[0] if last_out else 0,
                "partner_expects_seq": st[3] if st else None,
                "received_seq": last_in[0] or 0,
                "partner_head": None if not st or st[4] is None else {"size": st[4], "root": st[5],
                                                                      "checked": st[6]},
                "inconsistent": st[7] if st else None,
            })
        rej_total = conn.execute("SELECT COUNT(*) FROM fed_rejections").fetchone()[0]
        recent = [{"at": r[0], "from": r[1], "seq": r[2], "code": r[3], "reason": r[4]} for r in conn.execute(
            "SELECT at, sender, seq, code, reason FROM fed_rejections ORDER BY id DESC LIMIT ?", (rejections,))]
    return {
        "party": node.party,
        "ledger": {"origin": head.origin, "size": head.size, "root": head.root_hash.hex()},
        "partners": partners,
        "rejections": {"total": rej_total, "recent": recent},
    }
