"""How envelopes and tree heads travel between the exercise's nodes.

The runner puts each batch on the simulated network (:mod:`accord.exercise.network`), which
decides in simulated time whether and when it arrives; a :class:`Delivery` then hands what
arrives to the receiving node. :class:`InProcessDelivery` calls the partner's
:func:`accord.federation.receive_batch` directly; :class:`accord.exercise.http.HttpDelivery`
sends it as a signed HTTP request to the partner's own server. The runner is given one and calls
it at these points: ``partner_url`` while pinning partners, ``start`` once the nodes exist,
``receive`` for each batch that arrives, ``heads`` for each tree-head exchange, ``node_down`` /
``node_up`` around a crash, ``close`` at the end.
"""

from __future__ import annotations

from typing import Any, Protocol

from accord.errors import FederationError
from accord.exercise.nodes import World
from accord.federation import receive_batch
from accord.federation.inbox import BatchAck
from accord.federation.treeheads import local_checkpoint, local_consistency
from accord.node.node import Node


class Delivery(Protocol):
    #: how envelopes travel (``metrics.json``'s ``transport``)
    transport: str

    def partner_url(self, party: str) -> str | None: ...
    def start(self, world: World) -> None: ...
    def receive(self, world: World, src: str, dst: str, parsed: list[dict[str, Any]],
                envelopes: list[bytes]) -> BatchAck: ...
    def heads(self, world: World) -> Any: ...
    def node_down(self, party: str) -> None: ...
    def node_up(self, party: str, node: Node) -> None: ...
    def close(self) -> None: ...


class SimHeads:
    """Tree-head exchange between nodes in this process, refused across a partition or to a
    crashed node (the ``transport`` of :func:`accord.federation.treeheads.check_partner_head`)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _peer(self, node: Node, party: str) -> Node:
        st = self.world.states[party]
        if not st.up or st.node is None or not self.world.net.reachable(node.party, party, self.world.t):
            raise FederationError(f"{party} unreachable from {node.party}")
        return st.node

    def get_checkpoint(self, node: Node, party: str) -> str:
        return local_checkpoint(self._peer(node, party))

    def get_consistency(self, node: Node, party: str, first: int, second: int) -> list[str]:
        return local_consistency(self._peer(node, party), first, second)


class InProcessDelivery:
    """Every node in this process: a batch that arrives is handed to the receiver's inbox."""

    transport = "inproc"

    def partner_url(self, party: str) -> str | None:
        return None

    def start(self, world: World) -> None:
        pass

    def receive(self, world: World, src: str, dst: str, parsed: list[dict[str, Any]],
                envelopes: list[bytes]) -> BatchAck:
        node = world.states[dst].node
        assert node is not None  # the runner delivers only to a node that is up
        return receive_batch(node, parsed, sender=src)

    def heads(self, world: World) -> Any:
        return SimHeads(world)

    def node_down(self, party: str) -> None:
        pass

    def node_up(self, party: str, node: Node) -> None:
        pass

    def close(self) -> None:
        pass
