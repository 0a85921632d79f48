"""Interop proof: the OASIS ``taxii2-client`` drives a running node over HTTP on loopback:
discovery → API root → collections → add a bundle → status → paging → manifest → versions →
filters."""

from __future__ import annotations

import requests
from taxii2client.v21 import Server, Status, as_pages

from accord.intel.markings import AccordLabel, TLP2_IDS
from accord.intel.node_store import store_for
from intel_testkit import build_app, serve, token
from intel_samples import indicator, malware, relationship


class Bearer(requests.auth.AuthBase):
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, r):  # noqa: ANN001, ANN204 - requests' protocol
        r.headers["Authorization"] = f"Bearer {self.secret}"
        return r


def test_taxii2_client_full_walk(jpn):
    store = store_for(jpn)
    coll = store.add_collection("Indicators", alias="indicators", rel_to=["KOR"],
                                description="C2 infrastructure")
    store.add_collection("Internal", alias="internal")
    analyst = token(jpn, "analyst", "JPN", ["taxii:read", "taxii:write"])
    label = AccordLabel("CONFIDENTIAL", {"JPN", "USA"}, originator="JPN").marking_definition()
    objects = [indicator(i, markings=[TLP2_IDS["GREEN"]]) for i in range(20)]
    objects += [label, indicator(100, markings=[label["id"]]), malware("ShadowPad")]
    objects.append(relationship(objects[0]["id"], "indicates", objects[-1]["id"]))
    with serve(build_app(jpn)) as base:
        server = Server(f"{base}/taxii2/", auth=Bearer(analyst))
        assert server.title.startswith("Accord node JPN")
        api_root = server.api_roots[0]
        assert api_root.url == f"{base}/taxii2/intel/"
        assert api_root.versions == ["application/taxii+json;version=2.1"]
        titles = {c.title: c for c in api_root.collections}
        assert set(titles) == {"Indicators", "Internal"}
        collection = titles["Indicators"]
        assert collection.id == coll.id and collection.can_read and collection.can_write

        status = collection.add_objects({"objects": objects})
        assert status.status == "complete"
        assert status.success_count == len(objects) and status.failure_count == 0
        polled = Status(f"{api_root.url}status/{status.id}/", conn=api_root._conn)
        assert polled.total_count == len(objects)
        assert {s["id"] for s in polled.successes} == {o["id"] for o in objects}

        # page through every object, 7 at a time
        seen = []
        for envelope in as_pages(collection.get_objects, per_request=7):
            seen.extend(envelope.get("objects", []))
        assert [o["id"] for o in seen] == [o["id"] for o in objects]
        assert seen == objects  # served unchanged

        manifest = []
        for envelope in as_pages(collection.get_manifest, per_request=10):
            manifest.extend(envelope.get("objects", []))
        assert [m["id"] for m in manifest] == [o["id"] for o in objects]
        assert all(m["media_type"] == "application/stix+json;version=2.1" for m in manifest)

        # a second version of one indicator
        v2 = indicator(3, modified="2026-02-01T00:00:00.000Z", markings=[TLP2_IDS["GREEN"]])
        assert collection.add_objects({"objects": [v2]}).success_count == 1
        versions = collection.object_versions(v2["id"])["versions"]
        assert versions == ["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"]
        assert collection.get_object(v2["id"])["objects"] == [v2]  # default: last version
        both = collection.get_object(v2["id"], version="all")["objects"]
        assert [o["modified"] for o in both] == versions
        first = collection.get_object(v2["id"], version="first")["objects"]
        assert first[0]["modified"] == "2026-01-01T00:00:00.000Z"
        exact = collection.get_object(v2["id"], version="2026-02-01T00:00:00Z")["objects"]
        assert exact == [v2]

        # filters
        mal = collection.get_objects(type="malware")["objects"]
        assert [o["name"] for o in mal] == ["ShadowPad"]
        two = collection.get_objects(id=[objects[1]["id"], objects[2]["id"]])["objects"]
        assert {o["id"] for o in two} == {objects[1]["id"], objects[2]["id"]}
        assert collection.get_objects(spec_version="2.0") == {"more": False}
        everything = collection.get_objects(version="all")["objects"]
        assert len(everything) == len(objects) + 1
        # added_after: only what came after the first add request
        last_of_first_add = manifest[-1]["date_added"]
        later = collection.get_objects(added_after=last_of_first_add)["objects"]
        assert later == [v2]

        # delete the newer version only: the old one becomes "last" again
        collection.delete_object(v2["id"], version="2026-02-01T00:00:00.000Z")
        assert collection.get_object(v2["id"])["objects"][0]["modified"] == "2026-01-01T00:00:00.000Z"


def test_releasability_filters_every_read_for_a_partner_user(jpn):
    store = store_for(jpn)
    coll = store.add_collection("Shared", alias="shared", rel_to=["KOR"])
    writer = token(jpn, "writer", "JPN", ["taxii:write", "taxii:read"])
    kor = token(jpn, "kor-analyst", "KOR", [f"taxii.read:{coll.id}"])
    usa = token(jpn, "usa-analyst", "USA", ["taxii.read:shared"])
    jpn_usa = AccordLabel("SECRET", {"JPN", "USA"}, originator="JPN").marking_definition()
    red = indicator(2, markings=[TLP2_IDS["RED"]])
    for_usa = indicator(3, markings=[jpn_usa["id"]])
    default = indicator(1)  # no Accord marking: the collection's default REL TO KOR
    granular = indicator(4, description="source: liaison officer",
                         granular_markings=[{"marking_ref": jpn_usa["id"], "selectors": ["description"]}])
    with serve(build_app(jpn)) as base:
        w = Server(f"{base}/taxii2/", auth=Bearer(writer)).api_roots[0].collections[0]
        status = w.add_objects({"objects": [jpn_usa, default, red, for_usa, granular]})
        assert status.success_count == 5

        k_root = Server(f"{base}/taxii2/", auth=Bearer(kor)).api_roots[0]
        k = k_root.collections[0]
        assert k.can_read and not k.can_write
        got = {o["id"]: o for o in k.get_objects()["objects"]}
        assert set(got) == {jpn_usa["id"], default["id"], granular["id"]}
        assert "description" not in got[granular["id"]]  # redacted for KOR
        assert "granular_markings" not in got[granular["id"]]
        manifest_ids = {m["id"] for m in k.get_manifest()["objects"]}
        assert manifest_ids == set(got)
        for hidden in (red, for_usa):
            r = requests.get(f"{k.url}objects/{hidden['id']}/", auth=Bearer(kor),
                             headers={"Accept": "application/taxii+json;version=2.1"})
            assert r.status_code == 404 and r.json()["http_status"] == "404"
            r = requests.get(f"{k.url}objects/{hidden['id']}/versions/", auth=Bearer(kor))
            assert r.status_code == 404
        # the status resource does not list what KOR may not see
        st = requests.get(f"{k_root.url}status/{status.id}/", auth=Bearer(kor)).json()
        assert {s["id"] for s in st["successes"]} == set(got)
        assert st["total_count"] == 3

        u = Server(f"{base}/taxii2/", auth=Bearer(usa)).api_roots[0].collections[0]
        got_usa = {o["id"]: o for o in u.get_objects()["objects"]}
        # the granular indicator's object-level REL TO is the collection default (KOR only)
        assert set(got_usa) == {jpn_usa["id"], for_usa["id"]}
        # the node's own users see everything, unredacted
        mine = {o["id"]: o for o in w.get_objects()["objects"]}
        assert len(mine) == 5 and mine[granular["id"]]["description"] == "source: liaison officer"
