"""Plain HTTP only on loopback.

A node's traffic carries bearer API tokens and partners' signed envelopes. Over plain HTTP on
the loopback interface nothing leaves the machine; anywhere else it crosses a network in clear
text. So a partner URL ``http://`` to a non-loopback host, and ``accord node serve`` on a
non-loopback address without TLS, are refused unless the operator passes ``--insecure``: then
Accord prints a warning and appends ``insecure.http`` to the node's ledger (what was accepted,
where), so the exception is on the record that partners can audit.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

#: The ledger event an accepted ``--insecure`` appends.
EVENT = "insecure.http"


def is_loopback_host(host: str) -> bool:
    """``localhost`` (and ``*.localhost``, RFC 6761), ``127.0.0.0/8`` or ``::1``."""
    h = host.strip().strip("[]").rstrip(".").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def plain_remote_host(url: str) -> str | None:
    """The host of ``url`` if it is plain ``http://`` to somewhere other than loopback, else None."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return None
    host = parts.hostname or ""
    return None if is_loopback_host(host) else host or "(no host)"
