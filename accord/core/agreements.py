"""Agreements: which item kinds may flow between which parties, up to which classification, when.

Kept as one module: the agreement's YAML model, its signatures and its verification,
one format.

File format (YAML; one document, two top-level keys)::

    agreement:
      format: accord-agreement/1
      id: jpn-kor-warning
      version: 1
      title: JPN–KOR early-warning exchange
      parties: [JPN, KOR]
      keys:                      # each party's Ed25519 public key (base64), bound by the signatures
        JPN: 3q2+7w…=
        KOR: yv66vg…=
      valid_from: '2026-01-01T00:00:00.000Z'
      valid_until: '2027-01-01T00:00:00.000Z'   # exclusive
      rules:                     # one per direction; absent direction = nothing flows that way
      - from: JPN
        to: KOR
        kinds: ['warning.*']     # fnmatch patterns over item kinds
        max_classification: SECRET
    signatures:
    - party: JPN
      fingerprint: SHA256:…
      signature: <base64 Ed25519 signature>

Signing (:func:`sign_agreement`): every party signs, with Ed25519 (RFC 8032), the RFC 8785
canonical JSON of the normalised ``agreement`` body (:meth:`Agreement.body`): timestamps as
RFC 3339 millisecond strings, parties sorted, the ``format`` tag included so a signature over an
agreement can never be replayed as a signature over anything else. Because the body is
normalised, re-indenting the YAML does not break signatures, but changing any value does.

In force (:func:`agreement_problems`, :func:`verify_agreement`): an agreement is in force at
``now`` iff every party named has a signature that verifies under that party's key in the body,
that key is the one the node has pinned for the party, and ``valid_from <= now < valid_until``.
Anything else is a problem, and :func:`verify_agreement` raises :class:`AgreementError` listing
each one (missing signature of X, altered after signing, unknown key, expired / not yet valid).

The YAML loader rejects duplicate keys (naming the line) and keeps timestamps as strings, so
what is signed is exactly what the file says. The file's shape is checked by pydantic models
(``_AgreementFile`` and the models under it) read through
:func:`accord.core.input_files.load_model` (YAML) or :func:`~accord.core.input_files.check_model`
(JSON): each problem is one :class:`~accord.errors.InputError` naming the file, the YAML line
and the field.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from accord.clock import parse_rfc3339, to_rfc3339
from accord.core.canonical import canonical_json
from accord.core.files import replace_file
from accord.core.input_files import check_model, load_model, read_text_file
from accord.core.identity import Identity, fingerprint, public_key_from_b64, raw_public
from accord.core.markings import Classification, check_party
from accord.core.safe_yaml import load_yaml
from accord.errors import AccordError, AgreementError, InputError

FORMAT = "accord-agreement/1"
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_PATTERN_RE = re.compile(r"[a-z0-9_.*?\[\]-]+")
_BODY_FIELDS = {"format", "id", "version", "title", "parties", "keys", "valid_from", "valid_until", "rules"}
_RULE_FIELDS = {"from", "to", "kinds", "max_classification"}
_NOT_A_MAPPING = "an agreement file must be a mapping with an 'agreement' key"


# --- YAML loading: accord.core.safe_yaml (no aliases, merge keys, complex or duplicate keys) --
def load_yaml_strict(text: str, *, source: str | None = None) -> Any:
    """Parse YAML with :func:`accord.core.safe_yaml.load_yaml`; errors name ``source`` and the line."""
    return load_yaml(text, source=source)


# --- the model -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """Items of a kind matching one of ``kinds`` may flow ``from_party`` → ``to_party`` up to ``max_classification``."""

    from_party: str
    to_party: str
    kinds: tuple[str, ...]
    max_classification: Classification

    def covers(self, kind: str) -> bool:
        return any(fnmatchcase(kind, pattern) for pattern in self.kinds)

    def to_json(self) -> dict[str, Any]:
        return {"from": self.from_party, "to": self.to_party, "kinds": list(self.kinds),
                "max_classification": self.max_classification.banner}


@dataclass(frozen=True)
class AgreementSignature:
    party: str
    fingerprint: str
    signature: bytes

    def to_json(self) -> dict[str, str]:
        return {"party": self.party, "fingerprint": self.fingerprint,
                "signature": base64.b64encode(self.signature).decode()}


@dataclass(frozen=True)
class Agreement:
    id: str
    version: int
    title: str
    parties: tuple[str, ...]
    keys: Mapping[str, str]                # party → base64 raw Ed25519 public key
    valid_from: datetime
    valid_until: datetime
    rules: tuple[Rule, ...]
    signatures: tuple[AgreementSignature, ...] = field(default=())

    # --- the signed body -----------------------------------------------------------------
    def body(self) -> dict[str, Any]:
        """The normalised body every party signs (see the module docstring)."""
        return {"format": FORMAT, "id": self.id, "version": self.version, "title": self.title,
                "parties": sorted(self.parties), "keys": {p: self.keys[p] for p in sorted(self.keys)},
                "valid_from": to_rfc3339(self.valid_from), "valid_until": to_rfc3339(self.valid_until),
                "rules": [r.to_json() for r in self.rules]}

    def signing_bytes(self) -> bytes:
        """RFC 8785 canonical JSON of :meth:`body`: the exact bytes each party signs."""
        return self._signing_bytes

    @cached_property
    def _signing_bytes(self) -> bytes:  # the dataclass is frozen, so the body never changes
        return canonical_json(self.body())

    def in_window(self, now: datetime) -> bool:
        return self.valid_from <= now < self.valid_until

    def rules_for(self, from_party: str, to_party: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.from_party == from_party and r.to_party == to_party)

    def signature_of(self, party: str) -> AgreementSignature | None:
        return next((s for s in self.signatures if s.party == party), None)

    def public_key(self, party: str) -> Ed25519PublicKey:
        return public_key_from_b64(self.keys[party], field=f"agreement.keys.{party}")

    # --- files -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"agreement": self.body(), "signatures": [s.to_json() for s in self.signatures]}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_json(), sort_keys=False, allow_unicode=True, width=100)

    @classmethod
    def from_json(cls, data: object, *, source: str | None = None) -> "Agreement":
        return _agreement_from_json(data, source)

    @classmethod
    def from_yaml(cls, text: str, *, source: str | None = None) -> "Agreement":
        return load_model(_AgreementFile, text, source=source, not_a_mapping=_NOT_A_MAPPING,
                          where_in_message=True, messages=_MESSAGES)[0].agreement_value()

    def save(self, path: str | Path, *, follow: bool = True) -> None:
        """Write the agreement to ``path`` whole or not at all, as every ``--out`` file is
        (:func:`accord.core.files.replace_file`: an existing file keeps its mode and group, a
        symbolic link keeps pointing where it did): ``accord agreement sign`` rewrites the file in
        place, and a full disk or a kill midway emptied it — the other parties' signatures with it.
        ``follow=False``: a link found at ``path`` is replaced, not followed (``agreement sign``
        writes back the file it read, its links resolved before it read it)."""
        replace_file(path, self.to_yaml().encode("utf-8"), follow=follow)


def load_agreement(path: str | Path) -> Agreement:
    """Read and parse an agreement file (structure only; see :func:`verify_agreement`)."""
    text = read_text_file(path, what="agreement file")
    return Agreement.from_yaml(text, source=str(path))


# --- the file's shape: pydantic models, read through accord.core.input_files ----------------
def _as_problem(check: Any, v: Any) -> Any:
    """``check(v)``, an :class:`AccordError` turned into pydantic's error in the same words."""
    try:
        return check(v)
    except AccordError as exc:
        raise ValueError(exc.detail if isinstance(exc, InputError) else str(exc)) from None


