"""RFC 3339 timestamps: the wire form every item, envelope and ledger entry uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.clock import add_seconds, parse_rfc3339, to_rfc3339
from accord.errors import InputError

WIRE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
zones = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones))
def test_wire_form_is_utc_milliseconds_and_round_trips(when):
    text = to_rfc3339(when)
    assert WIRE.fullmatch(text), text
    back = parse_rfc3339(text)
    utc = when.astimezone(UTC)
    # truncated (never rounded) to the millisecond, in UTC
    assert back == utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)
    assert back.tzinfo is UTC


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)))
def test_same_text_as_the_strftime_formula(when):
    expected = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    assert to_rfc3339(when) == expected


def test_years_before_1000_keep_four_digits():
    assert to_rfc3339(datetime(999, 1, 2, 3, 4, 5, 678999, tzinfo=UTC)) == "0999-01-02T03:04:05.678Z"


def test_naive_datetime_is_refused():
    with pytest.raises(InputError, match="timezone-aware"):
        to_rfc3339(datetime(2026, 1, 1))


def test_add_seconds_within_the_years_a_datetime_holds():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert add_seconds(start, 90.5) == datetime(2026, 1, 1, 0, 1, 30, 500000, tzinfo=UTC)
    assert add_seconds(start, -86400) == datetime(2025, 12, 31, tzinfo=UTC)
    assert add_seconds(datetime(9999, 12, 31, tzinfo=UTC), 86399) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [86400.0, 1e12, 1e308, float("inf"), float("-inf"), float("nan")])
def test_add_seconds_past_the_year_9999_or_not_a_number_is_none(seconds):
    # OverflowError past the years 1 to 9999 (in timedelta or in the sum), ValueError for NaN
    assert add_seconds(datetime(9999, 12, 31, tzinfo=UTC), seconds) is None
    assert add_seconds(datetime(1, 1, 1, tzinfo=UTC), -abs(seconds)) is None


@pytest.mark.parametrize("text, hint", [
    ("2027-12-31", "'2027-12-31T00:00:00Z'"),
    ("2027-12-31T09:00:00", "'2027-12-31T09:00:00Z'"),
])
def test_a_timestamp_without_a_zone_says_how_to_write_it(text, hint):
    """``--valid-until 2027-12-31`` was refused with "timestamp has no time zone" and no word on
    what to write instead."""
    with pytest.raises(InputError) as refused:
        parse_rfc3339(text, field="valid-until")
    assert str(refused.value) == (f"field 'valid-until': timestamp has no time zone: {text!r} "
                                  f"(write it in UTC with a Z, e.g. {hint}, or with an offset such as +09:00)")
    with pytest.raises(InputError) as refused:
        parse_rfc3339("tomorrow", field="at")
    assert str(refused.value) == "field 'at': not an RFC 3339 timestamp: 'tomorrow' (e.g. '2027-12-31T00:00:00Z')"
