"""A partner's dialogue version whose signature is good but whose content is malformed (wrong
types, unknown enum values, an unparseable ``signed_at``) is rejected on receipt, with a reason —
it never breaks the receiving node's dialogue reads (every read syncs first) nor its exports."""

from dataclasses import replace

import pytest
from test_dialogue_store import SERIES, T0, pair  # noqa: F401 - the fixture

from accord.core.envelopes import seal, verify_envelope
from accord.core.items import Item
from accord.dialogue.report import render_html, render_markdown
from accord.dialogue.versions import SignedVersion, sign_version
from accord.errors import VerificationError

MEETING = {"id": "S1-M1", "series_id": "S1", "number": 1, "status": "held", "date": "2025-08-31",
           "host": "JPN", "place": "", "start": None, "duration_minutes": None, "attendees": [],
           "agenda": [], "minutes": "", "decisions": [], "outcomes": []}
COMMITMENT = {"id": "S1-C1", "series_id": "S1", "meeting_id": "S1-M1", "owner": "JPN", "text": "t",
              "due": "2026-01-01", "status": "proposed", "evidence": [], "links": []}
SIGNED_AT = "2025-09-08T12:00:00.000Z"

STATES = {
    "series level unknown": ("dialogue.series", "S2", {**SERIES, "id": "S2", "level": "bogus"}),
    "series title a number": ("dialogue.series", "S2", {**SERIES, "id": "S2", "title": 5}),
    "series venues a list": ("dialogue.series", "S2", {**SERIES, "id": "S2", "venues": [1]}),
    "series cadence a float": ("dialogue.series", "S2", {**SERIES, "id": "S2", "cadence_months": 6.5}),
    "meeting duration a string": ("dialogue.meeting", "S1-M1", {**MEETING, "duration_minutes": "x"}),
    "meeting attendee a string": ("dialogue.meeting", "S1-M1", {**MEETING, "attendees": ["x"]}),
    "meeting date not a date": ("dialogue.meeting", "S1-M1", {**MEETING, "date": "nope"}),
    "meeting place null": ("dialogue.meeting", "S1-M1", {**MEETING, "place": None}),
    "meeting number a float": ("dialogue.meeting", "S1-M1", {**MEETING, "number": 1.5}),
    "meeting number true": ("dialogue.meeting", "S1-M1", {**MEETING, "number": True}),
    "meeting agenda of objects": ("dialogue.meeting", "S1-M1", {**MEETING, "agenda": [1, {"a": 2}]}),
    "meeting minutes a list": ("dialogue.meeting", "S1-M1", {**MEETING, "minutes": ["x"]}),
    "decision text a number": ("dialogue.meeting", "S1-M1", {**MEETING, "decisions": [{"id": "D1", "text": 3}]}),
    "commitment text a list": ("dialogue.commitment", "S1-C1", {**COMMITMENT, "text": ["a"]}),
    "commitment status unknown": ("dialogue.commitment", "S1-C1", {**COMMITMENT, "status": "x"}),
    "commitment evidence a number": ("dialogue.commitment", "S1-C1", {**COMMITMENT, "evidence": [1]}),
    # written verbatim into the calendar's RELATED-TO: a NUL or a vertical tab in a .ics file
    "commitment meeting_id not a record id": ("dialogue.commitment", "S1-C1",
                                              {**COMMITMENT, "meeting_id": "M\x0bX\x00"}),
    "link ref a number": ("dialogue.commitment", "S1-C1", {**COMMITMENT, "links": [{"kind": "url", "ref": 5}]}),
}


def _send(sj, sk, clock, kind, record_id, state, signed_at=SIGNED_AT):
    """JPN signs ``state`` as version 1 of ``record_id`` and its envelope reaches KOR's item store."""
    unsigned = SignedVersion(kind, record_id, 1, None, "S1" if kind != "dialogue.series" else record_id,
                             "JPN", signed_at, state, None, b"")
    v = replace(unsigned, signature=sj.node.identity.sign(unsigned.signing_bytes))
    item = Item(v.kind, v.item_id, v.signer, sj._marking_of("S1"), T0, v.to_body())
    env = seal(item, "KOR", 1, sj.node.identity, clock.now())
    sk.node.put_item(verify_envelope(env, recipient="KOR", keys={"JPN": sj.node.identity.public_key},
                                     last_seq=0, now=clock.now()))
    return item.id


