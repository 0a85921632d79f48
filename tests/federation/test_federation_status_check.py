"""``accord node status --check``: an exit code a monitor (a systemd timer, Nagios, a cron mail)
can act on. Without it status exited 0 however long a partner had been failing."""

from __future__ import annotations

from typer.testing import CliRunner

from accord.cli.main import app as cli
from accord.federation import Federation, share, status
from accord.federation.status import problems
from federation_harness import note


def _check(dir, *args: str):
    return CliRunner().invoke(cli, ["node", "status", "--dir", str(dir), "--check", *args], env={"COLUMNS": "200"})


def test_status_check_exits_1_naming_each_partner_past_the_threshold(net_pair):
    nodes, net = net_pair
    jpn = nodes["JPN"]
    fed = Federation(jpn, net)
    fed.sync()   # KOR answers: contacted just now
    ok = _check(jpn.dir)
    assert ok.exit_code == 0, ok.output
    assert "node JPN" in ok.output and "check:" not in ok.output

    net.down("KOR")
    share(jpn, note(jpn, 1), "KOR")
    fed.sync(heads=False)
    # failing for under a second: not yet past the default 5 minutes
    assert _check(jpn.dir).exit_code == 0
    late = _check(jpn.dir, "--alert-after", "0")
    assert late.exit_code == 1, late.output
    lines = [line for line in late.output.splitlines() if line.startswith("check:")]
    assert len(lines) == 1 and lines[0].startswith("check: KOR deliveries failing for ")
    assert "1 item(s) queued, the oldest " in lines[0]


def test_problems_cover_failing_silent_stuck_and_inconsistent_partners(fed_pair):
    nodes, net, clock, fed = fed_pair
    jpn = nodes["JPN"]
    fed.sync()
    assert problems(status(jpn), 300) == []
    clock.advance(301)   # nothing failed, but KOR has not answered for 301 s
    assert problems(status(jpn), 300) == ["KOR last answered 5 m 01 s ago"]
    net.down("KOR")
    share(jpn, note(jpn, 1), "KOR")
    fed.sync(heads=False)
    clock.advance(400)
    (line,) = problems(status(jpn), 300)
    assert line.startswith("KOR deliveries failing for 6 m 40 s (1 attempt); 1 item(s) queued, the oldest 6 m 40 s")
    st = status(jpn)
    st["partners"][0]["inconsistent"] = "tree head 7 does not extend 9"
    assert problems(st, 300)[0] == "KOR INCONSISTENT: tree head 7 does not extend 9"
