"""The live tracker reports what the batch pipeline reports, and its snapshot restores it exactly;
scan messages are checked like detection lines."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from accord.errors import InputError
from accord.feeds.scans import msg_id, parse_scan, radar_subject, scans_of
from accord.warning.io import read_detections
from accord.warning.live import LiveTracker
from accord.warning.pipeline import track_detections


def run_live(header, det, *, restore_every=None):
    live = LiveTracker(header.sensors)
    tracks, preds = [], []
    for k, scan in enumerate(scans_of(det)):
        out = live.process(scan.t, scan.sensor, scan.plots)
        tracks += out.tracks
        preds += out.predictions
        if restore_every and k % restore_every == restore_every - 1:
            state, arrays = live.snapshot()
            live = LiveTracker.restore(header.sensors, state, arrays)
    return live, tracks, preds


def test_live_tracker_reports_what_the_batch_pipeline_reports(japan_scenario):
    header, det = read_detections(japan_scenario)
    batch = track_detections(header.sensors, det)
    _, tracks, preds = run_live(header, det)
    last_w = math.ceil(float(det.t[-1])) - 1   # the seconds after the last scan wait for a later one
    assert tracks == [t for t in batch.tracks if t.t <= last_w]
    assert preds == [p for p in batch.predictions if p.t <= last_w]
    assert len({t.track_id for t in tracks}) >= 1 and len(preds) > 50


def test_snapshot_restore_continues_exactly_as_the_uninterrupted_tracker(japan_scenario):
    header, det = read_detections(japan_scenario)
    whole, tracks, preds = run_live(header, det)
    restored, tracks2, preds2 = run_live(header, det, restore_every=37)
    assert tracks2 == tracks and preds2 == preds
    assert restored.snapshot() == whole.snapshot()


def test_live_tracker_refuses_late_and_repeated_scans_and_unknown_radars(japan_scenario):
    header, det = read_detections(japan_scenario)
    live = LiveTracker(header.sensors)
    scans = list(scans_of(det))
    live.process(scans[5].t, scans[5].sensor, scans[5].plots)
    with pytest.raises(InputError, match="earlier than the last scan"):
        live.check(scans[0].t, scans[0].sensor)
    with pytest.raises(InputError, match="duplicate"):
        live.check(scans[5].t, scans[5].sensor)
    with pytest.raises(InputError, match="unknown sensor 'XX-1'"):
        live.check(scans[6].t, "XX-1")
    # a time far past the last scan: every second between would be reported one by one (a
    # scan at t=1e9 kept process() looping for days; 1e308 for ever)
    for t in (scans[5].t + 86_401, 1e9, 1e308):
        with pytest.raises(InputError, match="more than 86400 s after the last scan"):
            live.check(t, scans[6].sensor)
    live.check(scans[5].t + 86_000, scans[6].sensor)  # a long gap, under a day, is a gap
    with pytest.raises(InputError, match="time not in"):
        LiveTracker(header.sensors).check(1e308, scans[0].sensor)  # a first scan too


def test_a_feed_back_from_a_long_silence_starts_the_tracker_afresh_when_it_is_the_present(japan_scenario):
    # a scan more than a day after the last is taken only when the caller's clock says it is
    # now (a radar back from a silence, not a corrupt time): the tracker forgets what it held
    # (no missile flies that long), reports none of the seconds between, and tracks the new
    # scans as a fresh tracker does — with track ids it never gave before
    header, det = read_detections(japan_scenario)
    scans = list(scans_of(det))
    day = 2 * 86_400.0
    live = LiveTracker(header.sensors)
    before = []
    for scan in scans:
        before += live.process(scan.t, scan.sensor, scan.plots).tracks
    assert before and live.tracker.confirmed_tracks(scans[-1].t)
    back = scans[0].t + day + scans[-1].t
    with pytest.raises(InputError, match="not the present"):
        live.check(back, scans[0].sensor)
    live.is_current = lambda t: t >= back
    fresh = LiveTracker(header.sensors)
    after, again = [], []
    for scan in scans:
        t = scan.t + day + scans[-1].t
        out = live.process(t, scan.sensor, scan.plots)
        after += out.tracks
        again += fresh.process(t, scan.sensor, scan.plots).tracks
        assert all(w > scans[-1].t + 1 for w in out.seconds)      # none of the silence
    assert again and len(after) == len(again)
    assert [(s.t, s.x, s.y, s.z, s.vx, s.vy, s.vz) for s in after] == \
        [(s.t, s.x, s.y, s.z, s.vx, s.vy, s.vz) for s in again]
    old_ids = {int(s.track_id.lstrip("T")) for s in before}
    assert min(int(s.track_id.lstrip("T")) for s in after) > max(old_ids)
    assert live.tracker.n_scans == 2 * len(scans)                    # the counts are kept


def test_damaged_snapshot_is_one_clear_error(japan_scenario):
    header, _ = read_detections(japan_scenario)
    state, arrays = LiveTracker(header.sensors).snapshot()
    with pytest.raises(InputError, match="stored tracker state is damaged"):
        LiveTracker.restore(header.sensors, state, arrays[:40])
    with pytest.raises(InputError, match="stored tracker state is damaged"):
        LiveTracker.restore(header.sensors, json.dumps({"format": "other"}), arrays)


SUBJ = "accord.JPN.radar.JPN-TPY1"


@pytest.mark.parametrize("data, message", [
    (b"{not json", "not a JSON scan"),
    (b"[1, 2]", "JSON object"),
    (b'{"t": 1, "plots": []}', "sensor"),
    (b'{"t": 1, "sensor": "KOR-GP1", "plots": []}', "on the subject of sensor 'JPN-TPY1'"),
    (b'{"t": -1, "sensor": "JPN-TPY1", "plots": []}', "t must be a finite number"),
    (b'{"t": "5", "sensor": "JPN-TPY1", "plots": []}', "t must be a finite number"),
    (b'{"t": 1, "sensor": "JPN-TPY1", "plots": [[1, 2]]}', "plot 0 must be"),
    (b'{"t": 1, "sensor": "JPN-TPY1", "plots": [[1e5, 1.0, 0.1], [0, 1.0, 0.1]]}', "plot 1: range_m 0"),
    (b'{"t": 1, "sensor": "JPN-TPY1", "plots": [[1e5, 7.0, 0.1]]}', "plot 0: az_rad 7.0"),
    (b'{"t": 1, "sensor": "JPN-TPY1", "plots": [[1e5, 1.0, 2.0]]}', "plot 0: el_rad 2.0"),
    (b'{"t": 1, "sensor": "JPN-TPY1", "plots": [[1e5, 1.0, true]]}', "plot 0 must be"),
    (b'{"t": 1, "sensor": "JPN-TPY1", "t": 2, "plots": []}', "duplicate"),
])
def test_bad_scan_messages_are_one_clear_error(data, message):
    with pytest.raises(InputError, match=message):
        parse_scan(data, SUBJ)


def test_scan_message_round_trip_and_stable_message_id(japan_scenario):
    _, det = read_detections(japan_scenario)
    scan = next(iter(scans_of(det)))
    back = parse_scan(scan.payload(), radar_subject("accord", "JPN", scan.sensor))
    assert back.t == scan.t and back.sensor == scan.sensor and np.array_equal(back.plots, scan.plots)
    assert msg_id(scan.payload()) == msg_id(back.payload())
    with pytest.raises(InputError, match="NATS subject"):
        radar_subject("accord", "JPN", "bad.sensor")


def test_the_ingest_takes_a_scan_after_a_long_silence_only_when_it_is_the_present(tmp_path, japan_scenario):
    # the ingest's clock decides (epoch + t against the node's clock): a radar back after two
    # days is the present; a time ahead of the clock (a corrupt t = 1e9) or a replay's day-old
    # times are not
    from datetime import datetime, timedelta, timezone

    from accord.clock import ManualClock
    from accord.feeds.ingest import Ingest, IngestOptions
    from accord.feeds.scans import CLOCK_AHEAD_S
    from accord.node import Node

    header, det = read_detections(japan_scenario)
    scans = list(scans_of(det))
    epoch = datetime(2026, 3, 1, tzinfo=timezone.utc)
    Node.init(tmp_path / "jpn", "JPN").close()
    clock = ManualClock(epoch + timedelta(seconds=scans[-1].t))
    node = Node.open(tmp_path / "jpn", clock=clock)
    try:
        ingest = Ingest(node, header, IngestOptions(url="nats://127.0.0.1:1", stream="S", durable="d", epoch=epoch,
                                                    alerts=False))
        for scan in scans:
            ingest.track(scan.t, scan.sensor, scan.plots)
        back = scans[-1].t + 2 * 86_400.0
        with pytest.raises(InputError, match="not the present"):
            ingest.live.check(back, scans[0].sensor)              # two days ahead of the clock
        clock.advance(2 * 86_400.0)
        ingest.live.check(back, scans[0].sensor)                  # now it is the present
        ingest.live.check(back + CLOCK_AHEAD_S - 1, scans[0].sensor)
        for late in (back + CLOCK_AHEAD_S + 1, 1e9):
            with pytest.raises(InputError, match="not the present"):
                ingest.live.check(late, scans[0].sensor)
        made, _ = ingest.track(back, scans[0].sensor, scans[0].plots)
        assert made == [] and ingest.live.tracker.confirmed_tracks(back) == []
        clock.advance(3 * 86_400.0)
        with pytest.raises(InputError, match="not the present"):
            ingest.live.check(back + 1.5 * 86_400.0, scans[0].sensor)   # 1.5 days old by the clock
    finally:
        node.close()


def test_a_feed_dated_ahead_on_purpose_is_the_present_after_a_long_silence_within_its_clock_ahead(
        tmp_path, japan_scenario):
    # --clock-ahead let a feed dated three hours ahead through check_not_ahead, but is_present kept
    # its fixed 5 minutes: back after more than a day's silence, the same feed was "not the
    # present" and every scan of it refused. The configured lead is the present's bound too
    from datetime import datetime, timedelta, timezone

    from accord.clock import ManualClock
    from accord.feeds.ingest import Ingest, IngestOptions
    from accord.feeds.scans import CLOCK_AHEAD_S, is_present
    from accord.node import Node

    header, det = read_detections(japan_scenario)
    scans = list(scans_of(det))
    lead = 3 * 3600.0
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    epoch = now + timedelta(seconds=lead - scans[-1].t)   # the last scan dated three hours ahead of the clock
    assert is_present(epoch, now, scans[-1].t, lead + 60) and not is_present(epoch, now, scans[-1].t)

    def ingest(name: str, **opts) -> tuple[Ingest, ManualClock, Node]:
        Node.init(tmp_path / name, "JPN").close()
        clock = ManualClock(now)
        node = Node.open(tmp_path / name, clock=clock)
        ing = Ingest(node, header, IngestOptions(url="-", stream="S", durable="d", epoch=epoch, alerts=False, **opts))
        return ing, clock, node

    silence = 2 * 86_400.0
    back = scans[-1].t + silence            # still three hours ahead once the clock has moved on
    ing, clock, node = ingest("ahead", clock_ahead_s=lead + 60)
    try:
        for scan in scans:
            ing.check(scan.t, scan.sensor)
            ing.track(scan.t, scan.sensor, scan.plots)
        assert ing.live.tracker.confirmed_tracks(scans[-1].t)
        clock.advance(silence)
        for scan in scans[:30]:              # the feed resumes: taken, the tracker afresh
            ing.check(back + scan.t, scan.sensor)
            ing.track(back + scan.t, scan.sensor, scan.plots)
        assert ing.live.tracker.n_scans == len(scans) + 30
        clock.advance(silence)               # a second silence: the bound is the configured lead, no more
        at_clock = (clock.now() - epoch).total_seconds()
        ing.check(at_clock + lead + 59, scans[0].sensor)
        with pytest.raises(InputError, match="not the present"):
            ing.check(at_clock + lead + 61, scans[0].sensor)
    finally:
        node.close()

    ing, clock, node = ingest("default")     # no --clock-ahead: 5 minutes, as before
    try:
        for scan in scans:
            ing.track(scan.t, scan.sensor, scan.plots)
        clock.advance(silence)
        assert lead > CLOCK_AHEAD_S
        with pytest.raises(InputError, match="not the present"):
            ing.check(back, scans[0].sensor)
    finally:
        node.close()


def test_live_tracker_refuses_a_scan_too_far_after_the_last_before_reporting_the_seconds_between(japan_scenario):
    # a scan a billion seconds on would report every second between: hours of CPU, a list of a
    # billion seconds; refused at once, and the tracker stays where it was
    from accord.warning.types import MAX_SCAN_GAP_S

    header, det = read_detections(japan_scenario)
    live = LiveTracker(header.sensors)
    scans = list(scans_of(det))
    live.process(scans[0].t, scans[0].sensor, scans[0].plots)
    before = live.snapshot()
    with pytest.raises(InputError, match=r"more than 86400 s after the last scan processed .* not the present"):
        live.process(scans[0].t + 1e9, scans[0].sensor, scans[0].plots)
    assert live.snapshot() == before
    out = live.process(scans[0].t + MAX_SCAN_GAP_S, scans[0].sensor, scans[0].plots)   # the bound itself passes
    assert len(out.seconds) == MAX_SCAN_GAP_S


def test_a_scan_of_more_than_max_scan_plots_is_refused_by_both_decoders():
    from accord.feeds.scans import MAX_SCAN_PLOTS, Scan

    rae = np.column_stack([np.linspace(1e5, 2e6, MAX_SCAN_PLOTS + 1), np.full(MAX_SCAN_PLOTS + 1, 4.0),
                           np.full(MAX_SCAN_PLOTS + 1, 0.5)])
    subject = radar_subject("accord", "JPN", "JPN-TPY1")
    assert len(parse_scan(Scan(1.0, "JPN-TPY1", rae[:-1]).payload(), subject).plots) == MAX_SCAN_PLOTS
    for payload in (Scan(1.0, "JPN-TPY1", rae).payload(),   # the feed's own form (the fast path)
                    json.dumps({"plots": rae.tolist(), "t": 1.0, "sensor": "JPN-TPY1"}).encode()):
        with pytest.raises(InputError, match=f"{MAX_SCAN_PLOTS + 1} plots in one scan, more than {MAX_SCAN_PLOTS}"):
            parse_scan(payload, subject)


def test_the_feed_refuses_a_file_scan_the_ingest_would_refuse_before_publishing_anything():
    import asyncio

    from accord.feeds.feed import publish_scans
    from accord.feeds.scans import MAX_SCAN_PLOTS, Scan

    big = Scan(7.0, "JPN-TPY1", np.tile([[9e5, 4.0, 0.5]], (MAX_SCAN_PLOTS + 1, 1)))
    with pytest.raises(InputError, match=f"t=7.0 from JPN-TPY1 has {MAX_SCAN_PLOTS + 1} plots"):
        # no NATS there: the refusal comes before any connection
        asyncio.run(publish_scans("nats://127.0.0.1:1", [big], party="JPN", stream="S"))
