"""Markings: classification scale, national names, banner grammar, JSON, releasability."""

from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from accord.core.items import Item, new_item
from accord.core.markings import (TLP_LABELS, Classification, Marking, from_national,
                                  national_name)
from accord.core.parties import party_codes
from accord.errors import InputError, MarkingError

parties = st.sampled_from(sorted(party_codes()))
caveat_words = st.from_regex(r"[A-Z0-9-]{1,8}", fullmatch=True)
caveats = st.lists(caveat_words, max_size=3, unique=True).map(tuple).filter(
    lambda cs: all(c.replace(" ", "_") not in Classification.__members__ for c in cs))
markings = st.builds(Marking, st.sampled_from(list(Classification)),
                     st.frozensets(parties, max_size=5), st.none() | st.sampled_from(TLP_LABELS), caveats)


def test_scale_is_ordered():
    assert (Classification.UNCLASSIFIED < Classification.RESTRICTED < Classification.CONFIDENTIAL
            < Classification.SECRET < Classification.TOP_SECRET)


@pytest.mark.parametrize("party,name,level", [
    ("JPN", "特定秘密", Classification.SECRET), ("JPN", "極秘", Classification.SECRET),
    ("JPN", "秘", Classification.CONFIDENTIAL), ("JPN", "取扱注意", Classification.RESTRICTED),
    ("JPN", "機密", Classification.TOP_SECRET),
    ("KOR", "Ⅰ급비밀", Classification.TOP_SECRET), ("KOR", "2급비밀", Classification.SECRET),
    ("KOR", "군사III급비밀", Classification.CONFIDENTIAL), ("KOR", "대외비", Classification.RESTRICTED),
    ("USA", "TOP SECRET", Classification.TOP_SECRET), ("USA", "CUI", Classification.RESTRICTED),
    ("USA", "UNCLASSIFIED", Classification.UNCLASSIFIED),
])
def test_national_names_map_onto_common_scale(party, name, level):
    assert from_national(party, name) is level


def test_gsomia_equivalents_agree_across_parties():
    # ROK–Japan GSOMIA art. 4(2): 極秘/特定秘密 = 군사Ⅱ급비밀 = SECRET; 秘 = 군사Ⅲ급비밀 = CONFIDENTIAL
    assert from_national("JPN", "極秘") == from_national("KOR", "군사II급비밀") == from_national("USA", "SECRET")
    assert from_national("JPN", "秘") == from_national("KOR", "군사III급비밀") == from_national("USA", "CONFIDENTIAL")
    assert national_name("KOR", Classification.SECRET) == "Ⅱ급비밀"
    assert national_name("JPN", Classification.CONFIDENTIAL) == "秘"


def test_unknown_national_name_is_named():
    with pytest.raises(MarkingError, match="'極極秘'"):
        from_national("JPN", "極極秘")


@pytest.mark.parametrize("banner", [
    "SECRET//REL TO JPN, KOR", "UNCLASSIFIED//TLP:AMBER+STRICT", "TOP SECRET",
    "CONFIDENTIAL//EXERCISE//REL TO JPN, KOR, USA//TLP:GREEN", "RESTRICTED//REL TO USA",
])
def test_banner_round_trips_exactly(banner):
    assert str(Marking.parse(banner)) == banner


def test_parse_gives_fields():
    m = Marking.parse("SECRET//REL TO JPN, KOR")
    assert m.classification is Classification.SECRET and m.rel_to == {"JPN", "KOR"} and m.tlp is None


@given(markings)
def test_any_marking_round_trips_through_banner_and_json(marking):
    assert Marking.parse(str(marking)) == marking
    assert str(Marking.parse(str(marking))) == str(marking)
    assert Marking.from_json(marking.to_json()) == marking


HUGE = 100_000


