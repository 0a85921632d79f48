"""The intel board reads one bounded page at a time, newest first (its ``older`` link walks every
object once, in order), shows a partner only its own redaction, and a partner's pages look up
its redacted intelligence versions in one query per page (``Viewer.visible``)."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import pytest
from console_world import jpn_sharing_intel, log_in
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "intel"))

from intel_samples import indicator  # noqa: E402

from accord.api.app import create_app  # noqa: E402
from accord.console import events as ev  # noqa: E402
from accord.console import intel_board  # noqa: E402
from accord.console.view import Viewer  # noqa: E402
from accord.federation.tokens import create_token, principal_for_digest, token_digest  # noqa: E402
from accord.intel.markings import AccordLabel  # noqa: E402
from accord.intel.node_store import store_for  # noqa: E402
from accord.node import Node  # noqa: E402

NOTE = "from a liaison officer in Pyongyang"
LINK = re.compile(r'href="/console/intel/[^/"]+/([a-z-]+--[0-9a-f-]+)"')


class _Counted:
    """A cursor whose rows are counted as they are fetched."""

    def __init__(self, cur, rows: list[int]) -> None:
        self._cur, self._rows = cur, rows

    def fetchall(self):
        out = self._cur.fetchall()
        self._rows.append(len(out))
        return out

    def fetchone(self):
        row = self._cur.fetchone()
        self._rows.append(row is not None)
        return row

    def __iter__(self):
        for row in self._cur:
            self._rows.append(1)
            yield row


class CountingConn:
    """The intel store's connection, counting the rows its reads of ``intel_objects`` return
    (what a page reads and decodes of the objects)."""

    def __init__(self, conn, rows: list[int]) -> None:
        self._conn, self._rows = conn, rows

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __enter__(self):
        return self._conn.__enter__()

    def __exit__(self, *exc):
        return self._conn.__exit__(*exc)

    def execute(self, sql, args=()):
        cur = self._conn.execute(sql, args)
        return _Counted(cur, self._rows) if "intel_objects" in sql and "COUNT(" not in sql else cur


@pytest.fixture
def objects_read(world, monkeypatch) -> list[int]:
    rows: list[int] = []
    store = store_for(world.jpn)
    monkeypatch.setattr(store, "conn", CountingConn(store.conn, rows))
    return rows


def _ids(page: str) -> list[str]:
    return LINK.findall(page)


def _walk(client: TestClient, url: str) -> tuple[list[str], list[str]]:
    """The object ids of every page from ``url`` on, following ``older`` links; and the pages."""
    ids, pages = [], []
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.text
        pages.append(r.text)
        ids += _ids(r.text)
        more = re.search(r'id="older" rel="next" href="([^"]+)"', r.text)
        url = html.unescape(more.group(1)) if more else ""
        assert len(pages) < 200
    return ids, pages


def _newest_first(store, party: str | None = None) -> list[str]:
    """The ids of the last versions the node's readers get, newest ``date_added`` first."""
    rows = store.conn.execute("SELECT stix_id, rel FROM intel_objects WHERE is_last = 1 AND shadowed = 0"
                              " ORDER BY date_added DESC, seq DESC").fetchall()
    return [r[0] for r in rows if party is None or r[1] == "|*|" or f"|{party}|" in r[1]]


def test_a_view_of_the_intel_board_reads_a_bounded_number_of_objects(admin, partner, world, objects_read,
                                                                     monkeypatch):
    # every object of every collection was read and decoded for each view, under the node's lock:
    # ~0.38 s a page at 10,000 indicators, for any taxii:read token to repeat
    store = store_for(world.jpn)
    store.add_objects("cyber", [indicator(k) for k in range(400)])
    for client in (admin, partner):
        objects_read.clear()  # the page's reads only
        page = client.get("/console/intel").text
        assert sum(objects_read) <= 2 * (intel_board.PAGE + 1) + 5, objects_read
        shown = _ids(page)
        assert shown == _newest_first(store)[:intel_board.PAGE]  # the newest, newest first
        assert 'id="older"' in page and '<b id="objects-total">403</b>' in page
    page = admin.get("/console/intel?q=C2+address+1").text  # 1, 10-19, 100-199: a page is filled
    assert len(_ids(page)) == intel_board.PAGE and 'id="read-bound"' not in page
    objects_read.clear()
    page = admin.get("/console/intel?q=nothing-matches-this").text  # a filter the store cannot apply
    assert sum(objects_read) <= intel_board.SCAN + 2 * intel_board.SCAN // intel_board.WINDOW + 5
    assert _ids(page) == [] and "objects-total" not in page
    monkeypatch.setattr(intel_board, "SCAN", 100)
    objects_read.clear()
    page = admin.get("/console/intel?q=nothing-matches-this").text
    assert sum(objects_read) <= 100 + 5 and 'id="read-bound"' in page and 'id="older"' in page


