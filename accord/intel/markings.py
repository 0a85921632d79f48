"""STIX 2.1 data markings in Accord: TLP 2.0, the Accord marking extension, ACS 3.0 and MISP.

Kept as one module: Accord markings to STIX marking definitions and back (TLP 2.0, the
Accord extension, ACS 3.0, MISP): both directions must agree.

TLP 2.0
-------
STIX 2.1 (§7.2.1.4) predefines TLP **1.0** only; TLP 2.0 is published by the OASIS CTI TC as a
*property extension* of ``marking-definition`` (cti-stix-common-objects,
``extension-definition-specifications/tlp-2.0``), extension id
:data:`TLP2_EXTENSION_ID`, with five fixed marking-definition ids (:data:`TLP2_IDS`, checked
against the OASIS JSON schema of that extension) created ``2022-10-01T00:00:00.000Z``.
TLP 1.0 ids (``stix2.v21.TLP_*``) are read too: WHITE is CLEAR, the others keep their names.

Accord marking extension
------------------------
A property extension of ``marking-definition`` (id :data:`ACCORD_EXTENSION_ID`, JSON schema in
``accord/intel/schemas/accord-marking-extension.json``) carrying what an allied confidentiality
label carries — the elements of NATO STANAG 4774 (policy identifier, classification, category
list with ``RELEASABLE TO`` and caveats) and of ISA ACS 3.0's ``control_set``:

``classification``  (common Accord scale, :class:`accord.core.markings.Classification`),
``releasability``   (ISO 3166-1 alpha-3 parties, the ``REL TO`` list),
``caveats``         (upper-case words, e.g. ``EXERCISE``),
``originator``      (party that set the label), ``policy`` (policy identifier, e.g. the agreement).

Effective marking and releasability (the rule, also in docs/intel.md)
---------------------------------------------------------------------
An object's *effective* :class:`~accord.core.markings.Marking` combines every marking it
references in ``object_marking_refs``: the highest classification, the **intersection** of the
Accord ``REL TO`` lists, the union of caveats and the most restrictive TLP. An object without an
Accord marking takes the collection's default ``REL TO`` (default: none). A party other than the
node's own sees an object only if the effective marking is releasable to it
(:meth:`Marking.releasable_to`: named in ``REL TO``, not ``TLP:RED``) and it is not
``TLP:AMBER+STRICT`` (organisation only). A reference to a marking definition the node does not
know withholds the object from every partner (fail closed). Marking and extension definitions
are visible to everyone who can read the collection (they are needed to interpret the rest).

Granular markings (STIX §7.2.3): a granular marking whose marking is *not* releasable to the
reader removes, for that reader, the top-level property its selector starts with (and the
granular-marking entries that point into it). If that property is required by the object's
type (:data:`REQUIRED`), the whole object is withheld from that reader instead.

Exports
-------
:func:`to_acs30` renders an effective marking as an ISA ACS 3.0 marking definition (OASIS
extension ``extension-definition--3a65884d-005a-4290-8335-cb2d778a83ce``), and
:func:`misp_distribution` as MISP's ``distribution`` level (0 your organisation only,
1 this community only, 2 connected communities, 3 all communities, 4 sharing group).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from accord.core.canonical import canonical_json
from accord.core.markings import Classification, Marking, check_party
from accord.errors import MarkingError

# --- TLP ------------------------------------------------------------------------------------
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
TLP2_IDS: dict[str, str] = {
    "CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "AMBER+STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
#: STIX 2.1 §7.2.1.4 (TLP 1.0) ids, read as their TLP 2.0 equivalents.
TLP1_IDS: dict[str, str] = {
    "CLEAR": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",  # TLP:WHITE
    "GREEN": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "AMBER": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "RED": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
TLP_BY_ID: dict[str, str] = {mid: label for ids in (TLP1_IDS, TLP2_IDS) for label, mid in ids.items()}
TLP_ORDER = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")


def tlp_marking_definition(label: str) -> dict[str, Any]:
    """The OASIS TLP 2.0 marking-definition object for ``label`` (``"AMBER+STRICT"`` …)."""
    label = label.upper().removeprefix("TLP:")
    if label not in TLP2_IDS:
        raise MarkingError(f"unknown TLP 2.0 label {label!r} (expected one of {', '.join(TLP_ORDER)})")
    return {"type": "marking-definition", "spec_version": "2.1", "id": TLP2_IDS[label],
            "created": TLP2_CREATED, "name": f"TLP:{label}",
            "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension",
                                               "tlp_2_0": label.lower()}}}


# --- the Accord extension -----------------------------------------------------------------
ACCORD_EXTENSION_ID = "extension-definition--5f776c76-b806-431f-b0e6-54e66a41fea1"
ACCORD_IDENTITY_ID = "identity--b143df9c-3750-47cd-a13f-4ddd4a98cfe3"
ACCORD_EXTENSION_CREATED = "2026-11-25T00:00:00.000Z"
SCHEMA_RESOURCE = "schemas/accord-marking-extension.json"
_NS = uuid.UUID("5f776c76-b806-431f-b0e6-54e66a41fea1")


def accord_identity() -> dict[str, Any]:
    """The identity that authors the Accord extension definition."""
    return {"type": "identity", "spec_version": "2.1", "id": ACCORD_IDENTITY_ID,
            "created": ACCORD_EXTENSION_CREATED, "modified": ACCORD_EXTENSION_CREATED,
            "name": "Accord project", "identity_class": "organization"}


def accord_extension_definition() -> dict[str, Any]:
    """The STIX ``extension-definition`` object of the Accord marking extension."""
    return {"type": "extension-definition", "spec_version": "2.1", "id": ACCORD_EXTENSION_ID,
            "created_by_ref": ACCORD_IDENTITY_ID, "created": ACCORD_EXTENSION_CREATED,
            "modified": ACCORD_EXTENSION_CREATED, "name": "Accord confidentiality label",
            "description": "Classification, releasability (ISO 3166-1 alpha-3), caveats, originator "
                           "and policy of allied information; after NATO STANAG 4774 and ISA ACS 3.0.",
            "schema": "accord/intel/schemas/accord-marking-extension.json",
            "version": "1.0.0", "extension_types": ["property-extension"]}


def extension_schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of the Accord extension's property block."""
    import json

    return json.loads(resources.files("accord.intel").joinpath(SCHEMA_RESOURCE).read_text("utf-8"))


