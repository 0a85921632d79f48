"""What hostile input costs a node (issue #16 items 1-3): time to Accord's one-line refusal,
beside what the plain parsers it replaced spend on the same input.

    .venv/bin/python bench/hostile_input.py

* YAML "billion laughs": Accord's loader refuses the first anchor; PyYAML's ``safe_load`` builds
  the value and formatting it (what an error message used to do) expands every alias. The
  reference uses 6 levels of nine (531,441 strings), not the 9 of the real bomb (387 million),
  so that it finishes; the ratio for the real one is ~700 times larger again.
* JSON nested 100,000 deep: ``parse_json_strict`` against ``json.loads`` (a ``RecursionError``).
* An anonymous 60 MiB POST to a real server on loopback: seconds to the 401 and how much of the
  body the client had sent by then (the server reads none of it).

Prints times and ratios; asserts nothing about speed (tests check behaviour, this measures it).
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
import yaml

from accord.api.app import create_app
from accord.core.canonical import parse_json_strict
from accord.core.safe_yaml import load_yaml
from accord.errors import InputError
from accord.node import Node


def laughs(levels: int) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(levels - 1):
        name, prev = chr(98 + i), chr(97 + i)
        text += f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
    return text


def timed(fn) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        out = fn()
        what = f"{len(out):,} characters" if isinstance(out, str) else type(out).__name__
    except (InputError, RecursionError) as exc:
        what = f"{type(exc).__name__}: {str(exc)[:60]}"
    return time.perf_counter() - start, what


def yaml_bomb() -> None:
    bomb = laughs(9)
    ours, what = timed(lambda: load_yaml(bomb, source="laughs.yaml"))
    print(f"billion laughs ({len(bomb)} bytes), Accord: {ours * 1e3:.2f} ms -> {what}")
    small = laughs(6)
    ref, what = timed(lambda: str(yaml.safe_load(small)))
    print(f"  PyYAML safe_load + format, 6 levels only: {ref:.2f} s -> {what}; ratio {ref / ours:,.0f}x")


def deep_json() -> None:
    text = "[" * 100_000 + "]" * 100_000
    ours, what = timed(lambda: parse_json_strict(text))
    ref, ref_what = timed(lambda: json.loads(text))
    print(f"JSON nested 100,000 deep, Accord: {ours * 1e3:.2f} ms -> {what}")
    print(f"  json.loads: {ref * 1e3:.2f} ms -> {ref_what}")


def anonymous_post(size: int = 60 * 1024 * 1024) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = Node.init(Path(tmp) / "n", party="JPN")
        server = uvicorn.Server(uvicorn.Config(create_app(node), host="127.0.0.1", port=0,
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        chunk, sent = b"{}," * 21845, 0
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(b"POST /api/v1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {size}\r\n\r\n".encode())
            sock.setblocking(False)
            reply = b""
            while not reply and sent < size:
                try:
                    sent += sock.send(chunk[:size - sent])
                except BlockingIOError:
                    time.sleep(0.001)
                try:
                    reply = sock.recv(4096)
                except BlockingIOError:
                    pass
            sock.settimeout(60)
            reply = reply or sock.recv(4096)
        elapsed = time.perf_counter() - start
        server.should_exit = True
        thread.join(timeout=10)
        node.close()
    status = reply.split(b"\r\n", 1)[0].decode()
    print(f"anonymous {size >> 20} MiB POST /api/v1/items: {status!r} after {elapsed * 1e3:.1f} ms, "
          f"{sent / size:.1%} of the body sent by then")


if __name__ == "__main__":
    yaml_bomb()
    deep_json()
    anonymous_post()
