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
    asked.calls = 0

    def getaddrinfo(host, *args, **kwargs):
        if host == BLOCKED:
            asked.calls += 1
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


def test_requests_to_a_name_the_resolver_hangs_on_share_one_lookup(tmp_path, blocked_resolver):
    """Each request to a name the resolver hangs on fails at its deadline, but its lookup thread
    waits on: one more thread per request (a partner retried every few seconds, its head
    checked every two) for as long as the resolver hangs — without end for one that never gives
    up, until the process could start no thread at all. A request finding a lookup of the same
    name on its way waits for that one."""
    asked, release = blocked_resolver
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    kor = nodes["KOR"]
    kor.add_partner("JPN", nodes["JPN"].identity.public_b64, url=f"http://{BLOCKED}:8602", insecure=True)
    transport = HttpTransport(timeout=30.0)
    try:
        for _ in range(4):
            with pytest.raises(FederationError, match="no whole answer within"):
                transport.get_checkpoint(kor, "JPN")
        lookups = [t for t in threading.enumerate() if t.name.startswith("accord-resolve-")]
        assert asked.calls == 1 and len(lookups) == 1
    finally:
        release.set()
        transport.close()
        for n in nodes.values():
            n.close()
