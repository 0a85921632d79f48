"""A restarted alert process publishes again the alerts its last commit stored (they may not have
gone out before it died) under the ``Nats-Msg-Id`` they first went out with, the item id: a
JetStream stream over the warning subjects stores each alert once, within its duplicate window,
while a plain NATS subscriber receives every repeat (``accord warning watch`` passes each item on
once by its id)."""

from __future__ import annotations

import asyncio
import json
import os
import signal

from feeds_helpers import feed_cmd, ingest_cmd, run

from accord.feeds.alert_proc import AlertProcess
from accord.feeds.ingest import Ingest, IngestOptions
from accord.feeds.state import IngestStore
from accord.node import Node

WINDOW_S = 600.0
"""The warning stream's duplicate window: longer than this test takes from an alert's first
publish to its last repeat, however loaded the machine."""


async def _connect(url: str):
    import nats

    return await nats.connect(url)


async def _warning_stream(url: str, stream: str, subject: str, *, delete: bool = False) -> None:
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    nc = await _connect(url)
    try:
        js = nc.jetstream()
        if delete:
            try:
                await js.delete_stream(stream)
            except NotFoundError:
                pass
        else:
            await js.add_stream(StreamConfig(name=stream, subjects=[subject], storage=StorageType.MEMORY,
                                             duplicate_window=WINDOW_S))
    finally:
        await nc.close()


async def _stream_messages(url: str, stream: str, subject: str) -> list[tuple[str, str]]:
    """(``Nats-Msg-Id``, item id) of each message ``stream`` holds on ``subject``, in order."""
    nc = await _connect(url)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(stream)).state
        out = []
        for seq in range(state.first_seq, state.last_seq + 1):
            m = await js.get_msg(stream, seq)
            if m.subject == subject:
                out.append(((m.headers or {}).get("Nats-Msg-Id"), json.loads(m.data)["id"]))
        return out
    finally:
        await nc.close()


async def _restart_and_listen(url: str, subject: str, ing: Ingest, expected: int) -> tuple[list, int]:
    """Start an alert process for ``ing`` as the ingest does, kill it once it has published
    ``expected`` messages on ``subject``, let the ingest's supervisor start it again, wait for the
    new one's ``expected``, then finish: what a plain subscriber received ((``Nats-Msg-Id``, item
    id) each), and the restarts counted."""
    import nats

    nc = await _connect(url)
    try:
        sub = await nc.subscribe(subject)
        await nc.flush()
        got: list[tuple[str, str]] = []

        async def receive(n: int) -> None:
            for _ in range(n):
                try:
                    msg = await sub.next_msg(timeout=120)
                except nats.errors.TimeoutError:
                    raise AssertionError(f"{len(got)} message(s) on {subject}, {n} more expected") from None
                got.append(((msg.headers or {}).get("Nats-Msg-Id"), json.loads(msg.data)["id"]))

        ap = AlertProcess(ing, restarts=1)
        try:
            await receive(expected)                  # the first child's publish of its last commit
            os.kill(ap.proc.pid, signal.SIGKILL)
            await receive(expected)                  # the restarted child's
        finally:
            await asyncio.to_thread(ap.finish)
        await nc.flush()
        while True:                                  # anything more: the assertions show it
            try:
                msg = await sub.next_msg(timeout=2)
            except nats.errors.TimeoutError:
                break
            got.append(((msg.headers or {}).get("Nats-Msg-Id"), json.loads(msg.data)["id"]))
        return got, ap.restarts
    finally:
        await nc.close()


def test_a_restarted_alert_process_republishes_under_the_same_message_ids_so_a_stream_stores_each_alert_once(
        tmp_path, names, nats_url, japan_scenario):
    Node.init(tmp_path / "jpn", "JPN").close()
    node_dir = tmp_path / "jpn"
    warn_stream, subject = f"{names.stream}_WARN", f"{names.prefix}.JPN.warning.alert"
    asyncio.run(_warning_stream(nats_url, warn_stream, f"{names.prefix}.JPN.warning.>"))
    try:
        r = run(feed_cmd(japan_scenario, nats_url, names))
        assert r.returncode == 0, r.stderr
        r = run(ingest_cmd(node_dir, nats_url, names, japan_scenario, "--alert-process", "--idle-exit", "2"))
        assert r.returncode == 0, r.stderr
        first = asyncio.run(_stream_messages(nats_url, warn_stream, subject))

        opts = IngestOptions(url=nats_url, stream=names.stream, durable=names.consumer, prefix=names.prefix)
        with Node.open(node_dir) as node:
            alerts = sorted(i.id for i in node.items(kind="warning.alert"))
            assert len(alerts) >= 2
            # what a child killed after its commit and before its publish leaves: the commit's
            # alerts (here every alert of the run) to be published again by the next child
            store = IngestStore(node, f"{names.stream}/{names.consumer}")
            state = store.load()
            assert state is not None and store.pending_work() == []
            store.commit_alerts([node.get_item(i) for i in alerts], state.engine or "", state.alert_clock,
                                state.stream_seq)
            assert sorted(store.last_alert_items()) == alerts
            got, restarts = asyncio.run(_restart_and_listen(nats_url, subject, Ingest(node, None, opts),
                                                            len(alerts)))
        after = asyncio.run(_stream_messages(nats_url, warn_stream, subject))
    finally:
        asyncio.run(_warning_stream(nats_url, warn_stream, "", delete=True))

    # the ingest published each alert once, its message id the item id
    assert sorted(first) == [(i, i) for i in alerts]
    # the plain subscriber received every alert twice more, under the same message id: once from
    # the first child, once from the child the supervisor started after the kill
    assert restarts == 1
    assert all(msg_id == item_id for msg_id, item_id in got)
    assert sorted(got) == sorted([(i, i) for i in alerts] * 2)
    # the stream dropped both repeats as duplicates
    assert after == first
