"""The live picture: an SVG drawn on the server from the packaged geography."""

from __future__ import annotations

import re

import pytest

from console_world import prediction, radar, track

from accord.console import picture
from accord.warning import symbols
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.warning.frames import ecef_to_lla, great_circle_m, lla_to_ecef


def test_projection_keeps_metres_square_and_the_bounds_on_the_canvas():
    lon0, lon1, lat0, lat1 = picture.BOUNDS
    assert picture.xy(lon0, lat1) == (0.0, 0.0)
    assert picture.xy(lon1, lat0) == (picture.WIDTH, picture.HEIGHT)
    # 1° of latitude and cos(mid-lat)° of longitude are the same distance on the ground
    mid = (lat0 + lat1) / 2
    (x0, y0), (x1, _), (_, y1) = picture.xy(130, mid), picture.xy(130 + 1 / 0.7862, mid), picture.xy(130, mid - 1)
    assert abs((x1 - x0) - (y1 - y0)) < 0.5


def test_the_picture_draws_own_and_partner_tracks_predictions_and_alerted_areas(admin, partner, world, clock):
    own = [track(world.jpn, "JPN", "T-1", t, 39.0 + t / 100, 128.0 + t / 50, "SECRET//REL TO JPN, KOR")
           for t in (10.0, 20.0, 30.0)]
    kor = track(world.jpn, "KOR", "K-7", 15.0, 38.0, 131.0, "SECRET//REL TO JPN, KOR")
    hidden = track(world.jpn, "JPN", "T-NOFORN-2", 12.0, 37.0, 132.0, "SECRET")
    pred = prediction(world.jpn, 30.0, 0.0, 420.0)
    page = admin.get("/console/picture").text
    svg = page[page.index("<svg id=\"picture\""):page.index("</svg>") + 6]
    assert f'<a href="/console/items/{own[-1].id}" class="track" data-party="JPN">' in svg  # the head is the latest
    assert f'href="/console/items/{kor.id}" class="track" data-party="KOR"' in svg
    assert svg.count("<polyline") == 1 and 'stroke-dasharray' not in svg.split("<polyline")[1].split("/>")[0]
    assert f'href="/console/items/{pred.id}" class="prediction"' in svg and "<ellipse" in svg
    assert re.search(r'class="alerted"[^>]*><title>Nagasaki</title>', svg)
    assert len(re.findall(r"<path ", svg)) > 3  # land and the alerted area
    assert hidden.id in svg  # the node's own party sees its NOFORN track
    assert hidden.id not in partner.get("/console/picture").text
    assert "長崎県" in admin.get("/console/picture.svg?lang=ja").text
    # history older than the trail window leaves the picture
    clock.advance(31 * 60)
    svg = admin.get("/console/picture.svg").text
    assert 'class="track"' not in svg and 'class="prediction"' not in svg