@dataclass(frozen=True)
class AccordLabel:
    """The content of one Accord marking definition (a STANAG 4774-style confidentiality label)."""

    classification: Classification
    releasability: frozenset[str] = field(default_factory=frozenset)
    caveats: tuple[str, ...] = ()
    originator: str | None = None
    policy: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "classification", Classification.parse(self.classification)
                           if isinstance(self.classification, str) else Classification(self.classification))
        object.__setattr__(self, "releasability", frozenset(self.releasability))
        for party in self.releasability:
            check_party(party, what="releasability party")
        if self.originator is not None:
            check_party(self.originator, what="originator")
        # Reuse the core's caveat grammar: Marking validates caveats on construction.
        Marking(self.classification, self.releasability, None, tuple(self.caveats))

    def extension_block(self) -> dict[str, Any]:
        block: dict[str, Any] = {"extension_type": "property-extension",
                                 "classification": self.classification.name,
                                 "releasability": sorted(self.releasability)}
        if self.caveats:
            block["caveats"] = list(self.caveats)
        if self.originator:
            block["originator"] = self.originator
        if self.policy:
            block["policy"] = self.policy
        return block

    def marking_definition(self, created: str = ACCORD_EXTENSION_CREATED) -> dict[str, Any]:
        """A marking-definition whose id is derived from its content (same label → same id)."""
        block = self.extension_block()
        ident = uuid.uuid5(_NS, canonical_json(block).decode())
        banner = str(Marking(self.classification, self.releasability, None, self.caveats))
        return {"type": "marking-definition", "spec_version": "2.1",
                "id": f"marking-definition--{ident}", "created": created, "name": banner,
                "extensions": {ACCORD_EXTENSION_ID: block}}

    @classmethod
    def from_block(cls, block: Mapping[str, Any]) -> AccordLabel:
        if not isinstance(block, Mapping):
            raise MarkingError("Accord marking extension must be an object",
                               field=f"extensions.{ACCORD_EXTENSION_ID}")
        try:
            rel = block.get("releasability", [])
            if not isinstance(rel, list):
                raise MarkingError("releasability must be a list of parties")
            caveats = block.get("caveats", [])
            if not isinstance(caveats, list):
                raise MarkingError("caveats must be a list of strings")
            return cls(Classification.parse(block.get("classification")), frozenset(rel),
                       tuple(caveats), block.get("originator"), block.get("policy"))
        except MarkingError as exc:
            raise MarkingError(exc.detail, field=f"extensions.{ACCORD_EXTENSION_ID}") from None


