"""The exercise runner end to end on a small drill: nothing lost, injects caught, deterministic."""

import json
import shutil
from pathlib import Path

import pytest

from accord.exercise.runner import run_exercise
from accord.exercise.scenario import load_scenario

DRILL = Path(__file__).parent / "data" / "small-drill.yaml"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    """One run of the small drill, shared by the tests of this module (it takes a few seconds)."""
    return run_exercise(load_scenario(DRILL), tmp_path_factory.mktemp("drill"), progress=False)


def test_drill_passes_with_nothing_lost_duplicated_or_leaked(drill):
    m = drill.metrics
    fed = m["federation"]
    assert drill.passed, m["summary_table"]
    assert fed["items_sent"] > 50
    assert fed["items_lost"] == 0 and fed["items_duplicated"] == 0
    assert fed["items_delivered"] + fed["items_rejected_by_partner"] == fed["items_sent"]
    assert m["policy_violations"] == 0
    assert all(v["verified"] for v in m["ledgers"].values())


def test_partition_delays_delivery_but_loses_nothing(drill):
    fed = drill.metrics["federation"]
    assert fed["partition_drops"] > 0
    # items queued during the 60 s JPN–KOR partition arrive after it heals: latency tail ≥ tens of s
    assert fed["latency_ms_p99"] > 10_000
    assert fed["items_lost"] == 0


def test_every_inject_is_caught_and_explained(drill):
    injects = {i["type"]: i for i in drill.metrics["injects"]}
    assert set(injects) == {"node_crash", "replay", "forged_envelope", "policy_violation", "ledger_rewrite"}
    for inj in injects.values():
        assert inj["caught"], inj
    assert "flagged inconsistent by JPN, KOR" in injects["ledger_rewrite"]["how"]
    assert "forged" in injects["forged_envelope"]["how"]
    pairs = drill.metrics["ledger_pairs"]
    assert pairs["JPN→USA"] == pairs["KOR→USA"] == "inconsistent"
    assert pairs["JPN→KOR"] == pairs["KOR→JPN"] == "consistent"


def test_sharing_improves_the_picture_of_the_node_without_radars(drill):
    g = drill.metrics["gospa"]["USA"]
    assert g["radars"] == []
    assert g["fused_mean_gospa_m"] < g["own_mean_gospa_m"]


def test_launch_timeline_is_measured(drill):
    (la,) = drill.metrics["launches"]
    assert la["launch_t"] < la["first_detection_t"] <= la["first_track_t"] <= la["first_partner_receipt_t"]
    assert la["impact_error_km_final"] is not None


def test_outputs_are_written(drill):
    metrics = json.loads((drill.out_dir / "metrics.json").read_text())
    assert metrics["passed"] is True
    assert metrics["transport"] == "inproc" and ("transport", "inproc") in drill.metrics["summary_table"]
    html = drill.report_path.read_text()
    for element in ('id="map"', 'id="gospa"', 'id="latency"', 'id="timelines"', 'id="summary"',
                    'id="map-legend"', 'id="impact-inset-1"', 'id="launch-label-A1"'):
        assert element in html
    # the scenario's epoch (small-drill.yaml: the default, 2026-11-25T00:00Z) puts clock times beside seconds
    assert metrics["scenario"]["epoch"] == "2026-11-25T00:00:00+00:00"
    assert "t = 0 s at 2026-11-25 00:00:00 UTC" in html
    la = metrics["launches"][0]
    assert f"<td>{la['launch_t']:,.1f} s (00:00:{la['launch_t']:02.0f} UTC)</td>" in html
    # self-contained: nothing to fetch (XML namespace URIs in the SVG are names, not requests)
    import re

    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    assert "<link" not in html and "<script" not in html


def test_same_scenario_and_seed_give_the_same_results(drill, tmp_path):
    again = run_exercise(load_scenario(DRILL), tmp_path / "again", progress=False)

    def stable(m):
        drop = {"wall_s", "cpu_s", "speedup", "ledgers", "summary_table"}
        return {k: v for k, v in m.items() if k not in drop}

    assert stable(again.metrics) == stable(drill.metrics)


def test_refuses_to_overwrite_a_directory_it_did_not_make(tmp_path):
    from accord.errors import InputError

    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not an exercise output directory"):
        run_exercise(load_scenario(DRILL), tmp_path, progress=False)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_another_runs_output_is_replaced_only_with_force(tmp_path):
    """The same run (scenario, seed, transport) replaces its own output; another run's needs
    force; a directory Accord did not make is refused even with force (claimed before running)."""
    from accord.errors import InputError
    from accord.exercise.http import HttpDelivery
    from accord.exercise.runner import MARKER, Runner

    drill, out = load_scenario(DRILL), tmp_path / "out"
    Runner(drill, out).claim_out_dir()
    assert json.loads((out / MARKER).read_text()) == {"format": "accord-exercise-output/1",
                                                      "scenario": "small-drill", "seed": 5, "transport": "inproc"}
    (out / "report.html").write_text("the inproc run's report")
    Runner(drill, out).claim_out_dir()  # the same run again: replaced
    assert not (out / "report.html").exists()
    (out / "report.html").write_text("the inproc run's report")
    for other, differs in ((Runner(drill, out, seed=6), "seed 6"), (Runner(drill, out, delivery=HttpDelivery()), "transport http")):
        with pytest.raises(InputError, match=r"holds the output of another run \(scenario small-drill, seed 5, "
                                             r"transport inproc; this run: .*" + differs + r".*--force"):
            other.claim_out_dir()
        assert (out / "report.html").read_text() == "the inproc run's report"
    Runner(drill, out, force=True, delivery=HttpDelivery()).claim_out_dir()
    assert not (out / "report.html").exists() and json.loads((out / MARKER).read_text())["transport"] == "http"
    (out / MARKER).write_text("accord exercise output; safe to delete\n")  # before runs were recorded
    with pytest.raises(InputError, match="a run that did not record its scenario, seed and transport"):
        Runner(drill, out).claim_out_dir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="not an exercise output directory"):
        Runner(drill, tmp_path / "mine", force=True).claim_out_dir()


