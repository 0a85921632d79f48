"""A JSON string escape that decodes to a lone surrogate (``"\\ud800"``) is not Unicode text
(RFC 8259 §8.2; I-JSON refuses it): every JSON parser refuses it with one line. It had reached
the intel store through TAXII adds, the console's import and ``intel import``, whose writes
failed on it — a 500 from TAXII and from the console."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.api.deps import create_token
from accord.api.taxii import MEDIA_TAXII
from accord.core.canonical import CanonicalJSONError, parse_json_strict
from accord.errors import InputError
from accord.intel.import_export import parse_bundle
from accord.intel.node_store import store_for
from accord.node import Node

INDICATOR = {"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
             "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
             "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '10.0.0.1']"}

HOSTILE = {"value": dict(INDICATOR, name="x\ud800"), "key": dict(INDICATOR, **{"x_\udc00": 1}),
           "upper-case escape": dict(INDICATOR, name="\uDBFF tail"),
           "in a list": dict(INDICATOR, labels=["ok", "\udfff"])}


def _bundle(obj) -> bytes:
    return json.dumps({"type": "bundle", "id": "bundle--0c1f2f62-6ad5-4a1f-b1c4-3c0d3b7b7e55", "objects": [obj]}).encode()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node.init(Path(tmp_path_factory.mktemp("nodes")) / "KOR", party="KOR")
    yield n
    n.close()


@pytest.mark.parametrize("case", HOSTILE)
def test_the_strict_parser_refuses_a_lone_surrogate_in_one_line(case):
    raw = _bundle(HOSTILE[case])
    assert b"\\ud" in raw.lower()
    with pytest.raises(CanonicalJSONError, match="lone surrogate") as exc:
        parse_json_strict(raw, source="bundle")
    assert "\n" not in str(exc.value)
    with pytest.raises(InputError, match="lone surrogate"):
        parse_bundle(raw, source="bundle")


def test_paired_surrogates_and_an_escaped_backslash_still_parse():
    raw = json.dumps({"name": "\U0001f600", "path": "C:\\ud800"}).encode()
    assert b"\\ud83d\\ude00" in raw and b"\\\\ud800" in raw
    assert parse_json_strict(raw) == {"name": "\U0001f600", "path": "C:\\ud800"}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_taxii_add_with_a_lone_surrogate_is_a_400_and_stores_nothing(node, case):
    token = create_token(node.conn, "taxii-" + case.replace(" ", "-"), "KOR", {"admin"})
    coll = store_for(node).add_collection(f"Intel {case}").id
    client = TestClient(create_app(node), raise_server_exceptions=False)
    r = client.post(f"/taxii2/intel/collections/{coll}/objects/", content=_bundle(HOSTILE[case]),
                    headers={"Authorization": f"Bearer {token}", "Content-Type": MEDIA_TAXII, "Accept": MEDIA_TAXII})
    assert r.status_code == 400, r.text[:300]
    assert "lone surrogate" in r.json()["description"]
    r = client.get(f"/taxii2/intel/collections/{coll}/objects/",
                   headers={"Authorization": f"Bearer {token}", "Accept": MEDIA_TAXII})
    assert r.status_code == 200 and not r.json().get("objects")


def test_a_console_import_with_a_lone_surrogate_is_refused_on_the_page(node):
    token = create_token(node.conn, "console", "KOR", {"admin"})
    coll = store_for(node).add_collection("Console import").id
    client = TestClient(create_app(node), raise_server_exceptions=False, follow_redirects=False)
    nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text).group(1)
    assert client.post("/console/login", data={"token": token, "csrf": nonce}).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/intel").text).group(1)
    r = client.post("/console/intel/import", data={"csrf": csrf, "collection": coll,
                                                   "bundle": _bundle(HOSTILE["value"]).decode()})
    assert r.status_code == 422, r.text[:300]
    assert "lone surrogate" in r.text