def _public_key_text(k: Any) -> str:
    if not isinstance(k, str):
        raise ValueError("a party's key must be a base64 string")
    _as_problem(public_key_from_b64, k)
    return k


def _list_of(what: str) -> BeforeValidator:
    """A list, or pydantic's error ``{what} must be a list``."""
    def check(v: Any) -> Any:
        if not isinstance(v, list):
            raise ValueError(f"{what} must be a list")
        return v
    return BeforeValidator(check)


def _keys_mapping(v: Any) -> Any:
    if not isinstance(v, dict):
        raise ValueError("keys must map each party to its base64 Ed25519 public key")
    return v




class _RuleFields(BaseModel):
    """One rule as written: exactly ``from``, ``to``, ``kinds``, ``max_classification``
    (``from``/``to`` are checked against the parties by :class:`_BodyFields`)."""

    from_party: Any = Field(alias="from")
    to_party: Any = Field(alias="to")
    kinds: Any
    max_classification: Any

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, r: Any) -> Any:
        if not isinstance(r, dict):
            raise ValueError("a rule must be a mapping")
        if set(r) != _RULE_FIELDS:
            raise ValueError(f"a rule has exactly the fields {sorted(_RULE_FIELDS)}, got {sorted(map(str, r))}")
        return r

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, kinds: Any) -> tuple[str, ...]:
        if not isinstance(kinds, list) or not kinds or not all(
                isinstance(k, str) and _PATTERN_RE.fullmatch(k) for k in kinds):
            raise ValueError(f"kinds must be a non-empty list of patterns such as 'warning.*', got {kinds!r}")
        return tuple(kinds)

    @field_validator("max_classification")
    @classmethod
    def _ceiling(cls, v: Any) -> Classification:
        return _as_problem(Classification.parse, v)


