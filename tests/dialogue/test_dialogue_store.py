"""Dialogue records on real nodes: shared through federation, identical on both sides, owner-only
changes, all-or-nothing writes, forged or forked versions refused on receipt."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from accord.clock import ManualClock
from accord.core.agreements import new_agreement, sign_agreement
from accord.core.envelopes import seal, verify_envelope
from accord.dialogue.example import load_example, record_digests
from accord.dialogue.model import Status
from accord.dialogue.store import DialogueStore
from accord.dialogue.versions import sign_version
from accord.errors import FederationError, InputError, NotFoundError, NotOwnerError, StatusTransitionError
from accord.federation import Federation, InProcessNetwork
from accord.federation.schema import ensure_federation_schema
from accord.node import Node

T0 = datetime(2025, 9, 8, 12, 0, tzinfo=UTC)


@pytest.fixture
def pair(tmp_path):
    clock = ManualClock(T0)
    j = Node.init(tmp_path / "jpn", "JPN", clock)
    k = Node.init(tmp_path / "kor", "KOR", clock)
    j.add_partner("KOR", k.identity.public_b64)
    k.add_partner("JPN", j.identity.public_b64)
    a = new_agreement("jpn-kor-dialogue", ["JPN", "KOR"], {"JPN": j.identity.public_key, "KOR": k.identity.public_key},
                      [("JPN", "KOR", ["dialogue.*"], "RESTRICTED"), ("KOR", "JPN", ["dialogue.*"], "RESTRICTED")],
                      T0 - timedelta(days=1), T0 + timedelta(days=1000))
    a = sign_agreement(sign_agreement(a, j.identity), k.identity)
    j.add_agreement(a)
    k.add_agreement(a)
    for n in (j, k):  # federation caches "schema ready" by id(conn), which a new test may reuse
        ensure_federation_schema(n.conn)
    net = InProcessNetwork()
    net.attach(j)
    net.attach(k)
    feds = {"JPN": Federation(j, net), "KOR": Federation(k, net)}

    def deliver(node, to):
        assert feds[node.party].sync(to, heads=False)[to] is None

    yield DialogueStore(j), DialogueStore(k), deliver, clock
    j.close()
    k.close()


SERIES = {"id": "S1", "title": "Working-level talks", "parties": ["JPN", "KOR"], "level": "working-level",
          "cadence_months": 6, "first_meeting": "2025-08-31", "host_rotation": ["JPN", "KOR"],
          "venues": {"JPN": "Tokyo", "KOR": "Seoul"}}


def test_example_record_is_identical_on_both_nodes_after_sharing(pair):
    sj, sk, deliver, _ = pair
    res = load_example(sj, sk, deliver)
    assert res["identical"] and res["not_shared"] == []
    assert res["records"] == 11  # series + meeting + 9 commitments
    status = res["commitments"]
    assert status["JPN-KOR-DMM-M1-C6"] == "done" and status["JPN-KOR-DMM-M1-C2"] == "in_progress"
    assert status["JPN-KOR-DMM-M1-C8"] == "proposed"
    # item by item, byte for byte: the same canonical digests on both nodes
    ids = [r[0] for r in sj.conn.execute("SELECT item_id FROM dialogue_versions ORDER BY item_id")]
    assert ids == [r[0] for r in sk.conn.execute("SELECT item_id FROM dialogue_versions ORDER BY item_id")]
    for item_id in ids:
        assert sj.node.get_item(item_id).digest() == sk.node.get_item(item_id).digest()
    # KOR's agreement of its own commitment is signed by KOR, and JPN verified it on receipt
    hist = sj.history("JPN-KOR-DMM-M1-C2")
    assert [(v.signer, v.value.status) for v in hist] == [
        ("JPN", Status.PROPOSED), ("KOR", Status.AGREED), ("KOR", Status.IN_PROGRESS)]
    assert sj.rejected() == [] and sk.rejected() == []
    # every version is ledgered on the node that made it and on the node that received it
    events = [e.type for e in sj.node.ledger.entries()]
    assert "item.created" in events and "item.received" in events and "item.shared" in events


def test_non_owner_edit_of_agreed_commitment_is_refused_and_nothing_is_written(pair):
    sj, sk, deliver, _ = pair
    load_example(sj, sk, deliver)
    before = record_digests(sj)
    with pytest.raises(NotOwnerError, match="owner KOR.*this node is JPN"):
        sj.update_commitment("JPN-KOR-DMM-M1-C2", {"status": "done"})
    assert record_digests(sj) == before
    # the owner may, and the change reaches JPN
    sk.update_commitment("JPN-KOR-DMM-M1-C2", {"status": "done", "add_evidence": ["talks held 2026-05"]})
    deliver(sk.node, "JPN")
    c = sj.latest("JPN-KOR-DMM-M1-C2").value
    assert c.status == Status.DONE and c.evidence == ("talks held 2026-05",)
    # re-sharing is idempotent and keeps both records identical
    again = sk.share_all()
    assert again.shared and {r for _, _, r in again.shared} <= {"queued", "already_queued"}
    deliver(sk.node, "JPN")
    assert record_digests(sj) == record_digests(sk) and sj.rejected() == []


def test_forged_non_owner_version_arriving_from_a_partner_is_rejected_on_receipt(pair):
    sj, sk, deliver, clock = pair
    load_example(sj, sk, deliver)
    # JPN signs a change to a KOR-owned agreed commitment and slips it past its own store
    prev = sj.latest("JPN-KOR-DMM-M1-C9")
    bad = sign_version(sj.node.identity, replace(prev.value, status=Status.LAPSED), prev=prev, now=clock.now())
    item = bad.to_item(sj._marking_of("JPN-KOR-DMM-M1-C9"))
    # transfer by a core envelope: seal at JPN, verify at KOR, store
    env = seal(item, "KOR", 1, sj.node.identity, clock.now())
    got = verify_envelope(env, recipient="KOR", keys={"JPN": sj.node.identity.public_key}, last_seq=0,
                          now=clock.now())
    sk.node.put_item(got)
    assert sk.sync() == (0, 1)
    (rej,) = sk.rejected()
    assert rej["item_id"] == item.id and "needs the signature of its owner KOR, not JPN" in rej["reason"]
    assert sk.latest("JPN-KOR-DMM-M1-C9").value.status == Status.AGREED  # unchanged


def test_bad_meeting_input_names_the_field_and_saves_nothing(pair):
    sj, _, _, _ = pair
    sj.create_series(SERIES, share=False)
    rows = sj.conn.execute("SELECT COUNT(*) FROM dialogue_versions").fetchone()[0]
    items = len(sj.node.items())
    meeting = {"date": "2025-08-31", "commitments": [
        {"owner": "JPN", "text": "ok", "due": "2026-01-31"},
        {"owner": "CHN", "text": "unknown party", "due": "2026-01-31"}]}
    with pytest.raises(InputError, match="unknown party 'CHN'") as exc:
        sj.record_meeting("S1", meeting, share=False)
    assert exc.value.field == "commitments[1].owner"
    with pytest.raises(InputError, match="Field required") as exc:
        sj.record_meeting("S1", {"date": "2025-08-31", "commitments": [{"owner": "JPN", "text": "x"}]})
    assert exc.value.field == "commitments.0.due" or exc.value.field == "commitments[0].due"
    with pytest.raises(InputError, match="date") as exc:
        sj.record_meeting("S1", {"date": "2025-02-30"})
    assert exc.value.field == "date"
    assert sj.conn.execute("SELECT COUNT(*) FROM dialogue_versions").fetchone()[0] == rows
    assert len(sj.node.items()) == items


def test_failure_inside_the_write_rolls_back_every_item(pair, monkeypatch):
    sj, _, _, _ = pair
    sj.create_series(SERIES, share=False)
    items = len(sj.node.items())
    calls = []
    real = sj._index

    def failing(v, item):
        calls.append(v.record_id)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        real(v, item)

    monkeypatch.setattr(sj, "_index", failing)
    meeting = {"date": "2025-08-31", "commitments": [{"owner": "JPN", "text": f"c{i}", "due": "2026-01-31"}
                                                     for i in range(3)]}
    with pytest.raises(RuntimeError):
        sj.record_meeting("S1", meeting, share=False)
    assert len(sj.node.items()) == items
    assert sj.conn.execute("SELECT COUNT(*) FROM dialogue_versions WHERE kind != 'dialogue.series'").fetchone()[0] == 0


@pytest.mark.parametrize("failure", [RuntimeError("process killed while queueing"),
                                     FederationError("sealing failed while queueing")])
def test_a_write_and_its_sharing_commit_together(pair, monkeypatch, failure):
    # a failure while queueing a write's versions for the partner undoes the write too: before,
    # the versions were committed first and queued after, so a crash in between left them
    # stored and never sent (until someone ran `accord dialogue share`). An Accord error there
    # is a failure too, not a refusal to report ("not shared") while the write commits alone.
    from accord.federation import wire

    sj, sk, deliver, _ = pair
    sj.create_series(SERIES)
    items, ledger = len(sj.node.items()), sj.node.ledger.size
    outbox = sj.conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0]
    real = wire.seal_envelope

    def failing(*args, **kwargs):
        raise failure

    monkeypatch.setattr(wire, "seal_envelope", failing)
    meeting = {"date": "2025-08-31", "commitments": [{"owner": "JPN", "text": "c0", "due": "2026-01-31"}]}
    with pytest.raises(type(failure), match="while queueing"):
        sj.record_meeting("S1", meeting)
    assert len(sj.node.items()) == items and sj.node.ledger.size == ledger
    assert sj.conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0] == outbox
    assert sj.conn.execute("SELECT COUNT(*) FROM dialogue_versions WHERE kind != 'dialogue.series'"
                           ).fetchone()[0] == 0
    assert not sj.conn.in_transaction
    monkeypatch.setattr(wire, "seal_envelope", real)
    out = sj.record_meeting("S1", meeting)  # the same write again: stored and queued at once
    assert out.shared and {r for _, _, r in out.shared} == {"queued"}
    deliver(sj.node, "KOR")
    assert record_digests(sj) == record_digests(sk)
    for node in (sj.node, sk.node):  # the rolled-back events left no trace: every hash recomputes
        assert node.ledger.verify().size == node.ledger.size


def test_a_denied_share_leaves_the_write_stored(pair):
    # default deny is an answer, not a failure: the write stands (in the same transaction the
    # queueing would have been in) and the outcome says why nothing went
    sj, _, _, _ = pair
    outbox = sj.conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0]
    out = sj.create_series({**SERIES, "marking": "SECRET//REL TO JPN, KOR"})  # above RESTRICTED
    assert out.shared and all(r.startswith("not shared") for _, _, r in out.shared)
    assert sj.series("S1").title == SERIES["title"]
    assert sj.conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0] == outbox
    assert not sj.conn.in_transaction


def test_status_jump_skipping_agreement_is_refused_by_the_store(pair):
    sj, _, _, _ = pair
    sj.create_series(SERIES, share=False)
    sj.record_meeting("S1", {"date": "2025-08-31", "commitments": [
        {"id": "S1-C1", "owner": "KOR", "text": "x", "due": "2026-01-31"}]}, share=False)
    with pytest.raises(StatusTransitionError, match="skips agreement") as exc:
        sj.update_commitment("S1-C1", {"status": "in_progress"})
    assert exc.value.field == "status"
    with pytest.raises(NotOwnerError, match="only its owner KOR can agree it"):
        sj.update_commitment("S1-C1", {"status": "agreed"})
    with pytest.raises(InputError, match="invalid date|valid date") as exc:
        sj.update_commitment("S1-C1", {"due": "2026-13-01"})
    assert exc.value.field == "due"


def test_series_with_an_unpinned_party_is_refused(pair):
    sj, _, _, _ = pair
    with pytest.raises(InputError, match="unknown party 'USA'") as exc:
        sj.create_series({**SERIES, "parties": ["JPN", "KOR", "USA"]})
    assert exc.value.field == "parties[2]"
    with pytest.raises(NotFoundError):
        sj.series("S1")


def test_schedule_plans_meetings_across_year_end_with_alternating_hosts(pair):
    sj, sk, deliver, clock = pair
    sj.create_series(SERIES)
    out = sj.schedule("S1", count=3, after=date(2025, 8, 1))
    got = [(v.value.number, v.value.date, v.value.host, v.value.place) for v in out.versions]
    assert got == [(1, date(2025, 8, 31), "JPN", "Tokyo"), (2, date(2026, 2, 28), "KOR", "Seoul"),
                   (3, date(2026, 8, 31), "JPN", "Tokyo")]
    # recording meeting 1 turns the planned record into a held one: version 2, not a rewrite
    sj.record_meeting("S1", {"number": 1, "date": "2025-08-31", "minutes": "held"})
    assert [v.value.status.value for v in sj.history("S1-M1")] == ["planned", "held"]
    deliver(sj.node, "KOR")
    assert record_digests(sj) == record_digests(sk)


def test_overdue_and_due_soon_with_fixed_now(pair):
    sj, sk, deliver, _ = pair
    load_example(sj, sk, deliver)
    overdue, soon = sj.due(datetime(2026, 4, 1, tzinfo=UTC), days=100)
    assert [r.id for r in overdue] == ["JPN-KOR-DMM-M1-C1"]  # due 2026-03-31, still agreed
    assert [r.id for r in soon] == ["JPN-KOR-DMM-M1-C2"]      # due 2026-06-30
    assert overdue[0].days_left == -1
    overdue, _ = sj.due(datetime(2025, 12, 31, tzinfo=UTC))
    assert overdue == []  # C6 (due 2025-12-31) is done, and due today is not late


def test_loading_a_file_with_a_bad_second_meeting_stores_nothing(pair):
    from accord.dialogue.inputs import load_dialogue_file
    sj, _, _, _ = pair
    text = """\
