"""The alert engine: predictions in, CAP 1.2 messages out (pure, deterministic, no I/O).

Kept as one module: the engine's per-incident state machine (Alert, Update, Cancel)
reads as one; rules, geography, wording and CAP encoding are modules of their own, and so is
the incidents' state, its durable form and the tests on one incident's predictions
(:mod:`accord.warning.alerts.incidents`), the merge of two incidents of one missile
(:mod:`accord.warning.alerts.merging`), and a message's CAP areas and parameters
(:mod:`accord.warning.alerts.messages`).

One *incident* per missile. Predictions come from *tracks* (the node's own, and partners'
shared ones); a track is bound to an incident while its predictions stay on the incident's
ballistic arc (:func:`accord.warning.identity.same_arc`: the predicted impact point and time,
within their covariances). So a missile seen by several radars or partners, or lost and picked
up again by a new track, stays one incident: its messages are an Alert, Updates, one Cancel.

The incident's *reference* is its latest prediction on the arc; it drives every message. Its
life, as a state machine::

    (none) --qualifying prediction, before its impact time--> Alert
    Alert --material change--> Update ... --> Cancel
      |  --every track lost before the impact time--> Update (lost)
      |  --predicted impact time passes, impact inside the area, tracked to the end-->
      |                                  Update ("believed to have fallen") --30 s--> Cancel
      +-- a prediction off the arc: its track is *suspect*; the incident holds (no message)

* **Alert** when the 95 % ellipse touches the party's land or territorial sea, or the ground
  track overflies its land (:func:`accord.warning.alerts.rules.assess`), and the predicted
  impact time is still ahead.
* **Update** when the prediction changes materially: a new area (sent at once), an area dropped,
  the impact point moved more than ``material_shift_m``, the ellipse's semi-major axis changed by
  more than ``material_axis_ratio``, the impact time by more than ``material_time_s``, the track
  was lost or regained (sent at once). Other Updates are rate-limited to one per
  ``min_update_interval_s``; a change held back is sent by :meth:`AlertEngine.on_time`.
* **Cancel** (CAP ``msgType`` Cancel, ``responseType`` AllClear) only on positive evidence that
  the threat is over:

  - ``clear-moved``: predictions on the incident's arc have put the whole 95 % ellipse at least
    ``clear_hysteresis_m`` outside the territory, and the ground track off its land, for
    ``clear_hold_s`` without a break;
  - ``clear-passed``: a tracked prediction shows the missile beyond the land it was warned about;
  - ``clear-impact``: the predicted impact time has passed with the impact inside the area, the
    missile tracked to within ``confirm_window_s`` of it: an Update saying it is believed to have
    fallen there at the impact time, the Cancel ``clear_after_impact_s`` later;
  - ``clear-unconfirmed``: the predicted flight time has passed (+ ``clear_after_impact_s``) but
    the track was lost earlier, or the threat was an overflight not seen past the land.

* A prediction off the arc (an association or identity error: the track now follows another
  object) never clears, narrows or moves the warning. Its track is detached and marked suspect;
  the incident keeps its reference, and ends on it. A suspect track may start an incident of its
  own only after its new arc has held ``suspect_hold_s``.
* A track bound through another track's *boost* prediction (whose wide region holds the arcs of
  every missile of a salvo near it) is provisional (``Incident.provisional``): its predictions
  may raise the warning, never clear or narrow it, and exclude no other track, until a confirmed
  track's ballistic prediction puts it on its arc (or off it: then it is detached as suspect).
* The incident's boost track after burnout, off its boost prediction's arc, is no identity error
  (a boost prediction is the class prior's guess; the track's own arc is better information): it
  stays bound, its predictions may raise the warning but not narrow it, and once its arc has held
  ``suspect_hold_s`` the incident takes that arc (the *hand-over*, ``Incident.handover``): it
  narrows, clears and ends on it as on any ballistic arc.
* Two open incidents that come to follow one missile (:func:`~accord.warning.alerts.merging.same_missile`:
  one arc, their live tracks at one place, from different trackers) are merged: the older takes
  the other's tracks, an Update of it carries the areas only the other warns, and the other is
  closed by a Cancel (``merged``) naming no area — once its Alert is more than ``clear_hold_s``
  old (:meth:`AlertEngine._merge`).

Every Update and Cancel ``references`` all earlier messages of its incident (CAP 1.2 §3.2.1),
so a receiver that missed one can still link the chain. Times are scenario seconds ``t``, mapped
to wall-clock by ``epoch + t``. The same inputs always give byte-identical messages.
:meth:`AlertEngine.snapshot` and :meth:`AlertEngine.restore` carry the open incidents across a
restart (:mod:`accord.warning.alerts.store` keeps them in the node's database).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import numpy as np

from accord.errors import ConfigError, InputError
from accord.warning.alerts import wording
from accord.warning.alerts.cap import (STATUSES, AreaBlock, CapMessage, InfoParams, build_xml,
                                       safe_token)
from accord.warning.alerts.geography import AdminArea, Geography, lonlat_box
from accord.warning.alerts.incidents import (Incident, Suspect, finite_or_none, flown_past, fresher, incident_from_json,
                                             incident_json, keep_tighter_impact, material_change, network)
from accord.warning.alerts.merging import absorb, alert_sent, merge_arc, same_missile, warned_areas
from accord.warning.alerts.messages import area_blocks, cap_params
from accord.warning.alerts.rules import AlertRules, Assessment, assess, impact_ellipse
from accord.warning.identity import arc_distance, same_arc, same_place
from accord.warning.types import MAX_SCAN_T_S, Prediction

DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
SNAPSHOT_FORMAT = "accord-alert-engine/1"
LIVE_S = 10.0   # a track that predicted this recently (and is not lost) is live
FAR_PAD_M = 50_000.0   # see AlertEngine._out_of_reach


class _Lazy:
    """A prediction's assessment, computed on first use (then kept): most of what the engine
    reads of it is read at once, but a prediction whose track is given a tighter impact by its
    incident (:func:`keep_tighter_impact`), or that an incident takes without it driving, is
    never read, and the assessment is pure, so computing it later gives the same one."""

    def __init__(self, engine: "AlertEngine", pred: Prediction) -> None:
        self._engine, self._pred = engine, pred
        self._full: Assessment | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._full is None:
            self._full = self._engine.assess(self._pred)
        return getattr(self._full, name)


class _Deferred(_Lazy):
    """The assessment of a prediction that :meth:`AlertEngine._out_of_reach` proved cannot
    qualify: ``qualifies`` (False) without computing it; anything else computes it (once)."""

    qualifies = False
    impact_threat = False
    overflight = False


def _arc(inc: Incident) -> Prediction | None:
    """The prediction ``inc``'s tracks are tested against (:func:`same_arc`): its reference, or
    while a provisional track drives it, the latest of a confirmed track."""
    return inc.arc if inc.arc is not None else inc.ref


def _holding(inc: Incident, track_id: str) -> bool:
    """``track_id`` is ``inc``'s boost track after burnout, its own arc not yet taken
    (``Incident.handover``): like a provisional track, it may raise the warning, never narrow it."""
    return inc.handover is not None and inc.handover.last.track_id == track_id


def _widens(inc: Incident, a: Assessment) -> bool:
    """``a`` qualifies and names every area of ``inc``'s last message: what a provisional track's
    prediction must do to drive the incident (raise or widen the warning, never narrow it)."""
    return a.qualifies and (inc.sent_a is None or set(a.area_codes) >= set(inc.sent_a.area_codes))


#: the latest epoch whose predictions (:data:`~accord.warning.types.MAX_SCAN_T_S` after it at most)
#: and their alerts (a year after those, with room to spare) are all datetimes
LATEST_EPOCH = datetime(9999, 1, 1, tzinfo=timezone.utc) - timedelta(seconds=MAX_SCAN_T_S + 366 * 86400.0)


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
        if epoch > LATEST_EPOCH:   # its alerts' times would not be datetimes: an OverflowError mid-run
            raise ConfigError(f"epoch {epoch.isoformat()} is too late: a prediction up to {MAX_SCAN_T_S:.3g} s after "
                              f"it and its alerts must fall before the year 10000 (latest epoch "
                              f"{LATEST_EPOCH:%Y-%m-%d})")
        self.rules = rules.validate(geography)
        self.geography = geography
        self.sender = sender
        self.status = status
        self.epoch = epoch
        self._incidents: list[Incident] = []          # open ones, in serial order
        self._by_track: dict[str, Incident] = {}
        self._suspects: dict[str, Suspect] = {}
        self._last: dict[str, Prediction] = {}          # each bound track's latest prediction
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
        return self.on_predictions([pred], now_t)

    def on_predictions(self, preds: Iterable[Prediction], now_t: float) -> list[CapMessage]:
        """Feed the predictions of one moment (every track's latest, own and partners'); return
        the messages they cause. Each incident is driven by the freshest, then tightest, of its
        tracks' predictions on its arc. Bad input raises before any state changes."""
        batch = sorted(((p, self._assessment(p)) for p in preds), key=lambda pa: (pa[0].track_id, pa[0].t))
        now_t = max(float(now_t), self._now_t)  # time never runs backwards inside the engine
        fed = {id(self._by_track[p.track_id]) for p, _ in batch if p.track_id in self._by_track}
        # Advance time first, but let this moment's predictions supersede held-back Updates.
        out = self._advance(now_t, skip=fed)
        drivers: dict[int, tuple[Incident, Prediction, Assessment]] = {}
        lost: list[tuple[Incident, Prediction, Assessment]] = []
        unbound: list[tuple[Prediction, Assessment]] = []
        for p, a in batch:
            inc = self._bind(p, now_t)
            if inc is None:
                unbound.append((p, a))
            elif p.status == "lost":
                inc.tracks[p.track_id] = True
                lost.append((inc, p, a))
            else:
                self._live(inc, p)
                if (p.track_id in inc.provisional or _holding(inc, p.track_id)) and not _widens(inc, a):
                    continue  # bound only through a boost arc: it may raise the warning, never clear it
                best = drivers.get(id(inc))
                if best is None or fresher(p, best[1]):
                    drivers[id(inc)] = (inc, p, a)
        for inc, p, a in sorted(drivers.values(), key=lambda d: d[0].serial):
            if inc.ref is None or not fresher(inc.ref, p):
                out += self._drive(inc, p, a, now_t)
        for inc, p, a in lost:
            if inc.open and inc.lost_t is None and all(inc.tracks.values()):
                out += self._lose(inc, p, now_t)
        for p, a in unbound:
            # an incident started a moment ago by another track of the same missile takes it
            inc = self._bind(p, now_t) if self._incidents else None
            if inc is None:
                out += self._start(p, a, now_t)
            elif p.status != "lost":
                self._live(inc, p)
        return out + self._merge(now_t, set(drivers))

    def _assessment(self, p: Prediction) -> Assessment:
        """``p``'s assessment, computed on first use (:class:`_Lazy`); for a prediction of a
        track bound to no incident, deferred (:class:`_Deferred`) when :meth:`_out_of_reach`
        proves it cannot qualify, as most predictions of a busy scene — missiles and false
        tracks far from the party — cannot."""
        if p.track_id not in self._by_track and self._out_of_reach(p):
            return cast(Assessment, _Deferred(self, p))
        impact_ellipse(p)   # bad input raises here, before any state changes
        return cast(Assessment, _Lazy(self, p))

    def _out_of_reach(self, p: Prediction) -> bool:
        """True only if ``p``'s assessment cannot qualify: nothing of the party's land,
        territorial sea or areas (:meth:`Geography.meets_party`) lies in a lon/lat box holding
        every point within :data:`FAR_PAD_M` + twice the rules' reach of the ground track, nor
        within that plus the semi-major axis (+5 %) of the impact point. An assessment names an area only when the ellipse (or, before burnout, the path)
        touches the territorial sea, or the ground track passes within ``margin_m`` of an area's
        land, measured in a local azimuthal-equidistant plane (which never shortens a distance;
        its straight edges depart from the lon/lat ones by far less than the pad). Raises the
        assessment's own :class:`InputError` for a prediction without a usable ellipse."""
        e = impact_ellipse(p)
        r = self.rules
        pad = FAR_PAD_M + 2.0 * (self.geography.territorial_m + r.margin_m + r.clear_hysteresis_m)
        if e.semi_major_m > 2_000_000.0:
            return False
        boxes = [lonlat_box([e.lat_deg], [e.lon_deg], 1.05 * e.semi_major_m + pad)]
        if p.ground_track:
            # the box of the track's extremes is the track's box (lonlat_box reads only the
            # least and greatest, and a NaN or infinity among them refuses it as among all)
            gt = np.array(p.ground_track, dtype=float)
            lo, hi = gt.min(axis=0), gt.max(axis=0)
            boxes.append(lonlat_box([float(lo[0]), float(hi[0])], [float(lo[1]), float(hi[1])], pad))
        if any(b is None for b in boxes):
            return False
        return not self.geography.meets_party(r.party, cast(list[tuple[float, float, float, float]], boxes))

    def _live(self, inc: Incident, p: Prediction) -> None:
        """``p``'s track is bound to ``inc`` and tracking."""
        inc.tracks[p.track_id] = False
        inc.seen[p.track_id] = max(p.t, inc.seen.get(p.track_id, -math.inf))
        self._last[p.track_id] = p

    def on_time(self, now_t: float) -> list[CapMessage]:
        """Advance the clock: send held-back Updates and end incidents whose threat has passed."""
        return self._advance(now_t)

    def open_incidents(self) -> list[str]:
        return [i.name for i in self._incidents if i.open]

    def suspect_tracks(self) -> dict[str, float]:
        """Tracks detached from an incident for a prediction off its arc (→ when), not yet
        cleared of suspicion."""
        return {k: s.since for k, s in sorted(self._suspects.items())}

    # --- identity -------------------------------------------------------------------------
    def _bind(self, p: Prediction, now_t: float) -> Incident | None:
        """The open incident ``p``'s track belongs to, binding or detaching it as its arc says."""
        tid = p.track_id
        inc = self._by_track.get(tid)
        if inc is not None:
            arc = _arc(inc)
            if p.status != "suspect" and self._hand_over(inc, p, now_t):
                return inc
            # before burnout a track has no arc yet: its own boost predictions stay with its incident
            if p.status != "suspect" and (arc is None or p.status == "boost"
                                          or any(same_arc(x, p) for x in self._arcs(inc))):
                if _holding(inc, tid):
                    inc.handover = None  # back on the boost arc, or in its boost again: no hand-over
                if p.status == "tracking" and arc is not None:
                    if tid in inc.provisional:
                        if arc.status == "tracking":
                            inc.provisional.discard(tid)  # on a confirmed track's ballistic arc: the missile
                    elif inc.arc is not None:
                        inc.arc = p   # a confirmed track's latest: the arc the provisional ones must keep
                return inc
            # Off the arc: an association or identity error. The incident holds its reference.
            if _holding(inc, tid):
                inc.handover = None
            del self._by_track[tid]
            inc.tracks.pop(tid, None)
            inc.provisional.discard(tid)
            inc.seen.pop(tid, None)
            self._last.pop(tid, None)
            inc.suspects[tid] = now_t
            self._suspects[tid] = Suspect(now_t, p)
        if p.status == "suspect":
            self._note_suspect(tid, p, now_t)
            return None
        if p.status == "boost":
            # no arc to test yet, and missiles of one salvo share a place in their boost: a boost
            # prediction never joins another track's incident (see _start)
            return None
        best, best_d2, doubled = None, math.inf, False
        for cand in self._incidents:
            arcs = [x for x in self._arcs(cand) if same_arc(x, p)] if cand.open else []
            if not arcs:
                continue
            why = self._elsewhere(cand, p, now_t)
            doubled = doubled or why == "tracker"
            if why is None:
                d2 = min(arc_distance(x, p) for x in arcs)
                if d2 < best_d2:
                    best, best_d2 = cand, d2
        if best is not None:
            self._by_track[tid] = best
            best.tracks[tid] = p.status == "lost"
            arc = _arc(best)
            if arc is not None and arc.status == "boost":
                # Another track's boost prediction is no identity: its wide region holds the arcs
                # of every missile of a salvo near it. Bound, but provisional (Incident.provisional)
                # — so too through a boost track's arc after burnout not yet taken (_hand_over).
                best.provisional.add(tid)
            self._suspects.pop(tid, None)
            return best
        if tid in self._suspects or doubled:
            # A second track of one tracker on an incident's arc, beside its live one: a
            # duplicate, or another object that carried this arc for a moment. It waits, as a
            # suspect, until its own arc has held (another missile on the same arc alerts then).
            self._note_suspect(tid, p, now_t)
        return None

    def _arcs(self, inc: Incident) -> list[Prediction]:
        """The predictions a track is bound to ``inc`` through (:func:`same_arc`): its arc
        (:func:`_arc`), and while that is a boost prediction, the latest boost prediction of each
        of its tracking tracks bound for good (not provisional: those may follow another missile) (the boost reference stays while later boost predictions may not
        narrow the warning; they place the missile better) and the arc its boost track has flown
        since burnout (``Incident.handover``). Binding through any of them, with a boost arc, is
        provisional (:meth:`_bind`)."""
        arc = _arc(inc)
        if arc is None:
            return []
        arcs = [arc]
        if arc.status == "boost":
            for k, lost in inc.tracks.items():
                last = self._last.get(k)
                if (not lost and k not in inc.provisional and last is not None and last.status == "boost"
                        and last is not arc):
                    arcs.append(last)
            if inc.handover is not None:
                arcs.append(inc.handover.last)
        return arcs

    def _hand_over(self, inc: Incident, p: Prediction, now_t: float) -> bool:
        """``p`` is a ballistic prediction of the track whose boost prediction is ``inc``'s arc,
        off that arc, or a loss of that track while its hand-over waits: bound to ``inc``
        (True). A boost prediction is a guess from the class prior, wide as it is; the track's
        own arc after burnout is better information about the same missile, not an identity
        error. Its predictions may raise, never narrow the warning (:func:`_holding`) until
        its arc has held ``suspect_hold_s`` (a one-off latch, or predictions that do not settle
        on one arc, change nothing); then the incident takes that arc, and its predictions drive
        the incident as any ballistic prediction on its arc does (narrowing, clearing, the end
        on its impact time). False otherwise (the arc rules of :meth:`_bind`)."""
        arc, tid = _arc(inc), p.track_id
        if arc is None or arc.status != "boost" or tid in inc.provisional:
            return False
        mine = _holding(inc, tid)
        if p.status == "lost":
            return mine
        if p.status != "tracking" or not (mine or arc.track_id == tid) or same_arc(arc, p):
            return False
        h = inc.handover
        if h is None or not mine:
            h = inc.handover = Suspect(now_t, p)
        elif not same_arc(h.last, p):
            h.since, h.last = now_t, p  # its arc is not steady yet
        else:
            h.last = p
        if now_t - h.since >= self.rules.suspect_hold_s and now_t > h.since:   # a second prediction, at least
            inc.handover = None
            inc.arc = p  # the incident's arc is the track's own now (its reference once it drives)
        return True

    def _here(self, inc: Incident, p: Prediction, now_t: float) -> bool:
        """A live track of ``inc`` has its missile where ``p``'s is now."""
        for k, lost in inc.tracks.items():
            if lost or now_t - inc.seen.get(k, -math.inf) > LIVE_S:
                continue
            last = self._last.get(k)
            if last is not None and same_place(last, p):
                return True
        return False

    def _elsewhere(self, inc: Incident, p: Prediction, now_t: float) -> str | None:
        """Why ``p``'s missile is not the one ``inc``'s live tracks follow, or None: ``"place"``
        when a live track of ``inc`` has its missile elsewhere now
        (:func:`accord.warning.identity.same_place`: two missiles on one arc, a salvo at one
        point seconds apart); ``"tracker"`` when the tracker that made ``p`` already has a live
        track on ``inc`` (one tracker keeps one track per object: it merges duplicates)."""
        net = network(p.track_id)
        why = None
        for k, lost in inc.tracks.items():
            # a provisional track may follow another missile: it excludes no one
            if lost or k in inc.provisional or now_t - inc.seen.get(k, -math.inf) > LIVE_S:
                continue
            last = self._last.get(k)
            if last is not None and not same_place(last, p):
                return "place"
            if network(k) == net:
                why = "tracker"
        return why

    def _note_suspect(self, tid: str, p: Prediction, now_t: float) -> None:
        s = self._suspects.get(tid)
        if s is None:
            self._suspects[tid] = Suspect(now_t, p)
            return
        if p.status == "suspect" or not same_arc(s.last, p):
            s.since = now_t  # its new arc is not steady yet
        s.last = p

    def _start(self, p: Prediction, a: Assessment, now_t: float) -> list[CapMessage]:
        """A prediction of no open incident: a new incident if it threatens, still ahead."""
        s = self._suspects.get(p.track_id)
        if s is not None:
            if now_t - s.since < self.rules.suspect_hold_s:
                return []
            del self._suspects[p.track_id]
        if not a.qualifies or now_t >= p.impact_t:
            return []
        if p.status == "boost" and any(c.open and self._here(c, p, now_t) for c in self._incidents):
            # A live track of an open incident has a missile where this one is (the same missile
            # seen by another tracker, or a salvo from one pad): no second incident from a boost
            # prediction; its ballistic predictions join by their arc, or start their own.
            return []
        self._serial += 1
        inc = Incident(p.track_id, self._serial)
        lost = p.status == "lost"
        self._live(inc, p)
        if lost:
            inc.tracks[p.track_id] = True
            inc.lost_t = now_t
        inc.ref, inc.ref_a = p, a
        self._incidents.append(inc)
        self._by_track[p.track_id] = inc
        return [self._emit(inc, "Alert", "lost" if lost else "alert", p, a, now_t)]

    # --- decisions ------------------------------------------------------------------------
    def _drive(self, inc: Incident, p: Prediction, a: Assessment, now_t: float) -> list[CapMessage]:
        """A tracked prediction on the incident's arc, the freshest it has: the new reference."""
        if p.status == "boost" and not a.qualifies and inc.ref_a is not None and inc.ref_a.qualifies:
            return []  # a boost-phase prediction may raise or widen a warning, never narrow or clear it
        provisional = p.track_id in inc.provisional or _holding(inc, p.track_id)
        if provisional and inc.arc is None:
            inc.arc = inc.ref  # the identity reference stays the confirmed tracks' latest
        q = keep_tighter_impact(inc.ref, p)
        if q is not p:
            p, a = q, self.assess(q)
        inc.ref, inc.ref_a = p, a
        if not provisional:
            inc.arc = None  # the reference is the confirmed tracks' latest again
        regained = inc.lost_t is not None
        inc.lost_t = None
        if inc.fallen:
            return []  # after the predicted impact only the Cancel follows
        if not a.overflight and not provisional and flown_past(inc, p):
            inc.tracked_overflight_done = True
        if inc.tracked_overflight_done and not self._keep_open(a):
            return [self._cancel(inc, "clear-passed", now_t)]
        if a.qualifies:
            inc.clear_since = None
            change, urgent = material_change(self.rules, inc, p, a)
            if change and (urgent or now_t - inc.last_sent_t >= self.rules.min_update_interval_s):
                return [self._emit(inc, "Update", "reacquired" if regained else "update", p, a, now_t)]
            inc.pending = inc.pending or change
            return []
        if self._keep_open(a) or p.status == "boost":
            # within the clearing hysteresis of the territory: the warning stands as it was sent
            # (a boost-phase prediction may raise or widen a warning, never clear it)
            inc.clear_since = None
            inc.pending = False
            return []
        # The whole 95 % region is outside: an all-clear once that has held long enough (a
        # held-back Update of the threat it no longer shows is not sent).
        inc.pending = False
        if inc.clear_since is None:
            inc.clear_since = now_t
        if now_t - inc.clear_since >= self.rules.clear_hold_s:
            return [self._cancel(inc, "clear-moved", now_t)]
        return []

    def _lose(self, inc: Incident, p: Prediction, now_t: float) -> list[CapMessage]:
        """Every track of the incident is lost."""
        inc.lost_t = now_t
        ref = inc.ref or p
        if now_t >= ref.impact_t or inc.fallen:
            return []  # lost at (or after) the predicted impact: that is the end of its flight
        a = inc.ref_a or self.assess(p)
        # Keep the areas already warned: a lost track's last guess must not silently shrink them.
        return [self._emit(inc, "Update", "lost", replace(ref, status="lost"), a, now_t)]

    def _merge(self, now_t: float, driven: set[int]) -> list[CapMessage]:
        """Two open incidents that follow one missile (:func:`same_missile`), one of them driven
        a moment ago (``driven``: their ``id``; an incident's arc moves only when it is driven):
        the older (its Alert went out first) takes the other in — once that one's Alert is more
        than ``clear_hold_s`` old by their CAP ``sent`` times, so no Alert is cancelled sooner."""
        out: list[CapMessage] = []
        if len(self._incidents) < 2 or not any(id(i) in driven and merge_arc(i) is not None
                                               for i in self._incidents):
            return out
        cands = [i for i in self._incidents if merge_arc(i) is not None]
        now_sent = self._when(now_t).replace(microsecond=0)
        for dup in cands[1:]:
            sent = alert_sent(dup)
            if sent is None or (now_sent - sent).total_seconds() < self.rules.clear_hold_s + 1.0:
                continue
            into = next((i for i in cands if i.serial < dup.serial and i.open and (id(i) in driven or id(dup) in driven)
                         and same_missile(i, dup, self._last, now_t, LIVE_S)), None)
            if into is not None:
                out += self._merge_into(into, dup, now_t)
        return out

    def _merge_into(self, into: Incident, dup: Incident, now_t: float) -> list[CapMessage]:
        """``dup``'s tracks are bound to ``into``; when ``dup`` warns an area ``into``'s last
        message does not, an Update of ``into`` (reason ``merged``) carries every area ``dup``
        warns and every one ``into`` carried already; then ``dup`` is closed by a
        Cancel (reason ``merged``) that names no area and points to ``into``: no all-clear."""
        warned = warned_areas(into)
        fresh = [c for c in warned_areas(dup) if c not in warned]
        # the Update names, beside its own assessment's, every area it carried already (a duplicate
        # merged before) and every one ``dup`` warns (the survivor's assessment may name fewer than
        # its last message did): each merged at this moment, in any order, stays warned
        carry = {**into.carried, **warned_areas(dup)}
        over = frozenset(h.area.code for h in dup.sent_a.overflight_hits) if dup.sent_a is not None else frozenset()
        absorb(into, dup, self._by_track)
        out = []
        if fresh:
            assert into.ref is not None and into.ref_a is not None   # both warn (same_missile)
            out.append(self._emit(into, "Update", "merged", into.ref, into.ref_a, now_t, carry, over))
        else:   # its last message names them all already: carried too, so a later merge's Update names them
            into.carried = carry
        out.append(self._close_merged(dup, into, now_t))
        return out

    def _close_merged(self, dup: Incident, into: Incident, now_t: float) -> CapMessage:
        pred, a = dup.ref, dup.ref_a
        assert pred is not None and a is not None
        into_id = self._incident_id(into)
        areas = [x for _, x in sorted(warned_areas(into).items())]
        texts = {lang: wording.merged_text(lang=lang, incident=into_id, areas=areas) for lang in ("en", "ja", "ko")}
        params = cap_params(dup, pred, a, "merged", self._when)
        params = tuple(kv for kv in params if kv[0] != "affectedAreas") + (("affectedAreas", "none"),
                                                                            ("mergedInto", into_id))
        sent = self._when(now_t)
        info = InfoParams("Monitor", "Immediate", "Extreme", "Likely", sent,
                          self._when(pred.impact_t + self.rules.expires_after_impact_s), params)
        msg = self._finish(dup, "Cancel", "merged", now_t, texts, info, (), (), pred)
        dup.open = False
        self._incidents.remove(dup)
        return msg

    def _advance(self, now_t: float, skip: set[int] | None = None) -> list[CapMessage]:
        if now_t < self._now_t:
            now_t = self._now_t  # time never runs backwards inside the engine
        self._now_t = now_t
        out: list[CapMessage] = []
        for inc in list(self._incidents):
            if not inc.open or inc.ref is None:
                continue
            end = inc.ref.impact_t
            if inc.arc is not None:  # a provisional track drives: its missile may not be the one
                end = max(end, inc.arc.impact_t)
            if inc.handover is not None:  # the boost track's own arc, not yet taken
                end = max(end, inc.handover.last.impact_t)
            if now_t >= end and not inc.fallen and self._held_to_impact(inc):
                out.append(self._fallen(inc, now_t))
            if now_t >= end + self.rules.clear_after_impact_s:
                out.append(self._cancel(inc, self._end_reason(inc), now_t))
            elif inc.pending and not inc.fallen and id(inc) not in (skip or ()) \
                    and now_t - inc.last_sent_t >= self.rules.min_update_interval_s:
                assert inc.ref_a is not None and inc.ref_a.qualifies  # pending only on a threat
                out.append(self._emit(inc, "Update", "update", inc.ref, inc.ref_a, now_t))
        return out

    def _held_to_impact(self, inc: Incident) -> bool:
        """The impact threat was tracked to within ``confirm_window_s`` of the impact time."""
        p, a = inc.ref, inc.ref_a
        return (p is not None and a is not None and a.impact_threat and p.status != "lost"
                and p.impact_t - p.t <= self.rules.confirm_window_s)

    def _keep_open(self, a: Assessment) -> bool:
        """Still a threat, or within the hysteresis of one: the ellipse within
        ``clear_hysteresis_m`` of the territory, or the ground track within ``margin_m +
        clear_hysteresis_m`` of an area's land."""
        return (a.qualifies or a.distance_to_territory_m <= self.rules.clear_hysteresis_m
                or a.track_distance_m <= self.rules.margin_m + self.rules.clear_hysteresis_m)

    def _end_reason(self, inc: Incident) -> str:
        if inc.fallen:
            return "clear-impact"
        if inc.tracked_overflight_done:
            return "clear-passed"
        return "clear-unconfirmed"

    # --- message construction -------------------------------------------------------------
    def _when(self, t: float) -> datetime:
        return self.epoch + timedelta(seconds=float(t))

    def _next_id(self, inc: Incident) -> str:
        self._seq += 1
        ex = "EX." if self.status == "Exercise" else ""
        return f"accord.{self.rules.party}.{ex}{safe_token(inc.name)}.{len(inc.refs) + 1}.{self._seq}"

    def _incident_id(self, inc: Incident) -> str:
        return f"{self.rules.party}-{safe_token(inc.name)}-{inc.serial}"

    def _emit(self, inc: Incident, msg_type: str, reason: str, pred: Prediction, a: Assessment,
              now_t: float, carry: dict[str, AdminArea] | None = None, carry_over: frozenset = frozenset()
              ) -> CapMessage:
        lost = pred.status == "lost"
        # Areas: the new assessment's, plus (for a lost track) every area already warned, plus
        # those carried from a merged duplicate (its overflight areas: ``carry_over``).
        areas = {x.code: x for x in a.areas()}
        if lost:
            areas = {**inc.alerted_areas, **areas}
        impact_areas = [h.area for h in a.impact_hits]
        over_areas = [h.area for h in a.overflight_hits]
        if lost and not impact_areas and not over_areas:
            impact_areas = list(inc.alerted_areas.values())
        carry = {c: x for c, x in (carry or {}).items() if c not in areas}
        over_areas += [x for c, x in sorted(carry.items()) if c in carry_over]
        impact_areas += [x for c, x in sorted(carry.items()) if c not in carry_over]
        areas.update(carry)
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
                            cap_params(inc, pred, a, reason, self._when))
        msg = self._finish(inc, msg_type, reason, now_t, texts, params,
                           area_blocks(a, area_list, cancel=False), tuple(sorted(areas)), pred)
        inc.open = True
        inc.pending = False
        inc.sent_pred, inc.sent_a, inc.last_sent_t = pred, a, now_t
        inc.alerted_areas.update(areas)
        inc.carried = carry
        return msg

    def _fallen(self, inc: Incident, now_t: float) -> CapMessage:
        """The Update at the predicted impact time: believed to have fallen in the area."""
        pred, a = inc.ref, inc.ref_a
        assert pred is not None and a is not None
        impact_areas = [h.area for h in a.impact_hits]
        texts = {lang: wording.fallen_text(lang=lang, impact_areas=impact_areas, on_land=a.impact_on_land,
                                           impact_at=self._when(pred.impact_t))
                 for lang in ("en", "ja", "ko")}
        # the areas of the last prediction (where it fell, and any it flew over on the way);
        # the Cancel that follows names every area ever warned
        areas = sorted(a.areas(), key=lambda x: x.code)
        params = InfoParams("Shelter", "Immediate", "Extreme", "Likely", self._when(now_t),
                            self._when(pred.impact_t + self.rules.expires_after_impact_s),
                            cap_params(inc, pred, a, "impact", self._when))
        msg = self._finish(inc, "Update", "impact", now_t, texts, params,
                           area_blocks(a, areas, cancel=True), tuple(x.code for x in areas), pred)
        inc.fallen = True
        inc.pending = False
        inc.last_sent_t = now_t
        inc.carried = {}
        return msg

    def _cancel(self, inc: Incident, reason: str, now_t: float) -> CapMessage:
        pred, a = inc.ref, inc.ref_a
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
                            sent + timedelta(hours=1), cap_params(inc, pred, a, reason, self._when))
        msg = self._finish(inc, "Cancel", reason, now_t, texts, params,
                           area_blocks(a, areas, cancel=True), tuple(sorted(inc.alerted_areas)), pred)
        inc.open = False
        self._incidents.remove(inc)
        for tid in inc.tracks:
            if self._by_track.get(tid) is inc:
                del self._by_track[tid]
                self._last.pop(tid, None)
        return msg

    def _finish(self, inc: Incident, msg_type: str, reason: str, now_t: float, texts: dict,
                params: InfoParams, blocks: tuple[AreaBlock, ...], codes: tuple[str, ...],
                basis: Prediction) -> CapMessage:
        identifier = self._next_id(inc)
        sent = self._when(now_t)
        refs = tuple(inc.refs) if msg_type != "Alert" else ()
        xml = build_xml(identifier=identifier, sender=self.sender, sent=sent, status=self.status,
                        msg_type=msg_type, references=refs, incident=self._incident_id(inc),
                        party=self.rules.party, texts=texts, params=params, areas=blocks)
        msg = CapMessage(identifier, self.sender, sent, self.status, msg_type, refs,
                         self._incident_id(inc), float(now_t), inc.name, reason, codes, xml,
                         party=self.rules.party, texts=texts, sources=tuple(sorted(inc.tracks)),
                         basis=basis)
        inc.refs.append(msg.ref)
        return msg

    # --- durable state --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The engine's state as JSON-able data: what :meth:`restore` needs to carry the open
        incidents (their messages' references, warned areas, reference predictions, timers) and
        the identifier counters across a restart."""
        return {"format": SNAPSHOT_FORMAT, "party": self.rules.party, "serial": self._serial,
                "seq": self._seq, "now_t": finite_or_none(self._now_t),
                "incidents": [incident_json(i) for i in self._incidents if i.open],
                "suspects": {k: {"since": s.since, "last": s.last.to_json()}
                             for k, s in sorted(self._suspects.items())},
                # each bound track's latest prediction: where its missile is now (_elsewhere)
                "last": {k: p.to_json() for k, p in sorted(self._last.items())}}

    @classmethod
    def restore(cls, snapshot: dict[str, Any], rules: AlertRules, geography: Geography, sender: str,
                status: str, *, epoch: datetime = DEFAULT_EPOCH) -> "AlertEngine":
        """An engine that carries on from :meth:`snapshot`: its open incidents end when their
        threat does, and their later messages reference the earlier ones."""
        if not isinstance(snapshot, dict) or snapshot.get("format") != SNAPSHOT_FORMAT:
            raise InputError(f"not an alert engine snapshot (format {SNAPSHOT_FORMAT})", field="format")
        eng = cls(rules, geography, sender, status, epoch=epoch)
        if snapshot.get("party") != eng.rules.party:
            raise ConfigError(f"alert engine state is {snapshot.get('party')}'s, not {eng.rules.party}'s")
        areas = {a.code: a for a in geography.party(eng.rules.party).areas}
        try:
            eng._serial, eng._seq = int(snapshot["serial"]), int(snapshot["seq"])
            now = snapshot.get("now_t")
            eng._now_t = float(now) if now is not None else -math.inf
            for d in snapshot["incidents"]:
                inc = incident_from_json(d, areas, eng.assess)
                alert_sent(inc)   # a damaged reference fails here, not at a merge later on
                eng._incidents.append(inc)
                for tid in inc.tracks:
                    eng._by_track[tid] = inc
            for k, s in snapshot["suspects"].items():
                eng._suspects[str(k)] = Suspect(float(s["since"]), Prediction.from_json(s["last"]))
            for k, p in (snapshot.get("last") or {}).items():  # absent from snapshots before it was kept
                if str(k) in eng._by_track:
                    eng._last[str(k)] = Prediction.from_json(p)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"alert engine snapshot is damaged: {exc!r}", field="incidents") from None
        eng._incidents.sort(key=lambda i: i.serial)
        return eng
