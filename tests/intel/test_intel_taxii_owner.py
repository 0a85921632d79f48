"""Each writer's objects are its own (STIX 2.1 §3.6: only an object's creator versions it),
through the TAXII API. A partner's tool given write on a collection used to be able to add a
newer version of an object the node originated — which readers taking the latest version then
got as that object — and to delete objects it had not written; then, with the first writer of an
id owning it, it could learn which ids the node holds (``already present``, ``belongs to another
originator``) and take an id before the node stored it. Now a writer's versions of an id another
originator owns are stored as its own and served to it alone, the node's add of an id takes it
over, and a partner deletes only what it wrote (the node may delete anything: it curates its
collections)."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from accord.intel import adding
from accord.intel.markings import TLP2_IDS
from accord.intel.node_store import store_for
from intel_samples import indicator
from intel_testkit import build_app, serve, token

HTTP = httpx.Client(timeout=60.0)  # a loaded machine must not time a request out
TAXII = "application/taxii+json;version=2.1"
V1, V2, V3 = "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"


class Taxii:
    """One served collection (objects without Accord markings are REL TO KOR) and a client per
    token: ``jpn`` the node's writer, ``kor`` a partner's tool that may read and write it."""

    def __init__(self, base: str, coll_id: str, secrets: dict[str, str]) -> None:
        self.base, self.url = base, f"{base}/taxii2/intel/collections/{coll_id}/objects/"
        self.secrets = secrets

    def headers(self, who: str) -> dict[str, str]:
        return {"Accept": TAXII, "Content-Type": TAXII, "Authorization": f"Bearer {self.secrets[who]}"}

    def add(self, who: str, *objects: dict[str, Any], url: str | None = None) -> dict[str, Any]:
        r = HTTP.post(url or self.url, headers=self.headers(who), content=json.dumps({"objects": list(objects)}))
        assert r.status_code == 202, r.text
        return r.json()

    def latest(self, who: str, sid: str) -> list[dict[str, Any]]:
        r = HTTP.get(f"{self.url}{sid}/", headers=self.headers(who))
        return r.json().get("objects", []) if r.status_code == 200 else []

    def versions(self, who: str, sid: str) -> list[str]:
        r = HTTP.get(f"{self.url}{sid}/versions/", headers=self.headers(who))
        return r.json().get("versions", []) if r.status_code == 200 else []

    def delete(self, who: str, sid: str, query: str = "") -> httpx.Response:
        return HTTP.delete(f"{self.url}{sid}/{query}", headers=self.headers(who))


@pytest.fixture
def taxii(jpn):
    coll = store_for(jpn).add_collection("Joint indicators", alias="joint", rel_to=["KOR", "USA"])
    secrets = {"jpn": token(jpn, "jpn-analyst", "JPN", ["taxii:read", "taxii:write"]),
               "kor": token(jpn, "kor-tool", "KOR", ["taxii.read:joint", "taxii.write:joint"]),
               "kor-write": token(jpn, "kor-feed", "KOR", ["taxii.write:joint"]),
               "usa": token(jpn, "usa-reader", "USA", ["taxii.read:joint"])}
    with serve(build_app(jpn)) as base:
        yield Taxii(base, coll.id, secrets)


def test_a_partners_writer_cannot_delete_the_nodes_object(taxii):
    node_obj = indicator(1)
    taxii.add("jpn", node_obj)
    for query in ("", "?match[version]=all", f"?match[version]={V1}"):
        r = taxii.delete("kor", node_obj["id"], query)
        assert r.status_code == 404, r.text
        assert r.json()["description"].startswith(f"no object {node_obj['id']!r} written by KOR")
    assert taxii.latest("kor", node_obj["id"]) == [node_obj]


def test_a_delete_by_a_partner_removes_only_its_versions_and_the_node_may_delete_all(taxii, jpn):
    """A collection holding versions of one id by two originators (written before the rule): the
    partner's delete takes its own version only and reports that, the node's object is again the
    latest; the node's writer then deletes the rest."""
    sid = indicator(1)["id"]
    taxii.add("jpn", indicator(1, modified=V1), indicator(1, modified=V2))
    store = store_for(jpn)
    with store.lock, jpn.conn:
        jpn.conn.execute("UPDATE intel_objects SET originator = 'KOR' WHERE stix_id = ? AND version = ?", (sid, V2))
    assert taxii.delete("kor", sid).status_code == 200
    assert taxii.versions("jpn", sid) == [V1]
    assert taxii.latest("kor", sid) == [indicator(1, modified=V1)]
    assert taxii.delete("kor", sid).status_code == 404  # nothing of its own is left
    assert taxii.delete("jpn", sid).status_code == 200
    assert taxii.latest("jpn", sid) == []


