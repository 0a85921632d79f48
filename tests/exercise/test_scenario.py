"""Scenario files: validation names the line and the field; built-ins are valid; schema in step."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.errors import InputError
from accord.exercise.scenario import builtin_names, builtin_text, json_schema, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_builtins_include_the_default_and_a_partition_and_crash_drill():
    names = builtin_names()
    assert "trilateral-warning" in names
    drills = [load_scenario(n) for n in names]
    assert any(any(link.partitions for link in s.links) and any(i.type == "node_crash" for i in s.injects)
               for s in drills)
    default = load_scenario("trilateral-warning")
    assert {p.code for p in default.parties} == {"JPN", "KOR", "USA"}
    assert {r.owner for r in default.radars} == {"JPN", "KOR"}


@pytest.mark.parametrize("old,new,line_of,field,words", [
    ("pd: 0.9,", "pd: 1.9,", "id: KOR-GP1", "radars[0].pd", "less than or equal to 1"),
    ("owner: JPN", "owner: JAP", "id: JPN-TPY1", "radars[1].owner", "party 'JAP' is not an ISO 3166-1"),
    ("t: 150,", "t: 1500,", "t: 1500,", "injects[0].t", "after the end"),
    ("duration_s: 900", "duration_s: -5", "duration_s: -5", "duration_s", "greater than 0"),
    ("sigma_range_m: 40,", "sigma_range_m: forty,", "sigma_range_m: forty", "radars[0].sigma_range_m",
     "valid number"),
    # validated, then at run time "ManualClock start must be timezone-aware" or an OverflowError
    # traceback (epoch + an agreement's 365 days past the year 9999)
    ('epoch: "2026-11-25T00:00:00Z"', 'epoch: "2026-11-25T00:00:00"', "epoch:", "epoch", "time zone"),
    ('epoch: "2026-11-25T00:00:00Z"', 'epoch: "9999-12-31T23:00:00Z"', "epoch:", "epoch", "years 0002 to 9895"),
    ('epoch: "2026-11-25T00:00:00Z"', 'epoch: "0001-01-01T00:00:00+14:00"', "epoch:", "epoch", "years 0002 to 9895"),
    # validated, then the simulator's traceback: a period of 5e-324 s counts infinitely many scans
    # (OverflowError), one of 1e-300 s asks numpy for 1e303 of them ("Maximum allowed size
    # exceeded"); a range of 1e103 m is cubed past a double (OverflowError)
    ("scan_period_s: 2.0,", "scan_period_s: 5.0e-324,", "id: KOR-GP1", "radars[0].scan_period_s",
     "greater than or equal to 0.01"),
    ("scan_period_s: 2.0,", "scan_period_s: 1.0e-300,", "id: KOR-GP1", "radars[0].scan_period_s",
     "greater than or equal to 0.01"),
    ("max_range_m: 900000,", "max_range_m: 1.0e+103,", "id: KOR-GP1", "radars[0].max_range_m",
     "less than or equal to 100000000"),
    # validated, then the trajectory solver's ValueError ("The function value at x=1e+20 is NaN")
    ("{id: M-OVER, t: 40,", "{id: M-OVER, t: 1.0e+20,", "id: M-OVER", "launches.explicit[0].t",
     "less than or equal to 21600"),
    ("window_s: [0, 240]", "window_s: [0, 1.0e+20]", "window_s", "launches.generated.window_s",
     "must lie within [0, 21600] s"),
    ("window_s: [0, 240]", "window_s: [-1.0e+20, 0]", "window_s", "launches.generated.window_s",
     "must lie within [0, 21600] s"),
    ("parties: [JPN, KOR]\n", "parties: [JPN, KOR]\n    valid_days: 1.0e+12\n", "valid_days", "agreements[0].valid_days",
     "less than or equal to 36525"),
])
def test_validation_error_names_line_and_field(old, new, line_of, field, words):
    text = builtin_text("trilateral-warning").replace(old, new, 1)
    expected_line = next(i for i, ln in enumerate(text.splitlines(), 1) if line_of in ln)
    with pytest.raises(InputError) as err:
        parse_scenario(text, source="drill.yaml")
    e = err.value
    assert e.field == field
    assert words in str(e)
    # Flow mappings span lines: the error points at the line of the field or of its mapping.
    assert expected_line <= e.line <= expected_line + 3
    assert str(e).startswith(f"drill.yaml, line {e.line}, field '{field}'")


def test_a_misspelt_required_field_is_named_as_the_typo_it_is():
    """``duraton_s:`` made two problems, and the one reported was ``duration_s: Field required``
    (and 1 more): the line the user has to change was the one not named."""
    text = builtin_text("trilateral-warning").replace("duration_s: 900", "duraton_s: 900", 1)
    with pytest.raises(InputError) as err:
        parse_scenario(text, source="drill.yaml")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "duraton_s" in ln)
    assert str(err.value) == (f"drill.yaml, line {line}, field 'duraton_s': Extra inputs are not permitted "
                              "(did you mean 'duration_s'?) (and 1 more problem)")


def test_broken_yaml_and_non_mapping_are_clear_errors():
    with pytest.raises(InputError, match="line 3: not valid YAML"):
        parse_scenario("name: x\nparties: [JPN\n", source="bad.yaml")
    with pytest.raises(InputError, match="YAML mapping"):
        parse_scenario("- just\n- a list\n")


def test_committed_json_schema_matches_the_model():
    committed = json.loads((ROOT / "docs" / "exercise-scenario.schema.json").read_text())
    assert committed == json_schema()


def test_cli_list_and_validate(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["exercise", "list", "--json"])
    assert res.exit_code == 0, res.output
    assert {r["name"] for r in json.loads(res.output)} == set(builtin_names())
    res = runner.invoke(app, ["exercise", "validate", "trilateral-warning"])
    assert res.exit_code == 0 and "ok" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(builtin_text("trilateral-warning").replace("loss: 0.01", "loss: 2", 1))
    res = runner.invoke(app, ["exercise", "validate", str(bad)])
    assert res.exit_code != 0
    assert "links[0].loss" in str(res.exception) or "links[0].loss" in res.output


@pytest.mark.parametrize("epoch", ["9895-12-31T23:59:59Z", "0002-01-01T00:00:00Z", "2026-11-25T09:00:00+09:00",
                                   "2026-11-25T00:00:00-00:00"])
def test_an_epoch_with_room_for_the_exercise_is_taken_in_utc(epoch):
    from datetime import UTC, datetime

    text = builtin_text("trilateral-warning").replace('epoch: "2026-11-25T00:00:00Z"', f'epoch: "{epoch}"', 1)
    got = parse_scenario(text, source="drill.yaml").epoch
    assert got.tzinfo is UTC and got == datetime.fromisoformat(epoch)


def test_an_interrupted_run_says_what_it_left(tmp_path, monkeypatch):
    """Ctrl-C during a run exited 130 without a word, leaving an output directory with nodes and
    agreements but no report."""
    import accord.exercise.runner as runner_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_module, "run_exercise", interrupted)
    res = CliRunner().invoke(app, ["exercise", "run", "trilateral-warning", "--out", str(tmp_path / "drill")])
    assert res.exit_code == 130
    assert " ".join(res.stderr.split()) == (f"interrupted: {tmp_path / 'drill'} holds an unfinished run (no report); "
                                            "run the same command again to redo it")


def test_a_scenario_name_is_printed_as_written_never_read_as_rich_markup(tmp_path, capsys):
    """A scenario's name is printed by ``validate`` and in the title of a run's summary: ``[/]``
    in it failed the command (after the whole run, for the summary) and ``[link=…]`` made a link."""
    from types import SimpleNamespace

    from accord.cli.exercise import print_summary

    name = "drill [/] [link=https://evil.example]x[/link]\x1b[2J"
    f = tmp_path / "s.yaml"
    f.write_text(builtin_text("trilateral-warning").replace("name: trilateral-warning",
                                                            f"name: {json.dumps(name)}", 1))
    res = CliRunner().invoke(app, ["exercise", "validate", str(f)])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "drill [/] [link=https://evil.example]x[/link]\\x1b[2J" in res.output and "\x1b" not in res.output
    result = SimpleNamespace(metrics={"scenario": {"name": name}, "summary_table": [["result", "PASSED"]]},
                             passed=True, report_path=tmp_path / "report.html", out_dir=tmp_path)
    print_summary(result)
    assert "Exercise drill [/] [link=https://evil.example]x[/link][2J — PASSED" in capsys.readouterr().out


def test_the_summary_rows_print_a_scenario_name_as_written(tmp_path, capsys):
    """The run's summary table repeats the scenario's name in its first row (``summary_table``):
    as a Rich cell, ``[/]`` in it failed the command after the whole run, ``[link=…]`` made a
    hidden link and an escape sequence reached the terminal."""
    from types import SimpleNamespace

    from accord.cli.exercise import print_summary

    name = "drill [/] [link=https://evil.example]x[/link]\x1b]52;c;ZXZpbA==\x07"
    result = SimpleNamespace(metrics={"scenario": {"name": name},
                                      "summary_table": [("scenario", name), ("transport", "inproc")]},
                             passed=True, report_path=tmp_path / "report.html", out_dir=tmp_path)
    print_summary(result)
    out = capsys.readouterr().out
    assert "drill [/] [link=https://evil.example]x[/link]]52;c;ZXZpbA==" in " ".join(out.split())
    assert "\x1b" not in out and "\x07" not in out
