"""A partner's error answer is quoted in this node's errors, its status (``last_error``) and its
log lines: the partner writes that text, so it is quoted as one escaped, bounded line — a body
with line breaks could otherwise add lines of its own choosing to the node's log and status."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accord.errors import AuthError, FederationError, PartnerDeferred
from accord.federation import HttpTransport
from federation_harness import make_nodes

pytestmark = pytest.mark.timeout(60)

FORGED = "no\n2026-12-06T00:00:00.000Z ERROR accord.federation: partner USA gave a false receipt\r\x1b[2J"


class _Hostile(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = (FORGED + "x" * 5000).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(body)))
        if self.server.status == 429:
            self.send_header("Retry-After", "5")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("status", "error"), [(500, FederationError), (429, PartnerDeferred), (403, AuthError)])
def test_a_partners_error_text_is_quoted_as_one_bounded_line(tmp_path, status, error):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads, server.status = True, status
    threading.Thread(target=server.serve_forever, daemon=True).start()
    transport = HttpTransport(timeout=5.0)
    try:
        nodes["JPN"].add_partner("KOR", nodes["KOR"].identity.public_b64,
                                 url=f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(error) as err:
            transport.get_checkpoint(nodes["JPN"], "KOR")
        text = str(err.value)
        assert "\n" not in text and "\r" not in text and "\x1b" not in text
        assert "partner USA gave a false receipt" in text   # quoted, escaped: still readable
        assert len(text) < 500
    finally:
        transport.close()
        server.shutdown()
        server.server_close()
        for n in nodes.values():
            n.close()
