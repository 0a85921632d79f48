"""``accord dialogue …`` end to end on node directories: the example, --json listings, errors."""

import json
import textwrap

from typer.testing import CliRunner

from accord.cli.main import app
from accord.errors import InputError, NotOwnerError

runner = CliRunner()


def _ok(*args):
    res = runner.invoke(app, ["dialogue", *args])
    assert res.exit_code == 0, (res.output, res.exception)
    return res.output


def test_example_due_report_ical_and_refusals(tmp_path):
    out = json.loads(_ok("load-example", "--dir", str(tmp_path), "--json"))
    assert out["identical"] and out["records"] == 11
    jpn, kor = str(tmp_path / "jpn"), str(tmp_path / "kor")
    due = json.loads(_ok("due", "--dir", jpn, "--now", "2026-04-01T00:00:00Z", "--days", "100", "--json"))
    assert [r["id"] for r in due["overdue"]] == ["JPN-KOR-DMM-M1-C1"]
    assert [r["id"] for r in due["due_soon"]] == ["JPN-KOR-DMM-M1-C2"]
    # the non-owner is refused, the owner is not
    res = runner.invoke(app, ["dialogue", "commitment", "update", "JPN-KOR-DMM-M1-C2", "--status", "done",
                              "--dir", jpn])
    assert isinstance(res.exception, NotOwnerError) and res.exception.exit_code == 4
    _ok("commitment", "update", "JPN-KOR-DMM-M1-C2", "--status", "done", "--evidence", "talks held", "--dir", kor)
    hist = json.loads(_ok("history", "JPN-KOR-DMM-M1-C2", "--dir", kor, "--json"))
    assert [h["signer"] for h in hist] == ["JPN", "KOR", "KOR", "KOR"]
    md = _ok("report", "--dir", jpn, "--party", "JPN", "--now", "2026-04-01T00:00:00Z")
    assert md.startswith("# Commitments of JPN") and "JPN-KOR-DMM-M1-C9" not in md
    html_file = tmp_path / "r.html"
    _ok("report", "--dir", jpn, "--format", "html", "-o", str(html_file))
    assert "<h1>Status of Japan–ROK Defence Ministers&#39; Meeting</h1>" in html_file.read_text()
    assert "BEGIN:VCALENDAR" in _ok("ical", "JPN-KOR-DMM", "--dir", jpn)


def test_meeting_file_errors_name_line_and_field(tmp_path):
    _ok("load-example", "--dir", str(tmp_path))
    f = tmp_path / "m.yaml"
    f.write_text(textwrap.dedent("""\
        date: 2026-03-08
        commitments:
          - owner: JPN
            text: Draft the plan
            due: 2026-02-30
        """))
    res = runner.invoke(app, ["dialogue", "meeting", "record", "JPN-KOR-DMM", "--file", str(f),
                              "--dir", str(tmp_path / "jpn")])
    assert isinstance(res.exception, InputError)
    assert res.exception.line == 5 and res.exception.field == "commitments[0].due"
    f.write_text("date: 2026-03-08\ncommitments:\n  - owner: CHN\n    text: x\n    due: 2026-04-01\n")
    res = runner.invoke(app, ["dialogue", "meeting", "record", "JPN-KOR-DMM", "--file", str(f),
                              "--dir", str(tmp_path / "jpn")])
    assert isinstance(res.exception, InputError) and "unknown party 'CHN'" in str(res.exception)
    assert res.exception.line == 3 and res.exception.field == "commitments[0].owner"


def test_out_of_range_days_and_counts_are_refused_in_one_line(tmp_path):
    # --days ±99999999999 overflowed timedelta and --count 99999999 ran the calendar past year 9999:
    # OverflowError / ValueError tracebacks
    _ok("load-example", "--dir", str(tmp_path))
    jpn = str(tmp_path / "jpn")
    for args in (("due", "--days", "-99999999999"), ("due", "--days", "3651"),
                 ("report", "--party", "JPN", "--days", "99999999999")):
        res = runner.invoke(app, ["dialogue", *args, "--dir", jpn])
        assert res.exit_code == 2 and "--days" in res.output, (args, res.output, res.exception)
        assert not isinstance(res.exception, (OverflowError, ValueError))
    res = runner.invoke(app, ["dialogue", "schedule", "JPN-KOR-DMM", "--count", "99999999", "--dir", jpn])
    assert isinstance(res.exception, InputError) and "count must be 0 to 24, got 99999999" in str(res.exception)
    assert "due within 3,650 days" in _ok("due", "--days", "3650", "--dir", jpn)


