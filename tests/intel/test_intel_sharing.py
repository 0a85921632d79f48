"""Objects added to a shared collection flow to partners as markings and agreements allow, arrive
in the partner's collection with their originator and markings, and are ledgered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from accord.clock import ManualClock
from accord.core.agreements import new_agreement, sign_agreement
from accord.core.items import Item
from accord.core.markings import Marking
from accord.errors import FederationError
from accord.federation import Federation, InProcessNetwork, share_many
from accord.federation.schema import ensure_federation_schema
from accord.intel.markings import AccordLabel, TLP2_IDS
from accord.intel.node_store import store_for
from accord.intel.sharing import received_collection_id, sync_received
from accord.intel.store import Filters
from accord.node import Node
from intel_samples import indicator

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def trio(tmp_path):
    clock = ManualClock(T0)
    nodes = {p: Node.init(tmp_path / p.lower(), p, clock) for p in ("JPN", "KOR", "USA")}
    for a in nodes.values():
        for b in nodes.values():
            if a is not b:
                a.add_partner(b.party, b.identity.public_b64)
    keys = {p: n.identity.public_key for p, n in nodes.items()}
    # JPN↔KOR share intel up to SECRET; JPN→USA only up to CONFIDENTIAL
    ag = new_agreement("jpn-kor-intel", ["JPN", "KOR"], {"JPN": keys["JPN"], "KOR": keys["KOR"]},
                       [("JPN", "KOR", ["intel.*"], "SECRET"), ("KOR", "JPN", ["intel.*"], "SECRET")],
                       T0 - timedelta(days=1), T0 + timedelta(days=365))
    ag = sign_agreement(sign_agreement(ag, nodes["JPN"].identity), nodes["KOR"].identity)
    ag2 = new_agreement("jpn-usa-intel", ["JPN", "USA"], {"JPN": keys["JPN"], "USA": keys["USA"]},
                        [("JPN", "USA", ["intel.*"], "CONFIDENTIAL")],
                        T0 - timedelta(days=1), T0 + timedelta(days=365))
    ag2 = sign_agreement(sign_agreement(ag2, nodes["JPN"].identity), nodes["USA"].identity)
    for n in nodes.values():
        ensure_federation_schema(n.conn)
    nodes["JPN"].add_agreement(ag)
    nodes["KOR"].add_agreement(ag)
    nodes["JPN"].add_agreement(ag2)
    nodes["USA"].add_agreement(ag2)
    net = InProcessNetwork()
    for n in nodes.values():
        net.attach(n)
    feds = {p: Federation(n, net) for p, n in nodes.items()}
    yield nodes, feds
    for n in nodes.values():
        n.close()


def test_shared_collection_flows_to_partners_under_policy(trio):
    nodes, feds = trio
    jpn = store_for(nodes["JPN"])
    coll = jpn.add_collection("Cyber indicators", alias="cyber", shared=True, rel_to=["KOR"])
    secret_all = AccordLabel("SECRET", {"JPN", "KOR", "USA"}, originator="JPN").marking_definition()
    conf_usa = AccordLabel("CONFIDENTIAL", {"JPN", "USA"}, originator="JPN").marking_definition()
    to_kor = indicator(1, markings=[TLP2_IDS["GREEN"]])           # default REL TO KOR
    secret = indicator(2, markings=[secret_all["id"]])            # KOR yes; USA: above CONFIDENTIAL
    for_usa = indicator(3, markings=[conf_usa["id"]])             # USA only
    red = indicator(4, markings=[TLP2_IDS["RED"]])                # nobody
    granular = indicator(5, description="from a liaison officer", object_marking_refs=[secret_all["id"]],
                         granular_markings=[{"marking_ref": conf_usa["id"], "selectors": ["description"]}])
    jpn.add_objects(coll.id, [secret_all, conf_usa, to_kor, secret, for_usa, red, granular])

    for to in ("KOR", "USA"):
        assert feds["JPN"].sync(to, heads=False)[to] is None

    kor = store_for(nodes["KOR"])
    assert sync_received(nodes["KOR"], kor) == {"applied": 3, "invalid": 0}
    at_kor = received_collection_id("JPN", coll.id)  # the id KOR chose for JPN's collection
    got = {o["id"]: o for o in kor.all_objects(at_kor)}
    assert set(got) - {secret_all["id"]} == {to_kor["id"], secret["id"], granular["id"]}
    assert got[secret["id"]] == secret  # unchanged, markings intact
    assert got[secret_all["id"]] == secret_all  # the marking definition travelled with it
    assert "description" not in got[granular["id"]]  # redacted for KOR before it left JPN
    row = kor.conn.execute("SELECT originator FROM intel_objects WHERE stix_id = ?", (secret["id"],)).fetchone()
    assert row[0] == "JPN"
    assert "from JPN" in kor.collection(at_kor).title

    usa = store_for(nodes["USA"])
    usa.sync()  # what every TAXII read does (throttled): applies received items
    got_usa = {o["id"] for o in usa.all_objects(received_collection_id("JPN", coll.id))} - {conf_usa["id"]}
    assert got_usa == {for_usa["id"]}  # SECRET items refused by the JPN–USA agreement

    # ledgered on both sides: item.shared at JPN (3 to KOR, 1 to USA), item.received at KOR
    def events(node, kind):
        return [e.data for e in node.ledger.entries() if e.type == kind]
    shared = events(nodes["JPN"], "item.shared")
    assert sorted(e.get("to") for e in shared if str(e.get("item_id", "")).startswith("JPN:intel.stix:")) \
        == ["KOR", "KOR", "KOR", "USA"]
    received = events(nodes["KOR"], "item.received")
    assert len([e for e in received if e["kind"] == "intel.stix"]) == 3
    assert sync_received(nodes["KOR"], kor) == {"applied": 0, "invalid": 0}  # applied once


@pytest.mark.parametrize("failure", [RuntimeError("process killed while queueing"),
                                     FederationError("sealing failed while queueing")])
def test_an_add_and_its_sharing_commit_together(trio, monkeypatch, failure):
    # the objects, their items, the outbox rows and the ledger events are one transaction: a
    # failure while queueing for a partner undoes the add (before, the add committed first and
    # was shared after, so a crash in between left objects stored and never sent); a refusal by
    # the policy is an answer and leaves the add stored
    from accord.federation import wire

    nodes, feds = trio
    jpn = store_for(nodes["JPN"])
    coll = jpn.add_collection("Cyber indicators", alias="cyber", shared=True, rel_to=["KOR"])
    conn = nodes["JPN"].conn
    before = (len(nodes["JPN"].items()), nodes["JPN"].ledger.size,
              conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0])
    real = wire.seal_envelope

    def failing(*args, **kwargs):
        raise failure

    monkeypatch.setattr(wire, "seal_envelope", failing)
    with pytest.raises(type(failure), match="while queueing"):
        jpn.add_objects(coll.id, [indicator(1, markings=[TLP2_IDS["GREEN"]])])
    assert jpn.count(coll.id) == 0
    assert (len(nodes["JPN"].items()), nodes["JPN"].ledger.size,
            conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0]) == before
    assert conn.execute("SELECT COUNT(*) FROM intel_status").fetchone()[0] == 0
    assert not conn.in_transaction
    monkeypatch.setattr(wire, "seal_envelope", real)
    jpn.add_objects(coll.id, [indicator(1, markings=[TLP2_IDS["GREEN"]]),
                              indicator(2, markings=[TLP2_IDS["RED"]])])  # RED: refused, still stored
    assert jpn.count(coll.id) == 2
    assert conn.execute("SELECT COUNT(*) FROM fed_outbox WHERE recipient = 'KOR'").fetchone()[0] == 1
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    kor = store_for(nodes["KOR"])
    assert sync_received(nodes["KOR"], kor) == {"applied": 1, "invalid": 0}
    assert nodes["JPN"].ledger.verify().size == nodes["JPN"].ledger.size


def test_a_version_shared_before_never_fails_a_later_add(trio):
    # the item carrying an object version is named by party, id and version: the same version in
    # a second shared collection, or added again after a delete, makes another item under that
    # id. It is reported and not sent again; the add itself stores its objects (it failed with
    # a 500 when sharing first moved into the add's transaction: found in review)
    nodes, feds = trio
    jpn = store_for(nodes["JPN"])
    first = jpn.add_collection("Cyber indicators", shared=True, rel_to=["KOR"])
    second = jpn.add_collection("Cyber indicators, copy", shared=True, rel_to=["KOR"])
    obj = indicator(1, markings=[TLP2_IDS["GREEN"]])
    jpn.add_objects(first.id, [obj])
    outbox = nodes["JPN"].conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0]
    assert jpn.add_objects(second.id, [obj]).stored  # another collection
    assert jpn.count(second.id) == 1
    jpn.delete_object(first.id, obj["id"], "JPN")
    assert jpn.add_objects(first.id, [obj]).stored  # again after a delete
    assert jpn.count(first.id) == 1
    assert nodes["JPN"].conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0] == outbox
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    assert sync_received(nodes["KOR"], store_for(nodes["KOR"])) == {"applied": 1, "invalid": 0}


def test_received_objects_are_not_reshared(trio):
    nodes, feds = trio
    jpn = store_for(nodes["JPN"])
    coll = jpn.add_collection("Shared", shared=True, rel_to=["KOR", "USA"])
    jpn.add_objects(coll.id, [indicator(7)])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    kor_node = nodes["KOR"]
    kor = store_for(kor_node)
    sync_received(kor_node, kor)
    # KOR marks its copy shared too: nothing goes back out, the object is JPN's
    kor.conn.execute("UPDATE intel_collections SET shared = 1, rel_to = 'JPN,USA'")
    kor.conn.commit()
    kor._known.clear()  # no Accord statement changes a collection, so a store keeps those it found
    jpn.add_objects(coll.id, [indicator(8)])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    assert kor_node.conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0] == 0


def test_node_verification_covers_objects_received_from_partners(trio):
    """`accord ledger verify`: a received object is stored as the ledgered item carried it; an
    edit of the stored object (what TAXII serves) is named."""
    from accord.errors import NodeIntegrityError
    from accord.node.verify import verify_node

    nodes, feds = trio
    jpn = store_for(nodes["JPN"])
    coll = jpn.add_collection("Cyber indicators", alias="cyber", shared=True, rel_to=["KOR"])
    jpn.add_objects(coll.id, [indicator(1, markings=[TLP2_IDS["GREEN"]]), indicator(2, markings=[TLP2_IDS["GREEN"]])])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    kor = nodes["KOR"]
    assert sync_received(kor, store_for(kor))["applied"] == 2
    assert verify_node(kor).checked["received intel objects"] == 2
    kor.conn.execute("UPDATE intel_objects SET body = replace(body, '198.51.100.1', '192.0.2.1') "
                     "WHERE stix_id = ?", (indicator(1)["id"],))
    kor.conn.commit()
    kor.ledger.verify()  # the log alone sees nothing
    with pytest.raises(NodeIntegrityError) as err:
        verify_node(kor)
    at_kor = received_collection_id("JPN", coll.id)
    assert [p.where for p in err.value.problems] == [f"intel object {indicator(1)['id']} in collection {at_kor}"]
    assert "edited" in err.value.problems[0].what


def test_a_partner_s_taxii_write_is_not_shared_onward_as_this_node_s_own(trio):
    """A TAXII token of another party (a partner's tool, given write on a shared collection) had
    its objects stored as originated by this node, so the node signed them and sent them to its
    other partners as its own intel — a partner could speak to a third one in this node's name.
    They are stored as that party's, and a node shares only what it originated."""
    import json

    from fastapi.testclient import TestClient

    from accord.api.app import create_app
    from accord.federation.tokens import create_token

    nodes, _ = trio
    jpn = nodes["JPN"]
    coll = store_for(jpn).add_collection("Cyber", alias="cyber", shared=True, rel_to=["JPN", "KOR", "USA"])
    usa_tool = create_token(jpn.conn, "usa-tool", "USA", ["taxii.read:cyber", "taxii.write:cyber"])
    own = create_token(jpn.conn, "analyst", "JPN", ["taxii.read:cyber", "taxii.write:cyber"])
    url = f"/taxii2/intel/collections/{coll.id}/objects/"

    def add(secret: str, obj: dict) -> None:
        with TestClient(create_app(jpn)) as client:
            r = client.post(url, content=json.dumps({"objects": [obj]}),
                            headers={"Authorization": f"Bearer {secret}",
                                     "Content-Type": "application/taxii+json;version=2.1"})
        assert r.status_code == 202, r.text

    def queued() -> list[str]:
        return [r[0] for r in jpn.conn.execute("SELECT item_id FROM fed_outbox ORDER BY item_id")]

    add(usa_tool, indicator(31))
    assert queued() == []
    originators = {r[0]: r[1] for r in jpn.conn.execute("SELECT stix_id, originator FROM intel_objects")}
    assert originators == {indicator(31)["id"]: "USA"}
    add(own, indicator(32))  # the node's own analyst: shared as the agreements allow
    assert {i.split("@")[0] for i in queued()} == {f"JPN:intel.stix:{indicator(32)['id']}"}


def test_a_received_version_of_an_id_the_node_wrote_is_the_sender_s_own(trio):
    """Each originator's versions are its own, for items from partners too: KOR's own writer put
    an object under the id into JPN's received collection before JPN's item arrived. The item
    is applied as JPN's — stored as carried, which node verification checks — and KOR's readers
    go on getting KOR's object (the node's add took the id over)."""
    from accord.node.verify import verify_node

    nodes, feds = trio
    jpn = store_for(nodes["JPN"])
    coll = jpn.add_collection("Cyber indicators", shared=True, rel_to=["KOR"])
    jpn.add_objects(coll.id, [indicator(2, markings=[TLP2_IDS["GREEN"]])])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    kor_node = nodes["KOR"]
    kor = store_for(kor_node)
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}  # the collection, made for JPN
    at_kor = received_collection_id("JPN", coll.id)
    kor.add_objects(at_kor, [indicator(1)])  # KOR's, version 2026-01-01
    theirs = indicator(1, modified="2026-02-01T00:00:00.000Z", markings=[TLP2_IDS["GREEN"]])
    jpn.add_objects(coll.id, [theirs])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    only = Filters(ids=(indicator(1)["id"],))
    assert [json.loads(t) for t in kor.get_objects(at_kor, "KOR", only).items] == [indicator(1)]
    assert sorted((r[0], r[1], json.loads(r[2]) == theirs) for r in kor_node.conn.execute(
        "SELECT originator, shadowed, body FROM intel_objects WHERE stix_id = ?", (indicator(1)["id"],))) \
        == [("JPN", 1, True), ("KOR", 0, False)]
    assert verify_node(kor_node).checked["received intel objects"] == 2