@given(st.text(max_size=40))
@example("").via("empty")
@example("\x00").via("NUL")
@example("SECRET//REL TO JPN\ud800").via("a lone surrogate")
@example("X" * HUGE).via("a 100,000-character classification")
@example("SECRET//REL TO " + ", ".join(["JPN"] * (HUGE // 5))).via("20,000 parties, all the same")
@example("SECRET//REL TO JPN, " + "K" * HUGE).via("a 100,000-character party")
@example("SECRET//" + "//".join(["NOFORN"] * (HUGE // 8))).via("12,500 caveats")
@example("SECRET//" + "A" * HUGE).via("a 100,000-character token")
def test_arbitrary_text_parses_canonically_or_raises_marking_error(text):
    """Any text is a canonical banner or one short line: the refusal of a 100,000-character
    banner quoted it whole, twice (a 200 KB reason, answered to a partner and stored)."""
    try:
        m = Marking.parse(text)
    except MarkingError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400, len(str(exc))
        return
    assert str(m) == text


@pytest.mark.parametrize("kind", ["warning." + "x" * HUGE, "W" * HUGE, "warning.\x00"])
def test_an_item_of_a_huge_or_odd_kind_is_refused_in_one_short_line(kind):
    with pytest.raises(InputError) as exc:
        new_item(kind, {}, Marking.parse("SECRET//REL TO JPN, KOR"), "JPN", datetime(2026, 1, 1, tzinfo=UTC))
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 400, len(str(exc.value))


@pytest.mark.parametrize("party", ["K" * HUGE, "", "\x00", "JPN\n", 10**400, None])
def test_a_party_problem_is_one_short_line(party):
    from accord.core.parties import party_problem

    problem = party_problem(party)
    assert problem and "\n" not in problem and len(problem) < 200


@pytest.mark.parametrize("banner,token", [
    ("SECERT//REL TO JPN", "'SECERT'"),
    ("SECRET//REL TO JPN, KORR", "'KORR'"),
    ("SECRET//REL TO KOR, JPN", "REL TO JPN, KOR"),
    ("SECRET//TLP:PURPLE", "'TLP:PURPLE'"),
    ("SECRET//REL TO JPN//REL TO KOR", "'REL TO KOR'"),
    ("SECRET//TLP:RED//REL TO JPN", "'REL TO JPN'"),
    ("secret", "'secret'"),
    ("SECRET//", "empty block"),
    ("SECRET//rel to JPN", "'rel to JPN'"),
    ("SECRET//REL TO JPN,KOR", "'JPN,KOR'"),
    ("SECRET//REL TO JPN, JPN", "'JPN' repeated"),
    (" SECRET", "whitespace"),
    ("", "empty banner"),
])
def test_invalid_banner_names_the_bad_token(banner, token):
    with pytest.raises(MarkingError) as err:
        Marking.parse(banner)
    assert token in str(err.value)


def test_releasability_is_default_deny():
    assert Marking.parse("SECRET//REL TO JPN, KOR").releasable_to("KOR")
    assert not Marking.parse("SECRET//REL TO JPN, KOR").releasable_to("USA")
    assert not Marking.parse("UNCLASSIFIED").releasable_to("KOR")
    assert not Marking.parse("UNCLASSIFIED//REL TO KOR//TLP:RED").releasable_to("KOR")
    assert "USA is not in REL TO JPN, KOR" in Marking.parse("SECRET//REL TO JPN, KOR").release_refusal("USA")


def test_marking_json_rejects_bad_fields():
    with pytest.raises(MarkingError, match="unknown marking field"):
        Marking.from_json({"classification": "SECRET", "rel_to": [], "colour": "red"})
    with pytest.raises(MarkingError, match="'jpn'"):
        Marking.from_json({"classification": "SECRET", "rel_to": ["jpn"]})
    with pytest.raises(MarkingError, match="unknown classification 'SECRETISH'"):
        Marking.from_json({"classification": "SECRETISH"})


NOW = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def test_new_item_id_is_deterministic_and_round_trips():
    m = Marking.parse("SECRET//REL TO JPN, KOR")
    a = new_item("warning.track", {"track": 7}, m, "JPN", NOW)
    b = new_item("warning.track", {"track": 7}, m, "JPN", NOW)
    c = new_item("warning.track", {"track": 8}, m, "JPN", NOW)
    assert a.id == b.id != c.id and a.id.startswith("JPN:warning.track:")
    assert a.created.microsecond == 123000
    back = Item.from_json(a.to_json())
    assert back == a and back.digest() == a.digest() and len(a.digest()) == 64
    assert a.digest() != c.digest()


@pytest.mark.parametrize("patch,field", [
    ({"kind": "Warning Track"}, "kind"), ({"originator": "japan"}, "originator"),
    ({"id": "KOR:x"}, "id"), ({"created": "yesterday"}, "created"),
    ({"body": [1, 2]}, "body"), ({"marking": {"classification": "SECRET", "rel_to": "KOR"}}, "marking.rel_to"),
])
def test_bad_item_names_the_field(patch, field):
    good = new_item("test.note", {"text": "hi"}, Marking.parse("UNCLASSIFIED//REL TO KOR"), "JPN", NOW).to_json()
    with pytest.raises(InputError) as err:
        Item.from_json({**good, **patch}, source="item.json")
    assert f"field {field!r}" in str(err.value) and "item.json" in str(err.value)


def test_item_missing_and_unknown_fields():
    good = new_item("test.note", {}, Marking.parse("UNCLASSIFIED"), "JPN", NOW).to_json()
    with pytest.raises(InputError, match="missing field"):
        Item.from_json({k: v for k, v in good.items() if k != "body"})
    with pytest.raises(InputError, match="unknown field"):
        Item.from_json({**good, "extra": 1})


@pytest.mark.parametrize("party", ["JPN", "KOR", "USA"])
def test_every_level_has_a_national_name_that_maps_back(party):
    for level in Classification:
        assert from_national(party, national_name(party, level)) is level


@pytest.mark.parametrize("body,problem", [
    ({"x": float("nan")}, "body.x = nan is not a finite number"),
    ({"x": [1, {2: 3}]}, "non-string key 2"),
    ({"x": 2**60}, "outside ±2^53"),
    ({"x": {1, 2}}, "set, which is not JSON"),
])
def test_item_body_must_be_plain_json(body, problem):
    with pytest.raises(InputError, match="field 'body'") as err:
        new_item("test.note", body, Marking.parse("UNCLASSIFIED"), "JPN", NOW)
    assert problem in str(err.value)
