"""The CAP 1.2 rules an XML schema cannot express, as a checker for the tests.

OASIS CAP 1.2 (1 July 2010) states these in prose; the official XSD types ``identifier``,
``sender``, ``references``, ``polygon`` … as plain strings and its dateTime pattern accepts
``+00:00``. :func:`rule_violations` returns one line per broken rule (empty: conforms), naming
the section; :func:`stream_violations` checks what holds across a sender's messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
NS = {"cap": CAP_NS}
DATETIME_ELEMENTS = ("sent", "info/cap:effective", "info/cap:onset", "info/cap:expires")
# §3.3.2: "YYYY-MM-DDThh:mm:ssXzh:zm" — no fractions, no letters; UTC only as -00:00
_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
_RESTRICTED = re.compile(r"[\s,<&]")  # §3.2.1 identifier/sender: no spaces, commas, < or &
_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")  # §3.2.2: RFC 3066 language tag
_NUMBER = r"[-+]?\d+(\.\d+)?"
_PAIR = re.compile(rf"({_NUMBER}),({_NUMBER})")


def datetime_violation(what: str, text: str) -> str | None:
    """§3.3.2 on one dateTime value, or ``None`` if it conforms."""
    if not _DATETIME.fullmatch(text):
        return f"{what} {text!r} is not YYYY-MM-DDThh:mm:ss±hh:mm (§3.3.2: no 'Z', no fractions)"
    if text.endswith("+00:00"):
        return f"{what} {text!r}: UTC must be written -00:00 (§3.3.2)"
    return None


def _pairs(what: str, text: str, out: list[str]) -> list[tuple[float, float]]:
    pairs = []
    for token in text.split(" "):
        m = _PAIR.fullmatch(token)
        if not m:
            out.append(f"{what}: {token!r} is not a 'lat,lon' pair separated by single spaces (§3.2.4)")
            continue
        lat, lon = float(m.group(1)), float(m.group(3))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            out.append(f"{what}: {token!r} is outside WGS 84 latitude/longitude (§3.2.4)")
        pairs.append((lat, lon))
    return pairs


def _identifier_violations(what: str, text: str | None) -> list[str]:
    if not text:
        return [f"{what} is empty (§3.2.1)"]
    if _RESTRICTED.search(text):
        return [f"{what} {text!r} contains a space, comma, '<' or '&' (§3.2.1)"]
    return []


def rule_violations(xml: bytes) -> list[str]:
    """Every CAP 1.2 prose rule that ``xml`` (one ``alert``) breaks."""
    doc = etree.fromstring(xml)
    out: list[str] = []

    def text(path: str) -> str | None:
        el = doc.find(f"cap:{path}", NS)
        return None if el is None else (el.text or "")

    out += _identifier_violations("identifier", text("identifier"))
    out += _identifier_violations("sender", text("sender"))
    for path in DATETIME_ELEMENTS:
        for el in doc.findall(f"cap:{path}", NS):
            problem = datetime_violation(path.replace("info/cap:", "info/"), el.text or "")
            if problem:
                out.append(problem)
    refs = text("references")
    if refs is not None:
        for triple in refs.split(" "):
            parts = triple.split(",")
            if len(parts) != 3:
                out.append(f"references entry {triple!r} is not sender,identifier,sent (§3.2.1)")
                continue
            out += _identifier_violations("references sender", parts[0])
            out += _identifier_violations("references identifier", parts[1])
            problem = datetime_violation("references sent", parts[2])
            if problem:
                out.append(problem)
    msg_type = text("msgType")
    if msg_type in ("Update", "Cancel", "Ack", "Error") and not refs:
        out.append(f"msgType {msg_type} names no earlier message in references (§3.2.1)")
    scope = text("scope")
    if scope == "Restricted" and not text("restriction"):
        out.append("scope Restricted without a restriction (§3.2.1)")
    if scope == "Private" and not text("addresses"):
        out.append("scope Private without addresses (§3.2.1)")
    for lang in doc.findall("cap:info/cap:language", NS):
        if not _LANGUAGE.fullmatch(lang.text or ""):
            out.append(f"language {lang.text!r} is not an RFC 3066 tag (§3.2.2)")
    for poly in doc.findall("cap:info/cap:area/cap:polygon", NS):
        pairs = _pairs("polygon", poly.text or "", out)
        if len(pairs) < 4:
            out.append(f"polygon has {len(pairs)} coordinate pairs; at least 4 are required (§3.2.4)")
        elif pairs[0] != pairs[-1]:
            out.append("polygon's first and last pairs differ: the ring is not closed (§3.2.4)")
    for circle in doc.findall("cap:info/cap:area/cap:circle", NS):
        centre, _, radius = (circle.text or "").partition(" ")
        _pairs("circle", centre, out)
        if not re.fullmatch(r"\d+(\.\d+)?", radius):
            out.append(f"circle radius {radius!r} is not a non-negative number of km (§3.2.4)")
    return out


def stream_violations(messages: Iterable[bytes]) -> list[str]:
    """Rules across one sender's messages, in the order sent: identifiers are unique (§3.2.1) and
    every references triple names an earlier message by its exact sender, identifier and sent."""
    out: list[str] = []
    seen: set[str] = set()
    ids: set[tuple[str | None, str | None]] = set()
    for xml in messages:
        doc = etree.fromstring(xml)
        get = {tag: doc.findtext(f"cap:{tag}", namespaces=NS) for tag in ("sender", "identifier", "sent")}
        ref_el = doc.find("cap:references", NS)
        for triple in (ref_el.text or "").split(" ") if ref_el is not None else ():
            if triple not in seen:
                out.append(f"{get['identifier']} references {triple!r}, which no earlier message is")
        if (get["sender"], get["identifier"]) in ids:
            out.append(f"identifier {get['identifier']} is used twice")
        ids.add((get["sender"], get["identifier"]))
        seen.add(f"{get['sender']},{get['identifier']},{get['sent']}")
    return out