def _hostile(nodes, feds, sender: str, to: str, coll_id: str, obj: dict, tag: str = "",
             markings: list | None = None) -> None:
    """``sender`` shares with ``to`` an ``intel.stix`` item it made itself (not through
    :func:`item_for`): any collection id, any object — what a hostile partner can send."""
    node = nodes[sender]
    item = Item("intel.stix", f"{sender}:intel.stix:{obj['id']}@{obj.get('modified')}{tag}", sender,
                Marking("UNCLASSIFIED", {sender, to}), node.clock.now(),
                {"collection": {"id": coll_id, "title": "Cyber"}, "object": obj, "markings": markings or []})
    share_many(node, [item], to)
    assert feds[sender].sync(to, heads=False)[to] is None


def test_a_partner_s_item_carrying_other_objects_as_its_markings_is_refused(trio):
    """An item's ``markings`` are the marking definitions its object refers to; a partner putting
    other objects there had them stored beside the one object the item carries, unrecorded."""
    nodes, feds = trio
    kor_node = nodes["KOR"]
    kor = store_for(kor_node)
    _hostile(nodes, feds, "JPN", "KOR", "7f6c1e1a-3b8e-4a53-9d55-2f0f7c1f6a01", indicator(1),
             markings=[indicator(2)])
    assert sync_received(kor_node, kor) == {"applied": 0, "invalid": 1}
    assert kor_node.conn.execute("SELECT COUNT(*) FROM intel_objects WHERE stix_id IN (?, ?)",
                                 (indicator(1)["id"], indicator(2)["id"])).fetchone()[0] == 0
    assert [(r[1], "marking definitions" in r[2]) for r in _received(kor_node)] == [("invalid", True)]


