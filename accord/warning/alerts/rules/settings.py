"""One party's alert rules: :class:`AlertRules`, the ``alerts:`` section of its node configuration.

Part of :mod:`accord.warning.alerts.rules` (which every caller imports it from): the settings
that the assessment (:func:`accord.warning.alerts.rules.assess`) and the alert engine read.
Japan's practice, which the defaults follow: warn when a missile **may land in the territory or
the territorial sea** (12 nmi), or **may pass over the territory**; a landing in the exclusive
economic zone alone does not trigger a public alert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

from accord.core.input_files import closest
from accord.core.safe_yaml import load_yaml
from accord.errors import ConfigError, InputError
from accord.warning.alerts.geography import Geography


@dataclass(frozen=True)
class AlertRules:
    """One party's alert rules (the ``alerts:`` section of its node configuration).

    ``areas`` limits the areas of responsibility to those admin-area codes (empty: all of the
    party's areas). ``margin_m`` is the stated margin: an area is named when the ellipse or the
    ground track comes within this distance of it (or of its territorial sea).
    """

    party: str
    areas: tuple[str, ...] = ()
    margin_m: float = 5_000.0
    alert_on_overflight: bool = True
    clear_hysteresis_m: float = 5_000.0       # an open alert clears only when this far outside
    clear_hold_s: float = 30.0                # ... for this long, on predictions of the same arc
    min_update_interval_s: float = 20.0       # rate limit for Updates that add no new area
    material_shift_m: float = 10_000.0        # impact point moved this far: Update
    material_axis_ratio: float = 0.5          # semi-major axis changed by this fraction: Update
    material_time_s: float = 30.0             # impact time changed by this much: Update
    clear_after_impact_s: float = 30.0        # Cancel this long after the predicted impact time
    confirm_window_s: float = 90.0            # tracked to within this of impact: "assessed to have fallen"
    expires_after_impact_s: float = 900.0     # CAP <expires> = impact time + this
    suspect_hold_s: float = 10.0              # a track that jumped off its arc alerts anew only
                                              # after its new arc has held this long
    boost_alert_probability: float = 0.9      # a boost-phase prediction names an area only when
                                              # the flight reaches it with at least this probability
    area_probability: float = 0.2             # an impact names an area when it falls in its sea
                                              # with at least this chance (:func:`.chances.name_by_chance`) ...
    area_probability_early: float = 2 / 3     # ... or, while more than ``area_lead_s`` is left
                                              # before the predicted impact, this chance (and
                                              # nothing below it)
    area_lead_s: float = 240.0                # the warning time kept for an area's people
                                              # (:func:`.chances.name_areas`)
    overflight_probability_early: float = 0.9  # an overflight more than ``area_lead_s`` ahead
                                              # names an area only when the true track comes
                                              # within ``margin_m`` of its land with this chance
                                              # (:func:`.overflight.overflight_is_early`)

    @classmethod
    def from_config(cls, data: dict, *, party: str | None = None, source: str = "<config>") -> "AlertRules":
        """Build from a mapping (a YAML section); unknown keys and bad values raise ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: 'alerts' must be a mapping, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            def hint(key: str) -> str:
                near = closest(key, known)
                return f"{key} (did you mean {near}?)" if near else str(key)
            raise ConfigError(f"{source}: unknown alert rule key(s) {', '.join(hint(k) for k in unknown)}")
        kw: dict = {}
        for k, v in data.items():
            if k == "areas":
                if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
                    raise ConfigError(f"{source}: field 'areas' must be a list of area codes")
                kw[k] = tuple(v)
            elif k == "party":
                if not isinstance(v, str):
                    raise ConfigError(f"{source}: field 'party' must be a party code such as JPN")
                kw[k] = v.upper()
            elif k == "alert_on_overflight":
                if not isinstance(v, bool):
                    raise ConfigError(f"{source}: field {k!r} must be true or false")
                kw[k] = v
            else:
                if isinstance(v, bool) or not isinstance(v, (int, float)):   # float(True) is 1.0
                    raise ConfigError(f"{source}: field {k!r} must be a number, got {repr(v)[:40]}")
                try:
                    kw[k] = float(v)
                except OverflowError:   # an integer beyond a double
                    kw[k] = math.inf
                if not math.isfinite(kw[k]) or kw[k] < 0:
                    raise ConfigError(f"{source}: field {k!r} must be a finite number ≥ 0, got {repr(v)[:40]}")
        if party is not None:
            if "party" in kw and kw["party"] != party.upper():
                raise ConfigError(f"{source}: alerts.party {kw['party']} differs from the node's party {party}")
            kw["party"] = party.upper()
        if "party" not in kw:
            raise ConfigError(f"{source}: alert rules need a 'party'")
        return cls(**kw)

    @classmethod
    def from_yaml(cls, path: str | Path, *, party: str | None = None) -> "AlertRules":
        """Read the ``alerts:`` section of a node's YAML configuration (``party`` from the node)."""
        try:
            doc = load_yaml(Path(path).read_text(encoding="utf-8"), source=str(path)) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        section = doc.get("alerts") or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: 'alerts' must be a mapping, got {type(section).__name__}")
        node_party = doc.get("party")
        if party is None and node_party is not None and not isinstance(node_party, str):
            raise ConfigError(f"{path}: field 'party' must be a party code such as JPN")
        return cls.from_config(dict(section), party=party or node_party, source=str(path))

    def validate(self, geography: Geography) -> "AlertRules":
        """Check the party and area codes against the geography (ConfigError names the culprit)."""
        pg = geography.party(self.party)
        codes = {a.code for a in pg.areas}
        bad = [c for c in self.areas if c not in codes]
        if bad:
            raise ConfigError(f"party {self.party}: unknown area code(s) {', '.join(bad)} "
                              f"(e.g. {', '.join(sorted(codes)[:3])})")
        return self

