"""``accord warning alerts`` and the batch layer: files out, atomic, clear errors; rules from YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alerts_helpers import make_pred
from typer.testing import CliRunner

from accord.cli.main import app
from accord.errors import ConfigError, InputError
from accord.warning.alerts import AlertRules, validate

runner = CliRunner()


def write_preds(path, preds, extra_lines=()):
    lines = [json.dumps(p.to_json()) for p in preds] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def hokkaido_preds():
    return [make_pred(300, 43.3, 140.0, 8_000, 4_000, 90, impact_t=400),
            make_pred(320, 43.3, 140.05, 6_000, 3_000, 90, impact_t=400)]


def test_alerts_cli_writes_the_sequence_and_an_index(tmp_path):
    src = tmp_path / "predictions.jsonl"
    write_preds(src, hokkaido_preds())
    out = tmp_path / "alerts"
    r = runner.invoke(app, ["warning", "alerts", str(src), "--party", "JPN", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert index["party"] == "JPN" and index["status"] == "Exercise"
    # tracked to within 80 s of impact in Hokkaido's waters: believed fallen at 400, cleared at 430
    assert [(m["msgType"], m["reason"]) for m in index["messages"]] == [
        ("Alert", "alert"), ("Update", "impact"), ("Cancel", "clear-impact")]
    assert index["messages"][0]["areas"] == ["JPN-01"]
    files = sorted(p.name for p in out.glob("*.xml"))
    assert files == [m["file"] for m in index["messages"]]
    for f in out.glob("*.xml"):
        validate(f.read_bytes())
    assert json.loads(r.output)["messages"][1]["references"] == [
        f"{index['messages'][0]['identifier']}".join(["accord.jpn.example,", ","]) + index["messages"][0]["sent"]]


def test_alerts_cli_rerun_replaces_an_earlier_alert_dir_but_not_other_dirs(tmp_path):
    src = tmp_path / "p.jsonl"
    write_preds(src, hokkaido_preds())
    out = tmp_path / "alerts"
    for _ in range(2):
        assert runner.invoke(app, ["warning", "alerts", str(src), "--party", "JPN", "--out", str(out)]).exit_code == 0
    other = tmp_path / "precious"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    r = runner.invoke(app, ["warning", "alerts", str(src), "--party", "JPN", "--out", str(other)])
    assert isinstance(r.exception, InputError) and "refusing" in str(r.exception)
    assert (other / "keep.txt").read_text() == "x"


def test_alerts_cli_bad_prediction_leaves_no_partial_output(tmp_path):
    src = tmp_path / "p.jsonl"
    bad = make_pred(350, 43.3, 140.0, 0.0, 0.0, 0.0, impact_t=400)  # no ellipse, no covariance
    write_preds(src, hokkaido_preds() + [bad])
    out = tmp_path / "alerts"
    r = runner.invoke(app, ["warning", "alerts", str(src), "--party", "JPN", "--out", str(out)])
    assert isinstance(r.exception, InputError)
    assert "impact_ellipse_95/impact_cov_en_m2" in str(r.exception) and "prediction #3 (track T1, t=350" in str(r.exception)
    assert str(src) in str(r.exception)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["p.jsonl"]  # no temp dir left behind


@pytest.mark.parametrize("change,words", [
    ({"impact_t": 1e308}, "field 'impact_t': prediction #3 (track T1): impact_t 1e+308 is not within 86400 s"),
    ({"t": 1e9}, "field 't': prediction #3 (track T1): time t=1000000000.0 is more than 86400 s after"),
    ({"t": 1e300, "impact_t": 1e300}, "field 't': prediction #3 (track T1): time t=1e+300 is not in [0, 3.2e+09] s"),
])
def test_alerts_cli_refuses_prediction_times_the_clock_would_tick_to_for_ever(tmp_path, change, words):
    # the engine's clock ticks every second up to the last impact: impact_t = 1e308 never ended
    src, out = tmp_path / "p.jsonl", tmp_path / "alerts"
    far = make_pred(350, 43.3, 140.0, 8_000, 4_000, 90, impact_t=400)
    write_preds(src, hokkaido_preds(), [json.dumps(dict(far.to_json(), **change))])
    r = runner.invoke(app, ["warning", "alerts", str(src), "--party", "JPN", "--out", str(out)])
    assert isinstance(r.exception, InputError) and words in str(r.exception), r.exception
    assert str(src) in str(r.exception) and not out.exists()


def test_alerts_cli_malformed_line_names_file_and_line(tmp_path):
    src = tmp_path / "p.jsonl"
    write_preds(src, hokkaido_preds(), extra_lines=['{"t": 1, "track_id": "T9"}'])
    r = runner.invoke(app, ["warning", "alerts", str(src), "--party", "JPN", "--out", str(tmp_path / "o")])
    assert isinstance(r.exception, InputError)
    assert "line 3" in str(r.exception) and str(src) in str(r.exception)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("track", ["T1\x1b[2J", "T1\x00", "T1\nT2", "T\u2028"])
def test_alerts_cli_refuses_a_track_id_with_a_control_character_in_one_line(tmp_path, track):
    """The CAP XML cannot hold it (the message was a ValueError traceback while writing it) and a
    terminal would run it: the file's line and field are named, nothing is written."""
    src, out = tmp_path / "p.jsonl", tmp_path / "alerts"
    write_preds(src, hokkaido_preds() + [make_pred(340, 43.3, 140.0, 8_000, 4_000, 90, impact_t=400, track=track)])
    r = runner.invoke(app, ["warning", "alerts", str(src), "--party", "JPN", "--out", str(out)])
    assert isinstance(r.exception, InputError), (r.output, r.exception)
    assert "line 3" in str(r.exception) and "control character" in str(r.exception) and "\n" not in str(r.exception)
    assert not out.exists()


