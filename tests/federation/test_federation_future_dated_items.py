"""A partner's item may not be dated ahead of this node's clock by more than the allowed lead
(accord.core.envelopes.MAX_ITEM_LEAD: the clocks' skew plus a radar feed's default lead). The
node's "newest" items are read by ``created`` (``Node.items(newest=…)``: the console overview's
recent list, a partner viewer's window), so an item dated decades ahead would sit above every
item made after it. Such an envelope is refused as ``expired``, recorded like every refusal,
and uses up its number; the nodes run on one manual clock, the receiver's is the one that counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from accord.core.envelopes import MAX_ITEM_LEAD, MAX_SKEW, seal
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.feeds.scans import CLOCK_AHEAD_S
from accord.federation import receive_envelope, share
from federation_harness import ledger_events, note

BANNER = Marking.parse("RESTRICTED//REL TO JPN, KOR, USA")


def _dated(node, when: datetime, n: int = 0):
    return new_item("test.note", {"n": n}, BANNER, node.party, when)


def test_an_item_dated_decades_ahead_is_refused_and_recorded_and_the_stream_goes_on(fed_pair):
    nodes, _, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    ahead = _dated(jpn, datetime(2099, 1, 1, tzinfo=UTC))
    share(jpn, ahead, "KOR")
    after = share(jpn, note(jpn, 1), "KOR")
    fed.sync(heads=False)
    assert {i.id for i in kor.items(originator="JPN")} == {after.item_id}
    [(seq, code, reason)] = kor.conn.execute("SELECT seq, code, reason FROM fed_rejections").fetchall()
    assert (seq, code) == (1, "expired") and "dated from the future: created 2099-01-01" in reason
    assert [e["code"] for e in ledger_events(kor.dir, "item.rejected")] == ["expired"]
    clock.advance(60)
    own = note(kor, 1)
    kor.put_item(own)
    assert kor.items(newest=1)[0].id == own.id


def test_the_lead_is_counted_from_the_receivers_clock_to_the_millisecond(fed_pair):
    nodes, _, clock, _ = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    now = clock.now()
    edge = _dated(jpn, now + MAX_ITEM_LEAD, 1)
    past = _dated(jpn, now + MAX_ITEM_LEAD + timedelta(milliseconds=1), 2)
    r = receive_envelope(kor, seal(edge, "KOR", 1, jpn.identity, now).to_json(), sender="JPN")
    assert r.status == "stored"
    r = receive_envelope(kor, seal(past, "KOR", 2, jpn.identity, now).to_json(), sender="JPN")
    assert (r.status, r.code, r.consumed) == ("rejected", "expired", True)
    assert {i.id for i in kor.items(originator="JPN")} == {edge.id}


def test_a_radar_feeds_lead_over_its_clock_is_within_the_lead_a_partner_allows():
    """A node dates its tracks and predictions by its radar's scans, which may lead its clock by
    ``CLOCK_AHEAD_S`` by default; its clock may lead the receiver's by ``MAX_SKEW``."""
    assert MAX_ITEM_LEAD >= MAX_SKEW + timedelta(seconds=CLOCK_AHEAD_S)
