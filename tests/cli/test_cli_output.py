"""What the CLI prints for a new user (issue #16, item 11): `accord --version`, a token that says
how to use it, and tables that keep every value whole in a pipe or a narrow terminal."""

from __future__ import annotations

import importlib
import io
import json
import os
import pkgutil
import subprocess
import sys
from collections import Counter

import pytest
import typer
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

import accord.cli
from accord import __version__
from accord.cli.main import app
from accord.cli.output import print_table
from accord.node import Node

runner = CliRunner()


def test_a_group_lists_each_command_on_its_summary_not_its_docstring_lines():
    """A command list shows each command's first paragraph as one text, wrapped at the terminal;
    Typer's rich help used to keep the docstring's line breaks, so ``node prune`` read
    ``never an`` / ``unacknowledged one`` on two lines however wide the terminal."""
    r = runner.invoke(app, ["node", "--help"], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert "acknowledged more than KEEP ago; never an unacknowledged one; the inbox rows" in r.output

    def commands(group: typer.Typer):
        yield from group.registered_commands
        for sub in group.registered_groups:
            yield from commands(sub.typer_instance)

    for info in commands(app):
        assert info.short_help and "\n" not in info.short_help, info.callback
        assert all("\n" not in p for p in info.help.split("\n\n")), info.callback


def _leaf_commands():
    """(path, click command) of every command of the CLI that runs something (not a group)."""
    def walk(command, path):
        if hasattr(command, "list_commands"):
            ctx = type(command).context_class(command)
            for name in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, name), [*path, name])
        else:
            yield path, command

    return walk(typer.main.get_command(app), [])


def test_every_option_of_every_command_says_what_it_is_for():
    """``--help`` named ``--series``, ``--owner``, ``--text``, ``--title`` … with no word on what
    they take or do (15 options of ``dialogue``, ``node item list --kind``, ``policy explain
    --json``, ``intel add-collection --description``)."""
    bare = [f"accord {' '.join(path)} {param.opts[0]}" for path, command in _leaf_commands()
            for param in command.params
            if type(param).__name__.endswith("Option") and not (param.help or "").strip()]
    assert bare == []


def test_help_shows_no_rest_double_backquotes():
    """A docstring's reST literal (two backquotes each side) reached ``--help`` as it is:
    ``accord ledger verify --help`` read ````--quick```` checks the ledger alone, and so did
    ``ledger consistency`` and ``node token create``; help shows literals in one backquote."""
    for args in (["ledger", "--help"], ["ledger", "verify", "--help"], ["ledger", "consistency", "--help"],
                 ["node", "token", "create", "--help"]):
        r = runner.invoke(app, args, env={"COLUMNS": "400"})
        assert r.exit_code == 0, r.output
        assert "``" not in r.output, (args, r.output)
    r = runner.invoke(app, ["ledger", "verify", "--help"], env={"COLUMNS": "400"})
    assert "`--quick` checks the ledger alone" in r.output


def test_every_argument_of_every_command_says_what_it_is():
    """``accord agreement sign|verify|show|add --help`` listed their one argument as a bare
    ``file <path> [required]``, the only arguments of the CLI with no word on what they take."""
    bare = [f"accord {' '.join(path)} {param.name}" for path, command in _leaf_commands()
            for param in command.params
            if type(param).__name__.endswith("Argument") and not (getattr(param, "help", None) or "").strip()]
    assert bare == []


@pytest.mark.parametrize("args, says", [
    (["node", "show", "--dri", "jpn"], "accord node show: No such option: --dri (Possible options: --dir)"),
    (["node", "show"], "accord node show: Missing option '--dir'"),
    (["node", "show", "--dir", "jpn", "extra"], "accord node show: Got unexpected extra argument(s) (extra)"),
    (["node", "stat"], "accord node: No such command 'stat'. Did you mean 'status'?"),
    (["dialogue", "due", "--dir", "jpn", "--days", "99999"], "Invalid value for '--days'"),
])
def test_a_refused_command_line_is_one_error_line(args, says):
    """The README: errors are one line. A mistyped, missing or extra option, a bad value or an
    unknown command got Typer's usage line, a hint and the reason in a box, five lines; now one
    ``error:`` line naming the command and where its options are listed, exit status 2."""
    r = subprocess.run([sys.executable, "-m", "accord", *args], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], r.stderr
    assert "--help` lists its" in lines[0]