def test_a_partner_versions_and_deletes_its_own_and_the_nodes_version_takes_the_id_over(taxii):
    """A partner's tool adds an id first and versions it; the node's add of the id is stored
    (it was refused), and from then on the node's versions are what other readers get; the tool
    keeps its own, which it still versions and deletes."""
    sid = indicator(5)["id"]
    assert taxii.add("kor", indicator(5, modified=V1))["success_count"] == 1
    assert taxii.add("kor", indicator(5, modified=V2))["success_count"] == 1
    assert taxii.versions("kor", sid) == [V1, V2] and taxii.versions("usa", sid) == [V1, V2]
    status = taxii.add("jpn", indicator(5, modified=V3, name="the node's own"))
    assert status["failure_count"] == 0 and status["success_count"] == 1
    again = taxii.add("jpn", indicator(5, modified=V2))  # the node's version V2: its own, stored
    assert again["successes"] == [{"id": sid, "version": V2}]
    assert taxii.add("jpn", indicator(5, modified=V2))["successes"][0]["message"] == "already present"
    for reader in ("jpn", "usa"):
        assert taxii.versions(reader, sid) == [V3, V2]  # date_added order
        assert taxii.latest(reader, sid) == [indicator(5, modified=V3, name="the node's own")]
    assert set(taxii.versions("kor", sid)) == {V1, V2, V3}  # its own and the node's, releasable to KOR
    assert taxii.delete("kor", sid).status_code == 200  # its own two
    assert taxii.versions("kor", sid) == [V3, V2] and taxii.versions("jpn", sid) == [V3, V2]


def test_a_delete_does_not_depend_on_whether_the_writer_may_see_the_object(taxii):
    """A partner's delete of an id whose versions it may not read (TLP:RED) is answered as one of
    an id it may read: 404 in the same words with the id changed, and nothing is removed."""
    red = indicator(7, object_marking_refs=[TLP2_IDS["RED"]])
    seen = indicator(8)
    taxii.add("jpn", red, seen)
    assert taxii.latest("kor", red["id"]) == [] and taxii.latest("kor", seen["id"]) == [seen]
    hidden, visible = taxii.delete("kor", red["id"]), taxii.delete("kor", seen["id"])
    assert hidden.status_code == visible.status_code == 404
    assert hidden.json()["description"].replace(red["id"], "X") == visible.json()["description"].replace(seen["id"], "X")
    assert taxii.versions("jpn", red["id"]) == [V1] and taxii.versions("jpn", seen["id"]) == [V1]


