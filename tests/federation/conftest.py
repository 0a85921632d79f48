"""Fixtures shared by the federation tests (the helpers they use are in federation_harness.py)."""

from __future__ import annotations

import pytest

from federation_harness import federated, make_nodes, networked


@pytest.fixture
def node_pair(tmp_path):
    """JPN's and KOR's nodes (``{"JPN": …, "KOR": …}``, on the real clock), closed afterwards."""
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    yield nodes
    for n in nodes.values():
        n.close()


@pytest.fixture
def fed_pair(tmp_path):
    """JPN's and KOR's nodes on one manual clock, attached to an in-process network, and JPN's
    :class:`Federation` over it: ``(nodes, net, clock, fed)``; the nodes closed afterwards."""
    with federated(tmp_path, ("JPN", "KOR")) as fed:
        yield fed


@pytest.fixture
def net_pair(tmp_path):
    """JPN's and KOR's nodes (on the real clock) attached to an in-process network:
    ``(nodes, net)``; the nodes closed afterwards."""
    with networked(tmp_path, ("JPN", "KOR")) as pair:
        yield pair


@pytest.fixture
def net_trio(tmp_path):
    """JPN's, KOR's and USA's nodes (on the real clock) attached to an in-process network:
    ``(nodes, net)``; the nodes closed afterwards."""
    with networked(tmp_path) as trio:
        yield trio
