"""Envelopes: seal, wire form, and one distinct error per way verification can fail."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.canonical import canonical_json
from accord.core.envelopes import Envelope, seal, verify_envelope
from accord.core.identity import Identity
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.errors import (CanonicalJSONError, EnvelopeError, ExpiredError, InputError, ReplayError,
                           SequenceGapError, SignatureError, UnknownKeyError, WrongRecipientError)

JPN, KOR, USA = (Identity.generate(p) for p in ("JPN", "KOR", "USA"))
KEYS = {"JPN": JPN.public_key, "USA": USA.public_key}
NOW = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
ITEM = new_item("warning.track", {"track": 7, "pos": [35.1, 139.2]}, Marking.parse("SECRET//REL TO JPN, KOR"),
                "JPN", NOW)


def verify(env, **kw):
    args = {"recipient": "KOR", "keys": KEYS, "last_seq": 4, "now": NOW + timedelta(seconds=2)} | kw
    return verify_envelope(env, **args)


def test_sealed_envelope_round_trips_and_verifies():
    env = seal(ITEM, "KOR", 5, JPN, NOW)
    back = Envelope.from_bytes(env.to_bytes())
    assert back == env and back.to_bytes() == env.to_bytes()
    item = verify(back)
    assert item == ITEM and item.digest() == ITEM.digest()


def test_wire_form_is_rfc8785_canonical():
    env = seal(ITEM, "KOR", 5, JPN, NOW)
    assert env.to_bytes() == canonical_json(json.loads(env.to_bytes()))
    assert env.signing_bytes() == canonical_json({k: v for k, v in env.to_json().items() if k != "signature"})


def _tamper(env, **changes):
    d = env.to_json() | changes
    return Envelope.from_json(d)


@pytest.mark.parametrize("changes", [
    {"seq": 6}, {"recipient": "USA"}, {"timestamp": "2026-06-01T12:00:01.000Z"},
    {"item": {**ITEM.to_json(), "body": {"track": 8, "pos": [35.1, 139.2]}}},
    {"item": {**ITEM.to_json(), "marking": {"classification": "SECRET", "rel_to": ["JPN", "KOR", "USA"]}}},
])
def test_altered_envelope_fails_signature(changes):
    with pytest.raises(SignatureError, match="forged or altered"):
        verify(_tamper(seal(ITEM, "KOR", 5, JPN, NOW), **changes))


def test_forged_by_another_key_fails_signature():
    mallory = Identity("JPN", Identity.generate("JPN").private_key)
    with pytest.raises(SignatureError):
        verify(seal(ITEM, "KOR", 5, mallory, NOW))


def test_unknown_sender():
    item = new_item("test.note", {}, Marking.parse("UNCLASSIFIED//REL TO KOR"), "KOR", NOW)
    with pytest.raises(UnknownKeyError, match="no pinned key for KOR"):
        verify(seal(item, "JPN", 1, KOR, NOW), recipient="JPN")


def test_wrong_recipient():
    with pytest.raises(WrongRecipientError, match="expected 'KOR', got 'USA'"):
        verify(seal(ITEM, "USA", 5, JPN, NOW))


def test_replay_and_gap():
    env = seal(ITEM, "KOR", 5, JPN, NOW)
    verify(env, last_seq=4)
    with pytest.raises(ReplayError):
        verify(env, last_seq=5)
    with pytest.raises(ReplayError):
        verify(env, last_seq=9)
    verify(env, last_seq=0, window=5)
    with pytest.raises(SequenceGapError):
        verify(env, last_seq=0, window=4)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 500), st.integers(0, 500), st.integers(1, 100))
def test_sequence_rule_property(seq, last_seq, window):
    env = seal(ITEM, "KOR", seq, JPN, NOW)
    if seq <= last_seq:
        with pytest.raises(ReplayError):
            verify(env, last_seq=last_seq, window=window)
    elif seq > last_seq + window:
        with pytest.raises(SequenceGapError):
            verify(env, last_seq=last_seq, window=window)
    else:
        assert verify(env, last_seq=last_seq, window=window) == ITEM


def test_expired_and_future():
    env = seal(ITEM, "KOR", 5, JPN, NOW)
    sent = env.timestamp
    verify(env, now=sent + timedelta(minutes=10))
    verify(env, now=sent - timedelta(seconds=30))
    with pytest.raises(ExpiredError, match="too old"):
        verify(env, now=sent + timedelta(minutes=10, milliseconds=1))
    with pytest.raises(ExpiredError, match="from the future"):
        verify(env, now=sent - timedelta(seconds=30, milliseconds=1))


def test_item_originator_must_be_sender():
    with pytest.raises(EnvelopeError, match="seals only its own items"):
        seal(ITEM, "KOR", 1, USA, NOW)
    # a USA node signing an envelope that carries an item claiming JPN as originator
    env = Envelope("USA", "KOR", 5, NOW, ITEM.to_json(), b"")
    env = Envelope("USA", "KOR", 5, env.timestamp, env.item, USA.sign(env.signing_bytes()))
    with pytest.raises(EnvelopeError, match="claims originator JPN"):
        verify(env)


def test_duplicate_keys_rejected():
    raw = seal(ITEM, "KOR", 5, JPN, NOW).to_bytes().decode()
    dup = raw.replace('"seq":5', '"seq":5,"seq":6')
    with pytest.raises(CanonicalJSONError, match="duplicate key 'seq'"):
        Envelope.from_bytes(dup)


@pytest.mark.parametrize("changes,field", [
    ({"seq": 0}, "seq"), ({"seq": True}, "seq"), ({"seq": "5"}, "seq"), ({"originator": "jp"}, "originator"),
    ({"timestamp": "noon"}, "timestamp"), ({"item": []}, "item"), ({"signature": "!!"}, "signature"),
    ({"signature": base64.b64encode(b"x" * 10).decode()}, "signature"), ({"format": "v2"}, "format"),
    ({"extra": 1}, "extra"),
])
def test_malformed_envelope_names_field(changes, field):
    d = seal(ITEM, "KOR", 5, JPN, NOW).to_json() | changes
    with pytest.raises(EnvelopeError) as err:
        Envelope.from_bytes(json.dumps(d))
    assert f"field {field!r}" in str(err.value)


BIG = "x" * 1_000_000


@pytest.mark.parametrize("changes,field", [
    ({"format": BIG}, "format"), ({"originator": BIG}, "originator"), ({"recipient": BIG}, "recipient"),
    ({"seq": int("9" * 4300)}, "seq"), ({"seq": 2**53}, "seq"), ({"seq": -(2**63)}, "seq"),
    ({"timestamp": BIG}, "timestamp"), ({BIG: 1}, "x" * 40), ({f"x{i}": 1 for i in range(10_000)}, "x0"),
])
def test_a_malformed_envelope_of_huge_values_is_refused_in_one_short_line(changes, field):
    """The refusal quoted the partner's value whole: a 1 MB format or originator, or 10,000
    unknown field names, made a 1 MB reason, sent back in the receipt and stored."""
    d = seal(ITEM, "KOR", 5, JPN, NOW).to_json() | changes
    with pytest.raises(EnvelopeError) as err:
        Envelope.from_bytes(json.dumps(d))
    assert f"field {err.value.field!r}" in str(err.value) and field[:30] in err.value.field
    assert len(str(err.value)) < 300 and "\n" not in str(err.value)


@pytest.mark.parametrize("seq", [1, 2**53 - 1])
def test_the_sequence_bounds_themselves_are_accepted(seq):
    d = seal(ITEM, "KOR", seq, JPN, NOW).to_json()
    assert Envelope.from_bytes(json.dumps(d)).seq == seq


def test_malformed_item_inside_signed_envelope():
    bad_item = {**ITEM.to_json(), "marking": "SECRET//REL TO KOR, JPN"}
    env = Envelope("JPN", "KOR", 5, NOW, bad_item, b"")
    env = Envelope("JPN", "KOR", 5, env.timestamp, bad_item, JPN.sign(env.signing_bytes()))
    with pytest.raises(InputError, match="alphabetical order"):
        verify(env)


def test_not_json():
    with pytest.raises(CanonicalJSONError, match="malformed JSON"):
        Envelope.from_bytes(b"{not json")
