"""The alerts board's model: incidents, their CAP sequence, and when the launch was and the
impact will be.

Warning-pillar times are seconds from scenario start (``t``, ``launch_t``, ``impact_t``); the node
stamps each item with the clock time it made it (``created``), so a prediction made at ``t`` with
``created`` = C puts the launch at ``C − (t − launch_t)`` and the impact at
``C + (impact_t − t)``. An incident takes the latest prediction of its track from the same
originator; without one its times are unknown (shown as such).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accord.clock import add_seconds


@dataclass
class Incident:
    id: str
    originator: str
    track_id: str
    messages: list[Any] = field(default_factory=list)  # warning.alert items, in issue order
    launch_at: datetime | None = None
    impact_at: datetime | None = None

    @property
    def cancelled(self) -> bool:
        return bool(self.messages) and self.messages[-1].body.get("msgType") == "Cancel"

    @property
    def merged(self) -> bool:
        """Closed by a Cancel of reason ``merged``: a second incident of one missile, whose
        warning goes on in the other's messages — no all-clear (docs/alerts.md)."""
        return self.cancelled and self.messages[-1].body.get("reason") == "merged"

    @property
    def areas(self) -> list[str]:
        """The areas the latest message names (none once cancelled)."""
        return [] if self.cancelled or not self.messages else alert_areas(self.messages[-1].body)


def alert_areas(body: Any) -> list[str]:
    """The area codes an alert's body names: its ``areas`` if a list, its strings only. A
    partner's alert with ``"areas": null`` (or numbers, or objects) made the alerts board, the
    picture and the event streams raise TypeError for everyone who could see it."""
    areas = body.get("areas") if isinstance(body, dict) else None
    return [a for a in areas if isinstance(a, str)] if isinstance(areas, list) else []


def _seconds(body: dict, key: str) -> float | None:
    value = body.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def incidents(alerts: Iterable[Any], predictions: Iterable[Any]) -> list[Incident]:
    """Alerts grouped by (originator, incident), each with its track's latest prediction's times;
    the most recent incident first."""
    latest: dict[tuple[str, str], Any] = {}
    for p in predictions:
        key = (p.originator, str(p.body.get("track_id")))
        if key not in latest or (_seconds(p.body, "t") or 0) >= (_seconds(latest[key].body, "t") or 0):
            latest[key] = p
    out: dict[tuple[str, str], Incident] = {}
    for a in sorted(alerts, key=lambda i: (_seconds(i.body, "t") or 0, i.created)):
        key = (a.originator, str(a.body.get("incident", "?")))
        inc = out.setdefault(key, Incident(key[1], a.originator, str(a.body.get("track_id", ""))))
        inc.messages.append(a)
    for inc in out.values():
        p = latest.get((inc.originator, inc.track_id))
        if p is not None:
            inc.launch_at, inc.impact_at = prediction_times(p)
    return sorted(out.values(), key=lambda i: i.messages[-1].created, reverse=True)


def prediction_times(p: Any) -> tuple[datetime | None, datetime | None]:
    """(launch, impact) as clock times for a ``warning.prediction`` item (module docstring)."""
    t = _seconds(p.body, "t")
    if t is None:
        return None, None
    launch_t, impact_t = _seconds(p.body, "launch_t"), _seconds(p.body, "impact_t")
    # None (unknown) past what a datetime holds: a partner's prediction with ``impact_t`` 1e308
    # made the alerts board a 500 for everyone who saw it
    return (None if launch_t is None else add_seconds(p.created, launch_t - t),
            None if impact_t is None else add_seconds(p.created, impact_t - t))


def impact_of(p: Any) -> dict[str, float] | None:
    """A ``warning.prediction``'s impact point (degrees) and 95 % ellipse axes (km) as numbers,
    or None when its body does not give them all: a partner's prediction with an
    ``impact_ellipse_95`` of null or a latitude of ``"s"`` made its track's page a 500 for
    everyone who could see the track."""
    b: dict[str, Any] = p.body if isinstance(p.body, dict) else {}
    ell: Any = b.get("impact_ellipse_95")
    try:
        return {"lat": float(b["impact_lat_deg"]), "lon": float(b["impact_lon_deg"]),
                "major_km": float(ell["semi_major_m"]) / 1000.0, "minor_km": float(ell["semi_minor_m"]) / 1000.0}
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def latest_prediction(predictions: Iterable[Any], originator: str, track_id: str) -> Any | None:
    """The latest ``warning.prediction`` of one track (by its ``t``), or None."""
    mine = [p for p in predictions if p.originator == originator and str(p.body.get("track_id")) == track_id]
    return max(mine, key=lambda p: (_seconds(p.body, "t") or 0, p.created), default=None)


_AREA_NAMES: dict[str, dict[str, str]] = {}


def area_names(lang: str) -> dict[str, str]:
    """Area code → name in ``lang`` from the packaged geography (loaded once, every language)."""
    if not _AREA_NAMES:
        from accord.console.i18n import LANGS
        from accord.warning.alerts.outlines import geography

        areas = [a for p in geography().parties.values() for a in p.areas]
        _AREA_NAMES.update({code: {a.code: a.name(code) for a in areas} for code in LANGS})
    return _AREA_NAMES.get(lang, _AREA_NAMES["en"])
