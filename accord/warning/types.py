"""Value types shared by the tracker, the predictor, the alert engine and the exercise runner.

They mirror the JSON Lines formats of ``docs/formats/warning-files.md`` (tracks.jsonl,
predictions.jsonl) and carry what those formats leave implicit (covariances, ground tracks),
so the alert engine can draw the ellipse and the overflown path without recomputing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

#: The longest step between two consecutive scan (detection) times a tracker takes: it reports
#: every whole second in between, so a time far past the last one (a typo, a corrupt or hostile
#: feed: t = 1e9) kept it busy for days, or for ever. A day is far beyond any coverage gap.
MAX_SCAN_GAP_S = 86_400.0
#: The latest scan time accepted, in seconds from the scenario's or the feed's epoch (about a
#: century: the epoch plus it is still a date, and whole seconds are exact).
MAX_SCAN_T_S = 3.2e9


@dataclass(frozen=True)
class Ellipse95:
    """95 % confidence ellipse on the ground, centred on a lat/lon point."""

    semi_major_m: float
    semi_minor_m: float
    bearing_deg: float  # direction of the major axis, clockwise from north


@dataclass(frozen=True)
class TrackState:
    """A confirmed track at time ``t`` (seconds from scenario start): ECEF state and 6×6 covariance."""

    t: float
    track_id: str
    x: float
    y: float
    z: float
    vx: float
    vy: float
    vz: float
    cov: tuple[float, ...] | None = None  # 36 numbers, row-major over x y z vx vy vz

    def to_json(self) -> dict:
        d = {"t": self.t, "track_id": self.track_id, "x": self.x, "y": self.y, "z": self.z,
             "vx": self.vx, "vy": self.vy, "vz": self.vz}
        if self.cov is not None:
            d["cov"] = list(self.cov)
        return d


@dataclass(frozen=True)
class Prediction:
    """Launch and impact prediction for one confirmed ballistic track, computed at ``t``.

    ``impact_cov_en_m2`` is the 2×2 impact-point covariance in the local East-North plane at the
    predicted impact point (row-major 4 numbers), from which ``impact_ellipse_95`` is derived.
    ``ground_track`` is the predicted sub-missile path from now to impact as (lat°, lon°) pairs,
    for overflight rules. ``status`` is ``"tracking"`` while the track is alive and
    ``"lost"`` once the tracker has dropped it (the alert engine must never turn a lost track
    into "passed over" or a firm impact); ``"suspect"`` marks a prediction off its track's own
    ballistic arc (:mod:`accord.warning.identity`). ``impact_t_sigma_s`` is the 1-σ uncertainty
    of ``impact_t``. ``"boost"`` marks a prediction made before burnout from a missile-class prior
    (:mod:`accord.warning.boost`): its ellipse is the wide impact distribution and
    ``reach_prob[i]`` the probability that the flight reaches ``ground_track[i]``, and
    ``track_sigma_m[i]`` that point's 1-σ across the path.
    """

    t: float
    track_id: str
    launch_t: float
    launch_lat_deg: float
    launch_lon_deg: float
    launch_sigma_m: float
    impact_t: float
    impact_lat_deg: float
    impact_lon_deg: float
    impact_ellipse_95: Ellipse95
    impact_cov_en_m2: tuple[float, float, float, float] | None = None
    ground_track: tuple[tuple[float, float], ...] = field(default=())
    status: str = "tracking"
    impact_t_sigma_s: float | None = None  # 1-σ of impact_t (unscented transform), when known
    reach_prob: tuple[float, ...] = field(default=())  # status "boost": P(flight reaches each ground_track point)
    track_sigma_m: tuple[float, ...] = field(default=())  # status "boost": 1-σ across the path at each point

    def to_json(self) -> dict:
        """The predictions.jsonl line (extra fields are additive and optional)."""
        d = {"t": self.t, "track_id": self.track_id, "launch_t": self.launch_t,
             "launch_lat_deg": self.launch_lat_deg, "launch_lon_deg": self.launch_lon_deg,
             "launch_sigma_m": self.launch_sigma_m, "impact_t": self.impact_t,
             "impact_lat_deg": self.impact_lat_deg, "impact_lon_deg": self.impact_lon_deg,
             "impact_ellipse_95": {"semi_major_m": self.impact_ellipse_95.semi_major_m,
                                   "semi_minor_m": self.impact_ellipse_95.semi_minor_m,
                                   "bearing_deg": self.impact_ellipse_95.bearing_deg}}
        if self.impact_cov_en_m2 is not None:
            d["impact_cov_en_m2"] = list(self.impact_cov_en_m2)
        if self.ground_track:
            d["ground_track"] = [list(p) for p in self.ground_track]
        if self.status != "tracking":
            d["status"] = self.status
        if self.impact_t_sigma_s is not None:
            d["impact_t_sigma_s"] = self.impact_t_sigma_s
        if self.reach_prob:
            d["reach_prob"] = list(self.reach_prob)
        if self.track_sigma_m:
            d["track_sigma_m"] = list(self.track_sigma_m)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Prediction":
        track_id = str(d["track_id"])
        if not track_id.isprintable():   # it is written into CAP XML and printed: no control characters
            raise ValueError(f"track_id {track_id[:40]!r} holds a control character")
        e = d["impact_ellipse_95"]
        cov = d.get("impact_cov_en_m2")
        return cls(t=float(d["t"]), track_id=track_id, launch_t=float(d["launch_t"]),
                   launch_lat_deg=float(d["launch_lat_deg"]), launch_lon_deg=float(d["launch_lon_deg"]),
                   launch_sigma_m=float(d["launch_sigma_m"]), impact_t=float(d["impact_t"]),
                   impact_lat_deg=float(d["impact_lat_deg"]), impact_lon_deg=float(d["impact_lon_deg"]),
                   impact_ellipse_95=Ellipse95(float(e["semi_major_m"]), float(e["semi_minor_m"]),
                                               float(e["bearing_deg"])),
                   impact_cov_en_m2=(cast("tuple[float, float, float, float]", tuple(float(c) for c in cov))
                                     if cov is not None else None),  # 4 numbers as written by to_json
                   ground_track=tuple((float(a), float(b)) for a, b in d.get("ground_track", ())),
                   status=str(d.get("status", "tracking")),
                   impact_t_sigma_s=(float(d["impact_t_sigma_s"]) if d.get("impact_t_sigma_s") is not None
                                     else None),
                   reach_prob=tuple(float(q) for q in d.get("reach_prob", ())),
                   track_sigma_m=tuple(float(q) for q in d.get("track_sigma_m", ())))
