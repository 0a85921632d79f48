"""Signed versions: hash chain, signatures, and who may change an agreed commitment."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from accord.core.identity import Identity
from accord.dialogue.model import Commitment, Level, Series, Status
from accord.dialogue.versions import SignedVersion, sign_version, verify_version
from accord.errors import NotOwnerError, SignatureError, StatusTransitionError, UnknownKeyError, VerificationError

JPN, KOR, USA = Identity.generate("JPN"), Identity.generate("KOR"), Identity.generate("USA")
KEYS = {"JPN": JPN.public_key, "KOR": KOR.public_key, "USA": USA.public_key}
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SERIES = Series("S", "T", ("JPN", "KOR"), Level.MINISTERS, 6, date(2025, 9, 8), ("KOR", "JPN")).validate()
C = Commitment("S-M1-C1", "S", "S-M1", "KOR", "Hold vice-ministerial talks", date(2026, 6, 30))


def _verify(v, prev):
    return verify_version(v, prev=prev, series=SERIES, key_for=KEYS.__getitem__)


def _agreed():
    v1 = sign_version(JPN, C, prev=None, now=T0)          # JPN records the proposal
    v2 = sign_version(KOR, replace(C, status=Status.AGREED), prev=v1, now=T0 + timedelta(1))  # owner agrees
    return v1, v2


def test_owner_agrees_and_chain_verifies():
    v1, v2 = _agreed()
    assert _verify(v1, None) is v1 and _verify(v2, v1) is v2
    assert v2.prev == v1.digest() and v2.version == 2
    assert v2.item_id == "KOR:dialogue.commitment:S-M1-C1.v2"
    assert SignedVersion.from_item(v2.to_item(_marking())) == v2


def _marking():
    from accord.core.markings import Classification, Marking
    return Marking(Classification.UNCLASSIFIED, frozenset({"JPN", "KOR"}))


def test_non_owner_cannot_agree_on_the_owners_behalf():
    v1 = sign_version(JPN, C, prev=None, now=T0)
    v2 = sign_version(JPN, replace(C, status=Status.AGREED), prev=v1, now=T0)
    with pytest.raises(NotOwnerError, match="only its owner KOR can agree it, not JPN"):
        _verify(v2, v1)


def test_change_to_agreed_commitment_by_non_owner_is_refused():
    v1, v2 = _agreed()
    v3 = sign_version(JPN, replace(C, status=Status.AGREED, due=date(2027, 1, 1)), prev=v2, now=T0)
    with pytest.raises(NotOwnerError, match="needs the signature of its owner KOR, not JPN"):
        _verify(v3, v2)
    ok = sign_version(KOR, replace(C, status=Status.IN_PROGRESS, evidence=("talks held",)), prev=v2, now=T0)
    assert _verify(ok, v2) is ok


def test_party_outside_the_series_cannot_sign():
    v1 = sign_version(USA, C, prev=None, now=T0)
    with pytest.raises(NotOwnerError, match="signer USA is not a party of series S"):
        _verify(v1, None)


def test_a_partners_series_title_or_venue_that_is_not_one_short_line_is_refused():
    """The series title is repeated in every meeting's calendar SUMMARY: a partner's 1 MB title over
    a thousand meetings would make a gigabyte export. Titles, venues, places and attendee roles are
    one line of at most 200 characters; a version breaking that is refused, however well signed."""
    from accord.dialogue.model import Attendee, Meeting, MeetingStatus
    from accord.errors import InputError

    for title in ("x" * 1_000_000, "x" * 201, "Talks\r\nEND:VEVENT", "Talks\x00"):
        with pytest.raises(InputError, match="one line of at most 200 characters") as caught:
            verify_version(sign_version(KOR, replace(SERIES, title=title), prev=None, now=T0), prev=None,
                           series=None, key_for=KEYS.__getitem__)
        assert caught.value.field == "title"
    assert verify_version(sign_version(KOR, replace(SERIES, title="x" * 200), prev=None, now=T0), prev=None,
                          series=None, key_for=KEYS.__getitem__)
    with pytest.raises(InputError, match="one line") as caught:
        replace(SERIES, venues=(("JPN", "x" * 201),)).validate()
    assert caught.value.field == "venues.JPN"
    meeting = Meeting("S-M1", "S", 1, MeetingStatus.HELD, date(2025, 9, 8), "KOR", "Seoul")
    for bad, field in ((replace(meeting, place="a\nb"), "place"),
                       (replace(meeting, attendees=(Attendee("JPN", "y" * 201),)), "attendees[0].role")):
        with pytest.raises(InputError, match="one line") as caught:
            _verify(sign_version(KOR, bad, prev=None, now=T0), None)
        assert caught.value.field == field


def test_a_partners_dates_and_meeting_numbers_stay_where_exports_can_count():
    """A meeting on 9999-12-31 made the calendar export fail (its DTEND, the next day, is past
    what a date holds), and one numbered 1,000,000 every status report (the next meeting by
    cadence, 500,000 years on). Dates are in the years 1900 to 2999 and a meeting's number is
    at most 1,000; a version breaking that is refused, however well signed."""
    from accord.dialogue.model import Meeting, MeetingStatus
    from accord.errors import InputError

    meeting = Meeting("S-M1", "S", 1, MeetingStatus.HELD, date(2025, 9, 8), "KOR", "Seoul")
    bad = [(replace(meeting, date=date(9999, 12, 31)), "date"), (replace(meeting, number=1_000_000), "number"),
           (replace(meeting, start=datetime(9999, 12, 31, 23, 30, tzinfo=UTC)), "start"),
           (replace(C, due=date(9999, 12, 31)), "due"), (replace(C, due=date(1, 1, 1)), "due")]
    for value, field in bad:
        with pytest.raises(InputError) as caught:
            _verify(sign_version(KOR, value, prev=None, now=T0), None)
        assert caught.value.field == field
    with pytest.raises(InputError) as caught:
        replace(SERIES, first_meeting=date(9999, 1, 1)).validate()
    assert caught.value.field == "first_meeting"
    assert _verify(sign_version(KOR, replace(meeting, number=1000, date=date(2999, 12, 31)), prev=None, now=T0), None)


def test_forged_signature_and_unknown_key_are_refused():
    v1, v2 = _agreed()
    forged = replace(v2, signature=JPN.sign(b"x"))
    with pytest.raises(SignatureError):
        _verify(forged, v1)
    with pytest.raises(UnknownKeyError, match="no pinned key for signer KOR"):
        verify_version(v2, prev=v1, series=SERIES, key_for={"JPN": JPN.public_key}.__getitem__)


def test_tampered_state_or_broken_chain_is_refused():
    v1, v2 = _agreed()
    tampered = replace(v2, state={**v2.state, "text": "Something else"})
    with pytest.raises(SignatureError):
        _verify(tampered, v1)
    other_v1 = sign_version(JPN, replace(C, text="different"), prev=None, now=T0)
    with pytest.raises(VerificationError, match="prev does not name version 1"):
        _verify(v2, other_v1)


def test_status_jump_skipping_agreement_is_refused_even_when_signed_by_owner():
    v1 = sign_version(JPN, C, prev=None, now=T0)
    v2 = sign_version(KOR, replace(C, status=Status.DONE), prev=v1, now=T0)
    with pytest.raises(StatusTransitionError, match="skips agreement"):
        _verify(v2, v1)


def test_evidence_cannot_be_removed():
    v1, v2 = _agreed()
    v3 = sign_version(KOR, replace(C, status=Status.IN_PROGRESS, evidence=("a",)), prev=v2, now=T0)
    v4 = sign_version(KOR, replace(C, status=Status.IN_PROGRESS, evidence=()), prev=v3, now=T0)
    with pytest.raises(VerificationError, match="never removed"):
        _verify(v4, v3)


from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.items import Item
from accord.errors import AccordError

_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(str.strip)


@settings(max_examples=40, deadline=None)
@given(text=_text, due=st.dates(date(2000, 1, 1), date(2100, 12, 31)), owner=st.sampled_from(["JPN", "KOR"]),
       evidence=st.lists(_text, max_size=3), tamper=_text)
def test_signed_commitment_round_trips_through_item_json_and_any_edit_breaks_it(text, due, owner, evidence, tamper):
    c = Commitment("S-M1-C1", "S", "S-M1", owner, text, due, Status.PROPOSED, tuple(evidence))
    signer = JPN if owner == "KOR" else KOR  # proposed by the other party
    v = sign_version(signer, c, prev=None, now=T0)
    wire = Item.from_json(v.to_item(_marking()).to_json())
    back = SignedVersion.from_item(wire)
    assert back == v and back.value == c and _verify(back, None) is back
    if tamper != text:
        edited = replace(back, state={**back.state, "text": tamper})
        with pytest.raises(AccordError):
            _verify(edited, None)
