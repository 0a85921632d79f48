"""Partner request authentication: HTTP Message Signatures (RFC 9421) with Ed25519.

What Accord **sends** (:func:`sign_request`) on every request to a partner node::

    Content-Digest: sha-256=:<base64 SHA-256 of the body>:
    Accord-Recipient: KOR
    Signature-Input: accord=("@method" "@path" "@query" "content-digest" "accord-recipient");created=<unix>;keyid="JPN";alg="ed25519"
    Signature: accord=:<base64 Ed25519 signature>:

What Accord **accepts** (:func:`verify_request`) is any valid RFC 9421 signature that covers what
it needs, however the signer laid it out. ``Signature-Input``, ``Signature`` and
``Content-Digest`` are parsed as RFC 8941 dictionaries (http-sf); then

1. the signature is picked **by key**: a member of ``Signature-Input`` whose ``keyid`` is a
   pinned partner party and whose signature verifies under that party's pinned Ed25519 key and
   passes steps 2–3 (its label does not matter; other signatures beside it, a gateway's say, are
   ignored); ``alg``, when present, must be ``"ed25519"``;
2. its covered components are resolved in the signer's order and the signature base is built as
   RFC 9421 §2.5 says: one line ``"<name>": <value>`` per component, then
   ``"@signature-params": <the inner list, re-serialised per RFC 8941>``, joined by ``\\n``;
3. only then, with the signer known: the covered set must include :data:`REQUIRED` (more is
   fine), ``created`` must be within :data:`MAX_SKEW` of this node's clock, ``expires`` (if
   given) must not have passed, and ``accord-recipient`` must name this node's party — so a
   captured request cannot be replayed to another node (issue #16.5); ``nonce`` and ``tag`` are
   signed but not interpreted;
4. the body must match ``Content-Digest`` (RFC 9530): every ``sha-256`` and ``sha-512`` member
   present must match, and at least one must be present; other algorithms are ignored.

Steps 1–3 need the headers only (:func:`verify_request` with ``body=None``); step 4 needs the
body (:func:`verify_content_digest`). A refusal raises
:class:`~accord.errors.RequestSignatureError` whose ``signer`` is the party whose pinned key
verified the signature, or ``None`` when no pinned key did: a forged request is recorded as from
an unknown key, never under the ``keyid`` it claims.

Why a signed request on top of signed envelopes: the envelope signature proves who wrote each
item, but the partner endpoint also answers requests that carry no envelope (checkpoints,
consistency proofs), and it should refuse an unknown or impersonating caller before it parses a
large batch. The same pinned Ed25519 key serves both, so there is no second secret to distribute
or rotate. Replays of a whole request to the same node inside the window are harmless: envelopes
are deduplicated by (originator, seq) and the other endpoints are read-only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.clock import add_seconds
from accord.core.identity import Identity, fingerprint, verify_fast
from accord.errors import RequestSignatureError

MAX_SKEW = 300.0  # seconds
RECIPIENT_FIELD = "accord-recipient"
REQUIRED = ("@method", "@path", "@query", "content-digest", RECIPIENT_FIELD)
"""Components every accepted signature covers (in any order, among any others)."""
COMPONENTS = tuple(f'"{c}"' for c in REQUIRED)
"""Accord's own covered components, in the order it signs them."""
ALG = "ed25519"
DIGESTS: dict[str, Callable[[bytes], Any]] = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
"""RFC 9530 digest algorithms checked against the body."""
_SIGNATURE_PARAMS = {"created", "expires", "nonce", "alg", "keyid", "tag"}  # RFC 9421 §2.3
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELD_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")  # RFC 9110 §5.1 token, lowercased (RFC 9421 §2.1)


# --- signing (what Accord sends) -------------------------------------------------------------
def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def _params(created: int, keyid: str) -> str:
    return f'({" ".join(COMPONENTS)});created={created};keyid="{keyid}";alg="{ALG}"'


def _base(lines: list[tuple[str, str]], params: str) -> bytes:
    """RFC 9421 §2.5: ``"<component>": <value>`` lines, then the ``@signature-params`` line."""
    return "\n".join([f"{name}: {value}" for name, value in lines]
                     + [f'"@signature-params": {params}']).encode("utf-8")


