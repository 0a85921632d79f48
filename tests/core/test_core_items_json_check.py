"""The item body check: the fast iterative pass agrees with the path-naming one on every value."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import items

_leaf = st.one_of(st.none(), st.booleans(), st.text(max_size=5),
                  st.integers(min_value=-(2**60), max_value=2**60),
                  st.floats(allow_nan=True, allow_infinity=True),
                  st.sampled_from([b"x", (1, 2), {1, 2}, 2**53, -(2**53), 2**53 - 1]))
_values = st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 3)), inner, max_size=4)), max_leaves=30)


def _walk(value, path, depth):
    if depth > 64:
        return "deep"
    t = type(value)
    if value is None or t is bool or t is str:
        return None
    if t is int:
        return None if -(2**53) < value < 2**53 else "int"
    if t is float:
        return None if math.isfinite(value) else "float"
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                return "key"
            if _walk(v, path, depth + 1):
                return "inner"
        return None
    if t is list:
        return next((p for v in value if (p := _walk(v, path, depth + 1))), None)
    return "type"


@settings(max_examples=200, deadline=None)
@given(_values)
def test_the_fast_check_accepts_exactly_what_the_path_naming_check_accepts(value):
    assert items._plain_json(value) == (_walk(value, "body", 0) is None)
    assert (items._json_problem(value, "body") is None) == (_walk(value, "body", 0) is None)


def nested(depth: int, leaf):
    v = leaf
    for _ in range(depth):
        v = [v]
    return v


def test_nesting_limit_and_the_message_naming_the_place():
    assert items._plain_json(nested(64, 1)) and items._json_problem(nested(64, 1), "body") is None
    assert items._plain_json(nested(64, [])) and not items._plain_json(nested(65, 1))
    assert items._json_problem(nested(65, 1), "body") == "body" + "[0]" * 65 + " is nested more than 64 levels deep"
    assert items._json_problem({"a": [1, {"b": math.nan}]}, "body") == "body.a[1].b = nan is not a finite number"
    assert items._json_problem({"a": [2**53]}, "body").startswith("body.a[0] = 9007199254740992 is outside")
