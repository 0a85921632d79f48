"""A partner's dialogue version whose signature is good but whose content is malformed (wrong
types, unknown enum values, an unparseable ``signed_at``) is rejected on receipt, with a reason —
it never breaks the receiving node's dialogue reads (every read syncs first) nor its exports."""

from dataclasses import replace
from datetime import date

import pytest
from test_dialogue_store import SERIES, T0, pair  # noqa: F401 - the fixture

from accord.core.envelopes import seal, verify_envelope
from accord.core.items import Item
from accord.dialogue.report import render_html, render_markdown
from accord.dialogue.store import DialogueStore
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


# --- versions that wait: a partner's version whose predecessor (or series) never comes ---------

def _signed(sj, record_id, version, *, kind="dialogue.meeting", state=None, prev="0" * 64, series_id="S1"):
    """Version ``version`` of ``record_id``, signed by JPN (its ``prev`` names nothing held)."""
    number = int(record_id.rsplit("M", 1)[1]) if kind == "dialogue.meeting" else 1
    state = state or {**MEETING, "id": record_id, "number": number, "series_id": series_id}
    unsigned = SignedVersion(kind, record_id, version, prev, series_id, "JPN", SIGNED_AT, state, None, b"")
    v = replace(unsigned, signature=sj.node.identity.sign(unsigned.signing_bytes))
    return Item(v.kind, v.item_id, v.signer, sj._marking_of("S1"), T0, v.to_body())


@pytest.fixture
def counted(monkeypatch):
    """How many received items a sync parses and how many versions it tries to index."""
    counts = {"parsed": 0, "tried": 0}
    real_parse, real_try = SignedVersion.from_item.__func__, DialogueStore._try_index

    def parse(cls, item):
        counts["parsed"] += 1
        return real_parse(cls, item)

    def try_index(self, v, item):
        counts["tried"] += 1
        return real_try(self, v, item)

    monkeypatch.setattr(SignedVersion, "from_item", classmethod(parse))
    monkeypatch.setattr(DialogueStore, "_try_index", try_index)
    return counts


def _series_at_kor(sj, sk, deliver):
    sj.create_series(SERIES)
    deliver(sj.node, "KOR")
    assert sk.sync() == (1, 0)


def test_versions_whose_predecessor_never_comes_are_not_tried_again_by_each_read(pair, counted):  # noqa: F811
    sj, sk, deliver, _ = pair
    _series_at_kor(sj, sk, deliver)
    sk.node.put_items([_signed(sj, f"S1-M{i}", 5) for i in range(1, 201)])
    counted.update(parsed=0, tried=0)
    assert sk.sync() == (0, 0)  # they wait (not rejected: versions may arrive out of order)
    assert counted == {"parsed": 200, "tried": 200}
    counted.update(parsed=0, tried=0)
    assert sk.sync() == (0, 0)
    _reads_work(sk)
    assert counted == {"parsed": 0, "tried": 0}  # nothing new: nothing parsed or tried again
    assert sk.rejected() == [] and not sk.exists("S1-M1")


def test_a_predecessor_arriving_later_releases_its_successors(pair, counted):  # noqa: F811
    """v3 and v2 of a meeting arrive before v1, and a meeting before its series: each waits, is
    not tried while nothing it waits for arrives, and is indexed in the sync that brings it."""
    sj, sk, deliver, clock = pair
    sj.create_series(SERIES, share=False)
    sj.schedule("S1", count=1, after=date(2025, 8, 1), share=False)  # S1-M1 v1 (planned)
    sj.record_meeting("S1", {"number": 1, "date": "2025-08-31"}, share=False)  # v2 (held)
    hist = sj.history("S1-M1")
    v3 = sign_version(sj.node.identity, replace(hist[-1].value, minutes="later"), prev=hist[-1], now=clock.now())
    items = [sj.node.get_item(v.item_id) for v in hist] + [v3.to_item(sj._marking_of("S1"))]
    series = sj.node.get_item(sj.latest("S1").item_id)
    sk.node.put_items(items[1:])  # v2, v3
    assert sk.sync() == (0, 0)
    sk.node.put_item(items[0])  # v1: its series is not here yet
    assert sk.sync() == (0, 0)
    counted.update(parsed=0, tried=0)
    assert sk.sync() == (0, 0) and sk.list_series() == []
    assert counted == {"parsed": 0, "tried": 0}
    sk.node.put_item(series)
    assert sk.sync() == (4, 0)  # the series, then v1, v2, v3 of the meeting, each released by the one before
    assert counted == {"parsed": 4, "tried": 4}
    assert [v.version for v in sk.history("S1-M1")] == [1, 2, 3] and sk.rejected() == []
    assert sk.node.conn.execute("SELECT COUNT(*) FROM dialogue_waiting").fetchone()[0] == 0


def test_a_version_released_by_a_local_write_is_tried_by_the_next_sync(pair, counted):  # noqa: F811
    """JPN's meeting for a series that KOR creates itself afterwards (same id, both parties)."""
    sj, sk, deliver, _ = pair
    sj.create_series(SERIES, share=False)
    sk.node.put_item(_signed(sj, "S1-M1", 1, prev=None))
    assert sk.sync() == (0, 0)  # waits for its series
    counted.update(parsed=0, tried=0)
    assert sk.sync() == (0, 0) and counted == {"parsed": 0, "tried": 0}
    sk.create_series(SERIES, share=False)  # the series, written on KOR
    assert sk.sync() == (1, 0) and counted == {"parsed": 1, "tried": 1}
    assert sk.latest("S1-M1").signer == "JPN"


