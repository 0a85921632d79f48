"""Cadence: month arithmetic across month ends and year ends, alternating hosts."""

import calendar
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.dialogue.model import Level, Series
from accord.dialogue.schedule import next_occurrences, occurrence
from accord.errors import InputError


def _series(first: date, months: int = 6, hosts=("KOR", "JPN")) -> Series:
    return Series("S", "Test series", ("JPN", "KOR"), Level.MINISTERS, months, first, tuple(hosts),
                  (("JPN", "Tokyo"), ("KOR", "Seoul"))).validate()


def test_aug_31_plus_six_months_is_end_of_february_and_back_to_aug_31():
    s = _series(date(2025, 8, 31))
    dates = [occurrence(s, n).date for n in range(1, 6)]
    assert dates == [date(2025, 8, 31), date(2026, 2, 28), date(2026, 8, 31), date(2027, 2, 28),
                     date(2027, 8, 31)]


def test_leap_year_february_29_is_used():
    s = _series(date(2027, 8, 31))
    assert occurrence(s, 2).date == date(2028, 2, 29)


def test_cadence_crosses_year_end():
    s = _series(date(2025, 11, 15), months=3)
    assert [occurrence(s, n).date for n in range(1, 5)] == [
        date(2025, 11, 15), date(2026, 2, 15), date(2026, 5, 15), date(2026, 8, 15)]
    s = _series(date(2025, 7, 31), months=5)
    assert occurrence(s, 2).date == date(2025, 12, 31)
    assert occurrence(s, 3).date == date(2026, 5, 31)


def test_hosts_alternate_and_take_their_venue():
    s = _series(date(2025, 9, 8))
    occ = [occurrence(s, n) for n in range(1, 5)]
    assert [o.host for o in occ] == ["KOR", "JPN", "KOR", "JPN"]
    assert [o.place for o in occ] == ["Seoul", "Tokyo", "Seoul", "Tokyo"]


def test_next_occurrences_are_strictly_after_and_respect_min_number():
    s = _series(date(2025, 9, 8))
    nxt = next_occurrences(s, after=date(2026, 3, 8), count=2)
    assert [(o.number, o.date) for o in nxt] == [(3, date(2026, 9, 8)), (4, date(2027, 3, 8))]
    nxt = next_occurrences(s, after=date(2020, 1, 1), count=1, min_number=2)
    assert [(o.number, o.date, o.host) for o in nxt] == [(2, date(2026, 3, 8), "JPN")]


def test_bad_counts_and_numbers_are_refused():
    s = _series(date(2025, 9, 8))
    with pytest.raises(InputError, match="number"):
        occurrence(s, 0)
    with pytest.raises(InputError, match="count"):
        next_occurrences(s, after=date(2026, 1, 1), count=-1)


@given(first=st.dates(date(2000, 1, 1), date(2090, 12, 31)), months=st.integers(1, 24),
       after=st.dates(date(2000, 1, 1), date(2095, 12, 31)), count=st.integers(1, 4))
def test_next_occurrences_equal_a_brute_force_walk(first, months, after, count):
    s = _series(first, months)
    got = next_occurrences(s, after=after, count=count)
    brute, n = [], 1
    while len(brute) < count:
        o = occurrence(s, n)
        if o.date > after:
            brute.append(o)
        n += 1
    assert got == brute
    # no drift: each date keeps the first meeting's day, clamped to the month's last day
    for o in got:
        assert o.date.day == min(first.day, calendar.monthrange(o.date.year, o.date.month)[1])
