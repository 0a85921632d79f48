"""Unit tests: API tokens, RFC 9421 request signatures, backoff, TLS pinning."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from accord.core.identity import Identity
from accord.errors import AuthError, InputError, VerificationError
from accord.federation.backoff import backoff_delay
from accord.federation.httpsig import sign_request, verify_request
from accord.federation.tokens import authenticate_token, create_token, list_tokens, revoke_token
from accord.store.sqlite import connect

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_token_is_stored_only_as_its_hash_and_authenticates(tmp_path):
    conn = connect(tmp_path / "t.db")
    secret = create_token(conn, "alice", "JPN", {"items:read", "share"})
    dump = "\n".join(conn.iterdump())
    assert secret not in dump and secret[4:] not in dump
    p = authenticate_token(conn, secret)
    assert (p.name, p.party, p.scopes) == ("alice", "JPN", frozenset({"items:read", "share"}))
    assert p.has("share") and not p.has("status")
    with pytest.raises(AuthError) as e:
        authenticate_token(conn, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert secret not in str(e.value)
    revoke_token(conn, "alice")
    with pytest.raises(AuthError, match="revoked"):
        authenticate_token(conn, secret)
    assert [t.name for t in list_tokens(conn)] == ["alice"] and list_tokens(conn)[0].revoked


def test_token_input_is_checked(tmp_path):
    conn = connect(tmp_path / "t.db")
    with pytest.raises(InputError, match="party"):
        create_token(conn, "bob", "japan", {"admin"})
    with pytest.raises(InputError, match="scope"):
        create_token(conn, "bob", "JPN", set())
    create_token(conn, "bob", "JPN", {"admin"})
    with pytest.raises(InputError, match="already exists"):
        create_token(conn, "bob", "JPN", {"admin"})


def _signed(identity, body=b'{"envelopes":[]}', when=NOW, path="/federation/v1/envelopes"):
    return sign_request(identity, "POST", path, "", body, when, "JPN"), body


def _verify(h, b, keys, when=NOW, path="/federation/v1/envelopes", recipient="JPN"):
    return verify_request(h, "POST", path, "", b, keys, when, recipient=recipient)


def test_request_signature_verifies_and_names_the_party():
    kor = Identity.generate("KOR")
    headers, body = _signed(kor)
    lower = {k.lower(): v for k, v in headers.items()}
    assert _verify(lower, body, {"KOR": kor.public_key}) == "KOR"


@pytest.mark.parametrize("tamper, message", [
    (lambda h, b: (h, b + b" "), "Content-Digest sha-256 of the request from KOR does not match"),
    (lambda h, b: ({**h, "content-digest": "sha-256=:AAAA:"}, b"x"), "does not verify"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "signature"}, b), r"not signed \(RFC 9421\): missing Signature$"),
    (lambda h, b: ({**h, "signature-input": h["signature-input"].replace('"@query" ', "")}, b), "does not verify"),
    (lambda h, b: ({**h, "accord-recipient": "USA"}, b), "does not verify"),
])
def test_tampered_requests_are_refused(tamper, message):
    kor = Identity.generate("KOR")
    headers, body = _signed(kor)
    h, b = tamper({k.lower(): v for k, v in headers.items()}, body)
    with pytest.raises(AuthError, match=message):
        _verify(h, b, {"KOR": kor.public_key})


def test_other_path_old_request_and_unpinned_key_are_refused():
    kor = Identity.generate("KOR")
    keys = {"KOR": kor.public_key}
    h, b = _signed(kor)
    h = {k.lower(): v for k, v in h.items()}
    with pytest.raises(AuthError, match="signature"):
        _verify(h, b, keys, path="/federation/v1/other")
    with pytest.raises(AuthError, match="clock"):
        _verify(h, b, keys, when=NOW + timedelta(minutes=10))
    with pytest.raises(AuthError, match="not a pinned partner|no signature by a pinned partner key"):
        _verify(h, b, {"USA": kor.public_key})
    with pytest.raises(AuthError, match="signature"):
        _verify(h, b, {"KOR": Identity.generate("KOR").public_key})
    with pytest.raises(AuthError, match=r"addressed to JPN, not to this node \(USA\)"):
        _verify(h, b, keys, recipient="USA")


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    rng = random.Random(7)
    assert backoff_delay(0) == 0
    for n in range(1, 12):
        ceiling = min(5.0, 0.05 * 2 ** n)
        samples = [backoff_delay(n, rng=rng) for _ in range(50)]
        assert all(ceiling / 10 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 40  # jittered, not a fixed schedule
    assert backoff_delay(1000, rng=rng) <= 5.0


def test_tls_certificate_pin_checks_the_fingerprint(tmp_path):
    from accord.api.tls import cert_fingerprint, make_self_signed, pin_partner_cert

    fp = make_self_signed(tmp_path / "kor", "KOR")
    cert = tmp_path / "kor" / "tls" / "cert.pem"
    assert fp == cert_fingerprint(cert.read_bytes()) and fp.startswith("SHA256:")
    assert oct((tmp_path / "kor" / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(VerificationError, match="fingerprint"):
        pin_partner_cert(tmp_path / "jpn", "KOR", cert, "SHA256:" + "0" * 64)
    assert pin_partner_cert(tmp_path / "jpn", "KOR", cert, fp) == fp
    assert (tmp_path / "jpn" / "tls" / "partners" / "KOR.pem").read_bytes() == cert.read_bytes()


def test_outbox_envelope_bytes_equal_the_core_canonical_form(tmp_path):
    from accord.core.envelopes import Envelope, seal
    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.federation.wire import seal_envelope

    class FakeNode:
        identity = Identity.generate("JPN")

    bodies = [{}, {"timestamp": "x", "z": [{"timestamp": 1}]}, {"ñ": "\u2028\"\\", "n": 2**52, "f": 1.5e-7}]
    for body in bodies:
        item = new_item("test.note", body, Marking.parse("UNCLASSIFIED"), "JPN", NOW)
        got = seal_envelope(FakeNode, item, "KOR", 7, NOW)
        assert got == seal(item, "KOR", 7, FakeNode.identity, NOW).to_bytes()
        assert Envelope.from_bytes(got).item == item.to_json()
