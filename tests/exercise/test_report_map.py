"""The after-action report's map as a briefing needs it: a legend, launch labels that do not pile up,
impact ellipses visible in an inset at their own scale, and UTC clock times beside seconds since start.

Built from a synthetic scenario (five launches a few km apart, small ellipses near one impact area,
an epoch two minutes before midnight) so it runs in about a second; the SVG is parsed, not eyeballed.
"""

from __future__ import annotations

from html import escape
import re
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

import pytest

from accord.exercise.report import MapLayer, draw_map, impact_clusters, utc_clock, write_report

SVG_NS = "{http://www.w3.org/2000/svg}"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def close_launches() -> list[dict]:
    """Five launches ~5 km apart (a salvo from one site): fixed label offsets would stack them."""
    return [{"id": f"G{i:02d}", "launch_t": 60.0 * i, "impact_t": 60.0 * i + 400.0,
             "launch_lat_deg": 39.0 + 0.04 * (i % 2), "launch_lon_deg": 125.5 + 0.05 * i,
             "impact_lat_deg": 40.0 + 0.02 * i, "impact_lon_deg": 134.0 + 0.03 * i,
             "first_detection_t": 60.0 * i + 30.0, "first_track_t": None, "first_partner_receipt_t": None,
             "first_alert_t": None, "impact_error_km_final": 1.5} for i in range(1, 6)]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, MapLayer]:
    launches = close_launches()
    ellipses = [{"lat": la["impact_lat_deg"], "lon": la["impact_lon_deg"], "semi_major_m": 4000.0,
                 "semi_minor_m": 1500.0, "bearing_deg": 80.0} for la in launches]
    layer = MapLayer(radars=[{"id": "JPN-R1", "owner": "JPN", "lat_deg": 35.0, "lon_deg": 135.0}],
                     launches=launches, ellipses=ellipses,
                     track_paths={"JPN:T1": [(126.0, 39.0), (130.0, 40.0)], "KOR:T2": [(126.0, 38.5), (131.0, 39.5)]},
                     truth_paths={"G01": [(125.5, 39.0), (134.0, 40.0)]},
                     alert_areas=[("JP-01", [(133.0, 41.0), (134.0, 41.0), (134.0, 42.0)])])
    metrics = {"scenario": {"name": "close salvo", "epoch": "2026-11-25T23:58:00+00:00"}, "launches": launches,
               "injects": [{"t": 100.0, "type": "replay", "caught": True}]}
    path = write_report(tmp_path_factory.mktemp("report"), metrics, layer, (122.0, 138.0, 33.0, 44.0),
                        {"JPN": {"own": [(0.0, 900.0), (300.0, 800.0)]}}, [12.0, 30.0], ["synthetic"])
    return path, layer


def svg(html: str, element_id: str) -> ET.Element:
    """One inline figure of the report, parsed with its comments (matplotlib writes each text as one)."""
    start = html.index(f'<svg id="{element_id}"')
    end = html.index("</svg>", start) + len("</svg>")
    return ET.fromstring(html[start:end], parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))


def by_id(root: ET.Element, element_id: str) -> ET.Element:
    found = root.find(f".//*[@id='{element_id}']")
    assert found is not None, f"no element {element_id!r} in the SVG"
    return found


def texts(el: ET.Element) -> list[str]:
    return [str(c.text).strip() for c in el.iter() if c.tag is ET.Comment]


