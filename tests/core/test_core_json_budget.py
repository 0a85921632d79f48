"""The budget of arrays and objects an untrusted JSON text may build
(:mod:`accord.core.json_budget`): counted on the text, exactly — brackets inside strings, escaped
quotes and backslashes, UTF-16 — so a body is refused past the limit and never below it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.canonical import parse_json_strict
from accord.core.json_budget import check_json_containers, structural_brackets
from accord.errors import CanonicalJSONError

# strings rich in what the count must see through: brackets, quotes, backslashes, non-ASCII
tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\,:ab é😀\u2028'), max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | tricky_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(tricky_text, children, max_size=4)
    ),
    max_leaves=30,
)


def _containers(value) -> int:
    if isinstance(value, dict):
        return 1 + sum(_containers(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_containers(v) for v in value)
    return 0


def _texts(value):
    for ascii_only in (True, False):
        text = json.dumps(value, ensure_ascii=ascii_only)
        yield text
        yield text.encode("utf-8")
    yield json.dumps(value, ensure_ascii=False).encode("utf-16")


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_count_is_the_arrays_and_objects_the_text_parses_to(value):
    n = _containers(value)
    for text in _texts(value):
        assert structural_brackets(text) == n
        assert (
            parse_json_strict(text, max_containers=n) == value
        )  # at the limit: parsed
        if n:
            with pytest.raises(
                CanonicalJSONError, match=f"more than {n - 1:,} arrays and objects"
            ):
                parse_json_strict(text, max_containers=n - 1)


def test_brackets_inside_strings_are_not_containers():
    text = json.dumps(
        {
            "pattern": "[ipv4-addr:value = '1.2.3.4']" * 1000,
            "q": '\\"[{' * 1000,
            "b": "\\" * 9,
        }
    )
    check_json_containers(text, limit=1)  # 3,000 brackets in its strings, one object
    with pytest.raises(CanonicalJSONError, match="more than 0 arrays and objects"):
        check_json_containers(text, limit=0)


def test_a_text_that_is_not_json_is_counted_over_its_valid_beginning():
    # an unterminated string: the brackets after its quote are never parsed into anything
    assert structural_brackets('[[],[],"' + "[]" * 100) == 3
    assert structural_brackets(b"[[],[]] x [") == 4  # past the error: more, never fewer
