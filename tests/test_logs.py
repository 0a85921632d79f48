"""accord.logs: JSON and text lines, secrets redacted, bad options refused, floods throttled."""

from __future__ import annotations

import io
import json
import logging

import pytest

from accord.errors import InputError
from accord.logs import Throttle, configure, redact

SECRETS = [
    "acc_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA",                  # an API token
    "WI+jQixwpkdHC8M0RhGOJp6n+rLrZLhF67tG/vgFPZI=",                # a key in base64
    "jHp4p1Rk0Ev0+Zz9sEVb0HVlnU9m0gHf7WL0TByJZz1Ucv7m7QHiP3tm5ykbHnyZQ3kDQ8OcT2PCt1w2x8yYBw==",  # a signature
]


@pytest.fixture
def captured():
    """configure() onto a buffer; afterwards the accord and uvicorn loggers as they were."""
    import sys
    import threading

    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in ("accord", "uvicorn", "psycopg", None)}
    hooks = threading.excepthook, sys.excepthook
    buf = io.StringIO()
    yield buf
    for n, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(n)
        lg.handlers, lg.level, lg.propagate = handlers, level, propagate
    threading.excepthook, sys.excepthook = hooks


def test_json_lines_carry_the_event_fields_and_no_secret(captured):
    configure("info", "json", captured)
    log = logging.getLogger("accord.federation")
    log.warning("partner %s unreachable: %s", "KOR", f"refused Bearer {SECRETS[0]} sig=:{SECRETS[2]}:",
                extra={"event": "partner.unreachable", "partner": "KOR", "error": f"key {SECRETS[1]}",
                       "backlog": 3})
    log.debug("not shown at info")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["event"] == "partner.unreachable" and line["partner"] == "KOR" and line["backlog"] == 3
    assert line["level"] == "warning" and line["logger"] == "accord.federation" and line["time"].endswith("Z")
    assert line["message"].startswith("partner KOR unreachable: refused [redacted]")
    assert line["error"] == "key [redacted]"
    assert not any(s in captured.getvalue() for s in SECRETS)


def test_text_lines_and_tracebacks_are_redacted_too(captured):
    configure("debug", "text", captured)
    try:
        raise ValueError(f"token {SECRETS[0]} leaked into an exception")
    except ValueError:
        logging.getLogger("accord.api").exception("unexpected error")
    out = captured.getvalue()
    assert "ERROR" in out and "accord.api: unexpected error" in out and "ValueError: token [redacted]" in out
    assert SECRETS[0] not in out


def test_a_password_in_a_url_is_redacted_and_the_rest_of_the_url_kept():
    """node.yaml edited by hand may carry one (`node init` refuses it); a driver's or library's
    error quoting the URL must not put it in the log."""
    assert redact("cannot connect to postgresql://accord:hunter2-x@db-1,db-2:5432/accord_jpn?sslmode=require") == (
        "cannot connect to postgresql://accord:[redacted]@db-1,db-2:5432/accord_jpn?sslmode=require")
    assert redact("nats://ops:p%40ss@10.10.1.31:4222 and https://user:pw@proxy") == (
        "nats://ops:[redacted]@10.10.1.31:4222 and https://user:[redacted]@proxy")
    assert redact("postgresql://accord@db/accord_jpn, host:port 10.0.0.1:5432") == (
        "postgresql://accord@db/accord_jpn, host:port 10.0.0.1:5432")


def test_other_libraries_and_crashed_threads_are_json_lines_too(captured):
    """A log collector parses every line: a library's own warning (nats, asyncio, httpx: Python's
    last-resort handler printed it bare to stderr) and a thread that dies of an uncaught error
    (threading printed its traceback bare) come through the same handler, redacted."""
    import threading

    configure("info", "json", captured)
    logging.getLogger("nats.aio.client").error("nats: reconnect failed with Bearer %s", SECRETS[0])
    logging.getLogger("httpx").info("HTTP Request: GET … 200 (below warning: not shown)")

    def crash() -> None:
        raise RuntimeError(f"worker fell over holding {SECRETS[1]}")

    t = threading.Thread(target=crash, name="accord-deliver-KOR")
    t.start()
    t.join()
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [(x["logger"], x["level"]) for x in lines] == [("nats.aio.client", "error"), ("accord", "error")]
    assert lines[0]["message"] == "nats: reconnect failed with [redacted]"
    assert lines[1]["event"] == "thread.crashed" and lines[1]["thread_name"] == "accord-deliver-KOR"
    assert "RuntimeError: worker fell over holding [redacted]" in lines[1]["exception"]
    assert not any(s in captured.getvalue() for s in SECRETS)


def test_a_text_line_stays_one_line_whatever_a_partner_wrote(captured):
    """A partner's refusal reason (or any text from outside) with a line break forged a second,
    well-formed log line in text format; an escape sequence reached the operator's terminal."""
    configure("info", "text", captured)
    reason = "policy\n2026-12-04T20:39:34.233Z INFO    accord.federation: partner KOR recovered\x1b[2J"
    logging.getLogger("accord.federation").warning("partner %s refused 1 envelope(s): %s", "KOR", reason)
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1 and "\x1b" not in captured.getvalue()
    assert lines[0].endswith("refused 1 envelope(s): policy\\n2026-12-04T20:39:34.233Z INFO    accord.federation: "
                             "partner KOR recovered\\x1b[2J")