def _received(node) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in node.conn.execute(
        "SELECT stix_id, outcome, COALESCE(reason, '') FROM intel_received ORDER BY stix_id")]


def test_a_partner_cannot_add_objects_to_the_node_s_own_collection(trio):
    """A partner naming one of the receiving node's own collection ids had its objects added
    there, beside the node's own, for the node's readers to take as the node's collection: they
    land in a collection made for that partner (under an id the node derives), the node's own
    is unchanged, and node verification has nothing to report."""
    from accord.node.verify import verify_node

    nodes, feds = trio
    kor_node = nodes["KOR"]
    kor = store_for(kor_node)
    own = kor.add_collection("KOR's indicators")
    kor.add_objects(own.id, [indicator(1)])
    _hostile(nodes, feds, "JPN", "KOR", own.id, indicator(2))
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    assert [json.loads(t)["id"] for t in kor.get_objects(own.id, "KOR").items] == [indicator(1)["id"]]
    theirs = kor.collection(received_collection_id("JPN", own.id))
    assert theirs.received_from == "JPN" and theirs.title == "Cyber (from JPN)"
    assert [json.loads(t)["id"] for t in kor.get_objects(theirs, "KOR").items] == [indicator(2)["id"]]
    assert kor.collection(own.id).title == "KOR's indicators"
    assert verify_node(kor_node).checked["received intel objects"] == 1


