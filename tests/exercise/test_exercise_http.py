"""The HTTP delivery's servers and their ports (accord.exercise.http): a picked port is held
from the moment it is picked, a crashed node's server stops (its port refuses connections) and
its restart serves on the same port again, or says in one line that another process took it."""

from __future__ import annotations

import socket

import httpx
import pytest

from accord.errors import FederationError
from accord.exercise.http import HttpDelivery
from accord.node import Node


def test_a_picked_port_is_held_and_a_crashed_nodes_server_comes_back_on_it(tmp_path):
    node = Node.init(tmp_path / "JPN", party="JPN")
    delivery = HttpDelivery()
    try:
        url = delivery.partner_url("JPN")
        port = delivery.ports["JPN"]
        assert url == f"http://127.0.0.1:{port}"
        with socket.socket() as other, pytest.raises(OSError, match="in use"):  # before the server starts
            other.bind(("127.0.0.1", port))
        delivery.node_up("JPN", node)  # served on the socket bound when the port was picked
        assert httpx.get(url + "/health", timeout=10).json() == {"status": "ok", "party": "JPN"}

        delivery.node_down("JPN")  # a crash: the server stops, nothing listens on its port
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/health", timeout=10)
        delivery.node_up("JPN", node)  # the restart: the same port again
        assert delivery.ports["JPN"] == port
        assert httpx.get(url + "/health", timeout=10).json() == {"status": "ok", "party": "JPN"}
    finally:
        delivery.close()
        node.close()


def test_a_restart_whose_port_was_taken_meanwhile_says_so_in_one_line(tmp_path):
    node = Node.init(tmp_path / "JPN", party="JPN")
    delivery = HttpDelivery()
    try:
        delivery.partner_url("JPN")
        port = delivery.ports["JPN"]
        delivery.node_up("JPN", node)
        delivery.node_down("JPN")
        with socket.socket() as thief:  # another process takes the port while the node is down
            thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            thief.bind(("127.0.0.1", port))
            thief.listen()
            with pytest.raises(FederationError) as caught:
                delivery.node_up("JPN", node)
        assert str(caught.value) == f"the JPN node's server cannot listen on 127.0.0.1:{port}: Address already in use"
        assert "JPN" not in delivery.servers
    finally:
        delivery.close()
        node.close()
