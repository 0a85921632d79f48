"""What the console's pages cost the node, counted (rows read, statements run, requests let
through), never timed: the alerts board and the picture read a bounded number of alerts, radars
and predictions however many are stored; the overview's counts read no item; and a session (or
an address without one) may ask for a bounded number of pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from console_world import log_in, prediction, radar
from fastapi.testclient import TestClient

from accord.core.items import new_item
from accord.core.markings import Marking

MK = Marking.parse("SECRET//REL TO JPN, KOR")


@pytest.fixture
def reads(monkeypatch) -> list[tuple[str | None, int]]:
    """(kind, items returned) of each ``Node.items`` call the test makes."""
    from accord.node import Node

    out: list[tuple[str | None, int]] = []
    real = Node.items

    def counting(self, *args, **kwargs):
        got = real(self, *args, **kwargs)
        out.append((kwargs.get("kind", args[0] if args else None), len(got)))
        return got

    monkeypatch.setattr(Node, "items", counting)
    return out


def read_of(reads: list[tuple[str | None, int]], kind: str) -> int:
    return sum(n for k, n in reads if k == kind)


def flood(node, clock, kind: str, n: int, body, originator: str = "KOR", spacing: float = 1.0) -> None:
    """``n`` items of ``kind`` from ``originator``, ``spacing`` seconds apart, ending an hour ago."""
    start = clock.now() - timedelta(hours=1, seconds=n * spacing)
    node.put_items([new_item(kind, body(k), MK, originator, start + timedelta(seconds=k * spacing))
                    for k in range(n)])


def alert_body(k: int) -> dict:
    return {"identifier": f"KOR-{k}", "msgType": "Alert" if k % 2 == 0 else "Cancel", "incident": f"K-{k // 2}",
            "t": float(k), "track_id": f"KT-{k // 2}", "areas": ["JPN-42"]}


def test_the_alerts_board_reads_each_party_s_newest_alerts_and_its_incidents_predictions_only(
        admin, world, clock, reads):
    # every alert the node ever stored was read and decoded for each view of the board, and
    # every prediction within 30 minutes of an incident: a partner's flood of 800 alerts cost
    # each page all 800, and pushed nothing off the page
    from accord.console.bounded import ALERTS_PER_ORIGINATOR

    jpn = world.jpn
    flood(jpn, clock, "warning.alert", 2 * ALERTS_PER_ORIGINATOR + 200, alert_body, spacing=60.0)  # over 13 h
    for k in range(150):  # another track's predictions around JPN's incident (T-1)
        jpn.put_item(new_item("warning.prediction", {"t": float(k), "track_id": "T-9"}, MK, "JPN",
                              clock.now() - timedelta(seconds=k)))
    prediction(jpn, 40.0, 0.0, 400.0)  # T-1's
    reads.clear()
    page = admin.get("/console/alerts").text
    assert read_of(reads, "warning.alert") <= ALERTS_PER_ORIGINATOR + 2, reads  # KOR's newest (and one more), JPN's one
    assert read_of(reads, "warning.prediction") <= 1, reads  # T-1's only, not T-9's
    assert 'data-incident="JPN:INC-1"' in page  # JPN's incident is not pushed off by KOR's flood
    assert page.count('class="incident') == 1 + ALERTS_PER_ORIGINATOR // 2  # KOR's newest 300 messages
    assert 'id="alerts-newest"' in page  # and the page says older ones are not shown
    assert 'data-until="' in page  # T-1's impact countdown, from its prediction


def test_an_open_incident_stays_on_the_board_behind_a_burst_of_newer_messages(admin, world, clock, reads):
    # a salvo's burst: an incident alerted and quiet since (still open), then 700 newer messages
    # of the same party's other incidents within the hour — the newest 300 alone left it off
    from accord.console.bounded import ALERTS_PER_ORIGINATOR, RECENT_MAX

    jpn = world.jpn
    n = 2 * ALERTS_PER_ORIGINATOR + 100
    quiet = {"identifier": "JPN-Q", "msgType": "Alert", "incident": "Q-1", "t": 0.0, "track_id": "QT",
             "areas": ["JPN-42"]}
    jpn.put_item(new_item("warning.alert", quiet, MK, "JPN", clock.now() - timedelta(hours=1, seconds=4 * n + 60)))
    flood(jpn, clock, "warning.alert", n, alert_body, originator="JPN", spacing=4.0)
    reads.clear()
    page = admin.get("/console/alerts").text
    assert 'data-incident="JPN:Q-1"' in page
    assert read_of(reads, "warning.alert") <= RECENT_MAX + 3, reads
    assert 'data-incident="JPN:K-0"' not in page  # a closed incident past the newest 300 is not
    assert 'id="alerts-newest"' in page  # and the page says older ones are not shown


def test_the_board_of_a_party_with_thousands_of_incidents_in_its_last_two_hours_is_drawn(admin, world, clock):
    # 2,400 alert messages within the two hours (1,200 incidents, each its own track) are all
    # read; their predictions were picked by one OR of 1,200 track ids, which SQLite refused as an
    # expression deeper than 1,000: the board answered 500
    jpn = world.jpn
    flood(jpn, clock, "warning.alert", 2400, alert_body, spacing=2.0)
    jpn.put_item(new_item("warning.prediction", {"t": 1.0, "track_id": "KT-1199"}, MK, "KOR",
                          clock.now() - timedelta(hours=1, seconds=5)))
    page = admin.get("/console/alerts")
    assert page.status_code == 200
    assert 'data-incident="KOR:K-1199"' in page.text


def test_the_picture_reads_a_bounded_number_of_alerts_and_radars(admin, world, clock, reads):
    from accord.console.bounded import ALERTS_PER_ORIGINATOR, RADARS_PER_ORIGINATOR

    jpn = world.jpn
    radar(jpn, "JPN", "R-1", 35.0, 135.0, "SECRET//REL TO JPN, KOR")
    flood(jpn, clock, "warning.alert", ALERTS_PER_ORIGINATOR + 200, alert_body, spacing=60.0)
    flood(jpn, clock, "warning.radar", RADARS_PER_ORIGINATOR + 200,
          lambda k: {**radar_body(), "id": f"K-{k % 3}"})
    reads.clear()
    svg = admin.get("/console/picture.svg").text
    assert read_of(reads, "warning.alert") <= ALERTS_PER_ORIGINATOR + 2, reads  # KOR's newest (and one more), JPN's one
    assert read_of(reads, "warning.radar") <= RADARS_PER_ORIGINATOR + 2, reads
    assert svg.count('class="radar"') == 4  # JPN's R-1 and KOR's three
    assert 'class="alerted"' in svg  # JPN's incident's area, still read


def radar_body() -> dict:
    return {"lat_deg": 37.0, "lon_deg": 127.0, "alt_m": 0.0, "sigma_range_m": 50.0, "sigma_az_rad": 0.001,
            "sigma_el_rad": 0.001, "min_range_m": 1000.0, "max_range_m": 500_000.0, "min_el_deg": 0.0,
            "max_el_deg": 90.0, "az_center_deg": 0.0, "az_half_width_deg": 180.0}


class Recording:
    """The node's connection, recording each statement run through it."""

    def __init__(self, conn) -> None:
        self.conn, self.sql = conn, []

    def execute(self, sql, *args):
        self.sql.append(" ".join(str(sql).split()))
        return self.conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.conn, name)


