"""Markings: a common classification scale, releasability (``REL TO``) and TLP 2.0.

Common scale
------------
``UNCLASSIFIED < RESTRICTED < CONFIDENTIAL < SECRET < TOP_SECRET`` (:class:`Classification`, an
``IntEnum`` so levels compare with ``<``). Each party's own level names map onto it
(:data:`NATIONAL_LEVELS`, :func:`from_national`, :func:`national_name`):

* **USA** — Executive Order 13526 §1.2 (TOP SECRET, SECRET, CONFIDENTIAL); Controlled
  Unclassified Information, 32 CFR Part 2002 (CUI), is not classified but is access-controlled,
  so it maps to RESTRICTED.
* **KOR** — 보안업무규정 (Security Work Regulations, Presidential Decree) art. 4: Ⅰ급비밀 (Class I
  secret), Ⅱ급비밀 (Class II), Ⅲ급비밀 (Class III); 대외비 ("not for outside release", the
  handling marking below Class III) maps to RESTRICTED. The ROK–Japan GSOMIA (2016) art. 4(2)
  states the equivalents 군사Ⅱ급비밀 = SECRET and 군사Ⅲ급비밀 = CONFIDENTIAL; Class I is the
  national TOP SECRET level (never exchanged under that agreement).
* **JPN** — the ROK–Japan GSOMIA (2016) art. 4(2) maps 極秘 (Gokuhi) and 特定秘密 (Tokutei Himitsu,
  "Specially Designated Secret", Act No. 108 of 2013) to SECRET and 秘 (Hi) to CONFIDENTIAL;
  機密 (Kimitsu) is the level the Japan–US GSOMIA (2007) pairs with TOP SECRET; 取扱注意
  (Toriatsukai Chūi, "handle with care", for official use only) maps to RESTRICTED.

Sources: ja.wikisource.org "Japan-Korea GSOMIA (Japanese Text)" art. 4; MOFA ROK press release
2012-07-03 on the ROK–Japan agreement; E.O. 13526; 32 CFR 2002. The mapping is for interchange:
a receiving party re-marks with its own corresponding level, as those agreements require.

Banner grammar (what :meth:`Marking.parse` accepts and ``str(marking)`` prints)
-------------------------------------------------------------------------------
::

    banner         = classification *( "//" caveat ) [ "//" rel-to ] [ "//" tlp ]
    classification = "UNCLASSIFIED" / "RESTRICTED" / "CONFIDENTIAL" / "SECRET" / "TOP SECRET"
    caveat         = word *( " " word )          ; word = 1*( A-Z / 0-9 / "-" ), e.g. "EXERCISE"
    rel-to         = "REL TO " party *( ", " party )   ; party = an ISO 3166-1 alpha-3 code (accord.core.parties)
    tlp            = "TLP:" ( "CLEAR" / "GREEN" / "AMBER" / "AMBER+STRICT" / "RED" )   ; TLP 2.0

Only the canonical form is accepted, so ``str(Marking.parse(b)) == b`` for every valid ``b``:
upper case, parties in alphabetical order without repeats, blocks in the order above, no
leading/trailing spaces. Anything else raises :class:`~accord.errors.MarkingError` naming the
offending token (and, where there is one, the canonical spelling to use).

Releasability
-------------
Default deny: an item is releasable to a party only if the party is named in ``REL TO``; an
item with no ``REL TO`` is releasable to no partner. ``TLP:RED`` (TLP 2.0: "for the eyes and
ears of individual recipients only, no further disclosure") is never released through
automated sharing, whatever ``REL TO`` says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

from accord.core.canonical import canonical_json
from accord.core.parties import check_party, is_party, party_problem
from accord.errors import MarkingError, shown

__all__ = ["Classification", "Marking", "TLP_LABELS", "NATIONAL_LEVELS", "NATIONAL_ENGLISH", "from_national",
           "national_name", "check_party", "is_party"]


class Classification(IntEnum):
    """The common classification scale; larger is more sensitive."""

    UNCLASSIFIED = 0
    RESTRICTED = 1
    CONFIDENTIAL = 2
    SECRET = 3
    TOP_SECRET = 4

    @property
    def banner(self) -> str:
        """The banner spelling (``TOP SECRET`` with a space)."""
        return self.name.replace("_", " ")

    @classmethod
    def parse(cls, text: object) -> "Classification":
        """Parse a banner spelling (``TOP SECRET``) or enum name (``TOP_SECRET``); any other
        value (``None`` from a missing field, a number …) raises :class:`MarkingError`."""
        if isinstance(text, Classification):
            return text
        if not isinstance(text, str):
            raise MarkingError(f"classification must be a string, got {type(text).__name__}")
        key = text.replace(" ", "_")
        if key in cls.__members__ and text in (key, key.replace("_", " ")):
            return cls[key]
        raise MarkingError(f"unknown classification {shown(text)} "
                           f"(expected one of: {', '.join(c.banner for c in cls)})")


TLP_LABELS: tuple[str, ...] = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
"""TLP 2.0 labels (FIRST, https://www.first.org/tlp/), least to most restrictive."""

#: National level names → common scale, per party. The first name listed for a level is the one
#: :func:`national_name` returns.
NATIONAL_LEVELS: dict[str, dict[str, Classification]] = {
    "USA": {
        "TOP SECRET": Classification.TOP_SECRET,
        "SECRET": Classification.SECRET,
        "CONFIDENTIAL": Classification.CONFIDENTIAL,
        "CUI": Classification.RESTRICTED,
        "CONTROLLED UNCLASSIFIED INFORMATION": Classification.RESTRICTED,
        "UNCLASSIFIED": Classification.UNCLASSIFIED,
    },
    "KOR": {
        "Ⅰ급비밀": Classification.TOP_SECRET,
        "1급비밀": Classification.TOP_SECRET,
        "군사Ⅰ급비밀": Classification.TOP_SECRET,
        "Ⅱ급비밀": Classification.SECRET,
        "2급비밀": Classification.SECRET,
        "군사Ⅱ급비밀": Classification.SECRET,
        "군사II급비밀": Classification.SECRET,
        "Ⅲ급비밀": Classification.CONFIDENTIAL,
        "3급비밀": Classification.CONFIDENTIAL,
        "군사Ⅲ급비밀": Classification.CONFIDENTIAL,
        "군사III급비밀": Classification.CONFIDENTIAL,
        "대외비": Classification.RESTRICTED,
        "일반": Classification.UNCLASSIFIED,
    },
    "JPN": {
        "機密": Classification.TOP_SECRET,
        "極秘": Classification.SECRET,
        "特定秘密": Classification.SECRET,
        "秘": Classification.CONFIDENTIAL,
        "取扱注意": Classification.RESTRICTED,
        "指定なし": Classification.UNCLASSIFIED,
    },
}

#: The Japanese government's and the ROK government's own romanised / English terms, for display.
NATIONAL_ENGLISH: dict[str, dict[str, str]] = {
    "JPN": {"機密": "Kimitsu (Top Secret)", "極秘": "Gokuhi (Secret)",
            "特定秘密": "Tokutei Himitsu (Specially Designated Secret)", "秘": "Hi (Confidential)",
            "取扱注意": "Toriatsukai Chūi (Handle with Care)", "指定なし": "Unclassified"},
    "KOR": {"Ⅰ급비밀": "Class I Secret", "Ⅱ급비밀": "Class II Secret", "Ⅲ급비밀": "Class III Secret",
            "대외비": "Daeoebi (Not for External Release)", "일반": "Unclassified"},
}


def from_national(party: str, name: str) -> Classification:
    """Map a party's own level name (``("JPN", "極秘")``) onto the common scale."""
    levels = NATIONAL_LEVELS.get(party)
    if levels is None:
        raise MarkingError(f"no national level names known for party {shown(party)} "
                           f"(known: {', '.join(sorted(NATIONAL_LEVELS))})")
    try:
        return levels[name.strip()]
    except KeyError:
        raise MarkingError(f"{party} has no classification level named {shown(name)} "
                           f"(known: {', '.join(levels)})") from None


def national_name(party: str, level: Classification) -> str:
    """The party's own name for a common-scale level (first listed in :data:`NATIONAL_LEVELS`)."""
    levels = NATIONAL_LEVELS.get(party)
    if levels is None:
        raise MarkingError(f"no national level names known for party {shown(party)}")
    for name, value in levels.items():
        if value == level:
            return name
    raise MarkingError(f"{party} has no level corresponding to {level.banner}")  # pragma: no cover


_CAVEAT = re.compile(r"[A-Z0-9-]+( [A-Z0-9-]+)*")


_FROM_JSON: dict[str, "Marking"] = {}


@dataclass(frozen=True)
class Marking:
    """Classification + releasability + optional TLP 2.0 label + caveats (in banner order)."""

    classification: Classification
    rel_to: frozenset[str] = field(default_factory=frozenset)
    tlp: str | None = None
    caveats: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "classification", Classification.parse(self.classification)
                           if isinstance(self.classification, str) else Classification(self.classification))
        object.__setattr__(self, "rel_to", frozenset(self.rel_to))
        object.__setattr__(self, "caveats", tuple(self.caveats))
        for party in self.rel_to:
            check_party(party, what="REL TO party")
        if self.tlp is not None and self.tlp not in TLP_LABELS:
            raise MarkingError(f"unknown TLP label {shown(self.tlp)} (TLP 2.0: {', '.join(TLP_LABELS)})")
        seen: set[str] = set()
        for caveat in self.caveats:
            if not isinstance(caveat, str) or not _CAVEAT.fullmatch(caveat) or caveat.startswith(
                    ("REL TO", "TLP:")) or caveat.replace(" ", "_") in Classification.__members__:
                raise MarkingError(f"invalid caveat {shown(caveat)} (upper-case words of A-Z, 0-9, '-')")
            if caveat in seen:
                raise MarkingError(f"caveat {shown(caveat)} appears twice")
            seen.add(caveat)

    # --- banners ---------------------------------------------------------------------------
    def __str__(self) -> str:
        blocks = [self.classification.banner, *self.caveats]
        if self.rel_to:
            blocks.append("REL TO " + ", ".join(sorted(self.rel_to)))
        if self.tlp is not None:
            blocks.append("TLP:" + self.tlp)
        return "//".join(blocks)

    @property
    def banner(self) -> str:
        return str(self)

    @classmethod
    def parse(cls, banner: str) -> "Marking":
        """Parse a canonical banner (grammar in the module docstring); raise naming the bad token."""
        if not isinstance(banner, str):
            raise MarkingError(f"banner must be a string, got {type(banner).__name__}")
        if banner != banner.strip():
            raise MarkingError(f"banner {shown(banner)} has leading or trailing whitespace")
        if not banner:
            raise MarkingError("empty banner")
        blocks = banner.split("//")
        head, rest = blocks[0], blocks[1:]
        if head.upper() != head or head.replace(" ", "_") not in Classification.__members__ or "_" in head:
            raise MarkingError(f"banner {shown(banner)}: unknown classification {shown(head)} "
                               f"(expected one of: {', '.join(c.banner for c in Classification)})")
        classification = Classification[head.replace(" ", "_")]
        caveats: list[str] = []
        rel_to: frozenset[str] = frozenset()
        tlp: str | None = None
        stage = 0  # 0 caveats, 1 after REL TO, 2 after TLP: enforces the canonical block order
        for block in rest:
            if block == "":
                raise MarkingError(f"banner {shown(banner)}: empty block between '//' separators")
            if block.startswith("REL TO"):
                if stage >= 1:
                    raise MarkingError(f"banner {shown(banner)}: block {shown(block)} out of order or repeated "
                                       "(order: classification//caveats//REL TO//TLP)")
                rel_to = _parse_rel_to(block, banner)
                stage = 1
            elif block.startswith("TLP:") or block.upper().startswith("TLP"):
                if stage >= 2:
                    raise MarkingError(f"banner {shown(banner)}: TLP block {shown(block)} repeated")
                label = block[4:] if block.startswith("TLP:") else None
                if label not in TLP_LABELS:
                    raise MarkingError(f"banner {shown(banner)}: unknown TLP token {shown(block)} "
                                       f"(TLP 2.0: {', '.join('TLP:' + t for t in TLP_LABELS)})")
                tlp = label
                stage = 2
            else:
                if stage >= 1:
                    raise MarkingError(f"banner {shown(banner)}: block {shown(block)} out of order "
                                       "(order: classification//caveats//REL TO//TLP)")
                if not _CAVEAT.fullmatch(block) or block.replace(" ", "_") in Classification.__members__:
                    raise MarkingError(f"banner {shown(banner)}: invalid token {shown(block)} "
                                       "(caveats are upper-case words of A-Z, 0-9, '-')")
                if block in caveats:
                    raise MarkingError(f"banner {shown(banner)}: caveat {shown(block)} repeated")
                caveats.append(block)
        return cls(classification, rel_to, tlp, tuple(caveats))

    # --- JSON ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"classification": self.classification.name,
                               "rel_to": sorted(self.rel_to)}
        if self.tlp is not None:
            out["tlp"] = self.tlp
        if self.caveats:
            out["caveats"] = list(self.caveats)
        return out

    @cached_property
    def _json(self) -> dict[str, Any]:
        return self.to_json()

    @cached_property
    def _canonical(self) -> bytes:
        return canonical_json(self.to_json())

    def json_view(self) -> dict[str, Any]:
        """:meth:`to_json`, computed once per marking — for comparisons only: do not modify it."""
        return self._json

    def canonical(self) -> bytes:
        """RFC 8785 canonical JSON of :meth:`to_json`, computed once per (immutable) marking."""
        return self._canonical

    @classmethod
    def from_json(cls, data: object) -> "Marking":
        """Inverse of :meth:`to_json`; also accepts a banner string. Unknown fields are errors.

        Markings repeat (every track of a feed carries the same one), so a parsed marking is
        remembered by the ``repr`` of its input — exact for the str/list/dict values JSON gives,
        types included — and shared: a marking is immutable.
        """
        if type(data) is dict:
            key = repr(data)
            if len(key) > 1024:  # unusual markings are parsed, not remembered
                return cls._from_json(data)
            hit = _FROM_JSON.get(key)
            if hit is None:
                hit = cls._from_json(data)
                if len(_FROM_JSON) >= 1024:
                    _FROM_JSON.clear()
                _FROM_JSON[key] = hit
            return hit
        return cls._from_json(data)

    @classmethod
    def _from_json(cls, data: object) -> "Marking":
        if isinstance(data, str):
            return cls.parse(data)
        if not isinstance(data, dict):
            raise MarkingError(f"marking must be an object or a banner string, got {type(data).__name__}",
                               field="marking")
        unknown = set(data) - {"classification", "rel_to", "tlp", "caveats"}
        if unknown:
            raise MarkingError(f"unknown marking field(s): {', '.join(sorted(unknown))}", field="marking")
        if "classification" not in data:
            raise MarkingError("marking has no classification", field="marking.classification")
        rel_to = data.get("rel_to", [])
        if not isinstance(rel_to, list):
            raise MarkingError("rel_to must be a list of parties", field="marking.rel_to")
        caveats = data.get("caveats", [])
        if not isinstance(caveats, list):
            raise MarkingError("caveats must be a list of strings", field="marking.caveats")
        for party in rel_to:
            check_party(party, what="marking.rel_to party")
        if len(set(rel_to)) != len(rel_to):
            raise MarkingError("rel_to lists a party twice", field="marking.rel_to")
        if any(not isinstance(c, str) for c in caveats):
            raise MarkingError("caveats must be a list of strings", field="marking.caveats")
        cls_value = data["classification"]
        return cls(Classification.parse(cls_value), frozenset(rel_to), data.get("tlp"), tuple(caveats))

    # --- releasability ---------------------------------------------------------------------
    def release_refusal(self, party: str) -> str | None:
        """Why this marking forbids release to ``party`` (``None`` if it allows it)."""
        if self.tlp == "RED":
            return "marked TLP:RED, which is never released through automated sharing"
        if not self.rel_to:
            return f"marking {self} has no REL TO, so it is releasable to no partner"
        if party not in self.rel_to:
            return f"{party} is not in REL TO {', '.join(sorted(self.rel_to))}"
        return None

    def releasable_to(self, party: str) -> bool:
        """True iff :meth:`release_refusal` finds no reason to refuse ``party``."""
        return self.release_refusal(party) is None


def _parse_rel_to(block: str, banner: str) -> frozenset[str]:
    if not block.startswith("REL TO ") or len(block) == len("REL TO "):
        raise MarkingError(f"banner {shown(banner)}: malformed token {shown(block)} (expected 'REL TO JPN, KOR')")
    tokens = block[len("REL TO "):].split(", ")
    for token in tokens:
        problem = party_problem(token, what="REL TO party")
        if problem is not None:
            raise MarkingError(f"banner {shown(banner)}: {problem} (REL TO lists ISO 3166-1 alpha-3 codes "
                               "separated by ', ')")
    if len(set(tokens)) != len(tokens):
        dup = next(t for t in tokens if tokens.count(t) > 1)
        raise MarkingError(f"banner {shown(banner)}: party {shown(dup)} repeated in REL TO")
    if tokens != sorted(tokens):
        raise MarkingError(f"banner {shown(banner)}: REL TO parties must be in alphabetical order "
                           f"(write 'REL TO {', '.join(sorted(tokens))}')")
    return frozenset(tokens)
