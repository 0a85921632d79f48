"""``accord node serve --log-format json`` in a real process: a partner taken down and brought back
gives exactly one "unreachable" and one "recovered" line, refused requests are logged, and no
token, key or signature appears anywhere in the log."""

from __future__ import annotations

import base64
import json

import httpx
from cryptography.hazmat.primitives import serialization

from accord.api.deps import create_token
from accord.federation import share
from federation_harness import NodeProcess, free_port, make_nodes, note, received, wait_for


def _lines(dir) -> list[dict]:
    return [json.loads(line) for line in (dir / "serve.log").read_text().splitlines() if line.startswith("{")]


def test_serve_logs_an_outage_once_each_way_and_never_a_secret(tmp_path):
    ports = {"JPN": free_port(), "KOR": free_port()}
    nodes = make_nodes(tmp_path, ("JPN", "KOR"), ports=ports)
    jpn, kor = nodes["JPN"], nodes["KOR"]
    token = create_token(jpn.conn, "ops", "JPN", {"status"})
    kor_token = create_token(jpn.conn, "kor-ops", "KOR", {"status"})  # of another party
    for i in range(3):
        share(jpn, note(jpn, i), "KOR")
    signatures = [json.loads(bytes(r[0]))["signature"] for r in jpn.conn.execute("SELECT envelope FROM fed_outbox")]
    private = jpn.identity.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                     serialization.NoEncryption())
    pem = (jpn.dir / "node.key").read_text().splitlines()[1]
    for n in nodes.values():
        n.close()

    server = NodeProcess(jpn.dir, ports["JPN"], args=["--log-format", "json"]).start()
    partner = NodeProcess(kor.dir, ports["KOR"])
    try:
        assert wait_for(lambda: any(line.get("event") == "partner.unreachable" for line in _lines(jpn.dir)), 30)
        url = f"http://127.0.0.1:{ports['JPN']}"
        # refused requests: a token of another party, an unknown token, a forged partner signature
        assert httpx.get(f"{url}/api/v1/status", headers={"Authorization": f"Bearer {kor_token}"}).status_code == 403
        assert httpx.get(f"{url}/api/v1/status", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
        forged = httpx.post(f"{url}/federation/v1/envelopes", content=b'{"envelopes": []}', headers={
            "Signature-Input": 'accord=("@method" "@path" "@query" "content-digest");created=1;keyid="KOR";'
                               'alg="ed25519"',
            "Signature": f"accord=:{signatures[0]}:", "Content-Digest": "sha-256=:AAAA:"})
        assert forged.status_code == 401
        partner.start()
        assert wait_for(lambda: len(received(kor.dir, "JPN")) == 3, 60)
        assert wait_for(lambda: any(line.get("event") == "partner.recovered" for line in _lines(jpn.dir)), 30)
    finally:
        server.stop()  # first: KOR going away again would be a second outage (and logged)
        partner.stop()

    lines = _lines(jpn.dir)
    events = [line.get("event") for line in lines]
    assert events.count("partner.unreachable") == 1 and events.count("partner.recovered") == 1, lines
    recovered = next(line for line in lines if line.get("event") == "partner.recovered")
    assert recovered["partner"] == "KOR" and recovered["drained"] == 3 and recovered["outage_s"] > 0
    assert "recovered after" in recovered["message"] and "unreachable" in recovered["message"]
    auth = [line for line in lines if line.get("event") == "auth.failed"]
    assert {line["api"] for line in auth} == {"user", "partner"} and len(auth) == 3
    assert all(line["level"] == "warning" for line in auth)

    log = (jpn.dir / "serve.log").read_text()
    for secret in [token, kor_token, pem, base64.b64encode(private).decode(), private.hex(), *signatures]:
        assert secret not in log
