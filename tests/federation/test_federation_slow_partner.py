"""A partner that answers one byte at a time — each byte well inside the per-read timeout — is
given no more than the transport's overall deadline per request (``REQUEST_DEADLINE``, shrunk
here so the tests stay fast): the request fails as an unreachable partner's does, and the
tree-head checks of the other partners go on.

The slow partner is a real socket server (:class:`Drip`): it reads the request, sends its status
line and headers at once, then its body one byte per ``interval``. It stops when the client
hangs up, and counts the answers it dripped to the end (``whole``): a client that waits for
the whole body gets one after ``length * interval`` seconds, long after the deadline.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from accord.errors import FederationError
from accord.federation import Federation, InProcessNetwork, share_many
from accord.federation import transport as transport_module
from accord.federation.transport import HttpTransport
from federation_harness import make_nodes, note
from loopback import free_port

INTERVAL = 0.05  # seconds between two bytes: far inside the 1 s read timeout below
DEADLINE = 0.5


class Drip:
    """An HTTP server on loopback answering every request with 200, a ``Content-Length`` of
    ``length`` and then its body one byte per ``interval`` seconds."""

    def __init__(self, *, length: int, interval: float = INTERVAL, take: int = 0, step: int = 1) -> None:
        self.length, self.interval, self.step = length, interval, step  # step: bytes sent per interval
        self.take = take  # >0: answered at once ("{}"), then the request's body read this many bytes per interval
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.answered = 0  # requests whose answer was started
        self.whole = 0  # answers dripped to their last byte
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if self.take:
                with self.lock:
                    self.answered += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                while len(body) < length and not self.stop.wait(self.interval):
                    chunk = conn.recv(self.take)
                    if not chunk:
                        return
                    body += chunk
                return
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            with self.lock:
                self.answered += 1
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % self.length)
                for at in range(0, self.length, self.step):
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(b"x" * min(self.step, self.length - at))
            except OSError:  # the client hung up
                return
            with self.lock:
                self.whole += 1

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def drip_trio(tmp_path, monkeypatch):
    """JPN, KOR and USA's nodes with JPN's URL a :class:`Drip` server dripping a 200-byte answer
    (10 s a request), the transport's deadline shrunk to 0.5 s: ``(nodes, drip)``."""
    monkeypatch.setattr(transport_module, "REQUEST_DEADLINE", DEADLINE, raising=False)
    drip = Drip(length=200)
    nodes = make_nodes(tmp_path, ports={"JPN": drip.port, "KOR": free_port(), "USA": free_port()})
    yield nodes, drip
    drip.close()
    for n in nodes.values():
        n.close()


def test_a_checkpoint_dripped_past_the_deadline_is_an_unreachable_partner(drip_trio):
    nodes, drip = drip_trio
    transport = HttpTransport(timeout=1.0)
    try:
        with pytest.raises(FederationError, match=f"JPN at .* unreachable: no whole answer within {DEADLINE:g} s"):
            transport.get_checkpoint(nodes["KOR"], "JPN")
    finally:
        transport.close()
    assert drip.answered == 1 and drip.whole == 0


def test_tree_heads_dripped_past_the_deadline_are_an_unreachable_partner(drip_trio):
    nodes, drip = drip_trio
    transport = HttpTransport(timeout=1.0)
    try:
        with pytest.raises(FederationError, match="unreachable: no whole answer"):
            transport.get_heads(nodes["KOR"], "JPN")
    finally:
        transport.close()
    assert drip.whole == 0


def test_a_batch_whose_acknowledgement_is_dripped_stays_queued(drip_trio):
    """The delivery path: the batch's answer is given up at the deadline, as an unreachable
    partner's, and the envelope stays queued for the next try."""
    nodes, drip = drip_trio
    kor = nodes["KOR"]
    share_many(kor, [note(kor, 1)], "JPN")
    transport = HttpTransport(timeout=1.0)
    fed = Federation(kor, transport)
    try:
        with pytest.raises(FederationError, match="unreachable: no whole answer"):
            fed.deliver_once("JPN")
    finally:
        transport.close()
    assert drip.whole == 0
    states = kor.conn.execute("SELECT state, COUNT(*) FROM fed_outbox WHERE recipient='JPN' GROUP BY state")
    assert [tuple(r) for r in states.fetchall()] == [("queued", 1)]