def _reads_work(sk):
    sk.list_series()
    sk.meetings()
    sk.commitments()
    sk.due(T0)
    rep = sk.report(T0)
    render_html(rep)
    render_markdown(rep)
    assert sk.ical("S1").startswith(b"BEGIN:VCALENDAR")


@pytest.mark.parametrize("case", list(STATES))
def test_a_malformed_partner_state_is_rejected_and_reads_still_work(pair, case):  # noqa: F811
    sj, sk, deliver, clock = pair
    sj.create_series(SERIES)
    deliver(sj.node, "KOR")
    assert sk.sync() == (1, 0)  # the series
    kind, record_id, state = STATES[case]
    item_id = _send(sj, sk, clock, kind, record_id, state)
    assert sk.sync() == (0, 1)
    (rej,) = sk.rejected()
    assert rej["item_id"] == item_id and "Traceback" not in rej["reason"]
    assert not sk.exists(record_id)
    _reads_work(sk)


@pytest.mark.parametrize("signed_at", ["garbage", 5, "2025-09-08T12:00:00", "9999-12-31T23:59:59-14:00"])
def test_a_partner_version_with_a_bad_signing_time_is_rejected(pair, signed_at):  # noqa: F811
    sj, sk, deliver, clock = pair
    sj.create_series(SERIES)
    deliver(sj.node, "KOR")
    assert sk.sync() == (1, 0)  # the series
    _send(sj, sk, clock, "dialogue.meeting", "S1-M1", MEETING, signed_at=signed_at)
    assert sk.sync() == (0, 1)
    (rej,) = sk.rejected()
    assert "signed_at" in rej["reason"]
    assert not sk.exists("S1-M1")
    _reads_work(sk)


@pytest.mark.parametrize("parties", [("KOR", "USA"), ("JPN", "KOR", "USA"), ("KOR", "CHN")])
def test_a_partner_cannot_change_the_parties_of_a_series(pair, parties):  # noqa: F811
    """A series version signed by one party that drops another (or brings in a third) is rejected:
    once indexed, the dropped party could neither write in the series nor sign it back."""
    sj, sk, deliver, clock = pair
    sj.create_series(SERIES)
    deliver(sj.node, "KOR")
    assert sk.sync() == (1, 0)
    prev = sk.latest("S1")
    hijacked = replace(prev.value, parties=parties, host_rotation=("KOR",), venues=(("KOR", "Seoul"),))
    v = sign_version(sk.node.identity, hijacked, prev=prev, now=clock.now())
    env = seal(v.to_item(sk._marking_of("S1")), "JPN", 1, sk.node.identity, clock.now())
    sj.node.put_item(verify_envelope(env, recipient="JPN", keys={"KOR": sk.node.identity.public_key},
                                     last_seq=0, now=clock.now()))
    assert sj.sync() == (0, 1)
    (rej,) = sj.rejected()
    assert "parties" in rej["reason"]
    assert sj.series("S1").parties == ("JPN", "KOR")
    sj.record_meeting("S1", {"date": "2025-08-31"}, share=False)  # JPN still writes in its series


def test_a_partner_cannot_move_a_record_to_another_series(pair):  # noqa: F811
    """A version's series is its first version's: a meeting or commitment moved to another series
    would leave the view of the parties of the first (and be judged by another's parties)."""
    sj, sk, deliver, clock = pair
    sj.create_series(SERIES)
    sj.create_series({**SERIES, "id": "S2", "title": "Other talks"})
    sj.record_meeting("S1", {"date": "2025-08-31", "commitments": [{"owner": "JPN", "text": "t", "due": "2026-01-01"}]})
    deliver(sj.node, "KOR")
    sk.sync()
    sk.record_meeting("S2", {"date": "2025-08-31"}, share=False)
    for record_id in ("S1-M1", "S1-M1-C1"):
        prev = sk.latest(record_id)
        moved = replace(prev.value, series_id="S2", **({"meeting_id": "S2-M1"} if record_id.endswith("C1") else {}))
        v = sign_version(sk.node.identity, moved, prev=prev, now=clock.now())
        with pytest.raises(VerificationError, match="series"):
            sk._commit([(v, sk._marking_of(record_id))], share=False)
        assert sk.latest(record_id).value.series_id == "S1"
