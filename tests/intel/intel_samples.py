"""Deterministic STIX 2.1 objects for the intel tests and the bench (no randomness: ids are
UUIDv5 of a name)."""

from __future__ import annotations

import uuid
from typing import Any

_NS = uuid.UUID("6b1c3f9e-3f0a-4c55-9d3e-0a6f5d2c7e11")


def sid(kind: str, name: str) -> str:
    return f"{kind}--{uuid.uuid5(_NS, kind + ':' + name)}"


def indicator(i: int, *, modified: str = "2026-01-01T00:00:00.000Z",
              markings: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    obj = {"type": "indicator", "spec_version": "2.1", "id": sid("indicator", str(i)),
           "created": "2026-01-01T00:00:00.000Z", "modified": modified,
           "name": f"C2 address {i}", "indicator_types": ["malicious-activity"],
           "pattern": f"[ipv4-addr:value = '198.51.100.{i % 250}']", "pattern_type": "stix",
           "valid_from": "2026-01-01T00:00:00Z"}
    if markings:
        obj["object_marking_refs"] = markings
    obj.update(extra)
    return obj


def malware(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "malware", "spec_version": "2.1", "id": sid("malware", name),
            "created": "2026-01-02T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z",
            "name": name, "is_family": True, "malware_types": ["remote-access-trojan"], **extra}


def relationship(src: str, rel: str, dst: str) -> dict[str, Any]:
    return {"type": "relationship", "spec_version": "2.1", "id": sid("relationship", src + rel + dst),
            "created": "2026-01-03T00:00:00.000Z", "modified": "2026-01-03T00:00:00.000Z",
            "relationship_type": rel, "source_ref": src, "target_ref": dst}
