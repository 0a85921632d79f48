"""Cadence: when and where a series meets next.

Month arithmetic is ``dateutil.relativedelta`` (calendar months, clamped to the last day of the
month: 31 Aug + 6 months = 28 Feb, or 29 Feb in a leap year). Occurrence ``n`` (0-based) is

    date_n = first_meeting + relativedelta(months = n × cadence_months)
    host_n = host_rotation[n mod len(host_rotation)]

always counted from the *first* meeting, never from the previous one, so clamping does not
accumulate: 31 Aug 2025 → 28 Feb 2026 → 31 Aug 2026 (not 28 Aug).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dateutil.relativedelta import relativedelta

from accord.dialogue.model import FIRST_DATE, LAST_DATE, MEETINGS_MAX, Series
from accord.errors import InputError


@dataclass(frozen=True)
class Occurrence:
    """A planned meeting slot of a series."""

    number: int  # 1-based
    date: date
    host: str
    place: str


def occurrence(series: Series, number: int) -> Occurrence:
    """The ``number``-th (1-based) meeting of ``series`` by its cadence."""
    if number < 1:
        raise InputError(f"meeting number must be ≥ 1, got {number}", field="number")
    n = number - 1
    try:
        when = series.first_meeting + relativedelta(months=n * series.cadence_months)
    except (ValueError, OverflowError):  # 10**6 × 6 months is past the year 9999; 10**18 no C int
        raise InputError(f"meeting {number} of series {series.id} would fall after the year 9999 (a record "
                         f"holds meetings 1 to {MEETINGS_MAX})", field="number") from None
    host = series.host_rotation[n % len(series.host_rotation)]
    return Occurrence(number, when, host, series.venue(host))


#: the most meetings planned at once (the API's limit too)
MAX_COUNT = 24


def next_occurrences(series: Series, *, after: date, count: int, min_number: int = 1) -> list[Occurrence]:
    """The next ``count`` occurrences strictly after ``after`` with number ≥ ``min_number``."""
    if not 0 <= count <= MAX_COUNT:  # a huge count ran the calendar past year 9999 (a ValueError)
        raise InputError(f"count must be 0 to {MAX_COUNT}, got {count}", field="count")
    if not FIRST_DATE <= after <= LAST_DATE:  # the slots after 9999-12-31 are no dates
        raise InputError(f"after {after.isoformat()} is outside {FIRST_DATE.year}-{LAST_DATE.year}, the years "
                         "a dialogue record holds", field="after")
    if count == 0:
        return []
    # jump close to ``after`` instead of walking from the first meeting one cadence at a time
    months = (after.year - series.first_meeting.year) * 12 + after.month - series.first_meeting.month
    number = max(min_number, months // series.cadence_months)  # ≤ the first one after ``after``
    out: list[Occurrence] = []
    while len(out) < count:
        occ = occurrence(series, number)
        if occ.date > after:
            out.append(occ)
        number += 1
    return out
