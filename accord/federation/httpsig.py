"""Partner request authentication: HTTP Message Signatures (RFC 9421) with Ed25519.

Every request between partner nodes carries

* ``Content-Digest: sha-256=:<base64>:`` (RFC 9530) over the body, and
* ``Signature-Input: accord=("@method" "@path" "@query" "content-digest");created=<unix>;keyid="<PARTY>";alg="ed25519"``
* ``Signature: accord=:<base64 Ed25519 signature>:``

signed with the sending node's identity key. The signature base is built as RFC 9421 §2.5
says: one line per covered component, ``"<name>": <value>``, then
``"@signature-params": <the inner list>``, joined by ``\\n`` (no trailing newline).

Why a signed request on top of signed envelopes: the envelope signature proves who wrote each
item, but the partner endpoint also answers requests that carry no envelope (checkpoints,
consistency proofs, status), and it should refuse an unknown or impersonating caller before it
parses a large batch. The same pinned Ed25519 key serves both, so there is no second secret to
distribute or rotate (a shared bearer token between nodes would be one more secret on disk on
both sides). ``created`` must be within :data:`MAX_SKEW` of the receiver's clock; replays of a
whole request inside that window are harmless, because envelopes are deduplicated by
(originator, seq) and the other endpoints are read-only.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.core.identity import Identity, verify_signature
from accord.errors import AuthError, SignatureError

MAX_SKEW = 300.0  # seconds
COMPONENTS = ('"@method"', '"@path"', '"@query"', '"content-digest"')
_INPUT_RE = re.compile(
    r'^accord=\((?P<comps>[^)]*)\);created=(?P<created>\d+);keyid="(?P<keyid>[A-Z]{3})";alg="ed25519"$')
_SIG_RE = re.compile(r"^accord=:(?P<sig>[A-Za-z0-9+/=]+):$")


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def _params(created: int, keyid: str) -> str:
    return f'({" ".join(COMPONENTS)});created={created};keyid="{keyid}";alg="ed25519"'


def signature_base(method: str, path: str, query: str, digest: str, params: str) -> bytes:
    """RFC 9421 §2.5 signature base for Accord's covered components."""
    lines = [
        f'"@method": {method.upper()}',
        f'"@path": {path}',
        f'"@query": ?{query}',
        f'"content-digest": {digest}',
        f'"@signature-params": {params}',
    ]
    return "\n".join(lines).encode("utf-8")


def sign_request(identity: Identity, method: str, path: str, query: str, body: bytes,
                 now: datetime) -> dict[str, str]:
    """Headers that authenticate a request from ``identity.party``."""
    digest = content_digest(body)
    params = _params(int(now.timestamp()), identity.party)
    sig = identity.sign(signature_base(method, path, query, digest, params))
    return {
        "Content-Digest": digest,
        "Signature-Input": f"accord={params}",
        "Signature": "accord=:" + base64.b64encode(sig).decode() + ":",
    }


def verify_content_digest(headers: Mapping[str, str], body: bytes, party: str) -> None:
    """Raise :class:`AuthError` unless the request's Content-Digest (RFC 9530) is its body's."""
    if (headers.get("content-digest") or "").strip() != content_digest(body):
        raise AuthError(f"Content-Digest of the request from {party} does not match its body")


def verify_request(headers: Mapping[str, str], method: str, path: str, query: str, body: bytes | None,
                   keys: Mapping[str, Ed25519PublicKey], now: datetime) -> str:
    """Return the authenticated party, or raise :class:`AuthError` saying what was wrong.

    ``keys`` maps each pinned partner party to its Ed25519 public key. ``body=None`` checks the
    headers alone (the signature covers the Content-Digest header, not the body): a server does
    that before reading a body, then :func:`verify_content_digest` once it has read it.
    """
    sig_input = headers.get("signature-input")
    sig_header = headers.get("signature")
    digest = headers.get("content-digest")
    if not sig_input or not sig_header or not digest:
        raise AuthError("partner request is not signed (needs Signature-Input, Signature, "
                        "Content-Digest headers, RFC 9421)")
    m = _INPUT_RE.match(sig_input.strip())
    if not m or m.group("comps") != " ".join(COMPONENTS):
        raise AuthError("Signature-Input does not cover the components Accord requires: "
                        + " ".join(COMPONENTS))
    party = m.group("keyid")
    key = keys.get(party)
    if key is None:
        raise AuthError(f"party {party} is not a pinned partner of this node")
    created = int(m.group("created"))
    skew = abs(now.timestamp() - created)
    if skew > MAX_SKEW:
        raise AuthError(f"request from {party} is {skew:.0f} s away from this node's clock "
                        f"(limit {MAX_SKEW:.0f} s)")
    if body is not None:
        verify_content_digest(headers, body, party)
    s = _SIG_RE.match(sig_header.strip())
    if not s:
        raise AuthError("malformed Signature header")
    params = sig_input.strip()[len("accord="):]
    try:
        verify_signature(key, base64.b64decode(s.group("sig")),
                         signature_base(method, path, query, digest.strip(), params),
                         what=f"request signature of {party}")
    except (SignatureError, ValueError) as exc:
        raise AuthError(str(exc)) from None
    return party
