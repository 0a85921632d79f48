"""Cursor on Target 2.0 events: build them, and parse the ones a TAK server sends, with bounds.

A CoT event (MITRE's CoT 2.0 event schema, as the TAK family uses it)::

    <event version="2.0" uid="accord.JPN.T3" type="a-s-A-W-M-S-S" how="m-f"
           time="…Z" start="…Z" stale="…Z">
      <point lat="40.1234567" lon="131.2345678" hae="152000.0" ce="310.0" le="220.0"/>
      <detail>
        <contact callsign="JPN T3"/>
        <track course="87.1" speed="2450.3"/>
        <__accord marking="CONFIDENTIAL//REL TO JPN, KOR, USA" originator="JPN" item="…" sidc="…"/>
        <remarks>CONFIDENTIAL//REL TO JPN, KOR, USA — …</remarks>
      </detail>
    </event>

``time``/``start`` say when the event was made, ``stale`` when a client must drop it (a track
that stops being updated disappears). ``ce``/``le`` are the 1-σ circular (horizontal) and linear
(vertical) errors in metres; ``hae`` is the height in metres (on Accord's sphere, as its maps
read latitude and longitude). Drawings carry ``<shape><ellipse major= minor= angle=/></shape>``
(semi-axes in metres, the major axis' bearing from true north, as ATAK's circles and ellipses
do) or ``<link point="lat,lon"/>`` vertices (a polygon).

Inbound XML is hostile: :class:`EventSplitter` cuts a TCP stream into events of at most
:data:`MAX_EVENT_BYTES`, and :func:`parse_event` parses one with defusedxml (no DTD, no entity,
no external reference) and checks every field it reads; a bad event raises :class:`CotError`
naming the field, and nothing else happens to it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _defused_fromstring
from lxml import etree

from accord.errors import InputError

#: the largest event accepted from a TAK server (a spot report is ~1 KB; ATAK's own are < 8 KB)
MAX_EVENT_BYTES = 64 * 1024
MAX_REMARKS = 4000
MAX_CALLSIGN = 100
TYPE_RE = re.compile(r"[a-z](-[A-Za-z0-9_.]+){0,15}")
UID_RE = re.compile(r"[A-Za-z0-9_.:@/+-]{1,200}")
#: the bounds of ``<point>``'s numbers, inbound and outbound (``ce``/``le`` 9999999: unknown)
LAT, LON, HAE, ERROR_M = (-90.0, 90.0), (-180.0, 180.0), (-1e7, 1e9), (0.0, 1e8)
UNKNOWN_ERROR_M = 9999999.0
#: an xs:dateTime as CoT writes it (the offset is checked apart, to say what is missing)
_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", re.ASCII)
#: an xs:double's lexical form (Python's float() also takes "1_0", " 5 " and other scripts' digits)
_DOUBLE = re.compile(r"[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|inf(inity)?|nan)", re.IGNORECASE | re.ASCII)
_XML_SPACE = " \t\r\n"
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with each character XML 1.0 cannot carry (controls, U+FFFE, a lone surrogate)
    replaced by U+FFFD: a partner's track id or an area's name is text Accord did not write,
    and one such character made lxml refuse the whole event — and the follower with it, at the
    same item after every restart."""
    return _NOT_XML.sub("\ufffd", text)
_END = b"</event>"


class CotError(InputError):
    """A CoT event that cannot be accepted: malformed XML, too large, or a bad field."""


@dataclass(frozen=True)
class CotEvent:
    """One CoT event. ``accord`` holds the ``<__accord>`` attributes (marking, originator …);
    ``ellipse`` is ``(major_m, minor_m, angle_deg)``; ``polygon`` the ``(lat, lon)`` vertices;
    ``track`` is ``(course_deg, speed_m_s)``; ``link_uid`` names what a delete event removes."""

    uid: str
    type: str
    how: str
    time: datetime
    start: datetime
    stale: datetime
    lat: float
    lon: float
    hae: float = 0.0
    ce: float = 9999999.0
    le: float = 9999999.0
    callsign: str | None = None
    remarks: str | None = None
    accord: dict[str, str] = field(default_factory=dict)
    ellipse: tuple[float, float, float] | None = None
    polygon: tuple[tuple[float, float], ...] = ()
    track: tuple[float, float] | None = None
    link_uid: str | None = None
    color: str | None = None  # ARGB hex for drawings' stroke, e.g. "ffff0000"

    def to_xml(self) -> bytes:
        """The event as UTF-8 XML (no declaration: TAK streams are events back to back)."""
        ev = etree.Element("event", version="2.0", uid=self.uid, type=self.type, how=self.how,
                           time=cot_time(self.time), start=cot_time(self.start), stale=cot_time(self.stale))
        etree.SubElement(ev, "point", lat=f"{self.lat:.7f}", lon=f"{self.lon:.7f}", hae=f"{self.hae:.1f}",
                         ce=f"{self.ce:.1f}", le=f"{self.le:.1f}")
        detail = etree.SubElement(ev, "detail")
        if self.callsign is not None:
            etree.SubElement(detail, "contact", callsign=xml_text(self.callsign))
        if self.track is not None:
            etree.SubElement(detail, "track", course=f"{self.track[0]:.1f}", speed=f"{self.track[1]:.1f}")
        if self.ellipse is not None:
            shape = etree.SubElement(detail, "shape")
            major, minor, angle = self.ellipse
            etree.SubElement(shape, "ellipse", major=f"{major:.1f}", minor=f"{minor:.1f}", angle=f"{angle:.1f}")
        for lat, lon in self.polygon:
            etree.SubElement(detail, "link", point=f"{lat:.6f},{lon:.6f}")
        if self.link_uid is not None:
            etree.SubElement(detail, "link", uid=self.link_uid, relation="none", type="none")
            etree.SubElement(detail, "__forcedelete")
        if self.color is not None:
            etree.SubElement(detail, "strokeColor", value=str(_argb_int(self.color)))
            etree.SubElement(detail, "strokeWeight", value="3.0")
            etree.SubElement(detail, "fillColor", value=str(_argb_int("40" + self.color[2:])))
        if self.accord:
            etree.SubElement(detail, "__accord", {k: xml_text(str(v)) for k, v in self.accord.items()})
        if self.remarks is not None:
            etree.SubElement(detail, "remarks").text = xml_text(self.remarks)
        return etree.tostring(ev, encoding="utf-8")