class _BodyFields(BaseModel):
    """The ``agreement:`` mapping as written (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    format: Any = FORMAT
    id: Any
    version: Any
    title: Any = ""
    parties: Any
    keys: Annotated[dict[Any, Annotated[str, BeforeValidator(_public_key_text)]], BeforeValidator(_keys_mapping)]
    valid_from: Any
    valid_until: Any
    rules: Annotated[list[_RuleFields], _list_of("rules")]

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, body: Any) -> Any:
        if not isinstance(body, dict):
            raise ValueError("must be a mapping")
        return body

    @field_validator("format")
    @classmethod
    def _format(cls, v: Any) -> str:
        if v != FORMAT:
            raise ValueError(f"unsupported format {v!r} (expected {FORMAT!r})")
        return v

    @field_validator("id")
    @classmethod
    def _id(cls, v: Any) -> str:
        if not isinstance(v, str) or not _ID_RE.fullmatch(v):
            raise ValueError(f"id {v!r} must be 1–128 of A-Z a-z 0-9 . _ -")
        return v

    @field_validator("version")
    @classmethod
    def _version(cls, v: Any) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"version must be a positive integer, got {v!r}")
        if v >= 2**53:  # the signed body is RFC 8785 JSON, whose integers are exact only below 2**53
            raise ValueError(f"version must be below 2**53, got an integer of {len(str(v))} digits")
        return v

    @field_validator("title")
    @classmethod
    def _title(cls, v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError("title must be a string")
        return v

    @field_validator("parties")
    @classmethod
    def _parties(cls, v: Any) -> list[str]:
        if not isinstance(v, list) or len(v) < 2:
            raise ValueError("parties must list at least two parties")
        for p in v:
            _as_problem(check_party, p)
        if len(set(v)) != len(v):
            raise ValueError("a party is listed twice")
        return v

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _when(cls, v: Any) -> datetime:
        return _as_problem(parse_rfc3339, v)

    @model_validator(mode="after")
    def _consistent(self) -> "_BodyFields":
        if set(self.keys) != set(self.parties):
            raise ValueError(f"keys: keys must name exactly the parties {sorted(self.parties)}, got "
                             f"{sorted(map(str, self.keys))}")
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until: valid_until must be after valid_from")
        for i, r in enumerate(self.rules):
            if r.from_party not in self.parties or r.to_party not in self.parties or r.from_party == r.to_party:
                raise ValueError(f"rules[{i}]: from/to must be two different parties of the agreement, "
                                 f"got {r.from_party!r} → {r.to_party!r}")
        return self


class _SignatureFields(BaseModel):
    """One signature as written: exactly ``party``, ``fingerprint``, ``signature``, all strings,
    the signature 64 bytes of base64."""

    party: str
    fingerprint: str
    signature: bytes

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, s: Any) -> Any:
        if not isinstance(s, dict) or set(s) != {"party", "fingerprint", "signature"}:
            raise ValueError("a signature has exactly the fields party, fingerprint, signature")
        if not all(isinstance(s[k], str) for k in ("party", "fingerprint", "signature")):
            raise ValueError("party, fingerprint and signature must be strings")
        return s

    @field_validator("signature", mode="before")
    @classmethod
    def _signature(cls, v: str) -> bytes:
        try:
            sig = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("signature is not valid base64") from None
        if len(sig) != 64:
            raise ValueError(f"an Ed25519 signature is 64 bytes, got {len(sig)}")
        return sig


class _AgreementFile(BaseModel):
    """An agreement file: the ``agreement`` body and its ``signatures`` (none yet, if absent)."""

    model_config = ConfigDict(extra="forbid")

    agreement: _BodyFields
    signatures: Annotated[list[_SignatureFields], _list_of("signatures")] = []

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "agreement" not in data:
            raise ValueError(f"agreement: {_NOT_A_MAPPING}")
        return {**data, "signatures": data.get("signatures") or []}

    @model_validator(mode="after")
    def _once_each(self) -> "_AgreementFile":
        seen: set[str] = set()
        for i, s in enumerate(self.signatures):
            if s.party in seen:
                raise ValueError(f"signatures[{i}]: {s.party} has signed twice")
            seen.add(s.party)
        return self

    def agreement_value(self) -> Agreement:
        b = self.agreement
        return Agreement(b.id, b.version, b.title, tuple(sorted(b.parties)), dict(b.keys), b.valid_from,
                         b.valid_until, tuple(Rule(r.from_party, r.to_party, r.kinds, r.max_classification)
                                              for r in b.rules),
                         tuple(AgreementSignature(s.party, s.fingerprint, s.signature) for s in self.signatures))


#: pydantic's own errors in this format's words (the field names what is missing or unknown)
_MESSAGES = {"missing": "missing field", "extra_forbidden": "unknown field"}


def _agreement_from_json(data: object, source: str | None) -> Agreement:
    return check_model(_AgreementFile, data, source=source, line=None, where_in_message=True,
                       messages=_MESSAGES).agreement_value()


# --- signing and verification -------------------------------------------------------------
def sign_agreement(agreement: Agreement, identity: Identity) -> Agreement:
    """Return ``agreement`` with ``identity``'s signature added (replacing an older one of that party)."""
    party = identity.party
    if party not in agreement.parties:
        raise AgreementError(f"agreement {agreement.id}: {party} is not a party (parties: "
                             f"{', '.join(agreement.parties)})")
    if agreement.keys[party] != identity.public_b64:
        raise AgreementError(f"agreement {agreement.id}: the key it names for {party} is not this "
                             f"node's key", expected=identity.fingerprint,
                             actual=fingerprint(agreement.public_key(party)))
    sig = AgreementSignature(party, identity.fingerprint, identity.sign(agreement.signing_bytes()))
    others = tuple(s for s in agreement.signatures if s.party != party)
    return replace(agreement, signatures=tuple(sorted(others + (sig,), key=lambda s: s.party)))


