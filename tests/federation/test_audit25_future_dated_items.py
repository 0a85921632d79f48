"""A received envelope's timestamp must be within the clock skew of now, but the item it carries
may say it was created at any time: an item dated 2099 is stored as it says. The node's "newest"
items are read by ``created`` (``Node.items(newest=…)``: the console overview's recent list, a
partner viewer's window of the newest 5,000), so a partner's future-dated items sit on top of
every newer item of the node's own, for decades."""

from __future__ import annotations

from datetime import UTC, datetime

from accord.core.items import new_item
from accord.core.markings import Marking
from accord.federation import InProcessNetwork, share
from federation_harness import federation_over, note


def test_a_partner_s_item_dated_decades_ahead_is_not_taken_as_the_newest(node_pair):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    ahead = new_item("test.note", {"n": "from the future"}, Marking.parse("RESTRICTED//REL TO JPN, KOR, USA"),
                     "JPN", datetime(2099, 1, 1, tzinfo=UTC))
    share(jpn, ahead, "KOR")
    federation_over(node_pair, InProcessNetwork()).sync()
    received = {i.id for i in kor.items(originator="JPN")}
    own = note(kor, 1)
    kor.put_item(own)
    newest = kor.items(newest=1)
    assert ahead.id not in received or newest[0].id == own.id, (
        f"KOR stored JPN's item created {ahead.created_text()} and takes it as newer than its own item of now")