def definition_kind(definition: Mapping[str, Any]) -> tuple[str, Any]:
    """Classify a marking-definition: ``("tlp", label)``, ``("accord", AccordLabel)``,
    ``("statement", text)`` or ``("other", None)``."""
    mid = definition.get("id")
    if mid in TLP_BY_ID:
        return "tlp", TLP_BY_ID[mid]
    ext = definition.get("extensions") or {}
    if isinstance(ext, Mapping):
        if ACCORD_EXTENSION_ID in ext:
            return "accord", AccordLabel.from_block(ext[ACCORD_EXTENSION_ID])
        if TLP2_EXTENSION_ID in ext:
            tlp = str((ext[TLP2_EXTENSION_ID] or {}).get("tlp_2_0", "")).upper()
            if tlp in TLP_ORDER:
                return "tlp", tlp
    if definition.get("definition_type") == "tlp":
        tlp = str((definition.get("definition") or {}).get("tlp", "")).upper()
        return "tlp", {"WHITE": "CLEAR"}.get(tlp, tlp) if tlp else None
    if definition.get("definition_type") == "statement":
        return "statement", (definition.get("definition") or {}).get("statement")
    return "other", None


UNKNOWN = object()  # a marking_ref whose definition the node does not have


def effective_marking(refs: Iterable[str], definitions: Mapping[str, Mapping[str, Any]],
                      default_rel_to: frozenset[str] = frozenset()) -> tuple[Marking, bool]:
    """Combine the markings ``refs`` point to into one :class:`Marking` (rule in module doc).

    Returns ``(marking, known)``; ``known`` is False if some reference could not be resolved,
    in which case the object must be withheld from every partner.
    """
    level = Classification.UNCLASSIFIED
    rel: frozenset[str] | None = None
    caveats: list[str] = []
    tlp: str | None = None
    known = True
    kind: str
    value: Any  # what definition_kind returns: a TLP label, an AccordLabel, a statement …
    for ref in refs:
        definition = definitions.get(ref)
        if definition is None and ref in TLP_BY_ID:
            kind, value = "tlp", TLP_BY_ID[ref]
        elif definition is None:
            known = False
            continue
        else:
            kind, value = definition_kind(definition)
        if kind == "tlp" and value in TLP_ORDER:
            if tlp is None or TLP_ORDER.index(value) > TLP_ORDER.index(tlp):
                tlp = value
        elif kind == "accord":
            level = max(level, value.classification)
            rel = value.releasability if rel is None else rel & value.releasability
            caveats.extend(c for c in value.caveats if c not in caveats)
    if rel is None:
        rel = default_rel_to
    return Marking(level, rel, tlp, tuple(caveats)), known


def releasable(marking: Marking, known: bool, party: str) -> bool:
    """May ``party`` (a partner, not the node's own party) see data under ``marking``?"""
    return known and marking.tlp != "AMBER+STRICT" and marking.releasable_to(party)


def rel_code(marking: Marking, known: bool) -> str:
    """The releasability column stored with each object version: ``|KOR|USA|`` (parties that
    may see it, besides the node's own) — or ``|`` for none."""
    if not known or marking.tlp in ("RED", "AMBER+STRICT"):
        return "|"
    parties = sorted(p for p in marking.rel_to if releasable(marking, known, p))
    return "|" + "".join(p + "|" for p in parties)


def rel_allows(code: str, party: str) -> bool:
    return f"|{party}|" in code


