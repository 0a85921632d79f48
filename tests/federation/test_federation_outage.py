"""A partner taken down and brought back, as the operator sees it: one "unreachable" line, one
"recovered" line with the outage's length and the backlog delivered, and a status that says
since when and how old the oldest waiting item is. In process, on a manual clock, with a short
backoff (the outage's length is the clock's, so it is exact)."""

from __future__ import annotations

import logging
import time

import pytest

from accord.federation import Federation, share, status
from accord.federation.stats import counters

from federation_harness import note, wait_for

OUTAGE = 42.0


def _events(caplog, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == event]


@pytest.fixture
def pair(fed_pair):
    """conftest's ``fed_pair`` without its Federation: each test makes its own."""
    nodes, net, clock, _ = fed_pair
    return nodes, net, clock


def test_partner_down_then_back_logs_one_unreachable_and_one_recovered_line(pair, caplog):
    nodes, net, clock = pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    caplog.set_level(logging.DEBUG, logger="accord")
    fed = Federation(jpn, net, backoff_base=0.001, backoff_cap=0.01, head_interval=3600, summary_interval=3600)
    net.down("KOR")
    start = clock.now()
    fed.start()
    try:
        for i in range(5):
            share(jpn, note(jpn, i), "KOR")
        assert wait_for(lambda: counters(jpn).partner("KOR").failures >= 5)

        clock.advance(OUTAGE)
        during = {p["party"]: p for p in status(jpn)["partners"]}["KOR"]
        assert during["queued"] == 5
        assert during["failing_since"] == start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert during["failing_for_s"] == OUTAGE
        assert during["oldest_queued_age_s"] == OUTAGE

        net.up("KOR", kor)
        assert wait_for(lambda: _events(caplog, "partner.recovered"))
        assert fed.wait_drained(10)
    finally:
        fed.stop()

    unreachable = _events(caplog, "partner.unreachable")
    recovered = _events(caplog, "partner.recovered")
    assert len(unreachable) == 1 and len(recovered) == 1, [r.getMessage() for r in caplog.records]
    assert unreachable[0].levelno == logging.WARNING and unreachable[0].partner == "KOR"
    assert "KOR is down" in unreachable[0].getMessage()
    assert recovered[0].outage_s == OUTAGE and recovered[0].drained == 5
    # every failed contact: the deliveries, and the tree-head check made when the service started
    assert recovered[0].attempts == counters(jpn).partner("KOR").failures + 1
    assert "42 s unreachable" in recovered[0].getMessage()
    assert not _events(caplog, "partner.still_unreachable")  # the summary interval never passed

    after = {p["party"]: p for p in status(jpn)["partners"]}["KOR"]
    assert after["failing_since"] is None and after["failing_for_s"] is None
    assert after["queued"] == 0 and after["oldest_queued_age_s"] is None and after["delivered"] == 5


def test_a_long_outage_is_summarised_not_logged_per_retry(pair, caplog):
    nodes, net, clock = pair
    jpn = nodes["JPN"]
    caplog.set_level(logging.INFO, logger="accord")
    fed = Federation(jpn, net, backoff_base=0.001, backoff_cap=0.005, head_interval=3600, summary_interval=0.2)
    net.down("KOR")
    fed.start()
    try:
        share(jpn, note(jpn, 1), "KOR")
        assert wait_for(lambda: len(_events(caplog, "partner.still_unreachable")) >= 2)
    finally:
        fed.stop()
    attempts = counters(jpn).partner("KOR").failures
    lines = _events(caplog, "partner.unreachable") + _events(caplog, "partner.still_unreachable")
    assert len(_events(caplog, "partner.unreachable")) == 1
    assert attempts > 3 * len(lines)  # many retries, few lines
    last = _events(caplog, "partner.still_unreachable")[-1]
    assert last.backlog == 1 and last.attempts > 1 and "still unreachable" in last.getMessage()
    assert [r for r in caplog.records if r.name.startswith("accord") and r.levelno >= logging.INFO] == lines


def test_refusals_are_one_line_per_batch_on_each_side(pair, caplog):
    nodes, net, clock = pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    caplog.set_level(logging.INFO, logger="accord")
    kor.conn.execute("DELETE FROM agreements")  # KOR's policy now refuses what JPN's still allows
    kor.conn.commit()
    from accord.federation import share_many

    share_many(jpn, [note(jpn, i) for i in range(3)], "KOR")
    Federation(jpn, net).sync(heads=False)
    theirs = _events(caplog, "envelopes.refused")
    ours = _events(caplog, "partner.refused")
    assert len(theirs) == 1 and theirs[0].count == 3 and theirs[0].codes == ["policy_denied"]
    assert theirs[0].getMessage().startswith("refused 3 envelope(s) from JPN (policy_denied), first #1: policy of KOR")
    assert len(ours) == 1 and ours[0].count == 3 and ours[0].partner == "KOR"
    assert counters(kor).partner("JPN").refused == 3 and counters(jpn).partner("KOR").refused_by == 3


def test_node_status_shows_since_when_and_how_old(pair):
    """The CLI over the same status: its own clock is the wall clock, the node's was a manual one
    set to 2026-01-01, so the outage reads in days."""
    import json
    import re

    from typer.testing import CliRunner

    from accord.cli.main import app as cli

    nodes, net, clock = pair
    jpn = nodes["JPN"]
    net.down("KOR")
    share(jpn, note(jpn, 1), "KOR")
    Federation(jpn, net).sync(heads=False)
    jpn.close()
    text = CliRunner().invoke(cli, ["node", "status", "--dir", str(jpn.dir)], env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    row = next(line for line in text.output.splitlines() if line.startswith("│ KOR"))
    assert re.search(r"│ 1 +│ \d+ d \d\d h +│", row) and re.search(r"failing for \d+ d \d\d h \(1 attempt\)", row)
    assert "KOR last error (failing since 2026-01-01T00:00:00.000Z): KOR is down" in text.output
    js = json.loads(CliRunner().invoke(cli, ["node", "status", "--dir", str(jpn.dir), "--json"]).output)
    kor = next(p for p in js["partners"] if p["party"] == "KOR")
    assert kor["failing_since"] == "2026-01-01T00:00:00.000Z" and kor["oldest_queued"] == "2026-01-01T00:00:00.000Z"
    assert kor["failing_for_s"] > 86400 and kor["oldest_queued_age_s"] > 86400


def test_an_idle_partner_going_away_and_coming_back_is_logged_too(pair, caplog):
    """Nothing queued for KOR: its tree-head checks are what notice it (one line each way)."""
    nodes, net, clock = pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    caplog.set_level(logging.INFO, logger="accord")
    fed = Federation(jpn, net, head_interval=0.01, summary_interval=3600)
    net.down("KOR")
    fed.start()
    try:
        assert wait_for(lambda: _events(caplog, "partner.unreachable"))
        clock.advance(7)
        time.sleep(0.1)  # more failed checks: no more lines
        net.up("KOR", kor)
        assert wait_for(lambda: _events(caplog, "partner.recovered"))
        time.sleep(0.1)
    finally:
        fed.stop()
    assert len(_events(caplog, "partner.unreachable")) == 1
    (recovered,) = _events(caplog, "partner.recovered")
    assert recovered.outage_s == 7 and recovered.drained == 0 and recovered.attempts > 1