@lru_cache(maxsize=4096)
def _signature_valid(raw_key: bytes, signature: bytes, message: bytes) -> bool:
    """Ed25519 verification, memoised: policy checks the same few agreements for every item."""
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, message)
        return True
    except InvalidSignature:
        return False


def agreement_problems(agreement: Agreement, pinned_keys: Mapping[str, Ed25519PublicKey] | None,
                       now: datetime) -> list[str]:
    """Every reason ``agreement`` is not in force at ``now`` (empty list: in force).

    With ``pinned_keys=None`` only the agreement's own keys are used (self-consistency: all
    parties signed this exact body); with a mapping, each party's key must also be the pinned one.

    The key and signature checks depend only on the (immutable) agreement and the pinned keys of
    its parties: they run once per agreement object and set of pinned keys, and are remembered on
    the agreement; a re-pinned key is another set, checked afresh. Only the validity window is
    compared with ``now`` on every call (policy asks for every item shared).
    """
    pinned = None if pinned_keys is None else tuple(
        raw_public(k) if (k := pinned_keys.get(p)) is not None else None for p in agreement.parties)
    memo = agreement.__dict__.setdefault("_key_problems", {})  # frozen dataclass: beside its fields
    found = memo.get(pinned)
    if found is None:
        found = memo[pinned] = tuple(_key_problems(agreement, pinned_keys))
    problems = list(found)
    if now < agreement.valid_from:
        problems.append(f"not yet valid: valid from {to_rfc3339(agreement.valid_from)}, now {to_rfc3339(now)}")
    elif now >= agreement.valid_until:
        problems.append(f"expired: valid until {to_rfc3339(agreement.valid_until)}, now {to_rfc3339(now)}")
    return problems


