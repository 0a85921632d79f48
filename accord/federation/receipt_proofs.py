"""Receipt proofs as a partner gives them: the shape of its answers to ``GET /federation/v1/receipt``
and ``GET /federation/v1/receipts``, each proof's leaf and path bounded before anything is decoded
(:data:`MAX_LEAF_BYTES`, :data:`MAX_PATH` hashes of :data:`HASH_BYTES`). What the proofs prove is
judged by :mod:`accord.federation.receipts`."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from accord.core.canonical import parse_json_strict
from accord.errors import FederationError, InputError

__all__ = ["HASH_BYTES", "MAX_LEAF_BYTES", "MAX_PATH", "parse_proof", "parse_proofs"]

MAX_PATH = 64
"""An inclusion path has at most one hash per level of a tree of 2**64 leaves."""

HASH_BYTES = 32
"""Each hash of an inclusion path is a SHA-256 digest (RFC 9162)."""

MAX_LEAF_BYTES = 64 * 1024
"""The largest leaf a proof may carry. A leaf proven is the partner's ``item.received`` or
``item.retracted`` entry for an item of this node's: ``{"type", "time", "data"}`` with item ids
(at most 256 characters each), the item's kind, a party, a number and a digest — under 2 KiB for
any item :func:`accord.core.items.new_item` makes; a larger leaf is a malformed answer, no proof."""


def parse_proof(data: Any, party: str, index: int, size: int) -> tuple[bytes, list[bytes]]:
    """The leaf bytes and path of a partner's answer (its JSON bytes, or parsed); :class:`FederationError`
    if it is not of the shape :func:`local_receipt` gives for the ``index`` and ``size`` asked."""
    try:
        if isinstance(data, (bytes, bytearray)):
            data = parse_json_strict(bytes(data), source=f"receipt proof from {party}")
        if (not isinstance(data, dict) or data.get("index") != index or data.get("size") != size
                or not isinstance(data.get("leaf"), str) or not isinstance(data.get("path"), list)
                or len(data["path"]) > MAX_PATH or not all(isinstance(p, str) for p in data["path"])):
            raise ValueError("not {index, size, leaf, path} for the entry asked")
        if len(data["leaf"]) > _b64_len(MAX_LEAF_BYTES):   # (not decoded first)
            raise ValueError(f"a leaf of over {MAX_LEAF_BYTES} bytes")
        if not all(len(p) == _b64_len(HASH_BYTES) for p in data["path"]):
            raise ValueError(f"a path hash that is not {HASH_BYTES} bytes")
        leaf = base64.b64decode(data["leaf"], validate=True)
        path = [base64.b64decode(p, validate=True) for p in data["path"]]
        if len(leaf) > MAX_LEAF_BYTES or not all(len(h) == HASH_BYTES for h in path):
            raise ValueError(f"a leaf of over {MAX_LEAF_BYTES} bytes, or a path hash that is not {HASH_BYTES} bytes")
        return leaf, path
    except (ValueError, binascii.Error, InputError) as exc:
        raise FederationError(f"{party} sent a malformed receipt proof for entry {index}: {exc}") from None


def _b64_len(n: int) -> int:
    """The length of the base64 (padded) of ``n`` bytes."""
    return 4 * ((n + 2) // 3)


def parse_proofs(data: Any, party: str, indices: list[int], size: int) -> dict[int, tuple[bytes, list[bytes]]]:
    """The leaf bytes and path of each index proven in a partner's answer to a batch request (its
    JSON bytes, or parsed), by index; :class:`FederationError` if it is not of the shape
    :func:`local_receipts` gives for the ``indices`` and ``size`` asked (each index once, in
    ``proofs`` or in ``not_found``)."""
    try:
        if isinstance(data, (bytes, bytearray)):
            data = parse_json_strict(bytes(data), source=f"receipt proofs from {party}")
        if (not isinstance(data, dict) or data.get("size") != size or not isinstance(data.get("proofs"), list)
                or not isinstance(data.get("not_found"), list)):
            raise ValueError("not {size, proofs, not_found} for the tree size asked")
        named = [p.get("index") if isinstance(p, dict) else None for p in data["proofs"]] + data["not_found"]
        if (len(named) != len(indices) or not all(type(i) is int for i in named)
                or sorted(named) != sorted(indices)):
            raise ValueError("not each index asked once, proven or not found")
    except (ValueError, InputError) as exc:
        raise FederationError(f"{party} sent malformed receipt proofs: {exc}") from None
    return {p["index"]: parse_proof(p, party, p["index"], size) for p in data["proofs"]}
