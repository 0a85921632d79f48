"""The after-action report opens in a real browser (Debian's Chromium driven by Playwright)
without console errors, and its map and plots are rendered."""

import shutil
from pathlib import Path

import pytest


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_report_renders_in_chromium_without_console_errors(drill, tmp_path):
    report = drill.report_path
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser tests (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            assert page.title().startswith("After-action report")
            for fig in ("map", "timelines", "gospa", "latency"):
                box = page.locator(f"svg#{fig}").bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 100, fig
            # the map really drew land, radars and paths
            assert page.locator("svg#map path").count() > 20
            summary = page.locator("#summary").inner_text()
            assert "PASSED" in summary and "Injects caught: 5 of 5" in summary
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            page.locator("svg#map").screenshot(path=str(tmp_path / "map.png"))
        finally:
            browser.close()
    assert errors == []
    assert all(u.startswith("file://") for u in requests), requests