def _argb_int(argb_hex: str) -> int:
    """ATAK's colour attributes are signed 32-bit ARGB integers."""
    v = int(argb_hex, 16)
    return v - (1 << 32) if v >= 1 << 31 else v


def cot_time(when: datetime) -> str:
    """CoT's time form: UTC, milliseconds, ``Z``."""
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def sendable(event: CotEvent, *, source: str = "picture") -> CotEvent:
    """``event`` as a TAK client can place it, or :class:`CotError` naming the field: every
    position (the point, a polygon's vertices) finite and on the map, the height, an ellipse's
    axes and a track's course and speed finite and within :func:`parse_event`'s bounds. An
    error ``ce``/``le`` that is not a number in [0, 1e8] m becomes 9999999 (CoT's "unknown").
    A partner's item holds numbers Accord did not compute: sent as they were, a ``lat="nan"``
    or a longitude of 309 digits went to every client, events Accord's own parser refuses. A
    callsign longer than :data:`MAX_CALLSIGN` and remarks longer than :data:`MAX_REMARKS` are cut."""
    def bad(name: str, value: float, bounds: tuple[float, float]) -> CotError:
        return CotError(f"{event.uid}: {value:.6g} is outside [{bounds[0]:g}, {bounds[1]:g}]", source=source,
                        field=name)

    for name, value, bounds in (("point.lat", event.lat, LAT), ("point.lon", event.lon, LON),
                                ("point.hae", event.hae, HAE)):
        if not bounds[0] <= value <= bounds[1]:   # False for NaN too
            raise bad(name, value, bounds)
    for lat, lon in event.polygon:
        for name, value, bounds in (("detail.link.lat", lat, LAT), ("detail.link.lon", lon, LON)):
            if not bounds[0] <= value <= bounds[1]:
                raise bad(name, value, bounds)
    if event.ellipse is not None:
        major, minor, angle = event.ellipse
        for name, value in (("detail.shape.ellipse.major", major), ("detail.shape.ellipse.minor", minor)):
            if not ERROR_M[0] <= value <= ERROR_M[1]:
                raise bad(name, value, ERROR_M)
        if not math.isfinite(angle):
            raise bad("detail.shape.ellipse.angle", angle, (-360.0, 360.0))
    if event.track is not None:
        for name, value, bounds in (("detail.track.course", event.track[0], (0.0, 360.0)),
                                    ("detail.track.speed", event.track[1], ERROR_M)):
            if not bounds[0] <= value <= bounds[1]:
                raise bad(name, value, bounds)
    ce, le = ((v if ERROR_M[0] <= v <= ERROR_M[1] else UNKNOWN_ERROR_M) for v in (event.ce, event.le))
    # a partner's text (a track id, an area's name) is of any length: cut to what the parser takes
    callsign = event.callsign[:MAX_CALLSIGN] if event.callsign is not None else None
    remarks = event.remarks[:MAX_REMARKS] if event.remarks is not None else None
    if (ce, le, callsign, remarks) == (event.ce, event.le, event.callsign, event.remarks):
        return event
    return replace(event, ce=ce, le=le, callsign=callsign, remarks=remarks)


