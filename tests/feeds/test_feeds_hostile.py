"""Hostile scan messages against a real ``accord warning ingest``: a scan far in the future of the
last one, and scans dated past what a datetime holds, are refused in one line each (at most 30 a
minute: the rest are counted), store nothing and neither hang nor stop the ingest."""

from __future__ import annotations

import asyncio
import json

import numpy as np
from feeds_helpers import KINDS, ingest_cmd, publish, run, stored

from accord.feeds.scans import MAX_SCAN_PLOTS, Scan, scans_of
from accord.node import Node
from accord.warning.io import read_detections


def test_a_scan_a_billion_seconds_on_too_many_plots_or_a_huge_integer_is_refused(tmp_path, names, nats_url,
                                                                                   japan_scenario):
    # the first held the tracker for hours; two of 10,000 plots took it past 4 GB (the
    # tentative tracks of one scan's plots gated against the next's); an integer of 400 digits
    # raised OverflowError, which stopped the ingest at the same message after every restart
    Node.init(tmp_path / "jpn", "JPN").close()
    header, _ = read_detections(japan_scenario)
    sensor = header.sensors[0].id
    plot = np.array([[900000.0, 4.0, 0.5]])
    many = np.column_stack([np.linspace(1e5, 2e6, MAX_SCAN_PLOTS + 1), np.full(MAX_SCAN_PLOTS + 1, 4.0),
                            np.full(MAX_SCAN_PLOTS + 1, 0.5)])
    publish(nats_url, names, [Scan(1.0, sensor, plot), Scan(1e9, sensor, plot), Scan(2.0, sensor, plot),
                              Scan(3.0, sensor, many), Scan(4.0, sensor, many[:MAX_SCAN_PLOTS]),
                              (sensor, b'{"t":5,"sensor":"%s","plots":[[1%s,1.0,0.1]]}' % (sensor.encode(), b"0" * 400))])
    r = run(ingest_cmd(tmp_path / "jpn", nats_url, names, japan_scenario, "--idle-exit", "2", "--json"), timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    out = json.loads(r.stdout)
    assert (out["scans"], out["refused"], out["detections"]) == (3, 3, 2 + MAX_SCAN_PLOTS)  # the others tracked
    lines = [ln for ln in r.stderr.splitlines() if "refused" in ln]
    assert len(lines) == 3 and "plot 0: a number beyond a 64-bit double" in lines[2]
    assert "t=1000000000.0" in lines[0] and "more than 86400 s" in lines[0], lines
    assert f"{MAX_SCAN_PLOTS + 1} plots in one scan, more than {MAX_SCAN_PLOTS}" in lines[1], lines


def test_scans_dated_past_the_year_9999_are_refused_not_a_crash_at_every_restart(tmp_path, names, nats_url,
                                                                                japan_scenario):
    # the scenario's scans 3e11 s on (year ~11500 from the 2026 epoch): tracked, the first
    # confirmed track's item could not be dated, and the error stopped the ingest before the
    # commit, so a restart met the same scan again
    Node.init(tmp_path / "jpn", "JPN").close()
    _, det = read_detections(japan_scenario)
    scans = [Scan(s.t + 3e11, s.sensor, s.plots) for s in scans_of(det)][:400]
    publish(nats_url, names, scans)
    for _ in range(2):   # and again: nothing left to redeliver
        r = run(ingest_cmd(tmp_path / "jpn", nats_url, names, japan_scenario, "--idle-exit", "2", "--json"))
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
        out = json.loads(r.stdout)
        if _ == 0:
            assert (out["scans"], out["refused"]) == (0, len(scans))
            lines = [ln for ln in r.stderr.splitlines() if "refused" in ln]
            # a line each for the first 30 a minute (the rest are counted, above; a slow run may
            # reach a second minute)
            assert 30 <= len(lines) <= 60 and all("past the year 9999" in ln for ln in lines), lines[:3]
        else:
            assert (out["scans"], out["refused"], out["skipped"]) == (0, 0, 0)
    assert all(not v for v in stored(tmp_path / "jpn").values())
    assert set(KINDS) == set(stored(tmp_path / "jpn"))


def test_watch_passes_a_repeat_on_once_and_remembers_only_the_latest_ids(nats_url, names):
    # it kept every id it had seen, for as long as it ran: a watch of a busy node, or of a
    # publisher sending new ids, grew without bound
    from datetime import datetime, timezone

    import nats

    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.core.identity import Identity
    from accord.feeds.scans import warning_subject
    from accord.feeds.signed import signature_headers, signed_message
    from accord.feeds.watch import RecentIds, watch

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    node = Identity.generate("JPN")
    items = [new_item("warning.track", {"track_id": f"T{k}", "t": float(k)}, Marking.parse("CONFIDENTIAL//REL TO JPN"),
                      "JPN", when) for k in range(5)]
    a, b, c, d, e = items
    got, errors, seen = [], [], RecentIds(3)

    async def go():
        task = asyncio.create_task(watch(nats_url, "JPN", got.append, key=node.public_key, prefix=names.prefix,
                                         limit=6, on_error=errors.append, seen=seen))
        await asyncio.sleep(1.0)   # subscribed
        nc = await nats.connect(nats_url)
        subject = warning_subject(names.prefix, "JPN", "warning.track")
        for raw in (a, a, b"\xff not json", b, c, b, d, e, a):   # b again among the last three, a after
            if isinstance(raw, bytes):   # signed by the node all the same: the watch still refuses it
                await nc.publish(subject, raw, headers=signature_headers(node, subject, raw, datetime.now(timezone.utc)))
                continue
            data, headers = signed_message(node, subject, raw, datetime.now(timezone.utc))
            await nc.publish(subject, data, headers=headers)
        await nc.flush()
        n = await asyncio.wait_for(task, 30)
        await nc.close()
        return n

    assert asyncio.run(go()) == 6
    assert [i.id for i in got] == [x.id for x in (a, b, c, d, e, a)] and len(seen) == 3
    assert len(errors) == 1 and "not an Accord item" in errors[0]


def test_watch_says_why_it_could_not_pass_an_item_on_and_does_not_count_it(nats_url, names):
    """A callback that fails on an item (the CLI's line for a prediction whose impact_lat_deg is
    null) lost the item without a word — nats-py swallows a callback's exception — and counted
    it towards --count."""
    from datetime import datetime, timezone

    import nats

    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.core.identity import Identity
    from accord.feeds.scans import warning_subject
    from accord.feeds.signed import signed_message
    from accord.feeds.watch import watch

    mk, when = Marking.parse("CONFIDENTIAL//REL TO JPN"), datetime(2026, 1, 1, tzinfo=timezone.utc)
    node = Identity.generate("JPN")
    bad = new_item("warning.track", {"track_id": "T0", "t": None}, mk, "JPN", when)
    good = [new_item("warning.track", {"track_id": f"T{k}", "t": float(k)}, mk, "JPN", when) for k in (1, 2)]
    got, errors = [], []

    def take(item) -> None:
        got.append(item.body["t"] + 0.0)   # a TypeError for t null

    async def go():
        task = asyncio.create_task(watch(nats_url, "JPN", take, key=node.public_key, prefix=names.prefix, limit=2,
                                         on_error=errors.append))
        await asyncio.sleep(1.0)   # subscribed
        nc = await nats.connect(nats_url)
        subject = warning_subject(names.prefix, "JPN", "warning.track")
        for it in (bad, *good):
            data, headers = signed_message(node, subject, it, datetime.now(timezone.utc))
            await nc.publish(subject, data, headers=headers)
        await nc.flush()
        n = await asyncio.wait_for(task, 30)
        await nc.close()
        return n

    assert asyncio.run(go()) == 2 and got == [1.0, 2.0]
    assert len(errors) == 1 and bad.id in errors[0] and "TypeError" in errors[0] and "\n" not in errors[0]


def test_the_watch_line_of_an_item_with_odd_numbers_is_printed_not_lost():
    from accord.cli.warning_feed import watch_line
    from datetime import datetime, timezone

    from accord.core.items import new_item
    from accord.core.markings import Marking

    mk, when = Marking.parse("UNCLASSIFIED"), datetime(2026, 1, 1, tzinfo=timezone.utc)
    for body in ({"track_id": "T1", "t": 1.0, "impact_lat_deg": None, "impact_lon_deg": "x"},
                 {"track_id": "T1", "t": 1.0, "impact_lat_deg": 2 ** 53 - 1, "impact_lon_deg": True}, {}):
        line = watch_line(new_item("warning.prediction", body, mk, "JPN", when))
        assert line.startswith("2026-01-01T00:00:00.000Z warning.prediction prediction") and "\n" not in line
    good = new_item("warning.prediction", {"track_id": "T1", "t": 1.0, "impact_lat_deg": 35.123, "impact_lon_deg": 139.5},
                    mk, "JPN", when)
    assert "impact 35.12,139.50" in watch_line(good)
    # the publisher's track id reaches the operator's terminal: no escape sequence in it does
    hostile = new_item("warning.track", {"track_id": "[/]T\x1b]0;owned\x07\x1b[2J\x9b31m", "t": 1.0}, mk, "JPN", when)
    assert "track [/]T]0;owned[2J31m t=1.0" in watch_line(hostile)


def test_a_sensors_file_that_is_not_utf8_is_one_line_naming_it(tmp_path, names, nats_url):
    """``warning ingest --sensors`` read the header line with a plain readline: a byte that is
    not UTF-8 was a UnicodeDecodeError traceback (read_detections names the line), and a first
    line of gigabytes was read whole."""
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"format": "\xff"}\n')
    node = Node.init(tmp_path / "jpn", "JPN")
    node.close()
    res = run(ingest_cmd(tmp_path / "jpn", nats_url, names, bad))
    assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
    assert "not UTF-8 text" in res.stderr and "bad.jsonl" in res.stderr


