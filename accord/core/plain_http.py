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


def partner_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a partner node's base URL, or None: it must be ``http(s)://host[:port]``
    with an optional path — no credentials (``node.yaml`` and the delivery log lines would keep
    them), no query or fragment, no spaces or control characters, a port in 1–65535."""
    if not url.startswith(("http://", "https://")):
        return f"partner URL must start with http:// or https://, got {url!r}"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return f"partner URL {url!r} contains a space or a control character"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", a port that is not a number
        return f"partner URL {url!r} is not a valid URL ({str(exc)[:1].lower()}{str(exc)[1:]})"
    if not parts.hostname:
        return f"partner URL {url!r} names no host"
    if port == 0:
        return f"partner URL {url!r}: port 0 is not a port a server listens on"
    if parts.username is not None or parts.password is not None:
        return (f"partner URL {parts.scheme}://…@{parts.netloc.rpartition('@')[2]} carries credentials, which "
                "node.yaml and the delivery logs would keep; partners authenticate by signature")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return f"partner URL {url!r} carries a query or fragment; give the node's base URL"
    return None


def plain_remote_host(url: str) -> str | None:
    """The host of ``url`` if it is plain ``http://`` to somewhere other than loopback, else None."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return None
    host = parts.hostname or ""
    return None if is_loopback_host(host) else host or "(no host)"
