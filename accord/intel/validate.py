"""Validation of STIX 2.1 objects: cheap and structural on the hot path, full on import.

:func:`check_object` is what every TAXII add runs per object. It checks the rules a store relies
on, in a few microseconds, without building ``stix2`` objects (``stix2.parse`` runs ~3,000
objects/s, ``stix2-validator`` ~400/s on one core here):

* ``type`` (STIX 2.1 §3.1: 3–250 of ``a-z 0-9 -``, no leading/trailing ``-``) and
  ``id`` = ``<type>--<RFC 4122 UUID>`` (§2.9);
* ``spec_version`` = ``"2.1"`` (required except on SCOs, §3.2 / §6);
* SDOs/SROs/``language-content``/``extension-definition``: ``created`` and ``modified``
  present, ``modified >= created``; ``marking-definition``: ``created``;
* every timestamp property is RFC 3339 in UTC with a ``Z`` (§2.14);
* every ``*_ref`` / ``*_refs`` property holds identifiers (§2.9), ``created_by_ref`` an
  ``identity``, ``object_marking_refs`` marking definitions; ``granular_markings`` entries have
  non-empty ``selectors`` and exactly one of ``marking_ref`` / ``lang`` (§7.2.3);
* ``relationship``: ``relationship_type``, ``source_ref``, ``target_ref``; ``sighting``:
  ``sighting_of_ref``.

:func:`validate_full` adds ``stix2.parse`` (property types, vocabularies, patterns) and, when the
``stix2-validator`` package is installed, its MUST-level checks. Import and ``--strict`` use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from accord.errors import InputError

TYPE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,248})[a-z0-9]$")
UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
ID_RE = re.compile(r"^([a-z0-9][a-z0-9-]*[a-z0-9])--(" + UUID_RE + r")$")
TS_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
                   r"(\.\d{1,9})?Z$")

SCO_TYPES = frozenset({
    "artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message",
    "file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process",
    "software", "url", "user-account", "windows-registry-key", "x509-certificate"})
SMO_NO_MODIFIED = frozenset({"marking-definition"})
TIMESTAMP_PROPS = ("created", "modified", "valid_from", "valid_until", "first_seen", "last_seen",
                   "published", "first_observed", "last_observed", "start_time", "stop_time",
                   "submitted", "analysis_started", "analysis_ended")


def _fail(message: str, obj: Mapping[str, Any] | None, field: str | None, index: int | None) -> InputError:
    where = []
    if index is not None:
        where.append(f"objects[{index}]")
    if obj is not None and isinstance(obj.get("id"), str):
        where.append(obj["id"])
    return InputError(message, source=" ".join(where) or None, field=field)


def is_sco(obj: Mapping[str, Any]) -> bool:
    t = obj.get("type")
    return t in SCO_TYPES or (isinstance(t, str) and t.startswith("x-") and "created" not in obj)


def check_timestamp(value: Any, field: str, obj: Mapping[str, Any], index: int | None) -> None:
    if not isinstance(value, str) or not TS_RE.match(value):
        raise _fail(f"{value!r} is not an RFC 3339 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z)",
                    obj, field, index)
    try:
        datetime.fromisoformat(value[:19])
    except ValueError:
        raise _fail(f"{value!r} is not a valid date", obj, field, index) from None


def _check_ref(value: Any, field: str, obj: Mapping[str, Any], index: int | None,
               want: str | None = None) -> None:
    if not isinstance(value, str):
        raise _fail(f"reference must be a string identifier, got {type(value).__name__}", obj, field, index)
    m = ID_RE.match(value)
    if not m:
        raise _fail(f"{value!r} is not a STIX identifier (<type>--<uuid>)", obj, field, index)
    if want and m.group(1) != want:
        raise _fail(f"{value!r} must reference a {want}", obj, field, index)


def check_object(obj: Any, index: int | None = None) -> dict[str, Any]:
    """Structural STIX 2.1 checks (module docstring); return ``obj`` or raise :class:`InputError`
    naming the object (index and id) and the field at fault."""
    if not isinstance(obj, dict):
        raise _fail(f"a STIX object must be a JSON object, got {type(obj).__name__}", None, None, index)
    t = obj.get("type")
    if not isinstance(t, str) or not TYPE_RE.match(t) or "--" in t:
        raise _fail(f"missing or malformed type {t!r}", obj, "type", index)
    if t == "bundle":
        raise _fail("a bundle cannot be stored as an object; send its objects", obj, "type", index)
    oid = obj.get("id")
    if not isinstance(oid, str):
        raise _fail("missing id", obj, "id", index)
    m = ID_RE.match(oid)
    if not m or m.group(1) != t:
        raise _fail(f"id {oid!r} is not '{t}--<uuid>'", obj, "id", index)
    sco = is_sco(obj)
    sv = obj.get("spec_version")
    if sv is None and not sco:
        raise _fail("missing spec_version (must be '2.1')", obj, "spec_version", index)
    if sv is not None and sv != "2.1":
        raise _fail(f"spec_version {sv!r} is not '2.1'", obj, "spec_version", index)
    if not sco:
        if "created" not in obj:
            raise _fail("missing created", obj, "created", index)
        if t not in SMO_NO_MODIFIED and "modified" not in obj:
            raise _fail("missing modified", obj, "modified", index)
    for prop in TIMESTAMP_PROPS:
        if prop in obj:
            check_timestamp(obj[prop], prop, obj, index)
    if "modified" in obj and "created" in obj and _ts_key(obj["modified"]) < _ts_key(obj["created"]):
        raise _fail("modified is earlier than created", obj, "modified", index)
    for key, value in obj.items():
        if key.endswith("_ref"):
            want = "identity" if key == "created_by_ref" else None
            _check_ref(value, key, obj, index, want)
        elif key.endswith("_refs"):
            if not isinstance(value, list) or not value:
                raise _fail("must be a non-empty list of identifiers", obj, key, index)
            want = "marking-definition" if key == "object_marking_refs" else None
            for i, ref in enumerate(value):
                _check_ref(ref, f"{key}[{i}]", obj, index, want)
    gms = obj.get("granular_markings")
    if gms is not None:
        if not isinstance(gms, list) or not gms:
            raise _fail("must be a non-empty list", obj, "granular_markings", index)
        for i, gm in enumerate(gms):
            f = f"granular_markings[{i}]"
            if not isinstance(gm, dict):
                raise _fail("must be an object", obj, f, index)
            sel = gm.get("selectors")
            if not isinstance(sel, list) or not sel or not all(isinstance(s, str) and s for s in sel):
                raise _fail("selectors must be a non-empty list of strings", obj, f + ".selectors", index)
            if ("marking_ref" in gm) == ("lang" in gm):
                raise _fail("needs exactly one of marking_ref and lang", obj, f, index)
            if "marking_ref" in gm:
                _check_ref(gm["marking_ref"], f + ".marking_ref", obj, index, "marking-definition")
    if "extensions" in obj and not isinstance(obj["extensions"], dict):
        raise _fail("must be an object", obj, "extensions", index)
    if t == "relationship":
        for prop in ("relationship_type", "source_ref", "target_ref"):
            if prop not in obj:
                raise _fail(f"missing {prop}", obj, prop, index)
    elif t == "sighting" and "sighting_of_ref" not in obj:
        raise _fail("missing sighting_of_ref", obj, "sighting_of_ref", index)
    return obj



def structural_failure(obj: Any, index: int) -> dict[str, Any] | None:
    """:func:`check_object` as a failure record ``{index, id, message}`` (None when it passes),
    for reporting every bad object of a request at once."""
    try:
        check_object(obj, index)
    except InputError as exc:
        return {"index": index, "id": obj.get("id") if isinstance(obj, dict) else None, "message": str(exc)}
    return None

def _ts_key(ts: str) -> str:
    """Timestamps in a fixed-width form that sorts lexically (9-digit fraction)."""
    base, _, frac = ts[:-1].partition(".")
    return base + "." + (frac + "000000000")[:9] + "Z"


version_key = _ts_key


def validate_full(objects: Sequence[Mapping[str, Any]], *, source: str | None = None,
                  validator: bool = True) -> None:
    """Full validation: :func:`check_object`, ``stix2.parse`` and, with ``validator`` and if the
    package is installed, ``stix2-validator``; raise :class:`InputError` naming the first
    failing object."""
    import stix2
    from stix2.exceptions import STIXError

    for i, obj in enumerate(objects):
        check_object(obj, i)
        try:
            stix2.parse(dict(obj), allow_custom=True, version="2.1")
        except (STIXError, ValueError, TypeError) as exc:
            raise InputError(f"stix2 rejects the object: {exc}", source=_where(source, i, obj)) from None
    if not validator:
        return
    try:
        from stix2validator import ValidationOptions, validate_instance
    except ImportError:  # optional: stix2-validator is a heavier dependency
        return
    options = ValidationOptions(version="2.1", strict=False, verbose=False, silent=True)
    for i, obj in enumerate(objects):
        result = validate_instance(dict(obj), options)
        if not result.is_valid:
            errors = "; ".join(str(e.message) if hasattr(e, "message") else str(e) for e in result.errors[:3])
            raise InputError(f"stix2-validator: {errors}", source=_where(source, i, obj))


def _where(source: str | None, i: int, obj: Mapping[str, Any]) -> str:
    return " ".join(x for x in (source, f"objects[{i}]", str(obj.get("id", ""))) if x)
