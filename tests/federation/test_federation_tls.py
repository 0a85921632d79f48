"""TLS between nodes: the receiver serves HTTPS with its self-signed certificate; the sender
delivers only if that exact certificate is pinned."""

from __future__ import annotations

import shutil

import pytest

from accord.api.tls import make_self_signed, pin_partner_cert
from accord.federation import Federation, HttpTransport, share
from federation_harness import NodeProcess, free_port, make_nodes, note, received

pytestmark = pytest.mark.timeout(120)


def test_delivery_over_tls_to_a_pinned_certificate_only(tmp_path):
    port = free_port()
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn, kor = nodes["JPN"], nodes["KOR"]
    jpn.add_partner("KOR", kor.identity.public_b64, url=f"https://127.0.0.1:{port}")
    kor.close()
    fp = make_self_signed(tmp_path / "KOR", "KOR")
    other = make_self_signed(tmp_path / "other", "KOR")  # a certificate that is not KOR's
    pin_partner_cert(tmp_path / "JPN", "KOR", tmp_path / "other" / "tls" / "cert.pem", other)
    server = NodeProcess(tmp_path / "KOR", port, args=["--tls"], scheme="https").start()
    try:
        item = note(jpn, 1)
        share(jpn, item, "KOR")
        fed = Federation(jpn, HttpTransport())
        err = fed.sync("KOR", heads=False)["KOR"]
        assert err is not None and "certificate" in err.lower()
        assert received(tmp_path / "KOR", "JPN") == []
        fed.stop()
        shutil.rmtree(tmp_path / "JPN" / "tls" / "partners")
        pin_partner_cert(tmp_path / "JPN", "KOR", tmp_path / "KOR" / "tls" / "cert.pem", fp)
        fed = Federation(jpn, HttpTransport())
        assert fed.sync("KOR")["KOR"] is None
        assert [i for _, i in received(tmp_path / "KOR", "JPN")] == [item.id]
        fed.stop()
    finally:
        server.stop()
        jpn.close()
