"""Tree heads as C2SP tlog-checkpoints, signed as C2SP signed notes; witness cosignatures.

* **Checkpoint** (https://c2sp.org/tlog-checkpoint): the note text is ``origin\\n``, the tree
  size in decimal without leading zeroes, the base64 root hash (RFC 6962/9162 MTH), then optional
  non-empty extension lines, each ending in ``\\n``.
* **Signed note** (https://c2sp.org/signed-note, as Go's ``golang.org/x/mod/sumdb/note``): the
  text, a blank line, then one line per signature ``— <key name> base64(key hash[4] || sig)``.
  Ed25519 (type 0x01) signs the note text; the key hash is
  ``SHA-256(name || "\\n" || 0x01 || public key)[:4]`` and a verifier key is
  ``name+hash8hex+base64(0x01 || public key)`` (:func:`accord.core.identity.verifier_key`).
  Readers ignore signatures from unknown keys; a known key's bad signature is an error.
* **Cosignature** (https://c2sp.org/tlog-cosignature, Ed25519 v1, type 0x04): a witness signs
  ``"cosignature/v1\\ntime <t>\\n" || checkpoint text`` and the line carries
  ``key id[4] || timestamp u64 big-endian || sig[64]``. It states that, at time ``t``, this is the
  largest consistent tree head the witness has seen for the origin — so a node cannot show
  different histories to different partners without a witness catching it.

An Accord node's log origin (also its signed-note key name) is :func:`origin_for`:
``accord.node/<PARTY>/<first 16 hex digits of SHA-256(public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.core import merkle
from accord.core.identity import ED25519_ALG, Identity, raw_public
from accord.core.parties import party_problem
from accord.errors import CheckpointError, ConsistencyProofError, shown

COSIGNATURE_ALG = 0x04  # C2SP tlog-cosignature/v1, Ed25519 with timestamp
SIG_PREFIX = "— "      # U+2014 EM DASH, U+0020
MAX_SIGNATURES = 100    # as Go's note.Open: bounds the work a hostile note can cause
MAX_TREE_SIZE = 2**63 - 1
"""The largest tree size a checkpoint may state: a ledger index is a signed 64-bit integer in the
store (SQLite's and PostgreSQL's BIGINT), so a partner's head of 2**63 entries could not be kept."""