def _key_problems(agreement: Agreement, pinned_keys: Mapping[str, Ed25519PublicKey] | None) -> list[str]:
    problems: list[str] = []
    message = agreement.signing_bytes()
    for party in agreement.parties:
        key = agreement.public_key(party)
        if pinned_keys is not None:
            pinned = pinned_keys.get(party)
            if pinned is None:
                problems.append(f"unknown key: no pinned key for {party}")
                continue
            if raw_public(pinned) != raw_public(key):
                problems.append(f"unknown key: the agreement names key {fingerprint(key)} for {party}, "
                                f"but {party}'s pinned key is {fingerprint(pinned)}")
                continue
        sig = agreement.signature_of(party)
        if sig is None:
            problems.append(f"missing signature of {party}")
            continue
        if not _signature_valid(raw_public(key), sig.signature, message):
            problems.append(f"signature of {party} does not verify: the agreement was altered after "
                            f"{party} signed it (or the signature is forged)")
    strangers = [s.party for s in agreement.signatures if s.party not in agreement.parties]
    if strangers:
        problems.append(f"signed by non-parties: {', '.join(strangers)}")
    return problems


def verify_agreement(agreement: Agreement, pinned_keys: Mapping[str, Ed25519PublicKey] | None,
                     now: datetime) -> Agreement:
    """Return ``agreement`` if it is in force at ``now``; else raise :class:`AgreementError` saying why."""
    problems = agreement_problems(agreement, pinned_keys, now)
    if problems:
        err = AgreementError(f"agreement {agreement.id} v{agreement.version} is not in force: "
                             + "; ".join(problems))
        err.problems = problems  # type: ignore[attr-defined]
        raise err
    return agreement


def agreement_in_force(agreement: Agreement, pinned_keys: Mapping[str, Ed25519PublicKey] | None,
                       now: datetime) -> bool:
    """Whether :func:`agreement_problems` is empty (for filtering; use :func:`verify_agreement` to gate)."""
    return not agreement_problems(agreement, pinned_keys, now)


def agreements_in_force(agreements: Iterable[Agreement], pinned_keys: Mapping[str, Ed25519PublicKey] | None,
                        now: datetime) -> list[Agreement]:
    return [a for a in agreements if agreement_in_force(a, pinned_keys, now)]


def new_agreement(agreement_id: str, parties: Iterable[str], keys: Mapping[str, Ed25519PublicKey | str],
                  rules: Iterable[Rule | tuple[str, str, Iterable[str], Classification | str]],
                  valid_from: datetime, valid_until: datetime, *, version: int = 1,
                  title: str = "") -> Agreement:
    """Build an unsigned agreement, validated exactly as a file would be."""
    def b64(k: Ed25519PublicKey | str) -> str:
        return k if isinstance(k, str) else base64.b64encode(raw_public(k)).decode()

    rule_json = []
    for r in rules:
        if isinstance(r, Rule):
            rule_json.append(r.to_json())
        else:
            f, t, kinds, ceiling = r
            rule_json.append({"from": f, "to": t, "kinds": list(kinds),
                              "max_classification": Classification.parse(ceiling).banner
                              if isinstance(ceiling, str) else Classification(ceiling).banner})
    body = {"format": FORMAT, "id": agreement_id, "version": version, "title": title,
            "parties": list(parties), "keys": {p: b64(k) for p, k in keys.items()},
            "valid_from": to_rfc3339(valid_from), "valid_until": to_rfc3339(valid_until),
            "rules": rule_json}
    return _agreement_from_json({"agreement": body, "signatures": []}, None)


__all__ = ["FORMAT", "Agreement", "AgreementSignature", "Rule", "agreement_in_force", "agreement_problems",
           "agreements_in_force", "load_agreement", "load_yaml_strict", "new_agreement", "sign_agreement",
           "verify_agreement"]
