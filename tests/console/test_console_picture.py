"""The live picture: an SVG drawn on the server from the packaged geography."""

from __future__ import annotations

import re

from console_world import prediction, track

from accord.console import picture
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.warning.frames import lla_to_ecef


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
