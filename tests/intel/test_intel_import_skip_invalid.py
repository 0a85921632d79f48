"""`accord intel import --skip-invalid`: a real-world bundle that mixes valid and invalid objects
stores every valid one, writes a report of each rejected one with its reason, and exits non-zero;
without the flag the import stays all or nothing.

The mixed bundle is generated here: the vendored OpenCTI-style bundle (data/README.md; 8 valid
objects) with invalid objects of the kinds real exports carry interleaved."""

from __future__ import annotations

import json
import random
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from accord.cli.main import app
from accord.errors import InvalidObjectsSkipped, StixValidationError
from accord.intel.import_export import import_bundle
from accord.intel.node_store import store_for
from intel_samples import indicator, malware
from intel_testkit import make_node

DATA = Path(__file__).parent / "data"
VALID = json.loads((DATA / "opencti-bundle.json").read_text())["objects"]
INVALID = [
    indicator(90, pattern="[ipv4-addr:value = '203.0.113.9'"),            # unbalanced STIX pattern
    {k: v for k, v in malware("nofamily").items() if k != "is_family"},    # a required property missing
    {**indicator(91), "id": "malware--5f8c2b1e-3d4a-4c6b-8e9f-0a1b2c3d4e5f"},  # id of another type
    {**indicator(92), "created": "yesterday"},                             # not a timestamp
    "indicator--not-an-object",                                            # not a JSON object at all
    {**indicator(93), "spec_version": "2.0"},                             # not STIX 2.1
]
runner = CliRunner()


def _bundle(path: Path, objects: list) -> Path:
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--0c1b2a39-4d5e-4f60-8a71-9b8c7d6e5f40",
                                "objects": objects}))
    return path


def _mixed(path: Path) -> tuple[Path, set[int]]:
    objects = list(VALID)
    bad_at = set()
    for n, obj in enumerate(INVALID):  # interleaved: positions 1, 3, 5 … of the file
        objects.insert(2 * n + 1, obj)
        bad_at.add(2 * n + 1)
    return _bundle(path, objects), bad_at


def _count(store) -> int:
    return store.conn.execute("SELECT COUNT(*) FROM intel_objects").fetchone()[0]


def test_the_vendored_sample_is_what_the_generator_makes(tmp_path):
    path, _ = _mixed(tmp_path / "mixed.json")
    assert json.loads((DATA / "opencti-mixed-bundle.json").read_text()) == json.loads(path.read_text())


def test_without_the_flag_a_mixed_bundle_is_refused_whole(jpn, tmp_path):
    path, bad_at = _mixed(tmp_path / "mixed.json")
    store = store_for(jpn)
    with pytest.raises(StixValidationError) as err:
        import_bundle(store, path)
    assert {f["index"] for f in err.value.failures} == bad_at
    assert _count(store) == 0


def test_skip_invalid_stores_every_valid_object_and_returns_each_rejected_with_its_reason(jpn, tmp_path):
    path, bad_at = _mixed(tmp_path / "mixed.json")
    store = store_for(jpn)
    summary = import_bundle(store, path, skip_invalid=True)
    assert (summary["objects"], summary["stored"], summary["skipped"]) == (14, 8, 6)
    stored = {o["id"]: o for o in store.all_objects("imports")}
    assert stored == {o["id"]: o for o in VALID}  # exactly the valid ones, as sent
    assert [r["index"] for r in summary["rejected"]] == sorted(bad_at)
    for r, obj in zip(summary["rejected"], INVALID):
        assert r["object"] == obj and r["reason"].startswith(f"objects[{r['index']}]")
    assert "pattern" in summary["rejected"][0]["reason"].lower()
    assert "is_family" in summary["rejected"][1]["reason"]
    assert summary["rejected"][4]["type"] is None and "object" in summary["rejected"][4]["reason"]
    # importing again: the valid ones are already present, the invalid ones skipped again
    again = import_bundle(store, path, skip_invalid=True)
    assert (again["stored"], again["already_present"], again["skipped"]) == (0, 8, 6)