def signature_base(method: str, path: str, query: str, digest: str, recipient: str, params: str) -> bytes:
    """RFC 9421 §2.5 signature base for Accord's own covered components, in its order."""
    values = (method.upper(), path, "?" + query, digest, recipient)
    return _base(list(zip(COMPONENTS, values)), params)


def sign_request(identity: Identity, method: str, path: str, query: str, body: bytes,
                 now: datetime, recipient: str) -> dict[str, str]:
    """Headers that authenticate a request from ``identity.party`` to the node of ``recipient``."""
    digest = content_digest(body)
    params = _params(int(now.timestamp()), identity.party)
    sig = identity.sign(signature_base(method, path, query, digest, recipient, params))
    return {
        "Content-Digest": digest,
        "Accord-Recipient": recipient,
        "Signature-Input": f"accord={params}",
        "Signature": "accord=:" + base64.b64encode(sig).decode() + ":",
    }


# --- verification (what Accord accepts) ------------------------------------------------------
def _field(headers: Mapping[str, str], name: str) -> str | None:
    """A header field's value, its lines combined as RFC 9110 §5.3 and RFC 9421 §2.1 say."""
    getlist = getattr(headers, "getlist", None)
    if callable(getlist):
        lines = getlist(name)
        return ", ".join(v.strip() for v in lines) if lines else None
    value = headers.get(name)
    return value.strip() if value is not None else None


def _refuse(message: str, signer: str | None = None) -> RequestSignatureError:
    return RequestSignatureError(message, signer=signer)


def _dictionary(name: str, value: str, signer: str | None = None) -> dict[str, Any]:
    """``value`` parsed as an RFC 8941 dictionary (duplicate keys refused), or a refusal."""
    def duplicate(key: str, context: str) -> None:
        if context == "dictionary":
            raise http_sf.StructuredFieldError(f"duplicate key {key!r}")

    try:
        parsed = http_sf.parse(value.encode("latin-1"), tltype="dictionary", on_duplicate_key=duplicate)
    except (http_sf.StructuredFieldError, UnicodeEncodeError) as exc:
        raise _refuse(f"{name} is not an RFC 8941 dictionary: {exc}", signer) from None
    assert isinstance(parsed, dict)
    return parsed


def _components(label: str, member: Any) -> tuple[list[str], dict[str, Any]]:
    """A ``Signature-Input`` member: (covered component names, signature parameters)."""
    if not isinstance(member, tuple) or not isinstance(member[0], list):
        raise _refuse(f'Signature-Input member "{label}" is not an inner list of covered components')
    names: list[str] = []
    for value, comp_params in member[0]:
        if not isinstance(value, str):
            raise _refuse(f'Signature-Input "{label}" lists {value!r}, not a component name string')
        if comp_params:
            ser = http_sf.ser((value, comp_params))
            raise _refuse(f'Signature-Input "{label}" covers {ser}: Accord accepts components '
                          "without parameters (no ;sf, ;key, ;bs, ;req, ;name)")
        if value in names:
            raise _refuse(f'Signature-Input "{label}" covers "{value}" twice')
        names.append(value)
    return names, member[1]


def _derived(name: str, method: str, path: str, query: str, authority: str | None,
             scheme: str | None) -> str | None:
    """The value of a derived component (RFC 9421 §2.2), or ``None`` if Accord cannot tell it."""
    if name == "@method":
        return method.upper()
    if name == "@path":
        return path or "/"
    if name == "@query":
        return "?" + query
    if name == "@request-target":
        return (path or "/") + ("?" + query if query else "")
    if name not in ("@authority", "@scheme", "@target-uri"):
        return None
    if authority is None or scheme is None:
        raise _refuse(f'the signature covers "{name}", but this node was not told the request\'s '
                      "authority and scheme")
    host = authority.lower()
    if host.endswith(":" + _DEFAULT_PORTS.get(scheme, "-")):
        host = host.rsplit(":", 1)[0]
    return {"@authority": host, "@scheme": scheme.lower(),
            "@target-uri": f"{scheme.lower()}://{host}{path or '/'}" + ("?" + query if query else "")}[name]


