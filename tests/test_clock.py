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


EDGES = ["0001-01-01T00:00:00+14:00", "0001-01-01T13:59:59.999+14:00", "9999-12-31T23:59:59-14:00",
         "9999-12-31T10:00:00.000-14:00", "9999-12-31T23:59:59.999-00:01"]


@pytest.mark.parametrize("text", EDGES)
def test_a_time_with_no_utc_equivalent_is_an_input_error_not_an_overflow(text):
    """The first hours of year 1 east of UTC and the last of 9999 west of it name no UTC time:
    an envelope's timestamp or an item's ``created`` of that kind was a 500 from the partner API."""
    with pytest.raises(InputError, match="outside the years 1-9999 in UTC") as info:
        parse_rfc3339(text, field="timestamp")
    assert info.value.field == "timestamp" and "\n" not in str(info.value)


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)), zones)
def test_any_zoned_time_parses_to_its_utc_instant_or_is_refused_in_one_line(naive, zone):
    text = naive.replace(tzinfo=zone).isoformat()
    try:
        utc = naive.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:
        with pytest.raises(InputError, match="outside the years 1-9999"):
            parse_rfc3339(text)
    else:
        assert parse_rfc3339(text) == utc


@pytest.mark.parametrize("text", ["2016-12-31T23:59:60Z", "2026-01-01T00:00:00", "", "2026-13-01T00:00:00Z"])
def test_leap_seconds_naive_and_malformed_times_are_refused_in_one_line(text):
    with pytest.raises(InputError) as info:
        parse_rfc3339(text)
    assert "\n" not in str(info.value)


def test_minus_zero_offset_is_utc():
    """RFC 3339 §4.3 and CAP 1.2 write UTC of unknown local offset as ``-00:00``."""
    assert parse_rfc3339("2026-12-06T14:00:00-00:00") == datetime(2026, 12, 6, 14, tzinfo=UTC)


def test_a_huge_non_time_is_quoted_in_a_few_dozen_characters():
    with pytest.raises(InputError) as info:
        parse_rfc3339("9" * 1_000_000)
    assert len(str(info.value)) < 200


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