def origin_for(party: str, public_key: Ed25519PublicKey | bytes) -> str:
    """The checkpoint origin and signed-note key name of a party's node log.

    ``accord.node/<PARTY>/<first 16 hex of SHA-256(raw public key)>`` — the same digest as the
    node fingerprint (``SHA256:<hex>``), so the name says whose key signs it.
    """
    problem = party_problem(party)
    if problem is not None:
        raise CheckpointError(problem)
    raw = public_key if isinstance(public_key, bytes) else raw_public(public_key)
    if len(raw) != 32:
        raise CheckpointError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
    return f"accord.node/{party}/{hashlib.sha256(raw).hexdigest()[:16]}"


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_hash(name: str, alg: int, key: bytes) -> bytes:
    """``SHA-256(name || "\\n" || alg || key)[:4]``, the signed-note key hash / key ID."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + key).digest()[:4]


# --- checkpoint bodies ------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """A tree head: origin, tree size and RFC 9162 root hash (plus opaque extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError(f"checkpoint origin must be one non-empty line: {self.origin!r}")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint tree size must be an integer from 0 to 2**63-1: {shown(self.size)}")
        if len(self.root_hash) != merkle.HASH_SIZE:
            raise CheckpointError("checkpoint root hash must be 32 bytes", expected=32,
                                  actual=len(self.root_hash))
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise CheckpointError(f"checkpoint extension lines must be non-empty single lines: {ext!r}")

    def text(self) -> str:
        """The note text (every line newline-terminated)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        """Parse a checkpoint note text (without signatures); raises :class:`CheckpointError`."""
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"checkpoint needs origin, size and root hash lines, got {len(lines)} line(s)")
        origin, size_s, root_s, *ext = lines
        if not origin:
            raise CheckpointError("checkpoint line 1: origin is empty")
        if not re.fullmatch(r"0|[1-9][0-9]*", size_s):
            raise CheckpointError(f"checkpoint line 2: tree size must be decimal without leading zeroes: "
                                  f"{shown(size_s)}")
        # compared as text first: int() of more than 4,300 digits is a ValueError of its own
        if len(size_s) > len(str(MAX_TREE_SIZE)) or int(size_s) > MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint line 2: tree size {shown(size_s)} is past 2**63-1")
        try:
            root = base64.b64decode(root_s, validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError(f"checkpoint line 3: root hash is not base64: {root_s!r}") from None
        if len(root) != merkle.HASH_SIZE:
            raise CheckpointError("checkpoint line 3: root hash must be 32 bytes", expected=32, actual=len(root))
        for n, e in enumerate(ext, start=4):
            if not e:
                raise CheckpointError(f"checkpoint line {n}: extension lines must not be empty")
        return cls(origin, int(size_s), root, tuple(ext))


# --- verifier keys ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Verifier:
    """A signed-note verifier: key name, 4-byte key hash, algorithm (0x01 Ed25519 note signature
    or 0x04 tlog-cosignature/v1) and Ed25519 public key."""

    name: str
    key_hash: bytes
    alg: int
    public_key: bytes

    @classmethod
    def from_key(cls, name: str, public_key: Ed25519PublicKey | bytes, alg: int = ED25519_ALG) -> "Verifier":
        raw = public_key if isinstance(public_key, bytes) else raw_public(public_key)
        if not _valid_name(name):
            raise CheckpointError(f"signed-note key name must be non-empty without '+' or spaces: {name!r}")
        if len(raw) != 32:
            raise CheckpointError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
        return cls(name, key_hash(name, alg, raw), alg, raw)

    def vkey(self) -> str:
        """The verifier key string ``name+hash+base64(alg || key)``."""
        return f"{self.name}+{self.key_hash.hex()}+" + base64.b64encode(bytes([self.alg]) + self.public_key).decode()

    def _ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse ``name+hash+base64(alg || key)``; the hash must match; Ed25519 (0x01) or cosignature
    (0x04) keys only. Raises :class:`CheckpointError` naming what is wrong."""
    if not isinstance(vkey, str) or vkey.count("+") < 2:
        raise CheckpointError(f"verifier key must be name+hash+key: {vkey!r}")
    name, hash16, key64 = vkey.split("+", 2)
    if not _valid_name(name):
        raise CheckpointError(f"verifier key name is empty or has spaces: {name!r}")
    if not re.fullmatch(r"[0-9a-f]{8}", hash16):
        raise CheckpointError(f"verifier key hash must be 8 lowercase hex digits: {hash16!r}")
    try:
        key = base64.b64decode(key64, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError(f"verifier key material is not base64: {key64!r}") from None
    if not key or key[0] not in (ED25519_ALG, COSIGNATURE_ALG):
        raise CheckpointError(f"verifier key {name}: unknown signature algorithm "
                              f"{key[0] if key else None!r} (known: 0x01 Ed25519, 0x04 cosignature/v1)")
    if len(key) != 33:
        raise CheckpointError(f"verifier key {name}: Ed25519 key must be 32 bytes", expected=32, actual=len(key) - 1)
    want = key_hash(name, key[0], key[1:])
    if want.hex() != hash16:
        raise CheckpointError(f"verifier key {name}: key hash does not match the key", expected=want.hex(),
                              actual=hash16)
    return Verifier(name, want, key[0], key[1:])


# --- signed notes -----------------------------------------------------------------------------
@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key hash and the signature bytes after it."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        return f"{SIG_PREFIX}{self.name} " + base64.b64encode(self.key_hash + self.signature).decode() + "\n"

    @property
    def timestamp(self) -> int | None:
        """For a cosignature, the POSIX time it carries (first 8 bytes after the key ID)."""
        return struct.unpack(">Q", self.signature[:8])[0] if len(self.signature) == 72 else None


@dataclass(frozen=True)
class Note:
    """A parsed signed note; ``verified`` lists signatures checked against known keys."""

    text: str
    signatures: tuple[NoteSignature, ...]
    verified: tuple[NoteSignature, ...] = field(default=())

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text.endswith("\n"):
        raise CheckpointError("malformed note: text must end with a newline")
    for n, ch in enumerate(text):
        if ord(ch) < 0x20 and ch != "\n":
            raise CheckpointError(f"malformed note: control character {ch!r} at offset {n}")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise CheckpointError(f"malformed note: invalid UTF-8 at offset {n}")


def parse_note(message: str | bytes) -> Note:
    """Split a signed note into text and signature lines without verifying anything."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("malformed note: not UTF-8") from None
    _check_text(message)
    split = message.rfind("\n\n")
    if split < 0:
        raise CheckpointError("malformed note: no blank line before the signatures")
    text, block = message[:split + 1], message[split + 2:]
    if not block:
        raise CheckpointError("malformed note: no signature lines")
    sigs = []
    for n, line in enumerate(block[:-1].split("\n"), start=1):
        if not line.startswith(SIG_PREFIX):
            raise CheckpointError(f"malformed note: signature line {n} does not start with '— ': {line[:40]!r}")
        name, _, b64 = line[len(SIG_PREFIX):].partition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not _valid_name(name) or not b64 or len(raw) < 5:
            raise CheckpointError(f"malformed note: signature line {n} ({name!r}) is not 'name base64(hash||sig)'")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
        if len(sigs) > MAX_SIGNATURES:
            raise CheckpointError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(sigs))


def _signed_message(v: Verifier, text: str, sig: NoteSignature) -> tuple[bytes, bytes] | None:
    if v.alg == ED25519_ALG:
        return text.encode(), sig.signature
    if len(sig.signature) != 8 + 64:  # cosignature/v1: timestamp || Ed25519 signature
        return None
    ts = struct.unpack(">Q", sig.signature[:8])[0]
    if ts >= 1 << 63:
        return None
    return f"cosignature/v1\ntime {ts}\n".encode() + text.encode(), sig.signature[8:]


def open_note(message: str | bytes, verifiers: Iterable[Verifier | str]) -> Note:
    """Parse a signed note and verify every signature made by a known key.

    Unknown keys are ignored (C2SP signed-note: clients MUST ignore unknown signatures);
    a known key's invalid signature raises; a note with no valid known signature raises.
    Returns the note with ``verified`` set. Raises :class:`CheckpointError`.
    """
    known: dict[tuple[str, bytes], list[Verifier]] = {}
    for v in verifiers:
        v = parse_verifier_key(v) if isinstance(v, str) else v
        known.setdefault((v.name, v.key_hash), []).append(v)
    note = parse_note(message)
    verified, seen = [], set()
    for sig in note.signatures:
        candidates = known.get((sig.name, sig.key_hash))
        if not candidates:
            continue
        if len({(c.alg, c.public_key) for c in candidates}) > 1:
            raise CheckpointError(f"ambiguous key {sig.name}+{sig.key_hash.hex()}")
        if (sig.name, sig.key_hash) in seen:
            continue
        seen.add((sig.name, sig.key_hash))
        v = candidates[0]
        signed = _signed_message(v, note.text, sig)
        try:
            if signed is None:
                raise InvalidSignature
            v._ed25519().verify(signed[1], signed[0])
        except InvalidSignature:
            raise CheckpointError(f"invalid signature for key {sig.name}+{sig.key_hash.hex()}") from None
        verified.append(sig)
    if not verified:
        names = ", ".join(f"{s.name}+{s.key_hash.hex()}" for s in note.signatures)
        raise CheckpointError(f"note has no verifiable signatures (signed by: {names or 'nobody'})")
    return Note(note.text, note.signatures, tuple(verified))


def _private(signer: Identity | Ed25519PrivateKey) -> Ed25519PrivateKey:
    return signer.private_key if isinstance(signer, Identity) else signer


def sign_note(text: str, signer: Identity | Ed25519PrivateKey, name: str,
              existing: Sequence[NoteSignature] = ()) -> str:
    """Sign ``text`` with Ed25519 under key name ``name``; existing signatures by the same key
    are replaced, others kept before the new one (as Go's ``note.Sign``)."""
    _check_text(text)
    key = _private(signer)
    v = Verifier.from_key(name, key.public_key())
    sig = NoteSignature(name, v.key_hash, key.sign(text.encode()))
    keep = [s for s in existing if (s.name, s.key_hash) != (name, v.key_hash)]
    return Note(text, (*keep, sig)).encode()


def sign_checkpoint(checkpoint: Checkpoint, signer: Identity | Ed25519PrivateKey, name: str | None = None) -> str:
    """A checkpoint as a signed note; the key name defaults to the origin (C2SP SHOULD)."""
    return sign_note(checkpoint.text(), signer, name or checkpoint.origin)


def open_checkpoint(message: str | bytes, verifiers: Iterable[Verifier | str], *,
                    origin: str | None = None) -> tuple[Checkpoint, Note]:
    """Verify a signed checkpoint and parse its body; with ``origin``, the origin must match."""
    note = open_note(message, verifiers)
    cp = Checkpoint.parse(note.text)
    if origin is not None and cp.origin != origin:
        raise CheckpointError(f"checkpoint is for log {cp.origin!r}, expected {origin!r}",
                              expected=origin, actual=cp.origin)
    return cp, note


def cosign(message: str, witness: Identity | Ed25519PrivateKey, name: str, *, time: datetime,
           log_verifiers: Iterable[Verifier | str] | None = None) -> str:
    """Add a witness cosignature (C2SP tlog-cosignature/v1, Ed25519) to a signed checkpoint.

    With ``log_verifiers`` the log's own signature is verified first (a witness must not vouch
    for a head it has not checked). The witness is responsible for having checked consistency
    with the last head it cosigned (:func:`verify_consistency`).
    """
    note = open_note(message, log_verifiers) if log_verifiers is not None else parse_note(message)
    Checkpoint.parse(note.text)
    if time.tzinfo is None:
        raise CheckpointError("cosignature time must be timezone-aware")
    ts = int(time.astimezone(UTC).timestamp())
    key = _private(witness)
    v = Verifier.from_key(name, key.public_key(), COSIGNATURE_ALG)
    signed = f"cosignature/v1\ntime {ts}\n".encode() + note.text.encode()
    sig = NoteSignature(name, v.key_hash, struct.pack(">Q", ts) + key.sign(signed))
    keep = [s for s in note.signatures if (s.name, s.key_hash) != (name, v.key_hash)]
    return Note(note.text, (*keep, sig)).encode()


def cosigner_key(name: str, public_key: Ed25519PublicKey | bytes) -> str:
    """A witness's verifier key for cosignatures (type 0x04)."""
    return Verifier.from_key(name, public_key, COSIGNATURE_ALG).vkey()


# --- partner checks ---------------------------------------------------------------------------
def verify_consistency(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that a partner's ``new`` tree head extends the ``old`` one it showed before.

    Same origin; size never shrinks; equal sizes need equal roots; otherwise the RFC 9162
    §2.1.4.2 consistency proof must link the two roots. Raises :class:`ConsistencyProofError`
    (a rewritten or forked history) naming the sizes and roots. ``old.size == 0`` is trivially
    consistent (the empty tree is a prefix of every tree).
    """
    if old.origin != new.origin:
        raise ConsistencyProofError(f"checkpoints are from different logs: {old.origin!r} vs {new.origin!r}",
                                    expected=old.origin, actual=new.origin)
    if new.size < old.size:
        raise ConsistencyProofError(f"log {new.origin} shrank from {old.size} to {new.size} entries: "
                                    "history was rewritten", expected=f">= {old.size}", actual=new.size)
    if old.size == 0:
        if proof:
            raise ConsistencyProofError("consistency from the empty tree takes an empty proof",
                                        expected=0, actual=len(proof))
        return
    try:
        merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
    except ConsistencyProofError as exc:
        err = ConsistencyProofError(f"log {new.origin}: tree head {new.size} is not consistent with "
                                    f"tree head {old.size} seen before (history rewritten or forked): {exc}")
        err.expected, err.actual = exc.expected, exc.actual
        raise err from None