def test_option_errors_name_the_field_as_every_other_command_does(tmp_path):
    """Every command names a bad option's field bare (``field 'format'``, ``field 'keep'``); the
    dialogue commands named theirs with the dashes (``field '--format'``, ``'--now'``, ``'--venue'``,
    ``'--link'``)."""
    _ok("load-example", "--dir", str(tmp_path))
    jpn = str(tmp_path / "jpn")
    for args, field in ((("report", "--party", "KOR", "--format", "pdf"), "format"),
                        (("due", "--now", "yesterday"), "now"),
                        (("series", "create", "--id", "X-Y", "--title", "t", "--parties", "JPN,KOR",
                          "--first", "2027-01-01", "--venue", "Tokyo"), "venue")):
        res = runner.invoke(app, ["dialogue", *args, "--dir", jpn])
        assert isinstance(res.exception, InputError), (args, res.output, res.exception)
        assert res.exception.field == field, (args, res.exception)


def test_load_example_again_says_what_it_signed_this_run_and_what_was_there(tmp_path):
    first = _ok("load-example", "--dir", str(tmp_path))
    assert "new versions signed this run: JPN 15, KOR 8; already present before it: JPN 0, KOR 0" in first
    again = _ok("load-example", "--dir", str(tmp_path))
    assert "new versions signed this run: JPN 0, KOR 0; already present before it: JPN 15, KOR 8" in again
    out = json.loads(_ok("load-example", "--dir", str(tmp_path), "--json"))
    assert out["versions"] == {"JPN": 0, "KOR": 0} and out["versions_stored"] == {"JPN": 15, "KOR": 8}


def test_listings_print_partner_text_as_text_never_as_markup_or_terminal_control(tmp_path):
    """Text a partner signed reaches an operator's terminal in the listings: Rich markup in it
    (``[/]`` failed the whole listing; ``[link=…]`` made a hidden hyperlink, ``[bold red]`` a fake
    status) is printed as written, and control characters are left out, so no escape sequence
    retitles, clears or recolours the terminal."""
    _ok("load-example", "--dir", str(tmp_path))
    jpn = str(tmp_path / "jpn")
    text = "a [/] b [link=https://evil.example]agreed by all[/link] [bold red]DONE[/]\x1b]0;owned\x07\x1b[2J\x9b31m end"
    _ok("commitment", "add", "JPN-KOR-DMM-M1", "--owner", "KOR", "--text", text, "--due", "2027-01-31",
        "--id", "X1", "--dir", jpn)
    _ok("series", "create", "--id", "X", "--title", "[/]", "--parties", "JPN,KOR", "--first", "2027-01-01",
        "--venue", "JPN=[bold]Tokyo[/]", "--dir", jpn)
    _ok("schedule", "X", "--dir", jpn)
    shown = "a [/] b [link=https://evil.example]agreed by all[/link] [bold red]DONE[/]]0;owned[2J31m end"
    for args in (("commitment", "list"), ("due", "--days", "3650", "--now", "2027-01-01T00:00:00Z")):
        res = runner.invoke(app, ["dialogue", *args, "--dir", jpn], color=True)
        assert res.exit_code == 0, (res.output, res.exception)
        assert shown in res.output and "\x1b" not in res.output.replace("\x1b[1m", "").replace("\x1b[0m", "")
    series = _ok("series", "list", "--dir", jpn)
    assert "│ [/]" in series
    assert "[bold]Tokyo[/]" in _ok("meeting", "list", "--series", "X", "--dir", jpn)
