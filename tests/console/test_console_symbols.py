"""MIL-STD-2525D symbols on the live picture (milsymbol.js in Chromium) and the pre-rendered set
the after-action report uses, held to what milsymbol.js draws."""

from __future__ import annotations

import json

from console_world import ARTEFACTS, alert_item, logged_in_page, prediction, radar, track
from test_console_browser import browser, serious_violations  # noqa: F401  (the Chromium fixture)

from accord.warning import symbols
from accord.console.pages import HERE
from accord.federation.schema import write_lock

VENDOR = HERE / "static" / "vendor"


def test_the_report_s_pre_rendered_symbols_are_what_milsymbol_draws(browser):  # noqa: F811
    """symbols.json (tools/render_symbols.js) against the vendored milsymbol.js, run in Chromium."""
    stored = symbols.rendered()
    sidcs = [symbols.RADAR, symbols.TRACK, symbols.LAUNCH, symbols.LAUNCH_SITE, symbols.IMPACT,
             symbols.TRUE_IMPACT]
    assert sorted(stored) == sorted(sidcs)
    page = browser.new_page()
    page.set_content("<!doctype html><html><body></body></html>")
    page.add_script_tag(path=str(VENDOR / "milsymbol.js"))
    drawn = page.evaluate("""([sidcs, size]) => sidcs.map(sidc => {
        const s = new ms.Symbol(sidc, {size: size}), a = s.getAnchor(), z = s.getSize();
        return {sidc: sidc, valid: s.isValid(), svg: s.asSVG(), anchor: [a.x, a.y], size: [z.width, z.height]};
    })""", [sidcs, symbols.SYMBOL_SIZE])
    for d in drawn:
        assert d["valid"], d["sidc"]
        assert stored[d["sidc"]] == {"svg": d["svg"], "anchor": d["anchor"], "size": d["size"]}, d["sidc"]
    page.close()


def test_the_picture_draws_2525_symbols_for_radars_tracks_launch_and_impact_points(served, world, browser):  # noqa: F811
    from playwright.sync_api import expect

    errors: list[str] = []
    with write_lock(world.jpn):
        jpn_radars = [radar(world.jpn, "JPN", "JPN-R1", 36.5, 136.8, "SECRET//REL TO JPN, KOR", az=290.0, half=60.0,
                            max_range_m=900_000.0),
                      radar(world.jpn, "JPN", "JPN-R2", 33.6, 130.4, "SECRET//REL TO JPN, KOR", az=320.0, half=60.0,
                            max_range_m=800_000.0)]
        kor_radar = radar(world.jpn, "KOR", "KOR-R1", 37.2, 129.3, "SECRET//REL TO JPN, KOR", az=30.0, half=70.0,
                          max_range_m=700_000.0)
        own = [track(world.jpn, "JPN", "T-1", t, 39.6 - t / 120, 127.9 + t / 45, "SECRET//REL TO JPN, KOR")
               for t in range(0, 300, 20)]
        kor = [track(world.jpn, "KOR", "K-7", t, 39.5 - t / 115, 128.0 + t / 47, "SECRET//REL TO JPN, KOR")
               for t in range(10, 260, 25)]
        pred = prediction(world.jpn, 280.0, 0.0, 600.0)
        world.jpn.put_item(alert_item(world.jpn, 3, "Update", "SECRET//REL TO JPN, KOR"))
    page = logged_in_page(browser, served.url, world.admin, errors)
    page.goto(f"{served.url}/console/picture")
    drawn = 'g.symbol[data-drawn="milsymbol"]'

    def symbol_of(selector: str, sidc: str):
        return page.locator(f'{selector} g.symbol[data-sidc="{sidc}"][data-drawn="milsymbol"] > svg.milsymbol path')

    for r in (*jpn_radars, kor_radar):  # each radar: a friend ground sensor
        expect(symbol_of(f'#picture g.radar[data-radar="{r.body["id"]}"]', symbols.RADAR).first).to_be_attached()
    for head in (own[-1], kor[-1]):  # each track head, own and partner: a suspect ballistic missile
        expect(symbol_of(f'#picture a.track[href="/console/items/{head.id}"]', symbols.TRACK).first).to_be_attached()
    at = f'#picture a.prediction[href="/console/items/{pred.id}"]'
    expect(symbol_of(at, symbols.LAUNCH).first).to_be_attached()
    expect(symbol_of(at, symbols.IMPACT).first).to_be_attached()
    expect(page.locator(f"ul.legend {drawn}")).to_have_count(len(symbols.LEGEND))
    # drawn symbols hide their fallback shapes
    assert page.locator(f"#picture {drawn} > g.fallback").first.is_hidden()
    # a track stored now is drawn live, with its symbol, and joins the tracks table
    with write_lock(world.jpn):
        k9 = track(world.jpn, "KOR", "K-9", 40.0, 38.2, 133.0, "SECRET//REL TO JPN, KOR")
    expect(symbol_of(f'#picture a.track[href="/console/items/{k9.id}"]', symbols.TRACK).first).to_be_attached()
    row = page.locator('#tracks tr[data-party="KOR"][data-track="K-9"]')
    expect(row.locator("a")).to_have_attribute("href", f"/console/items/{k9.id}")
    with write_lock(world.jpn):
        k9b = track(world.jpn, "KOR", "K-9", 50.0, 38.1, 133.3, "SECRET//REL TO JPN, KOR")
    expect(row.locator("a")).to_have_attribute("href", f"/console/items/{k9b.id}")  # the same row, moved on
    expect(page.locator('#tracks tr[data-track="K-9"]')).to_have_count(1)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#picture-box").screenshot(path=str(ARTEFACTS / "symbols.png"))  # docs/console-symbols.png
    page.screenshot(path=str(ARTEFACTS / "picture-symbols.png"))  # docs/console-picture.png
    assert serious_violations(page) == []
    assert errors == []
    sidcs = json.loads(page.evaluate("() => JSON.stringify([...document.querySelectorAll('#picture g.symbol')]"
                                     ".map(g => g.dataset.sidc))"))
    assert set(sidcs) == {symbols.RADAR, symbols.TRACK, symbols.LAUNCH, symbols.IMPACT}