series: {id: S2, title: Talks, parties: [JPN, KOR], level: ministers, cadence_months: 6, first_meeting: 2025-01-31}
meetings:
  - date: 2025-01-31
    commitments: [{owner: JPN, text: fine, due: 2025-06-30}]
  - date: 2025-07-31
    commitments:
      - {owner: KOR, text: fine too, due: 2025-12-31}
      - {owner: JPN, text: no due date}
"""
    with pytest.raises(InputError) as exc:
        load_dialogue_file("talks.yaml", text)
    assert exc.value.field == "meetings[1].commitments[1].due" and exc.value.line == 8
    bad_owner = text.replace("{owner: JPN, text: no due date}", "{owner: USA, text: x, due: 2026-01-01}")
    data, root = load_dialogue_file("talks.yaml", bad_owner)
    items = len(sj.node.items())
    with pytest.raises(InputError, match="unknown party 'USA'") as exc:
        sj.load(data, source="talks.yaml", root=root)
    assert exc.value.field == "meetings[1].commitments[1].owner" and exc.value.line == 8
    assert len(sj.node.items()) == items
    with pytest.raises(NotFoundError):
        sj.series("S2")
    ok = text.replace("{owner: JPN, text: no due date}", "{owner: JPN, text: x, due: 2026-01-01}")
    data, root = load_dialogue_file("talks.yaml", ok)
    out = sj.load(data, share=False)
    assert [v.record_id for v in out.versions][:2] == ["S2", "S2-M1"]
    assert [m.number for m in sj.meetings("S2")] == [1, 2]
