"""Federation: nodes that share signed items with their partners and lose nothing.

Public API (the rest is internal):

* :func:`share` (policy → envelope → durable outbox → ledger ``item.shared``), :func:`retract`,
  :func:`create_item` + :func:`add_rule` (standing sharing rules);
* :func:`receive_envelope` / :func:`receive_batch` (verify, then apply in one transaction);
* :class:`Federation` — the per-partner delivery workers; :class:`HttpTransport` and
  :class:`InProcessNetwork` — how batches travel;
* :func:`check_partner_head` — tree-head exchange; :func:`status`.

See ``docs/federation.md``.
"""

from __future__ import annotations

from accord.federation.inbox import (
    BatchAck,
    Receipt,
    parse_batch,
    receive_batch,
    receive_envelope,
)
from accord.federation.outbox import (
    ShareResult,
    add_rule,
    apply_rules,
    create_item,
    remove_partner,
    remove_rule,
    retract,
    retraction_of,
    rules,
    share,
    share_many,
    share_with,
)
from accord.federation.refusals import record_request_rejection
from accord.federation.service import Federation
from accord.federation.status import status
from accord.federation.transport import HttpTransport, InProcessNetwork, Transport
from accord.federation.treeheads import HeadCheck, check_partner_head
from accord.federation.wire import RETRACTION_KIND, partner_keys

__all__ = [
    "BatchAck", "Receipt", "parse_batch", "receive_batch", "receive_envelope", "record_request_rejection",
    "ShareResult", "add_rule", "apply_rules", "create_item", "remove_partner", "remove_rule", "retract", "retraction_of", "rules", "share", "share_many",
    "share_with",
    "Federation", "status", "HttpTransport", "InProcessNetwork", "Transport", "HeadCheck",
    "check_partner_head", "RETRACTION_KIND", "partner_keys",
]