def test_skip_invalid_with_strict_also_skips_what_only_stix2_validator_refuses(jpn, tmp_path):
    store = store_for(jpn)
    summary = import_bundle(store, DATA / "opencti-bundle.json", strict=True, skip_invalid=True)
    assert [r["id"] for r in summary["rejected"]] == ["malware--2a9c5d7e-1b3f-5a4c-8d6e-0f1a2b3c4d52"]
    assert "x_opencti_files" in summary["rejected"][0]["reason"] and summary["stored"] == 7


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.booleans(), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_whatever_the_mix_exactly_the_valid_objects_are_stored(pattern, rnd: random.Random):
    """Property: for any interleaving of valid and invalid objects (all valid, all invalid,
    one of each …), the valid ones are stored and the rejected indices are the invalid ones."""
    objects, bad_at = [], set()
    for i, valid in enumerate(pattern):
        if valid:
            objects.append(indicator(100 + i))
        else:
            objects.append(rnd.choice(INVALID))
            bad_at.add(i)
    with tempfile.TemporaryDirectory() as tmp:
        node = make_node(Path(tmp) / "jpn", "JPN")
        store = store_for(node)
        summary = import_bundle(store, _bundle(Path(tmp) / "b.json", objects), skip_invalid=True)
        assert {r["index"] for r in summary["rejected"]} == bad_at
        assert {o["id"] for o in store.all_objects("imports")} == {
            o["id"] for i, o in enumerate(objects) if i not in bad_at}
        assert summary["stored"] + summary["skipped"] == len(objects)
        node.close()


def test_cli_writes_the_report_prints_its_path_and_exits_non_zero(tmp_path):
    node = make_node(tmp_path / "jpn", "JPN")
    node.close()
    path, bad_at = DATA / "opencti-mixed-bundle.json", {1, 3, 5, 7, 9, 11}
    d = str(tmp_path / "jpn")
    r = runner.invoke(app, ["intel", "import", str(path), "--dir", d])
    assert isinstance(r.exception, StixValidationError) and not isinstance(r.exception, InvalidObjectsSkipped)
    assert "nothing was stored" in str(r.exception)

    r = runner.invoke(app, ["intel", "import", str(path), "--skip-invalid", "--dir", d])
    assert isinstance(r.exception, InvalidObjectsSkipped) and r.exception.exit_code != 0
    assert "imported 8 of 14 objects" in r.stdout and "8 new" in r.stdout
    report_path = Path(r.stdout.split("report: ")[1].strip())
    assert report_path.parent == tmp_path / "jpn" / "import-reports" and str(report_path) in str(r.exception)
    assert stat.S_IMODE(report_path.stat().st_mode) == 0o600
    report = json.loads(report_path.read_text())
    assert (report["stored"], report["skipped"]) == (8, 6)
    assert [x["index"] for x in report["rejected"]] == sorted(bad_at) and all(x["reason"] for x in report["rejected"])

    chosen = tmp_path / "reports" / "r.json"
    r = runner.invoke(app, ["intel", "import", str(path), "--skip-invalid", "--report", str(chosen), "--json",
                            "--dir", d])
    assert isinstance(r.exception, InvalidObjectsSkipped)
    out = json.loads(r.stdout)
    assert out["report"] == str(chosen) and out["already_present"] == 8 and "rejected" not in out
    assert json.loads(chosen.read_text())["skipped"] == 6

    clean = runner.invoke(app, ["intel", "import", str(DATA / "opencti-bundle.json"), "--skip-invalid", "--dir", d])
    assert clean.exit_code == 0 and "skipped" not in clean.stdout  # nothing skipped: no report, exit 0
    r = runner.invoke(app, ["intel", "import", str(path), "--report", str(chosen), "--dir", d])
    assert r.exit_code != 0 and "--skip-invalid" in str(r.exception)