def test_the_overview_s_counts_read_no_item(admin, world, clock, monkeypatch):
    # the overview counted the whole items table (GROUP BY kind) at each rebuild
    jpn = world.jpn
    flood(jpn, clock, "warning.track", 50, lambda k: {"t": float(k), "track_id": "T"})
    recording = Recording(jpn.conn)
    monkeypatch.setattr(jpn, "conn", recording)
    page = admin.get("/console/").text
    assert not [q for q in recording.sql if "count(" in q.lower() and "from items" in q.lower()], recording.sql
    monkeypatch.undo()
    assert "warning.track" in page and "<b>51</b>" in page  # the world's own track and the 50


def test_the_counts_are_exact_after_puts_repeats_receipts_and_the_migration(world, clock):
    from accord.node import Node
    from accord.store.base import transaction

    jpn = world.jpn
    body = {"t": 1.0, "track_id": "T"}
    item = new_item("warning.track", body, MK, "JPN", clock.now())
    jpn.put_items([item, new_item("warning.track", body, MK, "JPN", clock.now()), item])
    jpn.put_item(item)  # already stored: not counted again
    jpn.store_received([new_item("warning.radar", radar_body() | {"id": "K"}, MK, "KOR", clock.now())])
    truth = dict(jpn.conn.execute("SELECT kind, count(*) FROM items GROUP BY kind").fetchall())
    assert jpn.count_items() == truth
    # a node stored before the counts existed (schema 4) counts every item it holds at its next open
    with transaction(jpn.conn):
        jpn.conn.execute("DELETE FROM item_counts")
        jpn.conn.execute("UPDATE schema_version SET version = 4 WHERE component = 'node'")
    directory, clk = jpn.dir, jpn.clock
    jpn.close()
    world.jpn = Node.open(directory, clk)
    assert world.jpn.count_items() == truth


