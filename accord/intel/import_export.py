"""Import STIX 2.1 bundles (MISP, OpenCTI, any producer) and export collections.

Import (:func:`import_bundle`) is all or nothing by default: every object is validated in full
first — structure (:func:`accord.intel.validate.check_object`), then ``stix2.parse`` (types,
vocabularies, patterns), and with ``strict`` also ``stix2-validator``'s MUST checks — and every
failure is reported (:class:`~accord.errors.StixValidationError`, one line per object); only a
bundle with no failure is stored, in one transaction. With ``skip_invalid`` the valid objects are
stored (in one transaction) and the invalid ones are returned with their reasons
(:func:`write_rejection_report` writes them to a file): real producers' exports often mix both.

Marking definitions that carry a predefined TLP id (STIX 2.1 §7.2.1.4 TLP 1.0, or the OASIS TLP
2.0 ids) are *predefined*: their meaning is fixed by the id, whatever the producer wrote inside
(OpenCTI writes ``definition_type: "TLP"``, ``definition: {"TLP": "TLP:AMBER"}``), so
``stix2.parse``'s exact-content check is not applied to them; the structural check still is.

Export (:func:`export_bundle`) writes, for the node's own users or for one partner party
(releasability-filtered and redacted as a TAXII read would be):

``stix``               a STIX 2.1 bundle of the latest versions, plus the TLP 2.0 and Accord
                       extension definitions the objects refer to;
``acs``                the same bundle re-marked for ISA ACS 3.0 consumers: each object's
                       effective Accord marking becomes an ACS 3.0 marking definition
                       (:func:`accord.intel.markings.to_acs30`);
``misp-distribution``  per object, MISP's ``distribution`` level, sharing group and tags
                       (:func:`accord.intel.markings.misp_distribution`).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from accord.clock import to_rfc3339
from accord.core.canonical import parse_json_strict
from accord.core.items import json_problem
from accord.core.parties import party_problem
from accord.errors import InputError, NotFoundError, StixValidationError
from accord.intel import markings as mk
from accord.intel.store import Filters, IntelStore
from accord.intel.validate import check_pattern_depth, structural_failure
from accord.store.private_files import write_private

DEFAULT_COLLECTION = "imports"
FORMATS = ("stix", "acs", "misp-distribution")


def read_bundle(path: str | Path) -> list[dict[str, Any]]:
    """The objects of a STIX bundle file (or a TAXII envelope, or a JSON list of objects)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(path)) from None
    return parse_bundle(raw, source=str(path))


def parse_bundle(raw: bytes, *, source: str) -> list[dict[str, Any]]:
    """The objects of a STIX bundle (or a TAXII envelope, or a JSON list of objects) given as bytes."""
    data = parse_json_strict(raw, source=source)
    if isinstance(data, dict) and data.get("type") == "bundle" or isinstance(data, dict) and "objects" in data:
        objects = data.get("objects")
    elif isinstance(data, list):
        objects = data
    else:
        raise InputError("expected a STIX bundle ({\"type\": \"bundle\", \"objects\": [...]})", source=source)
    if not isinstance(objects, list) or not objects:
        raise InputError("the bundle has no objects", source=source, field="objects")
    return objects


def object_failures(objects: list[Any], *, strict: bool = False) -> list[dict[str, Any]]:
    """Full validation of every object: one ``{"index", "id", "message"}`` per object at fault
    (structure, then ``stix2.parse``, then with ``strict`` stix2-validator's MUST checks on the
    objects that passed the first two)."""
    import stix2
    from stix2.exceptions import STIXError

    failures: list[dict[str, Any]] = []
    checked = []
    for i, obj in enumerate(objects):
        failure = structural_failure(obj, i)
        if failure is not None:
            failures.append(failure)
            continue
        if obj["type"] == "marking-definition" and obj["id"] in mk.TLP_BY_ID:
            continue  # predefined: meaning fixed by the id (module docstring)
        try:
            check_pattern_depth(obj)  # before the pattern parser, which recurses per level
            stix2.parse(dict(obj), allow_custom=True, version="2.1")
        except (STIXError, ValueError, TypeError, InputError) as exc:
            failures.append({"index": i, "id": obj["id"], "message": f"objects[{i}] {obj['id']}: {exc}"})
            continue
        problem = json_problem(obj, f"objects[{i}]")   # what storing it as an item would refuse
        if problem is not None:
            failures.append({"index": i, "id": obj["id"], "message": f"objects[{i}] {obj['id']}: {problem}"})
            continue
        checked.append((i, obj))
    if strict:
        try:
            from stix2validator import ValidationOptions, validate_instance
        except ImportError:
            raise InputError("--strict needs the stix2-validator package (pip install stix2-validator)") from None
        options = ValidationOptions(version="2.1", silent=True)
        for i, obj in checked:
            result = validate_instance(dict(obj), options)
            if not result.is_valid:
                msgs = "; ".join(getattr(e, "message", str(e)).removeprefix(obj["id"] + ": ")
                                 for e in result.errors[:3])
                failures.append({"index": i, "id": obj["id"], "message": f"objects[{i}] {obj['id']}: {msgs}"})
    return sorted(failures, key=lambda f: f["index"])


