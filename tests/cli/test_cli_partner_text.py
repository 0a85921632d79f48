"""Text that came from a partner, a file or an option reaches the operator's terminal through
Rich in the listings and lines of ``accord node``, ``ledger``, ``intel``, ``agreement``
and the ``error:`` line: Rich markup in it (``[/]`` failed the command,
``[link=…]`` made a hidden hyperlink, ``[bold red]`` a fake status) is printed as written, and
control characters are left out, so no escape sequence clears or retitles the terminal."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli.main import app, main
from accord.core.agreements import new_agreement
from accord.core.items import Item
from accord.core.markings import Marking
from accord.federation.outbox import record_failure
from accord.federation.refusals import record_request_rejection
from accord.node import Node

runner = CliRunner()

#: no white space: it is also an item id
HOSTILE = "[/]a[link=https://evil.example]x[/link][bold]DONE[/]\x1b]0;owned\x07\x1b[2J\x9b31m"
HOSTILE_SPACED = "a [/] b [bold red]REFUSED[/] " + HOSTILE
SHOWN = "[/]a[link=https://evil.example]x[/link][bold]DONE[/]]0;owned[2J31m"
#: a partner URL holds no control character (refused when pinned), brackets it may
URL = "https://kor.example/[/]a[link=https://evil.example]x[/link][bold]DONE[/]"


def _literal(args: list[str], shown: str = SHOWN) -> str:
    res = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert res.exit_code == 0, (res.output, res.exception)
    assert shown in res.output, res.output
    assert "\x1b" not in res.output and "\x9b" not in res.output
    return res.output


@pytest.fixture()
def pair(tmp_path):
    jpn = Node.init(tmp_path / "jpn", "JPN", name=HOSTILE)
    kor = Node.init(tmp_path / "kor", "KOR")
    jpn.add_partner("KOR", kor.identity.public_b64, URL)
    kor.add_partner("JPN", jpn.identity.public_b64)
    yield jpn, kor
    jpn.close()
    kor.close()


@pytest.mark.parametrize(("command", "shown"), [(["node", "item", "list"], SHOWN), (["ledger", "show"], URL),
                                               (["node", "show"], SHOWN), (["node", "show"], URL),
                                               (["node", "partner", "list"], URL), (["node", "status"], SHOWN)])
def test_node_listings_print_stored_partner_text_literally(pair, command, shown):
    jpn, _ = pair
    jpn.put_item(Item("test.note", f"KOR:test.note:{HOSTILE}", "KOR", Marking.parse("SECRET"), jpn.clock.now(), {}))
    record_request_rejection(jpn, "KOR", HOSTILE_SPACED)  # makes the federation's tables too
    record_failure(jpn, "KOR", "HTTP 502 from KOR: " + HOSTILE_SPACED)
    out = _literal([*command, "--dir", str(jpn.dir)], shown)
    if command[-1] == "status":
        assert "[bold red]REFUSED[/]" in out  # the last error and the recorded refusal


@pytest.mark.parametrize("command", [["intel", "collections"], ["intel", "add-collection"]])
def test_intel_collection_titles_are_printed_literally(tmp_path, command):
    Node.init(tmp_path / "jpn", "JPN").close()
    d = str(tmp_path / "jpn")
    if command[-1] == "collections":
        runner.invoke(app, ["intel", "add-collection", HOSTILE, "--dir", d])
        _literal([*command, "--dir", d])
    else:
        _literal([*command, HOSTILE, "--dir", d])


def test_an_imported_bundle_is_named_literally(tmp_path):
    Node.init(tmp_path / "jpn", "JPN").close()
    d = str(tmp_path / "jpn")
    bundle = tmp_path / "[/]a[link=x]y[/link][bold]B[/]\x1b[2J.json"  # in directories "[", "]a[link=x]y[" …
    bundle.parent.mkdir(parents=True)
    bundle.write_bytes((Path(__file__).parent.parent / "intel" / "data" / "misp-bundle.json").read_bytes())
    _literal(["intel", "import", str(bundle), "--dir", d], "/[/]a[link=x]y[/link][bold]B[/][2J.json into imports: ")


def test_an_agreement_from_a_partner_shows_its_title_and_kinds_literally(pair, tmp_path):
    jpn, kor = pair
    now = datetime.now(UTC)
    a = new_agreement("jpn-kor", ["JPN", "KOR"], {"JPN": jpn.identity.public_key, "KOR": kor.identity.public_key},
                      [("JPN", "KOR", ["[bold]warning.*"], "SECRET")], now, now + timedelta(days=30), title=HOSTILE)
    f = tmp_path / "a.json"
    a.save(f)
    out = _literal(["agreement", "show", str(f)])
    assert "[bold]warning.*" in out


def test_the_error_line_prints_a_named_file_literally(tmp_path, monkeypatch, capsys):
    Node.init(tmp_path / "jpn", "JPN").close()
    monkeypatch.setattr(sys, "argv", ["accord", "intel", "import", str(tmp_path / "[/]a[link=x]y[/link][bold]DONE[/]\x1b[2J.json"),
                                      "--dir", str(tmp_path / "jpn")])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: "), err
    assert "/[/]a[link=x]y[/link][bold]DONE[/][2J.json: cannot read" in err and "\x1b" not in err


@pytest.mark.parametrize("command", [["add"], ["list"]])
def test_tak_destinations_print_their_names_and_kinds_literally(tmp_path, command):
    Node.init(tmp_path / "jpn", "JPN").close()
    d = str(tmp_path / "jpn")
    add = ["node", "tak", "add", "--dir", d, "--server", "tcp://127.0.0.1:8087", "--party", "JPN",
           "--kinds", "[bold]warning.*", "--name", HOSTILE]
    if command == ["add"]:
        _literal(add)
    else:
        assert runner.invoke(app, add).exit_code == 0
        assert "[bold]warning.*" in _literal(["node", "tak", "list", "--dir", d])


def test_pinning_a_partner_at_a_url_with_markup_warns_and_prints_it_literally(tmp_path):
    """``warn()`` (here: a plain-HTTP URL off loopback) and the ``pinned`` line print the URL as given."""
    jpn, kor = Node.init(tmp_path / "jpn", "JPN"), Node.init(tmp_path / "kor", "KOR")
    key = kor.identity.public_b64
    jpn.close()
    kor.close()
    url = "http://10.0.0.7/[/]a[link=https://evil.example]x[/link][bold]DONE[/]"
    out = _literal(["node", "partner", "add", "--dir", str(tmp_path / "jpn"), "--party", "KOR", "--key", key,
                    "--url", url, "--insecure"], f"warning: KOR's URL {url} is plain HTTP off loopback")
    assert f" at {url}" in out


def test_policy_explain_prints_an_item_id_from_its_file_literally(pair, tmp_path):
    """Each reason names the item's id, which is the file's: a MarkupError before; the verdict
    is exit 5 (denied: no agreement), with every line printed."""
    jpn, _ = pair
    item = Item("test.note", f"JPN:test.note:{HOSTILE}", "JPN", Marking.parse("SECRET"), jpn.clock.now(), {})
    f = tmp_path / "item.json"
    f.write_text(json.dumps(item.to_json()), encoding="utf-8")
    res = runner.invoke(app, ["policy", "explain", str(f), "KOR", "--dir", str(jpn.dir)], env={"COLUMNS": "400"})
    assert res.exit_code == 5, (res.output, res.exception)
    assert f"DENY: JPN:test.note:{SHOWN} → KOR" in res.output and "\x1b" not in res.output, res.output