def test_alerts_cli_unknown_party_is_refused(tmp_path):
    src = tmp_path / "p.jsonl"
    write_preds(src, hokkaido_preds())
    r = runner.invoke(app, ["warning", "alerts", str(src), "--party", "ATL", "--out", str(tmp_path / "o")])
    assert isinstance(r.exception, ConfigError) and "ATL" in str(r.exception)
    assert not (tmp_path / "o").exists()


def test_alerts_cli_simulated_scenario_cannot_be_actual(tmp_path):
    scen = tmp_path / "scen"
    scen.mkdir()
    write_preds(scen / "predictions.jsonl", hokkaido_preds())
    (scen / "events.jsonl").write_text("{}\n")
    r = runner.invoke(app, ["warning", "alerts", str(scen), "--party", "JPN", "--out", str(tmp_path / "o"),
                            "--status", "Actual"])
    assert isinstance(r.exception, ConfigError) and "Actual" in str(r.exception)
    assert not (tmp_path / "o").exists()


def test_alerts_rules_from_node_yaml(tmp_path):
    cfg = tmp_path / "node.yaml"
    cfg.write_text("party: JPN\ncreated: '2026-01-01T00:00:00.000Z'\nalerts:\n  margin_m: 2000\n"
                   "  areas: [JPN-01, JPN-02]\n  min_update_interval_s: 10\n", encoding="utf-8")
    r = AlertRules.from_yaml(cfg)
    assert (r.party, r.margin_m, r.areas, r.min_update_interval_s) == ("JPN", 2000.0, ("JPN-01", "JPN-02"), 10.0)