@pytest.mark.parametrize("scan, window", [(2000, 500), (7, 3)])
def test_paging_walks_every_object_once_in_order(admin, partner, world, monkeypatch, scan, window):
    monkeypatch.setattr(intel_board, "PAGE", 8)
    monkeypatch.setattr(intel_board, "SCAN", scan)  # small: pages cut short by their read bound
    monkeypatch.setattr(intel_board, "WINDOW", window)
    store = store_for(world.jpn)
    store.add_collection("Home only", alias="home")  # no REL TO: the node's own party only
    for k in range(0, 60, 3):  # interleaved: the collections' objects alternate in time
        store.add_objects("cyber", [indicator(k), indicator(k + 1)])
        store.add_objects("home", [indicator(k + 2)])
    ids, pages = _walk(admin, "/console/intel")
    assert ids == _newest_first(store) and len(ids) == 63
    assert len(pages) >= 63 // 8
    assert 'id="newest"' in pages[-1] and 'id="newest"' not in pages[0]
    ids, _ = _walk(partner, "/console/intel")
    assert ids == _newest_first(store, "KOR") and len(ids) == 43
    # with a filter the store cannot apply (free text), the pages walk the matching ones
    ids, _ = _walk(admin, "/console/intel?q=C2+address+1")
    named = {indicator(k)["id"] for k in (1, *range(10, 20))}  # "C2 address 1", "… 10" to "… 19"
    assert ids == [i for i in _newest_first(store) if i in named] and len(ids) == 11


def test_a_bad_page_position_is_a_clear_error(admin):
    # 19 digits past a 64-bit integer (9223372036854775807): SQLite's driver raised OverflowError
    # on the query, a 500 page with a logged traceback for any user who may read intel (PostgreSQL
    # compared it as a numeric): a position the 'older' link can never give, refused on both
    for bad in ("yesterday", "1.", "-1.2", "1" * 20 + ".1", "1.2.3", "9" * 19 + ".1", "1." + "9" * 19,
                "9223372036854775808.0"):
        r = admin.get(f"/console/intel?before={bad}")
        assert r.status_code == 400 and "before:" in r.text, bad
    assert admin.get("/console/intel?before=9223372036854775807.9223372036854775807").status_code == 200
    assert admin.get("/console/intel?before=0.0").status_code == 200  # nothing older than the start


@pytest.fixture
def shared(tmp_path):
    """JPN shares 30 indicators with KOR and USA; the odd ones carry a description granular-marked
    for JPN and USA only (KOR's copy is redacted, USA's is not); 6 more are JPN's alone."""
    jpn, others, _ = jpn_sharing_intel(tmp_path)
    store = store_for(jpn)
    store.add_collection("Cyber indicators", alias="cyber", shared=True, rel_to=["KOR", "USA"])
    store.add_collection("Home only", alias="home")
    everyone = AccordLabel("CONFIDENTIAL", {"JPN", "KOR", "USA"}, originator="JPN").marking_definition()
    usa_only = AccordLabel("CONFIDENTIAL", {"JPN", "USA"}, originator="JPN").marking_definition()
    store.add_objects("cyber", [everyone, usa_only])
    for k in range(30):
        extra = {"description": f"{NOTE} #{k}",
                 "granular_markings": [{"marking_ref": usa_only["id"], "selectors": ["description"]}]} if k % 2 else {}
        store.add_objects("cyber", [indicator(k, object_marking_refs=[everyone["id"]], **extra)])
        if k % 5 == 0:
            store.add_objects("home", [indicator(100 + k)])
    tokens = {p: create_token(jpn.conn, f"{p.lower()}-liaison", p, {"items:read", "taxii:read"})
              for p in ("KOR", "USA")}
    yield jpn, tokens
    jpn.close()
    for n in others.values():
        n.close()
    for n in others.values():
        n.close()


