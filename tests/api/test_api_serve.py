"""``accord node serve`` tells the truth (issue #16, items 4 and 10): it binds before it says
"serving on", refuses ports outside 1–65535, refuses a node directory another process serves
(and takes over a lock a dead one left), and serves plain HTTP off loopback only with
``--insecure``, warned and ledgered."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from accord.api.serve import ServeLock, check_port, record_url
from accord.core.plain_http import is_loopback_host, plain_remote_host
from accord.errors import ConfigError, InputError
from accord.node import Node
from federation_harness import ROOT, NodeProcess, free_port, ledger_events

pytestmark = pytest.mark.timeout(120)


def serve(dir, *args: str) -> subprocess.CompletedProcess:
    """Run ``accord node serve``; every case here must exit on its own (the old code served on)."""
    return subprocess.run([sys.executable, "-m", "accord.cli.main", "node", "serve", "--dir", str(dir), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)


@pytest.fixture
def jpn(tmp_path):
    Node.init(tmp_path / "jpn", "JPN").close()
    return tmp_path / "jpn"


@pytest.mark.parametrize("port", ["99999", "0"])  # the other bounds: test_check_port_bounds
def test_a_port_outside_1_to_65535_is_refused(jpn, port):
    r = serve(jpn, "--port", port)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"port {port} is not a TCP port (1–65535)" in r.stderr and len(r.stderr.splitlines()) == 1
    assert "serving on" not in r.stdout


@pytest.mark.parametrize("size", ["0", "-1"])
def test_a_batch_size_below_1_is_refused(jpn, size):
    """``--batch-size 0`` served on and never delivered anything (the outbox was read with SQL
    ``LIMIT 0``), and ``-1`` read the whole queue (``LIMIT -1``) into one batch."""
    r = serve(jpn, "--port", str(free_port()), "--batch-size", size)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip() == (f"error: field 'batch-size': --batch-size {size}: give 1 or more envelopes per "
                                "delivery POST")
    assert "serving on" not in r.stdout


def test_an_address_in_use_is_an_error_and_never_announced(jpn):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = serve(jpn, "--port", str(port))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert "serving on" not in r.stdout


@pytest.mark.parametrize("case", ["key missing", "key not PEM", "certificate not PEM", "key of another certificate"])
def test_bad_tls_files_are_one_line_naming_the_file_and_never_announced(jpn, tmp_path, case):
    """uvicorn loaded them after the bind and said only `[SSL] PEM lib (_ssl.c:3926)` or `no such
    file or directory`: which file, and what to do, was left to guess."""
    from accord.api.tls import make_self_signed

    make_self_signed(jpn, "JPN", names=["localhost"])
    tls = jpn / "tls"
    if case == "key missing":
        (tls / "key.pem").unlink()
        expected = f"{tls / 'key.pem'}: no such file or directory"
    elif case == "key not PEM":
        (tls / "key.pem").write_text("not a key\n")
        expected = f"{tls / 'key.pem'}: not a PEM private key"
    elif case == "certificate not PEM":
        (tls / "cert.pem").write_text("not a certificate\n")
        expected = f"{tls / 'cert.pem'}: not a PEM certificate"
    else:
        make_self_signed(tmp_path / "other", "KOR", names=["localhost"])
        (tls / "key.pem").write_bytes((tmp_path / "other" / "tls" / "key.pem").read_bytes())
        expected = f"{tls / 'key.pem'} is not the private key of {tls / 'cert.pem'}"
    r = serve(jpn, "--port", str(free_port()), "--tls")
    assert r.returncode == 2, r.stdout + r.stderr
    assert len(r.stderr.splitlines()) == 1 and expected in r.stderr, r.stderr
    assert "accord node tls init" in r.stderr
    assert "serving on" not in r.stdout


KILLED_TLS_INIT = """
import os, signal, sys
import accord.api.tls as tls

def written(*a, **k):
    write(*a, **k)
    if str(a[0]).endswith("key.pem"):
        os.kill(os.getpid(), signal.SIGKILL)   # the key written, the certificate not yet

