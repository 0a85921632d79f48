"""Radar scans as live-feed messages: subjects, the message body, its checks (pure, no I/O).

A feed carries one message per radar **scan** — every plot of one radar at one time — on the
subject ``<prefix>.<party>.radar.<sensor>`` (prefix ``accord`` by default)::

    {"t": 125.5, "sensor": "JPN-TPY1", "plots": [[range_m, az_rad, el_rad], ...]}

A scan is the unit a radar reports and the unit the tracker processes, so a consumer knows a scan
is complete when its message arrives (with one message per plot it could not know until the
next scan came). The message id (JetStream's ``Nats-Msg-Id``) is derived from the content, so a
feed published twice is stored once within the stream's duplicate window.

Checks are those of a detections file (``docs/formats/warning-files.md``): ``t ≥ 0`` and finite,
``range_m > 0``, ``az_rad`` in [0, 2π), ``el_rad`` in [−π/2, π/2], the sensor named in the body
being the subject's; and at most :data:`MAX_SCAN_PLOTS` plots; a failure raises :class:`InputError` naming the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import orjson

from accord.clock import add_seconds
from accord.core.canonical import parse_json_strict
from accord.errors import AccordError, InputError
from accord.warning.io import Detections
from accord.warning.io.jsonl import to_float
from accord.warning.types import MAX_SCAN_GAP_S

MAX_SCAN_PLOTS = 1000
"""The most plots a scan may hold. Each plot no track takes starts a tentative track that the
next scans' plots are gated against, so the tracker's memory grows with the square of a scan's
plots: two scans of 10,000 plots (under NATS's 1 MB default payload) took the ingest past 4 GB
and ended it, and a restart met the same scans again. The scenarios' scans hold some 5 to 50."""
MAX_SCAN_BYTES = 256 * 1024
"""A scan message larger than this is refused unread. It follows from :data:`MAX_SCAN_PLOTS`: in
:meth:`Scan.payload`'s form a plot is at most 77 bytes (three doubles of at most 24 characters,
``-2.2250738585072014e-308``, two commas, the brackets and the comma after it), so the largest
scan is some 77 KB; 256 KiB leaves a writer of its own room for spaces and longer numbers, and
is a quarter of NATS's default 1 MB payload limit (a message of junk that size was decoded)."""
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # \Z: "$" lets a final newline through (a NATS subject)
KINDS = {"warning.track": "track", "warning.prediction": "prediction", "warning.alert": "alert"}


def check_token(value: str, what: str) -> str:
    """A NATS subject token (letters, digits, ``-``, ``_``): sensors, parties, prefixes, names."""
    if not _TOKEN.match(value or ""):
        raise InputError(f"{what} {value!r} must be 1-64 letters, digits, '-' or '_' "
                         "(it becomes part of a NATS subject or name)", field=what)
    return value


def check_prefix(prefix: str) -> str:
    """A subject prefix: one or more tokens joined by dots (``accord``, ``test.abc``)."""
    for part in prefix.split("."):
        check_token(part, "subject prefix")
    return prefix


def radar_subject(prefix: str, party: str, sensor: str) -> str:
    return f"{prefix}.{party}.radar.{check_token(sensor, 'sensor')}"


def radar_filter(prefix: str, party: str) -> str:
    return f"{prefix}.{party}.radar.>"


def warning_subject(prefix: str, party: str, kind: str) -> str:
    """``<prefix>.<party>.warning.<track|prediction|alert>`` for an item kind."""
    return f"{prefix}.{party}.warning.{KINDS[kind]}"


@dataclass(frozen=True)
class Scan:
    t: float
    sensor: str
    plots: np.ndarray   # (n, 3): range m, azimuth rad, elevation rad

    def payload(self) -> bytes:
        return json.dumps({"t": self.t, "sensor": self.sensor, "plots": self.plots.tolist()},
                          separators=(",", ":")).encode()


def msg_id(payload: bytes) -> str:
    """The de-duplication id of a scan message: a digest of its bytes."""
    return hashlib.sha256(payload).hexdigest()[:32]


def scans_of(det: Detections) -> Iterator[Scan]:
    """The scans of a detections file: runs of equal time and radar, in file order (as
    :func:`accord.warning.pipeline.track_detections` splits them)."""
    t, s = det.t, det.sensor_idx
    n = len(t)
    if n == 0:
        return
    starts = np.flatnonzero(np.r_[True, (np.diff(t) != 0) | (np.diff(s) != 0)])
    ends = np.r_[starts[1:], n]
    rae = np.column_stack([det.range_m, det.az_rad, det.el_rad])
    ids = det.sensor_ids
    for a, b in zip(starts.tolist(), ends.tolist()):
        yield Scan(float(t[a]), ids[int(s[a])], rae[a:b])


# a scan exactly as :meth:`Scan.payload` writes it: the three members in that order, no spaces,
# t without a sign (``-0`` would decode as 0 here and -0.0 there), a sensor name that needs no
# escape, and a plots array of which every byte belongs to a number, a comma or a bracket
_PLAIN_SCAN = re.compile(rb'\{"t":((?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?),'
                         rb'"sensor":"([A-Za-z0-9_-]{1,64})","plots":(\[[-+0-9.eE,\[\]]*\])\}')


def _plain_scan(data: bytes, subject: str) -> Scan | None:
    """The scan of a message in :meth:`Scan.payload`'s own form that passes every check, decoded
    at C speed (orjson, numpy); None for anything else, which :func:`parse_scan` then decodes and
    checks one value at a time (and words the refusal). It accepts nothing the general path would
    refuse and gives the same scan: a member can be neither duplicated nor nested, a plot can hold
    nothing but numbers (no ``true``, ``null`` or string: only the bytes of numbers, commas and
    brackets), both parsers round a decimal to the nearest double, and ``np.array(..., float)``
    is the same conversion."""
    m = _PLAIN_SCAN.fullmatch(data)
    if m is None or m.group(2).decode() != subject.rsplit(".", 1)[-1]:
        return None
    t = float(m.group(1))
    if not (math.isfinite(t) and t >= 0) or len(m.group(1)) > 40:
        return None
    try:
        plots = orjson.loads(m.group(3))
        rae = np.array(plots, dtype=float)
    except (orjson.JSONDecodeError, ValueError, TypeError, OverflowError):
        return None
    if rae.ndim != 2 or rae.shape[1] != 3 or not len(rae) or len(rae) > MAX_SCAN_PLOTS:
        return None
    # the bounds of each column (a NaN makes its column's min and max NaN, failing every test)
    (r0, a0, e0), (r1, a1, e1) = rae.min(axis=0).tolist(), rae.max(axis=0).tolist()
    if not (0 < r0 and r1 < math.inf and 0 <= a0 and a1 < 2 * math.pi and -math.pi / 2 <= e0
            and e1 <= math.pi / 2):
        return None
    return Scan(t, m.group(2).decode(), rae)


def parse_scan(data: bytes, subject: str) -> Scan:
    """Decode and check one scan message received on ``subject``."""
    if len(data) > MAX_SCAN_BYTES:
        raise InputError(f"scan message of {len(data)} bytes exceeds {MAX_SCAN_BYTES}")
    plain = _plain_scan(data, subject)
    if plain is not None:
        return plain
    try:
        obj = parse_json_strict(data)
    except AccordError as exc:
        raise InputError(f"not a JSON scan: {exc}") from None
    if not isinstance(obj, dict):
        raise InputError("a scan must be a JSON object {t, sensor, plots}")
    sensor = obj.get("sensor")
    if not isinstance(sensor, str):
        raise InputError("missing or non-string sensor", field="sensor")
    tail = subject.rsplit(".", 1)[-1]
    if sensor != tail:
        raise InputError(f"sensor {sensor[:80]!r} sent on the subject of sensor {tail!r}", field="sensor")
    t = obj.get("t")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(to_float(t)) or t < 0:
        raise InputError(f"t must be a finite number ≥ 0, got {repr(t)[:40]}", field="t")
    plots = obj.get("plots")
    if not isinstance(plots, list):
        raise InputError("plots must be a list of [range_m, az_rad, el_rad]", field="plots")
    if len(plots) > MAX_SCAN_PLOTS:
        raise InputError(f"{len(plots)} plots in one scan, more than {MAX_SCAN_PLOTS}", field="plots")
    for i, p in enumerate(plots):
        if (not isinstance(p, list) or len(p) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)):
            raise InputError(f"plot {i} must be [range_m, az_rad, el_rad] numbers", field="plots")
    try:
        rae = np.array(plots, dtype=float).reshape(-1, 3)
    except OverflowError:   # an integer beyond a double: JSON has no bound on integers
        k = next(i for i, p in enumerate(plots) if not all(math.isfinite(to_float(v)) for v in p))
        raise InputError(f"plot {k}: a number beyond a 64-bit double", field="plots") from None
    bad = ~np.isfinite(rae).all(axis=1)
    for i, name, ok in ((0, "range_m", rae[:, 0] > 0), (1, "az_rad", (rae[:, 1] >= 0) & (rae[:, 1] < 2 * math.pi)),
                        (2, "el_rad", np.abs(rae[:, 2]) <= math.pi / 2)):
        wrong = np.flatnonzero(bad | ~ok)
        if len(wrong):
            k = int(wrong[0])
            raise InputError(f"plot {k}: {name} {plots[k][i]!r} out of range or not finite", field=name)
    return Scan(float(t), sensor, rae)


