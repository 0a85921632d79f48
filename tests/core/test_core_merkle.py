"""RFC 9162 Merkle functions: properties (hypothesis) and pymerkle as an independent oracle.

pymerkle (``InmemoryTree(algorithm="sha256")``, security on: 0x00 leaf / 0x01 node prefixes, i.e.
RFC 6962/9162 hashing) computes roots and inclusion paths independently of our code. Its
consistency proofs are not in RFC 9162 ``PROOF`` shape (it sends an inclusion-style path with
subset flags), so for consistency the oracle checks that pymerkle accepts the roots we compute.
"""

from __future__ import annotations

import hashlib
import warnings

import pymerkle
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accord.core import merkle
from accord.errors import ConsistencyProofError, InclusionProofError, LedgerError

entries = st.lists(st.binary(max_size=24), min_size=1, max_size=70)


def _oracle(data: list[bytes]):
    tree = pymerkle.InmemoryTree(algorithm="sha256")
    for d in data:
        tree.append_entry(d)
    return tree


def test_hashes_are_rfc9162_domain_separated():
    assert merkle.EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert merkle.hash_leaf(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.hash_children(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    assert merkle.mth([]) == merkle.EMPTY_ROOT
    assert merkle.mth([merkle.hash_leaf(b"x")]) == merkle.hash_leaf(b"x")


def _mth_recursive(hashes: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 written literally, as a second reference."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return merkle.hash_children(_mth_recursive(hashes[:k]), _mth_recursive(hashes[k:]))


@settings(max_examples=60, deadline=None)
@given(entries)
def test_roots_and_inclusion_paths_match_pymerkle(data):
    tree = _oracle(data)
    hashes = [merkle.hash_leaf(d) for d in data]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for n in range(1, len(data) + 1):
            root = merkle.mth(hashes[:n])
            assert root == tree.get_root(n) == _mth_recursive(hashes[:n])
    n = len(data)
    root = merkle.mth(hashes)
    for m in range(n):
        theirs = tree.prove_inclusion(m + 1, n)  # pymerkle counts leaves from 1
        path = [bytes.fromhex(h) for h in theirs.serialize()["path"]]
        ours = merkle.inclusion_path(m, hashes)
        assert path[0] == hashes[m] and path[1:] == ours
        pymerkle.verify_inclusion(hashes[m], root, theirs)
        merkle.verify_inclusion(m, n, hashes[m], ours, root)


@settings(max_examples=40, deadline=None)
@given(entries)
def test_consistency_roots_accepted_by_pymerkle(data):
    tree = _oracle(data)
    hashes = [merkle.hash_leaf(d) for d in data]
    n = len(data)
    for m in range(1, n + 1):
        old, new = merkle.mth(hashes[:m]), merkle.mth(hashes)
        pymerkle.verify_consistency(old, new, tree.prove_consistency(m, n))
        merkle.verify_consistency(m, n, merkle.consistency_proof(m, hashes), old, new)
        with pytest.raises(pymerkle.InvalidProof):
            pymerkle.verify_consistency(hashlib.sha256(old).digest(), new, tree.prove_consistency(m, n))


@settings(max_examples=80, deadline=None)
@given(entries, st.data())
def test_every_inclusion_proof_verifies_and_any_tamper_fails(data, draw):
    hashes = [merkle.hash_leaf(d) for d in data]
    n = len(hashes)
    m = draw.draw(st.integers(0, n - 1))
    root = merkle.mth(hashes)
    proof = merkle.inclusion_path(m, hashes)
    merkle.verify_inclusion(m, n, hashes[m], proof, root)
    assert len(proof) <= max(1, (n - 1).bit_length())
    # flip one bit anywhere: in the leaf hash, in a proof element, or in the root
    target = draw.draw(st.integers(0, len(proof) + 1))
    bit = draw.draw(st.integers(0, 255))
    flip = lambda h: bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(h))  # noqa: E731
    leaf, path, r = hashes[m], list(proof), root
    if target == 0:
        leaf = flip(leaf)
    elif target == len(proof) + 1:
        r = flip(r)
    else:
        path[target - 1] = flip(path[target - 1])
    with pytest.raises(InclusionProofError):
        merkle.verify_inclusion(m, n, leaf, path, r)
    if n > 1:  # the right proof for the wrong index fails too (unless the tree is symmetric there)
        other = (m + 1) % n
        if hashes[other] != hashes[m]:
            with pytest.raises(InclusionProofError):
                merkle.verify_inclusion(other, n, hashes[m], proof, root)


@settings(max_examples=80, deadline=None)
@given(entries, st.data())
def test_every_consistency_proof_verifies_and_any_tamper_fails(data, draw):
    hashes = [merkle.hash_leaf(d) for d in data]
    n = len(hashes)
    m = draw.draw(st.integers(1, n))
    proof = merkle.consistency_proof(m, hashes)
    old, new = merkle.mth(hashes[:m]), merkle.mth(hashes)
    merkle.verify_consistency(m, n, proof, old, new)
    if m == n:
        assert proof == []
        return
    target = draw.draw(st.integers(0, len(proof) + 1))
    bit = draw.draw(st.integers(0, 255))
    flip = lambda h: bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(h))  # noqa: E731
    path, o, w = list(proof), old, new
    if target == 0:
        o = flip(o)
    elif target == len(proof) + 1:
        w = flip(w)
    else:
        path[target - 1] = flip(path[target - 1])
    with pytest.raises(ConsistencyProofError):
        merkle.verify_consistency(m, n, path, o, w)


@settings(max_examples=40, deadline=None)
@given(entries, st.data())
def test_rewritten_history_is_not_consistent(data, draw):
    """A log that changes any earlier entry cannot prove consistency with its old head."""
    hashes = [merkle.hash_leaf(d) for d in data]
    n = len(hashes)
    m = draw.draw(st.integers(1, n))
    i = draw.draw(st.integers(0, m - 1))
    old = merkle.mth(hashes[:m])
    forged = list(hashes)
    forged[i] = merkle.hash_leaf(data[i] + b"!")
    with pytest.raises(ConsistencyProofError):
        merkle.verify_consistency(m, n, merkle.consistency_proof(m, forged), old, merkle.mth(forged))


def test_subtree_proofs_generated_from_path_verify():
    hashes = [merkle.hash_leaf(bytes([i])) for i in range(13)]
    for start, end in [(0, 8), (8, 12), (8, 13), (12, 13), (4, 7)]:
        sub = merkle.mth(hashes[start:end])
        for i in range(start, end):
            proof = [merkle.mth(hashes[a:b]) for a, b in merkle.path_ranges(i, start, end)]
            merkle.verify_subtree_inclusion(i, start, end, hashes[i], proof, sub)


def test_bad_sizes_and_lengths_are_named_errors():
    h = merkle.hash_leaf(b"a")
    with pytest.raises(InclusionProofError, match="not in a tree of size 1"):
        merkle.verify_inclusion(1, 1, h, [], h)
    with pytest.raises(InclusionProofError, match="32-byte"):
        merkle.verify_inclusion(0, 1, h[:31], [], h)
    with pytest.raises(ConsistencyProofError, match="empty tree"):
        merkle.verify_consistency(0, 1, [], merkle.EMPTY_ROOT, h)
    with pytest.raises(ConsistencyProofError, match="backwards"):
        merkle.verify_consistency(2, 1, [], h, h)
    with pytest.raises(LedgerError):
        merkle.subproof_ranges(0, 3)
    with pytest.raises(InclusionProofError) as exc:
        merkle.verify_inclusion(0, 2, h, [h], h)
    assert exc.value.expected == h.hex() and exc.value.actual == merkle.hash_children(h, h).hex()


def test_compact_range_matches_mth_and_reports_new_nodes():
    cr = merkle.CompactRange()
    hashes = [merkle.hash_leaf(bytes([i])) for i in range(9)]
    made = [cr.append(h) for h in hashes]
    assert cr.root() == merkle.mth(hashes)
    assert [len(x) for x in made] == [1, 2, 1, 3, 1, 2, 1, 4, 1]
    assert made[7][-1] == (3, 0, merkle.mth(hashes[:8]))
    assert merkle.subtree_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]


