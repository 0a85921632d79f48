"""Node identity: an Ed25519 key pair, its fingerprint, and its signed-note verifier key.

* Fingerprint: ``SHA256:`` + lowercase hex of SHA-256 over the 32-byte raw public key; partners
  pin it (and the key itself) in their agreements.
* Verifier key (C2SP signed-note, as Go's ``golang.org/x/mod/sumdb/note``):
  ``<name>+<key hash, 8 hex digits>+<base64(0x01 || public key)>`` where the key hash is the
  first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key), big-endian.
  See https://c2sp.org/signed-note.

Private keys are written with mode 0600 and never printed or logged: :class:`Identity` has no
``__repr__`` that shows key material.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from accord.errors import ConfigError, InputError, SignatureError

ED25519_ALG = 0x01  # signed-note signature type for Ed25519


# Public-key objects by their base64 text / raw bytes: a key is immutable, and a node turns the
# same few pinned keys into objects for every policy decision and envelope (116,000 times in one
# exercise); one object per key, and its raw bytes remembered beside it. Bounded: cleared when full.
_KEYS_B64: dict[str, Ed25519PublicKey] = {}
_KEYS_RAW: dict[bytes, Ed25519PublicKey] = {}
_RAW_OF: dict[int, tuple[Ed25519PublicKey, bytes]] = {}
_CACHE_MAX = 4096


def _remember(cache: dict, key: object, value: object) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise InputError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
    raw = bytes(raw)
    key = _KEYS_RAW.get(raw)
    if key is None:
        key = Ed25519PublicKey.from_public_bytes(raw)
        _remember(_KEYS_RAW, raw, key)
    return key


def public_key_from_b64(text: str, *, field: str | None = None) -> Ed25519PublicKey:
    key = _KEYS_B64.get(text) if type(text) is str else None
    if key is not None:
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise InputError(f"public key is not valid base64: {text!r}", field=field) from None
    if len(raw) != 32:
        raise InputError(f"Ed25519 public key must be 32 bytes, got {len(raw)}", field=field)
    key = public_key_from_bytes(raw)
    _remember(_KEYS_B64, text, key)
    return key


def raw_public(key: Ed25519PublicKey) -> bytes:
    hit = _RAW_OF.get(id(key))
    if hit is not None and hit[0] is key:
        return hit[1]
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    _remember(_RAW_OF, id(key), (key, raw))  # the entry holds the key, so its id is not reused meanwhile
    return raw


_verify_keys: dict[bytes, VerifyKey] = {}


def verify_fast(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature (RFC 8032) of ``message`` by ``key``.

    The hot path of every received envelope: libsodium (PyNaCl) verifies in ~100 µs here where
    OpenSSL (``cryptography``) takes ~140–170 µs. libsodium is the stricter of the two (it also
    refuses small-order keys and non-canonical encodings); an honest signature passes both.
    """
    raw = raw_public(key)
    vk = _verify_keys.get(raw)
    if vk is None:
        if len(_verify_keys) > 4096:  # partner keys are few; bound the cache all the same
            _verify_keys.clear()
        vk = _verify_keys[raw] = VerifyKey(raw)
    try:
        vk.verify(message, signature)
        return True
    except (BadSignatureError, ValueError, TypeError):
        return False


def fingerprint(key: Ed25519PublicKey) -> str:
    return "SHA256:" + hashlib.sha256(raw_public(key)).hexdigest()


def note_key_hash(name: str, key: Ed25519PublicKey) -> bytes:
    """The 4-byte key hash of the signed-note format."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519_ALG]) + raw_public(key)).digest()[:4]


def verifier_key(name: str, key: Ed25519PublicKey) -> str:
    """Signed-note verifier key string ``name+hash+base64``."""
    if not name or "+" in name or any(c.isspace() for c in name):
        raise InputError(f"signed-note key name must be non-empty without '+' or spaces: {name!r}")
    return f"{name}+{note_key_hash(name, key).hex()}+" + base64.b64encode(
        bytes([ED25519_ALG]) + raw_public(key)).decode()


def verify_signature(key: Ed25519PublicKey, signature: bytes, message: bytes, *, what: str = "message") -> None:
    """Raise :class:`SignatureError` unless ``signature`` is ``key``'s Ed25519 signature over ``message``."""
    try:
        key.verify(signature, message)
    except InvalidSignature:
        raise SignatureError(f"{what}: Ed25519 signature does not verify under key {fingerprint(key)}") from None


@dataclass(frozen=True, repr=False)
class Identity:
    """A party's node key pair. ``repr`` never shows the private key."""

    party: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_b64(self) -> str:
        return base64.b64encode(raw_public(self.public_key)).decode()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature (RFC 8032, deterministic: the same bytes whichever library signs).

        Signs with libsodium (PyNaCl), ~45 µs here against OpenSSL's ~57 µs: every shared item
        is signed once per recipient. The signing key is derived from the private key's seed once.
        """
        return self._signing_key.sign(message).signature

    @cached_property
    def _signing_key(self) -> SigningKey:
        """libsodium's signing key, derived from the private key's seed once."""
        seed = self.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())
        return SigningKey(seed)

    def __repr__(self) -> str:
        return f"Identity(party={self.party!r}, fingerprint={self.fingerprint!r})"

    @classmethod
    def generate(cls, party: str) -> "Identity":
        return cls(party, Ed25519PrivateKey.generate())

    def save(self, path: Path) -> None:
        """Write the private key (PKCS#8 PEM) with mode 0600, atomically; refuse to overwrite."""
        path = Path(path)
        if path.exists():
            raise ConfigError(f"{path}: key file already exists; refusing to overwrite a node identity")
        pem = self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    @classmethod
    def load(cls, party: str, path: Path) -> "Identity":
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{path}: node key not found (run `accord node init`)") from None
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(f"{path}: private key is readable by others (mode {mode:o}); chmod 600 it")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise ConfigError(f"{path}: not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{path}: not an Ed25519 private key")
        return cls(party, key)
