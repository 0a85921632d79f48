"""A partner request that no pinned key verifies is answered 401 with one generic reason: what was
wrong with it named the parties the node pins ("…; pinned: JPN, USA") and, for a keyid the caller
guessed, confirmed the pin and gave its key's fingerprint — to anyone who can reach the port. The
detail goes to the node's log (``auth.failed``) and its refusal records; a caller whose pinned
key verified (a real partner's expired or misaddressed request) is still told what was wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.api.partner import UNVERIFIED_REASON
from accord.federation.httpsig import sign_request
from accord.core.identity import Identity

FORGED = {"Signature-Input": 'sig1=("@method");keyid="nobody";created=1',
          "Signature": "sig1=:AAAA:", "Content-Digest": "sha-256=:AAAA:"}


@pytest.mark.parametrize("headers", [
    FORGED,                                                                   # an unpinned keyid
    {**FORGED, "Signature-Input": 'sig1=("@method");keyid="JPN";created=1'},  # a pinned one, guessed
    {**FORGED, "Signature-Input": 'sig1=("@method");created=1'},              # no keyid
    {},                                                                       # not signed at all
], ids=["unpinned-keyid", "guessed-keyid", "no-keyid", "unsigned"])
def test_an_anonymous_refusal_does_not_name_the_node_s_partners(node_pair, headers, caplog):
    kor = node_pair["KOR"]
    with TestClient(create_app(kor)) as client, caplog.at_level("WARNING", logger="accord"):
        r = client.get("/federation/v1/checkpoint", headers=headers)
    assert r.status_code == 401
    assert r.json()["detail"] == {"error": "unauthenticated", "reason": UNVERIFIED_REASON}
    assert "JPN" not in r.text and "pinned key " not in r.text
    logged = [rec.getMessage() for rec in caplog.records if getattr(rec, "event", "") == "auth.failed"]
    assert len(logged) == 1 and "an unknown key" in logged[0]  # the detail is the operator's


def test_a_forged_signature_under_a_pinned_keyid_is_logged_with_its_detail(node_pair, caplog):
    kor = node_pair["KOR"]
    headers = sign_request(Identity.generate("JPN"), "GET", "/federation/v1/checkpoint", "", b"",
                           kor.clock.now(), "KOR")  # claims JPN, signed by another key
    with TestClient(create_app(kor)) as client, caplog.at_level("WARNING", logger="accord"):
        r = client.get("/federation/v1/checkpoint", headers=headers)
    assert r.status_code == 401 and r.json()["detail"]["reason"] == UNVERIFIED_REASON
    assert any("does not verify under JPN's pinned key" in rec.getMessage() for rec in caplog.records)


def test_a_verified_partner_is_still_told_what_was_wrong(node_pair):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    old = kor.clock.now() - timedelta(hours=1)  # past the 300 s window: JPN's own mistake
    headers = sign_request(jpn.identity, "GET", "/federation/v1/checkpoint", "", b"", old, "KOR")
    with TestClient(create_app(kor)) as client:
        r = client.get("/federation/v1/checkpoint", headers=headers)
    assert r.status_code == 401
    assert "request from JPN was created" in r.json()["detail"]["reason"]
