"""An anonymous caller — no key at all, one made-up header — is told in the 401 which parties the
node pins ("…; pinned: JPN, USA") and, for a keyid it guesses, whether that party is pinned and
its key's fingerprint. docs/federation.md warns that ``/heads`` shows a node's partnerships to its
*partners*; this shows them to anyone who can reach the port."""

from __future__ import annotations

from fastapi.testclient import TestClient

from accord.api.app import create_app


def test_an_anonymous_refusal_does_not_name_the_node_s_partners(node_pair):
    kor = node_pair["KOR"]
    forged = {"Signature-Input": 'sig1=("@method");keyid="nobody";created=1',
              "Signature": "sig1=:AAAA:", "Content-Digest": "sha-256=:AAAA:"}
    with TestClient(create_app(kor)) as client:
        r = client.get("/federation/v1/checkpoint", headers=forged)
        guessed = client.get("/federation/v1/checkpoint", headers={**forged, "Signature-Input":
                                                                  'sig1=("@method");keyid="JPN";created=1'})
    assert r.status_code == 401 and guessed.status_code == 401
    assert "JPN" not in r.text, f"an anonymous caller was told: {r.json()['detail']['reason']}"
    assert "pinned key" not in guessed.text, f"a guessed keyid was answered: {guessed.json()['detail']['reason']}"
