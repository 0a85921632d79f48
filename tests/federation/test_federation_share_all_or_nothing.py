"""`accord share` and `federation.share_with`: every recipient is checked before anything is
written, so a refused share leaves no item, no outbox row and no ledger event behind — not even
through a standing rule that would have sent the item to another partner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from accord import federation
from accord.cli.main import app
from accord.errors import AccordError, NotFoundError, PolicyDenied
from accord.federation.outbox import pending

from federation_harness import make_nodes, note

runner = CliRunner()


@pytest.fixture
def nodes(tmp_path):
    nodes = make_nodes(tmp_path)  # JPN–KOR bilateral (test.*), no JPN–USA agreement for test.*
    federation.add_rule(nodes["JPN"], "test.*", "*")
    return nodes


def _nothing_written(node, ledger_size):
    assert node.items() == []
    assert node.ledger.size == ledger_size
    assert pending(node, "KOR", 10) == [] and pending(node, "USA", 10) == []


def _share(tmp_path, *to, json_out=False):
    args = ["share", "--dir", str(tmp_path / "JPN"), "--kind", "test.note",
            "--marking", "RESTRICTED//REL TO JPN, KOR, USA", "--body", '{"n": 1}']
    for p in to:
        args += ["--to", p]
    return runner.invoke(app, args + (["--json"] if json_out else []), catch_exceptions=True)


def test_a_denied_recipient_leaves_no_item_and_no_rule_share(nodes, tmp_path):
    jpn = nodes["JPN"]
    size = jpn.ledger.size
    r = _share(tmp_path, "KOR", "USA")
    assert isinstance(r.exception, PolicyDenied) and "USA" in str(r.exception)
    assert PolicyDenied.exit_code == 5
    _nothing_written(jpn, size)


def test_an_unpinned_recipient_leaves_nothing_behind(nodes, tmp_path):
    jpn = nodes["JPN"]
    size = jpn.ledger.size
    r = _share(tmp_path, "FRA")
    assert isinstance(r.exception, NotFoundError) and "FRA" in str(r.exception)
    _nothing_written(jpn, size)


def test_an_unknown_party_code_leaves_nothing_behind(nodes, tmp_path):
    jpn = nodes["JPN"]
    size = jpn.ledger.size
    r = _share(tmp_path, "KRO")
    assert isinstance(r.exception, AccordError) and "KRO" in str(r.exception)
    _nothing_written(jpn, size)


def test_an_allowed_share_stores_queues_and_reports_rule_and_named_recipients(nodes, tmp_path):
    jpn = nodes["JPN"]
    r = _share(tmp_path, "KOR", json_out=True)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    # KOR is named, so the standing rule adds nobody (USA is refused by the policy: no agreement)
    assert out["shared_by_rule"] == {} and [s["to"] for s in out["shared"]] == ["KOR"]
    assert out["shared"][0]["status"] == "queued" and out["shared"][0]["seq"] == 1
    assert [i.id for i in jpn.items()] == [out["item_id"]]
    assert [seq for seq, _ in pending(jpn, "KOR", 10)] == [1]
    r = _share(tmp_path, json_out=True)  # no --to: the standing rule alone
    assert json.loads(r.stdout)["shared_by_rule"] == {"KOR": 2}


def test_share_with_checks_every_recipient_of_an_existing_item_first(nodes):
    jpn = nodes["JPN"]
    item = note(jpn, 7)
    jpn.put_item(item)
    size = jpn.ledger.size
    with pytest.raises(PolicyDenied):
        federation.share_with(jpn, item, ["KOR", "USA"])
    assert jpn.ledger.size == size and pending(jpn, "KOR", 10) == []
    named, by_rule = federation.share_with(jpn, item, ["KOR", "KOR"])
    assert [(r.to, r.status) for r in named] == [("KOR", "queued")] and by_rule == []
