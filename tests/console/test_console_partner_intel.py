"""A partner's console token must not read, through the item views (item page, overview,
event stream), an intelligence object's properties that granular markings withhold from it:
the node stores one ``intel.stix`` item per partner redaction, and the version made for another
partner (or the unredacted one) carries what this partner may not see."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "intel"))

from console_world import jpn_sharing_intel, log_in  # noqa: E402
from intel_samples import indicator  # noqa: E402

from accord.api.app import create_app  # noqa: E402
from accord.console import events as ev  # noqa: E402
from accord.console.view import Viewer  # noqa: E402
from accord.federation.tokens import create_token, principal_for_digest, token_digest  # noqa: E402
from accord.intel.markings import AccordLabel  # noqa: E402
from accord.intel.node_store import store_for  # noqa: E402

SECRET_NOTE = "from a liaison officer in Pyongyang"


@pytest.fixture
def shared(tmp_path):
    """JPN shares one indicator with KOR and USA; its description is granular-marked for JPN and
    USA only, so KOR's copy is redacted and USA's is not."""
    jpn, others, _ = jpn_sharing_intel(tmp_path)
    store = store_for(jpn)
    coll = store.add_collection("Cyber indicators", alias="cyber", shared=True, rel_to=["KOR", "USA"])
    everyone = AccordLabel("CONFIDENTIAL", {"JPN", "KOR", "USA"}, originator="JPN").marking_definition()
    usa_only = AccordLabel("CONFIDENTIAL", {"JPN", "USA"}, originator="JPN").marking_definition()
    obj = indicator(7, description=SECRET_NOTE, object_marking_refs=[everyone["id"]],
                    granular_markings=[{"marking_ref": usa_only["id"], "selectors": ["description"]}])
    store.add_objects(coll.id, [everyone, usa_only, obj])
    token = create_token(jpn.conn, "kor-liaison", "KOR", {"items:read", "taxii:read"})
    stix = [i for i in jpn.items(kind="intel.stix")]
    assert any(SECRET_NOTE in json.dumps(i.body) for i in stix)  # USA's copy, stored at JPN
    yield jpn, token, stix
    jpn.close()
    for n in others.values():
        n.close()


def test_a_partner_never_reads_what_granular_markings_withhold_from_it(shared):
    jpn, token, stix = shared
    client = log_in(TestClient(create_app(jpn), follow_redirects=False), token)
    for item in stix:
        r = client.get(f"/console/items/{item.id}")
        assert SECRET_NOTE not in r.text, item.id
    assert SECRET_NOTE not in client.get("/console/").text
    # the event stream's reads, for the same viewer
    viewer = Viewer(principal_for_digest(jpn.conn, token_digest(token)), "JPN")
    events, _ = ev.read_after(jpn, viewer, -1)
    assert all(SECRET_NOTE not in e.json() for e in events)
    # what KOR may see of the object is still there: its own redacted copy
    mine = [i for i in stix if i.id.endswith("~KOR")]
    assert mine and client.get(f"/console/items/{mine[0].id}").status_code == 200
