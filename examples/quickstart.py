"""Accord from Python: two nations' nodes, a signed agreement, one item shared, the ledger checked.

Run it with ``.venv/bin/python examples/quickstart.py``; the README shows its output.
"""

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import accord
from accord import Marking, Node, decide, new_agreement, share, sign_agreement, verify_node
from accord.clock import ManualClock
from accord.core.items import new_item

clock = ManualClock(datetime(2026, 12, 4, 9, 0, tzinfo=UTC))  # fixed, so the output is repeatable

with tempfile.TemporaryDirectory() as tmp:
    jpn = Node.init(Path(tmp) / "jpn", "JPN", clock)          # each nation's node: key, database, ledger
    kor = Node.init(Path(tmp) / "kor", "KOR", clock)
    jpn.add_partner("KOR", kor.identity.public_b64)     # pin each other's keys
    kor.add_partner("JPN", jpn.identity.public_b64)

    now = jpn.clock.now()
    agreement = new_agreement(
        "jpn-kor-warning", ["JPN", "KOR"],
        {"JPN": jpn.identity.public_key, "KOR": kor.identity.public_key},
        [("JPN", "KOR", ["warning.*"], "SECRET")], now, now + timedelta(days=365))
    agreement = sign_agreement(sign_agreement(agreement, jpn.identity), kor.identity)
    jpn.add_agreement(agreement)

    track = new_item("warning.track", {"track_id": "T-0007", "phase": "ballistic"},
                     Marking.parse("SECRET//REL TO JPN, KOR"), "JPN", now)
    jpn.put_item(track)
    for party in ("KOR", "USA"):
        d = decide(track, party, jpn.agreements(), now)
        print(f"{party}: {'release' if d.allowed else 'refuse'} — {d.reasons[-1]}")

    try:
        share(jpn, track, "USA")
    except accord.AccordError as exc:
        print(f"share to USA refused: {exc}")
    result = share(jpn, track, "KOR")                   # signed, sealed, queued for KOR's node
    print(f"share to KOR: {result.status}, envelope seq {result.seq}")

    checked = verify_node(jpn)
    print(f"JPN node verified: ledger of {checked.head.size} entries, "
          f"{checked.checked.get('items', 0)} item(s) matched to their entries")
