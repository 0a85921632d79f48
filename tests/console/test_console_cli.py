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