# --- boundary sizes and proof lengths (random small trees never reach them) -------------------
H = merkle.hash_leaf(b"x")
BIG = 2**63


@settings(max_examples=60, deadline=None)
@given(index=st.integers(-2, 2**64 + 1), size=st.integers(-1, 2**64 + 1), extra=st.integers(-3, 3))
@example(index=0, size=0, extra=0).via("the empty tree has no leaf")
@example(index=0, size=1, extra=0).via("one leaf: an empty path")
@example(index=0, size=1, extra=1).via("one leaf, a path of one: too long")
@example(index=BIG - 1, size=BIG, extra=0).via("the last leaf of a 2**63 tree")
@example(index=BIG, size=BIG, extra=0).via("one past it")
@example(index=-1, size=BIG, extra=0).via("a negative index")
@example(index=0, size=2**64, extra=-1).via("a 2**64 tree, one hash short")
@example(index=2**64 - 1, size=2**64, extra=1).via("a 2**64 tree, one hash too many")
def test_inclusion_at_any_index_size_and_proof_length_is_a_named_refusal(index, size, extra):
    """Whatever the index, size (0, 1, 2**63, 2**64) and path length (the right one ± 3), a path
    of unrelated hashes is refused with InclusionProofError saying which check failed — never
    an IndexError, a ValueError out of the size arithmetic, or a hang."""
    inside = 0 <= index < size
    right = len(merkle.path_ranges(index, 0, size)) if inside else 0
    proof = [H] * max(0, right + extra)
    with pytest.raises(InclusionProofError) as exc:
        merkle.verify_inclusion(index, size, H, proof, merkle.EMPTY_ROOT)
    said = str(exc.value)
    if not inside:
        assert "is not in a tree of size" in said
    elif len(proof) > right:
        assert "too long" in said
    elif len(proof) < right:
        assert "too short" in said
    else:
        assert "does not lead to the root" in said