def _usa_kor_agreement(nodes) -> None:
    """USA and KOR sign an agreement: USA shares intel with KOR up to SECRET."""
    keys = {p: n.identity.public_key for p, n in nodes.items()}
    ag = new_agreement("usa-kor-intel", ["USA", "KOR"], {"USA": keys["USA"], "KOR": keys["KOR"]},
                       [("USA", "KOR", ["intel.*"], "SECRET")], T0 - timedelta(days=1), T0 + timedelta(days=365))
    ag = sign_agreement(sign_agreement(ag, nodes["USA"].identity), nodes["KOR"].identity)
    nodes["USA"].add_agreement(ag)
    nodes["KOR"].add_agreement(ag)


def test_a_partner_cannot_add_objects_to_another_partner_s_collection(trio):
    """USA names the collection of JPN's that KOR receives: its objects land in a collection of
    USA's, so KOR's readers never see them as JPN's; JPN's own items still land in JPN's."""
    nodes, feds = trio
    _usa_kor_agreement(nodes)
    jpn = store_for(nodes["JPN"])
    coll = jpn.add_collection("Cyber indicators", shared=True, rel_to=["KOR"])
    jpn.add_objects(coll.id, [indicator(1, markings=[TLP2_IDS["GREEN"]])])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    kor_node = nodes["KOR"]
    kor = store_for(kor_node)
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    _hostile(nodes, feds, "USA", "KOR", coll.id, indicator(2))
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}  # into a collection of USA's
    jpn.add_objects(coll.id, [indicator(3, markings=[TLP2_IDS["GREEN"]])])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    assert {(r[0], r[1], r[2]) for r in kor_node.conn.execute("SELECT stix_id, originator, collection FROM intel_objects")} \
        == {(indicator(1)["id"], "JPN", received_collection_id("JPN", coll.id)),
            (indicator(3)["id"], "JPN", received_collection_id("JPN", coll.id)),
            (indicator(2)["id"], "USA", received_collection_id("USA", coll.id))}
    assert {r[:2] for r in _received(kor_node)} == {(indicator(1)["id"], "applied"), (indicator(2)["id"], "applied"),
                                                     (indicator(3)["id"], "applied")}