@pytest.fixture
def frozen(monkeypatch) -> list[float]:
    """The request budgets' clock, stopped (``[0]`` moves it)."""
    from accord.console import budget

    at = [1000.0]
    monkeypatch.setattr(budget, "monotonic", lambda: at[0])
    return at


def test_a_session_s_pages_are_limited_with_429_and_retry_after(app, world, frozen):
    from accord.console.budget import SESSION_BURST, SESSION_RATE

    one = log_in(TestClient(app, follow_redirects=False), world.admin)
    other = log_in(TestClient(app, follow_redirects=False), world.admin)
    answers = [one.get("/console/picture.svg").status_code for _ in range(SESSION_BURST)]
    assert answers == [200] * SESSION_BURST
    refused = one.get("/console/alerts")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "too many requests from this session: try again in 1 s" in refused.text
    assert "Traceback" not in refused.text
    assert one.get("/console/events?after=0").status_code == 429  # streams too
    assert other.get("/console/alerts").status_code == 200  # another session has its own budget
    frozen[0] += 1.0 / SESSION_RATE
    assert one.get("/console/alerts").status_code == 200  # one more, a refill later


def test_requests_without_a_session_are_limited_by_address(anon, frozen):
    from accord.console.budget import ANON_BURST

    assert [anon.get("/console/alerts").status_code for _ in range(ANON_BURST)] == [303] * ANON_BURST
    anon.cookies.set("accord_console", "made-up", path="/console")  # a cookie that is no live session
    refused = anon.get("/console/alerts")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert anon.get("/console/login").status_code == 200  # the login page is not (it has its own limit)


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_each_originator_s_newest_and_the_originators_are_read_through_the_index(tmp_path, store, request):
    """The queries behind the bounded reads (:mod:`accord.console.bounded`), explained as they are
    sent: each walks ``items_by_kind_originator``, none scans the items."""
    from accord.node import Node
    from accord.store.base import POSTGRESQL, dialect_of, transaction

    url = request.getfixturevalue("pg_schemas").make() if store == "postgresql" else None
    node = Node.init(tmp_path / "jpn", "JPN", store=url) if url else Node.init(tmp_path / "jpn", "JPN")
    try:
        at = node.clock.now()
        for party in ("JPN", "KOR", "USA"):
            node.put_items([new_item(kind, {"t": float(k), "id": f"R{k % 3}"}, MK, party, at - timedelta(seconds=k))
                            for kind in ("warning.alert", "warning.radar", "warning.track") for k in range(1000)])
        pg = dialect_of(node.conn) == POSTGRESQL
        if pg:
            with transaction(node.conn):
                node.conn.execute("ANALYZE items")
        plans: list[str] = []
        real = node.conn.execute

        def explain(sql, params=()):
            plans.append("\n".join(str(r[-1] if not pg else r[0])
                                   for r in real(("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + sql, params)))
            return real(sql, params)

        node.conn = Recording(node.conn)
        node.conn.execute = explain
        assert node.originators("warning.alert", 16) == ["JPN", "KOR", "USA"]
        assert len(node.items("warning.alert", originator="KOR", until=at, newest=301)) == 301
        node.conn = node.conn.conn
        assert len(plans) == 2
        for plan in plans:
            assert "items_by_kind_originator" in plan and "Seq Scan" not in plan and "SCAN items" not in plan, plan
    finally:
        node.close()
