"""Partner URLs: plain HTTP only on loopback unless the operator passes --insecure, which is
warned about and ledgered (issue #16, item 4; serving: tests/api/test_api_serve.py)."""

import pytest
import yaml
from typer.testing import CliRunner

from accord.cli.main import app
from accord.errors import FederationError, InputError
from accord.federation import HttpTransport
from accord.node import Node


@pytest.fixture
def pair(tmp_path):
    jpn, kor = Node.init(tmp_path / "jpn", "JPN"), Node.init(tmp_path / "kor", "KOR")
    yield jpn, kor
    jpn.close()
    kor.close()


@pytest.mark.parametrize("url", ["http://192.0.2.7:8602", "http://kor.example", "http://0.0.0.0:8602"])
def test_plain_http_to_another_host_is_refused_and_nothing_changes(pair, url):
    jpn, kor = pair
    before = (jpn.dir / "node.yaml").read_text()
    with pytest.raises(InputError, match="not loopback.*--insecure"):
        jpn.add_partner("KOR", kor.identity.public_b64, url)
    assert (jpn.dir / "node.yaml").read_text() == before and jpn.partners() == {} and jpn.ledger.size == 0


@pytest.mark.parametrize("url,text", [
    ("http://[::1", "not a valid URL (invalid IPv6 URL)"),  # was a ValueError traceback
    ("https://", "names no host"), ("https://:8443", "names no host"),
    ("http://", "names no host"),  # was "plain HTTP to (no host), not loopback"
    ("https://kor.example:99999", "port out of range"), ("https://kor.example:abc", "not a valid URL"),
    ("https://kor.example:0", "port 0"),
    ("https://kor:s3cret@kor.example", "carries credentials"),
    ("https://kor.example/?x=1", "query or fragment"), ("https://kor.example/#f", "query or fragment"),
    ("https://kor example", "space or a control character"), ("http://127.0.0.1:8602\r\nX-A: b", "control character"),
])
def test_malformed_partner_urls_are_refused_in_one_line(pair, url, text):
    jpn, kor = pair
    before = (jpn.dir / "node.yaml").read_text()
    with pytest.raises(InputError, match="field 'url'") as caught:
        jpn.add_partner("KOR", kor.identity.public_b64, url)
    assert text in str(caught.value) and "s3cret" not in str(caught.value)
    assert (jpn.dir / "node.yaml").read_text() == before and jpn.partners() == {} and jpn.ledger.size == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:8602", "http://localhost:8602", "http://[::1]:8602",
                                 "https://192.0.2.7:8602"])
def test_loopback_or_https_needs_no_flag_and_records_no_insecure_http(pair, url):
    jpn, kor = pair
    assert jpn.add_partner("KOR", kor.identity.public_b64, url).insecure is False
    assert [(e.type, e.data["insecure"]) for e in jpn.ledger.entries()] == [("partner.added", False)]  # the pin only
    assert "insecure" not in (jpn.dir / "node.yaml").read_text()


def test_insecure_is_ledgered_kept_in_node_yaml_and_lets_the_transport_send(pair):
    jpn, kor = pair
    p = jpn.add_partner("KOR", kor.identity.public_b64, "http://192.0.2.7:8602", insecure=True)
    assert p.insecure is True
    entry = jpn.ledger.entry(0)
    assert entry.type == "insecure.http" and entry.data == {"use": "partner", "party": "KOR",
                                                             "url": "http://192.0.2.7:8602"}
    assert yaml.safe_load((jpn.dir / "node.yaml").read_text())["partners"]["KOR"]["insecure"] is True
    again = Node.open(jpn.dir)
    assert again.partners()["KOR"].insecure is True
    transport = HttpTransport()
    with transport._client(again, "KOR") as (_, url):  # accepted: a client is made, nothing sent
        assert url == "http://192.0.2.7:8602"
    transport.close()
    again.close()


def test_transport_refuses_a_plain_remote_url_written_into_node_yaml_by_hand(pair):
    jpn, kor = pair
    jpn.add_partner("KOR", kor.identity.public_b64, "http://127.0.0.1:8602")
    cfg = jpn.dir / "node.yaml"
    cfg.write_text(cfg.read_text().replace("http://127.0.0.1:8602", "http://192.0.2.7:8602"))
    edited = Node.open(jpn.dir)
    with pytest.raises(FederationError, match="plain HTTP off loopback.*--insecure"):
        with HttpTransport()._client(edited, "KOR"):
            pass
    edited.close()


def test_cli_partner_add_refuses_then_warns_with_insecure(pair):
    jpn, kor = pair
    runner = CliRunner()
    args = ["node", "partner", "add", "--dir", str(jpn.dir), "--party", "KOR", "--key", kor.identity.public_b64,
            "--url", "http://192.0.2.7:8602"]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "not loopback" in str(refused.exception)
    ok = runner.invoke(app, [*args, "--insecure"])
    assert ok.exit_code == 0, ok.output
    assert "warning: KOR's URL http://192.0.2.7:8602 is plain HTTP off loopback" in ok.stderr
    assert "recorded in the ledger" in ok.stderr and "pinned KOR" in ok.stdout