def test_a_partner_resending_the_node_s_own_object_raises_no_integrity_alarm(trio):
    """KOR's own writer added KOR's object to the collection made for JPN (the node curates its
    collections); JPN resends it unchanged, same id and version. It was once recorded applied
    under JPN's name though nothing was stored for it, and `accord node verify` then reported the
    object deleted — a false alarm JPN could raise at will. It is stored as JPN's own version
    (served to JPN's tools only: KOR's object owns the id), so verification finds it as carried."""
    from accord.node.verify import verify_node

    nodes, feds = trio
    jpn = store_for(nodes["JPN"])
    coll = jpn.add_collection("Cyber indicators", shared=True, rel_to=["KOR"])
    jpn.add_objects(coll.id, [indicator(1, markings=[TLP2_IDS["GREEN"]])])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    kor_node = nodes["KOR"]
    kor = store_for(kor_node)
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    at_kor = received_collection_id("JPN", coll.id)
    mine = indicator(9)
    kor.add_objects(at_kor, [mine])
    _hostile(nodes, feds, "JPN", "KOR", coll.id, mine)
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    assert sorted((r[0], r[1]) for r in kor_node.conn.execute(
        "SELECT originator, shadowed FROM intel_objects WHERE stix_id = ?", (mine["id"],))) == [("JPN", 1), ("KOR", 0)]
    assert verify_node(kor_node).checked["received intel objects"] == 2