#: how far ahead of the node's clock a scan after a long silence may be stamped (clock skew)
CLOCK_AHEAD_S = 300.0
#: past a scan's time, the latest an item or alert of it is dated
DATE_MARGIN_S = 366 * 86400.0


def is_present(epoch: datetime, now: datetime, t: float, ahead_s: float = CLOCK_AHEAD_S) -> bool:
    """Whether scan time ``t`` (``epoch + t``) is the present by the clock reading ``now``: within
    the last :data:`~accord.warning.types.MAX_SCAN_GAP_S` and at most ``ahead_s`` ahead (the
    bound :func:`check_not_ahead` applies, ``--clock-ahead`` of the ingest). A scan more than
    that gap after the last one is a feed back from a long silence then, and the tracker starts
    afresh; else a corrupt time, refused. A feed dated ahead on purpose is the present within
    the lead it is allowed, so it is taken back after a silence as it is taken at all."""
    at = add_seconds(epoch, t)
    if at is None:   # a time past year 9999 (or not a number)
        return False
    age = (now - at).total_seconds()
    return -ahead_s <= age <= MAX_SCAN_GAP_S


def check_not_ahead(epoch: datetime, now: datetime, t: float, ahead_s: float = CLOCK_AHEAD_S) -> None:
    """:class:`InputError` if scan time ``t`` (``epoch + t``) is more than ``ahead_s`` ahead of the
    clock reading ``now``. A radar reports what it saw, so a scan dated in the future has a wrong
    time; taken, it moved the tracker's clock there, and every true scan after it was refused as
    earlier than the last one until the clock caught up (hours, for a scan hours ahead). A replay
    or a simulation dated in the past (the default epoch, 2026-01-01, and ``t`` of a scenario) is
    never ahead; a feed dated in the future on purpose needs a larger ``ahead_s``."""
    at = add_seconds(epoch, t)
    ahead = math.inf if at is None else (at - now).total_seconds()   # None: past the year 9999
    if ahead > ahead_s:
        raise InputError(f"t={t} dates the scan {ahead:.0f} s ahead of the node's clock ({now.isoformat()}; "
                         f"epoch {epoch.isoformat()} + t), more than {ahead_s:.0f} s: a wrong time, or a wrong "
                         "--epoch or node clock", field="t")


def check_datable(epoch: datetime, t: float) -> None:
    """:class:`InputError` if ``epoch + t`` (and the year after it, which the alerts' times reach)
    is past what a datetime holds: the scan's items could not be dated, and the error would stop
    the ingest at the same scan after every restart."""
    if add_seconds(epoch, t + DATE_MARGIN_S) is None:
        raise InputError(f"t={t} puts the scan past the year 9999 (epoch {epoch.isoformat()} + t): its items "
                         "could not be dated", field="t")
