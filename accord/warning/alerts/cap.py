"""OASIS Common Alerting Protocol 1.2 messages (lxml), in English, Japanese and Korean.

Implements the CAP 1.2 element structure (OASIS Standard, 1 July 2010, §3.2): ``alert`` with
``identifier``, ``sender``, ``sent``, ``status``, ``msgType``, ``scope``, ``references``
(space-separated ``sender,identifier,sent`` triples, §3.2.1), ``incidents``; then one ``info``
block per language with ``area`` blocks whose ``polygon`` is a closed ring of ``lat,lon`` pairs
(WGS 84, §3.2.4) and whose ``areaDesc`` names the affected administrative areas.

The wording follows the real systems and their lessons: J-Alert's "ミサイル発射。ミサイル発射。…
建物の中、又は地下に避難して下さい。", Korean 민방위 공습경보/경계경보 messages — but every
message says *why* (a missile, from where, predicted to fall in or pass over which areas, when)
and *where to go*, which Seoul's May 2023 경계경보 did not; and a lost track is never turned into
"passed over" or a firm impact point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import TYPE_CHECKING

from lxml import etree

if TYPE_CHECKING:  # pragma: no cover
    from accord.core.items import Item
    from accord.core.markings import Marking
    from accord.warning.types import Prediction

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SCHEMA_PATH = "schema/CAP-v1.2.xsd"
LANGUAGES = {"en": "en-US", "ja": "ja-JP", "ko": "ko-KR"}
JST = timezone(timedelta(hours=9))  # also KST
STATUSES = ("Actual", "Exercise")
_ID_SAFE = re.compile(r"[^A-Za-z0-9._:-]")


def cap_time(when: datetime) -> str:
    """CAP 1.2 dateTime in UTC: ``YYYY-MM-DDThh:mm:ss-00:00``.

    CAP 1.2 §3.3.2: "Alphabetic timezone designators such as 'Z' MUST NOT be used. The timezone
    for UTC MUST be represented as '-00:00'" (the schema's pattern also forbids fractions, but
    accepts ``+00:00``, so only this function keeps the sign right).
    """
    return when.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S-00:00")


def safe_token(text: str) -> str:
    """A string usable inside an identifier (no spaces, commas, ``<`` or ``&``: CAP §3.2.1)."""
    return _ID_SAFE.sub("_", text)


@dataclass(frozen=True)
class Text:
    headline: str
    description: str
    instruction: str


@dataclass(frozen=True)
class AreaBlock:
    """One CAP ``area``: per-language descriptions, polygons (rings of (lat, lon)), area codes."""

    desc: dict[str, str]
    polygons: tuple[tuple[tuple[float, float], ...], ...]
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CapMessage:
    """One CAP message and what the engine knows about it."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str                      # Alert | Update | Cancel
    references: tuple[str, ...]        # "sender,identifier,sent" triples of earlier messages
    incident: str
    t: float                           # scenario seconds when it was issued
    track_id: str
    reason: str                        # alert | update | lost | reacquired | impact | merged | clear-* (docs/alerts.md)
    area_codes: tuple[str, ...]
    xml: bytes = field(repr=False)
    party: str = ""
    texts: dict = field(default_factory=dict, repr=False, compare=False)
    sources: tuple[str, ...] = ()      # the tracks bound to the incident when it was issued
    basis: "Prediction | None" = field(default=None, repr=False, compare=False)  # the prediction behind it

    @property
    def ref(self) -> str:
        """This message as a CAP reference triple ``sender,identifier,sent``."""
        return f"{self.sender},{self.identifier},{cap_time(self.sent)}"

    def to_json(self) -> dict:
        return {"identifier": self.identifier, "sender": self.sender, "sent": cap_time(self.sent),
                "status": self.status, "msgType": self.msg_type, "references": list(self.references),
                "incident": self.incident, "t": self.t, "track_id": self.track_id,
                "reason": self.reason, "areas": list(self.area_codes)}

    def to_item(self, marking: "Marking | None" = None) -> "Item":
        """This alert as an :class:`accord.core.items.Item` of kind ``warning.alert``.

        Default marking: ``UNCLASSIFIED//REL TO JPN, KOR, USA`` (public civil-defence warnings).
        The body carries the CAP XML itself, so a partner gets the exact message.
        """
        from accord.core.items import new_item
        from accord.core.markings import Marking

        mk = marking if marking is not None else Marking.parse("UNCLASSIFIED//REL TO JPN, KOR, USA")
        body = dict(self.to_json(), cap_xml=self.xml.decode("utf-8"))
        return new_item("warning.alert", body, mk, self.party, self.sent)


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def ring_text(ring: tuple[tuple[float, float], ...]) -> str:
    """CAP polygon: space-separated ``lat,lon`` pairs, first == last, at least 4 pairs."""
    pts = list(ring)
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    if len(pts) < 4:
        raise ValueError("a CAP polygon needs at least 4 coordinate pairs")
    return " ".join(f"{lat:.4f},{lon:.4f}" for lat, lon in pts)


