"""Merkle trees for transparency logs: RFC 9162 §2.1 (Certificate Transparency v2), pure functions.

Kept as one module: RFC 9162 §2.1 in one place, as sigstore's merkle.py has it:
hashing, inclusion and consistency proofs and their verification.

Hashing (RFC 9162 §2.1.1, identical to RFC 6962 §2.1), SHA-256, every hash exactly 32 bytes::

    MTH({})       = SHA-256()                                   the empty tree
    MTH({d(0)})   = SHA-256(0x00 || d(0))                        a leaf
    MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  k = largest power of 2 < n

Proofs:

* ``PATH(m, D[n])`` — the inclusion proof (audit path) of leaf ``m`` (RFC 9162 §2.1.3.1), verified
  by :func:`verify_inclusion` (§2.1.3.2);
* ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`` — the consistency proof between sizes ``m`` and
  ``n`` (§2.1.4.1), verified by :func:`verify_consistency` (§2.1.4.2);
* subtree inclusion and subtree consistency proofs of draft-ietf-plants-merkle-tree-certs §4.3/§4.4
  (a proof about an aligned subtree ``[start, end)`` rather than a whole tree), verified by
  :func:`verify_subtree_inclusion` and :func:`verify_subtree_consistency`.

The proof generators never see the leaves themselves: they ask a ``subtree_hash(start, end)``
callable for ``MTH(D[start:end])`` of the aligned ranges the RFC recursion visits
(:func:`path_ranges`, :func:`subproof_ranges`), so a persisted log can answer from stored
complete-subtree hashes in O(log n) reads. :class:`CompactRange` keeps the right frontier of a
growing tree (the hashes of the complete subtrees that make up ``[0, n)``), so appends cost O(1)
amortised hashes and the root is O(log n).

Verification follows sigstore-python's ``_internal/merkle.py``: it **raises**
:class:`~accord.errors.InclusionProofError` / :class:`~accord.errors.ConsistencyProofError` naming
the expected and computed values; it never returns a bool to forget. Sizes and indices are
checked before any hashing, and a consistency proof from size 0 is rejected (it proves nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from accord.errors import ConsistencyProofError, InclusionProofError, LedgerError

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) (RFC 9162 §2.1.1)

SubtreeHash = Callable[[int, int], bytes]
"""``subtree_hash(start, end) -> MTH(D[start:end])`` for an aligned range."""

_sha256 = hashlib.sha256


# --- hashing (RFC 9162 §2.1.1) ----------------------------------------------------------------
def hash_leaf(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``: the hash of a leaf (one log entry)."""
    return _sha256(LEAF_PREFIX + entry).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return _sha256(NODE_PREFIX + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """``k``, the largest power of two strictly smaller than ``n`` (``n > 1``), as RFC 9162 splits."""
    if n < 2:
        raise ValueError(f"no power of two below {n} splits a tree")
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` from the leaf hashes ``hash_leaf(d(i))``, in O(n) hashes.

    Folds a compact range (RFC 9162's recursion, unrolled): the root is the right-to-left fold
    of the complete subtrees given by the binary digits of ``n``.
    """
    cr = CompactRange()
    for h in leaf_hashes:
        cr.append(h)
    return cr.root()


def mth_of_entries(entries: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` of the raw entries (hashes each leaf first)."""
    return mth([hash_leaf(e) for e in entries])


# --- compact ranges ---------------------------------------------------------------------------
def subtree_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees ``(level, index)`` that tile ``[start, end)``, left to right.

    Node ``(level, index)`` covers leaves ``[index·2^level, (index+1)·2^level)``. For the ranges
    that RFC 9162's recursion visits (``start`` a multiple of the power of two ≥ ``end-start``)
    the levels strictly decrease and ``MTH(D[start:end])`` is their right-to-left fold.
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad range [{start}, {end})")
    out = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        out.append((level, start >> level))
        start += 1 << level
    return out


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """``H(h0, H(h1, … H(h_{k-2}, h_{k-1})))``: the root of a compact range; empty → MTH({})."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for h in reversed(hashes[:-1]):
        root = hash_children(h, root)
    return root


class CompactRange:
    """The right frontier of a growing tree: hashes of the complete subtrees tiling ``[0, size)``.

    :meth:`append` returns every node ``(level, index, hash)`` that became complete, so a store
    can persist them; :meth:`root` is ``MTH(D[size])`` in O(log size) hashes.
    """

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise LedgerError(f"compact range of size {size} needs {bin(size).count('1')} hashes, "
                              f"got {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the newly completed nodes, the leaf itself first."""
        index, level, node = self.size, 0, leaf_hash
        made = [(0, index, node)]
        while index & 1:
            node = hash_children(self.hashes.pop(), node)
            index >>= 1
            level += 1
            made.append((level, index, node))
        self.hashes.append(node)
        self.size += 1
        return made

    def root(self) -> bytes:
        return fold_right(self.hashes)


# --- proof generation (RFC 9162 §2.1.3.1, §2.1.4.1) --------------------------------------------
def path_ranges(m: int, start: int, end: int) -> list[tuple[int, int]]:
    """The ranges whose MTH make up ``PATH(m, D[start:end])``, bottom (leaf side) first.

    RFC 9162 §2.1.3.1: ``PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])`` if ``m < k``, else
    ``PATH(m-k, D[k:n]) : MTH(D[0:k])``; ``PATH(0, {d(0)}) = {}``.
    """
    if not start <= m < end:
        raise LedgerError(f"leaf index {m} is outside the tree [{start}, {end})")
    top_down = []
    while end - start > 1:
        k = largest_power_of_two_below(end - start)
        if m < start + k:
            top_down.append((start + k, end))
            end = start + k
        else:
            top_down.append((start, start + k))
            start += k
    return top_down[::-1]


def subproof_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The ranges whose MTH make up ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)``.

    RFC 9162 §2.1.4.1: ``SUBPROOF(m, D[m], true) = {}``; ``SUBPROOF(m, D[m], false) = {MTH(D[m])}``;
    for ``m < n``: if ``m <= k``, ``SUBPROOF(m, D[0:k], b) : MTH(D[k:n])``, else
    ``SUBPROOF(m-k, D[k:n], false) : MTH(D[0:k])``.
    """
    if not 0 < m <= n:
        raise LedgerError(f"no consistency proof from size {m} to size {n} (need 0 < m <= n)")
    start, end, b = 0, n, True
    top_down: list[tuple[int, int]] = []
    while True:
        if end - start == m:
            if not b:
                top_down.append((start, end))
            break
        k = largest_power_of_two_below(end - start)
        if m <= k:
            top_down.append((start + k, end))
            end = start + k
        else:
            top_down.append((start, start + k))
            m -= k
            start += k
            b = False
    return top_down[::-1]


def _list_subtree_hash(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    def subtree_hash(start: int, end: int) -> bytes:
        return mth(leaf_hashes[start:end])
    return subtree_hash


def inclusion_path(m: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``PATH(m, D[n])`` over an in-memory list of leaf hashes (RFC 9162 §2.1.3.1)."""
    sub = _list_subtree_hash(leaf_hashes)
    return [sub(a, b) for a, b in path_ranges(m, 0, len(leaf_hashes))]


def consistency_proof(m: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``PROOF(m, D[n])`` over an in-memory list of leaf hashes (RFC 9162 §2.1.4.1)."""
    sub = _list_subtree_hash(leaf_hashes)
    return [sub(a, b) for a, b in subproof_ranges(m, len(leaf_hashes))]


# --- verification (RFC 9162 §2.1.3.2, §2.1.4.2) -----------------------------------------------
def _check_hash(value: bytes, what: str, error: type[LedgerError]) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise error(f"{what} must be a {HASH_SIZE}-byte SHA-256 hash", expected=HASH_SIZE, actual=got)


def _check_proof(proof: Sequence[bytes], error: type[LedgerError]) -> None:
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]", error)


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf_hash`` at ``index`` in a tree of ``size``.

    RFC 9162 §2.1.3.2 steps 1–5 (without the final root comparison); raises
    :class:`InclusionProofError` if the index is out of range or the proof has the wrong length.
    """
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf_hash, "leaf hash", InclusionProofError)
    _check_proof(proof, InclusionProofError)
    fn, sn, r = index, size - 1, bytes(leaf_hash)          # steps 2, 3
    for p in proof:                                          # step 4
        if sn == 0:                                          # 4a
            raise InclusionProofError(f"inclusion proof for leaf {index} in size {size} is too long",
                                      expected=_inclusion_length(index, size), actual=len(proof))
        if fn & 1 or fn == sn:                               # 4b
            r = hash_children(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1                                             # 4c
        sn >>= 1
    if sn != 0:                                              # step 5
        raise InclusionProofError(f"inclusion proof for leaf {index} in size {size} is too short",
                                  expected=_inclusion_length(index, size), actual=len(proof))
    return r


def _inclusion_length(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()
    return inner + bin(index >> inner).count("1")


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Verify that ``leaf_hash`` is leaf ``index`` of the tree ``(size, root)`` (RFC 9162 §2.1.3.2).

    Raises :class:`InclusionProofError` with the expected and computed root on mismatch.
    """
    _check_hash(root, "root hash", InclusionProofError)
    computed = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if computed != root:
        raise InclusionProofError(f"inclusion proof for leaf {index} in tree of size {size} does not lead "
                                  "to the root", expected=bytes(root).hex(), actual=computed.hex())


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Verify that tree ``(size1, root1)`` is a prefix of tree ``(size2, root2)`` (RFC 9162 §2.1.4.2).

    Requires ``0 < size1 <= size2``: a consistency proof from the empty tree proves nothing and is
    rejected. Equal sizes need an empty proof and identical roots. Raises
    :class:`ConsistencyProofError` naming the expected and computed root on mismatch.
    """
    if size1 < 0 or size2 < size1:
        raise ConsistencyProofError(f"tree size went backwards: {size1} -> {size2}")
    if size1 == 0:
        raise ConsistencyProofError("a consistency proof from the empty tree (size 0) proves nothing")
    if size1 == size2:
        if proof:
            raise ConsistencyProofError(f"sizes are equal ({size1}) but the proof is not empty",
                                        expected=0, actual=len(proof))
        if root1 != root2:
            raise ConsistencyProofError(f"two different roots for the same tree size {size1}",
                                        expected=bytes(root1).hex(), actual=bytes(root2).hex())
        return
    if not proof:                                            # step 1
        raise ConsistencyProofError(f"empty consistency proof from size {size1} to {size2}")
    _check_hash(root1, "first root hash", ConsistencyProofError)
    _check_hash(root2, "second root hash", ConsistencyProofError)
    _check_proof(proof, ConsistencyProofError)
    path = list(proof)
    if size1 & (size1 - 1) == 0:                             # step 2: size1 is a power of 2
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1                            # step 3
    while fn & 1:                                            # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]                                        # step 5
    for c in path[1:]:                                       # step 6
        if sn == 0:                                          # 6a
            raise ConsistencyProofError(f"consistency proof from size {size1} to {size2} is too long",
                                        actual=len(proof))
        if fn & 1 or fn == sn:                               # 6b
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1                                             # 6c
        sn >>= 1
    if sn != 0:                                              # step 7
        raise ConsistencyProofError(f"consistency proof from size {size1} to {size2} is too short",
                                    actual=len(proof))
    if fr != root1:
        raise ConsistencyProofError(f"consistency proof does not lead to the old root (size {size1}): "
                                    "history was rewritten or the proof is wrong",
                                    expected=bytes(root1).hex(), actual=fr.hex())
    if sr != root2:
        raise ConsistencyProofError(f"consistency proof does not lead to the new root (size {size2})",
                                    expected=bytes(root2).hex(), actual=sr.hex())


# --- subtree proofs (draft-ietf-plants-merkle-tree-certs §4.3, §4.4) ---------------------------
def check_subtree(start: int, end: int, error: type[LedgerError] = LedgerError) -> None:
    """A subtree ``[start, end)`` is valid iff ``start < end`` and ``start`` is a multiple of the
    smallest power of two ≥ ``end - start`` (so it is a node, or the left part of one, of any
    tree containing it)."""
    if not 0 <= start < end:
        raise error(f"subtree [{start}, {end}) is empty or negative")
    width = 1 << (end - start - 1).bit_length()
    if start % width:
        raise error(f"subtree [{start}, {end}) is not aligned: start must be a multiple of {width}")


def verify_subtree_inclusion(index: int, start: int, end: int, leaf_hash: bytes,
                             proof: Sequence[bytes], subtree_root: bytes) -> None:
    """Verify that ``leaf_hash`` is leaf ``index`` of subtree ``[start, end)`` with hash
    ``subtree_root`` (draft-ietf-plants-merkle-tree-certs §4.3.3: RFC 9162 §2.1.3.2 run on
    ``index - start`` in a tree of ``end - start`` leaves)."""
    check_subtree(start, end, InclusionProofError)
    if not start <= index < end:
        raise InclusionProofError(f"leaf index {index} is not in subtree [{start}, {end})")
    _check_hash(subtree_root, "subtree hash", InclusionProofError)
    computed = root_from_inclusion_proof(index - start, end - start, leaf_hash, proof)
    if computed != subtree_root:
        raise InclusionProofError(f"subtree inclusion proof for leaf {index} in [{start}, {end}) does not "
                                  "lead to the subtree hash", expected=bytes(subtree_root).hex(),
                                  actual=computed.hex())


def verify_subtree_consistency(start: int, end: int, size: int, proof: Sequence[bytes],
                               subtree_root: bytes, root: bytes) -> None:
    """Verify that subtree ``[start, end)`` with hash ``subtree_root`` is part of the tree
    ``(size, root)`` (draft-ietf-plants-merkle-tree-certs §4.4.3; with ``start = 0`` it is
    RFC 9162 §2.1.4.2)."""
    if start == end and 0 <= start <= size:
        # The empty subtree is part of every tree: nothing to prove, but its hash must be MTH({}).
        if proof:
            raise ConsistencyProofError(f"empty subtree [{start}, {end}) needs an empty proof",
                                        expected=0, actual=len(proof))
        if subtree_root != EMPTY_ROOT:
            raise ConsistencyProofError(f"empty subtree [{start}, {end}) must hash to MTH({{}})",
                                        expected=EMPTY_ROOT.hex(), actual=bytes(subtree_root).hex())
        return
    check_subtree(start, end, ConsistencyProofError)
    if end > size:
        raise ConsistencyProofError(f"subtree [{start}, {end}) ends beyond the tree size {size}")
    if start == 0 and end == size:
        # The subtree is the whole tree: as RFC 9162 with equal sizes, compare the roots as given.
        if proof:
            raise ConsistencyProofError(f"subtree [0, {end}) is the whole tree but the proof is not empty",
                                        expected=0, actual=len(proof))
        if subtree_root != root:
            raise ConsistencyProofError(f"two different roots for the same tree size {size}",
                                        expected=bytes(subtree_root).hex(), actual=bytes(root).hex())
        return
    _check_hash(subtree_root, "subtree hash", ConsistencyProofError)
    _check_hash(root, "root hash", ConsistencyProofError)
    _check_proof(proof, ConsistencyProofError)
    fn, sn, tn = start, end - 1, size - 1                    # steps 1–2
    if sn == tn:                                             # step 3
        while fn != sn:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    else:                                                    # step 4
        while fn != sn and sn & 1:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    rest = list(proof)
    if fn == sn:                                             # step 5
        fr = sr = bytes(subtree_root)
    else:                                                    # step 6
        if not rest:
            raise ConsistencyProofError(f"empty subtree consistency proof for [{start}, {end}) in size {size}")
        fr = sr = rest.pop(0)
    for c in rest:                                           # step 7
        if tn == 0:
            raise ConsistencyProofError(f"subtree consistency proof for [{start}, {end}) in size {size} "
                                        "is too long", actual=len(proof))
        if sn & 1 or sn == tn:
            if fn < sn:
                fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while sn and not sn & 1:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:
            sr = hash_children(sr, c)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if tn != 0:                                              # step 8
        raise ConsistencyProofError(f"subtree consistency proof for [{start}, {end}) in size {size} "
                                    "is too short", actual=len(proof))
    if fr != subtree_root:
        raise ConsistencyProofError(f"subtree consistency proof does not lead to the subtree hash of "
                                    f"[{start}, {end})", expected=bytes(subtree_root).hex(), actual=fr.hex())
    if sr != root:
        raise ConsistencyProofError(f"subtree consistency proof does not lead to the root of size {size}",
                                    expected=bytes(root).hex(), actual=sr.hex())
