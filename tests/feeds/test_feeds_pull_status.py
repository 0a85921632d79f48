"""The statuses JetStream ends a pull request with: the normal ones end it quietly, any other is
one warning line, and those no later pull can get past stop the ingest (a real NATS server
with JetStream; the statuses it cannot be made to send, fed to the check directly)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import time
from types import SimpleNamespace

import pytest
from feeds_helpers import MARKING, accord, publish

from accord.feeds.jetstream import BytePull, PullError, ensure_stream, pull_consumer
from accord.feeds.scans import radar_filter, radar_subject, scans_of
from accord.node import Node
from accord.warning.io import read_detections


def statuses(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "feed.pull_status"]


async def consumer(nc, names, **config) -> BytePull:
    """A pull consumer over the test's stream made through the JetStream API (nats-py's
    ConsumerConfig has no max_batch), and a BytePull on it."""
    cfg = {"durable_name": names.consumer, "ack_policy": "all", "filter_subject": radar_filter(names.prefix, "JPN"),
           **config}
    r = await nc.request(f"$JS.API.CONSUMER.DURABLE.CREATE.{names.stream}.{names.consumer}",
                         json.dumps({"stream_name": names.stream, "config": cfg}).encode())
    assert "error" not in json.loads(r.data), r.data
    return BytePull(nc, await nc.subscribe(nc.new_inbox()), names.stream, names.consumer)


def test_a_consumer_deleted_under_a_waiting_pull_raises_instead_of_reading_as_an_idle_stream(names, nats_url,
                                                                                           japan_scenario, caplog):
    # a 409 "Consumer Deleted" ended the pull as a 404 does: the ingest sat idle for ever
    import nats

    header, det = read_detections(japan_scenario)
    publish(nats_url, names, list(scans_of(det))[:3])

    async def go():
        nc = await nats.connect(nats_url)
        try:
            pull = await pull_consumer(nc, names.stream, names.consumer, names.prefix, "JPN", after_seq=0,
                                       max_pending=1000)
            assert len(await pull.fetch(10, 1.0, 1 << 20)) == 3
            with pytest.raises(asyncio.TimeoutError):   # the stream idle: no status is an error
                await pull.fetch(10, 0.3, 1 << 20)
            waiting = asyncio.ensure_future(pull.fetch(10, 5.0, 1 << 20))   # a request waits at the server
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            await nc.jetstream().delete_consumer(names.stream, names.consumer)
            with pytest.raises(PullError) as exc:
                await waiting
            return exc.value, time.monotonic() - t0
        finally:
            await nc.close()

    with caplog.at_level(logging.WARNING, logger="accord.feeds"):
        err, took = asyncio.run(go())
    assert (err.status, err.description) == ("409", "Consumer Deleted") and took < 2.0
    assert str(err) == (f"JetStream status 409 'Consumer Deleted' to a pull of consumer {names.consumer} of stream "
                        f"{names.stream}: the ingest cannot go on")
    assert statuses(caplog) == []


def test_a_consumer_deleted_between_two_pulls_is_found_gone_when_a_pull_gets_no_answer(names, nats_url,
                                                                                     japan_scenario):
    # the server drops the requests of a consumer that does not exist: no status at all, and
    # the ingest read that as an idle stream for ever
    import nats

    header, det = read_detections(japan_scenario)
    publish(nats_url, names, list(scans_of(det))[:1])

    async def go():
        nc = await nats.connect(nats_url)
        try:
            pull = await pull_consumer(nc, names.stream, names.consumer, names.prefix, "JPN", after_seq=0,
                                       max_pending=1000)
            await nc.jetstream().delete_consumer(names.stream, names.consumer)
            with pytest.raises(PullError, match=f"consumer {names.consumer} of stream {names.stream} no longer "
                                                r"exists \(consumer not found;"):
                await pull.fetch(10, 0.3, 1 << 20)
        finally:
            await nc.close()

    asyncio.run(go())


def test_a_consumer_refusing_the_ingests_requests_raises_and_a_busy_one_is_one_warning(names, nats_url,
                                                                                      japan_scenario, caplog):
    # "Exceeded MaxRequestBatch": the consumer (made by another tool) refuses every request of
    # the ingest's form, so the pull cannot go on. "Exceeded MaxWaiting": the consumer's
    # waiting requests are full for now (another client pulls from it); the pull goes on,
    # logged once however many requests meet it
    import nats

    header, det = read_detections(japan_scenario)
    publish(nats_url, names, list(scans_of(det))[:1])

    async def go():
        nc = await nats.connect(nats_url)
        try:
            pull = await consumer(nc, names, max_batch=10)
            with pytest.raises(PullError, match="JetStream status 409 'Exceeded MaxRequestBatch of 10'"):
                await pull.fetch(20, 0.3, 1 << 20)
            assert len(await pull.fetch(10, 0.3, 1 << 20)) == 1          # within its limit: delivered
            await nc.jetstream().delete_consumer(names.stream, names.consumer)

            first = await consumer(nc, names, max_waiting=1, deliver_policy="new")
            other = BytePull(nc, await nc.subscribe(nc.new_inbox()), names.stream, names.consumer)
            waiting = asyncio.ensure_future(first.fetch(1, 3.0, 1 << 20))   # holds the one waiting request
            await asyncio.sleep(0.5)
            for _ in range(3):
                with pytest.raises(asyncio.TimeoutError):
                    await other.fetch(1, 0.3, 1 << 20)
            scan = list(scans_of(det))[1]                                  # the waiting request gets it
            await nc.jetstream().publish(radar_subject(names.prefix, "JPN", scan.sensor), scan.payload())
            assert len(await waiting) == 1
        finally:
            await nc.close()

    with caplog.at_level(logging.WARNING, logger="accord.feeds"):
        asyncio.run(go())
    assert statuses(caplog) == [f"JetStream status 409 'Exceeded MaxWaiting' to a pull of consumer {names.consumer} "
                                f"of stream {names.stream}; the pull is tried again"]


def status_msg(status: str, description: str = "") -> SimpleNamespace:
    return SimpleNamespace(headers={"Status": status, "Description": description}, reply="", data=b"")


@pytest.mark.parametrize("status, description, outcome", [
    ("404", "No Messages", "end"),
    ("408", "Request Timeout", "end"),
    ("409", "Message Size Exceeds MaxBytes", "end"),
    ("409", "Batch Completed", "end"),
    ("100", "Idle Heartbeat", "end"),
    ("409", "Leadership Change", "warn"),
    ("409", "Exceeded MaxWaiting", "warn"),
    ("409", "Server Shutdown", "warn"),
    ("409", "Consumer Deleted", "raise"),
    ("409", "Consumer is push based", "raise"),
    ("409", "Exceeded MaxRequestExpires of 1s", "raise"),
    ("409", "Exceeded MaxRequestMaxBytes of 1000", "raise"),
    ("400", "Bad Request", "raise"),
    ("503", "", "end"),   # asked about in _request (the consumer there or gone)
])
def test_each_status_ends_warns_or_raises(status, description, outcome, caplog):
    # the statuses the test server cannot be made to send (a cluster's leadership change, a
    # server shutting down), fed to the check as JetStream sends them
    pull = BytePull(SimpleNamespace(max_payload=1 << 20), None, "S", "c")
    with caplog.at_level(logging.WARNING, logger="accord.feeds"):
        if outcome == "raise":
            with pytest.raises(PullError) as exc:
                pull.check(status_msg(status, description))
            assert (exc.value.status, exc.value.description) == (status, description)
        else:
            for _ in range(3):
                assert pull.check(status_msg(status, description)) == status
    assert statuses(caplog) == ([f"JetStream status {status} {description!r} to a pull of consumer c of stream S; "
                                 "the pull is tried again"] if outcome == "warn" else [])


def test_the_same_status_is_logged_again_after_a_minute_with_the_count_between(caplog):
    pull = BytePull(SimpleNamespace(max_payload=1 << 20), None, "S", "c")
    now = [1000.0]
    pull.clock = lambda: now[0]
    with caplog.at_level(logging.WARNING, logger="accord.feeds"):
        for dt, status, desc in [(0, "409", "Leadership Change"), (1, "409", "Leadership Change"),
                                 (1, "408", "Request Timeout"), (1, "409", "Exceeded MaxWaiting"),
                                 (30, "409", "Leadership Change"), (28, "409", "Leadership Change"),
                                 (2, "409", "Leadership Change"), (1, "409", "Leadership Change")]:
            now[0] += dt
            pull.check(status_msg(status, desc))
    tail = "to a pull of consumer c of stream S; the pull is tried again"
    assert statuses(caplog) == [f"JetStream status 409 'Leadership Change' {tail}",
                                f"JetStream status 409 'Exceeded MaxWaiting' {tail}",
                                f"JetStream status 409 'Leadership Change' {tail} (2 more since the last line)"]
    assert pull.check(SimpleNamespace(headers=None, reply="$JS.ACK.x", data=b"{}")) is None   # a stored message


def test_the_ingest_stops_with_one_line_when_its_consumer_is_deleted(tmp_path, names, nats_url, japan_scenario):
    # as the operator meets it: another ingest (or a hand) deletes the consumer under a running
    # `accord warning ingest`; it stops with one error line and exit code 2, not idle for ever
    import nats

    header, det = read_detections(japan_scenario)
    publish(nats_url, names, list(scans_of(det))[:40])
    Node.init(tmp_path / "jpn", "JPN").close()
    proc = subprocess.Popen(accord("warning", "ingest", "--dir", tmp_path / "jpn", "--nats", nats_url,
                                   "--sensors", japan_scenario, "--stream", names.stream, "--prefix", names.prefix,
                                   "--consumer", names.consumer, "--marking", MARKING, "--no-alerts"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        async def delete_when_read():
            nc = await nats.connect(nats_url)
            js = nc.jetstream()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    info = await js.consumer_info(names.stream, names.consumer)
                    if info.ack_floor.stream_seq == 40:
                        break
                except nats.js.errors.NotFoundError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the ingest did not read the scans")
            await asyncio.sleep(1.0)   # idle: pulling with nothing to deliver
            await js.delete_consumer(names.stream, names.consumer)
            await nc.close()

        asyncio.run(delete_when_read())
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2 and "Traceback" not in err, err[-2000:]
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"consumer {names.consumer} of stream {names.stream}" in errors[0], err[-2000:]
    assert "'Consumer Deleted'" in errors[0] or "no longer exists" in errors[0], errors


def test_no_responders_is_a_pause_while_the_consumer_exists_and_ends_the_pull_once_it_is_gone(names, nats_url,
                                                                                               caplog):
    # 503 "No Responders": nothing listens on the pull subject for now (a clustered consumer
    # between two leaders, JetStream not yet up on the server the client reconnected to); the
    # ingest stopped on it as on a consumer deleted. The consumer is asked for, as for a
    # request with no answer: there, the pull goes on with one warning line, each fetch
    # waiting out its timeout (not a tight loop of requests); gone, it ends
    import nats

    async def go():
        nc = await nats.connect(nats_url)
        try:
            await ensure_stream(nc.jetstream(), names.stream, names.prefix, "JPN")
            pull = await pull_consumer(nc, names.stream, names.consumer, names.prefix, "JPN", after_seq=0,
                                       max_pending=1000)
            pull.subject = f"{names.prefix}.nobody.listens"   # what the server answers 503 to
            t0 = time.monotonic()
            for _ in range(3):   # each fetch its timeout long, not a tight loop of requests meanwhile
                with pytest.raises(asyncio.TimeoutError):
                    await pull.fetch(10, 0.5, 1 << 20)
            assert time.monotonic() - t0 >= 1.4
            await nc.jetstream().delete_consumer(names.stream, names.consumer)
            with pytest.raises(PullError, match=f"consumer {names.consumer} of stream {names.stream} no longer exists"):
                await pull._request({"batch": 10, "max_bytes": 1 << 20, "no_wait": True}, 10, 2.0)
        finally:
            await nc.close()

    with caplog.at_level(logging.WARNING, logger="accord.feeds"):
        asyncio.run(go())
    assert statuses(caplog) == [f"JetStream status 503 (no responders) to a pull of consumer {names.consumer} of "
                                f"stream {names.stream}; the pull is tried again"]
