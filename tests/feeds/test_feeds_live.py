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


def test_live_tracker_refuses_a_scan_too_far_after_the_last_before_reporting_the_seconds_between(japan_scenario):
    # a scan a billion seconds on would report every second between: hours of CPU, a list of a
    # billion seconds; refused at once, and the tracker stays where it was
    from accord.warning.live import MAX_GAP_S

    header, det = read_detections(japan_scenario)
    live = LiveTracker(header.sensors)
    scans = list(scans_of(det))
    live.process(scans[0].t, scans[0].sensor, scans[0].plots)
    before = live.snapshot()
    with pytest.raises(InputError, match=r"more than 3600 s: a feed silent that long is a new feed"):
        live.process(scans[0].t + 1e9, scans[0].sensor, scans[0].plots)
    assert live.snapshot() == before
    out = live.process(scans[0].t + MAX_GAP_S, scans[0].sensor, scans[0].plots)   # the bound itself passes
    assert len(out.seconds) == MAX_GAP_S


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