def test_file_paths_in_a_traceback_are_left_alone():
    """A lower-case path of 40 characters and more read as base64 and was cut from every traceback
    (`site-[redacted]_impl.py`)."""
    line = '  File "/work/main/.venv/lib/python3.11/site-packages/uvicorn/protocols/http/httptools_impl.py"'
    assert redact(line) == line
    assert redact("/srv/accord/jpn/tls/partners/kor/certificate/pinned/fingerprint.pem") == (
        "/srv/accord/jpn/tls/partners/kor/certificate/pinned/fingerprint.pem")
    for secret in SECRETS:  # keys and signatures still are
        assert redact(f"x {secret} y") == "x [redacted] y"


def test_a_request_cut_off_at_the_end_of_the_grace_period_is_one_line(captured):
    """uvicorn logged a whole traceback for each, and its message's own line break escaped."""
    import asyncio

    configure("info", "text", captured)
    try:
        raise asyncio.CancelledError("Task cancelled, timeout graceful shutdown exceeded")
    except asyncio.CancelledError:
        logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=True)
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith("ERROR   uvicorn.error: a request in progress was cut off: the stop's grace "
                             "period (--grace) ended")


def test_public_identifiers_are_left_alone():
    kept = ("root 538287f09bddc06366b509372f353df590d75d053dedbe495244af8bfc87cb6d, item "
            "JPN:warning.track:4f78f48ef165256ba47ea3a12fa48b1e, indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f; "
            "missing bearer API token")
    assert redact(kept) == kept


def test_bad_level_or_format_is_a_clear_error():
    with pytest.raises(InputError, match="log level 'loud' is not one of debug, info, warning, error"):
        configure("loud", "text")
    with pytest.raises(InputError, match="log format 'xml' is not one of text, json"):
        configure("info", "xml")


def test_throttle_lets_a_few_lines_through_and_counts_the_rest():
    t = Throttle(per_minute=3)
    assert [t.allow() for _ in range(5)] == [(True, 0)] * 3 + [(False, 0)] * 2
    t._start -= 61  # a minute later: the next line carries the count passed over
    assert t.allow() == (True, 2) and t.allow() == (True, 0)


def test_a_throttled_log_says_how_many_lines_it_passed_over(caplog):
    import logging

    t, log = Throttle(per_minute=2), logging.getLogger("accord.test.throttle")
    with caplog.at_level(logging.INFO, logger="accord.test.throttle"):
        for k in range(5):
            t.log(log, logging.WARNING, "refused %d", k, extra={"event": "test.refused"})
        t._start -= 61
        t.log(log, logging.WARNING, "refused %d", 5, extra={"event": "test.refused"})
    assert [(r.getMessage(), r.event, r.suppressed) for r in caplog.records] == [
        ("refused 0", "test.refused", 0), ("refused 1", "test.refused", 0),
        ("refused 5 (3 more passed over)", "test.refused", 3)]


def test_durations_parse_and_print():
    from datetime import timedelta

    from accord.clock import duration_text, parse_duration

    assert [parse_duration(t) for t in ("0", "90s", "15m", "1h", "7d")] == [
        timedelta(0), timedelta(seconds=90), timedelta(minutes=15), timedelta(hours=1), timedelta(days=7)]
    for bad in ("", "1w", "-5m", "1.5h", "h"):
        with pytest.raises(InputError, match="whole number with one unit"):
            parse_duration(bad, field="keep")
    assert [duration_text(s) for s in (None, 0, 0.44, 42.4, 250, 7500, 273600)] == [
        "-", "0 s", "0.4 s", "42 s", "4 m 10 s", "2 h 05 m", "3 d 04 h"]


def test_nothing_is_printed_unless_the_application_configures_logging():
    """A library emits, the application decides: `accord demo` or an exercise must not print the
    warnings a serving node logs (Python's last-resort handler would, without accord's own)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import accord, logging; "
                          "logging.getLogger('accord.federation').warning('partner KOR unreachable')"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == ""


def test_an_own_alert_stored_is_logged_once(tmp_path, caplog):
    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.node import Node

    node = Node.init(tmp_path / "jpn", party="JPN")
    caplog.set_level(logging.INFO, logger="accord")
    body = {"msgType": "Update", "identifier": "JPN-7", "areas": ["JP-13", "JP-14"], "reason": "impact ellipse"}
    alert = new_item("warning.alert", body, Marking.parse("UNCLASSIFIED//REL TO JPN, KOR, USA"), "JPN",
                     node.clock.now())
    node.put_item(alert)
    node.put_item(alert)  # stored once: logged once
    lines = [r for r in caplog.records if getattr(r, "event", None) == "alert.issued"]
    assert [r.getMessage() for r in lines] == ["alert issued: Update JPN-7 for JP-13, JP-14: impact ellipse"]
    assert lines[0].msg_type == "Update" and lines[0].areas == ["JP-13", "JP-14"]


def test_an_exception_message_cannot_forge_a_line_inside_a_traceback(captured):
    """The traceback is the one part of a text record on lines of its own; an exception whose
    message carries outside text with a line break started a well-formed line of its choosing."""
    configure("info", "text", captured)
    forged = "2026-12-04T20:39:34.233Z INFO    accord.federation: partner KOR recovered"
    try:
        raise ValueError(f"bad value 'x\n{forged}\x1b[2J'")
    except ValueError:
        logging.getLogger("accord.api").exception("unhandled error in %s %s", "GET", "/api/v1/items")
    out = captured.getvalue()
    assert not any(line.startswith(forged) for line in out.splitlines()), out
    assert "\x1b" not in out
    assert f"ValueError: bad value 'x\\n{forged}\\x1b[2J'" in out, out
    assert out.splitlines()[1] == "Traceback (most recent call last):"   # the frames keep their lines
