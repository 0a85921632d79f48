"""A partner whose name the resolver never answers for fails at the request's deadline, as an
unreachable partner does: the lookup (``getaddrinfo``, which takes no timeout) is bounded by the
transport's overall deadline (``REQUEST_DEADLINE``, shrunk here) like every socket operation.

The resolver is a double that blocks on an event the test sets only at the end; the request runs
in a thread of its own, joined with a generous limit only so that a regression fails instead of
hanging the suite.
"""

from __future__ import annotations

import socket
import threading

import pytest

from accord.errors import FederationError
from accord.federation import transport as transport_module
from accord.federation.transport import HttpTransport
from federation_harness import make_nodes

DEADLINE = 0.3
BLOCKED = "jpn.resolver-hangs.test"


@pytest.fixture
def blocked_resolver(monkeypatch):
    """``socket.getaddrinfo`` that never answers for :data:`BLOCKED` until the test ends:
    ``(asked, release)`` events."""
    asked, release = threading.Event(), threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == BLOCKED:
            asked.set()
            release.wait(60)
            raise socket.gaierror(socket.EAI_AGAIN, "the resolver gave up")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(transport_module, "REQUEST_DEADLINE", DEADLINE, raising=False)
    yield asked, release
    release.set()


def test_a_name_the_resolver_never_answers_for_fails_at_the_deadline(tmp_path, blocked_resolver):
    asked, release = blocked_resolver
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    kor = nodes["KOR"]
    kor.add_partner("JPN", nodes["JPN"].identity.public_b64, url=f"http://{BLOCKED}:8602", insecure=True)
    transport = HttpTransport(timeout=30.0)  # the per-operation timeout far beyond the deadline
    outcome: list[BaseException | str] = []

    def ask() -> None:
        try:
            outcome.append(transport.get_checkpoint(kor, "JPN"))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    asker = threading.Thread(target=ask, daemon=True)
    try:
        asker.start()
        asker.join(20)  # a hang guard only: the request ends at its 0.3 s deadline
        returned = not asker.is_alive()
    finally:
        release.set()
        asker.join(20)
        transport.close()
        for n in nodes.values():
            n.close()
    assert asked.is_set()
    assert returned, "the request waited on the resolver past its deadline"
    assert len(outcome) == 1 and isinstance(outcome[0], FederationError)
    assert f"JPN at http://{BLOCKED}:8602 unreachable: no whole answer within {DEADLINE:g} s" in str(outcome[0])
