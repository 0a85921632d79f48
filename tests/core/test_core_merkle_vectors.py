"""The published RFC 6962 / RFC 9162 proof vectors (transparency-dev/merkle testdata, Apache-2.0).

All 518 cases in ``tests/data/rfc6962-merkle/`` run here: inclusion and consistency against
RFC 9162 §2.1.3.2 / §2.1.4.2, subtree inclusion and subtree consistency against
draft-ietf-plants-merkle-tree-certs §4.3 / §4.4. ``wantErr`` says whether verification must fail.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from accord.core import merkle
from accord.errors import ConsistencyProofError, InclusionProofError

VECTORS = Path(__file__).resolve().parent.parent / "data" / "rfc6962-merkle"
CASES = sorted(VECTORS.rglob("*.json"))


def _b(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _proof(items: list[str] | None) -> list[bytes]:
    return [_b(p) for p in items or []]


def _run(category: str, d: dict) -> None:
    if category == "inclusion":
        merkle.verify_inclusion(d["leafIdx"], d["treeSize"], _b(d["leafHash"]), _proof(d["proof"]), _b(d["root"]))
    elif category == "consistency":
        merkle.verify_consistency(d["size1"], d["size2"], _proof(d["proof"]), _b(d["root1"]), _b(d["root2"]))
    elif category == "subtreeinclusion":
        merkle.verify_subtree_inclusion(d["leafIdx"], d["start"], d["end"], _b(d["leafHash"]),
                                        _proof(d["proof"]), _b(d["root"]))
    elif category == "subtreeconsistency":
        merkle.verify_subtree_consistency(d["start"], d["end"], d["size"], _proof(d["proof"]),
                                          _b(d["root1"]), _b(d["root2"]))
    else:  # pragma: no cover - a new folder in the vectors must be mapped, not ignored
        raise AssertionError(f"unknown vector category {category}")


def test_all_518_vectors_are_present():
    assert len(CASES) == 518
    counts = {c: sum(1 for p in CASES if p.relative_to(VECTORS).parts[0] == c)
              for c in ("inclusion", "consistency", "subtreeinclusion", "subtreeconsistency")}
    assert counts == {"inclusion": 98, "consistency": 98, "subtreeinclusion": 204, "subtreeconsistency": 118}


@pytest.mark.parametrize("path", CASES, ids=[str(p.relative_to(VECTORS)) for p in CASES])
def test_vector(path: Path):
    d = json.loads(path.read_text())
    category = path.relative_to(VECTORS).parts[0]
    error = InclusionProofError if "inclusion" in category else ConsistencyProofError
    if d["wantErr"]:
        with pytest.raises(error):
            _run(category, d)
    else:
        _run(category, d)


def test_happy_path_vectors_are_reproduced_by_our_prover():
    """Where a vector's tree is the RFC 6962 reference tree (leaves of the Go test suite), our
    proof generator must emit the very proof in the file, not only accept it."""
    # The reference leaves of transparency-dev/merkle's tests (RFC 6962 test tree of 8 leaves).
    leaves = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
                                         "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
    hashes = [merkle.hash_leaf(x) for x in leaves]
    checked = 0
    for path in CASES:
        d = json.loads(path.read_text())
        category = path.relative_to(VECTORS).parts[0]
        if d["wantErr"] or category not in ("inclusion", "consistency"):
            continue
        if category == "inclusion" and 0 < d["treeSize"] <= 8 and _b(d["leafHash"]) == hashes[d["leafIdx"]] \
                and _b(d["root"]) == merkle.mth(hashes[:d["treeSize"]]):
            assert merkle.inclusion_path(d["leafIdx"], hashes[:d["treeSize"]]) == _proof(d["proof"])
            checked += 1
        if category == "consistency" and 0 < d["size1"] < d["size2"] <= 8 \
                and _b(d["root2"]) == merkle.mth(hashes[:d["size2"]]):
            assert merkle.consistency_proof(d["size1"], hashes[:d["size2"]]) == _proof(d["proof"])
            checked += 1
    assert checked >= 8
