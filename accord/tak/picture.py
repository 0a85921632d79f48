"""Accord's warning picture as CoT events: tracks, launch and impact predictions, alerted areas.

Every event is stamped with the time it is sent (``now``): TAK servers and clients drop events
whose ``stale`` has passed, so a replay of an old run is restamped, never sent with its own
times. ``stale`` is ``now + stale_s``: a track that stops being updated disappears from every
TAK client ``stale_s`` after its last update. Times *inside* the picture (a predicted impact in
312 s) are kept relative to the record's own time ``t`` and mapped onto ``now`` (scaled by
``time_scale`` in a faster-than-real-time replay).

UIDs are stable, so each update replaces the symbol it updates:

* a track: ``accord.<party>.<track id>`` (party: the node whose tracker made it);
* its predicted launch point: ``accord.<party>.<track id>.launch``; its impact point and 95 %
  ellipse: ``accord.<party>.<track id>.impact``;
* an alerted area: ``accord.<party>.alert.<incident>.<area n>-<area code>.<ring>``;
* a radar: ``accord.<party>.radar.<sensor id>`` (stale after a day: it does not move).

Each event carries the Accord marking (``<__accord marking=… originator=… item=…>``) and starts
its ``<remarks>`` with the marking banner, so a TAK user reads the marking with the symbol.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from defusedxml.ElementTree import fromstring as _defused_fromstring

from accord.clock import add_seconds
from accord.core.items import Item
from accord.errors import InputError
from accord.tak import types
from accord.tak.cot import CotEvent, sendable
from accord.warning.frames import EARTH_RADIUS_M

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
#: 95 % ellipse semi-axis = √χ²₂(0.95) σ = 2.448 σ
SIGMA_95_2D = math.sqrt(5.991464547107979)
#: the most vertices sent for one alerted-area ring (CAP outlines can hold thousands)
MAX_RING_POINTS = 400
MAX_ALERT_POLYGONS = 200
"""The most area polygons of one CAP alert drawn (Accord's own alerts carry one or two; a
partner's with thousands made thousands of events, seconds of the follower's time each)."""


class Stamp:
    """When and for how long events are valid: ``now``, ``stale_s``, and ``time_scale`` (wall
    seconds per picture second: 1 live, 1/speed in a replay)."""

    def __init__(self, now: datetime, stale_s: float, time_scale: float = 1.0) -> None:
        self.now, self.stale_s, self.time_scale = now, stale_s, time_scale

    @property
    def stale(self) -> datetime:
        return self.now + timedelta(seconds=self.stale_s)

    def after(self, seconds: float) -> datetime:
        return self.now + timedelta(seconds=seconds * self.time_scale)


def _accord(marking: str, originator: str, item_id: str | None, sidc: str | None = None) -> dict[str, str]:
    out = {"marking": marking, "originator": originator}
    if item_id:
        out["item"] = item_id
    if sidc:
        out["sidc"] = sidc
    return out


def track_events(body: Mapping[str, Any], *, party: str, marking: str, stamp: Stamp,
                 item_id: str | None = None) -> list[CotEvent]:
    """One track record (``tracks.jsonl`` line or ``warning.track`` item body: ECEF state and
    optional 6×6 covariance) → its CoT event."""
    try:
        x, y, z = float(body["x"]), float(body["y"]), float(body["z"])
        vx, vy, vz = float(body["vx"]), float(body["vy"]), float(body["vz"])
        track_id = str(body["track_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"track record without a numeric x/y/z/vx/vy/vz and a track_id: {exc}",
                         field="track") from None
    r = math.sqrt(x * x + y * y + z * z)
    if not math.isfinite(r) or r == 0.0:
        raise InputError("track position is not a finite point", field="track")
    lat = math.degrees(math.asin(max(-1.0, min(1.0, z / r))))
    lon = math.degrees(math.atan2(y, x))
    e, n, u = _enu(lat, lon)
    ve, vn = _dot(e, (vx, vy, vz)), _dot(n, (vx, vy, vz))
    course = math.degrees(math.atan2(ve, vn)) % 360.0
    ce, le = 9999999.0, 9999999.0
    cov = body.get("cov")
    if isinstance(cov, list) and len(cov) == 36:
        p = [[float(cov[6 * i + j]) for j in range(3)] for i in range(3)]
        ce = math.sqrt(max(0.0, (_quad(e, p) + _quad(n, p)) / 2.0))
        le = math.sqrt(max(0.0, _quad(u, p)))
    kind = types.TRACK
    return [CotEvent(
        uid=f"accord.{party}.{uid_part(track_id)}", type=kind.cot_type, how=kind.how, time=stamp.now, start=stamp.now,
        stale=stamp.stale, lat=lat, lon=lon, hae=r - EARTH_RADIUS_M, ce=ce, le=le,
        callsign=f"{party} {shown_id(track_id)}", track=(course, math.hypot(ve, vn)),
        accord=_accord(marking, party, item_id, kind.sidc),
        remarks=f"{marking} — Accord missile track {shown_id(track_id)} ({party}), altitude {(r - EARTH_RADIUS_M) / 1000:.0f} km, "
                f"speed {math.sqrt(vx * vx + vy * vy + vz * vz):.0f} m/s. Situational awareness only.")]


def prediction_events(body: Mapping[str, Any], *, party: str, marking: str, stamp: Stamp,
                      item_id: str | None = None) -> list[CotEvent]:
    """One prediction record → the launch point and the impact ellipse (nothing for a suspect
    prediction: it is not shared with partners either)."""
    status = body.get("status", "tracking")
    if status == "suspect":
        return []
    try:
        track_id, t = str(body["track_id"]), float(body["t"])
        launch = (float(body["launch_lat_deg"]), float(body["launch_lon_deg"]), float(body["launch_sigma_m"]))
        impact = (float(body["impact_lat_deg"]), float(body["impact_lon_deg"]), float(body["impact_t"]))
        ell = body["impact_ellipse_95"]
        major, minor, bearing = float(ell["semi_major_m"]), float(ell["semi_minor_m"]), float(ell["bearing_deg"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"prediction record without its launch/impact fields: {exc}", field="prediction") from None
    lost = " Tracking lost: last prediction." if status == "lost" else ""
    impact_at = add_seconds(stamp.now, (impact[2] - t) * stamp.time_scale)
    if impact_at is None:   # a partner's impact_t of 1e308 (or "nan"): no datetime, and no picture
        raise InputError(f"prediction impact_t {impact[2]:g} is {impact[2] - t:g} s from its t",
                         field="impact_t")
    when = f"{impact_at:%H:%M:%S}Z" if impact[2] >= t else "passed"
    out = []
    kind = types.LAUNCH
    out.append(CotEvent(
        uid=f"accord.{party}.{uid_part(track_id)}.launch", type=kind.cot_type, how=kind.how, time=stamp.now,
        start=stamp.now, stale=stamp.stale, lat=launch[0], lon=launch[1], ce=launch[2],
        callsign=f"{party} {shown_id(track_id)} launch", accord=_accord(marking, party, item_id, kind.sidc),
        remarks=f"{marking} — Accord predicted launch point of track {shown_id(track_id)} ({party}), "
                f"1-σ {launch[2] / 1000:.1f} km.{lost}"))
    kind = types.IMPACT
    out.append(CotEvent(
        uid=f"accord.{party}.{uid_part(track_id)}.impact", type=kind.cot_type, how=kind.how, time=stamp.now,
        start=stamp.now, stale=stamp.stale, lat=impact[0], lon=impact[1], ce=major / SIGMA_95_2D,
        callsign=f"{party} {shown_id(track_id)} impact {when}", ellipse=(major, minor, bearing % 360.0),
        color="ffff0000", accord=_accord(marking, party, item_id),
        remarks=f"{marking} — Accord predicted impact of track {shown_id(track_id)} ({party}) at {when}; "
                f"95 % ellipse {2 * major / 1000:.1f} × {2 * minor / 1000:.1f} km.{lost}"))
    return out


#: how long a radar (which does not move, and is stored once) stays on a client
RADAR_STALE_S = 86400.0


def radar_events(body: Mapping[str, Any], *, party: str, marking: str, stamp: Stamp,
                 item_id: str | None = None) -> list[CotEvent]:
    """A ``warning.radar`` item (a warning-file header sensor) → a friendly ground radar."""
    try:
        sensor, lat, lon = str(body["id"]), float(body["lat_deg"]), float(body["lon_deg"])
        alt = float(body.get("alt_m", 0.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"radar record without id, lat_deg, lon_deg: {exc}", field="radar") from None
    kind = types.RADAR
    return [CotEvent(uid=f"accord.{party}.radar.{uid_part(sensor)}", type=kind.cot_type, how=kind.how,
                     time=stamp.now, start=stamp.now, stale=stamp.now + timedelta(seconds=RADAR_STALE_S),
                     lat=lat, lon=lon, hae=alt, ce=10.0, le=10.0, callsign=f"{party} radar {sensor}"[:100],
                     accord=_accord(marking, party, item_id, kind.sidc),
                     remarks=f"{marking} — Accord radar {sensor} ({party}).")]


#: areas drawn so far, by incident: uid → (lat, lon); a Cancel removes them all
Drawn = dict[str, dict[str, tuple[float, float]]]


def alert_events(body: Mapping[str, Any], *, party: str, marking: str, stamp: Stamp,
                 item_id: str | None = None, drawn: Drawn | None = None) -> list[CotEvent]:
    """One CAP alert (a ``warning.alert`` item body, with ``cap_xml``) → a polygon per area ring.

    A ``Cancel`` (the all-clear) gives a delete event for each area drawn for its incident
    (``drawn``, kept by the caller across messages, records them) and for each area it names
    itself: an Update may have drawn areas that the Cancel no longer lists.
    """
    xml = body.get("cap_xml")
    if not isinstance(xml, str) or len(xml) > 2_000_000:
        raise InputError("alert without its CAP XML (cap_xml)", field="cap_xml")
    try:
        root = _defused_fromstring(xml.encode("utf-8"), forbid_dtd=True, forbid_entities=True,
                                   forbid_external=True)
    except Exception as exc:
        raise InputError(f"alert CAP XML refused: {str(exc)[:200]}", field="cap_xml") from None
    drawn = {} if drawn is None else drawn
    msg_type = root.findtext(f"{CAP}msgType") or ""
    # CAP §3.2.1: space-separated incident ids, the first names the drawing; a partner's may be
    # blank or, in the body, not a string
    incident = next(iter(f"{root.findtext(f'{CAP}incidents') or ''} {body.get('incident') or ''}".split()),
                    "incident")
    infos = root.findall(f"{CAP}info")
    info = next((i for i in infos if (i.findtext(f"{CAP}language") or "").startswith("en")), infos[0] if infos else None)
    if info is None:
        return []
    headline = info.findtext(f"{CAP}headline") or ""
    life = _life(root.findtext(f"{CAP}sent"), info.findtext(f"{CAP}expires"))
    stale = add_seconds(stamp.now, life * stamp.time_scale)
    if stale is None:
        raise InputError(f"alert lasting {life:.0f} s (sent to expires) ends past the year 9999", field="expires")
    out = []
    areas: dict[str, tuple[float, float]] = {}
    polygons = 0
    for a, area in enumerate(info.findall(f"{CAP}area")):
        code = next((g.findtext(f"{CAP}value") for g in area.findall(f"{CAP}geocode")), None) or "area"
        desc = area.findtext(f"{CAP}areaDesc") or code
        for k, poly in enumerate(area.findall(f"{CAP}polygon")):
            polygons += 1
            if polygons > MAX_ALERT_POLYGONS:  # the rest of a partner's alert is not drawn
                break
            uid = f"accord.{party}.alert.{uid_part(incident)}.{a}-{uid_part(code)}.{k}"
            ring = _ring(poly.text or "")
            if not ring:
                continue
            lat = sum(p[0] for p in ring) / len(ring)
            lon = sum(p[1] for p in ring) / len(ring)
            areas[uid] = (lat, lon)
            if msg_type == "Cancel":
                continue
            kind = types.AREA
            out.append(CotEvent(
                uid=uid, type=kind.cot_type, how=kind.how, time=stamp.now, start=stamp.now,
                stale=stale, lat=lat, lon=lon, callsign=f"{party} alert: {desc}"[:100],
                polygon=tuple(ring), color="ffff8000", accord=_accord(marking, party, item_id),
                remarks=f"{marking} — {headline}"[:4000]))
    if msg_type != "Cancel":
        drawn.setdefault(incident, {}).update(areas)
        return out
    kind = types.DELETE
    for uid, (lat, lon) in sorted({**drawn.pop(incident, {}), **areas}.items()):
        out.append(CotEvent(uid=f"{uid}.delete", type=kind.cot_type, how=kind.how, time=stamp.now,
                            start=stamp.now, stale=stamp.after(20.0), lat=lat, lon=lon, link_uid=uid,
                            accord=_accord(marking, party, item_id)))
    return out


def _life(sent_text: str | None, expires_text: str | None) -> float:
    """Seconds from a CAP alert's ``sent`` to its ``expires`` (at least 60), or 600 when either
    is missing, not a time, or without its offset (CAP §3.3.2 requires one; ``-00:00`` is UTC)."""
    try:
        sent, expires = datetime.fromisoformat(sent_text or ""), datetime.fromisoformat(expires_text or "")
    except ValueError:
        return 600.0
    if sent.tzinfo is None or expires.tzinfo is None:   # two naive times would subtract: as if UTC
        return 600.0
    return max(60.0, (expires - sent).total_seconds())


def item_events(item: Item, stamp: Stamp, drawn: Drawn | None = None) -> list[CotEvent]:
    """The events of one stored item (``warning.track``, ``warning.prediction``,
    ``warning.alert``, ``warning.radar``; ``drawn``: see :func:`alert_events`); other kinds have no
    picture. Each is :func:`~accord.tak.cot.sendable` (an :class:`InputError` says why not)."""
    marking = str(item.marking)
    # the signed originator, never a body field: a partner's track naming another party as its
    # ``source`` took that party's UIDs (its track, its radar's) and callsign on every client
    party = item.originator
    if item.kind == "warning.alert":
        events = alert_events(item.body, party=party, marking=marking, stamp=stamp, item_id=item.id, drawn=drawn)
    else:
        maker = {"warning.track": track_events, "warning.prediction": prediction_events,
                 "warning.radar": radar_events}.get(item.kind)
        if maker is None:
            return []
        events = maker(item.body, party=party, marking=marking, stamp=stamp, item_id=item.id)
    return [sendable(e, source=item.id) for e in events]


def _ring(text: str) -> list[tuple[float, float]]:
    pts = []
    for pair in text.split():
        lat_s, _, lon_s = pair.partition(",")
        try:
            lat, lon = float(lat_s), float(lon_s)
        except ValueError:
            return []
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):   # off the map, NaN, ±inf: no ring
            return []
        pts.append((lat, lon))
    if len(pts) > MAX_RING_POINTS:  # thin evenly, keeping the closing point
        step = math.ceil(len(pts) / MAX_RING_POINTS)
        pts = pts[:-1:step] + [pts[-1]]
    return pts


#: the longest track id shown whole in a callsign or remarks (a longer one is cut, with "…")
SHOWN_ID = 40


def shown_id(track_id: str) -> str:
    """A track id as callsigns and remarks show it: a partner's text of any length, cut to
    :data:`SHOWN_ID` characters so that ``JPN <id> impact 23:59:43Z`` stays within a callsign's
    100 (the UID, not the callsign, tells tracks apart)."""
    return track_id if len(track_id) <= SHOWN_ID else track_id[:SHOWN_ID - 1] + "…"


def uid_part(text: str) -> str:
    """A track id's, a radar id's, an incident's or an area code's part of a CoT UID. The text
    is a partner's: one of letters, digits, ``-`` and ``_`` (ASCII, up to 60) is used as it is
    (``T3`` → ``accord.JPN.T3``); any other — a dot, a space, a letter of another script, a
    longer one — becomes ``+`` and 24 hex digits of its SHA-256. So no track id can take the UID
    of a radar (``accord.P.radar.S``), an alert area (``accord.P.alert.…``), another track's
    launch or impact point (``accord.P.T.launch``) or another track id; ``R 1`` and ``R.1`` are
    two radars (two symbols on every client); and every UID is one Accord's own parser accepts."""
    if 0 < len(text) <= 60 and all(c.isascii() and (c.isalnum() or c in "-_") for c in text):
        return text
    return "+" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _enu(lat: float, lon: float) -> tuple[tuple[float, float, float], ...]:
    sl, cl = math.sin(math.radians(lat)), math.cos(math.radians(lat))
    so, co = math.sin(math.radians(lon)), math.cos(math.radians(lon))
    return ((-so, co, 0.0), (-sl * co, -sl * so, cl), (cl * co, cl * so, sl))


def _dot(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _quad(v: tuple[float, float, float], p: list[list[float]]) -> float:
    return sum(v[i] * p[i][j] * v[j] for i in range(3) for j in range(3))
