"""A bound on each request's head (request line and headers) for ``accord node serve``.

uvicorn parses HTTP/1.1 with httptools when it is installed, and its protocol buffers the
request line and headers without limit: one anonymous connection sending headers for ever made
the node hold as much (200 MiB of headers to ``/health`` grew the process by 211 MiB), before
any authentication could look at the request. :class:`BoundedHead` counts the bytes received
while a request's head is incomplete and, past :data:`MAX_HEAD_BYTES`, answers
``431 Request Header Fields Too Large`` and closes the connection. Without httptools, uvicorn's
h11 protocol applies its own bound (16 KiB).
"""

from __future__ import annotations

from typing import Any

MAX_HEAD_BYTES = 64 * 1024
"""The largest request head read: far above what a browser, a partner's signed request or a
TAXII client sends (a few KiB), and what nginx's default buffers allow in total."""

_REFUSAL = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: 36\r\nconnection: close\r\n\r\nrequest line and headers over 64 KiB")


def http_protocol() -> Any:
    """What ``uvicorn.Config(http=…)`` should get: :class:`BoundedHead` when httptools is
    installed, else ``"h11"`` (bounded by h11 itself)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency of uvicorn[standard]
        return "h11"

    class BoundedHead(HttpToolsProtocol):
        """uvicorn's httptools protocol, refusing a request head over :data:`MAX_HEAD_BYTES`."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.head_bytes: int | None = 0  # bytes received in the current head; None: complete
            self.tail = b""  # the head's last 3 bytes so far (its end may straddle two chunks)

        def data_received(self, data: bytes) -> None:
            if self.head_bytes is not None:
                # only the head counts: a chunk may end it and carry (part of) the body too (a
                # 200 KiB POST read in one chunk with its small head is not refused)
                seen = self.tail + data
                end = seen.find(b"\r\n\r\n")
                size = self.head_bytes + (len(data) if end < 0 else end + 4 - len(self.tail))
                if size > MAX_HEAD_BYTES:
                    self.logger.warning("request head over %d bytes refused (431)", MAX_HEAD_BYTES)
                    self.head_bytes = None
                    self.transport.write(_REFUSAL)
                    self.transport.close()
                    return
                self.head_bytes, self.tail = size, seen[-3:]
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.head_bytes, self.tail = 0, b""

        def on_headers_complete(self) -> None:
            self.head_bytes = None
            super().on_headers_complete()

    return BoundedHead
