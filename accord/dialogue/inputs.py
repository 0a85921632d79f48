"""The boundary: pydantic models for dialogue files (YAML) and API bodies (JSON).

They check shape and types; the frozen dataclasses of :mod:`accord.dialogue.model` then check
meaning (parties of the series, state machine). Every error becomes one
:class:`~accord.errors.InputError` naming the file, the line (for YAML) and the field path, e.g.
``japan-rok.yaml: line 42: field 'meetings[0].commitments[3].due': Field required``.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from accord.dialogue.model import (MEETINGS_MAX, Attendee, Commitment, Decision, Level, Link, Meeting,
                                   MeetingStatus, Series, Status)
from accord.core.input_files import load_model, read_text_file
from accord.core.input_files import located, validation_error  # noqa: F401  (re-exported for the dialogue store)


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
    number: int | None = Field(default=None, ge=1, le=MEETINGS_MAX)
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


def load_dialogue_file(path: str | Path, text: str | None = None) -> tuple[DialogueFile, yaml.Node | None]:
    """Parse and shape-check a dialogue YAML file; the YAML node tree is kept for line numbers."""
    source = str(path)
    if text is None:
        text = read_text_file(path, what="dialogue file", missing="no such dialogue file")
    return load_model(DialogueFile, text, source=source,
                      not_a_mapping="a dialogue file is a mapping with 'series:' and 'meetings:'")