# --- granular markings ----------------------------------------------------------------------
#: Properties whose removal would make an object invalid: common ones plus, per type, those
#: STIX 2.1 marks required. Redacting one of these withholds the whole object.
COMMON_REQUIRED = frozenset({"type", "id", "spec_version", "created", "modified"})
REQUIRED: dict[str, frozenset[str]] = {
    "attack-pattern": frozenset({"name"}), "campaign": frozenset({"name"}),
    "course-of-action": frozenset({"name"}), "grouping": frozenset({"context", "object_refs"}),
    "identity": frozenset({"name"}), "incident": frozenset({"name"}),
    "indicator": frozenset({"pattern", "pattern_type", "valid_from"}),
    "infrastructure": frozenset({"name"}), "intrusion-set": frozenset({"name"}),
    "location": frozenset(), "malware": frozenset({"is_family"}),
    "malware-analysis": frozenset({"product"}), "note": frozenset({"content", "object_refs"}),
    "observed-data": frozenset({"first_observed", "last_observed", "number_observed"}),
    "opinion": frozenset({"opinion", "object_refs"}),
    "report": frozenset({"name", "published", "object_refs"}),
    "threat-actor": frozenset({"name"}), "tool": frozenset({"name"}),
    "vulnerability": frozenset({"name"}),
    "relationship": frozenset({"relationship_type", "source_ref", "target_ref"}),
    "sighting": frozenset({"sighting_of_ref"}),
    "marking-definition": frozenset(),
    "ipv4-addr": frozenset({"value"}), "ipv6-addr": frozenset({"value"}),
    "domain-name": frozenset({"value"}), "url": frozenset({"value"}),
    "email-addr": frozenset({"value"}), "mac-addr": frozenset({"value"}),
    "mutex": frozenset({"name"}), "autonomous-system": frozenset({"number"}),
    "directory": frozenset({"path"}), "software": frozenset({"name"}),
    "windows-registry-key": frozenset(), "x509-certificate": frozenset(),
}


def _top(selector: str) -> str:
    return selector.split(".", 1)[0]


def granular_plan(obj: Mapping[str, Any], definitions: Mapping[str, Mapping[str, Any]],
                  default_rel_to: frozenset[str]) -> tuple[str, list[list[Any]]]:
    """Pre-compute, at ingest, what granular markings hide from whom.

    Returns ``(withhold_code, plan)``: ``withhold_code`` is the releasability code an object
    must additionally satisfy (``"*"`` if the granular markings never withhold it whole) and
    ``plan`` is a list of ``[rel_code, [top-level properties]]`` to redact for readers not in
    ``rel_code``.
    """
    gms = obj.get("granular_markings") or []
    required = COMMON_REQUIRED | REQUIRED.get(str(obj.get("type")), frozenset())
    plan: dict[str, set[str]] = {}
    for gm in gms:
        ref = gm.get("marking_ref")
        if not ref:
            continue  # a language granular marking restricts nothing
        marking, known = effective_marking([ref], definitions, frozenset(default_rel_to))
        if not known and ref not in definitions:
            code = "|"
        elif ref in TLP_BY_ID or (ref in definitions and definition_kind(definitions[ref])[0] == "tlp"):
            # A TLP-only granular marking keeps the object-level REL TO of the object.
            code = rel_code(Marking(marking.classification, frozenset(default_rel_to), marking.tlp),
                            True)
            if marking.tlp in ("CLEAR", "GREEN"):
                continue
        else:
            code = rel_code(marking, known)
        plan.setdefault(code, set()).update(_top(s) for s in gm.get("selectors", []))
    withhold = "*"
    entries: list[list[Any]] = []
    for code, props in sorted(plan.items()):
        if props & required:
            withhold = code if withhold == "*" else intersect_rel(withhold, code)
        entries.append([code, sorted(props - required)])
    return withhold, [e for e in entries if e[1]]


def intersect_rel(a: str, b: str) -> str:
    """The REL code (``|JPN|KOR|``, :func:`rel_code`) of the parties both ``a`` and ``b`` allow."""
    pa = set(a.strip("|").split("|")) - {""}
    pb = set(b.strip("|").split("|")) - {""}
    return "|" + "".join(p + "|" for p in sorted(pa & pb))


