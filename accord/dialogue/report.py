"""Status reports — per series or per party — as data, Markdown and HTML (Jinja2 templates).

A commitment is *overdue* when it is open (not done, not lapsed) and today (UTC, from ``now``)
is after its due date; *due soon* when it is open and due within ``soon_days`` days of today.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from accord.clock import to_rfc3339
from accord.dialogue.model import Commitment, Meeting, Series, Status
from accord.dialogue.schedule import next_occurrences


@dataclass(frozen=True)
class CommitmentRow:
    id: str
    series_id: str
    meeting_id: str
    owner: str
    text: str
    due: date
    status: str
    days_left: int  # negative when overdue
    overdue: bool
    due_soon: bool
    evidence: tuple[str, ...]
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "series_id": self.series_id, "meeting_id": self.meeting_id,
                "owner": self.owner, "text": self.text, "due": self.due.isoformat(),
                "status": self.status, "days_left": self.days_left, "overdue": self.overdue,
                "due_soon": self.due_soon, "evidence": list(self.evidence), "version": self.version}


def commitment_row(c: Commitment, now: datetime, *, soon_days: int = 30, version: int = 1) -> CommitmentRow:
    today = now.astimezone(UTC).date()
    return CommitmentRow(c.id, c.series_id, c.meeting_id, c.owner, c.text, c.due, c.status.value,
                         (c.due - today).days, c.is_overdue(now), c.is_due_soon(now, soon_days),
                         c.evidence, version)


@dataclass(frozen=True)
class SeriesSection:
    series: Series
    meetings: tuple[Meeting, ...]
    next_meetings: tuple[tuple[int, date, str, str], ...]  # (number, date, host, place) not yet recorded
    rows: tuple[CommitmentRow, ...]
    counts: dict[str, dict[str, int]]  # party → status → count


@dataclass(frozen=True)
class Report:
    title: str
    now: datetime
    party: str | None
    soon_days: int
    sections: tuple[SeriesSection, ...]

    @property
    def rows(self) -> list[CommitmentRow]:
        return [r for s in self.sections for r in s.rows]

    @property
    def overdue(self) -> list[CommitmentRow]:
        return sorted((r for r in self.rows if r.overdue), key=lambda r: (r.due, r.id))

    @property
    def due_soon(self) -> list[CommitmentRow]:
        return sorted((r for r in self.rows if r.due_soon), key=lambda r: (r.due, r.id))

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title, "generated": to_rfc3339(self.now), "party": self.party,
            "soon_days": self.soon_days,
            "series": [{"id": s.series.id, "title": s.series.title, "parties": list(s.series.parties),
                        "level": s.series.level.value, "cadence_months": s.series.cadence_months,
                        "meetings": [{"id": m.id, "number": m.number, "date": m.date.isoformat(),
                                      "host": m.host, "place": m.place, "status": m.status.value}
                                     for m in s.meetings],
                        "next_meetings": [{"number": n, "date": d.isoformat(), "host": h, "place": p}
                                          for n, d, h, p in s.next_meetings],
                        "counts": s.counts, "commitments": [r.to_json() for r in s.rows]}
                       for s in self.sections],
            "overdue": [r.id for r in self.overdue], "due_soon": [r.id for r in self.due_soon],
        }


def build_report(series: list[Series], meetings: list[Meeting], commitments: list[tuple[Commitment, int]],
                 now: datetime, *, party: str | None = None, soon_days: int = 30,
                 upcoming: int = 2) -> Report:
    """A report over ``series`` (all given), optionally only the commitments ``party`` owns.

    ``commitments`` are (commitment, version) pairs. ``upcoming`` planned slots after the last
    recorded meeting (or today, if later) are listed per series from its cadence.
    """
    today = now.astimezone(UTC).date()
    sections = []
    for s in sorted(series, key=lambda s: s.id):
        ms = tuple(sorted((m for m in meetings if m.series_id == s.id), key=lambda m: m.number))
        last_no = max((m.number for m in ms), default=0)
        nxt = tuple((o.number, o.date, o.host, o.place)
                    for o in next_occurrences(s, after=today, count=upcoming, min_number=last_no + 1))
        rows = tuple(sorted((commitment_row(c, now, soon_days=soon_days, version=v)
                             for c, v in commitments
                             if c.series_id == s.id and (party is None or c.owner == party)),
                            key=lambda r: (r.due, r.id)))
        counts: dict[str, dict[str, int]] = {}
        for p in s.parties:
            if party is not None and p != party:
                continue
            counts[p] = {st.value: sum(1 for r in rows if r.owner == p and r.status == st.value)
                         for st in Status}
            counts[p]["overdue"] = sum(1 for r in rows if r.owner == p and r.overdue)
        sections.append(SeriesSection(s, ms, nxt, rows, counts))
    title = (f"Commitments of {party}" if party else
             (f"Status of {sections[0].series.title}" if len(sections) == 1 else "Dialogue status"))
    return Report(title, now, party, soon_days, tuple(sections))


_MARKDOWN = """\
# {{ r.title }}

