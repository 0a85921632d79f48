"""Import of MISP- and OpenCTI-produced bundles (all or nothing, full validation), export as
STIX, ACS 3.0 re-marked STIX and MISP distribution; the ``accord intel`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.errors import InputError, StixValidationError
from accord.intel import markings as mk
from accord.intel.import_export import export_bundle, import_bundle, import_objects
from accord.intel.node_store import store_for
from intel_testkit import make_node
from intel_samples import indicator

DATA = Path(__file__).parent / "data"


@pytest.fixture
def store(jpn):
    return store_for(jpn)


def test_misp_bundle_imports_and_keeps_every_object(store):
    summary = import_bundle(store, DATA / "misp-bundle.json")
    source = json.loads((DATA / "misp-bundle.json").read_text())["objects"]
    assert summary["stored"] == len(source) == 24
    stored = {o["id"] + o["type"]: o for o in store.all_objects("imports")}
    assert all(stored[o["id"] + o["type"]] == o for o in source)
    # MISP marks the report TLP:AMBER with the STIX 2.1 predefined (TLP 1.0) id: understood
    rows = {r["id"]: r for r in export_bundle(store, fmt="misp-distribution")["objects"]}
    report = rows["report--5e0b2f9a-3c1d-4f7e-9a6b-2d8c4e1f0a11"]
    assert report["marking"] == "UNCLASSIFIED//TLP:AMBER" and report["distribution"] == 1
    email = rows["observed-data--91a3c7d2-4b5e-4f60-8a71-0c2d3e4f5a64"]
    assert email["distribution"] == 2 and "tlp:green" in email["tags"]
    # importing again changes nothing
    assert import_bundle(store, DATA / "misp-bundle.json")["already_present"] == 24


def test_opencti_bundle_imports_with_its_extensions(store):
    summary = import_bundle(store, DATA / "opencti-bundle.json")
    assert summary["stored"] == 8
    exported = {o["id"]: o for o in export_bundle(store, collection="imports")["objects"]}
    for obj in json.loads((DATA / "opencti-bundle.json").read_text())["objects"]:
        assert exported[obj["id"]] == obj  # x_opencti_* and the OpenCTI extension kept as sent
    rows = {r["id"]: r for r in export_bundle(store, fmt="misp-distribution")["objects"]}
    assert rows["indicator--3b0d6e8f-2c4a-5b1d-9e7f-1a2b3c4d5e74"]["marking"] == "UNCLASSIFIED//TLP:AMBER"


def test_strict_import_runs_stix2_validator_and_stores_nothing(store):
    with pytest.raises(StixValidationError) as err:
        import_bundle(store, DATA / "opencti-bundle.json", strict=True)
    assert [f["id"] for f in err.value.failures] == ["malware--2a9c5d7e-1b3f-5a4c-8d6e-0f1a2b3c4d52"]
    assert "x_opencti_files: empty arrays are not allowed" in err.value.failures[0]["message"]
    with pytest.raises(Exception):
        store.collection("imports").id and store.count("imports")
    assert store.conn.execute("SELECT COUNT(*) FROM intel_objects").fetchone()[0] == 0


def test_one_bad_object_rejects_the_whole_bundle(store, tmp_path):
    bad = indicator(2, pattern="[ipv4-addr:value = '1.2.3.4'")  # unbalanced: stix2 rejects the pattern
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--6c0c5c4a-0d8e-4a52-8d0e-9d1c6a2b3c4d",
                                "objects": [indicator(1), bad, {"type": "indicator", "id": "nope"}]}))
    with pytest.raises(StixValidationError) as err:
        import_bundle(store, path)
    assert {f["index"] for f in err.value.failures} == {1, 2}
    assert str(path) in str(err.value)
    assert store.conn.execute("SELECT COUNT(*) FROM intel_objects").fetchone()[0] == 0
    path.write_text('{"type": "bundle", "objects": [], "objects": []}')
    with pytest.raises(InputError, match="duplicate"):
        import_bundle(store, path)


def test_export_for_a_partner_and_acs_remarking(store, tmp_path):
    coll = store.add_collection("Shared", alias="shared", rel_to=["KOR"])
    label = mk.AccordLabel("SECRET", {"JPN", "USA"}, ("EXERCISE",), originator="JPN").marking_definition()
    secret = indicator(1, markings=[label["id"]])
    plain = indicator(2, markings=[mk.TLP2_IDS["GREEN"]])
    store.add_objects(coll.id, [label, secret, plain])
    for_kor = export_bundle(store, party="KOR")
    ids = {o["id"] for o in for_kor["objects"]}
    assert plain["id"] in ids and secret["id"] not in ids
    assert mk.tlp_marking_definition("GREEN") in for_kor["objects"]  # the TLP 2.0 definition travels
    for typo in ("KRO", "kor", ""):  # not a party: refused, not an export of what no party may see
        with pytest.raises(InputError, match="field 'for'.*ISO 3166-1 alpha-3"):
            export_bundle(store, party=typo)
    mine = export_bundle(store)
    assert mk.accord_extension_definition() in mine["objects"]
    acs = export_bundle(store, fmt="acs")
    objs = {o["id"]: o for o in acs["objects"]}
    acs_defs = [o for o in acs["objects"] if mk.ACS_EXTENSION_ID in o.get("extensions", {})]
    assert len(acs_defs) == 1 and label["id"] not in objs
    block = acs_defs[0]["extensions"][mk.ACS_EXTENSION_ID]
    assert block["control_set"] == {"classification": "S", "permitted_nationalities": ["JPN", "USA"]}
    assert block["policy_reference"].startswith("urn:isa:policy:acs:ns:v3.0?")
    assert objs[secret["id"]]["object_marking_refs"] == [acs_defs[0]["id"]]
    # an export imports back unchanged into another node
    path = tmp_path / "export.json"
    path.write_text(json.dumps(mine))
    other = store_for(make_node(tmp_path / "usa", "USA"))
    import_bundle(other, path)
    assert {o["id"]: o for o in other.all_objects()} == {o["id"]: o for o in mine["objects"]}


def test_cli_collections_import_export_validate(tmp_path):
    from accord.cli.main import app

    runner = CliRunner()
    node = make_node(tmp_path / "jpn", "JPN")
    node.close()
    d = str(tmp_path / "jpn")
    r = runner.invoke(app, ["intel", "add-collection", "Cyber", "--alias", "cyber", "--rel-to", "KOR", "--dir", d])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["intel", "import", str(DATA / "misp-bundle.json"), "--collection", "cyber", "--dir", d])
    assert r.exit_code == 0 and "24 new" in r.output
    r = runner.invoke(app, ["intel", "collections", "--json", "--dir", d])
    rows = json.loads(r.output)
    assert rows[0]["alias"] == "cyber" and rows[0]["versions"] == 24 and rows[0]["rel_to"] == ["KOR"]
    out = tmp_path / "out.json"
    r = runner.invoke(app, ["intel", "export", "--collection", "cyber", "--for", "KOR", "-o", str(out), "--dir", d])
    assert r.exit_code == 0
    assert len(json.loads(out.read_text())["objects"]) == 24
    out2 = tmp_path / "out2.json"  # --out, as every other command that writes a file names it
    r = runner.invoke(app, ["intel", "export", "--collection", "cyber", "--for", "KOR", "--out", str(out2), "--dir", d])
    assert r.exit_code == 0, r.output
    assert json.loads(out2.read_text())["objects"] == json.loads(out.read_text())["objects"]
    r = runner.invoke(app, ["intel", "validate", str(DATA / "opencti-bundle.json"), "--strict"])
    assert isinstance(r.exception, StixValidationError) and r.exception.exit_code == 2  # main() exits 2
    assert "x_opencti_files" in r.output
    r = runner.invoke(app, ["intel", "validate", str(DATA / "opencti-bundle.json")])
    assert r.exit_code == 0 and "8 objects" in r.output


def test_validate_refuses_what_import_would_refuse_an_integer_beyond_2_53(tmp_path, store):
    # an object stix2 accepts but an item body may not hold (RFC 8785's exact-integer domain):
    # validate said "valid", then import refused it
    from accord.cli.main import app

    obj = dict(indicator(1), x_count=2**53 + 1)
    bundle = tmp_path / "big.json"
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                                  "objects": [obj]}))
    r = CliRunner().invoke(app, ["intel", "validate", str(bundle)])
    assert isinstance(r.exception, StixValidationError) and "x_count = 9007199254740993 is outside" in r.output
    with pytest.raises(StixValidationError, match="not valid STIX 2.1"):
        import_bundle(store, bundle)
    obj["x_count"] = 2**53 - 1
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                                  "objects": [obj]}))
    assert CliRunner().invoke(app, ["intel", "validate", str(bundle)]).exit_code == 0


def test_cli_add_collection_prints_shared_and_a_bracketed_title_as_written(tmp_path):
    """``[shared]`` and a title's ``[…]`` are text: printed through Rich's markup they vanished
    (``… : Cyber indicators `` with a trailing space for a shared collection)."""
    from accord.cli.main import app

    make_node(tmp_path / "jpn", "JPN").close()
    r = CliRunner().invoke(app, ["intel", "add-collection", "Cyber [TLP:AMBER]", "--alias", "cyber",
                                 "--shared", "--dir", str(tmp_path / "jpn")])
    assert r.exit_code == 0, r.output
    assert r.output.rstrip("\n").endswith("(cyber): Cyber [TLP:AMBER] [shared]"), r.output


def test_a_collection_added_twice_names_the_one_that_holds_the_alias(store):
    """The refusal named the id freshly drawn for the new collection, which exists nowhere, as
    if it were the one in the way."""
    first = store.add_collection("Cyber indicators", alias="cyber")
    with pytest.raises(InputError) as refused:
        store.add_collection("Cyber indicators", alias="cyber")
    assert str(refused.value) == (f"field 'alias': alias 'cyber' is already used by collection {first.id} "
                                  "(Cyber indicators)")
    with pytest.raises(InputError) as refused:
        store.add_collection("Other", alias="other", id=first.id)
    assert str(refused.value) == f"field 'id': a collection with id {first.id!r} already exists (Cyber indicators)"


def test_an_import_of_a_partner_s_id_is_stored_as_the_node_s_own(store):
    """Each originator's objects are its own: an import (the node's) carrying versions of an id a
    partner's tool wrote first stores them as the node's — where it was refused, which let the
    partner hold the id up — and the node's readers get the node's versions."""
    coll = store.add_collection("Joint", alias="joint")
    store.add_objects(coll, [indicator(1, name="the partner's")], originator="KOR")
    newer = indicator(1, modified="2026-02-01T00:00:00.000Z")
    summary = import_objects(store, [newer, indicator(2), indicator(1)], source="joint.json", collection="joint")
    assert (summary["stored"], summary["already_present"]) == (3, 0)
    assert store.versions(coll, newer["id"], "JPN").items == ["2026-02-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z"]
    assert sorted(tuple(r) for r in store.conn.execute(
        "SELECT originator, shadowed FROM intel_objects WHERE stix_id = ?", (newer["id"],))) \
        == [("JPN", 0), ("JPN", 0), ("KOR", 1)]  # the partner's version is served to its writer only


def test_the_cli_counts_versions_of_a_partner_s_id_as_imported(tmp_path):
    """``accord intel import`` of versions of an id a partner's tool wrote first: stored as the
    node's and counted so, with --skip-invalid too."""
    from accord.cli.main import app
    from accord.errors import InvalidObjectsSkipped

    node = make_node(tmp_path / "jpn", "JPN")
    s = store_for(node)
    s.add_objects(s.add_collection("Imported bundles", alias="imports"), [indicator(1)], originator="KOR")
    node.close()
    bundle = tmp_path / "b.json"
    objects = [indicator(1, modified="2026-02-01T00:00:00.000Z"), indicator(2)]
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--6b2c5b8e-1111-4111-8111-111111111111",
                                  "objects": objects}))
    r = CliRunner().invoke(app, ["intel", "import", str(bundle), "--dir", str(tmp_path / "jpn")])
    assert "imported 2 objects" in r.stdout and "2 new, 0 already present" in r.stdout, r.stdout
    assert "  indicator 2\n" in r.stdout
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--6b2c5b8e-1111-4111-8111-111111111111",
                                  "objects": [*objects, indicator(3), {"type": "indicator", "id": "bad"}]}))
    r = CliRunner().invoke(app, ["intel", "import", str(bundle), "--skip-invalid", "--dir", str(tmp_path / "jpn")])
    assert isinstance(r.exception, InvalidObjectsSkipped)
    assert "imported 3 of 4 objects" in r.stdout and "1 new, 2 already present" in r.stdout, r.stdout
    assert "were skipped, 3 were stored" in str(r.exception), r.exception


