"""``accord node serve`` bounds how long an anonymous connection may take to send its head
(60 s), not how many such connections it holds at once. Under the open-files limit a service
gets by default (systemd's ``LimitNOFILE`` soft limit, 1,024), about a thousand connections that
send nothing — reopened each minute — leave the server no descriptor to accept anyone else:
partners, users and ``/health`` time out."""

from __future__ import annotations

import socket

import httpx

from federation_harness import NodeProcess, free_port, make_nodes

IDLE = 1100


def test_idle_anonymous_connections_do_not_lock_everyone_out(tmp_path):
    port = free_port()
    nodes = make_nodes(tmp_path, ("KOR",), ports={"KOR": port})
    nodes["KOR"].close()
    kor = NodeProcess(tmp_path / "KOR", port, wrapper=["prlimit", "--nofile=1024:1024", "--"]).start()
    held: list[socket.socket] = []
    try:
        for _ in range(IDLE):
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                break
        try:
            answered = httpx.get(f"{kor.url}/health", timeout=5).status_code == 200
        except httpx.HTTPError as exc:
            answered = False
            why = f"{type(exc).__name__}: {exc}"
        assert answered, f"/health not answered while {len(held)} anonymous connections sat idle ({why})"
    finally:
        for s in held:
            s.close()
        kor.stop()
