"""The live stream: ledger entries as events, filtered per viewer, resumable with Last-Event-ID."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
from console_world import csrf_of
from console_world import alert_item

from accord.console.events import read_after, start_index
from accord.console.view import Viewer
from accord.federation.schema import write_lock
from accord.federation.tokens import Principal


def _viewer(world, party: str, *scopes: str) -> Viewer:
    return Viewer(Principal("t", party, frozenset(scopes)), world.jpn.party)


def test_events_are_ledger_entries_after_an_index_filtered_for_the_viewer(world):
    jpn = world.jpn
    start = -1
    home, _ = read_after(jpn, _viewer(world, "JPN", "items:read"), start)
    kor, last = read_after(jpn, _viewer(world, "KOR", "items:read"), start)
    assert last == jpn.ledger.size - 1
    assert {world.secret.id, world.releasable.id} <= {e.data["id"] for e in home if e.event == "item"}
    assert world.secret.id not in {e.data.get("id") for e in kor}
    assert world.releasable.id in {e.data.get("id") for e in kor}
    assert all(e.event == "item" for e in kor)  # a partner gets no ledger bookkeeping
    # ids are ledger indices, increasing; only entries after the given index come back
    ids = [e.id for e in home]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    later, _ = read_after(jpn, _viewer(world, "JPN", "items:read"), ids[-1])
    assert later == []
    new = jpn.put_item(alert_item(jpn, 7, "Cancel", "UNCLASSIFIED//REL TO JPN, KOR"))
    later, _ = read_after(jpn, _viewer(world, "JPN", "items:read"), ids[-1])
    assert [e.data["id"] for e in later] == [new.id] and later[0].data["summary"].startswith("Cancel INC-1")
    assert "cap_xml" not in later[0].json()  # events carry a summary, never the body


def test_a_node_party_viewer_with_status_scope_also_gets_ledger_events(world):
    events, _ = read_after(world.jpn, _viewer(world, "JPN", "admin"), -1)
    assert "agreement.added" in {e.data.get("type") for e in events if e.event == "ledger"}


def test_the_stream_starts_after_last_event_id_then_after_then_at_the_end(world):
    end = world.jpn.ledger.size - 1
    assert start_index(world.jpn, "3", "1") == 3
    assert start_index(world.jpn, None, "1") == 1
    assert start_index(world.jpn, None, None) == end
    assert start_index(world.jpn, "garbage", None) == end


def _events(lines: Iterator[str]) -> Iterator[dict]:
    ev: dict = {}
    for line in lines:
        if not line:
            if "data" in ev:
                yield ev
            ev = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            ev[key] = value[1:] if value.startswith(" ") else value


def _session(served, token: str) -> httpx.Client:
    client = httpx.Client(base_url=served.url, timeout=10)
    r = client.get("/console/login")
    r = client.post("/console/login", data={"token": token, "csrf": csrf_of(r.text)})
    assert r.status_code == 303
    return client


def test_a_reconnect_with_last_event_id_loses_nothing(served, world):
    jpn = world.jpn
    client = _session(served, world.reader)

    def put(n: int):
        with write_lock(jpn):
            return jpn.put_item(alert_item(jpn, n, "Update", "UNCLASSIFIED//REL TO JPN, KOR"))

    with client.stream("GET", f"/console/events?after={jpn.ledger.size - 1}") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        a = put(10)
        first = next(_events(r.iter_lines()))
    assert first["event"] == "item" and json.loads(first["data"])["id"] == a.id
    # while the browser is away, two more arrive
    b, c = put(11), put(12)
    with client.stream("GET", "/console/events", headers={"Last-Event-ID": first["id"]}) as r:
        got = _events(r.iter_lines())
        again = [next(got), next(got)]
    assert [json.loads(e["data"])["id"] for e in again] == [b.id, c.id]
    assert int(first["id"]) < int(again[0]["id"]) < int(again[1]["id"])
    client.close()


def test_the_event_stream_needs_a_session(served):
    r = httpx.get(f"{served.url}/console/events", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


def test_the_stream_ends_when_the_token_is_revoked(served, world):
    from accord.federation.tokens import revoke_token

    client = _session(served, world.reader)
    with client.stream("GET", f"/console/events?after={world.jpn.ledger.size - 1}") as r:
        assert r.status_code == 200
        with write_lock(world.jpn):
            revoke_token(world.jpn.conn, "reader")
        assert list(_events(r.iter_lines())) == []  # the server closes the stream: iteration ends
    assert client.get("/console/").status_code == 303
    client.close()


def test_a_partner_stream_stops_showing_items_once_the_agreement_no_longer_allows_them(served, world):
    from datetime import timedelta

    from console_world import NOW

    from accord.core.agreements import new_agreement, sign_agreement

    jpn, kor = world.jpn, world.kor
    client = _session(served, world.partner)

    def put(n: int, banner: str = "SECRET//REL TO JPN, KOR"):
        with write_lock(jpn):
            return jpn.put_item(alert_item(jpn, n, "Update", banner))

    with client.stream("GET", f"/console/events?after={jpn.ledger.size - 1}") as r:
        got = _events(r.iter_lines())
        first = put(20)
        assert json.loads(next(got)["data"])["id"] == first.id
        # version 2 of the agreement drops warning items from JPN to KOR
        v2 = new_agreement("jpn-kor", ["JPN", "KOR"], {"JPN": jpn.identity.public_b64, "KOR": kor.identity.public_b64},
                           [("JPN", "KOR", ["test.*"], "SECRET")], NOW - timedelta(days=1), NOW + timedelta(days=20),
                           title="JPN-KOR", version=2)
        with write_lock(jpn):
            jpn.add_agreement(sign_agreement(sign_agreement(v2, jpn.identity), kor.identity))
        hidden = put(21)
        from accord.core.items import new_item
        from accord.core.markings import Marking

        with write_lock(jpn):  # still allowed: the next event the partner sees
            marker = jpn.put_item(new_item("test.note", {"n": 1}, Marking.parse("SECRET//REL TO JPN, KOR"), "JPN",
                                           jpn.clock.now()))
        assert json.loads(next(got)["data"])["id"] == marker.id  # the alert in between never came
    assert hidden.id != marker.id
    client.close()


def test_a_session_may_hold_only_a_few_open_streams(served, world):
    from contextlib import ExitStack

    from accord.console.events import MAX_STREAMS

    client = _session(served, world.admin)  # admin: a status event arrives as soon as a stream runs
    with ExitStack() as stack:
        readers = []  # kept: a dropped line iterator closes its response
        for _ in range(MAX_STREAMS):
            r = stack.enter_context(client.stream("GET", "/console/events"))
            readers.append(_events(r.iter_lines()))
            assert next(readers[-1])["event"] == "status"
        r = client.get("/console/events")
        assert r.status_code == 429 and r.headers["retry-after"] == "5"
    # closed streams free their places
    import time

    for _ in range(100):
        with client.stream("GET", "/console/events") as r:
            if r.status_code == 200:
                break
        time.sleep(0.05)
    assert r.status_code == 200
    client.close()


def test_alert_events_carry_their_incident_and_areas_named_in_the_session_language(world):
    jpn = world.jpn
    last = jpn.ledger.size - 1
    new = jpn.put_item(alert_item(jpn, 8, "Update", "UNCLASSIFIED//REL TO JPN, KOR", areas=("JPN-42", "KOR-11")))
    (event,), _ = read_after(jpn, _viewer(world, "JPN", "items:read"), last, lang="ko")
    assert event.data["id"] == new.id
    assert event.data["alert"] == {"incident": "JPN:INC-1", "msgType": "Update", "reason": "update",
                                   "areas": ["나가사키현", "서울특별시"]}


def test_a_page_s_stream_starts_where_the_ledger_ended_before_the_page_read_anything(admin, world, monkeypatch):
    import re

    jpn = world.jpn
    before = jpn.ledger.size - 1
    real = jpn.items
    stored = []

    def items_while_a_write_lands(kind=None, **kw):  # an item arrives while the page reads
        if not stored:
            stored.append(jpn.put_item(alert_item(jpn, 30, "Update", "UNCLASSIFIED//REL TO JPN, KOR")))
        return real(kind=kind, **kw)

    monkeypatch.setattr(jpn, "items", items_while_a_write_lands)
    page = admin.get("/console/").text
    after = int(re.search(r'data-events="/console/events\?after=(-?\d+)"', page).group(1))
    assert after == before
    events, _ = read_after(jpn, _viewer(world, "JPN", "items:read"), after)
    assert stored[0].id in {e.data["id"] for e in events}


def test_commitment_events_carry_the_record_s_new_status_and_version(world):
    from accord.dialogue.store import DialogueStore

    jpn = world.jpn
    last = jpn.ledger.size - 1
    DialogueStore(jpn).update_commitment(world.commitment, {"status": "in_progress"})
    events, _ = read_after(jpn, _viewer(world, "JPN", "items:read"), last)
    (event,) = [e for e in events if e.event == "item" and e.data["kind"] == "dialogue.commitment"]
    assert event.data["commitment"] == {"id": world.commitment, "status": "in_progress", "owner": "JPN",
                                        "version": 3}


def test_item_events_need_items_read_and_a_token_with_neither_scope_gets_403(world, anon):
    from console_world import log_in

    from accord.federation.tokens import create_token

    # read_after: a home token without items:read sees no item (not the SECRET one), only ledger
    # entries if it has status; a partner without items:read sees nothing
    home, _ = read_after(world.jpn, _viewer(world, "JPN", "status"), -1)
    assert home and all(e.event == "ledger" for e in home)
    assert read_after(world.jpn, _viewer(world, "JPN", "metrics"), -1)[0] == []
    assert read_after(world.jpn, _viewer(world, "KOR", "status"), -1)[0] == []
    # the route: a metrics-only token may log in but gets no stream, not even with after=-1
    with write_lock(world.jpn):
        metrics = create_token(world.jpn.conn, "prometheus", "JPN", {"metrics"})
    client = log_in(anon, metrics)
    r = client.get("/console/events?after=-1")
    assert r.status_code == 403 and "items:read" in r.text


def test_only_ascii_integers_of_at_most_19_digits_are_stream_positions(world, admin):
    import pytest

    from accord.errors import InputError

    end = world.jpn.ledger.size - 1
    for bad in ("²", "٣", "1" * 5000, "1" * 20, "1e3", "--1", ""):
        with pytest.raises(InputError):
            start_index(world.jpn, None, bad)
        assert start_index(world.jpn, bad, None) == end  # a bad Last-Event-ID counts as absent
    assert start_index(world.jpn, " 9 ", None) == 9 and start_index(world.jpn, None, "-5") == -1
    for bad in ("²", "1" * 5000):
        r = admin.get("/console/events", params={"after": bad})
        assert r.status_code == 400 and "ledger index" in r.text


def test_an_item_whose_body_has_odd_parts_still_makes_its_event(world):
    # a partner's alert with "areas": null, a commitment whose payload is a list, an intel item
    # whose object is a string: the event raised, which ended every stream that read the entry
    # (and again at each reconnection, from the same Last-Event-ID)
    from accord.core.items import new_item
    from accord.core.markings import Marking

    jpn, mk = world.jpn, Marking.parse("UNCLASSIFIED//REL TO JPN, KOR")
    start = jpn.ledger.size - 1
    odd = [jpn.put_item(new_item(kind, body, mk, "KOR", jpn.clock.now())) for kind, body in (
        ("warning.alert", {"msgType": "Alert", "incident": "K-1", "areas": None}),
        ("warning.alert", {"msgType": "Alert", "incident": "K-2", "areas": ["JPN-42", 7, {"x": 1}]}),
        ("dialogue.commitment", {"payload": [1]}),
        ("dialogue.meeting", {"payload": {"state": 5}}),
        ("intel.stix", {"object": "x"}))]
    events, _ = read_after(jpn, _viewer(world, "JPN", "items:read"), start)
    got = {e.data["id"]: e for e in events if e.event == "item"}
    assert set(got) == {i.id for i in odd}
    assert got[odd[0].id].data["alert"]["areas"] == [] and got[odd[0].id].data["summary"] == "Alert K-1 — "
    assert got[odd[1].id].data["alert"]["areas"] == ["Nagasaki"]
    assert all(e.wire().startswith(b"event: item") or b"event: item" in e.wire() for e in got.values())


def test_a_stream_replays_at_most_the_last_replay_entries_after_a_reload_event(served, world, monkeypatch):
    """``?after=-1`` or ``Last-Event-ID: 0`` replayed the whole ledger, on every reconnection:
    any logged-in user could make the node re-read its ledger in a loop. Now one stream replays
    at most the last ``REPLAY`` entries, after a ``reload`` event for the page."""
    from accord.console import events as ev

    monkeypatch.setattr(ev, "REPLAY", 3)
    size = world.jpn.ledger.size
    assert size > 3 + 1
    client = _session(served, world.admin)  # an admin gets an event for every entry, then a status
    for query, headers in (("?after=-1", {}), ("", {"Last-Event-ID": "0"})):
        with client.stream("GET", f"/console/events{query}", headers=headers) as r:
            got = []
            for e in _events(r.iter_lines()):
                if e["event"] == "status":
                    break
                got.append(e)
        assert got[0]["event"] == "reload" and got[0]["id"] == str(size - 4)
        skipped = json.loads(got[0]["data"])["skipped"]
        assert skipped == size - 4 - (-1 if query else 0)
        replayed = [int(e["id"]) for e in got[1:]]
        assert replayed == [size - 3, size - 2, size - 1]  # the last 3 entries, in order, nothing older
    # a start within the bound replays all of it, with no reload event
    with client.stream("GET", f"/console/events?after={size - 3}") as r:
        got = []
        for e in _events(r.iter_lines()):
            if e["event"] == "status":
                break
            got.append(e)
    assert [int(e["id"]) for e in got] == [size - 2, size - 1]
    client.close()
