"""Status report: counts per party and status, overdue / due soon, safe Markdown and HTML."""

import re
from datetime import UTC, date, datetime

from accord.dialogue.model import Commitment, Level, Meeting, MeetingStatus, Series, Status
from accord.dialogue.report import REPORT_CSP, build_report, render_html, render_markdown

S = Series("S", "Ministers <b>&</b> co", ("JPN", "KOR"), Level.MINISTERS, 6, date(2025, 8, 31), ("JPN", "KOR"),
           (("JPN", "Tokyo"), ("KOR", "Seoul"))).validate()
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _c(i, owner, status, due):
    return Commitment(f"S-M1-C{i}", "S", "S-M1", owner, f"item {i} | with a pipe <script>x</script>", due, status)


COMMITMENTS = [(_c(1, "JPN", Status.AGREED, date(2026, 2, 28)), 2), (_c(2, "JPN", Status.DONE, date(2026, 1, 1)), 3),
               (_c(3, "KOR", Status.IN_PROGRESS, date(2026, 3, 20)), 3), (_c(4, "KOR", Status.PROPOSED, date(2026, 9, 1)), 1),
               (_c(5, "KOR", Status.LAPSED, date(2025, 12, 1)), 2)]
MEETINGS = [Meeting("S-M1", "S", 1, MeetingStatus.HELD, date(2025, 8, 31), "JPN", "Tokyo")]


def test_counts_overdue_and_next_meetings():
    r = build_report([S], MEETINGS, COMMITMENTS, NOW, soon_days=30)
    (sec,) = r.sections
    assert sec.counts["JPN"] == {"proposed": 0, "agreed": 1, "in_progress": 0, "done": 1, "lapsed": 0, "overdue": 1}
    assert sec.counts["KOR"] == {"proposed": 1, "agreed": 0, "in_progress": 1, "done": 0, "lapsed": 1, "overdue": 0}
    assert [x.id for x in r.overdue] == ["S-M1-C1"] and [x.id for x in r.due_soon] == ["S-M1-C3"]
    # next slots by cadence after today (2026-03-01): 31 Aug 2026 (no. 3, JPN), 28 Feb 2027 (no. 4, KOR)
    assert sec.next_meetings == ((3, date(2026, 8, 31), "JPN", "Tokyo"), (4, date(2027, 2, 28), "KOR", "Seoul"))
    assert r.to_json()["overdue"] == ["S-M1-C1"]


def test_party_report_keeps_only_that_partys_commitments():
    r = build_report([S], MEETINGS, COMMITMENTS, NOW, party="KOR")
    assert {x.owner for x in r.rows} == {"KOR"} and list(r.sections[0].counts) == ["KOR"]
    assert r.title == "Commitments of KOR"


def test_markdown_escapes_pipes_and_html_escapes_markup():
    r = build_report([S], MEETINGS, COMMITMENTS, NOW)
    md = render_markdown(r)
    assert "item 1 \\| with a pipe" in md and "**OVERDUE** 1 d" in md
    for line in md.splitlines():
        if line.startswith("| `S-M1-C"):
            assert len(re.split(r"(?<!\\)\|", line)) == 7  # five cells: the pipe in the text is escaped
    html = render_html(r)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Ministers &lt;b&gt;&amp;&lt;/b&gt; co" in html


MD_HOSTILE = "x | y\n\n## Overdue\n\n- none\n\n<!-- ![beacon](https://evil.example/p.png) [ok](javascript:alert(1)) <b>b</b> *em* `c` \\"
"""Partner-signed text that tries, once rendered, to add a heading and a fake empty 'Overdue' list,
hide the rest of the report in an HTML comment, load an image, add links, markup and emphasis."""


