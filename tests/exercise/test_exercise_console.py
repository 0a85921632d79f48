"""``accord exercise run --console``: each party's console served live while the scenario plays at
``--speed`` times real time, reached through a one-time login link (single use, expiring,
CSRF-protected); the nodes' clock is the simulated one; the report is written at the end."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

import accord.exercise.runner as runner_module
from accord.console.sessions import SESSION_COOKIE, LoginCodes
from accord.errors import InputError
from accord.exercise.runner import run_exercise
from accord.exercise.scenario import load_scenario

DRILL = Path(__file__).parent / "data" / "small-drill.yaml"


class FakeWallclock:
    """Stands in for the runner's ``time``: the clock moves only when the runner sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def perf_counter(self) -> float:
        return self.now

    def process_time(self) -> float:
        return 0.0

    def sleep(self, s: float) -> None:
        self.now += s
        self.slept += s


def log_in(client: httpx.Client, link: str) -> httpx.Response:
    """Follow a one-time link as a browser would: GET shows the button, POST spends the code."""
    form = client.get(link)
    assert form.status_code == 200
    fields = dict(re.findall(r'name="(csrf|code)" value="([^"]*)"', form.text))
    return client.post(link.split("?")[0], data=fields)


def test_console_run_serves_each_party_with_a_one_time_link_at_simulated_time(tmp_path, monkeypatch):
    clock = FakeWallclock()
    monkeypatch.setattr(runner_module, "wallclock", clock)
    seen: dict[str, str] = {}

    def announce(links):
        # called once every console is up, at t = 0 s, before the first tick
        for link in links:
            with httpx.Client(timeout=10) as forger:  # no login form first: no CSRF cookie nor field
                forged = forger.post(link.login_link.split("?")[0], data={"code": link.login_link.split("code=")[1]})
                assert forged.status_code == 403 and SESSION_COOKIE not in forger.cookies
            with httpx.Client(timeout=10) as client:  # the refused attempt did not spend the code
                done = log_in(client, link.login_link)
                assert done.status_code == 303 and done.headers["location"] == "/console/"
                assert SESSION_COOKIE in client.cookies
                page = client.get(link.url)
                assert page.status_code == 200 and link.party in page.text
                # the console's clock is the exercise's simulated clock (t = 0 at the epoch)
                seen[link.party] = re.search(r'data-now="([^"]+)"', page.text).group(1)
            with httpx.Client(timeout=10) as again:
                reused = log_in(again, link.login_link)  # the code is spent
                assert reused.status_code == 403 and SESSION_COOKIE not in again.cookies
                assert "already used" in reused.text

    scenario = load_scenario(DRILL)
    result = run_exercise(scenario, tmp_path, console=True, speed=400.0, announce=announce, progress=False)
    assert set(seen) == {p.code for p in scenario.parties}
    assert set(seen.values()) == {scenario.epoch.isoformat()}
    # paced at 400 × real time: the runner waited (on its clock) duration / speed in all
    assert clock.slept == pytest.approx(scenario.duration_s / 400.0, rel=0.02)
    assert result.passed and result.report_path.exists() and result.metrics["transport"] == "http"


def test_login_codes_are_single_use_and_expire():
    now = [0.0]
    codes = LoginCodes(ttl=60.0, clock=lambda: now[0])
    a, b = codes.issue("digest-a"), codes.issue("digest-b")
    assert codes.redeem("not-a-code") is None and codes.redeem("") is None and codes.redeem(None) is None
    assert codes.redeem(a) == "digest-a"
    assert codes.redeem(a) is None  # single use
    now[0] = 61.0
    assert codes.redeem(b) is None  # expired


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"speed": 0.0}, "speed must be a positive number of times real time, got 0.0"),
    ({"speed": float("nan")}, "speed must be a positive number"),
    ({"port": 8601}, "a port is only used with the console"),
    ({"console": True, "port": 65535}, "port 65535 out of range"),
])
def test_bad_console_options_are_refused_in_one_line(tmp_path, kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        run_exercise(load_scenario(DRILL), tmp_path, progress=False, **kwargs)


def test_cli_prints_each_partys_console_and_login_link_then_the_report(tmp_path):
    from typer.testing import CliRunner

    from accord.cli.main import app

    r = CliRunner().invoke(app, ["exercise", "run", str(DRILL), "--out", str(tmp_path), "--no-progress",
                                 "--console", "--speed", "100000"])
    assert r.exit_code == 0, r.output
    for party in ("JPN", "KOR", "USA"):
        assert re.search(rf"^{party} console: http://127\.0\.0\.1:\d+/console/$", r.output, re.M), r.output
    links = re.findall(r"one-time login \(10 min\): (http://127\.0\.0\.1:\d+/console/login/once\?code=\S+)$",
                       r.output, re.M)
    assert len(links) == 3 and len(set(links)) == 3
    assert f"report: {tmp_path / 'report.html'}" in r.output


def test_in_chromium_a_watch_officer_follows_the_link_and_watches_a_track_appear_and_move(tmp_path):
    """The whole item end to end in Debian's Chromium: the exercise plays (×20) in a thread while
    the browser logs in through JPN's link, opens the empty live picture, and sees a track drawn
    live and then moved; the report is written at the end."""
    import queue
    import shutil
    import threading

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail("Debian's chromium is required for the browser tests (scripts/test.sh installs it)")
    from playwright.sync_api import expect, sync_playwright

    links: queue.Queue = queue.Queue()
    watching = threading.Event()
    outcome: dict = {}

    def announce(found):
        links.put(found)
        watching.wait(60)  # t = 0 s until the picture is open: every track arrives live

    def play():
        try:
            outcome["result"] = run_exercise(load_scenario(DRILL), tmp_path, console=True, speed=20.0,
                                             announce=announce, progress=False)
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc
            links.put(None)

    player = threading.Thread(target=play, daemon=True)
    player.start()
    found = links.get(timeout=120)
    assert found, outcome.get("error")
    jpn = next(link for link in found if link.party == "JPN")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(jpn.login_link)
            page.get_by_role("button").click()
            expect(page).to_have_url(jpn.url)
            page.goto(jpn.url + "picture")
            expect(page.locator("#live")).to_have_class("live on")
            tracks = page.locator('#picture a.track g.symbol[data-drawn="milsymbol"]')  # 2525D symbols
            expect(tracks).to_have_count(0)
            watching.set()
            expect(tracks.first).to_be_visible(timeout=60_000)
            x = tracks.first.get_attribute("transform")  # translate(x y): where the head is
            expect(tracks.first).not_to_have_attribute("transform", x or "", timeout=60_000)
            page.screenshot(path=str(tmp_path / "picture.png"))
        finally:
            watching.set()
            browser.close()
    player.join(timeout=300)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].passed and outcome["result"].report_path.exists()