def validate_objects(objects: list[Any], *, source: str, strict: bool = False) -> None:
    """Full validation of every object; raise one :class:`StixValidationError` listing all."""
    failures = object_failures(objects, strict=strict)
    if failures:
        raise StixValidationError(
            f"{len(failures)} of {len(objects)} object(s) are not valid STIX 2.1; nothing was stored",
            failures, source=source)


def import_bundle(store: IntelStore, path: str | Path, *, collection: str | None = None,
                  strict: bool = False, skip_invalid: bool = False) -> dict[str, Any]:
    """Validate then store the objects of a bundle in one transaction; a summary.

    By default all or nothing: any invalid object raises :class:`StixValidationError` and
    nothing is stored. ``skip_invalid``: the valid objects are stored and each invalid one is
    listed in the summary's ``rejected`` (index, id, type, reason and the object as it was);
    the caller decides what a skip means (the CLI writes them to a report and exits non-zero).
    """
    return import_objects(store, read_bundle(path), source=str(path), collection=collection, strict=strict,
                          skip_invalid=skip_invalid)


def import_objects(store: IntelStore, objects: list[Any], *, source: str, collection: str | None = None,
                   strict: bool = False, skip_invalid: bool = False) -> dict[str, Any]:
    """:func:`import_bundle` for objects already read (the console's import form)."""
    rejected: list[dict[str, Any]] = []
    if skip_invalid:
        failures = object_failures(objects, strict=strict)
        bad = {f["index"] for f in failures}
        rejected = [{"index": f["index"], "id": f["id"], "type": _type_of(objects[f["index"]]),
                     "reason": f["message"], "object": objects[f["index"]]} for f in failures]
        valid = [o for i, o in enumerate(objects) if i not in bad]
    else:
        validate_objects(objects, source=source, strict=strict)
        valid = objects
    if collection is None:
        try:
            coll = store.collection(DEFAULT_COLLECTION)
        except NotFoundError:
            coll = store.add_collection("Imported bundles", alias=DEFAULT_COLLECTION)
    else:
        coll = store.collection(collection)
    result = store.add_objects(coll.id, valid, strict=False) if valid else None
    # every valid object is stored or already present: an add's status has failures only for a
    # partner's received item (accord.intel.adding.write), never for the node's own objects
    new = len(result.stored) if result is not None else 0
    types: dict[str, int] = {}
    for obj in valid:
        types[obj["type"]] = types.get(obj["type"], 0) + 1
    summary = {"file": source, "collection": coll.id, "alias": coll.alias, "objects": len(objects),
               "stored": new, "already_present": len(valid) - new, "types": dict(sorted(types.items())),
               "status": result.status["id"] if result is not None else None}
    if skip_invalid:
        summary["skipped"] = len(rejected)
        summary["rejected"] = rejected
    return summary


def _type_of(obj: Any) -> str | None:
    return obj.get("type") if isinstance(obj, dict) and isinstance(obj.get("type"), str) else None


def write_rejection_report(summary: dict[str, Any], path: str | Path) -> Path:
    """Write what :func:`import_bundle` skipped (``skip_invalid``) as JSON to ``path`` (mode
    0600: the objects are the operator's intelligence), whole or not at all; return the path."""
    path = Path(path)
    report = {"file": summary["file"], "collection": summary["collection"], "objects": summary["objects"],
              "stored": summary["stored"], "already_present": summary["already_present"],
              "skipped": summary["skipped"], "rejected": summary["rejected"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))  # whole or not at all
    return path