def test_the_svg_endpoint_has_the_console_headers_and_needs_a_session(admin, anon):
    r = admin.get("/console/picture.svg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert anon.get("/console/picture.svg").status_code == 303


def test_selecting_a_track_shows_position_altitude_speed_and_its_predicted_impact(admin, world):
    x, y, z = (float(v) for v in lla_to_ecef(39.0, 128.0, 120_000.0))
    body = {"t": 30.0, "track_id": "T-1", "x": x, "y": y, "z": z, "vx": 300.0, "vy": 400.0, "vz": 1200.0,
            "phase": "ballistic", "source": "JPN"}
    track = world.jpn.put_item(new_item("warning.track", body, Marking.parse("SECRET//REL TO JPN, KOR"), "JPN",
                                        world.jpn.clock.now()))
    prediction(world.jpn, 30.0, 0.0, 420.0)
    page = admin.get(f"/console/items/{track.id}").text
    facts = page[page.index('id="track-facts"'):page.index("</dl>", page.index('id="track-facts"'))]
    assert "39.000° N, 128.000° E" in facts and "120.0 km" in facts and "1300 m/s" in facts
    assert "ballistic" in facts and "33.000° N, 130.000° E" in facts and "09:06:30Z" in facts
    assert "0.9 × 0.4 km" in facts


def _svg(client, query: str = "") -> str:
    r = client.get(f"/console/picture.svg{query}")
    assert r.status_code == 200, r.text
    return r.text


def _head_xy(svg: str, item_id: str) -> tuple[float, float]:
    m = re.search(rf'<a href="/console/items/{re.escape(item_id)}" class="track"[^>]*>.*?'
                  rf'<g class="symbol" data-sidc="{symbols.TRACK}" transform="translate\(([\d.]+) ([\d.]+)\)"', svg)
    assert m, f"no track head for {item_id}"
    return float(m.group(1)), float(m.group(2))


def _where(item) -> tuple[float, float]:
    """Where a stored track item puts its track on the canvas (from its ECEF body)."""
    lat, lon, _ = ecef_to_lla([item.body["x"], item.body["y"], item.body["z"]])
    return picture.xy(float(lon), float(lat))


def test_radars_and_their_coverage_are_drawn_and_a_partner_sees_only_releasable_ones(admin, partner, world):
    shared = radar(world.jpn, "JPN", "JPN-R1", 35.0, 135.0, "SECRET//REL TO JPN, KOR", az=270.0, half=60.0,
                   max_range_m=500_000.0)
    noforn = radar(world.jpn, "JPN", "JPN-R2", 36.0, 139.0, "SECRET")
    world.jpn.put_item(new_item("warning.radar", {"id": "broken", "lat_deg": "north"},
                                Marking.parse("SECRET//REL TO JPN, KOR"), "JPN", world.jpn.clock.now()))
    svg = _svg(admin)
    groups = re.findall(r'<g class="radar" data-party="JPN" data-radar="([^"]+)">(.*?)</g>', svg)
    assert [g[0] for g in groups] == ["JPN-R1", "JPN-R2"]  # the malformed one is not a radar
    r1 = groups[0][1]
    assert "<title>JPN JPN-R1 — SECRET//REL TO JPN, KOR</title>" in r1 and 'class="coverage"' in r1
    # the site's 2525D symbol (a friend ground sensor) sits on the radar's position
    x, y = picture.xy(135.0, 35.0)
    assert f'<g class="symbol" data-sidc="{symbols.RADAR}" transform="translate({x} {y})">' in r1
    page = admin.get("/console/picture").text
    assert f'href="/console/items/{shared.id}"' in page and f'href="/console/items/{noforn.id}"' in page
    assert f'data-sidc="{symbols.RADAR}" data-fit' in page and "radar (friend, ground sensor)" in page  # legend
    seen = partner.get("/console/picture").text
    assert 'data-radar="JPN-R1"' in seen and "JPN-R2" not in seen and noforn.id not in seen
    assert "<h1>warning.radar JPN-R1</h1>" in admin.get(f"/console/items/{shared.id}").text  # named by its id
    assert partner.get(f"/console/items/{noforn.id}").status_code == 404


def test_a_coverage_footprint_is_the_sector_out_to_the_maximum_range():
    body = {"lat_deg": 35.0, "lon_deg": 135.0, "max_range_m": 500_000.0, "az_center_deg": 270.0,
            "az_half_width_deg": 60.0}
    ring = picture.footprint(body)
    assert ring[0] == (135.0, 35.0)  # a sector starts at the site
    for lon, lat in ring[1:]:
        assert abs(float(great_circle_m(35.0, 135.0, lat, lon)) - 500_000.0) < 1.0
        assert lon < 135.0  # looking west: every arc point is west of the site
    circle = picture.footprint({**body, "az_half_width_deg": 180.0})
    assert (135.0, 35.0) not in circle and len(circle) > 30
    assert all(abs(float(great_circle_m(35.0, 135.0, la, lo)) - 500_000.0) < 1.0 for lo, la in circle)


def test_a_tracks_page_shows_the_radars_and_partners_that_contributed(admin, partner, world):
    west = radar(world.jpn, "JPN", "JPN-W", 38.0, 131.0, "SECRET//REL TO JPN, KOR", az=270.0, half=60.0)
    radar(world.jpn, "JPN", "JPN-E", 38.0, 131.0, "SECRET//REL TO JPN, KOR", az=90.0, half=30.0)  # looks away
    noforn = radar(world.jpn, "JPN", "JPN-N", 38.5, 130.5, "SECRET")  # covers it, but JPN eyes only
    radar(world.jpn, "KOR", "KOR-1", 37.5, 129.0, "SECRET//REL TO JPN, KOR")  # covers it, another party's
    own = track(world.jpn, "JPN", "T-1", 10.0, 38.0, 130.0, "SECRET//REL TO JPN, KOR")
    rows = admin.get(f"/console/items/{own.id}").text
    radars = rows[rows.index('id="contributing-radars"'):]
    radars = radars[:radars.index("</table>")]
    assert re.findall(r'data-radar="([^"]+)"', radars) == ["JPN-N", "JPN-W"]
    assert f'href="/console/items/{west.id}"' in radars and "track inside its coverage" in radars
    parties = rows[rows.index('id="contributors"'):]
    assert re.findall(r'<tr data-party="([^"]+)"', parties[:parties.index("</table>")]) == ["JPN"]
    seen = partner.get(f"/console/items/{own.id}").text
    assert noforn.id not in seen and 'data-radar="JPN-N"' not in seen and 'data-radar="JPN-W"' in seen
    # a fused track names its sources: each party with its own track, marking and link
    kor = track(world.jpn, "KOR", "K-7", 10.0, 38.1, 130.1, "CONFIDENTIAL//REL TO JPN, KOR")
    x, y, z = (float(v) for v in lla_to_ecef(38.0, 130.0, 80_000.0))
    fused = world.jpn.put_item(new_item(
        "warning.track", {"t": 12.0, "track_id": "F-1", "x": x, "y": y, "z": z, "vx": 0.0, "vy": 0.0, "vz": 0.0,
                          "sources": ["JPN:T-1", "KOR:K-7"], "sensors": ["JPN-W", "USA-9"]},
        Marking.parse("SECRET//REL TO JPN, KOR"), "JPN", world.jpn.clock.now()))
    page = admin.get(f"/console/items/{fused.id}").text
    parties = page[page.index('id="contributors"'):]
    parties = parties[:parties.index("</table>")]
    assert re.findall(r'<tr data-party="([^"]+)"', parties) == ["JPN", "KOR"]
    assert f'href="/console/items/{own.id}">T-1' in parties and f'href="/console/items/{kor.id}">K-7' in parties
    assert "CONFIDENTIAL//REL TO JPN, KOR" in parties
    radars = page[page.index('id="contributing-radars"'):]
    assert re.findall(r'data-radar="([^"]+)"', radars[:radars.index("</table>")]) == ["JPN-W", "USA-9"]
    assert "named by the track" in radars


def test_the_picture_at_a_past_time_shows_each_track_where_it_was_then(admin, world, clock):
    first = track(world.jpn, "JPN", "T-5", 0.0, 39.0, 128.0, "SECRET//REL TO JPN, KOR")
    clock.advance(300)
    second = track(world.jpn, "JPN", "T-5", 300.0, 39.5, 129.0, "SECRET//REL TO JPN, KOR")
    clock.advance(300)
    pred = prediction(world.jpn, 600.0, 0.0, 900.0, track="T-5")
    third = track(world.jpn, "JPN", "T-5", 600.0, 40.0, 130.0, "SECRET//REL TO JPN, KOR")
    assert _head_xy(_svg(admin), third.id) == _where(third)
    then = _svg(admin, "?ago=300")
    assert _head_xy(then, second.id) == _where(second)
    assert third.id not in then and pred.id not in then  # not yet stored five minutes ago
    (ax, ay), (bx, by) = _where(first), _where(second)
    assert then.count("<polyline") == 1 and f'points="{ax},{ay} {bx},{by}"' in then  # the trail up to then
    earliest = _svg(admin, "?ago=600")
    assert _head_xy(earliest, first.id) == _where(first) and "<polyline" not in earliest
    assert 'class="track"' not in _svg(admin, "?ago=1800")
    page = admin.get("/console/picture?ago=300").text
    assert 'value="300"' in page and 'data-src="/console/picture.svg?ago=300"' in page
    assert f'href="/console/items/{second.id}"' in page.split('id="tracks"')[1]  # the table, as it was then
    assert '<script src="/console/static/replay.js" defer></script>' in page


def test_a_bad_time_is_a_400_page_with_a_reason(admin):
    for bad in ("abc", "-5", "1801", "1.5", "١٢", "9" * 5000):
        for path in ("/console/picture", "/console/picture.svg"):
            r = admin.get(path, params={"ago": bad})
            assert r.status_code == 400, (path, bad)
            assert "ago: whole seconds from 0 to 1800" in r.text and "Traceback" not in r.text


def test_a_trail_is_thinned_to_what_the_map_shows_keeping_its_ends():
    pts = [(100.0 + k * 0.1, 200.0) for k in range(1000)]  # a vertex every 0.1 px
    trail = picture.thin(pts)
    assert trail[0] == pts[0] and trail[-1] == pts[-1]
    gaps = [b[0] - a[0] for a, b in zip(trail[:-2], trail[1:-1])]
    assert min(gaps) >= picture.TRAIL_MIN_PX - 1e-9 and len(trail) <= 52
    long = [(float(k * 3), 0.0) for k in range(1000)]  # every vertex 3 px apart: capped
    capped = picture.thin(long)
    assert len(capped) == picture.TRAIL_POINTS and capped[0] == long[0] and capped[-1] == long[-1]
    assert picture.thin(pts[:2]) == pts[:2]


def test_the_picture_reads_and_draws_only_the_thirty_minute_window(admin, world, clock):
    from datetime import timedelta

    x, y, z = (float(v) for v in lla_to_ecef(39.0, 128.0, 80_000.0))
    old = world.jpn.put_item(new_item("warning.track", {"t": 1.0, "track_id": "T-OLD", "x": x, "y": y, "z": z},
                                      Marking.parse("SECRET//REL TO JPN, KOR"), "JPN",
                                      clock.now() - timedelta(minutes=31)))  # stored late: created 31 min ago
    trail = []
    for k in range(300):  # 300 updates 0.001° apart: one thinned polyline, far fewer vertices
        trail.append(track(world.jpn, "JPN", "T-NEW", 100.0 + k, 39.0 + k * 0.001, 129.0 + k * 0.001,
                           "SECRET//REL TO JPN, KOR"))
    page = admin.get("/console/picture").text
    svg = page[page.index("<svg id=\"picture\""):page.index("</svg>") + 6]
    assert old.id not in page  # older than the window: neither drawn nor listed
    assert f'href="/console/items/{trail[-1].id}" class="track"' in svg
    line = re.search(r'<polyline points="([^"]+)"', svg).group(1).split()
    assert 2 < len(line) < 20  # about 11 px of track: vertices 2 px apart, not one per update
    assert 'data-track="T-NEW"' in page and 'data-tracks="live"' in page
    # a past time within reach still draws it, and its table is marked as not live
    past = admin.get("/console/picture?ago=1800").text
    assert 'data-tracks="past"' in past


def test_a_track_event_names_its_track_for_the_live_tracks_table(world):
    from accord.console.events import item_event

    item = track(world.jpn, "KOR", "K-9", 5.0, 38.0, 131.0, "SECRET//REL TO JPN, KOR")
    data = item_event(item, 7).data
    assert data["track"] == {"track_id": "K-9", "phase": None} and data["originator"] == "KOR"


def test_the_packaged_land_outlines_are_those_of_the_packaged_geography():
    """land_path.txt (package data, so the first picture does not wait seconds for it) is what
    the geography gives for the picture's bounds: regenerate it with python -m accord.console.picture."""
    assert picture.land_path() == picture.compute_land_path()
    assert picture.land_path().startswith("M") and picture.land_path().count("Z") > 10


def test_a_tracks_page_reads_only_the_tracks_and_predictions_around_it(partner, world, clock, items_read):
    # every view of a track read and decoded every track and prediction the node ever stored,
    # under the node's lock: ~0.9 s a page at 20,000 items, for any token that may read items
    # (a partner's too), growing with the node's history
    from datetime import timedelta


    mk = Marking.parse("SECRET//REL TO JPN, KOR")
    hours_ago = clock.now() - timedelta(hours=5)
    x, y, z = (float(v) for v in lla_to_ecef(39.0, 128.0, 80_000.0))
    old = [new_item("warning.track", {"t": float(k), "track_id": f"T{k % 50}", "x": x, "y": y, "z": z}, mk, "JPN",
                    hours_ago + timedelta(seconds=k)) for k in range(2000)]
    for item in old:
        world.jpn.put_item(item)
    now_track = track(world.jpn, "JPN", "T-1", 30.0, 39.0, 128.0, "SECRET//REL TO JPN, KOR")
    prediction(world.jpn, 30.0, 0.0, 420.0)
    items_read.clear()  # the page's reads only
    page = partner.get(f"/console/items/{now_track.id}").text
    assert "33.000° N, 130.000° E" in page  # its latest prediction is still found
    assert sum(items_read) < 100, items_read


def test_a_tracks_page_reads_only_the_items_of_its_tracks(admin, world, items_read):
    """A track's page read and decoded every track and prediction within 30 minutes of it, of
    every track: ~0.4–0.6 s of CPU a page at 8 items a second (40 tracks updated every 10 s), for
    any console user with ``items:read``, once per track id it asked for. It reads the updates
    and predictions of its own tracks only (the store picks them by their bytes)."""
    mk = "SECRET//REL TO JPN, KOR"
    for k in range(150):  # other tracks around it, and their predictions
        track(world.jpn, "JPN", f"T-{10 + k}", float(k), 38.0, 130.0, mk)
        prediction(world.jpn, float(k), 0.0, 420.0, track=f"T-{10 + k}")
    kor = track(world.jpn, "KOR", "K-7", 10.0, 38.1, 130.1, mk)
    own = track(world.jpn, "JPN", "T-1", 10.0, 38.0, 130.0, mk)
    pred = prediction(world.jpn, 12.0, 0.0, 420.0, track="T-1")
    x, y, z = (float(v) for v in lla_to_ecef(38.0, 130.0, 80_000.0))
    fused = world.jpn.put_item(new_item(
        "warning.track", {"t": 12.0, "track_id": "F-1", "x": x, "y": y, "z": z, "vx": 0.0, "vy": 0.0, "vz": 0.0,
                          "sources": ["JPN:T-1", "KOR:K-7"]}, Marking.parse(mk), "JPN", world.jpn.clock.now()))
    items_read.clear()  # the page's reads only
    page = admin.get(f"/console/items/{own.id}").text
    assert sum(items_read) < 20, items_read
    assert "33.000° N, 130.000° E" in page  # T-1's prediction found
    items_read.clear()
    page = admin.get(f"/console/items/{fused.id}").text
    assert sum(items_read) < 20, items_read
    parties = page[page.index('id="contributors"'):]
    assert f'href="/console/items/{own.id}">T-1' in parties and f'href="/console/items/{kor.id}">K-7' in parties
    assert pred.id not in page  # F-1 has no prediction of its own


@pytest.mark.parametrize("own, predicted", [(7, "7"), ("7", 7), (7, "7.0"), ("T-1", "T-1")])
def test_a_tracks_prediction_is_found_whatever_json_type_its_track_id_has(admin, world, own, predicted):
    """Track ids are compared as text (``str``): picking a track's items by their bytes keeps that."""
    mk = Marking.parse("SECRET//REL TO JPN, KOR")
    x, y, z = (float(v) for v in lla_to_ecef(39.0, 128.0, 120_000.0))
    item = world.jpn.put_item(new_item("warning.track", {"t": 30.0, "track_id": own, "x": x, "y": y, "z": z,
                                                         "vx": 0.0, "vy": 0.0, "vz": 1.0}, mk, "JPN",
                                       world.jpn.clock.now()))
    body = {"t": 30.0, "track_id": predicted, "launch_t": 0.0, "impact_t": 420.0, "launch_lat_deg": 40.0,
            "launch_lon_deg": 127.0, "launch_sigma_m": 500.0, "impact_lat_deg": 34.5, "impact_lon_deg": 130.0,
            "impact_ellipse_95": {"semi_major_m": 900.0, "semi_minor_m": 400.0, "bearing_deg": 30.0}}
    world.jpn.put_item(new_item("warning.prediction", body, mk, "JPN", world.jpn.clock.now()))
    page = admin.get(f"/console/items/{item.id}").text
    assert ("34.500° N" in page) == (str(own) == str(predicted)), page[:200]
