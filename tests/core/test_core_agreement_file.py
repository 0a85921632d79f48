"""Agreement files read through the one input-file loader: each problem is one error naming the
file, the YAML line and the field, in the agreement format's own words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accord.core.agreements import Agreement, new_agreement, sign_agreement
from accord.core.identity import Identity
from accord.errors import InputError


@pytest.fixture(scope="module")
def text():
    ids = {p: Identity.generate(p) for p in ("JPN", "KOR")}
    a = new_agreement("jpn-kor-warning", ["JPN", "KOR"], {p: i.public_key for p, i in ids.items()},
                      [("JPN", "KOR", ["warning.*"], "SECRET")],
                      datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    return sign_agreement(sign_agreement(a, ids["JPN"]), ids["KOR"]).to_yaml()


def last_line_with(text: str, needle: str) -> int:
    return max(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


@pytest.mark.parametrize("old, new, field, message, at", [
    ("version: 1", "version: true", "agreement.version", "version must be a positive integer, got True",
     "version:"),
    # accepted, then no signature could be made or checked (RFC 8785 integers stop at 2**53):
    # a CanonicalJSONError naming no file, line or field, quoting all 4,300 digits
    ("version: 1", f"version: {2**53}", "agreement.version", "version must be below 2**53, got an integer of 16 digits",
     "version:"),
    ("version: 1", "version: " + "9" * 4300, "agreement.version",
     "version must be below 2**53, got an integer of 4300 digits", "version:"),
    ("title: ''", 'title: "\\ud800"', None, "a string holds a lone surrogate (\\ud800): YAML text must be Unicode",
     "title:"),
    ("id: jpn-kor-warning", "id: jpn kor", "agreement.id", "id 'jpn kor' must be 1–128 of A-Z a-z 0-9 . _ -",
     "id: jpn kor"),
    ("from: JPN", "from: USA", "agreement.rules[0]",
     "from/to must be two different parties of the agreement, got 'USA' → 'KOR'", "from: USA"),
    ("max_classification: SECRET", "max_classification: 7", "agreement.rules[0].max_classification",
     "classification must be a string, got int", "max_classification"),
    ("title: ''", "title: ''\n  colour: red", "agreement.colour", "unknown field", "colour"),
    ("valid_from: '2026", "valid_from: '2028", "agreement.valid_until", "valid_until must be after valid_from",
     "valid_until:"),
    ("- party: KOR", "- party: JPN", "signatures[1]", "JPN has signed twice", "party: JPN"),
])
def test_a_bad_agreement_names_file_line_and_field(text, old, new, field, message, at):
    bad = text.replace(old, new, 1)
    with pytest.raises(InputError) as ei:
        Agreement.from_yaml(bad, source="a.yaml")
    assert (ei.value.source, ei.value.field, ei.value.detail) == ("a.yaml", field, message)
    assert ei.value.line == last_line_with(bad, at)  # a mapping's line is that of its first key


def test_a_missing_field_and_a_json_agreement_without_lines(text):
    with pytest.raises(InputError) as ei:
        Agreement.from_yaml(text.replace("  version: 1\n", ""), source="a.yaml")
    assert (ei.value.field, ei.value.detail, ei.value.line) == ("agreement.version", "missing field", 2)
    with pytest.raises(InputError) as ei:
        Agreement.from_json({"agreement": [], "signatures": []}, source="x.json")
    assert str(ei.value) == "x.json, field 'agreement': must be a mapping"
    with pytest.raises(InputError) as ei:
        Agreement.from_yaml("- 1\n", source="a.yaml")
    assert ei.value.detail == "an agreement file must be a mapping with an 'agreement' key"
    a = Agreement.from_yaml(text)
    assert Agreement.from_json(a.to_json()) == a and Agreement.from_yaml(a.to_yaml()) == a
