"""Policy: default deny, explained; property tests for the rules that must never break."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from accord.core.agreements import new_agreement, sign_agreement
from accord.core.identity import Identity
from accord.core.items import new_item
from accord.core.markings import TLP_LABELS, Classification, Marking
from accord.core.policy import decide

import pytest
from accord.errors import PolicyDenied

PARTIES = ("JPN", "KOR", "USA")
IDS = {p: Identity.generate(p) for p in PARTIES}
PINNED = {p: i.public_key for p, i in IDS.items()}
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2027, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
KINDS = ("warning.track", "warning.alert", "intel.stix", "dialogue.meeting", "test.note")


def make(parties, rules, signers, valid=(T0, T1), aid="a"):
    a = new_agreement(aid, parties, {p: PINNED[p] for p in parties}, rules, *valid)
    for s in signers:
        a = sign_agreement(a, IDS[s])
    return a


def item(kind="warning.track", banner="SECRET//REL TO JPN, KOR", originator="JPN"):
    return new_item(kind, {"n": 1}, Marking.parse(banner), originator, NOW)


JK = make(["JPN", "KOR"], [("JPN", "KOR", ["warning.*"], "SECRET"), ("KOR", "JPN", ["warning.*"], "SECRET")],
          ["JPN", "KOR"], aid="jpn-kor")


def test_allowed_with_signed_agreement_and_reasons_explain_each_check():
    d = decide(item(), "KOR", [JK], NOW, pinned_keys=PINNED)
    assert d.allowed and d.agreement_id == "jpn-kor"
    text = "\n".join(d.lines)
    assert "releases it to KOR" in text and "is in force" in text and "up to SECRET" in text
    assert d.lines[-1].startswith("ALLOW")


def test_default_deny_without_agreements():
    d = decide(item(), "KOR", [], NOW)
    assert not d.allowed and "no: no agreement names both JPN and KOR" in d.lines


def test_each_denial_reason():
    assert "USA is not in REL TO" in "\n".join(decide(item(), "USA", [JK], NOW).lines)
    above = decide(item(banner="TOP SECRET//REL TO JPN, KOR"), "KOR", [JK], NOW)
    assert not above.allowed and any("above the JPN → KOR ceiling SECRET" in r for r in above.lines)
    kind = decide(item(kind="intel.stix"), "KOR", [JK], NOW)
    assert not kind.allowed and any("covers warning.*, not intel.stix" in r for r in kind.lines)
    late = decide(item(), "KOR", [JK], T1)
    assert not late.allowed and any("expired" in r for r in late.lines)
    half = make(["JPN", "KOR"], [("JPN", "KOR", ["warning.*"], "SECRET")], ["JPN"])
    unsigned = decide(item(), "KOR", [half], NOW)
    assert not unsigned.allowed and any("missing signature of KOR" in r for r in unsigned.lines)
    red = decide(item(banner="UNCLASSIFIED//REL TO JPN, KOR//TLP:RED"), "KOR", [JK], NOW)
    assert not red.allowed and any("TLP:RED" in r for r in red.lines)
    assert not decide(item(), "JPN", [JK], NOW).allowed
    assert not decide(item(), "kor", [JK], NOW).allowed


def test_altered_agreement_does_not_allow():
    forged = replace(JK, rules=tuple(replace(r, max_classification=Classification.TOP_SECRET) for r in JK.rules))
    d = decide(item(banner="TOP SECRET//REL TO JPN, KOR"), "KOR", [forged], NOW)
    assert not d.allowed and any("altered after" in r for r in d.lines)


def test_direction_matters():
    one_way = make(["JPN", "KOR"], [("KOR", "JPN", ["warning.*"], "SECRET")], ["JPN", "KOR"])
    d = decide(item(), "KOR", [one_way], NOW)
    assert not d.allowed and any("has no rule JPN → KOR" in r for r in d.lines)


def test_raise_if_denied():
    with pytest.raises(PolicyDenied, match="USA is not in REL TO"):
        decide(item(), "USA", [JK], NOW).raise_if_denied(item(), "USA")


# --- properties ------------------------------------------------------------------------------
@st.composite
def agreements(draw):
    parties = draw(st.sampled_from([["JPN", "KOR"], ["JPN", "USA"], ["KOR", "USA"], list(PARTIES)]))
    rules = []
    for f in parties:
        for t in parties:
            if f != t and draw(st.booleans()):
                rules.append((f, t, draw(st.lists(st.sampled_from(["warning.*", "intel.*", "*", "test.note",
                                                                   "dialogue.meeting"]), min_size=1, max_size=2)),
                              draw(st.sampled_from(list(Classification)))))
    # biased towards agreements that are in force, so that "allowed" is common enough to test
    signers = parties if draw(st.integers(0, 3)) else draw(st.lists(st.sampled_from(parties), unique=True))
    start = T0 + timedelta(days=draw(st.integers(-400, 200)))
    end = start + timedelta(days=draw(st.integers(1, 900)))
    a = make(parties, rules, signers, (start, end), aid=f"a{draw(st.integers(0, 99))}")
    if draw(st.integers(0, 9)) == 7:  # sometimes alter a signed agreement
        a = replace(a, valid_until=a.valid_until + timedelta(days=365))
    return a


@st.composite
def items(draw):
    rel = draw(st.frozensets(st.sampled_from(PARTIES + ("GBR",)), min_size=draw(st.integers(0, 3)), max_size=4))
    tlp = None if draw(st.integers(0, 2)) else draw(st.sampled_from(TLP_LABELS))
    m = Marking(draw(st.sampled_from(list(Classification))), rel, tlp)
    return new_item(draw(st.sampled_from(KINDS)), {"x": 1}, m, draw(st.sampled_from(PARTIES)), NOW)


def _sig_ok(a, party):
    s = a.signature_of(party)
    if s is None:
        return False
    try:
        a.public_key(party).verify(s.signature, a.signing_bytes())
        return True
    except Exception:
        return False


@settings(max_examples=300, deadline=None)
@given(items(), st.integers(0, 9), st.lists(agreements(), max_size=3),
       st.integers(-400, 800).map(lambda d: T0 + timedelta(days=d)))
def test_never_allowed_outside_the_rules(it, pick, ags, now):
    others = [p for p in PARTIES if p != it.originator]
    recipient = it.originator if pick == 9 else others[pick % 2]
    d = decide(it, recipient, ags, now, pinned_keys=PINNED)
    if not d.allowed:
        assert d.lines[-1].startswith("DENY") and any(r.startswith("no:") for r in d.lines)
        return
    assert recipient in it.marking.rel_to and it.marking.tlp != "RED"
    assert recipient != it.originator
    # the agreement that allowed it (several generated agreements may share an id: any one
    # of them in force, signed by every party, with a covering rule is a valid reason)
    candidates = [a for a in ags if a.id == d.agreement_id and it.originator in a.parties and recipient in a.parties
                  and a.valid_from <= now < a.valid_until and all(_sig_ok(a, p) for p in a.parties)]
    assert candidates
    assert any(r.from_party == it.originator and r.to_party == recipient and r.covers(it.kind)
               and it.marking.classification <= r.max_classification for a in candidates for r in a.rules)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(KINDS), st.sampled_from(list(Classification)), st.sampled_from(list(Classification)))
def test_allowed_exactly_up_to_the_ceiling(kind, level, ceiling):
    a = make(["JPN", "KOR"], [("JPN", "KOR", ["*"], ceiling)], ["JPN", "KOR"])
    it = new_item(kind, {}, Marking(level, frozenset({"KOR"})), "JPN", NOW)
    assert decide(it, "KOR", [a], NOW).allowed == (level <= ceiling)


MUTATIONS = ("unsigned_by_originator", "unsigned_by_recipient", "expired", "not_yet_valid", "above_ceiling",
             "not_releasable", "tlp_red", "kind_not_covered", "wrong_direction", "altered", "unpinned_key")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([("JPN", "KOR"), ("KOR", "JPN"), ("USA", "JPN"), ("KOR", "USA")]),
       st.sampled_from(list(Classification)), st.sets(st.sampled_from(MUTATIONS), max_size=3),
       st.booleans())
def test_allowed_iff_no_rule_is_broken(pair, ceiling, mutations, trilateral):
    """Start from a sharing that every rule allows, break a random subset of rules: allowed iff none broken."""
    o, r = pair
    parties = list(PARTIES) if trilateral else [o, r]
    level = ceiling
    if "above_ceiling" in mutations:
        if ceiling == Classification.TOP_SECRET:
            mutations = mutations - {"above_ceiling"}
        else:
            level = Classification(ceiling + 1)
    f, t = (r, o) if "wrong_direction" in mutations else (o, r)
    patterns = ["intel.*"] if "kind_not_covered" in mutations else ["warning.*", "test.note"]
    signers = [p for p in parties if not ("unsigned_by_originator" in mutations and p == o)
               and not ("unsigned_by_recipient" in mutations and p == r)]
    window = (T0, T1)
    if "expired" in mutations:
        window = (T0 - timedelta(days=400), T0 - timedelta(days=1))
    if "not_yet_valid" in mutations:
        window = (NOW + timedelta(days=1), T1)
    a = make(parties, [(f, t, patterns, ceiling)], signers, window)
    if "altered" in mutations:
        a = replace(a, title="changed after signing")
    rel = {o} | (set() if "not_releasable" in mutations else {r})
    m = Marking(level, frozenset(rel), "RED" if "tlp_red" in mutations else "AMBER")
    it = new_item("warning.track", {"track": 1}, m, o, NOW)
    pinned = dict(PINNED)
    if "unpinned_key" in mutations:
        pinned[r] = Identity.generate(r).public_key
    d = decide(it, r, [a], NOW, pinned_keys=pinned)
    assert d.allowed == (not mutations), (mutations, d.lines)


def test_reasons_are_typed_checks_whose_text_is_the_shown_one():
    from accord.core.policy import NO, OK, VERDICT

    d = decide(item(), "USA", [JK], NOW)
    assert [r.kind for r in d.reasons][-1] == VERDICT and not d.allowed
    assert [r.code for r in d.refusals] == ["marking", "no-agreement"]
    assert all(r.kind == NO and str(r) == f"no: {r.text}" for r in d.refusals)
    ok = decide(item(), "KOR", [JK], NOW)
    assert ok.refusals == [] and [r.code for r in ok.reasons if r.kind == OK] == ["marking", "agreement", "rule"]
    try:
        d.raise_if_denied(item(), "USA")
    except PolicyDenied as exc:
        assert exc.reasons == [str(r) for r in d.refusals] and exc.refusals == [r.text for r in d.refusals]
    else:
        raise AssertionError("a denied decision must raise")


def test_remembered_agreement_checks_follow_the_pinned_keys_and_the_clock():
    """The key and signature checks are remembered per agreement and pinned keys: a re-pinned
    key, a dropped pin or a later clock gives the new answer on the same agreement object."""
    assert decide(item(), "KOR", [JK], NOW, pinned_keys=PINNED).allowed
    other = {**PINNED, "KOR": Identity.generate("KOR").public_key}
    repinned = decide(item(), "KOR", [JK], NOW, pinned_keys=other)
    assert not repinned.allowed and any("unknown key" in r for r in repinned.lines)
    dropped = decide(item(), "KOR", [JK], NOW, pinned_keys={"JPN": PINNED["JPN"]})
    assert not dropped.allowed and any("no pinned key for KOR" in r for r in dropped.lines)
    assert decide(item(), "KOR", [JK], NOW, pinned_keys=PINNED).allowed  # back to the first pins
    late = decide(item(), "KOR", [JK], T1 + timedelta(seconds=1), pinned_keys=PINNED)
    assert not late.allowed and any("expired" in r for r in late.lines)
    forged = replace(JK, rules=JK.rules[:1] + JK.rules[:1])  # altered after signing: a new object
    assert not decide(item(), "KOR", [forged], NOW, pinned_keys=PINNED).allowed


FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)  # agreements keep milliseconds
WINDOWS = {"a year": (T0, T1), "all of time": (FIRST, LAST)}


@settings(max_examples=60, deadline=None)
@given(window=st.sampled_from(sorted(WINDOWS)), edge=st.sampled_from(["from", "until"]),
       offset_us=st.integers(-10**6, 10**6))
@example(window="a year", edge="from", offset_us=0).via("valid_from itself: in force")
@example(window="a year", edge="from", offset_us=-1).via("a microsecond before")
@example(window="a year", edge="until", offset_us=-1).via("the last microsecond in force")
@example(window="a year", edge="until", offset_us=0).via("valid_until itself: no longer")
@example(window="all of time", edge="from", offset_us=0).via("the year 1")
@example(window="all of time", edge="until", offset_us=-1).via("the last instant of 9999")
def test_in_force_exactly_from_valid_from_until_before_valid_until(window, edge, offset_us):
    """The window's edges (random days rarely land on them to the microsecond), up to the
    first and last instants a datetime holds."""
    start, end = WINDOWS[window]
    a = make(["JPN", "KOR"], [("JPN", "KOR", ["warning.*"], "SECRET")], ["JPN", "KOR"], valid=(start, end))
    try:
        now = (start if edge == "from" else end) + timedelta(microseconds=offset_us)
    except OverflowError:  # before the year 1 or after 9999: no such instant to decide at
        return
    assert decide(item(), "KOR", [a], now).allowed == (start <= now < end)
