"""The dialogue API: authenticated routes, owner-only changes, clear errors, iCalendar and reports."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from accord.api.app import create_app
from accord.api.deps import create_token
from accord.clock import ManualClock
from accord.federation.tokens import TOKENS_DDL
from accord.node import Node
from accord.store.sqlite import ensure_schema


@pytest.fixture
def api(tmp_path):
    jpn = Node.init(tmp_path / "jpn", "JPN", ManualClock(datetime(2025, 9, 8, tzinfo=UTC)))
    kor = Node.init(tmp_path / "kor", "KOR")
    jpn.add_partner("KOR", kor.identity.public_b64)
    ensure_schema(jpn.conn, TOKENS_DDL)
    rw = create_token(jpn.conn, "staff", "JPN", {"dialogue:read", "dialogue:write"})
    ro = create_token(jpn.conn, "reader", "JPN", {"dialogue:read"})
    with TestClient(create_app(jpn)) as client:
        yield client, {"Authorization": f"Bearer {rw}"}, {"Authorization": f"Bearer {ro}"}
    jpn.close()
    kor.close()


SERIES = {"id": "S1", "title": "Vice-ministers", "parties": ["JPN", "KOR"], "level": "vice-ministers",
          "cadence_months": 6, "first_meeting": "2025-08-31", "venues": {"JPN": "Tokyo", "KOR": "Seoul"}}


def test_routes_need_a_token_with_the_right_scope(api):
    client, rw, ro = api
    assert client.get("/api/v1/dialogue/series").status_code == 401
    assert client.get("/api/v1/dialogue/series", headers=ro).status_code == 200
    assert client.post("/api/v1/dialogue/series", json=SERIES, headers=ro).status_code == 403


def test_series_meeting_commitments_ical_and_report(api):
    client, rw, ro = api
    r = client.post("/api/v1/dialogue/series", json=SERIES, headers=rw)
    assert r.status_code == 201, r.text
    assert r.json()["shared"][0]["result"].startswith("not shared")  # default deny: no agreement
    import vobject
    empty = vobject.readOne(client.get("/api/v1/dialogue/series/S1/ical", headers=ro).text)
    assert empty.x_wr_calname.value == "Vice-ministers" and list(empty.components()) == []  # no meeting yet
    r = client.post("/api/v1/dialogue/series/S1/schedule", json={"count": 2, "after": "2025-09-01"}, headers=rw)
    assert [v["record_id"] for v in r.json()["versions"]] == ["S1-M2", "S1-M3"]
    meeting = {"number": 1, "date": "2025-08-31", "agenda": ["Exchanges"],
               "attendees": [{"party": "JPN", "role": "Administrative Vice-Minister of Defense (JPN)"}],
               "commitments": [{"owner": "JPN", "text": "Draft the exchange plan", "due": "2025-12-31",
                                "status": "agreed"},
                               {"owner": "KOR", "text": "Host staff talks", "due": "2026-02-28"}]}
    r = client.post("/api/v1/dialogue/series/S1/meetings", json=meeting, headers=rw)
    assert r.status_code == 201, r.text
    cs = {c["id"]: c for c in client.get("/api/v1/dialogue/commitments", headers=ro).json()}
    assert cs["S1-M1-C1"]["status"] == "agreed" and cs["S1-M1-C2"]["status"] == "proposed"
    # JPN may not agree KOR's commitment on KOR's behalf
    r = client.patch("/api/v1/dialogue/commitments/S1-M1-C2", json={"status": "agreed"}, headers=rw)
    assert r.status_code == 403 and r.json()["detail"]["error"] == "not_owner"
    r = client.patch("/api/v1/dialogue/commitments/S1-M1-C1", json={"status": "done"}, headers=rw)
    assert r.status_code == 200
    hist = client.get("/api/v1/dialogue/records/S1-M1-C1/history", headers=ro).json()
    assert [h["state"]["status"] for h in hist] == ["proposed", "agreed", "done"]
    assert hist[2]["prev"] == hist[1]["digest"]
    due = client.get("/api/v1/dialogue/commitments/due", params={"now": "2026-03-01T00:00:00Z"}, headers=ro).json()
    assert [c["id"] for c in due["overdue"]] == ["S1-M1-C2"]
    cal = Calendar.from_ical(client.get("/api/v1/dialogue/series/S1/ical", headers=ro).content)
    assert sorted(str(e["UID"]) for e in cal.walk("VEVENT")) == [
        "S1-M1@accord-dialogue", "S1-M2@accord-dialogue", "S1-M3@accord-dialogue"]
    md = client.get("/api/v1/dialogue/report", params={"format": "md", "party": "KOR",
                                                      "now": "2026-03-01T00:00:00Z"}, headers=ro)
    assert md.status_code == 200 and "Commitments of KOR" in md.text and "S1-M1-C2" in md.text
    assert "S1-M1-C1" not in md.text
    html = client.get("/api/v1/dialogue/report", params={"format": "html", "series": "S1"}, headers=ro)
    assert html.headers["content-type"].startswith("text/html") and "<table>" in html.text
    # the page runs nothing and loads nothing, wherever it is opened: no script, only its own style
    csp = html.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "style-src 'unsafe-inline'" in csp
    assert "frame-ancestors 'none'" in csp
    for response in (md, html, client.get("/api/v1/dialogue/series/S1/ical", headers=ro)):
        assert response.headers["x-content-type-options"] == "nosniff"


def test_bad_input_is_422_naming_the_field_and_unknown_is_404(api):
    client, rw, _ = api
    client.post("/api/v1/dialogue/series", json=SERIES, headers=rw)
    r = client.post("/api/v1/dialogue/series/S1/meetings", headers=rw,
                    json={"date": "2025-08-31", "commitments": [{"owner": "USA", "text": "x", "due": "2026-01-01"}]})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "commitments[0].owner"
    r = client.post("/api/v1/dialogue/series/S1/meetings", headers=rw,
                    json={"date": "2025-08-31", "commitments": [{"text": "no owner", "due": "2026-01-01"}]})
    assert r.status_code == 422 and "owner" in r.text
    assert client.get("/api/v1/dialogue/series/NOPE", headers=rw).status_code == 404
    assert client.get("/api/v1/dialogue/series/S1/meetings", headers=rw).json() == []


@pytest.mark.parametrize("number", [10**6, 10**18, 10**30])
def test_a_meeting_number_past_the_last_is_422_not_a_500(api, number):
    """The slot of a meeting (its date by the cadence) was worked out before the number was
    checked: 10**6 × 6 months is past the year 9999 (a ValueError), 10**18 an OverflowError."""
    client, rw, _ = api
    client.post("/api/v1/dialogue/series", json=SERIES, headers=rw)
    r = client.post("/api/v1/dialogue/series/S1/meetings", headers=rw, json={"date": "2025-08-31", "number": number})
    assert r.status_code == 422 and "number" in r.text and "1000" in r.text
    assert client.get("/api/v1/dialogue/series/S1/meetings", headers=rw).json() == []


@pytest.mark.parametrize("after", ["9999-12-31", "9990-01-01"])
def test_planning_after_a_date_outside_the_record_is_422_not_a_500(api, after):
    client, rw, _ = api
    client.post("/api/v1/dialogue/series", json=SERIES, headers=rw)
    r = client.post("/api/v1/dialogue/series/S1/schedule", json={"count": 24, "after": after}, headers=rw)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "after", r.text
    assert client.get("/api/v1/dialogue/series/S1/meetings", headers=rw).json() == []