@dataclass(frozen=True)
class InfoParams:
    """The language-independent parts of the ``info`` blocks."""

    response: str          # Shelter | AllClear | Monitor
    urgency: str           # Immediate | Past
    severity: str          # Extreme | Minor
    certainty: str         # Likely | Possible | Unknown
    effective: datetime
    expires: datetime
    parameters: tuple[tuple[str, str], ...] = ()


EVENT = {"en": "Ballistic missile", "ja": "弾道ミサイル", "ko": "탄도미사일"}
SENDER_NAME = {"en": "Accord warning node ({party})", "ja": "Accord警報ノード（{party}）",
               "ko": "Accord 경보 노드({party})"}
EXERCISE_TAG = {"en": "[EXERCISE] ", "ja": "【訓練】", "ko": "[훈련] "}


def build_xml(*, identifier: str, sender: str, sent: datetime, status: str, msg_type: str,
              references: tuple[str, ...], incident: str, party: str, texts: dict[str, Text],
              params: InfoParams, areas: tuple[AreaBlock, ...]) -> bytes:
    """Serialise one CAP 1.2 ``alert`` (UTF-8, with XML declaration), elements in schema order."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", identifier)
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(sent))
    _sub(root, "status", status)
    _sub(root, "msgType", msg_type)
    _sub(root, "source", f"Accord {party}")
    _sub(root, "scope", "Public")
    if status == "Exercise":
        _sub(root, "note", "EXERCISE EXERCISE EXERCISE - simulated data, not a real event")
    if references:
        _sub(root, "references", " ".join(references))
    _sub(root, "incidents", incident)
    for lang, text in texts.items():
        tag = EXERCISE_TAG[lang] if status == "Exercise" else ""
        info = _sub(root, "info")
        _sub(info, "language", LANGUAGES[lang])
        _sub(info, "category", "Security")
        _sub(info, "category", "Safety")
        _sub(info, "event", EVENT[lang])
        _sub(info, "responseType", params.response)
        _sub(info, "urgency", params.urgency)
        _sub(info, "severity", params.severity)
        _sub(info, "certainty", params.certainty)
        ec = _sub(info, "eventCode")
        _sub(ec, "valueName", "ACCORD")
        _sub(ec, "value", "BALLISTIC-MISSILE")
        _sub(info, "effective", cap_time(params.effective))
        _sub(info, "expires", cap_time(params.expires))
        _sub(info, "senderName", SENDER_NAME[lang].format(party=party))
        _sub(info, "headline", tag + text.headline)
        _sub(info, "description", tag + text.description)
        _sub(info, "instruction", text.instruction)
        for name, value in params.parameters:
            p = _sub(info, "parameter")
            _sub(p, "valueName", name)
            _sub(p, "value", value)
        for block in areas:
            area = _sub(info, "area")
            _sub(area, "areaDesc", block.desc[lang])
            for ring in block.polygons:
                _sub(area, "polygon", ring_text(ring))
            for code in block.codes:
                g = _sub(area, "geocode")
                _sub(g, "valueName", "ACCORD-AREA")
                _sub(g, "value", code)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


_SCHEMA: etree.XMLSchema | None = None


def schema() -> etree.XMLSchema:
    """The vendored official OASIS CAP 1.2 XML schema (see ``schema/SOURCE.md``)."""
    global _SCHEMA
    if _SCHEMA is None:
        raw = (resources.files("accord.warning.alerts") / SCHEMA_PATH).read_bytes()
        _SCHEMA = etree.XMLSchema(etree.fromstring(raw))
    return _SCHEMA


def validate(xml: bytes) -> etree._Element:
    """Parse and validate one CAP message; return its root or raise :class:`InputError`."""
    from accord.errors import InputError

    try:
        doc = etree.fromstring(xml)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not well-formed XML: {exc}", field="cap") from exc
    s = schema()
    if not s.validate(doc):
        err = s.error_log.last_error
        raise InputError(f"CAP 1.2 schema violation: {err.message}", line=err.line, field="cap")
    return doc
