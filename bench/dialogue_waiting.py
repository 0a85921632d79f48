"""The cost of a dialogue read on a node holding many partner versions that wait for ever.

Two partners (JPN and USA, ``--waiting`` / 2 each: within the cap per originator) send version 5
of meetings whose versions 1-4 never come; each of KOR's dialogue reads
(``DialogueStore.list_series``, which syncs first) is timed ``--reads`` times and the median
printed in ms, with the node on SQLite (a temporary directory):

    .venv/bin/python bench/dialogue_waiting.py --waiting 2000 --reads 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accord.clock import ManualClock  # noqa: E402
from accord.core.items import Item  # noqa: E402
from accord.dialogue.store import DialogueStore  # noqa: E402
from accord.dialogue.versions import SignedVersion  # noqa: E402
from accord.node import Node  # noqa: E402

T0 = datetime(2025, 9, 8, 12, tzinfo=UTC)
SERIES = {"id": "S1", "title": "Working-level talks", "parties": ["JPN", "KOR", "USA"], "level": "working-level",
          "cadence_months": 6, "first_meeting": "2025-08-31", "host_rotation": ["JPN", "KOR", "USA"],
          "venues": {"JPN": "Tokyo", "KOR": "Seoul", "USA": "Washington"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--waiting", type=int, default=2000, help="partner versions whose predecessor never comes")
    ap.add_argument("--reads", type=int, default=50, help="dialogue reads timed (the median is printed)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(T0)
        jpn, kor, usa = (Node.init(Path(tmp) / p.lower(), p, clock) for p in ("JPN", "KOR", "USA"))
        for a in (jpn, kor, usa):
            for b in (jpn, kor, usa):
                if a is not b:
                    a.add_partner(b.party, b.identity.public_b64)
        sj, sk = DialogueStore(jpn), DialogueStore(kor)
        sj.create_series(SERIES, share=False)
        sk.node.put_item(jpn.get_item(sj.latest("S1").item_id))
        marking = sj._marking_of("S1")
        items = []
        for i in range(args.waiting):
            sender = (jpn, usa)[i % 2]
            state = {"id": f"S1-M{i + 1}", "series_id": "S1", "number": i + 1, "status": "held",
                     "date": "2025-08-31", "host": "JPN", "place": "", "start": None, "duration_minutes": None,
                     "attendees": [], "agenda": [], "minutes": "", "decisions": [], "outcomes": []}
            unsigned = SignedVersion("dialogue.meeting", f"S1-M{i + 1}", 5, "0" * 64, "S1", sender.party,
                                     "2025-09-08T12:00:00.000Z", state, None, b"")
            v = replace(unsigned, signature=sender.identity.sign(unsigned.signing_bytes))
            items.append(Item(v.kind, v.item_id, v.signer, marking, T0, v.to_body()))
        kor.put_items(items)
        sk.list_series()  # the first read parses every new item once, whatever the code
        times = []
        for _ in range(args.reads):
            t = time.perf_counter()
            sk.list_series()
            times.append((time.perf_counter() - t) * 1000)
        held = kor.conn.execute("SELECT COUNT(*) FROM items WHERE kind = 'dialogue.meeting'").fetchone()[0]
        print(f"{held} received versions whose predecessor never comes ({len(sk.rejected())} rejected), "
              f"SQLite: {statistics.median(times):.2f} ms per dialogue read (median of {args.reads}; min {min(times):.2f}, max {max(times):.2f})")
        for n in (jpn, kor, usa):
            n.close()


if __name__ == "__main__":
    main()
