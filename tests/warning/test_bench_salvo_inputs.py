"""``bench/alerts.py --record DIR`` / ``--replay DIR``: a salvo exercise's alert-engine inputs,
recorded in the run, give the run's own messages and audit again when replayed — so a change of
the alert rules can be measured on the held-out salvos from their recorded inputs."""

from __future__ import annotations

import gzip

import pytest

from bench_modules import load_bench
from accord.warning.alerts.engine import AlertEngine

alerts = load_bench("alerts")
salvo_inputs = load_bench("salvo_inputs")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    run = alerts.salvo(3, 3, record=d)          # seed 3: crossing paths and a node crash
    return run, salvo_inputs.path_for(d, 3, 3)


def test_the_replay_audits_as_the_run_did(recorded):
    run, path = recorded
    assert AlertEngine.on_predictions.__name__ == "on_predictions"   # the recorder is taken out again
    again = alerts.replayed_salvo(path)
    assert sum(c["messages"] for c in run["parties"].values()) > 0      # not vacuous
    assert again["parties"] == run["parties"]
    assert again["injects"] == run["injects"]


def test_the_recorded_predictions_are_the_engines_inputs_to_the_bit(recorded):
    _, path = recorded
    header, calls = salvo_inputs.read(path)
    assert header == {"format": salvo_inputs.FORMAT, "seed": 3, "missiles": 3}
    preds = [p for _, _, ps in calls if ps for p in ps]
    assert preds and {party for party, _, _ in calls} == {"JPN", "KOR"}
    assert any(ps is None for _, _, ps in calls)                       # on_time calls kept too
    assert all(type(p).from_json(p.to_json()) == p for p in preds[:500])


def test_a_file_that_is_not_recorded_inputs_is_a_clear_error(tmp_path):
    bad = tmp_path / "salvo-1-6.jsonl.gz"
    with gzip.open(bad, "wt") as f:
        f.write('{"format": "something-else"}\n')
    with pytest.raises(ValueError, match="not an accord-alert-inputs/1 file"):
        salvo_inputs.read(bad)
    (tmp_path / "junk.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="cannot read recorded alert inputs"):
        salvo_inputs.read(tmp_path / "junk.jsonl.gz")
    with pytest.raises(ValueError, match="cannot read recorded alert inputs"):
        salvo_inputs.read(tmp_path / "missing.jsonl.gz")
