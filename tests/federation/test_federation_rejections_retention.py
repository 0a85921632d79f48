"""Retention of the refusal records (``fed_rejections``): rows older than the window go, the
status total still counts them, a refusal whose envelope number still has its inbox row stays
(a resend is answered with its code), the ledger keeps every ``item.rejected`` event; from the
command line with ``--keep-rejections``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from accord.federation import share_many, status
from accord.federation.inbox import receive_envelope
from accord.federation.refusals import record_request_rejection
from accord.federation.retention import INBOX_KEEP, REJECTIONS_KEEP, prune, prune_rejections
from federation_harness import ROOT, make_nodes, note


def _rejections(node) -> list[tuple]:
    return [tuple(r) for r in node.conn.execute("SELECT sender, seq, code FROM fed_rejections ORDER BY id")]


def _refuse_one_envelope(jpn, kor, fed) -> bytes:
    """JPN's envelope #2 refused by KOR (its agreements no longer allow test.note); its bytes."""
    share_many(jpn, [note(jpn, 1)], "KOR")
    fed.sync(heads=False)
    kor.conn.execute("DELETE FROM agreements")
    kor.conn.commit()
    share_many(jpn, [note(jpn, 2)], "KOR")
    fed.sync(heads=False)
    return bytes(jpn.conn.execute("SELECT envelope FROM fed_outbox WHERE recipient='KOR' AND seq=2").fetchone()[0])


def test_the_default_window_is_the_inboxs():
    assert REJECTIONS_KEEP == INBOX_KEEP


def test_old_refusal_records_go_the_total_counts_them_and_one_whose_number_is_held_stays(fed_pair):
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    envelope = _refuse_one_envelope(jpn, kor, fed)
    record_request_rejection(kor, None, "bad signature")   # a refused request: no sender, no number
    assert _rejections(kor) == [("JPN", 2, "policy_denied"), (None, None, "unauthenticated")]

    assert prune_rejections(kor) == 0   # recorded just now: inside the window
    clock.advance(REJECTIONS_KEEP.total_seconds() + 3600)
    result = prune(kor)   # the node's prune (serve, `accord node prune`) prunes them too
    # the request's record goes; JPN #2's inbox row is JPN's last, kept, so its refusal stays
    assert result.rejections == 1 and result.to_json()["rejections_pruned"] == 1
    assert _rejections(kor) == [("JPN", 2, "policy_denied")]
    assert status(kor)["rejections"]["total"] == 2   # the pruned row still counted
    again = receive_envelope(kor, envelope, sender="JPN")   # a resend: the refusal it had, with its code
    assert (again.status, again.code) == ("rejected", "policy_denied")

    # once JPN's stream has moved on (#3, refused too) and #2's inbox row is pruned, #2's refusal goes
    share_many(jpn, [note(jpn, 3)], "KOR")
    fed.sync(heads=False)
    clock.advance(INBOX_KEEP.total_seconds() + 3600)
    result = prune(kor)
    assert result.inbox == {"JPN": 1}
    assert result.rejections == 1 and _rejections(kor) == [("JPN", 3, "policy_denied")]
    st = status(kor)["rejections"]
    assert st["total"] == 3 and [r["seq"] for r in st["recent"]] == [3]
    # every refusal's item.rejected event stays in the ledger
    assert kor.conn.execute("SELECT COUNT(*) FROM ledger_leaves WHERE type = 'item.rejected'").fetchone()[0] == 3
    kor.ledger.verify()


def test_a_shorter_window_and_a_negative_one(fed_pair):
    nodes, net, clock, fed = fed_pair
    kor = nodes["KOR"]
    record_request_rejection(kor, None, "bad signature")
    clock.advance(3601)
    assert prune(kor, rejections_keep=timedelta(hours=2)).rejections == 0
    assert prune(kor, rejections_keep=timedelta(hours=1)).rejections == 1
    with pytest.raises(Exception, match="must not be negative"):
        prune_rejections(kor, timedelta(seconds=-1))


def test_prune_from_the_cli_with_keep_rejections_and_a_bad_one_is_one_line(tmp_path):
    kor = make_nodes(tmp_path, ("KOR",))["KOR"]   # the node's clock: the command's
    record_request_rejection(kor, None, "bad signature")
    record_request_rejection(kor, None, "bad signature again")
    kor.close()
    run = [sys.executable, "-m", "accord.cli.main", "node", "prune", "--dir", str(kor.dir)]
    kept = subprocess.run([*run, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["rejections_pruned"] == 0   # the default window: 8 days
    out = subprocess.run([*run, "--keep-rejections", "0"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pruned 2 refusal record(s)" in out.stdout
    bad = subprocess.run([*run, "--keep-rejections", "soon"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "duration 'soon'" in bad.stderr