def test_a_partner_resending_its_version_with_other_content_raises_no_integrity_alarm(trio):
    """JPN sends a version KOR holds from it again with other content (STIX: a version never
    changes). Recorded applied, node verification named KOR's stored object edited; refused."""
    from accord.node.verify import verify_node

    nodes, feds = trio
    jpn = store_for(nodes["JPN"])
    coll = jpn.add_collection("Cyber indicators", shared=True, rel_to=["KOR"])
    jpn.add_objects(coll.id, [indicator(1, markings=[TLP2_IDS["GREEN"]])])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    kor_node = nodes["KOR"]
    kor = store_for(kor_node)
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    at_kor = received_collection_id("JPN", coll.id)
    _hostile(nodes, feds, "JPN", "KOR", coll.id, indicator(1, name="changed"), tag="~again")
    _hostile(nodes, feds, "JPN", "KOR", coll.id, indicator(1, markings=[TLP2_IDS["GREEN"]]), tag="~same")
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 1}  # the same content: applied
    assert (indicator(1)["id"], "refused",
            f"object {indicator(1)['id']} version 2026-01-01T00:00:00.000Z is stored already with other content") \
        in _received(kor_node)
    assert json.loads(kor.get_objects(at_kor, "KOR").items[0]) == indicator(1, markings=[TLP2_IDS["GREEN"]])
    assert verify_node(kor_node).checked["received intel objects"] == 2


def test_a_partner_cannot_pre_empt_another_partner_s_collection_id(trio):
    """USA learns the id of JPN's shared collection and sends KOR an item naming it before JPN's
    first item arrives. The collection used to be made under that id for USA, and every item of
    JPN's then refused. Each partner's items land in a collection of their own, under an id KOR
    derives from the partner and the id it named."""
    nodes, feds = trio
    _usa_kor_agreement(nodes)
    jpn = store_for(nodes["JPN"])
    coll = jpn.add_collection("Cyber indicators", shared=True, rel_to=["KOR"])
    _hostile(nodes, feds, "USA", "KOR", coll.id, indicator(2))
    kor_node = nodes["KOR"]
    kor = store_for(kor_node)
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    jpn.add_objects(coll.id, [indicator(1, markings=[TLP2_IDS["GREEN"]])])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    got = {c.received_from: c for c in kor.collections()}
    assert set(got) == {"JPN", "USA"} and got["JPN"].id != got["USA"].id
    assert coll.id not in {c.id for c in got.values()}  # neither under the id a partner named
    assert [json.loads(t)["id"] for t in kor.get_objects(got["JPN"].id, "KOR").items] == [indicator(1)["id"]]
    assert [json.loads(t)["id"] for t in kor.get_objects(got["USA"].id, "KOR").items] == [indicator(2)["id"]]
    assert got["JPN"].title == "Cyber indicators (from JPN)"


def test_a_partner_cannot_take_a_collection_id_before_the_node(trio):
    """A partner naming an id the node means to use for a collection of its own (made with a
    chosen id, e.g. to mirror an id known elsewhere) no longer creates a collection under it."""
    nodes, feds = trio
    wanted = "2b0f8f4e-6d1c-4c1e-9a51-8f2f0d1e4c77"
    _hostile(nodes, feds, "JPN", "KOR", wanted, indicator(2))
    kor_node = nodes["KOR"]
    kor = store_for(kor_node)
    assert sync_received(kor_node, kor) == {"applied": 1, "invalid": 0}
    made = kor.add_collection("KOR's own", id=wanted)
    assert made.id == wanted and made.received_from is None
    assert kor.get_objects(wanted, "KOR").items == []


def test_a_collection_received_under_the_sender_s_id_before_ids_were_derived_goes_on_receiving(trio):
    """KOR made JPN's collection under JPN's own collection id (as receiving did before it derived
    ids): JPN's items go on landing in it, the one KOR's readers and tokens know; another
    partner naming that id gets a collection of its own."""
    nodes, feds = trio
    _usa_kor_agreement(nodes)
    jpn = store_for(nodes["JPN"])
    coll = jpn.add_collection("Cyber indicators", shared=True, rel_to=["KOR"])
    kor_node = nodes["KOR"]
    kor = store_for(kor_node)
    kor.add_collection("Cyber indicators (from JPN)", id=coll.id, description="received from JPN", received_from="JPN")
    jpn.add_objects(coll.id, [indicator(1, markings=[TLP2_IDS["GREEN"]])])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    _hostile(nodes, feds, "USA", "KOR", coll.id, indicator(2))
    assert sync_received(kor_node, kor) == {"applied": 2, "invalid": 0}
    assert [json.loads(t)["id"] for t in kor.get_objects(coll.id, "KOR").items] == [indicator(1)["id"]]
    usa = received_collection_id("USA", coll.id)
    assert [json.loads(t)["id"] for t in kor.get_objects(usa, "KOR").items] == [indicator(2)["id"]]
    assert {c.id for c in kor.collections()} == {coll.id, usa}
