"""The warning subjects carry items signed by the node's key (accord.feeds.signed), and a watch
shows only those: an unsigned message, one signed by another key, one altered after signing,
one signed for another subject or played back long after it was signed is refused in one line
(``on_error``; the CLI's ``warning:`` line on stderr) and never reaches ``on_item`` or stdout.
Before, the watch showed whatever a client allowed to publish on the subjects sent."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from accord.core.identity import Identity
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.feeds.scans import warning_subject
from accord.feeds.signed import SIGNATURE, signed_message
from accord.node import Node

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _track(k: int, party: str = "JPN"):
    return new_item("warning.track", {"track_id": f"T{k}", "t": float(k)}, Marking.parse(f"CONFIDENTIAL//REL TO {party}"),
                    party, WHEN)


async def _publish_until(nc, subject_data_headers, arrived: asyncio.Event, timeout: float = 60) -> None:
    """Publish a probe again and again until the watch has passed one on: it is subscribed."""
    deadline = time.monotonic() + timeout
    k = 0
    while not arrived.is_set():
        assert time.monotonic() < deadline, "the watch never passed a probe on"
        subject, data, headers = subject_data_headers(k)
        await nc.publish(subject, data, headers=headers)
        await nc.flush()
        k += 1
        try:
            await asyncio.wait_for(arrived.wait(), 0.2)
        except asyncio.TimeoutError:
            pass


def test_watch_shows_what_the_node_signed_and_refuses_unsigned_forged_altered_moved_and_stale(nats_url, names):
    import nats

    from accord.feeds.watch import watch

    node, rogue = Identity.generate("JPN"), Identity.generate("JPN")
    track_subject = warning_subject(names.prefix, "JPN", "warning.track")
    got, errors = [], []
    subscribed, stop = asyncio.Event(), asyncio.Event()
    last = _track(999)

    def take(item) -> None:
        got.append(item.id)
        subscribed.set()
        if item.id == last.id:
            stop.set()

    def signed(item, subject=track_subject, key=node, now=None):
        data, headers = signed_message(key, subject, item, now or datetime.now(UTC))
        return subject, data, headers

    async def go():
        task = asyncio.create_task(watch(nats_url, "JPN", take, key=node.public_b64, prefix=names.prefix,
                                         stop=stop, on_error=errors.append))
        nc = await nats.connect(nats_url)
        await _publish_until(nc, lambda k: signed(_track(k)), subscribed)
        probes = len(got)
        unsigned = _track(100)
        forged = _track(101)                     # signed by a key that is not the node's
        altered_item = _track(102)               # signed, then its body changed in transit
        subject, data, headers = signed(altered_item)
        altered = (subject, data.replace(b'"t":102', b'"t":7'), headers)
        moved = signed(_track(103), warning_subject(names.prefix, "JPN", "warning.alert"))   # signed for alerts
        moved = (track_subject, moved[1], moved[2])
        stale = signed(_track(104), now=datetime.now(UTC) - timedelta(minutes=30))          # a recording
        other_prefix = signed(_track(105), warning_subject(names.prefix + "x", "JPN", "warning.track"))
        other_prefix = (track_subject, other_prefix[1], other_prefix[2])
        for subject, data, headers in ((track_subject, unsigned.canonical(), {"Nats-Msg-Id": unsigned.id}),
                                       signed(forged, key=rogue), altered, moved, stale, other_prefix,
                                       signed(last)):
            await nc.publish(subject, data, headers=headers)
        await nc.flush()
        n = await asyncio.wait_for(task, 30)
        await nc.close()
        return n, probes

    n, probes = asyncio.run(go())
    assert n == len(got) == probes + 1 and got[-1] == last.id
    assert not any(f"T{k}" in i for i in got for k in range(100, 106))
    assert len(errors) == 6, errors
    unsigned_e, forged_e, altered_e, moved_e, stale_e, prefix_e = errors
    assert f"refused: not signed (no {SIGNATURE} header)" in unsigned_e
    for e in (forged_e, altered_e, moved_e, prefix_e):
        assert "refused: signature does not verify under JPN's key SHA256:" in e, e
    assert "before this watch's clock, more than 600 s: a recorded message played again" in stale_e
    assert all(e.startswith(track_subject + ": ") and "\n" not in e for e in errors)


def test_without_a_key_the_watch_refuses_every_message(nats_url, names):
    import nats

    from accord.feeds.watch import watch

    node = Identity.generate("JPN")
    subject = warning_subject(names.prefix, "JPN", "warning.track")
    got, errors = [], []
    refused, stop = asyncio.Event(), asyncio.Event()

    def on_error(line: str) -> None:
        errors.append(line)
        refused.set()
        stop.set()

    async def go():
        task = asyncio.create_task(watch(nats_url, "JPN", got.append, prefix=names.prefix, stop=stop,
                                         on_error=on_error))
        nc = await nats.connect(nats_url)

        def probe(k):
            data, headers = signed_message(node, subject, _track(k), datetime.now(UTC))
            return subject, data, headers

        await _publish_until(nc, probe, refused)
        await asyncio.wait_for(task, 30)
        await nc.close()

    asyncio.run(go())
    assert got == [] and errors and "refused: no key of JPN's node to verify it against" in errors[0]


def test_a_signed_item_of_another_party_or_a_signed_non_item_is_not_shown():
    from accord.feeds.signed import EventRefused, verified

    node = Identity.generate("JPN")
    subject = warning_subject("accord", "JPN", "warning.track")
    kor = _track(1, "KOR")
    data, headers = signed_message(node, subject, kor, datetime.now(UTC))
    with pytest.raises(EventRefused, match="is KOR's, not JPN's"):
        verified(subject, data, headers, prefix="accord", party="JPN", key=node.public_key, now=datetime.now(UTC))
    jpn = _track(2)
    data, headers = signed_message(node, subject, jpn, datetime.now(UTC))
    assert verified(subject, data, headers, prefix="accord", party="JPN", key=node.public_key,
                    now=datetime.now(UTC)) == jpn
    with pytest.raises(EventRefused, match="ahead of this watch's clock"):
        verified(subject, data, headers, prefix="accord", party="JPN", key=node.public_key,
                 now=datetime.now(UTC) - timedelta(minutes=5))
    with pytest.raises(EventRefused, match="signature does not verify"):
        verified(subject, data, {**headers, SIGNATURE: "not base64!"}, prefix="accord", party="JPN",
                 key=node.public_key, now=datetime.now(UTC))


def test_the_watch_command_takes_the_key_from_the_node_directory_and_prints_only_signed_events(tmp_path, nats_url,
                                                                                             names):
    import nats

    with Node.init(tmp_path / "jpn", "JPN") as node:
        identity = node.identity
    rogue = Identity.generate("JPN")
    subject = warning_subject(names.prefix, "JPN", "warning.track")
    watch = subprocess.Popen([sys.executable, "-m", "accord", "warning", "watch", "--nats", nats_url,
                              "--dir", str(tmp_path / "jpn"), "--prefix", names.prefix, "--count", "2", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sent, forged = [], []

    async def go():   # a forged item, then a signed one, until the watch has printed two
        nc = await nats.connect(nats_url)
        deadline = time.monotonic() + 60
        while watch.poll() is None and time.monotonic() < deadline:
            bad, good = _track(1000 + len(sent)), _track(len(sent))
            forged.append(bad.id)
            sent.append(good.id)
            for key, item in ((rogue, bad), (identity, good)):
                data, headers = signed_message(key, subject, item, datetime.now(UTC))
                await nc.publish(subject, data, headers=headers)
            await nc.flush()
            await asyncio.sleep(0.3)   # pacing only: the loop ends when the watch has exited
        await nc.close()

    try:
        asyncio.run(go())
        out, err = watch.communicate(timeout=60)
    finally:
        watch.kill() if watch.poll() is None else None
    assert watch.returncode == 0, err
    shown = [json.loads(line)["id"] for line in out.splitlines()]
    assert len(shown) == 2 and set(shown) <= set(sent) and not set(shown) & set(forged)
    refusals = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert refusals and all("refused: signature does not verify under JPN's key" in ln for ln in refusals), err


def test_the_watch_command_without_a_key_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "accord", "warning", "watch", "--nats", "nats://127.0.0.1:1",
                        "--party", "JPN"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "give the node's public key: --key" in lines[0], r.stderr
    r = subprocess.run([sys.executable, "-m", "accord", "warning", "watch", "--nats", "nats://127.0.0.1:1",
                        "--party", "JPN", "--key", "bm90IGEga2V5"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "32 bytes" in r.stderr, r.stderr