SIZES = [1, 2, 3, BIG - 1, BIG, 2**64]


@settings(max_examples=60, deadline=None)
@given(m=st.integers(0, 2**64) | st.sampled_from(SIZES), n=st.integers(0, 2**64) | st.sampled_from(SIZES),
       extra=st.integers(-3, 3))
@example(m=0, n=0, extra=0).via("from the empty tree: proves nothing")
@example(m=1, n=1, extra=1).via("equal sizes with a proof")
@example(m=BIG, n=BIG, extra=0).via("equal sizes at 2**63, other roots")
@example(m=1, n=BIG, extra=0).via("one leaf to 2**63")
@example(m=BIG - 1, n=BIG, extra=-1).via("a proof one hash short")
@example(m=BIG - 1, n=2**64, extra=1).via("a proof one hash too many")
@example(m=3, n=2, extra=0).via("sizes backwards")
def test_consistency_at_any_sizes_and_proof_length_is_a_named_refusal(m, n, extra):
    """Any sizes (0, 1, 2**63, 2**64, backwards), any proof length (the right one ± 3), roots
    that do not match: ConsistencyProofError saying which check failed."""
    right = len(merkle.subproof_ranges(m, n)) if 0 < m <= n else 0
    proof = [H] * max(0, right + extra)
    with pytest.raises(ConsistencyProofError) as exc:
        merkle.verify_consistency(m, n, proof, H, merkle.EMPTY_ROOT)
    assert "\n" not in str(exc.value) and str(exc.value)