def extent(el: ET.Element) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the first drawn path under ``el``, in the SVG's own coordinates."""
    path = next(p for p in el.iter(f"{SVG_NS}path") if p.get("d"))
    nums = [float(n) for n in NUMBER.findall(path.get("d", ""))]
    xs, ys = nums[0::2], nums[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_map_has_a_legend_for_track_colours_and_alerted_areas(report):
    path, _ = report
    legend = by_id(svg(path.read_text(), "map"), "map-legend")
    entries = texts(legend)
    for entry in ("track from JPN", "track from KOR", "true path", "JPN radar", "launch point", "true impact",
                  "95 % impact ellipse", "alerted area"):
        assert entry in entries, entries


def test_close_launches_get_labels_that_do_not_overlap(report):
    path, layer = report
    root = svg(path.read_text(), "map")
    boxes = {la["id"]: extent(by_id(root, f"launch-label-{la['id']}")) for la in layer.launches}
    assert all(texts(by_id(root, f"launch-label-{k}")) == [k] for k in boxes)
    # the launches really are closer than a label is wide: one fixed offset for all would stack them
    points = [next(by_id(root, f"launch-{k}").iter(f"{SVG_NS}use")) for k in boxes]
    xs = sorted(float(p.get("x", "nan")) for p in points)
    assert min(b - a for a, b in zip(xs, xs[1:])) < min(x1 - x0 for x0, _, x1, _ in boxes.values())
    for (a, box_a), (b, box_b) in combinations(boxes.items(), 2):
        assert not overlaps(box_a, box_b), f"labels {a} and {b} overlap: {box_a} {box_b}"


def test_impact_ellipses_are_visible_in_an_inset_at_their_scale(report):
    path, layer = report
    root = svg(path.read_text(), "map")
    inset = by_id(root, "impact-inset-1")
    frame = extent(inset)  # the inset's background
    for i in range(len(layer.ellipses)):
        on_map = extent(by_id(root, f"map-ellipse-{i}"))
        in_inset = extent(by_id(inset, f"inset-1-ellipse-{i}"))
        # a dot on the theatre map, a readable shape in the inset, and wholly inside it
        assert on_map[2] - on_map[0] < 5
        assert in_inset[2] - in_inset[0] > 20
        assert frame[0] <= in_inset[0] and in_inset[2] <= frame[2] and frame[1] <= in_inset[1] and in_inset[3] <= frame[3]


def test_an_inset_zooms_to_an_ellipse_of_a_few_hundred_metres():
    """The final ellipses of a well-tracked launch are hundreds of metres across (the trilateral
    drill's are): the inset follows their scale instead of a fixed few-km window."""
    small = {"lat": 40.65, "lon": 133.95, "semi_major_m": 300.0, "semi_minor_m": 60.0, "bearing_deg": 150.0}
    text = draw_map(MapLayer(ellipses=[small]), (122.0, 146.0, 33.0, 45.0))
    root = ET.fromstring(text, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    frame = extent(by_id(root, "impact-inset-1"))
    ellipse = extent(by_id(root, "inset-1-ellipse-0"))
    assert ellipse[3] - ellipse[1] > 0.5 * (frame[3] - frame[1])  # fills most of its inset
    assert "0.9 km across" in " ".join(texts(by_id(root, "impact-inset-1")))


def test_impact_areas_far_apart_get_separate_insets():
    near = {"semi_major_m": 3000.0, "semi_minor_m": 1000.0, "bearing_deg": 0.0}
    groups = impact_clusters([{"lat": 40.0, "lon": 134.0, **near}, {"lat": 40.1, "lon": 134.1, **near},
                              {"lat": 30.0, "lon": 140.0, **near}])
    assert [len(g) for g in groups] == [2, 1]


def test_times_carry_the_utc_clock_beside_seconds_since_start(report):
    path, _ = report
    html = path.read_text()
    assert "t = 0 s at 2026-11-25 23:58:00 UTC" in html
    assert "<td>60.0 s (23:59:00 UTC)</td>" in html  # G01's launch, same day
    assert "<td>120.0 s (2026-11-26 00:00:00 UTC)</td>" in html  # G02's, past midnight: dated
    assert "<td>100.0 s (23:59:40 UTC)</td>" in html  # the inject
    for figure in ("timelines", "gospa"):
        labels = texts(svg(html, figure))
        assert "UTC" in labels and "23:59:40" in labels, (figure, labels)


def test_utc_clock_dates_only_times_on_another_day():
    from datetime import datetime

    epoch = datetime.fromisoformat("2026-11-25T23:58:00+09:00")  # 14:58 UTC
    assert utc_clock(epoch, 61.5) == "14:59:01"
    assert utc_clock(epoch, 9 * 3600 + 120) == "2026-11-26 00:00:00"
    assert utc_clock(epoch, 9 * 3600 + 120, dated=False) == "00:00:00"


def test_in_chromium_the_labels_stay_apart_and_the_inset_ellipses_are_drawn_large(report, tmp_path):
    """The same checks on what a real browser lays out (Debian's Chromium through Playwright), under the
    report's own Content-Security-Policy."""
    import shutil

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail("Debian's chromium is required for the browser tests (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    path, layer = report
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            refused: list[str] = []
            page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(path.as_uri())
            assert page.locator("#map-legend").is_visible()
            policy = page.evaluate("document.querySelector('meta[http-equiv=Content-Security-Policy]')?.content")
            boxes = [page.locator(f"#launch-label-{la['id']}").bounding_box() for la in layer.launches]
            inset = page.locator("#impact-inset-1").bounding_box()
            ellipses = [page.locator(f"#inset-1-ellipse-{i}").bounding_box() for i in range(len(layer.ellipses))]
            page.locator("svg#map").screenshot(path=str(tmp_path / "map.png"))
        finally:
            browser.close()
    # the file runs no script and loads nothing, whatever a scenario's names hold, and its own
    # inline style and figures need nothing the policy refuses
    assert policy is not None and "default-src 'none'" in policy and "script-src" not in policy
    assert refused == []
    rects = [(b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]) for b in boxes if b]
    assert len(rects) == len(layer.launches)
    assert not any(overlaps(a, b) for a, b in combinations(rects, 2)), rects
    assert inset and all(e and e["width"] > 15 and inset["x"] <= e["x"] and
                         e["x"] + e["width"] <= inset["x"] + inset["width"] for e in ellipses), (inset, ellipses)


def test_the_map_draws_2525_symbols_for_radars_launches_impacts_and_tracks_with_a_legend(report):
    from accord.warning import symbols

    path, layer = report
    html = path.read_text()
    root = svg(html, "map")
    placed = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "sym"]
    counts: dict[str, int] = {}
    for g in placed:
        counts[g.get("data-sidc")] = counts.get(g.get("data-sidc"), 0) + 1
        assert g.find(f"{SVG_NS}path") is not None or g.find(f"{SVG_NS}circle") is not None  # a drawing
    assert counts == {symbols.RADAR: len(layer.radars), symbols.LAUNCH_SITE: len(layer.launches),
                      symbols.TRUE_IMPACT: len(layer.launches), symbols.TRACK: len(layer.track_paths)}
    # a symbol's anchor sits on its point: the launch symbol's translate is the launch marker's
    # position less the symbol's anchor
    from accord.exercise.map_symbols import MAP_SYMBOL_SCALE

    anchor = [a * MAP_SYMBOL_SCALE for a in symbols.rendered()[symbols.LAUNCH_SITE]["anchor"]]
    marker = next(by_id(root, "launch-G01").iter(f"{SVG_NS}use"))
    firsts = [g for g in placed if g.get("data-sidc") == symbols.LAUNCH_SITE]
    x, y = (float(v) for v in NUMBER.findall(firsts[0].get("transform"))[:2])
    assert abs(x + anchor[0] - float(marker.get("x"))) < 0.02 and abs(y + anchor[1] - float(marker.get("y"))) < 0.02
    legend = html[html.index('<ul class="symbols" id="map-symbols">'):]
    legend = legend[:legend.index("</ul>")]
    for sidc in (symbols.RADAR, symbols.LAUNCH_SITE, symbols.TRACK, symbols.TRUE_IMPACT):
        assert f'data-sidc="{sidc}"' in legend
    assert "MIL-STD-2525D" in legend and "radar (friend, ground sensor)" in legend


def test_scenario_names_are_drawn_as_written_never_as_mathtext_or_markup(tmp_path):
    """Radar and launch ids come from the scenario file: one like ``$\\foo$`` (matplotlib would read
    it as mathtext and fail the whole report) or ``$x^2$`` is drawn as those characters, and markup
    in a name is text in the map, the timelines and the tables alike."""
    names = ["$\\foo$", "$x^2$", "<script>alert(1)</script>--!>"]
    launches = [{**la, "id": name} for la, name in zip(close_launches(), names)]
    layer = MapLayer(radars=[{"id": name, "owner": "JPN", "lat_deg": 35.0 + i, "lon_deg": 135.0}
                             for i, name in enumerate(names)], launches=launches)
    metrics = {"scenario": {"name": names[2], "description": names[0]}, "launches": launches, "injects": []}
    html = write_report(tmp_path, metrics, layer, (122.0, 138.0, 33.0, 44.0),
                        {"JPN": {"own": [(0.0, 900.0)]}}, [], ["s"]).read_text()
    assert "<script" not in html
    for figure in ("map", "timelines"):
        drawn = texts(svg(html, figure))  # each text as matplotlib's comment holds it: escaped, '--' broken
        for name in names:
            assert escape(name, quote=False).replace("--", "- -") in drawn, (figure, name)
