"""Helpers for the intel tests: a node (the real :class:`accord.node.Node` when present), its
TAXII API served by uvicorn on a free 127.0.0.1 port in a thread, and API tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from accord.clock import SystemClock
from accord.federation.tokens import create_token
from accord.store.sqlite import connect
from loopback import uvicorn_thread


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


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a loopback socket bound before it starts; yield the
    base URL."""
    with uvicorn_thread(app, name="intel-taxii") as url:
        yield url


def token(node: Any, name: str, party: str, scopes: list[str]) -> str:
    return create_token(node.conn, name, party, scopes)

