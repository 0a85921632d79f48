"""The CLI side of the console: a token for a partner's user."""

from __future__ import annotations

from typer.testing import CliRunner

from accord.cli.main import app
from accord.federation.tokens import list_tokens
from accord.node import Node


def test_node_token_create_makes_a_partner_token_for_the_console(tmp_path):
    Node.init(tmp_path / "jpn", "JPN").close()
    r = CliRunner().invoke(app, ["node", "token", "create", "--dir", str(tmp_path / "jpn"), "--name", "kor-liaison",
                                 "--party", "KOR", "--scope", "items:read"])
    assert r.exit_code == 0, r.output
    assert r.output.strip().startswith("acc_")
    node = Node.open(tmp_path / "jpn")
    assert [(t.name, t.party) for t in list_tokens(node.conn)] == [("kor-liaison", "KOR")]
    node.close()
    r = CliRunner().invoke(app, ["node", "token", "create", "--dir", str(tmp_path / "jpn"), "--name", "x",
                                 "--party", "Korea", "--scope", "items:read"])
    assert r.exit_code != 0 and "ISO 3166-1 alpha-3" in str(r.exception)


def test_node_serve_serves_the_console_and_prints_its_url(tmp_path):
    import sys
    import time
    from pathlib import Path

    import httpx

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "federation"))
    from federation_harness import NodeProcess

    Node.init(tmp_path / "jpn", "JPN").close()
    proc = NodeProcess(tmp_path / "jpn").start()
    try:
        r = httpx.get(f"{proc.url}/console/login")
        assert r.status_code == 200 and "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert httpx.get(f"{proc.url}/console/").status_code == 303
        for _ in range(100):  # the line is written when the server has started
            if "console:" in (tmp_path / "jpn" / "serve.log").read_text():
                break
            time.sleep(0.05)
        assert f"console: {proc.url}/console/ (log in with an API token)" in (tmp_path / "jpn" / "serve.log").read_text()
    finally:
        proc.stop()
