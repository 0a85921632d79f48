"""new_item() assembles an item's canonical bytes (and its id's material) from the body's
canonical bytes; these must be exactly what RFC 8785 gives for the whole item."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from accord.core.canonical import canonical_json
from accord.core.items import Item, new_item
from accord.core.markings import Classification, Marking
from accord.errors import InputError

PARTIES = ["JPN", "KOR", "USA"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text()
    | st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
markings = st.builds(Marking, st.sampled_from(list(Classification)),
                     st.frozensets(st.sampled_from(PARTIES)),
                     st.sampled_from([None, "CLEAR", "GREEN", "AMBER"]),
                     st.lists(st.sampled_from(["NOFORN", "EXERCISE", "PROPIN"]), unique=True).map(tuple))
kinds = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z0-9_-]{1,8}){1,3}", fullmatch=True)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@given(kinds, st.dictionaries(st.text(), json_values, max_size=5), markings, st.sampled_from(PARTIES), times)
def test_assembled_bytes_equal_rfc8785_of_the_whole_item(kind, body, marking, originator, now):
    item = new_item(kind, body, marking, originator, now)
    wire = item.to_json()
    assert item.canonical() == rfc8785.dumps(wire) == canonical_json(wire)
    assert item.digest() == hashlib.sha256(rfc8785.dumps(wire)).hexdigest()
    # the id: first 128 bits of SHA-256 over RFC 8785 of everything but the id
    material = {k: v for k, v in wire.items() if k != "id"}
    assert item.id == f"{originator}:{kind}:{hashlib.sha256(rfc8785.dumps(material)).hexdigest()[:32]}"
    # the same item built field by field (full checks, nothing cached) is equal, bytes and all
    again = Item.from_json(wire)
    assert again == item and again.canonical() == item.canonical()


def test_new_item_still_checks_every_field():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    m = Marking.parse("RESTRICTED//REL TO JPN, KOR")
    with pytest.raises(InputError, match="kind"):
        new_item("Track", {}, m, "JPN", now)
    with pytest.raises(InputError, match="originator"):
        new_item("test.note", {}, m, "XX", now)
    with pytest.raises(InputError, match="timezone-aware"):
        new_item("test.note", {}, m, "JPN", now.replace(tzinfo=None))
    with pytest.raises(InputError, match=r"body\.x has a set"):
        new_item("test.note", {"x": {1}}, m, "JPN", now)
    with pytest.raises(InputError, match="outside"):
        new_item("test.note", {"x": 2**60}, m, "JPN", now)
    with pytest.raises(InputError, match="marking"):
        new_item("test.note", {}, "SECRET", "JPN", now)
    with pytest.raises(InputError, match="256"):
        new_item("test." + "a" * 300, {}, m, "JPN", now)
    # created is kept at millisecond precision, as on the wire
    it = new_item("test.note", {}, m, "JPN", now + timedelta(microseconds=1999))
    assert it.created == now + timedelta(milliseconds=1)


wide_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(st.characters(codec=None))
    | st.floats() | st.integers(-(2**55), 2**55).map(float)
    | st.sampled_from([0.0, -0.0, 5.0, 1e-4, 9.99e-5, 1e16, 1e16 - 2, 2.0**53, 2.0**53 - 1, 1e21, "\ud800x"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(st.characters(codec=None), max_size=3), children, max_size=4),
    max_leaves=25,
)


@given(st.dictionaries(st.text(max_size=3), wide_values, max_size=5))
def test_the_one_pass_body_path_gives_rfc8785_bytes_or_the_same_refusal(body):
    """new_item's one-pass path (integral floats as ints, then orjson) against rfc8785 of the
    whole item, over all floats, integral floats, huge integers, lone surrogates and non-BMP keys:
    the same bytes, or a refusal exactly when the general check refuses."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    mk = Marking.parse("SECRET//REL TO JPN, KOR")
    try:
        item = new_item("test.note", body, mk, "JPN", now)
    except InputError:
        with pytest.raises((InputError, rfc8785.CanonicalizationError, ValueError, TypeError)):
            from accord.core.items import _check_body_json

            _check_body_json(body)
            rfc8785.dumps(body)
        return
    wire = item.to_json()
    assert item.canonical() == rfc8785.dumps(wire)
    assert item.body is body  # the caller's body is kept as given: only the bytes are derived
