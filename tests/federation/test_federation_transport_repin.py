"""A partner pinned again while the node serves — another URL (``accord node partner add``),
another TLS certificate (``accord node tls pin``) — is reached under its new pin at the next
request: the HTTP client was kept per partner, so the old URL and certificate were used until
a restart while the errors quoted the new URL. The client replaced is closed once no request is
on its way on it, never under one."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accord.api.tls import make_self_signed, pin_partner_cert
from accord.errors import FederationError
from accord.federation import HttpTransport
from federation_harness import make_nodes

pytestmark = pytest.mark.timeout(60)


class Named(ThreadingHTTPServer):
    """A loopback server answering every GET with its name (after ``gate``, when one is set)."""

    daemon_threads = True

    def __init__(self, name: str, tls: tuple[str, str] | None = None, gate: threading.Event | None = None):
        self.name, self.gate, self.started = name, gate, threading.Event()
        super().__init__(("127.0.0.1", 0), _Answer)
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.socket = ctx.wrap_socket(self.socket, server_side=True)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.shutdown()
        self.server_close()


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.started.set()
        if self.server.gate is not None:
            self.server.gate.wait(20)
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def pair(tmp_path):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    yield nodes, tmp_path
    for n in nodes.values():
        n.close()


def _pin(jpn, kor, url):
    jpn.add_partner("KOR", kor.identity.public_b64, url=url)


def test_a_partner_pinned_again_at_another_url_is_reached_there(pair):
    (nodes, _), servers = pair, [Named("old"), Named("new")]
    jpn, kor = nodes["JPN"], nodes["KOR"]
    transport = HttpTransport(timeout=5.0)
    try:
        _pin(jpn, kor, servers[0].url())
        assert transport.get_checkpoint(jpn, "KOR") == "old"
        _pin(jpn, kor, servers[1].url())
        assert transport.get_checkpoint(jpn, "KOR") == "new"
        servers[1].close()
        with pytest.raises(FederationError) as err:  # the URL said is the one asked
            transport.get_checkpoint(jpn, "KOR")
        assert servers[1].url() in str(err.value)
    finally:
        transport.close()
        for s in servers:
            s.close()


def test_a_certificate_pinned_again_is_the_one_checked_at_the_next_request(pair):
    nodes, base = pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    make_self_signed(base / "KOR", "KOR")
    other = make_self_signed(base / "other", "KOR")  # a certificate that is not the server's
    tls = base / "KOR" / "tls"
    server = Named("kor", tls=(str(tls / "cert.pem"), str(tls / "key.pem")))
    transport = HttpTransport(timeout=5.0)
    try:
        _pin(jpn, kor, server.url("https"))
        pin_partner_cert(base / "JPN", "KOR", base / "other" / "tls" / "cert.pem", other)
        with pytest.raises(FederationError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
            transport.get_checkpoint(jpn, "KOR")
        pin_partner_cert(base / "JPN", "KOR", tls / "cert.pem", None)
        assert transport.get_checkpoint(jpn, "KOR") == "kor"
        pin_partner_cert(base / "JPN", "KOR", base / "other" / "tls" / "cert.pem", other)  # and back
        with pytest.raises(FederationError):
            transport.get_checkpoint(jpn, "KOR")
    finally:
        transport.close()
        server.close()


@pytest.fixture
def made(monkeypatch):
    """Every httpx client made in the test, in order."""
    import httpx

    clients: list[httpx.Client] = []

    class Client(httpx.Client):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            clients.append(self)

    monkeypatch.setattr(httpx, "Client", Client)
    return clients


def _asking(transport, jpn) -> tuple[threading.Thread, list[object]]:
    """A thread asking KOR's checkpoint on ``transport``, started, and the list its answer (or
    its error) goes in."""
    answers: list[object] = []

    def ask():
        try:
            answers.append(transport.get_checkpoint(jpn, "KOR"))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            answers.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    return thread, answers


def test_the_client_replaced_is_closed_once_the_request_on_it_is_over(pair, made):
    """A request on its way on the old client when the partner is pinned again finishes; only
    then is the old client closed (and the new one serves the requests made meanwhile)."""
    nodes, _ = pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    gate = threading.Event()
    slow, new = Named("old", gate=gate), Named("new")
    transport = HttpTransport(timeout=5.0)
    try:
        _pin(jpn, kor, slow.url())
        on_its_way, answers = _asking(transport, jpn)
        assert slow.started.wait(10)
        (old,) = made
        _pin(jpn, kor, new.url())
        assert transport.get_checkpoint(jpn, "KOR") == "new"
        assert not old.is_closed, "closed under the request on its way"
        gate.set()
        on_its_way.join(10)
        assert answers == ["old"]
        assert len(made) == 2 and old.is_closed and not made[1].is_closed
    finally:
        transport.close()
        slow.close()
        new.close()


def test_a_request_does_not_read_the_pinned_certificate_until_it_is_pinned_again(pair, monkeypatch):
    """Each HTTPS request read the pinned certificate's file to notice a re-pin; one ``stat`` of
    it tells as much (``tls pin`` replaces the file), so the file is read only when it changed."""
    from pathlib import Path

    nodes, base = pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    make_self_signed(base / "KOR", "KOR")
    tls = base / "KOR" / "tls"
    server = Named("kor", tls=(str(tls / "cert.pem"), str(tls / "key.pem")))
    pinned = base / "JPN" / "tls" / "partners" / "KOR.pem"
    reads: list[Path] = []
    read_bytes = Path.read_bytes

    def counted(self):
        if self == pinned:
            reads.append(self)
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", counted)
    transport = HttpTransport(timeout=5.0)
    try:
        _pin(jpn, kor, server.url("https"))
        pin_partner_cert(base / "JPN", "KOR", tls / "cert.pem", None)
        for _ in range(5):
            assert transport.get_checkpoint(jpn, "KOR") == "kor"
        assert len(reads) == 1
        pin_partner_cert(base / "JPN", "KOR", tls / "cert.pem", None)   # the same certificate, pinned again
        assert transport.get_checkpoint(jpn, "KOR") == "kor"
        assert len(reads) == 2
        pinned.unlink()                                                  # no certificate pinned any more
        with pytest.raises(FederationError, match="no certificate is pinned"):
            transport.get_checkpoint(jpn, "KOR")
    finally:
        transport.close()
        server.close()


def test_closing_the_transport_closes_a_replaced_client_a_request_is_still_on(pair, made):
    """The service stopping cuts short a request on its way on a client replaced by a re-pin:
    that client is closed then, not left open until its request ends."""
    nodes, _ = pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    gate = threading.Event()
    slow, new = Named("old", gate=gate), Named("new")
    transport = HttpTransport(timeout=5.0)
    on_its_way = None
    try:
        _pin(jpn, kor, slow.url())
        on_its_way, answers = _asking(transport, jpn)
        assert slow.started.wait(10)
        _pin(jpn, kor, new.url())
        assert transport.get_checkpoint(jpn, "KOR") == "new"
        old, current = made
        assert not old.is_closed
        transport.close()
        assert old.is_closed and current.is_closed
        gate.set()
        on_its_way.join(10)
        assert len(answers) == 1 and isinstance(answers[0], Exception)   # cut short: the service stops
    finally:
        transport.close()
        gate.set()
        if on_its_way is not None:
            on_its_way.join(10)
        slow.close()
        new.close()


def test_a_certificate_that_cannot_be_used_leaves_no_closed_client_behind(pair, made):
    """A pinned file that is no certificate fails the request that finds it, and the client it
    would have replaced stays the partner's: closed once its request on its way was over, it
    was still the one given when the file came back as it was (moved away and back: the same
    inode, size and time), and every request failed on a closed client until the next re-pin."""
    import os

    nodes, base = pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    make_self_signed(base / "KOR", "KOR")
    tls = base / "KOR" / "tls"
    gate = threading.Event()
    server = Named("kor", tls=(str(tls / "cert.pem"), str(tls / "key.pem")), gate=gate)
    pinned = base / "JPN" / "tls" / "partners" / "KOR.pem"
    transport = HttpTransport(timeout=5.0)
    on_its_way = None
    try:
        _pin(jpn, kor, server.url("https"))
        pin_partner_cert(base / "JPN", "KOR", tls / "cert.pem", None)
        on_its_way, answers = _asking(transport, jpn)
        assert server.started.wait(10)
        os.rename(pinned, pinned.with_suffix(".kept"))
        pinned.write_bytes(b"not a certificate\n")
        with pytest.raises(FederationError, match="not a PEM certificate"):
            transport.get_checkpoint(jpn, "KOR")
        gate.set()
        on_its_way.join(10)
        assert answers == ["kor"]
        os.replace(pinned.with_suffix(".kept"), pinned)
        assert transport.get_checkpoint(jpn, "KOR") == "kor"
        assert not made[-1].is_closed
    finally:
        transport.close()
        gate.set()
        if on_its_way is not None:
            on_its_way.join(10)
        server.close()


def test_a_certificate_written_over_in_place_with_its_time_kept_is_still_noticed(pair):
    """The pin's stamp was its file's inode, size and modification time: a certificate of the same
    length written over it in place with the old time set back (``cp -p``, an unpacked archive, a
    deployment tool's fixed times) changed none of them, and the node went on trusting the
    certificate it replaced. The status-change time, which no one sets, is in the stamp."""
    import os
    import time

    nodes, base = pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    make_self_signed(base / "KOR", "KOR")
    tls = base / "KOR" / "tls"
    right = (tls / "cert.pem").read_bytes()
    for n in range(40):   # another certificate of the same length (a P-256 signature's varies)
        make_self_signed(base / f"other{n}", "KOR")
        wrong = (base / f"other{n}" / "tls" / "cert.pem").read_bytes()
        if len(wrong) == len(right):
            break
    assert len(wrong) == len(right)
    server = Named("kor", tls=(str(tls / "cert.pem"), str(tls / "key.pem")))
    pinned = base / "JPN" / "tls" / "partners" / "KOR.pem"
    transport = HttpTransport(timeout=5.0)
    try:
        _pin(jpn, kor, server.url("https"))
        pin_partner_cert(base / "JPN", "KOR", tls / "cert.pem", None)
        assert transport.get_checkpoint(jpn, "KOR") == "kor"
        before = os.stat(pinned)
        time.sleep(0.05)                 # past the file system's timestamp granularity
        with open(pinned, "r+b") as f:   # in place: the same inode
            f.write(wrong)
        os.utime(pinned, ns=(before.st_atime_ns, before.st_mtime_ns))
        with pytest.raises(FederationError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
            transport.get_checkpoint(jpn, "KOR")
    finally:
        transport.close()
        server.close()