def test_a_rival_version_waits_for_the_add_it_races_and_is_the_writers_own(taxii, jpn, monkeypatch):
    """The node's writer adds a new id through one server while a partner's tool adds another
    version of it through a second server on its own connection (another worker process). The
    partner's add reaches the database while the node's holds the write lock, between its read of
    what is present and its commit: it must wait and then see the node's version — storing its
    own as the partner's only — not have read "nothing stored" before and store its version as
    the one every reader gets as latest."""
    from accord.node import Node

    other = Node.open(jpn.dir)  # what another serve process opens
    sid = indicator(3)["id"]
    real_select_in = adding.select_in
    entered, starting = threading.Event(), threading.Event()
    got: dict[str, Any] = {}

    with serve(build_app(other)) as second:
        rival_url = f"{second}{taxii.url.removeprefix(taxii.base)}"

        def rival() -> None:
            starting.set()
            got["rival"] = taxii.add("kor", indicator(3, modified=V2), url=rival_url)

        def select_in_then_race(*args: Any, **kwargs: Any) -> Any:
            rows = list(real_select_in(*args, **kwargs))
            if not entered.is_set():  # the node's add has read "not present"; now the rival comes
                entered.set()
                got["thread"] = thread = threading.Thread(target=rival)
                thread.start()
                starting.wait(10)
                thread.join(timeout=1.0)  # the rival waits on the write lock meanwhile
            return iter(rows)

        monkeypatch.setattr(adding, "select_in", select_in_then_race)
        first = taxii.add("jpn", indicator(3, modified=V1))
        got["thread"].join(timeout=60)
    other.conn.close()
    assert first["success_count"] == 1
    assert got["rival"]["success_count"] == 1
    for reader in ("jpn", "usa"):
        assert taxii.versions(reader, sid) == [V1] and taxii.latest(reader, sid) == [indicator(3, modified=V1)]


def _same_form(status: dict[str, Any], a: str, b: str) -> bool:
    """The status entries of ids ``a`` and ``b`` say the same with the ids taken out (an SCO's
    version is its date_added, so that is left out too)."""
    def entries(sid: str) -> list[Any]:
        return sorted(f"{kind}:{e.get('message')}:{e['version'] if sid.startswith('indicator') else ''}"
                      for kind in ("successes", "failures") for e in status.get(kind, []) if e["id"] == sid)
    return entries(a) == entries(b) != []


def _ipv4(address: str, **extra: Any) -> dict[str, Any]:
    from stix2 import IPv4Address

    return {**json.loads(IPv4Address(value=address).serialize()), **extra}


def test_a_writer_cannot_tell_a_hidden_object_from_an_absent_one(taxii):
    """An id the node holds under a marking the writer may not read (TLP:RED) — a random
    indicator id learnt elsewhere, or an SCO whose id anyone derives from its value — is answered
    exactly as an id the node does not hold: stored as the writer's, read back as the writer's.
    It was ``already present`` or ``belongs to another originator`` (an id-knowledge oracle)."""
    red = [TLP2_IDS["RED"]]
    # a tool of KOR's that may read the collection, and one that may only write it
    for who, held, absent in (("kor", 7, 70), ("kor-write", 8, 80)):
        held_sdo, held_sco = indicator(held, object_marking_refs=red), _ipv4(f"203.0.113.{held}", object_marking_refs=red)
        absent_sdo, absent_sco = indicator(absent), _ipv4(f"203.0.113.{absent}")
        taxii.add("jpn", held_sdo, held_sco)
        status = taxii.add(who, indicator(held), absent_sdo, _ipv4(f"203.0.113.{held}"), absent_sco)
        assert status["failure_count"] == 0 and status["success_count"] == 4, status
        assert _same_form(status, held_sdo["id"], absent_sdo["id"])
        assert _same_form(status, held_sco["id"], absent_sco["id"])
        newer = taxii.add(who, indicator(held, modified=V2), indicator(absent, modified=V2))
        assert _same_form(newer, held_sdo["id"], absent_sdo["id"])
        assert taxii.versions("kor", held_sdo["id"]) == [V1, V2]  # its own two versions, nothing of the node's
        assert taxii.versions("kor", absent_sdo["id"]) == [V1, V2]
        assert taxii.latest("kor", held_sco["id"]) == [_ipv4(f"203.0.113.{held}")]
        assert taxii.latest("jpn", held_sdo["id"]) == [held_sdo]  # the node's readers: the node's object
        assert taxii.latest("jpn", held_sco["id"]) == [held_sco]