# --- inbound ------------------------------------------------------------------------------------
class EventSplitter:
    """Cut a TCP byte stream of back-to-back CoT events into one ``bytes`` per event.

    :meth:`feed` returns, in order, each complete event's bytes or a :class:`CotError` for one
    that grew past ``max_bytes`` (its bytes are dropped up to its ``</event>``; nothing of it is
    parsed). Memory stays below ``max_bytes`` plus one read, whatever the peer sends.
    """

    def __init__(self, max_bytes: int = MAX_EVENT_BYTES, *, source: str = "TAK server") -> None:
        self.max_bytes = max_bytes
        self.source = source
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | CotError]:
        self._buf += data
        out: list[bytes | CotError] = []
        while True:
            end = self._buf.find(_END)
            if end < 0:
                if len(self._buf) > self.max_bytes:
                    if not self._skipping:
                        out.append(self._too_large())
                    self._skipping = True
                    del self._buf[:-len(_END)]  # keep a tail: the end tag may be split across reads
                return out
            chunk = bytes(self._buf[:end + len(_END)])
            del self._buf[:end + len(_END)]
            if self._skipping:  # the rest of an oversized event
                self._skipping = False
                continue
            if len(chunk.strip()) > self.max_bytes:
                out.append(self._too_large())
                continue
            out.append(chunk)

    def _too_large(self) -> CotError:
        return CotError(f"event larger than {self.max_bytes} bytes refused", source=self.source)


def parse_event(data: bytes, *, source: str = "TAK server", max_bytes: int = MAX_EVENT_BYTES) -> CotEvent:
    """Parse and check one CoT event; :class:`CotError` (one line naming the field) if it is bad."""
    if len(data) > max_bytes:
        raise CotError(f"event larger than {max_bytes} bytes refused", source=source)
    try:
        root = _defused_fromstring(data.strip(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CotError(f"XML refused: {type(exc).__name__} (DTDs and entities are not accepted)",
                       source=source) from None
    except Exception as exc:  # ParseError and friends from the XML parser
        raise CotError(f"malformed XML: {str(exc).splitlines()[0][:200]}", source=source) from None
    if root.tag != "event":
        raise CotError(f"root element is <{str(root.tag)[:40]}>, not <event>", source=source)
    uid = _attr(root, "uid", source)
    if not UID_RE.fullmatch(uid):
        raise CotError("uid must be 1–200 letters, digits or ._:@/+-", source=source, field="uid")
    cot_type = _attr(root, "type", source)
    if not TYPE_RE.fullmatch(cot_type):
        raise CotError(f"{cot_type[:80]!r} is not a CoT type such as 'b-r-f-h-c'", source=source, field="type")
    how = root.get("how") or ""
    if len(how) > 32:
        raise CotError("how is longer than 32 characters", source=source, field="how")
    time_, start, stale = (_time(root, name, source) for name in ("time", "start", "stale"))
    if stale < start:
        raise CotError("stale is before start", source=source, field="stale")
    point = root.find("point")
    if point is None:
        raise CotError("no <point>", source=source, field="point")
    lat = _number(point, "lat", source, *LAT)
    lon = _number(point, "lon", source, *LON)
    hae = _number(point, "hae", source, *HAE, default=0.0)
    ce = _number(point, "ce", source, *ERROR_M, default=UNKNOWN_ERROR_M)
    le = _number(point, "le", source, *ERROR_M, default=UNKNOWN_ERROR_M)
    detail = root.find("detail")
    callsign = remarks = None
    if detail is not None:
        contact = detail.find("contact")
        if contact is not None and contact.get("callsign") is not None:
            callsign = _text(contact.get("callsign") or "", MAX_CALLSIGN, "detail.contact.callsign", source)
        rem = detail.find("remarks")
        if rem is not None:
            remarks = _text("".join(rem.itertext()), MAX_REMARKS, "detail.remarks", source)
    return CotEvent(uid=uid, type=cot_type, how=how, time=time_, start=start, stale=stale, lat=lat, lon=lon,
                    hae=hae, ce=ce, le=le, callsign=callsign, remarks=remarks)


def _attr(el: Element, name: str, source: str) -> str:
    value = el.get(name)
    if not value:
        raise CotError(f"<{el.tag}> has no {name!r}", source=source, field=name)
    return value


def _time(el: Element, name: str, source: str) -> datetime:
    text = _attr(el, name, source).strip(_XML_SPACE)   # xs:dateTime collapses white space
    try:
        if len(text) > 40 or not _DATETIME.fullmatch(text):   # fromisoformat takes week dates, spaces …
            raise ValueError
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CotError(f"{text[:40]!r} is not an ISO 8601 time", source=source, field=name) from None
    if when.tzinfo is None:
        raise CotError(f"{text[:40]!r} has no time zone (CoT times end in Z)", source=source, field=name)
    try:
        return when.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+14:00, 9999-12-31T23:59:59-14:00: no UTC time
        raise CotError(f"{text[:40]!r} is outside the years 1-9999 in UTC", source=source, field=name) from None


def _number(el: Element, name: str, source: str, lo: float, hi: float, *, default: float | None = None) -> float:
    text = el.get(name)
    if text is None and default is not None:
        return default
    try:
        if not _DOUBLE.fullmatch((text or "").strip(_XML_SPACE)):   # xs:double collapses white space
            raise ValueError
        value = float(text or "")
    except ValueError:
        raise CotError(f"{(text or '')[:40]!r} is not a number", source=source, field=f"point.{name}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise CotError(f"{value} is outside [{lo:g}, {hi:g}]", source=source, field=f"point.{name}")
    return value


def _text(value: str, limit: int, name: str, source: str) -> str:
    if len(value) > limit:
        raise CotError(f"longer than {limit} characters", source=source, field=name)
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise CotError("holds control characters", source=source, field=name)
    return value
