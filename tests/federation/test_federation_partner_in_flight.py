"""A partner may have at most MAX_IN_FLIGHT requests in progress at once: one more is answered
429 before its body is read (concurrent 64 MiB bodies from one partner were held without bound),
and once one is answered the partner is served again."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

import accord.api.partner as partner
from accord.api.app import create_app
from accord.federation import treeheads
from accord.federation.httpsig import sign_request
from federation_harness import now_utc


def test_a_partner_past_its_requests_in_progress_is_answered_429(node_pair, monkeypatch):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    monkeypatch.setattr(partner, "MAX_IN_FLIGHT", 1)
    entered, release = threading.Event(), threading.Event()
    real = treeheads.local_checkpoint

    def held_checkpoint(node):
        entered.set()
        assert release.wait(30)
        return real(node)
    monkeypatch.setattr(treeheads, "local_checkpoint", held_checkpoint)

    def signed(method, path, body=b""):
        return sign_request(jpn.identity, method, path, "", body, now_utc(), "KOR")

    with TestClient(create_app(kor)) as client:
        answers = []
        first = threading.Thread(target=lambda: answers.append(
            client.get("/federation/v1/checkpoint", headers=signed("GET", "/federation/v1/checkpoint"))))
        first.start()
        assert entered.wait(30)
        body = b'{"envelopes":[]}'
        r = client.post("/federation/v1/envelopes", content=body,
                        headers=signed("POST", "/federation/v1/envelopes", body))
        assert r.status_code == 429 and r.json()["detail"]["error"] == "too_many"
        release.set()
        first.join(30)
        assert answers[0].status_code == 200
        r = client.post("/federation/v1/envelopes", content=body,
                        headers=signed("POST", "/federation/v1/envelopes", body))
        assert r.status_code == 200