def test_a_writer_cannot_squat_an_id_before_the_node_stores_it(taxii):
    """A writer that learns an id first (an SCO's value, a producer's name-derived id) adds it
    before the node: the node's later versions of it used to be refused, and its version equal
    to the writer's was ``already present`` with the writer's content and marking. The node's
    own add is stored and is what the node's readers and other partners get; the writer keeps
    reading its own."""
    squat = indicator(5, name="squatted", pattern="[ipv4-addr:value = '192.0.2.66']")
    assert taxii.add("kor", squat)["success_count"] == 1
    sco = _ipv4("198.51.100.5", x_note="squatted")
    taxii.add("kor", sco)
    node_obj, node_sco = indicator(5), _ipv4("198.51.100.5")
    first = taxii.add("jpn", node_obj, node_sco)
    assert first["success_count"] == 2 and not any(e.get("message") for e in first["successes"])
    later = taxii.add("jpn", indicator(5, modified=V2))
    assert later["success_count"] == 1 and later["failure_count"] == 0
    for reader in ("jpn", "usa"):
        assert taxii.latest(reader, node_obj["id"]) == [indicator(5, modified=V2)]
        assert taxii.versions(reader, node_obj["id"]) == [V1, V2]
        assert taxii.latest(reader, node_sco["id"]) == [node_sco]
    assert squat in taxii.latest("kor", node_obj["id"])
    assert sco in taxii.latest("kor", node_sco["id"])


def test_a_writers_version_of_the_nodes_object_is_not_what_others_read(taxii):
    """A partner's tool adding a newer version of the node's object stores it as its own; every
    other reader still gets the node's object as latest (the hijack the originator rule closed
    stays closed)."""
    node_obj = indicator(1, modified=V1)
    taxii.add("jpn", node_obj)
    hijack = indicator(1, modified=V2, name="benign update", pattern="[ipv4-addr:value = '192.0.2.1']")
    assert taxii.add("kor", hijack)["success_count"] == 1
    for reader in ("jpn", "usa"):
        assert taxii.latest(reader, node_obj["id"]) == [node_obj]
        assert taxii.versions(reader, node_obj["id"]) == [V1]
    assert hijack in taxii.latest("kor", node_obj["id"])


def test_a_writer_cannot_squat_a_marking_definition_the_node_uses(taxii):
    """Marking definitions were kept once per id for the whole store, the first one stored
    winning: a partner's tool that stored a definition under the id of the node's Accord label
    (derived from the label's content, so anyone computes it) with a label of its own choosing
    had the node's later objects marked with that label read as the tool's — releasable to the
    tool's party. Each originator's definitions are its own: the node's objects are read with the
    node's."""
    from accord.intel.markings import AccordLabel

    label = AccordLabel("SECRET", {"JPN"}, originator="JPN").marking_definition()
    fake = {**AccordLabel("UNCLASSIFIED", {"JPN", "KOR", "USA"}, originator="JPN").marking_definition(),
            "id": label["id"]}
    assert taxii.add("kor-write", fake)["success_count"] == 1
    taxii.add("jpn", label)
    secret = indicator(40, object_marking_refs=[label["id"]])
    assert taxii.add("jpn", secret)["success_count"] == 1
    assert taxii.latest("jpn", secret["id"]) == [secret]
    for reader in ("kor", "usa"):
        assert taxii.latest(reader, secret["id"]) == []


def test_once_the_owner_s_versions_are_deleted_the_next_writer_owns_the_id_with_all_its_versions(taxii):
    """The node takes an id over from a partner's tool, then deletes its own versions: the tool's
    next version makes it the owner again, and every version it wrote is served to others again
    (not only the new one)."""
    sid = indicator(6)["id"]
    taxii.add("kor", indicator(6, modified=V1))
    taxii.add("jpn", indicator(6, modified=V2))
    assert taxii.versions("usa", sid) == [V2]
    assert taxii.delete("jpn", sid, f"?match[version]={V2}").status_code == 200
    assert taxii.versions("usa", sid) == []  # no owner: the tool's version stays its own
    taxii.add("kor", indicator(6, modified=V3))
    assert taxii.versions("usa", sid) == [V1, V3] and taxii.latest("usa", sid) == [indicator(6, modified=V3)]