def _killed_at_removal(out: Path, k: int) -> None:
    """Claim ``out`` again for the same run in a forked child that is killed (SIGKILL) right
    after the ``k``-th file or directory it removes."""
    import os
    import signal

    from accord.exercise.runner import Runner

    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            count = 0

            def removing(f):
                def call(*a, **kw):
                    nonlocal count
                    f(*a, **kw)
                    count += 1
                    if count == k:
                        os.kill(os.getpid(), signal.SIGKILL)
                return call

            os.unlink, os.rmdir = removing(os.unlink), removing(os.rmdir)
            Runner(load_scenario(DRILL), out).claim_out_dir()
        finally:
            os._exit(3)   # fewer than k removals
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status


def test_a_rerun_killed_while_it_clears_the_last_output_is_run_again(tmp_path):
    """``kill -9`` of a run while it cleared the same run's earlier output: the marker could go
    before the rest, and the directory was refused ever after as "not an exercise output
    directory" (removed by hand). Every crash point leaves it the run's, claimed again."""
    from accord.exercise.runner import MARKER, Runner

    drill, out = load_scenario(DRILL), tmp_path / "out"
    removals = 0
    for k in range(1, 20):
        Runner(drill, out).claim_out_dir()
        for name in ("metrics.json", "report.html", "agreement-a.yaml", "nodes/jpn/accord.db", "nodes/kor/node.yaml",
                     "alerts/jpn/0001-alert.xml"):
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text("the earlier run's")
        if k == 1:
            removals = sum(1 for _ in out.rglob("*")) - 1   # all but the marker
        if k > removals:
            break
        _killed_at_removal(out, k)
        assert (out / MARKER).exists(), f"killed after removal {k}: the marker is gone"
        Runner(drill, out).claim_out_dir()   # the same command again
        assert sorted(p.name for p in out.iterdir()) == [MARKER]


def test_cli_run_refuses_another_runs_output_before_running(tmp_path):
    from typer.testing import CliRunner

    from accord.cli.main import app
    from accord.errors import InputError
    from accord.exercise.http import HttpDelivery
    from accord.exercise.runner import Runner

    Runner(load_scenario(DRILL), tmp_path / "out", delivery=HttpDelivery()).claim_out_dir()
    r = CliRunner().invoke(app, ["exercise", "run", str(DRILL), "--out", str(tmp_path / "out"), "--no-progress"])
    assert isinstance(r.exception, InputError) and "holds the output of another run" in str(r.exception)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".accord-exercise"]


def test_http_transport_over_loopback_gives_the_same_guarantees(tmp_path):
    """Every node behind its own uvicorn server; envelopes as signed HTTP POSTs."""
    res = run_exercise(load_scenario(DRILL), tmp_path / "http", transport="http", progress=False)
    fed = res.metrics["federation"]
    assert res.passed, res.metrics["summary_table"]
    assert json.loads((res.out_dir / "metrics.json").read_text())["transport"] == "http"
    assert fed["items_lost"] == 0 and fed["items_duplicated"] == 0 and fed["items_sent"] > 50
    assert all(i["caught"] for i in res.metrics["injects"])


def test_unknown_transport_is_refused(tmp_path):
    from accord.errors import InputError

    with pytest.raises(InputError, match="unknown transport 'carrier-pigeon'"):
        run_exercise(load_scenario(DRILL), tmp_path, transport="carrier-pigeon", progress=False)


def test_report_renders_in_chromium_without_console_errors(drill, tmp_path):
    report = drill.report_path
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser tests (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            assert page.title().startswith("After-action report")
            for fig in ("map", "timelines", "gospa", "latency"):
                box = page.locator(f"svg#{fig}").bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 100, fig
            # the map really drew land, radars and paths
            assert page.locator("svg#map path").count() > 20
            summary = page.locator("#summary").inner_text()
            assert "PASSED" in summary and "Injects caught: 5 of 5" in summary
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            page.locator("svg#map").screenshot(path=str(tmp_path / "map.png"))
        finally:
            browser.close()
    assert errors == []
    assert all(u.startswith("file://") for u in requests), requests


def test_each_node_holds_its_own_radars_for_its_console(tmp_path):
    from accord.console.picture import radars_of
    from accord.exercise.runner import Runner

    scenario = load_scenario(DRILL)
    runner = Runner(scenario, tmp_path / "out")
    runner.setup()
    try:
        for party, st in runner.states.items():
            held = radars_of(st.node.items("warning.radar"))
            want = sorted(r.id for r in scenario.radars if r.owner == party)
            assert sorted(r.body["id"] for r in held) == want
            assert all(r.originator == party for r in held)
            by_id = {r.id: r for r in scenario.radars}
            for r in held:
                assert r.body["max_range_m"] == by_id[r.body["id"]].max_range_m
    finally:
        for st in runner.states.values():
            st.node.close()