class USALocal(HttpTransport):
    """HTTP to every partner but USA, which is reached in process (it has no server here)."""

    def __init__(self, nodes):
        super().__init__(timeout=1.0)
        self.net = InProcessNetwork()
        for n in nodes.values():
            self.net.attach(n)

    def get_checkpoint(self, node, party):
        return self.net.get_checkpoint(node, party) if party == "USA" else super().get_checkpoint(node, party)

    def get_consistency(self, node, party, first, second):
        if party == "USA":
            return self.net.get_consistency(node, party, first, second)
        return super().get_consistency(node, party, first, second)

    def get_heads(self, node, party):
        return self.net.get_heads(node, party) if party == "USA" else super().get_heads(node, party)


def _wait(condition, limit: float = 30.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_dripping_partner_is_reported_unreachable_and_the_others_heads_are_checked(drip_trio, caplog):
    """The running node's head checks: JPN (checked first, in party order) drips; USA's head is
    still checked, and JPN is reported unreachable in the one line of an outage."""
    nodes, drip = drip_trio
    kor = nodes["KOR"]
    transport = USALocal(nodes)
    fed = Federation(kor, transport, head_interval=0.05, poll_interval=0.05)
    caplog.set_level(logging.WARNING, logger="accord.federation")

    def jpn_unreachable():
        return [r for r in caplog.records if getattr(r, "event", None) == "partner.unreachable"
                and getattr(r, "partner", None) == "JPN"]

    def usa_checked():
        row = kor.conn.execute("SELECT head_size FROM fed_partner_state WHERE party='USA'").fetchone()
        return row is not None and row[0] is not None

    fed.start()
    try:
        assert _wait(lambda: usa_checked() and jpn_unreachable())
    finally:
        fed.stop()
        transport.close()
    lines = jpn_unreachable()
    assert len(lines) == 1 and "no whole answer" in lines[0].getMessage()
    assert "\n" not in lines[0].getMessage()
    assert drip.whole == 0


class Watched(USALocal):
    """:class:`USALocal` noting whether USA's checkpoint was fetched while a request to JPN was
    still on its way."""

    def __init__(self, nodes):
        super().__init__(nodes)
        self.jpn_in_flight = threading.Event()
        self.usa_during_jpn = threading.Event()

    def get_checkpoint(self, node, party):
        if party == "USA":
            if self.jpn_in_flight.is_set():
                self.usa_during_jpn.set()
            return super().get_checkpoint(node, party)
        self.jpn_in_flight.set()
        try:
            return super().get_checkpoint(node, party)
        finally:
            self.jpn_in_flight.clear()


def test_one_partner_s_slow_answer_does_not_hold_up_the_others_head_checks(drip_trio, monkeypatch):
    """With a deadline far beyond the drip (JPN's request is on its way for all of its 10 s),
    USA's head is checked meanwhile: each partner's check runs apart from the others'."""
    monkeypatch.setattr(transport_module, "REQUEST_DEADLINE", 60.0, raising=False)
    nodes, drip = drip_trio
    kor = nodes["KOR"]
    transport = Watched(nodes)
    fed = Federation(kor, transport, head_interval=0.05, poll_interval=0.05)
    fed.start()
    try:
        assert _wait(transport.usa_during_jpn.is_set, limit=8.0)
    finally:
        drip.close()  # JPN's answer ends here (cut short), and with it its check
        fed.stop()
        transport.close()
    assert drip.whole == 0
    row = kor.conn.execute("SELECT head_size FROM fed_partner_state WHERE party='USA'").fetchone()
    assert row is not None and row[0] is not None


def test_a_batch_taken_a_little_at_a_time_is_given_up_at_the_deadline(drip_trio, monkeypatch):
    """The request's own body bounded too: a partner that answers at once, then reads an 8 MB
    batch 128 KiB per interval (each of the sender's writes inside the write timeout, the whole
    in about 3 s) has the request cut off at the deadline, as an unreachable partner's."""
    monkeypatch.setattr(transport_module, "REQUEST_DEADLINE", 0.2, raising=False)
    monkeypatch.setattr(transport_module, "SLOWEST_UPLOAD", 10**12, raising=False)  # no allowance for the size
    nodes, drip = drip_trio
    drip.take = 128 * 1024
    transport = HttpTransport(timeout=1.0)
    try:
        with pytest.raises(FederationError, match="JPN at .* unreachable: no whole answer"):
            transport.send(nodes["KOR"], "JPN", [b'{"pad":"' + b"a" * 8_000_000 + b'"}'])
    finally:
        transport.close()


def test_an_answer_past_the_cap_is_refused_not_held(drip_trio, monkeypatch):
    """A partner answering fast but without end: the answer is read up to ``MAX_ANSWER_BYTES``
    (shrunk to 64 KiB here) and refused in one line."""
    monkeypatch.setattr(transport_module, "MAX_ANSWER_BYTES", 64 * 1024, raising=False)
    nodes, drip = drip_trio
    drip.length, drip.interval, drip.step = 1024 * 1024, 0.0, 16 * 1024
    transport = HttpTransport(timeout=1.0)
    try:
        with pytest.raises(FederationError, match=r"JPN's answer to /federation/v1/checkpoint is over 65536 bytes"):
            transport.get_checkpoint(nodes["KOR"], "JPN")
    finally:
        transport.close()


def test_no_head_check_starts_once_stop_has_begun(tmp_path):
    """stop() waits only for the head checks it sees: one started after it began (the heads
    thread past its stop test when stop() was called) would run on with the transport closed
    and the partner's lease given back — none starts."""
    nodes = make_nodes(tmp_path, ports={"JPN": free_port(), "KOR": free_port(), "USA": free_port()})
    kor = nodes["KOR"]
    fed = Federation(kor, InProcessNetwork(), head_interval=0.05)
    started: list[str] = []

    def holds(party):  # stop() is called here, between the heads thread's stop test and its lock
        fed._stop.set()
        return True

    fed.leases.holds = holds
    fed._check_head = started.append
    try:
        fed._run_heads()
        for t in list(fed._checkers.values()):
            t.join(5)
    finally:
        for n in nodes.values():
            n.close()
    assert started == []


def test_a_compressed_answer_is_refused_unread(tmp_path):
    """A partner's API answers uncompressed; one answering in gzip (64 KiB of which decode to
    64 MiB in one piece, past any cap) is refused as a partner fault, one line, never decoded
    (it was decoded twice: the second time raised httpx's DecodingError past the transport)."""
    import gzip

    body = gzip.compress(b"\0" * (20 * 1024 * 1024))
    listener = socket.create_server(("127.0.0.1", 0))
    heard: list[bytes] = []

    def answer():
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            heard.append(data)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
                         + body)

    server = threading.Thread(target=answer, daemon=True)
    server.start()
    nodes = make_nodes(tmp_path, ports={"JPN": listener.getsockname()[1], "KOR": free_port(), "USA": free_port()})
    transport = HttpTransport(timeout=5.0)
    try:
        with pytest.raises(FederationError, match="JPN answered in Content-Encoding 'gzip', not asked for: refused"):
            transport.get_checkpoint(nodes["KOR"], "JPN")
    finally:
        transport.close()
        listener.close()
        for n in nodes.values():
            n.close()
    server.join(10)
    assert b"accept-encoding: identity" in heard[0].lower()


