"""`accord node partner remove` interrupted at any step (the database commit, the node.yaml
rewrite, the commit after it) and run again: it ends fully removed — rules gone, tokens revoked,
node.yaml unpinned, one `partner.removed` in the ledger — and a token is never left valid once
the removal was reported done. Faults are injected by making a commit or the file write raise;
run on PostgreSQL too with ACCORD_TEST_STORE=postgresql."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from accord import federation
from accord.cli.main import app
from accord.errors import AuthError, InputError, NotFoundError, StoreError
from accord.federation import outbox
from accord.federation.tokens import authenticate_token, create_token
from accord.node import Node
from accord.store.base import PgOperationalError

from federation_harness import make_nodes

runner = CliRunner()


@pytest.fixture
def jpn(tmp_path):
    """JPN's node with KOR pinned, a standing rule to KOR and a token issued to KOR."""
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    node = nodes["JPN"]
    federation.add_rule(node, "test.*", "KOR")
    yield node
    for n in nodes.values():
        n.close()


def _removals(node) -> list[dict]:
    return [e.data for e in node.ledger.entries() if e.type == "partner.removed"]


def _fault(node) -> Exception:
    """What the node's database raises when it refuses a commit (locked, or the server gone)."""
    if getattr(node.conn, "dialect", None) is None:
        return sqlite3.OperationalError("database is locked")
    return PgOperationalError("server closed the connection unexpectedly")


def _commit_fails(monkeypatch, node, which: int) -> None:
    """The ``which``-th transaction :func:`remove_partner` opens (1 or 2) fails at its commit
    (after its statements ran): the database rolls it back."""
    real, opened = outbox.transaction, []

    @contextmanager
    def transaction(conn, **kwargs):
        opened.append(1)
        with real(conn, **kwargs) as c:
            yield c
            if len(opened) == which:
                raise _fault(node)

    monkeypatch.setattr(outbox, "transaction", transaction)


def _fully_removed(node, tmp_path, secret: str) -> None:
    assert "KOR" not in node.partners() and "KOR" not in Node.open(tmp_path / "JPN").partners()
    assert federation.rules(node) == []
    with pytest.raises(AuthError):
        authenticate_token(node.conn, secret)
    assert node.conn.execute("SELECT COUNT(*) FROM fed_removals").fetchone()[0] == 0
    node.ledger.verify()  # a rolled-back append left no gap and no reused index
    with pytest.raises(NotFoundError, match="KOR is not a pinned partner"):
        federation.remove_partner(node, "KOR")


def test_a_failed_database_commit_removes_nothing_and_the_rerun_removes_all(jpn, tmp_path, monkeypatch):
    secret = create_token(jpn.conn, "kor-soc", "KOR", {"taxii.read:cyber"})
    size = jpn.ledger.size
    _commit_fails(monkeypatch, jpn, 1)
    with pytest.raises(Exception) as failed:
        federation.remove_partner(jpn, "KOR")
    # node.yaml still pins KOR (not unpinned ahead of a commit that never came); nothing ledgered
    assert "KOR" in Node.open(tmp_path / "JPN").partners() and "KOR" in jpn.partners()
    assert jpn.ledger.size == size and federation.rules(jpn) == [("test.*", "KOR")]
    assert isinstance(failed.value, StoreError) and str(failed.value).startswith(
        "removing KOR: nothing was removed (") and str(failed.value).endswith(
        "run `accord node partner remove --party KOR` again")
    monkeypatch.undo()

    out = federation.remove_partner(jpn, "KOR")
    assert out["tokens_revoked"] == ["kor-soc"] and out["rules_removed"] == 1 and "resumed" not in out
    assert _removals(jpn) == [out]
    _fully_removed(jpn, tmp_path, secret)


def test_a_failed_node_yaml_rewrite_leaves_the_tokens_revoked_and_the_rerun_unpins(jpn, tmp_path, monkeypatch):
    import accord.node.node as node_module

    secret = create_token(jpn.conn, "kor-soc", "KOR", {"taxii.read:cyber"})

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(node_module, "_write_config", disk_full)
    with pytest.raises(StoreError, match=r"its tokens are revoked .* node.yaml was not confirmed unpinned "
                                         r"\(No space left on device\); run .* again to complete it"):
        federation.remove_partner(jpn, "KOR")
    with pytest.raises(AuthError):  # revoked (and ledgered) before anything could report success
        authenticate_token(jpn.conn, secret)
    assert "KOR" in jpn.partners() and federation.rules(jpn) == []
    [first] = _removals(jpn)
    monkeypatch.undo()

    again = federation.remove_partner(jpn, "KOR")
    assert again == {**first, "resumed": True} and _removals(jpn) == [first]  # no second entry
    _fully_removed(jpn, tmp_path, secret)