def redact(obj: dict[str, Any], plan: list[list[Any]], party: str) -> dict[str, Any]:
    """Apply a :func:`granular_plan` for a reader of ``party``: drop the properties it may not
    see, and the granular-marking entries that select inside them."""
    hidden: set[str] = set()
    for code, props in plan:
        if not rel_allows(code, party):
            hidden.update(props)
    if not hidden:
        return obj
    out = {k: v for k, v in obj.items() if k not in hidden}
    kept = []
    for gm in obj.get("granular_markings", []):
        sel = [s for s in gm.get("selectors", []) if _top(s) not in hidden]
        if sel:
            kept.append({**gm, "selectors": sel})
    if kept:
        out["granular_markings"] = kept
    else:
        out.pop("granular_markings", None)
    return out


# --- exports --------------------------------------------------------------------------------
_ACS_CLASS = {Classification.UNCLASSIFIED: "U", Classification.RESTRICTED: "U",
              Classification.CONFIDENTIAL: "C", Classification.SECRET: "S",
              Classification.TOP_SECRET: "TS"}
ACS_EXTENSION_ID = "extension-definition--3a65884d-005a-4290-8335-cb2d778a83ce"


def to_acs30(marking: Marking, *, originator: str, created: str) -> dict[str, Any]:
    """An ISA ACS 3.0 marking definition for an effective marking.

    ``control_set.classification`` is the US-scale letter (RESTRICTED has no US level and maps
    to U with the ``FOUO`` formal determination); ``REL TO`` becomes
    ``control_set.permitted_nationalities`` (GENC uses ISO alpha-3 for these three parties) and
    a ``further_sharing`` permit per party; the policy default is deny (``sharedefault=deny``).
    TLP:RED / AMBER+STRICT, which forbid onward release, give no permitted nationality.
    """
    rel = sorted(marking.rel_to) if marking.tlp not in ("RED", "AMBER+STRICT") else []
    control: dict[str, Any] = {"classification": _ACS_CLASS[marking.classification]}
    if marking.classification == Classification.RESTRICTED:
        control["formal_determination"] = ["FOUO"]
    if rel:
        control["permitted_nationalities"] = rel
    body = {"marking": marking.to_json(), "originator": originator}
    ident = uuid.uuid5(_NS, "acs30:" + canonical_json(body).decode())
    block: dict[str, Any] = {
        "extension_type": "property-extension",
        "identifier": f"isa:guide.19001.ACS3-{ident}",
        "create_date_time": created,
        "responsible_entity_custodian": f"{originator}.MOD",
        "responsible_entity_originator": f"{originator}.MOD",
        "policy_reference": "urn:isa:policy:acs:ns:v3.0?privdefault=deny&sharedefault=deny",
        "control_set": control,
    }
    if rel:
        block["further_sharing"] = [{"sharing_scope": p, "sharing_effect": "permit"} for p in rel]
    return {"type": "marking-definition", "spec_version": "2.1",
            "id": f"marking-definition--{ident}", "created": created, "name": str(marking),
            "extensions": {ACS_EXTENSION_ID: block}}


def misp_distribution(marking: Marking, known: bool = True) -> dict[str, Any]:
    """MISP ``distribution`` (and sharing group, tags) for an effective marking.

    TLP:RED, TLP:AMBER+STRICT or an unresolved marking → 0 (your organisation only). A REL TO
    list → 4 (a sharing group of those parties). Without REL TO, anything classified above
    UNCLASSIFIED → 0; unclassified data goes by TLP: AMBER → 1 (this community only), GREEN → 2
    (connected communities), CLEAR → 3 (all communities), no TLP → 0.
    """
    tags = [f"tlp:{marking.tlp.lower()}"] if marking.tlp else []
    tags += [f"accord:classification=\"{marking.classification.name}\""]
    tags += [f"accord:caveat=\"{c}\"" for c in marking.caveats]
    if not known or marking.tlp in ("RED", "AMBER+STRICT"):
        return {"distribution": 0, "sharing_group": None, "tags": tags}
    if marking.rel_to:
        return {"distribution": 4,
                "sharing_group": {"name": "REL TO " + ", ".join(sorted(marking.rel_to)),
                                  "members": sorted(marking.rel_to)}, "tags": tags}
    level = {"AMBER": 1, "GREEN": 2, "CLEAR": 3}.get(marking.tlp or "", 0)
    if marking.classification > Classification.UNCLASSIFIED:
        level = 0
    return {"distribution": level, "sharing_group": None, "tags": tags}