def test_a_group_given_no_command_still_prints_its_help():
    r = runner.invoke(app, ["node"], env={"COLUMNS": "120"})
    assert r.exit_code == 2 and "Usage:" in r.output and "error:" not in r.output, r.output


def test_a_command_help_keeps_each_later_paragraph_whole_too():
    r = runner.invoke(app, ["node", "serve", "--help"], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert '"serving on …" once bound and started (by every worker, with --workers).' in r.output
    assert "Serve the node's API (user + partner) and run its delivery workers." in r.output


def test_warning_watch_prefix_help_names_the_warning_subjects_it_follows():
    """``watch`` follows ``<prefix>.<party>.warning.<kind>``; its ``--prefix`` help named only the
    radar subjects (``<prefix>.<party>.radar.<sensor>``), which watch never reads."""
    r = runner.invoke(app, ["warning", "watch", "--help"], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert "<prefix>.<party>.warning.<kind>" in r.output


def test_token_create_refuses_a_scope_nothing_checks(tmp_path):
    """``--scope item:read`` (for ``items:read``) used to make a token that granted nothing, with
    exit status 0; now it is one error line and no token is stored."""
    Node.init(tmp_path / "jpn", "JPN").close()
    d = str(tmp_path / "jpn")
    r = runner.invoke(app, ["node", "token", "create", "--dir", d, "--name", "a", "--scope", "item:read"])
    assert getattr(r.exception, "exit_code", None) == 2, r.output  # main() prints it on one line, exit 2
    assert "unknown scope 'item:read'" in str(r.exception)
    r = runner.invoke(app, ["node", "token", "list", "--dir", d, "--json"])
    assert json.loads(r.stdout) == []
    for ok in (["items:read", "dialogue:read"], ["taxii.read:cyber"], ["taxii.write:cyber", "status"]):
        args = [a for s in ok for a in ("--scope", s)]
        r = runner.invoke(app, ["node", "token", "create", "--dir", d, "--name", ok[0].replace(":", "-"), *args])
        assert r.exit_code == 0, r.output


def test_version_flag_and_command_print_the_version():
    for args in (["--version"], ["version"], ["--version", "node"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0 and r.stdout == f"accord {__version__}\n", (args, r.output)


@pytest.mark.parametrize("scopes,request_shown", [
    (["items:read", "status"], "http://127.0.0.1:8600/api/v1/items"),
    (["status"], "http://127.0.0.1:8600/api/v1/status"),
    (["share"], "-H 'Content-Type: application/json' -d '{\"item_id\": \"<item id>\", \"to\": \"<party>\"}' "
                "http://127.0.0.1:8600/api/v1/share"),
])
def test_token_create_prints_the_secret_alone_and_how_to_use_it(tmp_path, scopes, request_shown):
    Node.init(tmp_path / "jpn", "JPN").close()
    args = ["node", "token", "create", "--dir", str(tmp_path / "jpn"), "--name", "analyst"]
    r = runner.invoke(app, [*args, *[a for s in scopes for a in ("--scope", s)]])
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip()
    assert r.stdout == secret + "\n" and secret.startswith("acc_")  # TOKEN=$(…) gets the secret only
    assert secret not in r.stderr
    assert f"token 'analyst' for JPN ({' '.join(sorted(scopes))})" in r.stderr
    assert f'curl -H "Authorization: Bearer $TOKEN" {request_shown}' in r.stderr


def test_intel_token_prints_the_secret_alone_on_stdout(tmp_path):
    Node.init(tmp_path / "jpn", "JPN").close()
    r = runner.invoke(app, ["intel", "token", "--dir", str(tmp_path / "jpn"), "--name", "kor-soc", "--party", "KOR",
                            "--read", "cyber"])
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip()
    assert r.stdout == secret + "\n" and secret.startswith("acc_")  # TOKEN=$(…) gets the secret only
    assert "token kor-soc (KOR): taxii.read:cyber" in r.stderr and secret not in r.stderr
    # no collection 'cyber' on this node: the scope grants nothing yet, and the user is told
    assert "warning: no collection 'cyber' on this node (yet)" in " ".join(r.stderr.split())


def test_intel_token_does_not_warn_for_a_collection_that_exists_or_for_all(tmp_path):
    Node.init(tmp_path / "jpn", "JPN").close()
    d = str(tmp_path / "jpn")
    assert runner.invoke(app, ["intel", "add-collection", "Cyber", "--alias", "cyber", "--dir", d]).exit_code == 0
    r = runner.invoke(app, ["intel", "token", "--dir", d, "--name", "soc", "--read", "cyber", "--write", "*"])
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr


HEADERS = ("partner", "last contact (UTC)", "queued", "delivered", "refused", "sent #", "recv #", "head", "state")
ROW = ("KOR", "2026-11-25 13:15:29", "0", "2", "0", "2", "0", "5", "3 failures")


def wide_table() -> Table:
    t = Table(*HEADERS)
    t.add_row(*ROW)
    return t


def test_a_table_into_a_pipe_keeps_its_natural_width():
    out = io.StringIO()
    print_table(Console(file=out, width=40), wide_table())
    text = out.getvalue()
    assert "…" not in text
    for value in ("last contact (UTC)", "delivered", "2026-11-25 13:15:29", "3 failures"):
        assert value in text
    assert len({len(line) for line in text.splitlines()}) == 1  # one table, every line whole


def test_a_table_on_a_narrow_terminal_folds_values_instead_of_cutting_them():
    out = io.StringIO()
    print_table(Console(file=out, width=50, force_terminal=True, color_system=None), wide_table())
    text = out.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 50
    # folded cells interleave on the lines, so compare the letters and digits: none may be lost
    printed = Counter(ch for ch in text if ch.isalnum())
    assert Counter(ch for value in HEADERS + ROW for ch in value if ch.isalnum()) - printed == Counter()


TITLE = "/var/lib/accord/exercises/2026-12-05/east-sea-salvo/scenario: 12,345 detections (678 from missiles), 900 s"


@pytest.mark.parametrize("terminal", [False, True])
def test_a_long_title_over_a_narrow_table_stays_on_one_line(terminal):
    """Rich wraps a title to its table's width: a path over a one-column table came a few letters a line."""
    out = io.StringIO()
    t = Table("id", title=TITLE)
    t.add_row("M001")
    print_table(Console(file=out, width=200 if terminal else 40, force_terminal=terminal, color_system=None), t)
    assert out.getvalue().splitlines()[0].strip() == TITLE


def test_a_title_wider_than_the_terminal_folds_at_the_terminal_not_the_table():
    out = io.StringIO()
    t = Table("id", title=TITLE)
    t.add_row("M001")
    print_table(Console(file=out, width=60, force_terminal=True, color_system=None), t)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 60 and len(lines[0].strip()) > 50


@pytest.fixture
def narrow_consoles(monkeypatch):
    """Every CLI module's console 60 columns wide, as in a small window or a CI log."""
    for info in pkgutil.iter_modules(accord.cli.__path__):
        module = importlib.import_module(f"accord.cli.{info.name}")
        if isinstance(getattr(module, "console", None), Console):
            monkeypatch.setattr(module.console, "width", 60)


def test_status_tokens_and_partners_stay_whole_when_piped(tmp_path, narrow_consoles):
    jpn, kor = Node.init(tmp_path / "jpn", "JPN"), Node.init(tmp_path / "kor", "KOR")
    jpn.add_partner("KOR", kor.identity.public_b64, "http://127.0.0.1:8602")
    jpn.close()
    d = str(tmp_path / "jpn")
    scopes = ["items:read", "items:write", "share", "status", "dialogue:read"]
    assert runner.invoke(app, ["node", "token", "create", "--dir", d, "--name", "operations-desk",
                               *[a for s in scopes for a in ("--scope", s)]]).exit_code == 0
    status = runner.invoke(app, ["node", "status", "--dir", d])
    tokens = runner.invoke(app, ["node", "token", "list", "--dir", d])
    partners = runner.invoke(app, ["node", "partner", "list", "--dir", d])
    for r in (status, tokens, partners):  # (a "…" of their own abbreviates keys and roots)
        assert r.exit_code == 0, r.output
    for header in ("last contact (UTC)", "queued", "delivered", "refused", "sent #", "recv #", "head", "state"):
        assert header in status.stdout
    assert "dialogue:read items:read items:write share status" in tokens.stdout
    assert "operations-desk" in tokens.stdout and "http://127.0.0.1:8602" in partners.stdout
    assert json.loads(runner.invoke(app, ["node", "partner", "list", "--dir", d, "--json"]).stdout)[0]["party"] == "KOR"


def test_token_create_uses_the_url_the_node_was_served_on_else_says_it_is_an_example(tmp_path):
    from accord.api import serve

    Node.init(tmp_path / "jpn", "JPN").close()
    args = ["node", "token", "create", "--dir", str(tmp_path / "jpn"), "--name", "a", "--scope", "status"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "an example with its defaults (127.0.0.1, --port 8600)" in r.stderr
    assert "http://127.0.0.1:8600/api/v1/status" in r.stderr

    serve.record_url(tmp_path / "jpn", "http://127.0.0.1:9123")   # what `node serve --port 9123` writes
    assert serve.last_url(tmp_path / "jpn") == "http://127.0.0.1:9123"
    r = runner.invoke(app, [*args[:-3], "b", "--scope", "items:read"])
    assert r.exit_code == 0, r.output
    assert "last served on http://127.0.0.1:9123" in r.stderr
    assert 'curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9123/api/v1/items' in r.stderr
    assert ":8600" not in r.stderr


def test_serve_url_file_that_is_not_a_url_is_ignored(tmp_path):
    from accord.api import serve

    assert serve.last_url(tmp_path) is None
    (tmp_path / serve.URL_FILE).write_text("not a url; rm -rf /\n")
    assert serve.last_url(tmp_path) is None
    # a URL's shape around what a shell would run in the printed curl command
    for hostile in ("http://x$(touch${IFS}pwned):8600", "http://a;id:8600", "http://`id`:8600",
                    "http://h:8600'\"", "http://h\x1b[2J:8600"):
        (tmp_path / serve.URL_FILE).write_text(hostile + "\n")
        assert serve.last_url(tmp_path) is None, hostile
    for fine in ("http://0.0.0.0:8600", "https://node.example-1.org:443", "http://[::1]:8600"):
        (tmp_path / serve.URL_FILE).write_text(fine + "\n")
        assert serve.last_url(tmp_path) == fine


def test_plural_agrees_the_noun_with_the_count():
    from accord.cli.output import noun_for, plural

    assert [plural(n, "entry", "entries") for n in (0, 1, 2, 1234)] == [
        "0 entries", "1 entry", "2 entries", "1,234 entries"]
    assert plural(1, "scan") == "1 scan" and plural(3, "scan") == "3 scans"
    assert noun_for(1, "object") == "object" and noun_for(5, "object") == "objects"


def test_a_nodes_one_ledger_entry_is_one_entry(tmp_path):
    Node.init(tmp_path / "jpn", "JPN").close()
    r = runner.invoke(app, ["node", "item", "add", "--dir", str(tmp_path / "jpn"), "--kind", "test.note",
                            "--marking", "UNCLASSIFIED", "--body", "{}"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["ledger", "verify", "--dir", str(tmp_path / "jpn")])
    assert r.exit_code == 0 and r.stdout.startswith("ledger OK: 1 entry, "), r.output
    r = runner.invoke(app, ["node", "status", "--dir", str(tmp_path / "jpn")])
    assert r.exit_code == 0 and "ledger 1 entry " in r.stdout, r.output


def test_node_status_warns_of_a_node_yaml_rule_naming_an_unpinned_party(tmp_path):
    Node.init(tmp_path / "jpn", "JPN").close()
    cfg = tmp_path / "jpn" / "node.yaml"
    cfg.write_text(cfg.read_text() + "sharing:\n  - {kinds: 'intel.*', to: GBR}\n")
    r = runner.invoke(app, ["node", "status", "--dir", str(tmp_path / "jpn")])
    assert r.exit_code == 0, r.output
    assert "sharing[0] (kinds intel.*) names GBR, which is not a pinned partner" in " ".join(r.stderr.split())
    assert "GBR" not in r.stdout


def test_help_shows_a_flag_without_a_value():
    """Typer's rich help wrote a type after every flag (``--json <bool>``, ``--help <bool>``), as
    if it took a value, where ``--json true`` is refused; an option that takes one keeps its type."""
    import re

    flags = commands = 0
    for path, command in _leaf_commands():
        commands += 1
        r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
        assert r.exit_code == 0, r.output
        params = command.get_params(type(command).context_class(command))
        for param in params:
            opts = [*param.opts, *getattr(param, "secondary_opts", [])]
            if getattr(param, "is_flag", False):
                flags += 1
                assert [o for o in opts if re.search(re.escape(o) + r"\s+<", r.output)] == [], (path, r.output)
            elif param.opts == ["--dir"]:
                assert re.search(r"--dir\s+<path>", r.output), (path, r.output)
    assert flags > commands   # every command's --help, and --json, --progress/--no-progress …


def test_ctrl_c_inside_a_compiled_kernel_exits_130_without_a_traceback(monkeypatch):
    """Ctrl-C while `accord warning track` ran a numba kernel printed a 40-line traceback ending in
    ``SystemError: CPUDispatcher(...) returned a result with an exception set``: the kernel returns
    with the KeyboardInterrupt pending and Python raises SystemError from it, which Typer (exit 130,
    silently, on a KeyboardInterrupt) does not catch. It exits as any other interrupted command."""
    import accord.cli.main as cli_main

    def interrupted_in_a_kernel():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("CPUDispatcher(<function _ballistic_kernel>) returned a result with an "
                              "exception set") from exc

    monkeypatch.setattr(cli_main, "app", interrupted_in_a_kernel)
    with pytest.raises(SystemExit) as exit_:
        cli_main.main()
    assert exit_.value.code == 130

    def other_system_error():
        raise SystemError("a bug, not an interrupt")

    monkeypatch.setattr(cli_main, "app", other_system_error)
    with pytest.raises(SystemError, match="a bug"):
        cli_main.main()


@pytest.mark.parametrize("command,words", [
    (["node", "init"], "the node directory to make: a new or empty one"),
    (["dialogue", "load-example"], "DIR/jpn and DIR/kor, each a node directory"),
])
def test_dir_help_says_what_the_directory_is_where_it_is_not_an_existing_node(command, words):
    """`--dir` read "node directory" on every command, `node init` (which makes one) and
    `dialogue load-example` (whose --dir is the parent of two nodes) included."""
    r = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
    assert r.exit_code == 0 and words in " ".join(r.output.split()), r.output


def test_tak_send_counts_each_event_type_as_it_counts_the_total(monkeypatch, tmp_path):
    """`tak send` printed ``sent 4,162 CoT events (1452 a-s-A-W-M-S-S, …)``: the total with a
    thousands separator, the counts by type without."""
    from accord.tak import replay

    async def sent(*args, **kwargs):
        return None

    monkeypatch.setattr(replay, "load_picture", lambda directory, party=None: None)
    monkeypatch.setattr(replay, "send_picture", sent)
    monkeypatch.setattr(replay, "report_json", lambda report, target, picture: {
        "events": 4162, "frames": 605, "server": "tcp://127.0.0.1:8087", "seconds": 3.0,
        "by_type": {"a-s-A-W-M-S-S": 1452, "a-s-G-E-W-M": 1355, "u-d-c-e": 1355}})
    r = runner.invoke(app, ["tak", "send", str(tmp_path), "--server", "tcp://127.0.0.1:8087", "--party", "JPN",
                            "--marking", "UNCLASSIFIED"], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert ("sent 4,162 CoT events (1,452 a-s-A-W-M-S-S, 1,355 a-s-G-E-W-M, 1,355 u-d-c-e) in 605 updates to "
            "tcp://127.0.0.1:8087 in 3.0 s") in r.output
