"""The example deployment files under deploy/ (docs/deployment.md) name real commands and flags:
each systemd unit parses and `systemd-analyze verify` accepts it; each `accord` command line in
an ExecStart is a real command of the CLI, every option it passes is one of that command's, and
every required option is given; the NATS server configuration passes `nats-server -t`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import typer

from accord.cli.main import app
from accord.node import Node
from loopback import retry_in_use

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))
ACCORD_BIN = "/opt/accord/venv/bin/accord"


def _unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """systemd's INI dialect: sections of (key, value), keys may repeat."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            assert line.endswith("]"), f"{path.name}:{n}: {raw}"
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None and "=" in line, f"{path.name}:{n}: not key=value in a section: {raw}"
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def _env() -> dict[str, str]:
    env = {}
    for line in (DEPLOY / "systemd" / "accord.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    return env


def _accord_lines() -> list[tuple[str, list[str]]]:
    env = _env()
    out = []
    for unit in UNITS:
        sections = _unit(unit)
        unit_env = dict(env)
        for key, value in sections.get("Service", []):
            if key == "Environment":
                k, v = value.split("=", 1)
                unit_env[k] = v
        for key, value in sections.get("Service", []):
            if key in ("ExecStart", "ExecStartPost", "ExecStartPre"):
                argv = shlex.split(re.sub(r"\$\{(\w+)\}", lambda m: unit_env[m.group(1)], value))
                if argv[0] == ACCORD_BIN:
                    out.append((f"{unit.name} {key}", argv[1:]))
    return out


def test_every_unit_parses_with_the_sections_systemd_needs():
    assert {u.name for u in UNITS} >= {"accord-serve.service", "accord-ingest.service", "accord-backup.service",
                                       "accord-backup.timer"}
    for unit in UNITS:
        sections = _unit(unit)
        assert "Unit" in sections, unit.name
        if unit.suffix == ".service":
            keys = dict(sections["Service"])
            assert "ExecStart" in keys and keys.get("EnvironmentFile") == "/etc/accord/accord.env", unit.name
    # every ${VAR} a unit uses is set in the example environment file or the unit itself
    env = _env()
    for unit in UNITS:
        own = {v.split("=", 1)[0] for k, v in _unit(unit).get("Service", []) if k == "Environment"}
        assert set(re.findall(r"\$\{(\w+)\}", unit.read_text())) <= set(env) | own, unit.name


def _check_command(where: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    """``accord ARGV`` names a real command, passes only its options (with values where they
    take one), gives every required option — on its command line, or in ``env`` (the units'
    environment file) through the option's environment variable — and parses (the command is
    not run)."""
    root = typer.main.get_command(app)
    cmd = root  # typer's own (vendored) click: duck-typed, groups have get_command
    words = list(argv)
    while hasattr(cmd, "get_command"):
        assert words, f"{where}: `accord {' '.join(argv)}` names a group, not a command"
        name = words.pop(0)
        sub = cmd.get_command(cmd.context_class(cmd), name)
        assert sub is not None, f"{where}: no command {name!r} in `accord {' '.join(argv)}`"
        cmd = sub
    known = {o: p for p in cmd.params if p.param_type_name == "option" for o in (*p.opts, *p.secondary_opts)}
    positional = [p for p in cmd.params if p.param_type_name == "argument"]
    given = set()
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--"):
            assert positional, f"{where}: unexpected argument {word!r} to `accord {' '.join(argv[:2])}`"
            i += 1
            continue
        opt = known.get(word.split("=", 1)[0])
        assert opt is not None, f"{where}: `accord {' '.join(argv[:2])}` has no option {word}"
        given.add(opt.name)
        if not opt.is_flag and "=" not in word:
            i += 1
            assert i < len(words), f"{where}: {word} needs a value"
        i += 1
    for p in cmd.params:
        names = [p.envvar] if isinstance(p.envvar, str) else list(p.envvar or ())
        if any(n in (env or {}) for n in names):
            given.add(p.name)
    required = {p.name for p in cmd.params if p.required and p.param_type_name == "option"}
    assert required <= given, f"{where}: missing {required - given}"
    with mock.patch.dict(os.environ, env or {}):
        cmd.make_context(cmd.name, list(words), resilient_parsing=False)


def test_every_accord_command_line_in_the_units_is_a_real_command_with_real_options():
    lines = _accord_lines()
    assert {" ".join(a[:2]) for _, a in lines} >= {"node serve", "warning ingest", "ledger verify"}
    env = _env()
    for where, argv in lines:
        _check_command(where, argv, env)
    # the NATS URLs carry the users' passwords: the units take them from the environment file,
    # never on a command line (which any local user reads with ps)
    assert not [a for _, a in lines if "--nats" in a]


def _doc_commands(path: Path) -> list[tuple[str, list[str]]]:
    """Every ``$ accord …`` line (continuations joined) in the code blocks of ``path``."""
    out, in_block, pending, start = [], False, "", 0
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            in_block = not in_block
            continue
        if not in_block:
            continue
        if pending:
            pending += " " + line.strip()
        elif line.startswith("$ "):
            pending, start = line[2:].strip(), n
        if pending and pending.endswith("\\"):
            pending = pending[:-1]
            continue
        if pending:
            argv = shlex.split(pending)
            pending = ""
            if argv[:1] == ["sudo"]:  # sudo [-u USER] accord …
                argv = argv[3:] if argv[1:2] == ["-u"] else argv[1:]
            if argv and argv[0] == "accord":
                out.append((f"{path.name}:{start}", argv[1:]))
    return out


def test_every_accord_command_in_the_deployment_guide_is_real():
    found = _doc_commands(ROOT / "docs" / "deployment.md")
    assert len(found) >= 12
    assert {" ".join(a[:2]) for _, a in found} >= {"node init", "node migrate", "node tls", "node partner",
                                                  "ledger verify", "node status"}
    for where, argv in found:
        _check_command(where, argv)


def test_systemd_analyze_verifies_the_units(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is not installed (scripts/test.sh installs Debian's systemd package)")
    accord = Path(sys.executable).with_name("accord")
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(ACCORD_BIN, str(accord)))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


def _backup_commands(backup: Path, node_parent: Path, database: str) -> list[list[str]]:
    """The backup unit's ExecStart lines, in order, pointed at this machine: the test's
    PostgreSQL database and node directory, ``backup`` for ``${BACKUP}``."""
    sections = _unit(DEPLOY / "systemd" / "accord-backup.service")
    env = {**_env(), **dict(v.split("=", 1) for k, v in sections["Service"] if k == "Environment"),
           "BACKUP": str(backup)}
    out = []
    for key, value in sections["Service"]:
        if key != "ExecStart":
            continue
        argv = shlex.split(re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], value))
        argv = [{"--host=10.10.1.11": "--host=127.0.0.1", "--username=accord": "--username=postgres",
                 "--directory=/srv/accord": f"--directory={node_parent}", "accord_jpn": database}.get(a, a)
                for a in argv]
        out.append(argv)
    return out


def _run_unit(commands: list[list[str]]) -> int:
    """Run the commands as systemd runs a oneshot's ExecStart lines: in order, stopping at the
    first that fails; its exit status (0: all ran)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for argv in commands:
        code = subprocess.run(argv, env=env, capture_output=True, timeout=120).returncode
        if code != 0:
            return code
    return 0


@pytest.fixture
def own_database():
    """A PostgreSQL database of the test's own (pg_dump dumps a whole database), dropped after."""
    import psycopg

    base = os.environ.get("ACCORD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"accord_backup_{os.getpid()}"
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.postgresql
def test_a_backup_run_that_fails_leaves_the_last_good_backup(tmp_path, own_database):
    """The nightly backup wrote in place: a run with the database unreachable (pg_dump opens its
    output before it connects), a full disk or a kill midway emptied the last good dump."""
    database = own_database
    node_parent = tmp_path / "srv"
    (node_parent / "jpn").mkdir(parents=True)
    (node_parent / "jpn" / "node.yaml").write_text("party: JPN\n")
    backup = tmp_path / "backup"
    backup.mkdir()
    assert _run_unit(_backup_commands(backup, node_parent, database)) == 0
    good = {p.name: p.read_bytes() for p in backup.iterdir()}
    assert set(good) == {"accord_jpn.dump", "jpn-dir.tar.gz"} and all(good.values())
    assert _run_unit(_backup_commands(backup, node_parent, "accord_no_such_database")) != 0
    assert {p.name: p.read_bytes() for p in backup.iterdir() if not p.name.endswith(".new")} == good
    subprocess.run(["pg_restore", "--list", "--file=/dev/null", str(backup / "accord_jpn.dump")], check=True)


def test_nginx_accepts_the_proxy_configuration_with_a_node_s_certificate(tmp_path):
    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.fail("nginx is not installed (scripts/test.sh installs Debian's)")
    node = Node.init(tmp_path / "jpn", party="JPN")
    node.close()
    r = subprocess.run([sys.executable, "-m", "accord.cli.main", "node", "tls", "init", "--dir", str(tmp_path / "jpn"),
                        "--name", "api.jpn.example"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    site = (DEPLOY / "nginx" / "accord-jpn.conf").read_text()
    assert site.count("/etc/accord/tls/") == 4  # certificate, key, and the upstream hop's pin (two locations)
    (tmp_path / "site.conf").write_text(site.replace("/etc/accord/tls/", f"{tmp_path / 'jpn' / 'tls'}/"))
    (tmp_path / "nginx.conf").write_text(f"error_log {tmp_path}/error.log;\npid {tmp_path}/nginx.pid;\n"
                                         f"events {{}}\nhttp {{\n include {tmp_path}/site.conf;\n}}\n")
    r = subprocess.run([nginx, "-t", "-e", "stderr", "-c", str(tmp_path / "nginx.conf"), "-p", f"{tmp_path}/"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "test is successful" in r.stderr, r.stderr


def test_the_nats_cluster_configuration_is_valid():
    """With its users (accord-users.conf, included) and their passwords from the service's
    environment; without them the server refuses to start, naming the missing variable."""
    import os

    nats = shutil.which("nats-server")
    if nats is None:
        pytest.fail("nats-server is not installed (scripts/test.sh installs Debian's)")
    conf = str(DEPLOY / "nats" / "nats-server.conf")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_NATS_")}
    users = {f"ACCORD_NATS_{u}_PASSWORD": "x" for u in ("FEED", "INGEST", "SERVE", "WATCH")}
    r = subprocess.run([nats, "-c", conf, "-t"], capture_output=True, text=True, timeout=60, env={**env, **users})
    assert r.returncode == 0 and "is valid" in (r.stdout + r.stderr), r.stdout + r.stderr
    r = subprocess.run([nats, "-c", conf, "-t"], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode != 0 and "ACCORD_NATS_FEED_PASSWORD" in r.stdout + r.stderr


def _wait(check, what: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up in {timeout:.0f} s: {log.read_text()[-2000:]}")


def test_nginx_with_the_deploy_configuration_serves_a_node_from_two_serve_processes(tmp_path):
    """deploy/nginx/accord-jpn.conf for real: nginx (TLS with the node's certificate, the hop to
    each API process TLS again, checked against that certificate) in front of two `accord node
    serve --tls` processes of one node on loopback. Requests through it are answered by both
    processes, and by the other one when one stops."""
    import signal
    import ssl

    import httpx

    from accord.federation.tokens import create_token

    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.fail("nginx is not installed (scripts/test.sh installs Debian's)")
    directory = tmp_path / "jpn"
    node = Node.init(directory, party="JPN")
    secret = create_token(node.conn, "operator", "JPN", ["status"])
    node.close()
    r = subprocess.run([sys.executable, "-m", "accord.cli.main", "node", "tls", "init", "--dir", str(directory),
                        "--name", "api.jpn.example"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    tls = directory / "tls"
    procs: list[subprocess.Popen] = []  # every process started, stopped at the end
    serving: list[subprocess.Popen] = []  # the two API processes that came up
    logs: list = []

    def serve(port: int, extra: list[str]) -> int:
        log = tmp_path / f"serve-{port}.log"
        logs.append(open(log, "wb"))
        proc = subprocess.Popen([sys.executable, "-m", "accord.cli.main", "node", "serve", "--dir", str(directory),
                                 "--port", str(port), "--tls", *extra], cwd=ROOT, stdout=logs[-1],
                                stderr=subprocess.STDOUT)
        procs.append(proc)
        _wait(lambda: httpx.get(f"https://127.0.0.1:{port}/health", verify=False, timeout=1).status_code == 200,
              f"node serve on {port}", proc, log)
        serving.append(proc)
        return port

    def front_proxy(front: int) -> int:
        site = (DEPLOY / "nginx" / "accord-jpn.conf").read_text()
        for old, new in (("listen 443 ssl http2;", f"listen 127.0.0.1:{front} ssl;"),
                         ("server 10.10.1.21:8600", f"server 127.0.0.1:{first}"),
                         ("server 10.10.1.22:8600", f"server 127.0.0.1:{second}"),
                         ("/etc/accord/tls/", f"{tls}/")):
            assert old in site, f"deploy/nginx/accord-jpn.conf no longer has {old!r}: update this test"
            site = site.replace(old, new)
        (tmp_path / "site.conf").write_text(site)
        temp = "".join(f" {kind}_temp_path {tmp_path}/{kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (tmp_path / "nginx.conf").write_text(
            f"user root;\nerror_log {tmp_path}/error.log;\npid {tmp_path}/nginx.pid;\nevents {{}}\n"
            f"http {{\n access_log {tmp_path}/access.log;\n{temp} include {tmp_path}/site.conf;\n}}\n")
        (tmp_path / "error.log").write_text("")  # this start's errors only
        proxy = subprocess.Popen([nginx, "-e", f"{tmp_path}/error.log", "-c", str(tmp_path / "nginx.conf"),
                                  "-p", f"{tmp_path}/", "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        procs.append(proxy)
        _wait(lambda: httpx.get(f"https://127.0.0.1:{front}/health", verify=False, timeout=1).status_code == 200,
              "nginx", proxy, tmp_path / "error.log")
        return front

    try:
        # each server on a free port, started again on another if that one was taken meanwhile;
        # nginx's configuration is written once both API processes have theirs
        first = retry_in_use(lambda port: serve(port, []), what="accord node serve")
        second = retry_in_use(lambda port: serve(port, ["--join"]), what="accord node serve --join")
        front = retry_in_use(front_proxy, what="nginx")
        proxy = procs[-1]
        pinned = ssl.create_default_context(cafile=str(tls / "cert.pem"))  # the node's certificate, pinned
        pinned.check_hostname = False  # its name is api.jpn.example; we reach nginx as 127.0.0.1
        with httpx.Client(base_url=f"https://127.0.0.1:{front}", verify=pinned, timeout=10,
                          headers={"Authorization": f"Bearer {secret}"}) as client:
            _wait(lambda: client.get("/health").status_code == 200, "nginx", proxy, tmp_path / "error.log")
            assert client.get("/health").json()["party"] == "JPN"
            answered = set()
            for _ in range(8):  # round robin over the two upstreams
                r = client.get("/api/v1/status")
                assert r.status_code == 200, r.text
                answered.add(r.json()["server"]["pid"])
            assert answered == {serving[0].pid, serving[1].pid}
            # an anonymous POST announcing 60 MiB, 1 KiB of it sent: the node's 401 comes through
            # at once. With nginx's default request buffering the proxy read the whole body first
            # (up to client_max_body_size, spooled to disk) and nothing came back until it had
            # it: the node's 'authenticate before reading a body' did not hold at the front door.
            raw = socket.create_connection(("127.0.0.1", front), timeout=30)
            with pinned.wrap_socket(raw, server_hostname="api.jpn.example") as tls_sock:
                tls_sock.sendall(b"POST /api/v1/items HTTP/1.1\r\nHost: api.jpn.example\r\n"
                                 b"Content-Type: application/json\r\nContent-Length: 62914560\r\n\r\n"
                                 + b"[" + b"{}," * 341)
                reply = tls_sock.recv(4096)
            assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
            serving[0].send_signal(signal.SIGTERM)  # one API machine goes away: the other answers
            serving[0].wait(30)
            for _ in range(4):
                r = client.get("/api/v1/status")
                assert r.status_code == 200 and r.json()["server"]["pid"] == serving[1].pid, r.text
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for log in logs:
            log.close()