def test_a_partner_never_reads_another_party_s_redaction_on_any_page(shared, monkeypatch):
    monkeypatch.setattr(intel_board, "PAGE", 4)
    jpn, tokens = shared
    store = store_for(jpn)
    kor = log_in(TestClient(create_app(jpn), follow_redirects=False), tokens["KOR"])
    ids, pages = _walk(kor, "/console/intel")
    assert len(pages) >= 8 and not any(NOTE in p for p in pages)
    assert ids == _newest_first(store, "KOR") and len(ids) == 32  # 30 indicators, 2 definitions
    assert not set(ids) & {indicator(100 + k)["id"] for k in range(0, 30, 5)}  # JPN's alone
    usa = log_in(TestClient(create_app(jpn), follow_redirects=False), tokens["USA"])
    _, pages = _walk(usa, "/console/intel")
    assert sum(p.count(NOTE) for p in pages) == 0  # the table shows names, not descriptions
    assert all(NOTE not in kor.get(f"/console/intel/cyber/{i}").text for i in ids)
    assert NOTE in usa.get(f"/console/intel/cyber/{indicator(1)['id']}").text  # USA's is whole


def test_a_partner_s_page_looks_up_its_redacted_versions_in_one_query(shared, monkeypatch):
    # Viewer._own_redaction asked the store once per unredacted intelligence item a partner viewed
    jpn, tokens = shared
    asked: list[list[str]] = []
    real = Node.get_items

    def counting(self, ids):
        if any("~" in i for i in ids):
            asked.append(list(ids))
        return real(self, ids)

    monkeypatch.setattr(Node, "get_items", counting)
    principal = principal_for_digest(jpn.conn, token_digest(tokens["KOR"]))
    items = jpn.items(kind="intel.stix")
    unredacted = [i for i in items if "~" not in i.id]
    assert len(unredacted) >= 15
    # the overview and the event stream: one look-up for the page, however many items it shows
    kor = log_in(TestClient(create_app(jpn), follow_redirects=False), tokens["KOR"])
    asked.clear()
    page = kor.get("/console/").text
    assert len(asked) == 1 and NOTE not in page, asked
    asked.clear()
    events, _ = ev.read_after(jpn, Viewer(principal, "JPN"), -1, limit=1000)
    assert len([a for a in asked if all(i.endswith("~KOR") for i in a)]) == 1, asked
    assert events and all(NOTE not in e.json() for e in events)
    # a page of items, filtered at once: the same answer as item by item, in one query
    asked.clear()
    seen = Viewer(principal, "JPN").visible(jpn, items)
    assert len(asked) == 1 and len(asked[0]) == len(unredacted), asked
    assert seen == [i for i in items if Viewer(principal, "JPN").sees(jpn, i)]
    assert not any(NOTE in str(i.body) for i in seen) and any(i.id.endswith("~KOR") for i in seen)


def test_the_type_filter_suggests_every_stix_type_and_the_page_s_own(admin, world):
    # the suggestions came from the objects on the page: with only indicators stored, a viewer
    # looking for a vulnerability or a file was offered "indicator" alone
    store = store_for(world.jpn)
    store.add_objects("cyber", [indicator(k) for k in range(3)])
    custom = {**indicator(99), "type": "x-acme-sensor-note", "id": "x-acme-sensor-note--" + indicator(99)["id"].split("--")[1]}
    for key in ("pattern", "pattern_type", "valid_from", "indicator_types"):
        custom.pop(key, None)
    store.add_objects("cyber", [custom])
    page = admin.get("/console/intel").text
    offered = re.findall(r'<option value="([^"]+)">', page.split('<datalist id="types">')[1].split("</datalist>")[0])
    assert {"indicator", "vulnerability", "file", "x509-certificate", "x-acme-sensor-note"} <= set(offered)
    assert "bundle" not in offered and offered == sorted(offered)
