"""Helpers for the intel tests: a node (the real :class:`accord.node.Node` when present), its
TAXII API served by uvicorn on a free 127.0.0.1 port in a thread, and API tokens."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from accord.clock import SystemClock
from accord.federation.tokens import create_token
from accord.store.sqlite import connect


class StubNode:
    """What the TAXII router needs of a node (party, conn, clock) when accord.node is absent."""

    def __init__(self, directory: Path, party: str) -> None:
        self.dir = directory
        self.party = party
        self.conn = connect(directory / "accord.db")
        self.clock = SystemClock()


def make_node(directory: Path, party: str = "JPN") -> Any:
    directory.mkdir(parents=True, exist_ok=True)
    try:
        from accord.node import Node
    except ImportError:
        Node = None
    if Node is not None and hasattr(Node, "init"):
        if (directory / "node.yaml").exists():
            return Node.open(directory)
        return Node.init(directory, party=party)
    return StubNode(directory, party)


def reopen_node(node: Any) -> Any:
    if isinstance(node, StubNode):
        node.conn.close()
        return StubNode(node.dir, node.party)
    from accord.node import Node

    node.conn.close()
    return Node.open(node.dir)


def build_app(node: Any, **kwargs: Any) -> FastAPI:
    """The node's app: federation's ``create_app`` when it includes our router, else a bare app."""
    from accord.api.taxii import make_router

    if not kwargs:
        try:
            from accord.api.app import create_app

            app = create_app(node)
            if "accord.api.taxii" in getattr(app.state, "optional_routers", []):
                return app
        except Exception:  # noqa: BLE001 - the stub node cannot host the full app
            pass
    app = FastAPI()
    app.state.node = node
    app.include_router(make_router(node, **kwargs))
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1:<free port> in a thread; yield the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def token(node: Any, name: str, party: str, scopes: list[str]) -> str:
    return create_token(node.conn, name, party, scopes)