class HeldUntilStopped(InProcessNetwork):
    """JPN's checkpoint request is held until ``go`` is set, then fails as a connection closed
    under it does (stop() closes the transport)."""

    def __init__(self):
        super().__init__()
        self.entered, self.go = threading.Event(), threading.Event()

    def get_checkpoint(self, node, party):
        if party != "JPN":
            return super().get_checkpoint(node, party)
        self.entered.set()
        self.go.wait(30)
        raise FederationError("JPN at http://127.0.0.1 unreachable: ReadError: connection closed")


def test_a_head_check_cut_short_by_stop_reports_no_outage(tmp_path, caplog):
    """A head check still on its way when stop() returns (its request may last the whole
    deadline, past stop()'s timeout) ends when the transport is closed under it: that is the
    service stopping, not the partner unreachable — no warning, nothing read from the node
    (which the caller may have closed by then)."""
    nodes = make_nodes(tmp_path, ports={"JPN": free_port(), "KOR": free_port(), "USA": free_port()})
    kor = nodes["KOR"]
    transport = HeldUntilStopped()
    for n in nodes.values():
        transport.attach(n)
    fed = Federation(kor, transport, head_interval=0.05, poll_interval=0.05)
    fed.start()
    try:
        assert transport.entered.wait(30)
        with fed._lock:
            checker = fed._checkers["JPN"]
        caplog.set_level(logging.DEBUG, logger="accord.federation")
        fed.stop(timeout=0.2)
    finally:
        transport.go.set()
    checker.join(30)
    for n in nodes.values():
        n.close()
    assert not checker.is_alive()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "JPN" in r.getMessage()] == []


def test_a_closed_transport_makes_no_new_connection(drip_trio):
    """A head check still on its way when stop() closed the transport went on to its next
    request: a new client was made for it, never closed, and the partner was asked after the
    service had stopped."""
    nodes, drip = drip_trio
    transport = HttpTransport(timeout=1.0)
    transport.close()
    with pytest.raises(FederationError, match="the transport is closed"):
        transport.get_checkpoint(nodes["KOR"], "JPN")
    assert transport._clients == {} and drip.answered == 0