def test_a_flood_of_junk_on_the_radar_subjects_is_counted_not_a_flood_of_log_lines(tmp_path, names, nats_url,
                                                                                   japan_scenario):
    # each refused scan was an error line of its own: a publisher on the radar subjects sending
    # one-byte messages wrote a line per message to the ingest's log, without bound (the
    # stream is bounded; the log was not). At most 30 a minute get a line, the next one carrying
    # the count passed over; every refusal is counted (and terminated), the good scans tracked
    Node.init(tmp_path / "jpn", "JPN").close()
    header, det = read_detections(japan_scenario)
    scans = list(scans_of(det))[:50]
    sensor = header.sensors[0].id
    publish(nats_url, names, [(sensor, b"x")] * 300 + scans)
    r = run(ingest_cmd(tmp_path / "jpn", nats_url, names, japan_scenario, "--idle-exit", "2", "--json"), timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert (out["scans"], out["refused"]) == (len(scans), 300)
    lines = [ln for ln in r.stderr.splitlines() if "refused" in ln]
    assert 1 <= len(lines) <= 30 and "not a JSON scan" in lines[0], (len(lines), lines[:2])


def test_watch_warnings_carry_no_terminal_sequence_from_a_publisher(nats_url, names):
    """A message on the warning subjects is whoever published it: the name of an unknown field,
    or an item's id, went into ``warning watch``'s ``warning:`` line on stderr as it was, so an
    escape sequence in it (a terminal's title, its colours, a hidden hyperlink) reached the
    operator's terminal. The line leaves control characters out, as the item lines do."""
    import subprocess
    import sys
    import time
    from datetime import datetime, timezone

    import nats

    from accord.core.identity import Identity
    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.feeds.scans import warning_subject
    from accord.feeds.signed import signature_headers

    node = Identity.generate("JPN")   # signed by the node's key: a bad ingest's message is still shown safely

    def pair(k: int):   # a hostile message, then a good item (a new id each time: watch drops repeats)
        good = new_item("warning.track", {"track_id": f"T{k}", "t": float(k)}, Marking.parse("CONFIDENTIAL//REL TO JPN"),
                        "JPN", datetime(2026, 1, 1, tzinfo=timezone.utc))
        return json.dumps({**good.to_json(), "\x1b]0;owned\x07\x1b[31mred": 1}).encode(), good

    # --count 2: the second good item comes after a hostile message published once the watch was
    # surely subscribed (it had passed the first on), however long the subprocess took to start
    watch = subprocess.Popen([sys.executable, "-m", "accord", "warning", "watch", "--nats", nats_url, "--party", "JPN",
                              "--key", node.public_b64, "--prefix", names.prefix, "--count", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sent = []

    async def go():
        nc = await nats.connect(nats_url)
        deadline = time.monotonic() + 60
        while watch.poll() is None and time.monotonic() < deadline:
            hostile, good = pair(len(sent))
            sent.append(good.id)
            subject = warning_subject(names.prefix, "JPN", "warning.track")
            for data in (hostile, good.canonical()):
                await nc.publish(subject, data, headers=signature_headers(node, subject, data, datetime.now(timezone.utc)))
            await nc.flush()
            await asyncio.sleep(0.3)
        await nc.close()

    try:
        asyncio.run(go())
        out, err = watch.communicate(timeout=60)
    finally:
        watch.kill() if watch.poll() is None else None
    assert watch.returncode == 0 and sum(i in out for i in sent) == 2, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert 1 <= len(warnings) <= 2 and all("unknown field" in w and "]0;owned" in w for w in warnings), err
    assert "\x1b" not in err and "\x07" not in err
