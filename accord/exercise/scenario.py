"""Exercise scenario files: a YAML document, validated against a pydantic model.

The JSON Schema of the format is generated from the model (:func:`json_schema`) and committed as
``docs/exercise-scenario.schema.json``; a test keeps the two in step. Validation errors name the
file, the YAML line and the dotted field path (:mod:`accord.core.input_files`), e.g.
``trilateral.yaml: line 42: field 'radars[1].pd': Input should be less than or equal to 1``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from accord.core.parties import party_problem
from accord.core.input_files import load_model, read_text_file



def _known_party(code: str) -> str:
    problem = party_problem(code)
    if problem is not None:
        raise ValueError(problem)
    return code


PartyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3 code"),
                      AfterValidator(_known_party)]
LONGEST_S = 6 * 3600
"""The longest exercise (``duration_s``), in simulated seconds; launches happen within it."""
Lat = Annotated[float, Field(ge=-90.0, le=90.0)]
Lon = Annotated[float, Field(ge=-180.0, le=180.0)]

#: the epochs a scenario may have (UTC): a day before for agreements, and after it a century of
#: predictions and alerts (accord.warning.alerts.engine.LATEST_EPOCH) or of agreement, within a datetime
EPOCH_RANGE = (datetime(2, 1, 1, tzinfo=UTC), datetime(9896, 1, 1, tzinfo=UTC))
CLASSIFICATIONS = ("UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET", "TOP_SECRET")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Model):
    code: PartyCode
    name: str | None = Field(None, description="Display name of the party")
    alerts: bool = Field(True, description="Run a civil-defence alert engine for this party")


class AgreementRule(_Model):
    kinds: list[str] = Field(min_length=1, description="Item kind patterns, e.g. 'warning.*'")
    max_classification: Literal["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET", "TOP_SECRET"] = "SECRET"


class ScenarioAgreement(_Model):
    id: str = Field(min_length=1)
    parties: list[PartyCode] = Field(min_length=2)
    rules: list[AgreementRule] = Field(min_length=1)
    valid_days: float = Field(365.0, gt=0, le=36525, description="Validity window from the exercise epoch")


class Radar(_Model):
    id: str = Field(min_length=1)
    owner: PartyCode
    lat_deg: Lat
    lon_deg: Lon
    alt_m: float = Field(0.0, ge=-500, le=10_000)
    # upper bounds as the detections header's (accord.warning.io.header): the simulator cubes
    # ranges and counts scans, so 1e103 m or a period of 1e-300 s was an OverflowError or
    # numpy's "Maximum allowed size exceeded" at run time; 100 scans a second at most
    sigma_range_m: float = Field(gt=0, le=100_000)
    sigma_az_rad: float = Field(gt=0, lt=0.1)
    sigma_el_rad: float = Field(gt=0, lt=0.1)
    scan_period_s: float = Field(1.0, ge=0.01, le=60)
    scan_offset_s: float = Field(0.0, ge=0, le=3600)
    pd: float = Field(0.9, gt=0, le=1)
    clutter_per_scan: float = Field(5.0, ge=0, le=1000)
    min_range_m: float = Field(50_000.0, ge=0, le=1e8)
    max_range_m: float = Field(2_000_000.0, gt=0, le=1e8)
    min_el_deg: float = Field(2.0, ge=-5, le=90)
    max_el_deg: float = Field(85.0, ge=-5, le=90)
    az_center_deg: float = Field(0.0, ge=0, lt=360)
    az_half_width_deg: float = Field(180.0, gt=0, le=180)

    @model_validator(mode="after")
    def _ranges(self) -> "Radar":
        if self.max_range_m <= self.min_range_m:
            raise ValueError("max_range_m must exceed min_range_m")
        if self.max_el_deg <= self.min_el_deg:
            raise ValueError("max_el_deg must exceed min_el_deg")
        return self


class GeoPoint(_Model):
    lat_deg: Lat
    lon_deg: Lon


class ExplicitLaunch(_Model):
    id: str = Field(min_length=1)
    # at most the longest exercise: a launch at 1e20 s ended the simulator's trajectory solver
    # in a ValueError ("The function value at x=1e+20 is NaN")
    t: float = Field(ge=0, le=LONGEST_S, description="Launch time, seconds from the exercise start")
    launch: GeoPoint
    aim: GeoPoint
    profile: Literal["minimum-energy", "lofted", "depressed"] = "minimum-energy"


class GeneratedLaunches(_Model):
    count: int = Field(ge=1, le=100)
    seed: int = Field(0, ge=0, description="Random seed of the draw (0 or more)")
    lat_deg: tuple[Lat, Lat] = Field(description="Launch area latitude range")
    lon_deg: tuple[Lon, Lon] = Field(description="Launch area longitude range")
    aim_lat_deg: tuple[Lat, Lat]
    aim_lon_deg: tuple[Lon, Lon]
    ranges_km: tuple[float, float] = (300.0, 1200.0)
    lofted_fraction: float = Field(0.0, ge=0, le=1)
    window_s: tuple[float, float] = (0.0, 300.0)

    @field_validator("lat_deg", "lon_deg", "aim_lat_deg", "aim_lon_deg", "ranges_km", "window_s")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] > v[1]:
            raise ValueError(f"range [{v[0]}, {v[1]}] is reversed")
        return v

    @field_validator("window_s")
    @classmethod
    def _within_an_exercise(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] <= v[1] <= LONGEST_S:
            raise ValueError(f"window [{v[0]}, {v[1]}] must lie within [0, {LONGEST_S}] s")
        return v


class Launches(_Model):
    explicit: list[ExplicitLaunch] = Field(default_factory=list)
    generated: GeneratedLaunches | None = None


class Partition(_Model):
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> "Partition":
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


class LinkFault(_Model):
    between: tuple[PartyCode, PartyCode]
    delay_ms: float = Field(0.0, ge=0, le=60_000)
    jitter_ms: float = Field(0.0, ge=0, le=60_000)
    loss: float = Field(0.0, ge=0, lt=1)
    partitions: list[Partition] = Field(default_factory=list)


class Inject(_Model):
    t: float = Field(ge=0)
    type: Literal["forged_envelope", "policy_violation", "node_crash", "ledger_rewrite", "replay"]
    node: PartyCode | None = Field(None, description="Node acted on (crash, rewrite) or the sender")
    to: PartyCode | None = Field(None, description="Recipient for envelope injects")
    kind: str = "intel.stix"
    classification: Literal["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET", "TOP_SECRET"] = "SECRET"
    restart_after_s: float = Field(30.0, ge=0)

    @model_validator(mode="after")
    def _needs(self) -> "Inject":
        if self.node is None:
            raise ValueError(f"inject {self.type!r} needs 'node'")
        if self.type in ("forged_envelope", "policy_violation", "replay") and self.to is None:
            raise ValueError(f"inject {self.type!r} needs 'to'")
        return self


class Scenario(_Model):
    """An exercise: parties, agreements, radars, launches, link faults, injects."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(0, ge=0, description="Random seed (0 or more): same seed, same run")
    epoch: datetime = Field(datetime.fromisoformat("2026-11-25T00:00:00+00:00"),
                            description="Wall-clock time of t = 0 (RFC 3339)")
    duration_s: float = Field(gt=0, le=LONGEST_S)
    speed: Literal["fast", "realtime"] = "fast"
    status: Literal["Exercise", "Test"] = Field(
        "Exercise", description="CAP status of every alert: exercises never produce 'Actual'")
    share_period_s: float = Field(2.0, gt=0, le=60, description="How often nodes share track updates")
    parties: list[Party] = Field(min_length=1)
    agreements: list[ScenarioAgreement] = Field(default_factory=list)
    radars: list[Radar] = Field(min_length=1)
    launches: Launches
    links: list[LinkFault] = Field(default_factory=list)
    injects: list[Inject] = Field(default_factory=list)

    @field_validator("epoch")
    @classmethod
    def _epoch_in_utc(cls, v: datetime) -> datetime:
        """In UTC, and with room before it (a day: agreements start then) and after it (an
        agreement's 100 years, the alert engine's century of predictions): validated, a naive
        epoch or one near the year 9999 made the run fail (a naive clock; an OverflowError)."""
        if v.tzinfo is None:
            raise ValueError("epoch needs a time zone (2026-11-25T00:00:00Z)")
        try:
            utc = v.astimezone(UTC)
        except OverflowError:   # 0001-01-01T00:00:00+14:00: no UTC time
            utc = None
        if utc is None or not EPOCH_RANGE[0] <= utc < EPOCH_RANGE[1]:
            raise ValueError("epoch must fall in the years 0002 to 9895 (UTC): the exercise, its alerts "
                             "and its agreements' validity need room on both sides")
        return utc

    @model_validator(mode="after")
    def _references(self) -> "Scenario":
        codes = [p.code for p in self.parties]
        if len(set(codes)) != len(codes):
            raise ValueError("duplicate party code in 'parties'")
        known = set(codes)

        def check(code: str, where: str) -> None:
            if code not in known:
                raise ValueError(f"{where}: unknown party {code!r} (parties are {', '.join(codes)})")

        for i, a in enumerate(self.agreements):
            for p in a.parties:
                check(p, f"agreements[{i}]")
        ids = [r.id for r in self.radars]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate radar id in 'radars'")
        for i, r in enumerate(self.radars):
            check(r.owner, f"radars[{i}].owner")
        for i, link in enumerate(self.links):
            for p in link.between:
                check(p, f"links[{i}].between")
            if link.between[0] == link.between[1]:
                raise ValueError(f"links[{i}].between: a link joins two different parties")
        for i, inj in enumerate(self.injects):
            if inj.node:
                check(inj.node, f"injects[{i}].node")
            if inj.to:
                check(inj.to, f"injects[{i}].to")
            if inj.t > self.duration_s:
                raise ValueError(f"injects[{i}].t: {inj.t} is after the end of the exercise (duration_s = {self.duration_s})")
        if not self.launches.explicit and self.launches.generated is None:
            raise ValueError("launches: give 'explicit' launches, 'generated' ones, or both")
        lids = [launch.id for launch in self.launches.explicit]
        if len(set(lids)) != len(lids):
            raise ValueError("duplicate launch id in 'launches.explicit'")
        return self


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    """Parse and validate a scenario; raise :class:`InputError` naming the line and field
    (:func:`accord.core.input_files.load_model`)."""
    scenario, _ = load_model(Scenario, text, source=source, where_in_message=True,
                             not_a_mapping="a scenario is a YAML mapping (name:, parties:, radars: …)")
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file, or a built-in scenario by name (see :func:`builtin_names`)."""
    p = Path(path)
    if not p.exists() and str(path) in builtin_names():
        return parse_scenario(builtin_text(str(path)), source=f"builtin:{path}")
    text = read_text_file(p, what="scenario file",
                          missing=f"no such scenario file (built-in scenarios: {', '.join(builtin_names())})")
    return parse_scenario(text, source=str(path))


def builtin_names() -> list[str]:
    root = resources.files("accord.exercise") / "scenarios"
    return sorted(f.name.removesuffix(".yaml") for f in root.iterdir() if f.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    return (resources.files("accord.exercise") / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8")


def json_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://accord.invalid/schemas/exercise-scenario.schema.json"
    return schema
