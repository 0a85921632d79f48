"""The alert engine: predictions in, CAP 1.2 messages out (pure, deterministic, no I/O).

One *incident* per track. Its life, as a state machine::

    (none) --qualifying prediction--> Alert --material change--> Update ... --> Cancel
                                        |                                  ^
                                        +-- status "lost" --> Update (lost) + time passes

* **Alert** when the 95 % ellipse touches the party's land or territorial sea, or the ground
  track overflies its land (:func:`accord.warning.alerts.rules.assess`).
* **Update** when the prediction changes materially: a new area (sent at once), an area dropped,
  the impact point moved more than ``material_shift_m``, the ellipse's semi-major axis changed by
  more than ``material_axis_ratio``, the impact time by more than ``material_time_s``, or the track
  was lost (sent at once). Other Updates are rate-limited to one per ``min_update_interval_s``;
  a change held back is sent by :meth:`AlertEngine.on_time` when the interval has passed.
* **Cancel** (CAP ``msgType`` Cancel, ``responseType`` AllClear) when the ellipse has moved at
  least ``clear_hysteresis_m`` outside the territory and the ground track no longer overflies it,
  or ``clear_after_impact_s`` after the predicted impact time (the threat has passed).

Every Update and Cancel ``references`` all earlier messages of its incident (CAP 1.2 §3.2.1),
so a receiver that missed one can still link the chain. Times are scenario seconds ``t``, mapped
to wall-clock by ``epoch + t``. The same inputs always give byte-identical messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from shapely.geometry import LineString, Point

from accord.errors import ConfigError
from accord.warning.alerts import wording
from accord.warning.alerts.cap import (STATUSES, AreaBlock, CapMessage, InfoParams, build_xml,
                                       cap_time, safe_token)
from accord.warning.alerts.geography import AdminArea, Geography
from accord.warning.alerts.rules import AlertRules, Assessment, assess
from accord.warning.types import Prediction

DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
_EARTH_M_PER_DEG = 111_194.9


@dataclass
class _Incident:
    track_id: str
    serial: int
    messages: list[CapMessage] = field(default_factory=list)
    open: bool = False
    launch_t: float = 0.0
    last_pred: Prediction | None = None
    last_assessment: Assessment | None = None
    sent_pred: Prediction | None = None        # the prediction behind the last message sent
    sent_assessment: Assessment | None = None
    last_sent_t: float = -math.inf
    pending: bool = False
    lost_t: float | None = None
    tracked_overflight_done: bool = False     # a tracked (not lost) prediction showed the path past the land
    alerted_areas: dict[str, AdminArea] = field(default_factory=dict)


class AlertEngine:
    """Turns one party's stream of predictions into CAP 1.2 Alert / Update / Cancel messages.

    ``status`` is ``"Actual"`` or ``"Exercise"`` for the engine's whole life: one engine never
    mixes live and exercise messages.
    """

    def __init__(self, rules: AlertRules, geography: Geography, sender: str, status: str,
                 *, epoch: datetime = DEFAULT_EPOCH) -> None:
        if status not in STATUSES:
            raise ConfigError(f"alert status must be one of {', '.join(STATUSES)}, got {status!r}")
        if not sender or any(c in sender for c in " ,<&"):
            raise ConfigError(f"CAP sender {sender!r} must be non-empty without spaces, commas, '<' or '&'")
        if epoch.tzinfo is None:
            raise ConfigError("epoch must be timezone-aware (UTC)")
        self.rules = rules.validate(geography)
        self.geography = geography
        self.sender = sender
        self.status = status
        self.epoch = epoch
        self._incidents: dict[str, _Incident] = {}
        self._serial = 0
        self._seq = 0
        self._now_t = -math.inf

    # --- public API -----------------------------------------------------------------------
    def assess(self, pred: Prediction) -> Assessment:
        return assess(pred, self.rules, self.geography)

    def on_prediction(self, pred: Prediction, now_t: float) -> list[CapMessage]:
        """Feed one prediction (issued at scenario time ``now_t``); return the messages it causes.

        Bad input (no usable ellipse/covariance) raises :class:`accord.errors.InputError` before
        any state changes, so no partial alert is ever produced.
        """
        a = self.assess(pred)  # raises on bad input, before touching state
        now_t = max(float(now_t), self._now_t)  # time never runs backwards inside the engine
        # Advance time first, but let this prediction supersede a held-back Update of its own track.
        out = self._advance(now_t, skip_pending=pred.track_id)
        inc = self._incidents.get(pred.track_id)
        if inc is None:
            self._serial += 1
            inc = self._incidents[pred.track_id] = _Incident(pred.track_id, self._serial,
                                                             launch_t=pred.launch_t)
        lost = pred.status == "lost"
        if lost and inc.lost_t is None:
            inc.lost_t = now_t
        if not lost and inc.open and not a.overflight and self._passed(inc, pred):
            inc.tracked_overflight_done = True
        inc.last_pred, inc.last_assessment = pred, a

        if not inc.open:
            if a.qualifies and now_t <= pred.impact_t + self.rules.clear_after_impact_s:
                out.append(self._emit(inc, "Alert", "lost" if lost else "alert", pred, a, now_t))
            return out
        if lost:
            if inc.sent_pred is not None and inc.sent_pred.status == "lost":
                return out  # already told; the Cancel comes from on_time
            # Keep the areas already warned: a lost track's last guess must not silently shrink them.
            out.append(self._emit(inc, "Update", "lost", pred, a, now_t))
            return out
        if inc.tracked_overflight_done and not a.impact_threat:
            out.append(self._cancel(inc, "clear-passed", now_t))
            return out
        if self._keep_open(a):
            change, urgent = self._material_change(inc, pred, a)
            if change and (urgent or now_t - inc.last_sent_t >= self.rules.min_update_interval_s):
                out.append(self._emit(inc, "Update", "update", pred, a, now_t))
            elif change:
                inc.pending = True
            return out
        out.append(self._cancel(inc, "clear-moved", now_t))
        return out

    def on_time(self, now_t: float) -> list[CapMessage]:
        """Advance the clock: send held-back Updates and clear incidents whose threat has passed."""
        return self._advance(now_t)

    def _advance(self, now_t: float, skip_pending: str | None = None) -> list[CapMessage]:
        if now_t < self._now_t:
            now_t = self._now_t  # time never runs backwards inside the engine
        self._now_t = now_t
        out: list[CapMessage] = []
        for inc in sorted((i for i in self._incidents.values() if i.open), key=lambda i: i.serial):
            if inc.last_pred is None:
                continue
            if now_t >= inc.last_pred.impact_t + self.rules.clear_after_impact_s:
                out.append(self._cancel(inc, self._end_reason(inc), now_t))
            elif inc.pending and inc.track_id != skip_pending and now_t - inc.last_sent_t >= self.rules.min_update_interval_s:
                assert inc.last_assessment is not None  # set together with last_pred (on_prediction)
                out.append(self._emit(inc, "Update", "update", inc.last_pred, inc.last_assessment,
                                      now_t))
        return out

    def open_incidents(self) -> list[str]:
        return [i.track_id for i in sorted(self._incidents.values(), key=lambda i: i.serial) if i.open]

    # --- decisions ------------------------------------------------------------------------
    def _keep_open(self, a: Assessment) -> bool:
        return a.qualifies or a.distance_to_territory_m <= self.rules.clear_hysteresis_m

    def _material_change(self, inc: _Incident, pred: Prediction, a: Assessment) -> tuple[bool, bool]:
        """(changed materially?, urgent?) versus the last message sent for this incident."""
        old, old_p = inc.sent_assessment, inc.sent_pred
        if old is None or old_p is None or old_p.status != pred.status:
            return True, True  # first message, or tracking regained after a loss
        new_codes, old_codes = set(a.area_codes), set(old.area_codes)
        if new_codes - old_codes:
            return True, True  # a newly threatened area is warned at once
        if new_codes != old_codes or a.impact_threat != old.impact_threat or a.overflight != old.overflight:
            return True, False
        de = (a.ellipse.lon_deg - old.ellipse.lon_deg) * math.cos(math.radians(a.ellipse.lat_deg))
        dn = a.ellipse.lat_deg - old.ellipse.lat_deg
        if math.hypot(de, dn) * _EARTH_M_PER_DEG > self.rules.material_shift_m:
            return True, False
        if abs(a.ellipse.semi_major_m - old.ellipse.semi_major_m) > \
                self.rules.material_axis_ratio * old.ellipse.semi_major_m:
            return True, False
        if abs(pred.impact_t - old_p.impact_t) > self.rules.material_time_s:
            return True, False
        return False, False

    @staticmethod
    def _passed(inc: _Incident, pred: Prediction) -> bool:
        """Has the tracked missile flown past every overflight area it was warned about?

        True when the current sub-missile point (the new ground track's first point), projected
        onto the ground track of the last message, lies beyond that track's last point over any
        warned overflight area. (A path that merely *shifted* away does not pass this test.)
        """
        old_a, old_p = inc.sent_assessment, inc.sent_pred
        if old_a is None or old_p is None or not old_a.overflight or len(old_p.ground_track) < 2 \
                or not pred.ground_track:
            return False
        line = LineString([(lon, lat) for lat, lon in old_p.ground_track])
        s_now = line.project(Point(pred.ground_track[0][1], pred.ground_track[0][0]))
        s_land = 0.0
        for h in old_a.overflight_hits:
            cut = line.intersection(h.area.geometry.buffer(0.1))
            for part in getattr(cut, "geoms", [cut]):
                for c in getattr(part, "coords", []):
                    s_land = max(s_land, line.project(Point(c)))
        return s_land > 0.0 and s_now > s_land

    def _end_reason(self, inc: _Incident) -> str:
        p = inc.last_pred
        assert p is not None
        if p.status == "lost":
            return "clear-unconfirmed"
        a = inc.last_assessment
        if a is not None and a.impact_threat:
            held = p.impact_t - p.t <= self.rules.confirm_window_s
            return "clear-fallen" if held else "clear-unconfirmed"
        if inc.tracked_overflight_done:
            return "clear-passed"
        return "clear-unconfirmed"

    # --- message construction -------------------------------------------------------------
    def _when(self, t: float) -> datetime:
        return self.epoch + timedelta(seconds=float(t))

    def _next_id(self, inc: _Incident) -> str:
        self._seq += 1
        ex = "EX." if self.status == "Exercise" else ""
        return f"accord.{self.rules.party}.{ex}{safe_token(inc.track_id)}.{len(inc.messages) + 1}.{self._seq}"

    def _incident_id(self, inc: _Incident) -> str:
        return f"{self.rules.party}-{safe_token(inc.track_id)}-{inc.serial}"

    def _area_blocks(self, a: Assessment, areas: list[AdminArea], *, cancel: bool) -> tuple[AreaBlock, ...]:
        impact_desc = {lang: wording.names(areas, lang) for lang in ("en", "ja", "ko")}
        blocks = [AreaBlock(impact_desc, (a.ring_latlon,), tuple(x.code for x in areas))]
        if a.corridor_latlon and not cancel and a.overflight:
            over = [h.area for h in a.overflight_hits]
            desc = {"en": "Predicted overflight: " + wording.names(over, "en"),
                    "ja": "上空通過の予測：" + wording.names(over, "ja"),
                    "ko": "상공 통과 예측: " + wording.names(over, "ko")}
            blocks.append(AreaBlock(desc, (a.corridor_latlon,), tuple(x.code for x in over)))
        return tuple(blocks)

    def _params(self, inc: _Incident, pred: Prediction, a: Assessment, reason: str) -> tuple:
        e = a.ellipse
        return (("trackId", inc.track_id), ("trackStatus", pred.status), ("reason", reason),
                ("predictionTime", cap_time(self._when(pred.t))),
                ("predictedImpactTime", cap_time(self._when(pred.impact_t))),
                ("impactEllipse95", f"{e.lat_deg:.4f},{e.lon_deg:.4f} {e.semi_major_m:.0f} "
                                    f"{e.semi_minor_m:.0f} {e.bearing_deg:.0f}"),
                ("affectedAreas", " ".join(a.area_codes) or "none"))

    def _emit(self, inc: _Incident, msg_type: str, reason: str, pred: Prediction, a: Assessment,
              now_t: float) -> CapMessage:
        lost = pred.status == "lost"
        # Areas: the new assessment's, plus (for a lost track) every area already warned.
        areas = {x.code: x for x in a.areas()}
        if lost:
            areas = {**inc.alerted_areas, **areas}
        impact_areas = [h.area for h in a.impact_hits]
        over_areas = [h.area for h in a.overflight_hits]
        if lost and not impact_areas and not over_areas:
            impact_areas = list(inc.alerted_areas.values())
        area_list = [areas[c] for c in sorted(areas)]
        launch = self.geography.country_at(pred.launch_lat_deg, pred.launch_lon_deg)
        texts = {lang: wording.warning_text(
            lang=lang, impact_areas=impact_areas, over_areas=over_areas, on_land=a.impact_on_land,
            launch=launch, launch_at=self._when(pred.launch_t), impact_at=self._when(pred.impact_t),
            lost=lost, lost_at=self._when(inc.lost_t) if inc.lost_t is not None else None,
            update=msg_type == "Update", axes_km=(2 * a.ellipse.semi_major_m / 1000,
                                                 2 * a.ellipse.semi_minor_m / 1000))
            for lang in ("en", "ja", "ko")}
        sent = self._when(now_t)
        params = InfoParams("Shelter", "Immediate", "Extreme", "Possible" if lost else "Likely",
                            sent, self._when(pred.impact_t + self.rules.expires_after_impact_s),
                            self._params(inc, pred, a, reason))
        msg = self._finish(inc, msg_type, reason, now_t, texts, params,
                           self._area_blocks(a, area_list, cancel=False), tuple(sorted(areas)))
        inc.open = True
        inc.pending = False
        inc.sent_pred, inc.sent_assessment, inc.last_sent_t = pred, a, now_t
        inc.alerted_areas.update(areas)
        return msg

    def _cancel(self, inc: _Incident, reason: str, now_t: float) -> CapMessage:
        pred, a = inc.last_pred, inc.last_assessment
        assert pred is not None and a is not None
        areas = [inc.alerted_areas[c] for c in sorted(inc.alerted_areas)]
        impact_areas = [h.area for h in a.impact_hits] or areas
        texts = {lang: wording.clear_text(
            lang=lang, reason=reason, areas=areas,
            region_where=wording.place(a.impact_region, a.nearest, lang),
            impact_areas=impact_areas, on_land=a.impact_on_land, impact_at=self._when(pred.impact_t),
            lost_at=self._when(inc.lost_t) if inc.lost_t is not None else None)
            for lang in ("en", "ja", "ko")}
        sent = self._when(now_t)
        certainty = "Unknown" if reason == "clear-unconfirmed" else "Likely"
        params = InfoParams("AllClear", "Past", "Minor", certainty, sent,
                            sent + timedelta(hours=1), self._params(inc, pred, a, reason))
        msg = self._finish(inc, "Cancel", reason, now_t, texts, params,
                           self._area_blocks(a, areas, cancel=True), tuple(sorted(inc.alerted_areas)))
        inc.open = False
        inc.pending = False
        inc.last_sent_t = now_t
        # A later qualifying prediction for the same track starts a new incident chain.
        self._serial += 1
        inc.serial = self._serial
        inc.messages = []
        inc.alerted_areas = {}
        inc.sent_pred = inc.sent_assessment = None
        inc.tracked_overflight_done = False
        return msg

    def _finish(self, inc: _Incident, msg_type: str, reason: str, now_t: float, texts: dict,
                params: InfoParams, blocks: tuple[AreaBlock, ...], codes: tuple[str, ...]) -> CapMessage:
        identifier = self._next_id(inc)
        sent = self._when(now_t)
        refs = tuple(m.ref for m in inc.messages) if msg_type != "Alert" else ()
        xml = build_xml(identifier=identifier, sender=self.sender, sent=sent, status=self.status,
                        msg_type=msg_type, references=refs, incident=self._incident_id(inc),
                        party=self.rules.party, texts=texts, params=params, areas=blocks)
        msg = CapMessage(identifier, self.sender, sent, self.status, msg_type, refs,
                         self._incident_id(inc), float(now_t), inc.track_id, reason, codes, xml,
                         party=self.rules.party, texts=texts)
        inc.messages.append(msg)
        return msg