def _latest(store: IntelStore, collection: str | None, party: str) -> list[tuple[Any, dict[str, Any], str]]:
    """(collection, object, its originator) of the latest version of every object the node gives
    ``party``: not the versions of ``party``'s own that are served to it alone (shadowed)."""
    colls = [store.collection(collection)] if collection else store.collections()
    out: list[tuple[Any, dict[str, Any], str]] = []
    for coll in colls:
        token = None
        while True:
            page = store.get_objects(coll.id, party, Filters(versions=("last",)), limit=store.max_page, next=token,
                                     own_shadowed=False)
            out.extend((coll, json.loads(t), by) for t, by in zip(page.items, page.originators, strict=True))
            if not page.more:
                break
            token = page.next
    return out


def export_bundle(store: IntelStore, *, collection: str | None = None, fmt: str = "stix",
                  party: str | None = None) -> dict[str, Any]:
    """Export the latest version of every object (visible to ``party``; default the node's own)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})", field="format")
    problem = party_problem(party) if party is not None else None
    if problem is not None:  # a typo (KRO) exported what no party may see, as if that were all
        raise InputError(problem, field="for")
    party = party or store.party
    triples = _latest(store, collection, party)
    # an object in two collections once: the node's version if it has one (another originator's,
    # from a collection where the node does not hold the id, never stands in for it)
    latest: dict[str, tuple[dict[str, Any], str]] = {}
    for _, o, by in triples:
        held = latest.get(o["id"])
        if held is None or held[1] != store.party:
            latest[o["id"]] = (o, by)
    objects = [o for o, _ in latest.values()]
    have = set(latest)
    # each object's markings are read with its originator's definitions (as when it was stored)
    local: dict[str, dict[str, dict[str, Any]]] = {}
    for o, by in latest.values():
        if o["type"] == "marking-definition":
            local.setdefault(by, {})[o["id"]] = o
    if fmt == "misp-distribution":
        rows = []
        for coll, obj, by in triples:
            if obj["type"] in ("marking-definition", "extension-definition"):
                continue
            marking, known = store.marking_of(obj, coll.rel_to, origin=by)
            rows.append({"id": obj["id"], "type": obj["type"], "collection": coll.alias or coll.id,
                         "marking": str(marking),
                         **mk.misp_distribution(marking, known)})
        return {"format": "misp-distribution", "party": party, "objects": rows}
    refs = {r for o in objects for r in o.get("object_marking_refs", [])}
    refs |= {g["marking_ref"] for o in objects for g in o.get("granular_markings", []) if g.get("marking_ref")}
    extra = [mk.tlp_marking_definition(label) for label, mid in mk.TLP2_IDS.items() if mid in refs and mid not in have]
    defs_of: dict[str, dict[str, dict[str, Any]]] = {}
    for by in {by for _, by in latest.values()}:
        mine = [o for o, o_by in latest.values() if o_by == by]
        by_refs = {r for o in mine for r in o.get("object_marking_refs", [])}
        by_refs |= {g["marking_ref"] for o in mine for g in o.get("granular_markings", []) if g.get("marking_ref")}
        defs_of[by] = store.definitions(by_refs, local.get(by, {}), by)
    if any(mk.definition_kind(d)[0] == "accord" for defs in defs_of.values() for d in defs.values()):
        for extra_obj in (mk.accord_identity(), mk.accord_extension_definition()):
            if extra_obj["id"] not in have:
                extra.append(extra_obj)
    if fmt == "acs":
        now = to_rfc3339(store.clock.now())
        acs_defs: dict[str, dict[str, Any]] = {}
        remarked = []
        for obj, by in latest.values():
            if obj["type"] == "marking-definition" and mk.definition_kind(obj)[0] == "accord":
                continue  # replaced by its ACS 3.0 rendering
            defs = defs_of[by]
            accord_refs = [r for r in obj.get("object_marking_refs", [])
                           if r in defs and mk.definition_kind(defs[r])[0] == "accord"]
            if accord_refs:
                marking, _ = mk.effective_marking(accord_refs, defs)
                originator = next((mk.definition_kind(defs[r])[1].originator for r in accord_refs
                                   if mk.definition_kind(defs[r])[1].originator), store.party)
                acs = mk.to_acs30(marking, originator=originator, created=now)
                acs_defs[acs["id"]] = acs
                keep = [r for r in obj["object_marking_refs"] if r not in accord_refs]
                obj = {**obj, "object_marking_refs": keep + [acs["id"]]}
            remarked.append(obj)
        objects = list(acs_defs.values()) + remarked
        extra = [e for e in extra if e["id"] not in (mk.ACCORD_EXTENSION_ID, mk.ACCORD_IDENTITY_ID)]
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": extra + objects}
