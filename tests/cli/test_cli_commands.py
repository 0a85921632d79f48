"""CLI: node, agreement and policy commands are thin, print real values, and fail in one line."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.errors import AgreementError, ConfigError, InputError, MarkingError
from accord.node import Node

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture
def nodes(tmp_path):
    for p in ("JPN", "KOR"):
        assert run("node", "init", "--party", p, "--dir", tmp_path / p.lower()).exit_code == 0
    keys = {p: json.loads(run("node", "show", "--dir", tmp_path / p.lower(), "--json").stdout)["public_key"]
            for p in ("JPN", "KOR")}
    assert run("node", "partner", "add", "--dir", tmp_path / "jpn", "--party", "KOR", "--key", keys["KOR"]).exit_code == 0
    assert run("node", "partner", "add", "--dir", tmp_path / "kor", "--party", "JPN", "--key", keys["JPN"]).exit_code == 0
    return tmp_path


def test_node_show_never_prints_the_private_key(nodes):
    out = run("node", "show", "--dir", nodes / "jpn").stdout
    pem_line = (nodes / "jpn" / "node.key").read_text().splitlines()[1]
    assert pem_line not in out and "PRIVATE" not in out
    info = json.loads(run("node", "show", "--dir", nodes / "jpn", "--json").stdout)
    node = Node.open(nodes / "jpn")
    assert info["fingerprint"] == node.fingerprint and info["verifier_key"] == node.verifier_key
    assert info["partners"]["KOR"]["fingerprint"] == Node.open(nodes / "kor").fingerprint


def test_agreement_lifecycle_and_policy_explain(nodes):
    a = nodes / "a.yaml"
    r = run("agreement", "create", "--dir", nodes / "jpn", "--id", "jk", "--party", "KOR",
            "--rule", "JPN<->KOR:warning.*:SECRET", "--out", a)
    assert r.exit_code == 0, r.output
    assert run("agreement", "sign", a, "--dir", nodes / "jpn").exit_code == 0
    r = run("agreement", "verify", a, "--dir", nodes / "jpn")
    assert isinstance(r.exception, AgreementError) and "missing signature of KOR" in str(r.exception)
    assert "still missing" not in run("agreement", "sign", a, "--dir", nodes / "kor").stdout
    assert "is in force" in run("agreement", "verify", a, "--dir", nodes / "jpn").stdout
    assert "added" in run("agreement", "add", a, "--dir", nodes / "jpn").stdout
    shown = json.loads(run("agreement", "show", a, "--json").stdout)
    assert shown["missing_signatures"] == [] and shown["agreement"]["rules"][0]["max_classification"] == "SECRET"
    r = run("node", "item", "add", "--dir", nodes / "jpn", "--kind", "warning.track", "--marking",
            "SECRET//REL TO JPN, KOR", "--body", '{"t": 1}', "--out", nodes / "item.json")
    assert r.exit_code == 0, r.output
    ok = run("policy", "explain", nodes / "item.json", "KOR", "--dir", nodes / "jpn", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["allowed"] is True
    no = run("policy", "explain", nodes / "item.json", "USA", "--dir", nodes / "jpn")
    assert no.exit_code == 5 and "USA is not in REL TO JPN, KOR" in no.stdout
    # an agreement altered after signing is reported as such
    a.write_text(a.read_text().replace("max_classification: SECRET", "max_classification: TOP SECRET"))
    r = run("agreement", "verify", a, "--dir", nodes / "jpn")
    assert "altered after JPN signed" in str(r.exception)


@pytest.mark.parametrize("args,exc,text", [
    (["node", "partner", "add", "--party", "KOR", "--key", "xyz"], InputError, "not valid base64"),
    (["node", "item", "add", "--kind", "test.note", "--marking", "SECRET//REL TO KOR, JPN"], MarkingError,
     "alphabetical"),
    (["node", "item", "add", "--kind", "test.note", "--marking", "SECRET", "--body", "{\"a\":1,\"a\":2}"], InputError,
     "duplicate key 'a'"),
    (["agreement", "create", "--id", "x", "--party", "KOR", "--rule", "JPN=>KOR:*:SECRET", "--out", "/dev/null/x"],
     InputError, "is not FROM->TO"),
    (["agreement", "create", "--id", "x", "--party", "USA", "--rule", "JPN->USA:*:SECRET", "--out", "/dev/null/x"],
     InputError, "not a pinned partner"),
])
def test_bad_input_is_named_and_store_unchanged(nodes, args, exc, text):
    before = Node.open(nodes / "jpn")
    size, items = before.ledger.size, len(before.items())
    cfg = (nodes / "jpn" / "node.yaml").read_text()
    r = run(*args, "--dir", nodes / "jpn")
    assert isinstance(r.exception, exc) and text in str(r.exception), r.output
    after = Node.open(nodes / "jpn")
    assert after.ledger.size == size and len(after.items()) == items
    assert (nodes / "jpn" / "node.yaml").read_text() == cfg


def test_malformed_files(nodes):
    (nodes / "bad.yaml").write_text("agreement:\n  id: [unclosed\n")
    r = run("agreement", "show", nodes / "bad.yaml")
    assert isinstance(r.exception, InputError) and "bad.yaml" in str(r.exception) and "line" in str(r.exception)
    (nodes / "item.json").write_text('{"kind": "test.note"}')
    r = run("policy", "explain", nodes / "item.json", "KOR", "--dir", nodes / "jpn")
    assert isinstance(r.exception, InputError) and "missing field" in str(r.exception)
    r = run("node", "show", "--dir", nodes / "nowhere")
    assert isinstance(r.exception, ConfigError) and "not a node directory" in str(r.exception)


def test_errors_print_one_line_without_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "accord.cli.main", "node", "init", "--party", "Japan", "--dir",
                          str(tmp_path / "n")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
    assert "ISO 3166-1 alpha-3" in out.stderr


@pytest.mark.parametrize("window,words", [
    (["--valid-from", "2026-06-01T00:00:00Z", "--valid-until", "2026-01-01T00:00:00Z"],
     "--valid-until (2026-01-01T00:00:00Z) is before --valid-from (2026-06-01T00:00:00Z)"),
    (["--valid-from", "2026-06-01T00:00:00Z", "--valid-until", "2026-06-01T09:00:00+09:00"],
     "--valid-until (2026-06-01T09:00:00+09:00) is the same instant as --valid-from (2026-06-01T00:00:00Z)"),
    (["--valid-until", "2026-01-01T00:00:00Z"], "--valid-until (2026-01-01T00:00:00Z) is before --valid-from (not given: now, "),
])
def test_agreement_create_names_the_flags_of_a_window_that_never_opens(nodes, window, words):
    """The refusal named the model's field (``field 'agreement.valid_until'``), not a flag the
    user typed."""
    r = run("agreement", "create", "--dir", nodes / "jpn", "--id", "x", "--party", "KOR",
            "--rule", "JPN->KOR:warning.*:SECRET", "--out", nodes / "a.yaml", *window)
    assert isinstance(r.exception, InputError) and str(r.exception).startswith(words), r.output
    assert "agreement.valid_until" not in str(r.exception) and not (nodes / "a.yaml").exists()


def test_agreement_create_refuses_an_empty_window_in_one_line_with_the_input_exit_code(nodes):
    out = subprocess.run([sys.executable, "-m", "accord.cli.main", "agreement", "create", "--dir", str(nodes / "jpn"),
                          "--id", "x", "--party", "KOR", "--rule", "JPN->KOR:warning.*:SECRET", "--out",
                          str(nodes / "a.yaml"), "--valid-from", "2026-06-01T00:00:00Z", "--valid-until",
                          "2026-01-01T00:00:00Z"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0, out.stderr
    assert out.stderr.startswith("error: --valid-until (2026-01-01T00:00:00Z) is before --valid-from "
                                 "(2026-06-01T00:00:00Z)"), out.stderr


def test_a_standing_rule_can_be_removed_as_it_was_added(nodes):
    """`node rule add` had no undo but removing the partner; `node rule remove` takes the same
    --kinds/--to, and names the rules there are when it matches none. The same rule added twice
    says it was already there (it was ignored without a word)."""
    from accord.errors import NotFoundError

    d = nodes / "jpn"
    assert run("node", "rule", "add", "--dir", d, "--kinds", "warning.track").exit_code == 0
    assert run("node", "rule", "add", "--dir", d, "--kinds", "intel.*", "--to", "KOR").exit_code == 0
    r = run("node", "rule", "add", "--dir", d, "--kinds", "intel.*", "--to", "KOR")  # again: said, not silent
    assert r.exit_code == 0 and r.stdout == "rule intel.* → KOR already present; nothing changed\n", r.output
    r = run("node", "rule", "remove", "--dir", d, "--kinds", "warning.track")
    assert r.exit_code == 0 and r.stdout == "removed rule: warning.track → *\n", r.output
    assert json.loads(run("node", "rule", "list", "--dir", d, "--json").stdout) == [{"kinds": "intel.*", "to": "KOR"}]
    r = run("node", "rule", "remove", "--dir", d, "--kinds", "intel.*")  # to '*': not the rule added
    assert isinstance(r.exception, NotFoundError) and "rules: intel.* → KOR" in str(r.exception)
    assert json.loads(run("node", "rule", "list", "--dir", d, "--json").stdout) == [{"kinds": "intel.*", "to": "KOR"}]


def test_partner_add_ledgers_a_changed_pin_not_an_identical_one(nodes):
    """Pinning a key is a trust decision: `node partner add` (and `--replace`) leave
    `partner.added` in the ledger an auditor reads; re-pinning the same key and URL adds nothing."""
    def pins():
        node = Node.open(nodes / "jpn")
        try:
            node.ledger.verify()
            return [e.data for e in node.ledger.entries() if e.type == "partner.added"]
        finally:
            node.close()

    kor = Node.open(nodes / "kor")
    kor_fp, kor_key = kor.fingerprint, kor.identity.public_b64
    kor.close()
    first = {"party": "KOR", "fingerprint": kor_fp, "url": None, "replaced": None, "insecure": False}
    assert pins() == [first]
    assert run("node", "partner", "add", "--dir", nodes / "jpn", "--party", "KOR", "--key", kor_key).exit_code == 0
    assert pins() == [first]
    assert run("node", "init", "--party", "KOR", "--dir", nodes / "kor2").exit_code == 0
    new_key = json.loads(run("node", "show", "--dir", nodes / "kor2", "--json").stdout)["public_key"]
    r = run("node", "partner", "add", "--dir", nodes / "jpn", "--party", "KOR", "--key", new_key, "--replace")
    assert r.exit_code == 0, r.output
    new_fp = r.stdout.split()[2]
    assert new_fp != kor_fp and pins() == [first, {**first, "fingerprint": new_fp, "replaced": kor_fp}]


def test_share_takes_its_body_from_a_file_as_node_item_add_does(nodes):
    """``node item add --body @FILE`` read the file; ``share --body @FILE`` parsed ``@FILE`` as
    JSON (``malformed JSON: Expecting value``), whether the file was there or not."""
    body = nodes / "track.json"
    body.write_text('{"track_id": "T-0100"}')
    r = run("share", "--dir", nodes / "jpn", "--kind", "test.note", "--marking", "UNCLASSIFIED", "--body", f"@{body}",
            "--json")
    assert r.exit_code == 0, r.output
    with Node.open(nodes / "jpn") as jpn:
        assert jpn.get_item(json.loads(r.stdout)["item_id"]).body == {"track_id": "T-0100"}
    r = run("share", "--dir", nodes / "jpn", "--kind", "test.note", "--marking", "UNCLASSIFIED",
            "--body", f"@{nodes / 'missing.json'}")
    assert str(r.exception) == f"{nodes / 'missing.json'}: --body file not found"


def test_agreement_create_takes_the_nodes_own_party_among_the_parties(nodes):
    """``--party JPN --party KOR`` on JPN's node (every party of the agreement named) was refused:
    "JPN is not a pinned partner of JPN". The node is always a party; naming it changes nothing."""
    r = run("agreement", "create", "--dir", nodes / "jpn", "--id", "a1", "--party", "JPN", "--party", "KOR",
            "--rule", "JPN->KOR:warning.*:SECRET", "--out", nodes / "a1.yaml")
    assert r.exit_code == 0, r.output
    assert "parties JPN, KOR, 1 rule(s)" in r.output


def test_a_token_for_a_party_not_pinned_is_made_with_a_warning(nodes):
    """A token for GBR, which JPN has not pinned, was made without a word (a typo for a pinned
    party looks the same)."""
    r = run("node", "token", "create", "--dir", nodes / "jpn", "--name", "liaison", "--party", "GBR",
            "--scope", "items:read")
    assert r.exit_code == 0, r.output
    assert ("warning: GBR is not a pinned partner of JPN (a typo?): the token is made for GBR all the same, and "
            "sees only what is releasable to GBR") in " ".join(r.stderr.split())
    r = run("node", "token", "create", "--dir", nodes / "jpn", "--name", "kor-liaison", "--party", "KOR",
            "--scope", "items:read")
    assert r.exit_code == 0 and "warning" not in r.stderr


@pytest.mark.parametrize("spelling", ["--nats-prefix", "--prefix"])
def test_node_serve_takes_prefix_as_the_feed_commands_name_it(spelling, tmp_path):
    """The feed commands call the subject prefix --prefix, `node serve` called it --nats-prefix
    only: both spellings now give `node serve` the same value."""
    import typer.main

    serve = typer.main.get_command(app).commands["node"].commands["serve"]  # type: ignore[attr-defined]
    ctx = serve.make_context("serve", ["--dir", str(tmp_path), spelling, "ops.test"])
    assert ctx.params["nats_prefix"] == "ops.test"
    r = CliRunner().invoke(app, ["node", "serve", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "--nats-prefix,--prefix" in r.stdout.replace(" ", ""), r.stdout


def test_signing_writes_back_the_file_it_read_not_a_link_put_in_its_place(nodes, monkeypatch):
    """``agreement sign`` reads the file, then replaces it. Someone who may write the directory it
    is shared in can swap it for a link once it was read; the save then followed that link and
    wrote the agreement (its text the other party's) over whatever file of the signer it named.
    The path is resolved once, before the file is read; what is written back replaces that entry,
    never a link found there later."""
    import accord.cli.agreement as agreement_cli

    shared = nodes / "shared"
    shared.mkdir()
    a = shared / "a.yaml"
    assert run("agreement", "create", "--dir", nodes / "jpn", "--id", "jk", "--party", "KOR",
               "--rule", "JPN<->KOR:warning.*:SECRET", "--out", a).exit_code == 0
    victim = nodes / "victim.rc"
    victim.write_text("untouched\n")
    real_sign = agreement_cli.sign_agreement

    def swapped_once_read(agreement, identity):
        a.unlink()
        a.symlink_to(victim)
        return real_sign(agreement, identity)

    monkeypatch.setattr(agreement_cli, "sign_agreement", swapped_once_read)
    r = run("agreement", "sign", a, "--dir", nodes / "jpn")
    assert r.exit_code == 0, r.output
    assert victim.read_text() == "untouched\n"
    assert not a.is_symlink() and "signatures" in a.read_text()
    monkeypatch.undo()
    link = nodes / "current.yaml"   # a link named on the command line is still followed
    link.symlink_to(a)
    assert run("agreement", "sign", link, "--dir", nodes / "kor").exit_code == 0
    assert link.is_symlink() and "is in force" in run("agreement", "verify", a, "--dir", nodes / "jpn").stdout


def test_sync_exits_non_zero_when_a_partner_was_not_synced(nodes):
    """`accord node sync` is what a scheduled job runs between serves: a partner it could not
    reach leaves envelopes queued, so the run must not pass as done (it exited 0, the failure only
    printed); with every partner synced it exits 0."""
    kor = json.loads(run("node", "show", "--dir", nodes / "kor", "--json").stdout)["public_key"]
    r = run("node", "partner", "add", "--dir", nodes / "jpn", "--party", "KOR", "--key", kor, "--replace",
            "--url", "http://127.0.0.1:9")  # the discard port: nothing listens there
    assert r.exit_code == 0, r.output
    r = run("node", "sync", "--dir", nodes / "jpn")
    assert r.exit_code == 1 and "KOR" in r.stdout and "unreachable" in r.stdout, r.output
    r = run("node", "sync", "--dir", nodes / "jpn", "--json")
    assert r.exit_code == 1 and "unreachable" in json.loads(r.stdout)["KOR"], r.output
    assert run("node", "partner", "remove", "--dir", nodes / "jpn", "--party", "KOR").exit_code == 0
    r = run("node", "sync", "--dir", nodes / "jpn")
    assert r.exit_code == 0, r.output


def test_item_list_shows_created_as_the_item_carries_it(nodes):
    """`node item list` printed `created` as Python's isoformat (`…+00:00`, seconds) where the
    item, its JSON and every other listing carry RFC 3339 with milliseconds and `Z`."""
    r = run("node", "item", "add", "--dir", nodes / "jpn", "--kind", "dialogue.note", "--marking", "UNCLASSIFIED",
            "--body", '{"text": "x"}')
    assert r.exit_code == 0, r.output
    listed = json.loads(run("node", "item", "list", "--dir", nodes / "jpn", "--json").stdout)
    r = runner.invoke(app, ["node", "item", "list", "--dir", str(nodes / "jpn")], env={"COLUMNS": "250"})
    assert r.exit_code == 0 and listed and listed[0]["created"].endswith("Z"), r.output
    assert listed[0]["created"] in r.stdout and "+00:00" not in r.stdout, r.output


def test_a_directory_that_holds_nodes_or_does_not_exist_is_named_as_such(tmp_path):
    """`dialogue load-example --dir demo`, `demo --dir` and `exercise run --out` make node
    directories inside the one given; a newcomer who then passes that parent to `--dir` was told
    to run `accord node init` there (which would make a new, empty node), and a mistyped path got
    the same advice. The parent's error names the node directories it holds; a missing one says so."""
    demo = tmp_path / "demo"
    for party, sub in (("JPN", "jpn"), ("KOR", "nodes/kor")):
        assert run("node", "init", "--party", party, "--dir", demo / sub).exit_code == 0
    r = run("node", "status", "--dir", demo)
    assert isinstance(r.exception, ConfigError), r.output
    assert f"holds node directories: {demo / 'jpn'}, {demo / 'nodes' / 'kor'}; give one of them" in str(r.exception)
    assert "node init" not in str(r.exception)
    r = run("node", "show", "--dir", tmp_path / "dmeo")
    assert isinstance(r.exception, ConfigError) and "dmeo: not a node directory: it does not exist" in str(r.exception)
    (tmp_path / "empty").mkdir()
    r = run("node", "show", "--dir", tmp_path / "empty")
    assert "not a node directory (no node.yaml; run `accord node init`)" in str(r.exception)


def test_one_key_pinned_for_two_parties_is_refused(nodes):
    """A newcomer pinning partners by hand pastes KOR's key again for USA (`--key <USA public
    key>`, copied from the wrong terminal): it was pinned, so KOR's node could then sign envelopes
    and requests as USA. A key already pinned for another party is refused in one line naming
    that party; nothing is ledgered and node.yaml is unchanged."""
    kor_key = json.loads(run("node", "show", "--dir", nodes / "kor", "--json").stdout)["public_key"]
    before = Node.open(nodes / "jpn")
    size = before.ledger.size
    before.close()
    cfg = (nodes / "jpn" / "node.yaml").read_text()
    r = run("node", "partner", "add", "--dir", nodes / "jpn", "--party", "USA", "--key", kor_key)
    assert isinstance(r.exception, InputError), r.output
    assert "that key is already pinned for KOR" in str(r.exception) and "USA's" in str(r.exception)
    after = Node.open(nodes / "jpn")
    assert after.ledger.size == size and "USA" not in after.partner_keys()
    after.close()
    assert (nodes / "jpn" / "node.yaml").read_text() == cfg
    # KOR's own key pinned again for KOR is still the idempotent re-pin
    assert run("node", "partner", "add", "--dir", nodes / "jpn", "--party", "KOR", "--key", kor_key).exit_code == 0


def test_agreement_create_twice_says_what_to_do_and_keeps_the_signed_file(nodes):
    """Re-running the README's `agreement create … --out jpn-kor.yaml` after signing it: the file
    (with its signatures) is kept, and the one line says why and what to do instead."""
    a = nodes / "a.yaml"
    args = ("agreement", "create", "--dir", nodes / "jpn", "--id", "jk", "--party", "KOR",
            "--rule", "JPN<->KOR:warning.*:SECRET", "--out", a)
    assert run(*args).exit_code == 0
    assert run("agreement", "sign", a, "--dir", nodes / "jpn").exit_code == 0
    signed = a.read_text()
    r = run(*args)
    assert isinstance(r.exception, InputError) and InputError.exit_code == 2
    assert str(r.exception) == (f"{a}: file exists; refusing to overwrite it (an agreement file may hold parties' "
                                "signatures): give another --out, or remove the file first")
    assert a.read_text() == signed


def test_tak_run_without_destinations_is_one_error_line(nodes):
    """`accord node tak run` on a node with no TAK destination printed its reason on stdout, with
    no `error:` prefix, and exited 1: a monitor reading stderr saw nothing. It is an error line."""
    from accord.errors import AccordError

    r = run("node", "tak", "run", "--dir", nodes / "jpn")
    assert type(r.exception) is AccordError and AccordError.exit_code == 1, r.output
    assert str(r.exception) == f"{nodes / 'jpn'}: no TAK destinations to follow (add one with `accord node tak add`)"
    assert r.stdout == ""
