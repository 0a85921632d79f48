"""The demo: what is shared, what is refused and why, and that every ledger verifies."""

import subprocess
import sys

from accord.node import Node
from accord.node.demo import run_demo


def test_demo_outcomes_and_ledgers(tmp_path):
    result = run_demo(tmp_path / "d")
    by_step = {e.step: e for e in result.exchanges}
    delivered = {s for s, e in by_step.items() if e.outcome == "delivered"}
    assert delivered == {"1", "3", "4", "5", "8"}
    assert by_step["2"].outcome == "refused by sender" and "USA is not in REL TO" in by_step["2"].reason
    assert "above the JPN → USA ceiling CONFIDENTIAL" in by_step["7"].reason
    assert "TLP:RED" in by_step["9"].reason
    assert by_step["10"].reason.startswith("SignatureError") and by_step["11"].reason.startswith("SignatureError")
    assert by_step["12"].reason.startswith("ReplayError")
    assert all(led["verified"] for led in result.ledgers.values())
    # what KOR holds is exactly what it was sent and allowed, byte for byte
    jpn, kor = Node.open(tmp_path / "d" / "jpn"), Node.open(tmp_path / "d" / "kor")
    for step in ("1", "3"):
        assert kor.get_item(by_step[step].item_id).digest() == jpn.get_item(by_step[step].item_id).digest()
    assert not [i for i in kor.items() if i.body.get("headline", "").startswith("FAKE")]
    assert kor.ledger.size == result.ledgers["KOR"]["size"] and kor.ledger.verify().size == kor.ledger.size
    assert result.ledgers["KOR"]["events"]["item.rejected"] == 4  # 3 envelopes rejected + step 9 refused


def test_demo_command_prints_summary(tmp_path):
    out = subprocess.run([sys.executable, "-m", "accord.cli.main", "demo", "--dir", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "5 delivered, 7 refused or rejected, 3 ledgers verified" in out.stdout