def test_an_export_for_a_partner_holds_the_node_s_objects_not_the_partner_s_shadowed_versions(store):
    """A partner's tool adds a newer version of the node's object (shadowed: served to that tool
    alone). An export ``--for`` that partner is what the node gives it: the node's object, not
    the tool's version in its place (the export keeps one object per id, the last added)."""
    coll = store.add_collection("Shared", alias="shared", rel_to=["KOR"])
    node_obj = indicator(1)
    store.add_objects(coll, [node_obj])
    store.add_objects(coll, [indicator(1, modified="2026-02-01T00:00:00.000Z", name="KOR's")], originator="KOR")
    for fmt in ("stix", "acs"):
        objects = {o["id"]: o for o in export_bundle(store, party="KOR", fmt=fmt)["objects"]}
        assert objects[node_obj["id"]] == node_obj, fmt
    # the tool's own object under that id in another collection (it wrote the id first there)
    # does not stand in for the node's either, in an export of every collection
    other = store.add_collection("Other", alias="other", rel_to=["KOR"])
    store.add_objects(other, [indicator(1, modified="2026-03-01T00:00:00.000Z", name="KOR's")], originator="KOR")
    for party in (None, "KOR"):
        objects = {o["id"]: o for o in export_bundle(store, party=party)["objects"]}
        assert objects[node_obj["id"]] == node_obj, party
    rows = export_bundle(store, collection="shared", party="KOR", fmt="misp-distribution")["objects"]
    assert [r["id"] for r in rows] == [node_obj["id"]]


def test_an_export_reads_a_partner_s_objects_with_the_partner_s_marking_definitions(store):
    """A partner's object marked with the partner's own Accord label (its definition stored as
    the partner's): the MISP distribution and the ACS re-marking of an export follow that label,
    not the node's definitions (which know no such id: the object was read as unknown-marked)."""
    coll = store.add_collection("Joint", alias="joint", rel_to=["KOR"])
    label = mk.AccordLabel("SECRET", {"JPN", "KOR"}, originator="KOR").marking_definition()
    obj = indicator(3, markings=[label["id"]])
    store.add_objects(coll, [label, obj], originator="KOR")
    row = next(r for r in export_bundle(store, fmt="misp-distribution")["objects"] if r["id"] == obj["id"])
    assert row["marking"] == "SECRET//REL TO JPN, KOR" and row["distribution"] == 4, row
    acs = {o["id"]: o for o in export_bundle(store, fmt="acs")["objects"]}
    acs_ref = acs[obj["id"]]["object_marking_refs"]
    assert acs_ref != [label["id"]] and mk.ACS_EXTENSION_ID in acs[acs_ref[0]]["extensions"]
