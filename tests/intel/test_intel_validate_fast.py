"""The fast structural check accepts and rejects exactly what the rule-by-rule reference does,
with the same message, on generated objects near every rule's edge (and its memos change
nothing when the same strings come back)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accord.errors import InputError
from accord.intel import validate as v

TYPES = ["indicator", "malware", "relationship", "sighting", "marking-definition", "ipv4-addr",
         "file", "x-acme-thing", "bundle", "Indicator", "in--dicator", "ab", "indicator\n",
         "-indicator", "identity", 7, None]
GOOD_TS = ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000Z", "2024-02-29T23:59:59.123456789Z",
           "2026-03-31T12:00:00.5Z", "1970-01-01T00:00:00Z"]
BAD_TS = ["2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
          "2026-01-01T00:00:60Z", "0000-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01 00:00:00Z",
          "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00.Z",
          "2026-01-01T00:00:00.1234567890Z", "2026-01-01T00:00:00Z\n",
          # digits of other scripts: "\d" takes them, and stix2 and every partner's parser refuse them
          "2026-01-01T00:00:00.\u0665Z", "2026-01-01T00:00:00.12\uff15Z", "2026-01-1\u0665T00:00:00Z",
          "", 20260101, None]


def ident(kind: str, n: int) -> str:
    return f"{kind}--{uuid.UUID(int=n, version=4)}"


timestamps = st.sampled_from(GOOD_TS + BAD_TS)
refs = st.one_of(st.builds(ident, st.sampled_from(["identity", "marking-definition", "malware",
                                                   "indicator", "Bad"]), st.integers(0, 2**128 - 1)),
                 st.sampled_from(["indicator--not-a-uuid", "identity--" + "0" * 36, "", 3, None,
                                  "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb\n"]))


@st.composite
def candidates(draw):
    kind = draw(st.sampled_from(TYPES))
    obj: dict = {}
    if draw(st.integers(0, 9)):
        obj["type"] = kind
    id_kind = draw(st.sampled_from([kind if isinstance(kind, str) else "indicator", "malware"]))
    if draw(st.integers(0, 9)):
        obj["id"] = draw(st.one_of(st.builds(ident, st.just(id_kind), st.integers(0, 2**128 - 1)),
                                   st.sampled_from([f"{id_kind}--1234", f"{id_kind}--{uuid.uuid4().hex}", 5])))
    if draw(st.integers(0, 5)):
        obj["spec_version"] = draw(st.sampled_from(["2.1", "2.1", "2.0", 2.1, None]))
    for prop in draw(st.lists(st.sampled_from(list(v.TIMESTAMP_PROPS)), max_size=4, unique=True)):
        obj[prop] = draw(timestamps)
    if draw(st.booleans()):
        obj.setdefault("created", draw(timestamps))
        obj.setdefault("modified", draw(timestamps))
    for key in draw(st.lists(st.sampled_from(["created_by_ref", "source_ref", "target_ref",
                                              "sighting_of_ref", "x_ref"]), max_size=3, unique=True)):
        obj[key] = draw(refs)
    for key in draw(st.lists(st.sampled_from(["object_marking_refs", "object_refs", "where_sighted_refs"]),
                             max_size=2, unique=True)):
        obj[key] = draw(st.one_of(st.lists(refs, max_size=3), st.sampled_from(["x", None, {}])))
    if draw(st.integers(0, 5)) == 0:
        obj["granular_markings"] = draw(st.sampled_from([
            [], [{"selectors": ["name"], "marking_ref": ident("marking-definition", 1)}],
            [{"selectors": ["name"], "lang": "en"}], [{"selectors": [], "lang": "en"}],
            [{"selectors": ["name"], "lang": "en", "marking_ref": ident("marking-definition", 1)}], None]))
    if draw(st.integers(0, 5)) == 0:
        obj["extensions"] = draw(st.sampled_from([{}, {"x": {}}, [], "ext", None]))
    if draw(st.integers(0, 3)) == 0:
        obj["relationship_type"] = "indicates"
    if draw(st.integers(0, 7)) == 0:
        obj[draw(st.sampled_from([1, ("a",)]))] = "non-string key"
    order = draw(st.permutations(list(obj)))
    return {k: obj[k] for k in order}


def outcome(check, obj):
    try:
        check(obj, 3)
    except InputError as exc:
        return ("rejected", str(exc), exc.field)
    except Exception as exc:  # noqa: BLE001 - the same crash is part of "the same behaviour"
        return ("raised", type(exc).__name__)
    return ("accepted",)


@settings(max_examples=1500, deadline=None)
@given(obj=candidates())
@example(obj={"type": "indicator", "spec_version": "2.1", "id": ident("indicator", 1),
              "created": "2026-02-30T00:00:00Z", "modified": "2026-02-30T00:00:00Z"})
@example(obj={"type": "indicator", "spec_version": "2.1", "id": ident("indicator", 1),
              "created": "2026-01-02T00:00:00Z", "modified": "2026-01-01T00:00:00Z"})
@example(obj={"type": "indicator", "spec_version": "2.1", "id": ident("indicator", 1),
              "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
              "object_marking_refs": [ident("identity", 2)]})
@example(obj={"type": "relationship", "spec_version": "2.1", "id": ident("relationship", 1),
              "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
              "relationship_type": "x", "source_ref": ident("malware", 2)})
def test_fast_check_agrees_with_reference(obj):
    reference = outcome(v.check_object_reference, obj)
    assert outcome(v.check_object, obj) == reference
    assert outcome(v.check_object, obj) == reference  # again: now every memo is warm
    if v._passes_fast(obj):
        assert reference == ("accepted",), obj


@pytest.mark.parametrize("ts", BAD_TS[:-2])
def test_memo_never_turns_a_rejection_into_acceptance(ts):
    obj = {"type": "indicator", "spec_version": "2.1", "id": ident("indicator", 9),
           "created": ts, "modified": ts}
    for _ in range(2):
        with pytest.raises(InputError):
            v.check_object(obj)
        assert not v._passes_fast(obj)


def test_fast_path_takes_the_common_object():
    obj = {"type": "indicator", "spec_version": "2.1", "id": ident("indicator", 9),
           "created": "2026-01-31T00:00:00.000Z", "modified": "2026-01-31T00:00:00.000Z",
           "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix",
           "valid_from": "2026-01-01T00:00:00Z", "created_by_ref": ident("identity", 1),
           "object_marking_refs": [ident("marking-definition", 2)]}
    assert v._passes_fast(obj)  # else the hot path silently runs the slow checks