def test_at_most_so_many_versions_of_one_originator_wait(pair, monkeypatch):  # noqa: F811
    from accord.dialogue import waiting
    monkeypatch.setattr(waiting, "MAX_WAITING_PER_ORIGINATOR", 3)
    sj, sk, deliver, _ = pair
    _series_at_kor(sj, sk, deliver)
    before = sk.node.ledger.size
    sk.node.put_items([_signed(sj, f"S1-M{i}", 5) for i in range(1, 6)])
    assert sk.sync() == (0, 2)  # three wait, the other two are rejected
    rejected = sk.rejected()
    assert [r["item_id"] for r in rejected] == ["JPN:dialogue.meeting:S1-M4.v5", "JPN:dialogue.meeting:S1-M5.v5"]
    assert all("waits for version 4 of S1-M" in r["reason"] and "JPN has 3 versions waiting already (at most 3 "
               "per originator)" in r["reason"] for r in rejected)
    ledgered = [e for e in sk.node.ledger.entries(before) if e.type == "item.rejected"]
    assert [e.data["item_id"] for e in ledgered] == [r["item_id"] for r in rejected]
    assert sk.sync() == (0, 0)  # rejected for good; the three still wait
    assert waiting.MAX_WAITING_PER_ORIGINATOR < 1001 and sk.node.conn.execute(
        "SELECT COUNT(*) FROM dialogue_waiting WHERE originator = 'JPN'").fetchone()[0] == 3


@pytest.mark.parametrize("version", [0, -1, 2**31, 2**53 - 1])
def test_a_version_number_out_of_range_is_rejected(pair, version):  # noqa: F811
    """Version 0 once broke every read (a traceback in sync); a huge one waited for ever."""
    sj, sk, deliver, _ = pair
    _series_at_kor(sj, sk, deliver)
    sk.node.put_item(_signed(sj, "S1-M1", version))
    assert sk.sync() == (0, 1)
    (rej,) = sk.rejected()
    assert "version must be from 1 to 2147483647" in rej["reason"]
    _reads_work(sk)


def _meeting_at_kor(sj, sk, deliver):
    """Series S1 and its meeting S1-M1, made at JPN, indexed at KOR."""
    sj.create_series(SERIES)
    sj.schedule("S1", count=1, after=date(2025, 8, 1))
    deliver(sj.node, "KOR")
    assert sk.sync() == (2, 0)


def test_a_later_version_naming_a_series_that_is_not_here_is_rejected_not_kept_waiting(pair):  # noqa: F811
    sj, sk, deliver, _ = pair
    _meeting_at_kor(sj, sk, deliver)
    prev = sk.latest("S1-M1")
    state = {**prev.state, "series_id": "S9", "id": "S1-M1"}
    sk.node.put_item(_signed(sj, "S1-M1", 2, state=state, prev=prev.digest(), series_id="S9"))
    assert sk.sync() == (0, 1)
    assert "a record stays in its series S1" in sk.rejected()[0]["reason"]


def test_a_dialogue_schema_at_version_1_gains_the_waiting_table(tmp_path):
    from accord.clock import ManualClock
    from accord.dialogue.store import DDL
    from accord.node import Node
    from accord.store.migrations import migrate, versions

    node = Node.init(tmp_path / "kor", "KOR", ManualClock(T0))
    try:
        migrate(node.conn, "dialogue", [DDL], lock=node.write_lock)  # a database made before the table
        assert versions(node.conn)["dialogue"] == 1
        DialogueStore(node)
        assert versions(node.conn)["dialogue"] == 2
        assert node.conn.execute("SELECT COUNT(*) FROM dialogue_waiting").fetchone()[0] == 0
    finally:
        node.close()


def test_a_version_already_waiting_is_not_counted_against_its_own_place(pair, monkeypatch):  # noqa: F811
    """Two processes serving the node (PostgreSQL) sync at once: one scanned an item before the
    other made it wait, and tries it after. At the cap, its own row counted: it was rejected while
    still waiting (in both tables; indexed too once released)."""
    from accord.dialogue import waiting
    from accord.store.base import transaction
    monkeypatch.setattr(waiting, "MAX_WAITING_PER_ORIGINATOR", 3)
    sj, sk, deliver, _ = pair
    _series_at_kor(sj, sk, deliver)
    items = [_signed(sj, f"S1-M{i}", 5) for i in range(1, 4)]
    sk.node.put_items(items)
    assert sk.sync() == (0, 0)  # the three wait: the cap is reached
    with sk.node.write_lock, transaction(sk.conn):  # the other process's sync, tried after the first's commit
        assert sk._try_index(SignedVersion.from_item(items[0]), items[0]) is None
    assert sk.rejected() == []
    assert sk.node.conn.execute("SELECT COUNT(*) FROM dialogue_waiting").fetchone()[0] == 3


def test_a_version_naming_a_record_that_is_not_a_series_as_its_series_is_rejected(pair):  # noqa: F811
    """It waited for ever for a series of that id, holding a place under the originator's cap."""
    sj, sk, deliver, _ = pair
    _meeting_at_kor(sj, sk, deliver)
    sk.node.put_item(_signed(sj, "S1-M2", 1, series_id="S1-M1"))
    assert sk.sync() == (0, 1)
    assert "series_id 'S1-M1' names a dialogue record that is not a series" in sk.rejected()[0]["reason"]
    _reads_work(sk)