def test_markdown_renders_every_partner_text_as_plain_text():
    """Series title, venue and commitment text each stay one piece of text in their place once
    rendered (CommonMark with tables): no added heading, link, image, HTML or emphasis, every
    table row keeps its cells, and the real sections follow."""
    from markdown_it import MarkdownIt

    # not validated: a series title or venue is one line now, but a report still renders records
    # stored before that rule, and commitment text may hold line breaks
    s = Series("S", MD_HOSTILE, ("JPN", "KOR"), Level.MINISTERS, 6, date(2025, 8, 31), ("JPN", "KOR"),
               (("JPN", MD_HOSTILE),))
    meetings = [Meeting("S-M1", "S", 1, MeetingStatus.HELD, date(2025, 8, 31), "JPN", MD_HOSTILE)]
    late = Commitment("S-M1-C1", "S", "S-M1", "JPN", MD_HOSTILE, date(2026, 2, 1), Status.AGREED)
    soon = Commitment("S-M1-C2", "S", "S-M1", "KOR", MD_HOSTILE, date(2026, 3, 10), Status.AGREED)
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(render_markdown(build_report([s], meetings, [(late, 1), (soon, 1)], NOW)))
    inline = [t for t in tokens if t.type == "inline"]

    def shown(t):  # the text a reader sees
        return "".join(c.content for c in t.children or [] if c.type in ("text", "code_inline"))

    headings = [shown(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"]
    flat = " ".join(line for line in MD_HOSTILE.split("\n") if line)  # line breaks shown as one space
    assert headings == [f"Status of {flat}", f"{flat} (S)", "Overdue", "Due soon"]
    kinds = {c.type for t in inline for c in t.children or []}
    assert kinds <= {"text", "code_inline", "strong_open", "strong_close", "softbreak"}, kinds
    assert not any(t.type in ("html_block", "html_inline") for t in tokens)
    rows = [tokens[i + 1:tokens.index(next(x for x in tokens[i:] if x.type == "tr_close"), i)]
            for i, t in enumerate(tokens) if t.type == "tr_open"]
    assert {sum(1 for x in row if x.type in ("td_open", "th_open")) for row in rows} == {5, 7}
    assert sum(shown(t).count(flat) for t in inline) == 2 + 2 + 2 + 2  # headings, venues, rows, the two lists


def test_in_chromium_the_html_report_runs_no_partner_script_and_keeps_its_style(tmp_path):
    """Partner text aimed at every HTML context the report has (element text, the title, a table
    cell, an attribute, ``</style>``) stays text in a real browser (Debian's Chromium through
    Playwright): no script runs, no element is added, and the page's own policy
    (``default-src 'none'``, inline style only) blocks nothing the report itself uses."""
    import shutil
    from pathlib import Path

    import pytest
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail("Debian's chromium is required for the browser tests (scripts/test.sh installs it)")
    attack = ("</title></style><script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">"
              "\"><svg onload=window.pwned=3>' onmouseover='window.pwned=4")
    s = Series("S", attack, ("JPN", "KOR"), Level.MINISTERS, 6, date(2025, 8, 31), ("JPN", "KOR"),
               (("JPN", attack),)).validate()
    meetings = [Meeting("S-M1", "S", 1, MeetingStatus.HELD, date(2025, 8, 31), "JPN", attack)]
    rows = [(Commitment("S-M1-C1", "S", "S-M1", "JPN", attack, date(2026, 2, 1), Status.AGREED), 1)]
    path = tmp_path / "report.html"
    path.write_text(render_html(build_report([s], meetings, rows, NOW)), encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            refused = []
            page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(path.as_uri())
            pwned = page.evaluate("window.pwned")
            injected = page.locator("script, img, svg, [onmouseover]").count()
            title, cell = page.title(), page.locator("td").nth(3).text_content()
            header = page.locator("th").first.evaluate("e => getComputedStyle(e).backgroundColor")
            policy = page.evaluate("document.querySelector('meta[http-equiv=Content-Security-Policy]')?.content")
        finally:
            browser.close()
    assert pwned is None and injected == 0
    assert title == f"Status of {attack}" and cell == attack
    assert policy == REPORT_CSP and "default-src 'none'" in policy and "script-src" not in policy
    assert header == "rgb(246, 248, 250)" and refused == []  # the inline style applies; nothing was blocked
