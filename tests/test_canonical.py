"""RFC 8785 canonical JSON and strict parsing."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.core.canonical import canonical_json, parse_json_strict
from accord.errors import CanonicalJSONError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text()
    | st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


def test_rfc8785_orders_keys_by_utf16_and_formats_numbers():
    # RFC 8785 §3.2.3 sorts by UTF-16 code units: U+20AC (€) < U+1F600 (😀) though the latter is
    # a larger code point; numbers use ECMAScript formatting (1.0 → 1, 1e21 → 1e+21).
    out = canonical_json({"\U0001F600": 1, "\u20ac": 2, "a": 1.0, "b": 1e21})
    assert out == '{"a":1,"b":1e+21,"€":2,"😀":1}'.encode()
    assert out != json.dumps({"\U0001F600": 1, "\u20ac": 2, "a": 1.0, "b": 1e21}, sort_keys=True,
                             separators=(",", ":"), ensure_ascii=False).encode()


def test_duplicate_keys_are_rejected():
    with pytest.raises(CanonicalJSONError, match="duplicate key 'a'"):
        parse_json_strict('{"a": 1, "b": {"a": 2, "a": 3}}'.replace('"b": {"a": 2, "a": 3}', '"a": 2'))
    with pytest.raises(CanonicalJSONError, match="duplicate key 'x'"):
        parse_json_strict('{"b": {"x": 2, "x": 3}}')


def test_nan_and_malformed_json_are_rejected_with_location():
    with pytest.raises(CanonicalJSONError, match="NaN"):
        parse_json_strict('{"a": NaN}')
    with pytest.raises(CanonicalJSONError, match="line 2"):
        parse_json_strict('{"a":\n}', source="x.json")


@given(json_values)
def test_canonical_round_trip_is_stable(value):
    once = canonical_json(value)
    assert canonical_json(parse_json_strict(once)) == once