write, tls.write_private = tls.write_private, written
from accord.cli.main import main
sys.argv = ["accord", "node", "tls", "init", "--dir", sys.argv[1]]
main()
"""


def test_a_tls_init_killed_before_its_certificate_is_run_again(jpn):
    """``kill -9`` (a power cut) of ``node tls init`` between key.pem and cert.pem: the next
    ``tls init`` refused ("a TLS certificate already exists") while ``node serve --tls`` said
    to run it."""
    r = subprocess.run([sys.executable, "-c", KILLED_TLS_INIT, str(jpn)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == -9, r.stderr
    assert (jpn / "tls" / "key.pem").exists() and not (jpn / "tls" / "cert.pem").exists()
    r = serve(jpn, "--port", str(free_port()), "--tls")
    assert r.returncode == 2 and "interrupted" in r.stderr and "run `accord node tls init" in r.stderr, r.stderr
    again = subprocess.run([sys.executable, "-m", "accord.cli.main", "node", "tls", "init", "--dir", str(jpn)],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    from accord.api.tls import check_server_files

    check_server_files(jpn)   # a matching pair
    assert sorted(p.name for p in (jpn / "tls").iterdir()) == ["cert.pem", "key.pem"]


def test_a_tls_init_killed_while_writing_a_file_leaves_nothing_after_the_next(tmp_path):
    """Killed while its temporary file was written (``.key.pem.<pid>.<random>.tmp``): the next
    ``tls init`` removes it with the lone key, however recent, its writer being gone."""
    from accord.api.tls import INIT_MARKER, make_self_signed

    d = tmp_path / "n" / "tls"
    d.mkdir(parents=True)
    (d / INIT_MARKER).write_text("")
    (d / "key.pem").write_text("a key without its certificate")
    (d / f".cert.pem.99999999.{'0' * 16}.tmp").write_text("half a certificate")
    make_self_signed(tmp_path / "n", "JPN")
    assert sorted(p.name for p in d.iterdir()) == ["cert.pem", "key.pem"]


def test_with_json_logs_a_startup_error_is_one_json_line_too(jpn):
    """A log collector reading --log-format json got the one line that says why the server did not
    start as bare text."""
    import json

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = serve(jpn, "--port", str(port), "--log-format", "json")
    assert r.returncode == 2
    (line,) = r.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "critical" and record["event"] == "command.failed" and record["exit_code"] == 2
    assert record["message"] == f"cannot listen on 127.0.0.1:{port}: Address already in use"


def test_one_server_per_node_directory_and_a_dead_servers_lock_is_taken_over(jpn):
    first = NodeProcess(jpn).start()
    try:
        assert (jpn / "serve.lock").read_text() == f"{first.proc.pid}\n"
        r = serve(jpn, "--port", str(free_port()))
        assert r.returncode == 2 and "serving on" not in r.stdout
        assert f"is already served by process {first.proc.pid}" in r.stderr
        dead = first.proc.pid
        first.kill9()  # the lock file still names it
        assert (jpn / "serve.lock").read_text() == f"{dead}\n"
        second = NodeProcess(jpn).start()
        try:
            log = (jpn / "serve.log").read_text()
            assert f"took over {jpn / 'serve.lock'} from process {dead}, which no longer runs" in log
            assert (jpn / "serve.lock").read_text() == f"{second.proc.pid}\n"
        finally:
            second.stop()
        assert (jpn / "serve.lock").read_text() == ""  # a clean stop leaves no PID behind
    finally:
        first.stop()


def test_plain_http_off_loopback_needs_insecure_which_is_warned_and_ledgered(jpn):
    r = serve(jpn, "--host", "0.0.0.0", "--port", str(free_port()))
    assert r.returncode == 2 and "serving on" not in r.stdout
    assert "serving plain HTTP on 0.0.0.0 (not loopback)" in r.stderr and "--insecure" in r.stderr
    assert ledger_events(jpn, "insecure.http") == []
    server = NodeProcess(jpn, args=["--host", "0.0.0.0", "--insecure"]).start()
    port = server.port
    try:
        assert ledger_events(jpn, "insecure.http") == [{"use": "serve", "address": f"http://0.0.0.0:{port}"}]
        log = (jpn / "serve.log").read_text()
        assert f"WARNING accord.api: serving plain HTTP on 0.0.0.0:{port}, not loopback" in log
        assert log.index("WARNING") < log.index(f"serving on http://0.0.0.0:{port}")
        assert (jpn / "serve.url").read_text() == f"http://0.0.0.0:{port}\n"   # for `node token create`
    finally:
        server.stop()


def test_the_insecure_warning_is_a_log_record_json_collectors_can_read(jpn):
    """With --log-format json the warning was a bare `warning: …` line among the JSON ones."""
    import json

    server = NodeProcess(jpn, args=["--host", "0.0.0.0", "--insecure", "--log-format", "json"]).start()
    try:
        lines = (jpn / "serve.log").read_text().splitlines()
    finally:
        server.stop()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    others = [line for line in lines if not line.startswith("{")]
    assert all(line.startswith(("node JPN serving on", "console: ")) for line in others), others  # stdout's
    (warning,) = [r for r in records if r.get("event") == "serve.insecure_http"]
    assert warning["level"] == "warning" and warning["address"] == f"http://0.0.0.0:{server.port}"
    assert warning["message"].startswith(f"serving plain HTTP on 0.0.0.0:{server.port}, not loopback")


def test_serve_lock_in_process(tmp_path):
    with ServeLock(tmp_path) as lock:
        assert lock.taken_over is None
        with pytest.raises(ConfigError, match=f"already served by process {os.getpid()} "):
            ServeLock(tmp_path).acquire()
    (tmp_path / "serve.lock").write_text("4194304\n")  # above Linux's pid_max: no such process
    with ServeLock(tmp_path) as lock:
        assert lock.taken_over == 4194304
    with pytest.raises(ConfigError, match="cannot make the serve lock"):
        ServeLock(tmp_path / "no-such-node").acquire()


def test_joining_servers_leaves_out_what_no_process_can_be(tmp_path):
    """A ``0`` in ``serve.lock`` counted as a live server (``kill(0, 0)`` asks about this
    process's group), and a number past a C int raised OverflowError instead of letting the
    server join."""
    with ServeLock(tmp_path):
        with open(tmp_path / "serve.lock", "a") as fh:
            fh.write("0\n99999999999999999999\n")
        joining = ServeLock(tmp_path, join=True).acquire()
        try:
            assert joining.joined == [os.getpid()]
        finally:
            joining.release()


def test_the_recorded_url_is_0600_and_a_failed_write_leaves_no_temporary_file(tmp_path):
    mask = os.umask(0o022)
    try:
        record_url(tmp_path, "http://127.0.0.1:9123")
    finally:
        os.umask(mask)
    assert (tmp_path / "serve.url").stat().st_mode & 0o777 == 0o600
    (tmp_path / "serve.url").unlink()
    (tmp_path / "serve.url").mkdir()   # what cannot be renamed over
    with pytest.raises(IsADirectoryError):
        record_url(tmp_path, "http://127.0.0.1:9124")
    assert os.listdir(tmp_path) == ["serve.url"]


def test_check_port_bounds():
    assert check_port(1) == 1 and check_port(65535) == 65535
    for bad in (0, 65536, -80):
        with pytest.raises(InputError, match="1–65535"):
            check_port(bad)


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST.", True), ("kor.localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
    ("kor.example", False), ("127.0.0.1.example", False), ("", False)])
def test_is_loopback_host(host, loopback):
    assert is_loopback_host(host) is loopback


def test_plain_remote_host():
    assert plain_remote_host("http://192.0.2.7:8602") == "192.0.2.7"
    assert plain_remote_host("HTTP://kor.example/") == "kor.example"
    for fine in ("https://192.0.2.7:8602", "http://127.0.0.1:8602", "http://[::1]:8602", "http://localhost"):
        assert plain_remote_host(fine) is None