def _signature_base(label: str, names: list[str], params_text: str, headers: Mapping[str, str],
                    method: str, path: str, query: str, authority: str | None,
                    scheme: str | None) -> bytes:
    lines = []
    for name in names:
        if name.startswith("@"):
            value = _derived(name, method, path, query, authority, scheme)
            if value is None:
                raise _refuse(f'signature "{label}" covers "{name}", a derived component Accord does not '
                              "support (supported: @method, @path, @query, @request-target, @authority, "
                              "@scheme, @target-uri)")
        else:
            if not _FIELD_NAME.fullmatch(name):
                raise _refuse(f'signature "{label}" covers {name!r}, which is not a lowercase HTTP field name')
            field = _field(headers, name)
            if field is None:
                raise _refuse(f'signature "{label}" covers the header field "{name}", which the request '
                              "does not carry")
            value = field
        if "\n" in value or "\r" in value:  # one line per component, or the base is ambiguous
            raise _refuse(f'signature "{label}" covers "{name}", whose value contains a line break')
        lines.append((f'"{name}"', value))
    return _base(lines, params_text)


def _unix_time(seconds: int) -> str:
    when = add_seconds(_UNIX_EPOCH, seconds)
    if when is None:  # beyond what datetime holds (year 1 to 9999)
        return f"{seconds} (Unix time)"
    return f"{when:%Y-%m-%dT%H:%M:%SZ}"