def test_a_failed_commit_after_the_rewrite_is_completed_by_the_rerun(jpn, tmp_path, monkeypatch):
    secret = create_token(jpn.conn, "kor-soc", "KOR", {"taxii.read:cyber"})
    _commit_fails(monkeypatch, jpn, 2)
    with pytest.raises(StoreError, match="again to complete it"):
        federation.remove_partner(jpn, "KOR")
    assert "KOR" not in Node.open(tmp_path / "JPN").partners()  # node.yaml was replaced
    with pytest.raises(AuthError):
        authenticate_token(jpn.conn, secret)
    [first] = _removals(jpn)
    monkeypatch.undo()

    assert federation.remove_partner(jpn, "KOR") == {**first, "resumed": True}
    assert _removals(jpn) == [first]
    _fully_removed(jpn, tmp_path, secret)


def test_a_rule_or_token_made_while_a_removal_was_pending_is_removed_and_ledgered(jpn, tmp_path, monkeypatch):
    import accord.node.node as node_module

    monkeypatch.setattr(node_module, "_write_config", lambda *_a, **_k: (_ for _ in ()).throw(OSError(5, "EIO")))
    with pytest.raises(StoreError):
        federation.remove_partner(jpn, "KOR")
    monkeypatch.undo()
    late = create_token(jpn.conn, "kor-late", "KOR", {"status"})

    out = federation.remove_partner(jpn, "KOR")
    assert out["tokens_revoked"] == ["kor-late"] and "resumed" not in out
    assert [r["tokens_revoked"] for r in _removals(jpn)] == [[], ["kor-late"]]
    _fully_removed(jpn, tmp_path, late)


def test_a_removal_pending_before_the_party_was_pinned_again_is_stale(jpn, tmp_path, monkeypatch):
    """The first removal stopped after node.yaml was rewritten (pending mark left); KOR was then
    pinned again (`partner.added`) and removed again: that is a new removal, ledgered, not the
    completion of the old one."""
    kor = jpn.partners()["KOR"]
    secret = create_token(jpn.conn, "kor-soc", "KOR", {"status"})
    _commit_fails(monkeypatch, jpn, 2)
    with pytest.raises(StoreError, match="again to complete it"):
        federation.remove_partner(jpn, "KOR")
    monkeypatch.undo()
    [first] = _removals(jpn)
    assert "KOR" not in jpn.partners()
    jpn.add_partner("KOR", kor.public_key_b64, kor.url)  # no rule or token since: only the pin is new

    out = federation.remove_partner(jpn, "KOR")
    assert out == {"party": "KOR", "fingerprint": kor.fingerprint, "rules_removed": 0, "tokens_revoked": [],
                   "queue_held": 0}
    assert _removals(jpn) == [first, out]
    _fully_removed(jpn, tmp_path, secret)


def test_a_pin_of_another_party_leaves_a_pending_removal_pending(jpn, tmp_path, monkeypatch):
    nodes = make_nodes(tmp_path / "more", ("USA", "KOR"))
    _commit_fails(monkeypatch, jpn, 2)
    with pytest.raises(StoreError, match="again to complete it"):
        federation.remove_partner(jpn, "KOR")
    monkeypatch.undo()
    [first] = _removals(jpn)
    jpn.add_partner("USA", nodes["USA"].identity.public_b64)  # data names KOR nowhere, but USA
    assert federation.remove_partner(jpn, "KOR") == {**first, "resumed": True}
    assert _removals(jpn) == [first]
    for n in nodes.values():
        n.close()


def test_a_partner_unpinned_without_its_database_part_is_cleaned_up(jpn, tmp_path):
    """What an interrupted removal used to leave: node.yaml unpinned, the rules and live tokens
    still there, nothing ledgered. The rerun revokes and ledgers them."""
    secret = create_token(jpn.conn, "kor-soc", "KOR", {"taxii.read:cyber"})
    jpn.remove_partner("KOR")  # node.yaml alone
    out = federation.remove_partner(jpn, "KOR")
    assert out == {"party": "KOR", "fingerprint": None, "rules_removed": 1, "tokens_revoked": ["kor-soc"],
                   "queue_held": 0}
    assert _removals(jpn) == [out]
    _fully_removed(jpn, tmp_path, secret)


def test_the_node_s_own_party_is_refused_and_its_tokens_kept(jpn):
    own = create_token(jpn.conn, "ops", "JPN", {"status"})
    with pytest.raises(InputError, match="JPN is this node's own party"):
        federation.remove_partner(jpn, "JPN")
    assert authenticate_token(jpn.conn, own).party == "JPN" and _removals(jpn) == []


def test_cli_rerun_after_an_interruption_says_it_completed_it(jpn, tmp_path, monkeypatch):
    import accord.node.node as node_module

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(node_module, "_write_config", disk_full)
    with pytest.raises(StoreError):
        federation.remove_partner(jpn, "KOR")
    monkeypatch.undo()
    jpn.close()
    r = runner.invoke(app, ["node", "partner", "remove", "--dir", str(tmp_path / "JPN"), "--party", "KOR"])
    assert r.exit_code == 0, r.output
    assert r.stdout.count("\n") == 1 and r.stdout.startswith("removed KOR SHA256:")
    assert "completed the interrupted removal (ledgered then: 1 standing rule(s) deleted" in r.stdout
    assert "KOR" not in Node.open(tmp_path / "JPN").partners()