Generated {{ r.now_text }}{% if r.party %} · party {{ r.party }}{% endif %} · due soon = within {{ r.soon_days }} days

{% for s in r.sections -%}
## {{ s.series.title }} ({{ s.series.id | code }})

{{ s.series.parties | join(" – ") }} · {{ s.series.level.value }} · every {{ s.series.cadence_months }} months, hosts in turn: {{ s.series.host_rotation | join(", ") }}

| # | date | host | place | status |
| --- | --- | --- | --- | --- |
{% for m in s.meetings -%}
| {{ m.number }} | {{ m.date }} | {{ m.host }} | {{ m.place }} | {{ m.status.value }} |
{% endfor -%}
{% for n, d, h, p in s.next_meetings -%}
| {{ n }} | {{ d }} | {{ h }} | {{ p }} | next by cadence |
{% endfor %}
| party | proposed | agreed | in progress | done | lapsed | overdue |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{% for p, c in s.counts.items() -%}
| {{ p }} | {{ c.proposed }} | {{ c.agreed }} | {{ c.in_progress }} | {{ c.done }} | {{ c.lapsed }} | {{ c.overdue }} |
{% endfor %}
| commitment | owner | due | status | |
| --- | --- | --- | --- | --- |
{% for c in s.rows -%}
| {{ c.id | code }} {{ c.text }} | {{ c.owner }} | {{ c.due }} | {{ c.status }} | {% if c.overdue %}**OVERDUE** {{ -c.days_left }} d{% elif c.due_soon %}due in {{ c.days_left }} d{% endif %} |
{% endfor %}
{% endfor -%}
## Overdue

{% for c in r.overdue -%}
- {{ c.id | code }} ({{ c.owner }}, due {{ c.due }}, {{ -c.days_left }} days late): {{ c.text }}
{% else -%}
- none
{% endfor %}
## Due soon

{% for c in r.due_soon -%}
- {{ c.id | code }} ({{ c.owner }}, due {{ c.due }}, in {{ c.days_left }} days): {{ c.text }}
{% else -%}
- none
{% endfor -%}
"""

_HTML = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<title>{{ r.title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1f23; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; }
.overdue { color: #b00020; font-weight: 600; }
.soon { color: #8a6d00; }
.status-done { color: #1a7f37; }
code { font-size: 0.9em; }
</style>
</head>
<body>
<h1>{{ r.title }}</h1>
<p>Generated {{ r.now_text }}{% if r.party %} · party {{ r.party }}{% endif %} · due soon = within {{ r.soon_days }} days</p>
{% for s in r.sections %}
<section id="{{ s.series.id }}">
<h2>{{ s.series.title }} (<code>{{ s.series.id }}</code>)</h2>
<p>{{ s.series.parties | join(" – ") }} · {{ s.series.level.value }} · every {{ s.series.cadence_months }} months, hosts in turn: {{ s.series.host_rotation | join(", ") }}</p>
<table>
<thead><tr><th>#</th><th>date</th><th>host</th><th>place</th><th>status</th></tr></thead>
<tbody>
{% for m in s.meetings %}<tr><td>{{ m.number }}</td><td>{{ m.date }}</td><td>{{ m.host }}</td><td>{{ m.place }}</td><td>{{ m.status.value }}</td></tr>
{% endfor %}{% for n, d, h, p in s.next_meetings %}<tr><td>{{ n }}</td><td>{{ d }}</td><td>{{ h }}</td><td>{{ p }}</td><td>next by cadence</td></tr>
{% endfor %}</tbody>
</table>
<table>
<thead><tr><th>party</th><th>proposed</th><th>agreed</th><th>in progress</th><th>done</th><th>lapsed</th><th>overdue</th></tr></thead>
<tbody>
{% for p, c in s.counts.items() %}<tr><td>{{ p }}</td><td class="num">{{ c.proposed }}</td><td class="num">{{ c.agreed }}</td><td class="num">{{ c.in_progress }}</td><td class="num">{{ c.done }}</td><td class="num">{{ c.lapsed }}</td><td class="num{% if c.overdue %} overdue{% endif %}">{{ c.overdue }}</td></tr>
{% endfor %}</tbody>
</table>
<table>
<thead><tr><th>commitment</th><th>owner</th><th>due</th><th>status</th><th></th></tr></thead>
<tbody>
{% for c in s.rows %}<tr id="{{ c.id }}"><td><code>{{ c.id }}</code> {{ c.text }}</td><td>{{ c.owner }}</td><td>{{ c.due }}</td><td class="status-{{ c.status }}">{{ c.status }}</td><td>{% if c.overdue %}<span class="overdue">overdue {{ -c.days_left }} d</span>{% elif c.due_soon %}<span class="soon">due in {{ c.days_left }} d</span>{% endif %}</td></tr>
{% endfor %}</tbody>
</table>
</section>
{% endfor %}
<h2>Overdue</h2>
<ul>
{% for c in r.overdue %}<li class="overdue"><code>{{ c.id }}</code> ({{ c.owner }}, due {{ c.due }}, {{ -c.days_left }} days late): {{ c.text }}</li>
{% else %}<li>none</li>
{% endfor %}</ul>
<h2>Due soon</h2>
<ul>
{% for c in r.due_soon %}<li class="soon"><code>{{ c.id }}</code> ({{ c.owner }}, due {{ c.due }}, in {{ c.days_left }} days): {{ c.text }}</li>
{% else %}<li>none</li>
{% endfor %}</ul>
</body>
</html>
"""


REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
"""The HTML report's Content-Security-Policy, in its own ``<meta>`` (so a saved copy keeps it) and,
with ``frame-ancestors 'none'``, in the API's response: no script, nothing loaded, only the
page's own inline style — should any text ever reach the page unescaped, it could run nothing."""


_MD_BREAK = re.compile("(?:\r\n|[\r\n\x0b\x0c\x85\u2028\u2029])+")
_MD_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&~$#!])")


class _Code(str):
    """A record id for a Markdown code span, written as it is (ids are ``[A-Za-z0-9._-]``)."""


def _md_code(value: str) -> _Code:
    if "`" in value or _MD_BREAK.search(value):
        raise ValueError(f"not a record id: {value!r}")
    return _Code(value)


def _md_text(value: Any) -> str:
    """Every value the Markdown template writes, as plain text on one line: each run of line
    breaks one space (no text starts a line, so none can open a heading, list or block), no
    control character, and each mark that acts inside a line backslash-escaped (CommonMark
    §2.4): emphasis, code, links and images, HTML and entities, table pipes, and GFM's
    strikethrough and math — so a partner's text can add no cell, link, image or HTML
    comment. Ids given through ``code`` are written as they are, inside their code span."""
    if isinstance(value, _Code):
        return f"`{value}`"
    # split, not a pattern with [ \t]* around the breaks: that one backtracks over every run of
    # spaces, quadratic in a partner's text
    text = _MD_CONTROL.sub("", " ".join(part.strip(" \t") for part in _MD_BREAK.split(str(value))))
    return _MD_SPECIAL.sub(r"\\\1", text)


_MD_ENV = Environment(loader=DictLoader({"report.md": _MARKDOWN}), autoescape=False, finalize=_md_text,
                      undefined=StrictUndefined, keep_trailing_newline=True)
_MD_ENV.filters["code"] = _md_code
_HTML_ENV = Environment(loader=DictLoader({"report.html": _HTML}),
                        autoescape=select_autoescape(default=True), undefined=StrictUndefined)


class _View:
    """The report plus presentation-only fields for the templates."""

    def __init__(self, r: Report) -> None:
        self._r = r
        self.now_text = to_rfc3339(r.now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._r, name)


def render_markdown(report: Report) -> str:
    return _MD_ENV.get_template("report.md").render(r=_View(report))


def render_html(report: Report) -> str:
    return _HTML_ENV.get_template("report.html").render(r=_View(report), csp=REPORT_CSP)


__all__ = ["REPORT_CSP", "CommitmentRow", "Report", "SeriesSection", "build_report", "commitment_row",
           "render_html", "render_markdown"]