def _integer_param(label: str, params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is not None and type(value) is not int:
        raise _refuse(f'signature "{label}": {name} must be an integer, got {http_sf.ser(value)}')
    return value


def _string_param(label: str, params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and type(value) is not str:
        raise _refuse(f'signature "{label}": {name} must be a quoted string, got {value!s}')
    return value


def _verify_signature(headers: Mapping[str, str], method: str, path: str, query: str,
                      keys: Mapping[str, Ed25519PublicKey], now: datetime, recipient: str,
                      authority: str | None, scheme: str | None) -> str:
    """Steps 1–3 of the module docstring: the party whose pinned key signed the request."""
    sig_input = _field(headers, "signature-input")
    sig_field = _field(headers, "signature")
    missing = [n for n, v in (("Signature-Input", sig_input), ("Signature", sig_field),
                              ("Content-Digest", _field(headers, "content-digest"))) if not v]
    if missing:
        raise _refuse(f"partner request is not signed (RFC 9421): missing {', '.join(missing)}")
    assert sig_input is not None and sig_field is not None
    inputs = _dictionary("Signature-Input", sig_input)
    signatures = _dictionary("Signature", sig_field)

    candidates, others = [], []
    for label, member in inputs.items():
        keyid = member[1].get("keyid") if isinstance(member, tuple) else None
        if type(keyid) is str and keyid in keys:
            candidates.append((label, member, keyid))
        elif keyid is None:
            others.append(f'"{label}" (no keyid)')
        elif type(keyid) is not str:
            others.append(f'"{label}" (keyid {keyid!s} is not a quoted string)')
        elif keyid == recipient:  # the node's own party: its own delivery, come back to it
            others.append(f'"{label}" (keyid "{keyid}", this node\'s own party: does a partner URL pinned on '
                          f'{keyid} point back at this server?)')
        else:
            others.append(f'"{label}" (keyid "{keyid}")')
    if not candidates:
        raise _refuse("no signature by a pinned partner key: " + ", ".join(others)
                      + f"; pinned: {', '.join(sorted(keys)) or 'none'}")

    errors: list[RequestSignatureError] = []
    for label, member, party in candidates:  # any one acceptable signature by a pinned key will do
        try:
            return _verify_one(label, member, party, signatures, headers, method, path, query,
                               keys[party], now, recipient, authority, scheme)
        except RequestSignatureError as exc:
            errors.append(exc)
    # the answer: what is wrong with an authentic signature, if there was one, else the first
    raise next((e for e in errors if e.signer is not None), errors[0])


def _verify_one(label: str, member: Any, party: str, signatures: Mapping[str, Any],
                headers: Mapping[str, str], method: str, path: str, query: str, key: Ed25519PublicKey,
                now: datetime, recipient: str, authority: str | None, scheme: str | None) -> str:
    names, params = _components(label, member)
    alg = _string_param(label, params, "alg")
    if alg is not None and alg != ALG:
        raise _refuse(f'signature "{label}" declares alg "{alg}", but {party}\'s pinned key is Ed25519 '
                      f'(alg "{ALG}")')
    for name in ("keyid", "nonce", "tag"):
        _string_param(label, params, name)
    created = _integer_param(label, params, "created")
    expires = _integer_param(label, params, "expires")
    sig_member = signatures.get(label)
    if sig_member is None:
        raise _refuse(f'Signature-Input names signature "{label}" (keyid "{party}"), but the Signature '
                      "header has no member of that label")
    if not isinstance(sig_member, tuple) or not isinstance(sig_member[0], bytes):
        raise _refuse(f'Signature member "{label}" is not a byte sequence (:base64:)')
    params_text = http_sf.ser({label: member})[len(label) + 1:]
    base = _signature_base(label, names, params_text, headers, method, path, query, authority, scheme)
    if not verify_fast(key, sig_member[0], base):
        raise _refuse(f'signature "{label}" (keyid "{party}") does not verify under {party}\'s pinned key '
                      f"{fingerprint(key)}: forged, or its covered components or parameters were altered")

    # the signer is known from here on: refusals name it
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise _refuse(f'signature "{label}" of {party} does not cover {", ".join(missing)} '
                      f"(Accord requires {', '.join(REQUIRED)}, in any order)", party)
    unknown = set(params) - _SIGNATURE_PARAMS
    if unknown:
        raise _refuse(f'signature "{label}" of {party} has parameters RFC 9421 does not define: '
                      + ", ".join(sorted(unknown)), party)
    t = now.timestamp()
    if created is None:
        raise _refuse(f'signature "{label}" of {party} has no created parameter (Accord requires it)', party)
    if abs(t - created) > MAX_SKEW:
        when = f"{t - created:.0f} s ago" if t > created else f"{created - t:.0f} s in the future"
        raise _refuse(f"request from {party} was created {when} by this node's clock "
                      f"(limit {MAX_SKEW:.0f} s either way)", party)
    if expires is not None and t > expires:
        raise _refuse(f"request from {party} expired at {_unix_time(expires)} ({t - expires:.0f} s ago)", party)
    to = _field(headers, RECIPIENT_FIELD)
    if to != recipient:
        raise _refuse(f"request from {party} is addressed to {to}, not to this node ({recipient})", party)
    return party


def verify_content_digest(headers: Mapping[str, str], body: bytes, party: str) -> None:
    """Step 4: the body matches the request's ``Content-Digest`` (RFC 9530: every sha-256 and
    sha-512 member, at least one of them), or :class:`~accord.errors.RequestSignatureError`
    naming ``party``, the signer :func:`verify_request` returned."""
    members = _dictionary(f"Content-Digest of the request from {party}",
                          _field(headers, "content-digest") or "", party)
    checked = 0
    for alg, member in members.items():
        hasher = DIGESTS.get(alg)
        if hasher is None:
            continue
        if not isinstance(member, tuple) or not isinstance(member[0], bytes):
            raise _refuse(f"Content-Digest {alg} of the request from {party} is not a byte sequence", party)
        if not hmac.compare_digest(member[0], hasher(body).digest()):
            raise _refuse(f"Content-Digest {alg} of the request from {party} does not match its body "
                          f"({len(body)} bytes)", party)
        checked += 1
    if not checked:
        raise _refuse(f"Content-Digest of the request from {party} has no sha-256 or sha-512 digest "
                      f"(has: {', '.join(members) or 'nothing'})", party)


def verify_request(headers: Mapping[str, str], method: str, path: str, query: str, body: bytes | None,
                   keys: Mapping[str, Ed25519PublicKey], now: datetime, *, recipient: str,
                   authority: str | None = None, scheme: str | None = None) -> str:
    """Return the party whose pinned key signed the request, or raise
    :class:`~accord.errors.RequestSignatureError` saying what was wrong.

    ``keys`` maps each pinned partner party to its Ed25519 public key; ``recipient`` is this
    node's party; ``authority`` (the Host) and ``scheme`` are needed only by signatures that
    cover ``@authority``, ``@scheme`` or ``@target-uri``. ``body=None`` checks the headers alone
    (steps 1–3: the signature covers the Content-Digest header, not the body), as a server does
    before it reads a body; it then calls :func:`verify_content_digest` on the body it read.
    """
    party = _verify_signature(headers, method, path, query, keys, now, recipient, authority, scheme)
    if body is not None:
        verify_content_digest(headers, body, party)
    return party
