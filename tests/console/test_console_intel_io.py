"""Intelligence import and export from the console: the CLI's validation and formats, per token."""

from __future__ import annotations

import json

from console_world import csrf_of

from accord.intel.node_store import store_for

NEW = {"type": "indicator", "spec_version": "2.1", "id": "indicator--0b7a5f0e-0d8e-4c7f-9a5e-3b1c2d4e5f60",
       "created": "2026-03-01T00:00:00.000Z", "modified": "2026-03-01T00:00:00.000Z", "name": "Phishing host",
       "pattern": "[domain-name:value = 'phish.example']", "pattern_type": "stix",
       "valid_from": "2026-03-01T00:00:00Z"}


def _import(client, bundle: str, collection: str = "cyber"):
    csrf = csrf_of(client.get("/console/intel").text)
    return client.post("/console/intel/import", data={"csrf": csrf, "collection": collection, "bundle": bundle})


def test_export_gives_the_collection_as_a_stix_bundle_download(admin, partner):
    r = admin.get("/console/intel/export?collection=cyber&format=stix")
    assert r.status_code == 200 and r.headers["content-disposition"] == 'attachment; filename="cyber-stix.json"'
    bundle = r.json()
    assert bundle["type"] == "bundle" and {"Bad domain", "Stealer"} <= {o.get("name") for o in bundle["objects"]}
    r = admin.get("/console/intel/export?collection=cyber&format=misp-distribution")
    assert r.json()["format"] == "misp-distribution"
    assert partner.get("/console/intel/export?collection=cyber").status_code == 200
    assert admin.get("/console/intel/export?collection=cyber&format=pdf").status_code == 400
    assert admin.get("/console/intel/export?collection=nope").status_code == 404


def test_import_stores_a_valid_bundle(admin, world):
    r = _import(admin, json.dumps({"type": "bundle", "id": "bundle--9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                                   "objects": [NEW]}))
    assert r.status_code == 200 and "Stored: 1 / 1" in r.text
    assert NEW["id"] in {o["id"] for o in store_for(world.jpn).all_objects("cyber")}
    assert "Phishing host" in admin.get("/console/intel?q=phish").text


def test_import_refuses_an_invalid_bundle_naming_each_bad_object_and_stores_nothing(admin, world):
    bad = dict(NEW, id="indicator--1b7a5f0e-0d8e-4c7f-9a5e-3b1c2d4e5f61", pattern="[domain-name:value = ")
    broken = {"type": "indicator", "id": "not-an-id"}
    before = len(store_for(world.jpn).all_objects("cyber"))
    r = _import(admin, json.dumps([NEW, bad, broken]))
    assert r.status_code == 422 and "2 of 3 object(s) are not valid STIX 2.1; nothing was stored" in r.text
    assert r.text.count("<li>objects[") == 2
    assert len(store_for(world.jpn).all_objects("cyber")) == before
    r = _import(admin, "{not json")
    assert r.status_code == 422 and 'id="import-error"' in r.text


def test_import_is_for_writers_of_the_node_s_own_party_with_csrf(admin, partner, app, world):
    from console_world import log_in
    from fastapi.testclient import TestClient

    assert 'id="import"' in admin.get("/console/intel").text
    assert 'id="import"' not in partner.get("/console/intel").text
    assert _import(partner, json.dumps([NEW])).status_code == 403
    r = admin.post("/console/intel/import", data={"collection": "cyber", "bundle": json.dumps([NEW])})
    assert r.status_code == 403 and "CSRF" in r.text
    from accord.federation.tokens import create_token

    reader = log_in(TestClient(app, follow_redirects=False),
                    create_token(world.jpn.conn, "intel-reader", "JPN", {"taxii.read:cyber"}))
    assert _import(reader, json.dumps([NEW])).status_code == 403
    assert NEW["id"] not in {o["id"] for o in store_for(world.jpn).all_objects("cyber")}


def test_import_with_skip_invalid_stores_the_valid_objects_and_lists_the_rest(admin, world):
    bad = {"type": "indicator", "id": "not-an-id"}
    csrf = csrf_of(admin.get("/console/intel").text)
    r = admin.post("/console/intel/import", data={"csrf": csrf, "collection": "cyber", "skip_invalid": "1",
                                                  "bundle": json.dumps([NEW, bad])})
    assert r.status_code == 200 and "Stored: 1 / 2" in r.text
    skipped = r.text[r.text.index('id="import-skipped"'):]
    assert "Skipped (invalid): 1" in r.text and "not-an-id" in skipped.split("</ul>")[0]
    assert NEW["id"] in {o["id"] for o in store_for(world.jpn).all_objects("cyber")}


def test_import_stores_versions_of_an_id_a_partner_s_tool_wrote_first_as_the_node_s(admin, world):
    """Each originator's objects are its own: a version of an id a partner's tool wrote first is
    stored as the node's (it was refused, and the partner held the id up), and the node's
    readers get it."""
    store_for(world.jpn).add_objects("cyber", [NEW], originator="KOR")
    newer = dict(NEW, modified="2026-04-01T00:00:00.000Z", name="Rewritten host")
    r = _import(admin, json.dumps([newer]))
    assert r.status_code == 200 and "Stored: 1 / 1" in r.text and "(already present: 0)" in r.text
    assert [o["name"] for o in store_for(world.jpn).all_objects("cyber") if o["id"] == NEW["id"]] == ["Rewritten host"]


def test_a_partner_s_object_is_shown_with_its_originator_s_marking(admin, world):
    """An object a partner wrote (its tool through TAXII, or its node sharing it) marked with the
    partner's own Accord label: the console's list, its marking filter and the object's page give
    that label's marking (SECRET), not the unknown marking the node's own definitions give it."""
    from accord.intel.markings import AccordLabel

    label = AccordLabel("SECRET", {"JPN", "KOR"}, originator="KOR").marking_definition()
    obj = dict(NEW, id="indicator--2c7a5f0e-0d8e-4c7f-9a5e-3b1c2d4e5f62", name="Partner host",
               object_marking_refs=[label["id"]])
    store_for(world.jpn).add_objects("cyber", [label, obj], originator="KOR")
    assert "Partner host" in admin.get("/console/intel?marking=SECRET").text
    assert "Partner host" not in admin.get("/console/intel?marking=UNCLASSIFIED").text
    page = admin.get(f"/console/intel/cyber/{obj['id']}").text
    assert "SECRET//REL TO JPN, KOR" in page
