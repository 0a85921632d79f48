"""The boundary: pydantic models for dialogue files (YAML) and API bodies (JSON).

They check shape and types; the frozen dataclasses of :mod:`accord.dialogue.model` then check
meaning (parties of the series, state machine). Every error becomes one
:class:`~accord.errors.InputError` naming the file, the line (for YAML) and the field path, e.g.
``japan-rok.yaml: line 42: field 'meetings[0].commitments[3].due': Field required``.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.dialogue.model import (Attendee, Commitment, Decision, Level, Link, Meeting, MeetingStatus,
                                   Series, Status)
from accord.core.safe_yaml import parse_yaml  # re-exported: the CLI reads dialogue files with it
from accord.errors import InputError


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SeriesIn(_In):
    id: str
    title: str
    parties: list[str]
    level: Level
    cadence_months: int = Field(ge=1, le=60)
    first_meeting: date
    host_rotation: list[str] | None = None  # default: the parties, in order
    venues: dict[str, str] = {}
    marking: str | None = None  # banner; default "UNCLASSIFIED//REL TO <parties>"

    def to_series(self) -> Series:
        return Series(self.id, self.title, tuple(self.parties), self.level, self.cadence_months,
                      self.first_meeting, tuple(self.host_rotation or self.parties),
                      tuple(sorted(self.venues.items()))).validate()


class AttendeeIn(_In):
    party: str
    role: str


class DecisionIn(_In):
    id: str | None = None
    text: str


class LinkIn(_In):
    kind: str
    ref: str


class CommitmentIn(_In):
    id: str | None = None
    owner: str
    text: str
    due: date
    status: Status = Status.PROPOSED
    evidence: list[str] = []
    links: list[LinkIn] = []

    def to_commitment(self, series: Series, meeting_id: str, default_id: str) -> Commitment:
        return Commitment(self.id or default_id, series.id, meeting_id, self.owner, self.text, self.due,
                          Status.PROPOSED, tuple(self.evidence),
                          tuple(Link(x.kind, x.ref) for x in self.links)).validate(series)


class MeetingIn(_In):
    number: int | None = Field(default=None, ge=1)
    id: str | None = None
    date: date
    start: datetime | None = None
    duration_minutes: int | None = None
    host: str | None = None
    place: str | None = None
    status: MeetingStatus = MeetingStatus.HELD
    attendees: list[AttendeeIn] = []
    agenda: list[str] = []
    minutes: str = ""
    decisions: list[DecisionIn] = []
    commitments: list[CommitmentIn] = []

    def to_meeting(self, series: Series, number: int, host: str, place: str) -> Meeting:
        mid = self.id or f"{series.id}-M{number}"
        return Meeting(mid, series.id, number, self.status, self.date, self.host or host,
                       self.place if self.place is not None else place, self.start, self.duration_minutes,
                       tuple(Attendee(a.party, a.role) for a in self.attendees), tuple(self.agenda),
                       self.minutes,
                       tuple(Decision(d.id or f"D{i + 1}", d.text) for i, d in enumerate(self.decisions)),
                       ()).validate(series)


class DialogueFile(_In):
    """A dialogue data file: one series and the meetings already held."""

    series: SeriesIn
    meetings: list[MeetingIn] = []


class CommitmentUpdateIn(_In):
    """API body / CLI options of a commitment update."""

    status: Status | None = None
    text: str | None = None
    due: date | None = None
    add_evidence: list[str] = []
    add_links: list[LinkIn] = []
    note: str = ""


# --- YAML with line numbers ----------------------------------------------------------------------
def dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for key in loc:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += ("." if out else "") + str(key)
    return out


def undotted(path: str) -> tuple[Any, ...]:
    out: list[Any] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            out.append(name)
        for idx in filter(None, rest.replace("]", "").split("[")) if rest else ():
            out.append(int(idx))
    return tuple(out)


def yaml_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node along ``loc`` (a pydantic error location)."""
    node = root
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(key)),
                        node)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
    return node.start_mark.line + 1 if node is not None else None


def validation_error(exc: ValidationError, *, source: str | None, root: yaml.Node | None = None,
                     prefix: tuple[Any, ...] = ()) -> InputError:
    err = exc.errors()[0]
    loc = prefix + tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    msg = err["msg"].removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InputError(msg, source=source, line=yaml_line(root, loc) if root is not None else None,
                      field=dotted(loc) or None)


def load_dialogue_file(path: str | Path, text: str | None = None) -> tuple[DialogueFile, yaml.Node | None]:
    """Parse and shape-check a dialogue YAML file; the YAML node tree is kept for line numbers."""
    source = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError("no such dialogue file", source=source) from None
    data, root = parse_yaml(text, source=source)
    if not isinstance(data, dict):
        raise InputError("a dialogue file is a mapping with 'series:' and 'meetings:'", source=source, line=1)
    try:
        return DialogueFile.model_validate(data), root
    except ValidationError as exc:
        raise validation_error(exc, source=source, root=root) from None


def located(exc: InputError, *, source: str | None, root: yaml.Node | None, prefix: tuple[Any, ...]) -> InputError:
    """Re-raise a model-level error with the file, line and full field path."""
    loc = prefix + (undotted(exc.field) if exc.field else ())
    return type(exc)(exc.detail, source=source, line=yaml_line(root, loc) if root is not None else None,
                     field=dotted(loc) or None)
