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


def test_a_partner_never_answered_is_reported_once_pinned_for_the_alert_threshold(fed_pair):
    nodes, net, clock, fed = fed_pair
    jpn = nodes["JPN"]
    (kor,) = status(jpn)["partners"]
    assert kor["last_contact"] is None and kor["pinned_at"] is not None and kor["pinned_for_s"] == 0
    assert problems(status(jpn), 300) == []   # just pinned: no chance yet to reach it
    clock.advance(299)
    assert problems(status(jpn), 300) == []
    clock.advance(1)
    assert problems(status(jpn), 300) == ["KOR never answered"]
    assert status(jpn)["partners"][0]["pinned_at"] == kor["pinned_at"]   # status reads it, never moves it


def test_status_check_spares_a_freshly_pinned_partner_until_alert_after(net_pair):
    nodes, _ = net_pair
    jpn = nodes["JPN"]
    fresh = _check(jpn.dir, "--alert-after", "5m")
    assert fresh.exit_code == 0, fresh.output
    assert "check:" not in fresh.output and "never (pinned " in fresh.output
    late = _check(jpn.dir, "--alert-after", "0")
    assert late.exit_code == 1, late.output
    assert [line for line in late.output.splitlines() if line.startswith("check:")] == ["check: KOR never answered"]


def test_a_changed_pin_starts_its_time_again_and_the_same_pin_does_not(fed_pair):
    from accord.core.identity import Identity

    nodes, net, clock, fed = fed_pair
    jpn = nodes["JPN"]
    first = status(jpn)["partners"][0]["pinned_at"]
    clock.advance(400)
    jpn.add_partner("KOR", nodes["KOR"].identity.public_b64)   # the same key and URL: not a new pin
    assert status(jpn)["partners"][0]["pinned_at"] == first
    assert problems(status(jpn), 300) == ["KOR never answered"]
    jpn.add_partner("KOR", Identity.generate("KOR").public_b64, replace=True)   # a new key: a new pin
    (kor,) = status(jpn)["partners"]
    assert kor["pinned_at"] > first and kor["pinned_for_s"] == 0
    assert problems(status(jpn), 300) == []
    clock.advance(300)
    assert problems(status(jpn), 300) == ["KOR never answered"]


def test_a_database_from_before_pin_times_gains_the_column_and_its_old_pins_count_as_long_ago(fed_pair):
    from accord.federation.schema import ensure_federation_schema
    from accord.node.node import Node
    from accord.store.migrations import versions

    nodes, net, clock, fed = fed_pair
    jpn = nodes["JPN"]
    with jpn.conn:   # as a node made before migration 6 left it
        jpn.conn.execute("ALTER TABLE fed_partner_state DROP COLUMN pinned_at")
        jpn.conn.execute("UPDATE schema_version SET version = 5 WHERE component = 'federation'")
    with Node.open(jpn.dir, clock) as old:
        (kor,) = status(old)["partners"]   # migrates it
        assert versions(old.conn)["federation"] == 11   # (and the receipt-proof, quota, pending-count and resealed steps after it)
        assert kor["pinned_at"] is None and kor["pinned_for_s"] is None
        assert problems(status(old), 300) == ["KOR never answered"]   # as before pin times
        ensure_federation_schema(old.conn)   # and again: nothing left to do
        old.add_partner("KOR", _new_kor_key(), replace=True)
        assert status(old)["partners"][0]["pinned_at"] is not None
        assert problems(status(old), 300) == []


def _new_kor_key() -> str:
    from accord.core.identity import Identity
    return Identity.generate("KOR").public_b64