@pytest.mark.parametrize("section,match", [
    ("  margin: 5\n", r"unknown alert rule key\(s\) margin \(did you mean margin_m\?\)"),
    ("  margn_m: 5\n  aeras: []\n", r"unknown alert rule key\(s\) aeras \(did you mean areas\?\), margn_m \(did you mean margin_m\?\)"),
    ("  margin_m: lots\n", "must be a number"),
    ("  margin_m: -1\n", "≥ 0"), ("  areas: JPN-01\n", "list of area codes"),
    ("  party: KOR\n", "differs from the node's party"),
])
def test_alerts_rules_bad_yaml_names_the_field(tmp_path, section, match):
    cfg = tmp_path / "node.yaml"
    cfg.write_text("party: JPN\nalerts:\n" + section, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        AlertRules.from_yaml(cfg)


def test_alerts_cli_stores_messages_as_items_in_the_node(tmp_path):
    from accord.node import Node

    Node.init(tmp_path / "node", party="JPN").close()
    src = tmp_path / "p.jsonl"
    write_preds(src, hokkaido_preds())
    r = runner.invoke(app, ["warning", "alerts", str(src), "--party", "JPN", "--out", str(tmp_path / "o"),
                            "--node", str(tmp_path / "node"), "--json"])
    assert r.exit_code == 0, r.output
    index = json.loads(r.output)
    with Node.open(tmp_path / "node") as node:
        items = node.items(kind="warning.alert")
        assert sorted(i.body["identifier"] for i in items) == sorted(m["identifier"] for m in index["messages"])
        assert all(str(i.marking) == "UNCLASSIFIED//REL TO JPN, KOR, USA" for i in items)
    r = runner.invoke(app, ["warning", "alerts", str(src), "--party", "KOR", "--out", str(tmp_path / "k"),
                            "--node", str(tmp_path / "node")])
    assert isinstance(r.exception, ConfigError) and "JPN's, not KOR's" in str(r.exception)


def test_alerts_table_prints_a_track_id_and_the_out_dir_literally(tmp_path):
    """The track id comes from the predictions file and the title names --out: markup in either
    (``[/]`` failed the command, ``[link=…]`` made a hidden hyperlink) is printed as written, and
    an escape sequence in them does not reach the terminal."""
    hostile = "[/]a[link=x]y[/link][bold]T[/]\x1b[2J"
    src = tmp_path / "p.jsonl"
    track = "[/]a[link=x]y[/link][bold]T[/]"  # no control character: the CAP XML could not hold it
    write_preds(src, [make_pred(300, 43.3, 140.0, 8_000, 4_000, 90, impact_t=400, track=track)])
    out = tmp_path / hostile
    r = runner.invoke(app, ["warning", "alerts", str(src), "--party", "JPN", "--out", str(out)],
                      env={"COLUMNS": "400"})
    assert r.exit_code == 0, (r.output, r.exception)
    assert "\x1b" not in r.output
    shown = "[/]a[link=x]y[/link][bold]T[/][2J"
    assert f"/{shown}: " in r.output and f"│ {track}" in r.output, r.output


EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_docs_example_predictions_give_the_messages_the_docs_show(tmp_path):
    # docs/alerts.md runs `accord warning alerts examples/oct2022.jsonl` and `…/nocov.jsonl`:
    # the files are the engine tests' October-2022 overflight (test_alerts_engine.py), written out
    from alerts_helpers import path as ground_path

    from accord.warning.io.tracks import read_predictions

    oct2022 = ground_path(40.6, 126.4, 40.9, 141.0, 40) + ground_path(40.9, 141.0, 40.5, 175.0, 60)[1:]
    want = [make_pred(150, 40.5, 175.0, 15_000, 5_000, 90, impact_t=1_300, ground_track=oct2022),
            make_pred(400, 40.5, 175.0, 12_000, 4_000, 90, impact_t=1_300,
                      ground_track=tuple(p for p in oct2022 if p[1] > 146.0))]
    assert [p.to_json() for p in read_predictions(EXAMPLES / "oct2022.jsonl")] == \
        [json.loads(json.dumps(p.to_json())) for p in want]
    out = tmp_path / "oct2022-jpn"
    r = runner.invoke(app, ["warning", "alerts", str(EXAMPLES / "oct2022.jsonl"), "--party", "JPN", "--out", str(out),
                            "--status", "Actual", "--json"])
    assert r.exit_code == 0, r.output
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert [(m["msgType"], m["reason"], m["areas"]) for m in index["messages"]] == [
        ("Alert", "alert", ["JPN-02"]), ("Cancel", "clear-passed", ["JPN-02"])]
    r = runner.invoke(app, ["warning", "alerts", str(EXAMPLES / "nocov.jsonl"), "--party", "JPN",
                            "--out", str(tmp_path / "x")])
    assert isinstance(r.exception, InputError) and not (tmp_path / "x").exists()   # `accord` exits 2 on it
    assert "prediction #1 (track T1, t=1.0): prediction has no usable impact covariance or 95 % ellipse" in str(r.exception)
