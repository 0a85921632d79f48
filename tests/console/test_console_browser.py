"""The console in Debian's Chromium (Playwright): log in, see an alert arrive live, see a track
appear on the live picture, filter intelligence, update a commitment, log out — with no console
errors (a CSP violation is one), no request leaving the node, and no serious or critical axe-core
finding on any page. Screenshots of every page go to tmp/artefacts/console/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from console_world import ARTEFACTS, alert_item, logged_in_page, radar, track

from accord.dialogue.store import DialogueStore
from accord.federation.schema import write_lock

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page (axe-playwright-python bundles axe-core)."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}×)" for v in found if v["impact"] in ("serious", "critical")]


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser tests (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            yield b
        finally:
            b.close()


def test_watch_officer_session_in_chromium(served, world, browser):
    from playwright.sync_api import expect

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    foreign: list[str] = []
    a11y: dict[str, list[str]] = {}
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.set_default_timeout(10_000)
    page.on("console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith(served.url) else foreign.append(r.url))

    page.goto(f"{served.url}/console/alerts")
    expect(page).to_have_url(f"{served.url}/console/login")
    page.screenshot(path=str(ARTEFACTS / "login.png"))
    a11y["login"] = serious_violations(page)
    page.fill("#token", world.admin)
    page.keyboard.press("Enter")  # keyboard only
    expect(page).to_have_url(f"{served.url}/console/")
    page.screenshot(path=str(ARTEFACTS / "overview.png"), full_page=True)
    a11y["overview"] = serious_violations(page)

    page.click("nav >> text=Alerts")
    expect(page.locator("#live")).to_have_class("live on")
    top = page.locator("[data-banner]").first
    expect(top).to_have_text("SECRET//REL TO JPN, KOR")
    with write_lock(world.jpn):
        new = world.jpn.put_item(alert_item(world.jpn, 9, "Update", "TOP SECRET//REL TO JPN, KOR"))
    row = page.locator(f'section[data-incident="JPN:INC-1"] tr[data-id="{new.id}"]')  # joins its incident
    expect(row).to_contain_text("Update")
    expect(row).to_contain_text("Nagasaki")
    expect(top).to_have_text("TOP SECRET//REL TO JPN, KOR")
    expect(top).to_have_class("banner ts")
    page.screenshot(path=str(ARTEFACTS / "alerts.png"), full_page=True)
    a11y["alerts"] = serious_violations(page)

    page.click("nav >> text=Live picture")
    expect(page.locator("#picture")).to_be_visible()
    with write_lock(world.jpn):
        k9 = track(world.jpn, "KOR", "K-9", 40.0, 38.5, 131.5, "SECRET//REL TO JPN, KOR")
    expect(page.locator(f'#picture a[href="/console/items/{k9.id}"]')).to_have_count(1)  # redrawn live
    page.screenshot(path=str(ARTEFACTS / "picture.png"), full_page=True)
    a11y["picture"] = serious_violations(page)

    page.click("nav >> text=Intelligence")
    page.fill("input[name=type]", "malware")
    page.click("#filter")
    expect(page.locator("#objects")).to_contain_text("Stealer")
    expect(page.locator("#objects")).not_to_contain_text("Bad domain")
    page.screenshot(path=str(ARTEFACTS / "intel.png"), full_page=True)
    a11y["intel"] = serious_violations(page)
    page.click("#objects >> text=Stealer")
    expect(page.locator("#relationships")).to_contain_text("indicates")
    page.screenshot(path=str(ARTEFACTS / "object.png"), full_page=True)
    a11y["object"] = serious_violations(page)

    page.click("nav >> text=Federation")
    expect(page.locator("#partners")).to_contain_text("KOR")
    page.screenshot(path=str(ARTEFACTS / "federation.png"), full_page=True)
    a11y["federation"] = serious_violations(page)

    page.click("nav >> text=Dialogue")
    row = page.locator(f'#commitments tr[data-id="{world.commitment}"]')
    expect(page.locator("#live")).to_have_class("live on")
    DialogueStore(world.jpn).update_commitment(world.commitment, {"status": "in_progress"})  # e.g. by the CLI
    expect(row.locator('[data-f="status"]')).to_have_text("in_progress")  # updated in place
    expect(row.locator("[data-version]")).to_have_text("v3")
    row.locator("select").select_option("done")
    row.locator("input[name=evidence]").fill("Plan signed")
    row.locator("button").click()
    expect(page.locator("#updated")).to_contain_text(world.commitment)
    expect(page.locator(f'#commitments tr[data-id="{world.commitment}"] [data-f="status"]')).to_have_text("done")
    page.screenshot(path=str(ARTEFACTS / "dialogue.png"), full_page=True)
    a11y["dialogue"] = serious_violations(page)

    page.click("a[hreflang=ja]")
    expect(page.locator("h1")).to_have_text("対話")

    page.click("#logout")
    expect(page).to_have_url(f"{served.url}/console/login")
    page.goto(f"{served.url}/console/")
    expect(page).to_have_url(f"{served.url}/console/login")
    assert errors == []
    assert foreign == []
    assert {name: found for name, found in a11y.items() if found} == {}


def test_the_time_control_replays_the_picture_in_chromium(served, world, clock, browser):
    from playwright.sync_api import expect

    errors: list[str] = []
    with write_lock(world.jpn):
        radar(world.jpn, "JPN", "JPN-R1", 35.0, 135.0, "SECRET//REL TO JPN, KOR", az=270.0, half=60.0)
        early = track(world.jpn, "JPN", "T-8", 0.0, 39.0, 128.0, "SECRET//REL TO JPN, KOR")
        clock.advance(20 * 60)
        late = track(world.jpn, "JPN", "T-8", 1200.0, 40.0, 131.0, "SECRET//REL TO JPN, KOR")
    page = logged_in_page(browser, served.url, world.admin, errors, height=860)
    page.goto(f"{served.url}/console/picture")
    head = page.locator('#picture a.track')
    expect(head).to_have_attribute("href", f"/console/items/{late.id}")
    expect(page.locator('#picture g.radar[data-radar="JPN-R1"]')).to_have_count(1)
    page.focus("#ago")
    page.keyboard.press("End")  # by keyboard: 30 minutes ago, before either position was stored
    expect(page.locator("#picture-box")).to_have_attribute("data-ago", "1800")
    expect(head).to_have_count(0)
    expect(page.locator("#ago-out")).to_contain_text("30:00")
    page.locator("#ago").fill("900")  # 15 minutes ago: the first position only
    expect(head).to_have_attribute("href", f"/console/items/{early.id}")
    expect(page).to_have_url(f"{served.url}/console/picture?ago=900")
    page.screenshot(path=str(ARTEFACTS / "picture-replay.png"), full_page=True)
    assert serious_violations(page) == []
    play = page.locator("#replay-play")
    play.click()  # replays from 30 minutes ago towards now, a minute a frame
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#picture-box")).not_to_have_attribute("data-ago", "900")
    play.click()  # and stops
    expect(play).to_have_attribute("aria-pressed", "false")
    page.focus("#ago")
    page.keyboard.press("Home")  # back to now
    expect(page.locator("#picture-box")).to_have_attribute("data-ago", "0")
    expect(head).to_have_attribute("href", f"/console/items/{late.id}")
    page.focus("#picture a.track")
    page.keyboard.press("Enter")  # select the track: its page names the radar that covers it
    expect(page.locator("#contributing-radars")).to_contain_text("JPN-R1")
    expect(page.locator("#contributors")).to_contain_text("JPN")
    page.screenshot(path=str(ARTEFACTS / "track.png"), full_page=True)
    assert serious_violations(page) == []
    assert errors == []


MARKUP = "\"'><img src=x onerror=alert(1)><x-pwn></x-pwn>"


def test_markup_in_live_events_is_added_as_text(served, world, browser):
    """console.js builds rows from the event stream: markup a partner puts in an alert's
    incident, type and areas or a track's id arrives as text on the overview, the alerts board
    (its live feed and an incident's table) and the picture's tracks table — no element, no
    script run."""
    from playwright.sync_api import expect

    from accord.core.items import new_item
    from accord.core.markings import Marking

    errors: list[str] = []
    pages = {}
    for path in ("/console/", "/console/alerts", "/console/picture"):
        page = logged_in_page(browser, served.url, world.admin, errors)
        page.on("dialog", lambda d: (errors.append(f"dialog {d.message}"), d.dismiss()))
        page.goto(f"{served.url}{path}")
        expect(page.locator("#live")).to_have_class("live on")
        pages[path] = page
    jpn, mk = world.jpn, Marking.parse("SECRET//REL TO JPN, KOR")
    with write_lock(jpn):
        for originator, incident in (("KOR", MARKUP), ("JPN", "INC-1")):  # a new incident; one on the board
            jpn.put_item(new_item("warning.alert", {"msgType": MARKUP, "incident": incident, "t": 5.0,
                                                    "track_id": MARKUP, "reason": MARKUP, "areas": [MARKUP]},
                                  mk, originator, jpn.clock.now()))
    t = track(jpn, "KOR", MARKUP, 1.0, 38.0, 134.0, "SECRET//REL TO JPN, KOR")
    expect(pages["/console/"].locator(f'tr[data-id="{t.id}"]')).to_have_count(1)
    expect(pages["/console/alerts"].locator('section[data-incident="JPN:INC-1"] tr.fresh')).to_contain_text(
        "onerror=alert(1)")
    expect(pages["/console/alerts"].locator("#new-alerts")).to_contain_text("onerror=alert(1)")
    expect(pages["/console/picture"].locator("#tracks")).to_contain_text("onerror=alert(1)")
    for path, page in pages.items():
        assert page.locator("x-pwn").count() == 0 and page.locator("img[src=x]").count() == 0, path
        page.close()
    assert errors == []


def test_a_page_whose_stream_starts_too_far_back_renders_anew(served, world, browser, monkeypatch):
    """A stream replays at most ``REPLAY`` entries, after a ``reload`` event: console.js then
    loads the page again (its tables would otherwise lack what was skipped), and the new page's
    stream starts at the ledger's end."""
    from playwright.sync_api import expect

    from accord.console import events as ev

    monkeypatch.setattr(ev, "REPLAY", 3)
    errors: list[str] = []
    page = logged_in_page(browser, served.url, world.admin, errors)
    documents: list[str] = []
    page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)
    # the next stream asks for the whole ledger (as a reconnect with Last-Event-ID: 0 would)
    page.route("**/console/events*", lambda route: route.continue_(url=f"{served.url}/console/events?after=-1"),
               times=1)
    page.reload()
    for _ in range(100):  # up to 10 s for the second load
        if len(documents) >= 2:
            break
        page.wait_for_timeout(100)
    assert documents == [f"{served.url}/console/", f"{served.url}/console/"]
    expect(page.locator("#live")).to_have_class("live on")
    page.close()
    assert errors == []
