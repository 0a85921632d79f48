"""Partner requests signed by another RFC 9421 implementation (http-message-signatures 3.0).

A partner that does not run Accord signs its requests with its own library and layout: another
label, extra or reordered components, ``expires``/``nonce``, no ``alg``, a gateway's signature
beside its own, a sha-512 Content-Digest. Accord must accept every valid one that covers what it
needs, and refuse the rest saying what is wrong — and a request addressed to one node must not
be accepted by another (issue #16.5).
"""

from __future__ import annotations

import base64
import re
import string
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from http_message_signatures import (ContentDigest, HTTPMessageSigner, HTTPMessageVerifier,
                                     MappingKeyResolver, algorithms)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.api.app import create_app
from accord.api.partner import UNVERIFIED_REASON
from accord.core.canonical import canonical_json
from accord.core.envelopes import seal
from accord.core.identity import Identity
from accord.errors import RequestSignatureError
from accord.federation.httpsig import (COMPONENTS, content_digest, sign_request, signature_base,
                                       verify_content_digest, verify_request)
from accord.federation.transport import batch_body
from federation_harness import ledger_events, make_nodes, note

PATH = "/federation/v1/envelopes"
BODY = b'{"envelopes":[]}'
REQUIRED = ("@method", "@path", "@query", "content-digest", "accord-recipient")


class Sha512Digest(ContentDigest):
    algorithm = "sha-512"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    nodes = make_nodes(tmp_path_factory.mktemp("httpsig"), ("JPN", "KOR", "USA"))
    yield nodes
    for n in nodes.values():
        n.close()


@pytest.fixture(scope="module")
def clients(nodes):
    with TestClient(create_app(nodes["KOR"])) as kor, TestClient(create_app(nodes["USA"])) as usa:
        yield {"KOR": kor, "USA": usa}


def hms_request(key, key_id: str, *, to: str = "KOR", body: bytes = BODY, method: str = "POST",
                url: str = "http://testserver" + PATH, components=REQUIRED, label: str = "sig1",
                algorithm=algorithms.ED25519, digest=ContentDigest, created: datetime | None = None,
                **sign_args) -> httpx.Request:
    """A request from a non-Accord partner: built with httpx, signed by http-message-signatures."""
    req = httpx.Request(method, url, content=body,
                        headers={"Accord-Recipient": to, "Content-Type": "application/json"})
    sign(req, key, key_id, components=components, label=label, algorithm=algorithm, digest=digest,
         created=created, body=body, **sign_args)
    return req


def sign(req: httpx.Request, key, key_id: str, *, components, label: str, algorithm=algorithms.ED25519,
         digest=ContentDigest, created: datetime | None = None, body: bytes | None = None, **sign_args) -> None:
    signer = HTTPMessageSigner(signature_algorithm=algorithm,
                               key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: key}))
    signer.content_digest_class = digest
    signer.sign(req, key_id=key_id, label=label, covered_component_ids=components, body=body,
                created=created or datetime.now(UTC), **sign_args)


def post(client: TestClient, req: httpx.Request) -> httpx.Response:
    return client.request(req.method, req.url.raw_path.decode(), content=req.content,
                          headers=list(req.headers.multi_items()))


@pytest.fixture
def recorded(monkeypatch):
    """The reasons of the refusals the node records (and logs), in order: a caller that no pinned
    key verified is answered :data:`UNVERIFIED_REASON`, the detail is the operator's."""
    from accord.federation import refusals

    reasons: list[str] = []
    admit = refusals.admit_request_rejection

    def spy(node, signer, reason):
        reasons.append(reason)
        return admit(node, signer, reason)

    monkeypatch.setattr(refusals, "admit_request_rejection", spy)
    return reasons


def refusal(r: httpx.Response, recorded: list[str]) -> str:
    """What a 401 says was wrong: its reason, or, where the caller was not verified (and so told
    only :data:`UNVERIFIED_REASON`), what the node recorded."""
    assert r.status_code == 401 and r.json()["detail"]["error"] == "unauthenticated"
    reason = r.json()["detail"]["reason"]
    return recorded[-1] if reason == UNVERIFIED_REASON else reason


def gateway_signs(req: httpx.Request, *, body: bytes = BODY) -> None:
    """A gateway on the partner's side adds its own signature (its key is nobody's pinned key)."""
    sign(req, ec.generate_private_key(ec.SECP256R1()), "gw-tokyo-1", label="gw",
         algorithm=algorithms.ECDSA_P256_SHA256, components=("@method", "@authority", "@target-uri"),
         append_if_signature_exists=True, use_existing_digest=True, body=body)


def _later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


ACCEPTED = {
    "another label": dict(label="partner-jpn"),
    "components in another order": dict(components=("accord-recipient", "content-digest", "@query",
                                                    "@path", "@method")),
    "an extra component (content-type)": dict(components=REQUIRED + ("content-type",)),
    "expires and nonce": lambda: dict(expires=_later(2), nonce="b7c1e0f29a"),
    "no alg": dict(include_alg=False),
    "a sha-512 Content-Digest (RFC 9530)": dict(digest=Sha512Digest),
    "the defaults' @authority and @target-uri as well": dict(components=("@method", "@authority",
                                                                         "@target-uri") + REQUIRED[1:]),
    "a tag": dict(tag="accord-partner"),
}


@pytest.mark.parametrize("form", ACCEPTED, ids=list(ACCEPTED))
def test_a_partner_signing_with_another_library_is_accepted(nodes, clients, form):
    args = ACCEPTED[form]
    req = hms_request(nodes["JPN"].identity.private_key, "JPN", **(args() if callable(args) else args))
    r = post(clients["KOR"], req)
    assert r.status_code == 200, r.text
    assert r.json()["sender"] == "JPN"


@pytest.mark.parametrize("gateway_first", [False, True], ids=["gateway-after", "gateway-before"])
def test_a_signature_beside_a_gateways_is_picked_by_key_not_label_or_position(nodes, clients, gateway_first):
    jpn_key = nodes["JPN"].identity.private_key
    if gateway_first:
        req = httpx.Request("POST", "http://testserver" + PATH, content=BODY,
                            headers={"Accord-Recipient": "KOR", "Content-Type": "application/json"})
        req.headers["Content-Digest"] = ContentDigest.create(BODY)
        gateway_signs(req)
        sign(req, jpn_key, "JPN", label="sig1", components=REQUIRED, append_if_signature_exists=True,
             use_existing_digest=True, body=BODY)
        assert req.headers["signature-input"].startswith("gw=")
    else:
        req = hms_request(jpn_key, "JPN")
        gateway_signs(req)
    assert post(clients["KOR"], req).status_code == 200


def test_signatures_on_separate_header_lines_are_combined(nodes, clients):
    """A gateway may add its signature on a header line of its own (RFC 9110 §5.3 combines them)."""
    req = hms_request(nodes["JPN"].identity.private_key, "JPN")
    gateway = hms_request(Identity.generate("JPN").private_key, "gw-1", label="gw")
    lines = [(k, v) for k, v in req.headers.multi_items()]
    lines += [("signature-input", gateway.headers["signature-input"]), ("signature", gateway.headers["signature"])]
    r = clients["KOR"].post(PATH, content=BODY, headers=lines)
    assert r.status_code == 200, r.text


def test_a_whole_delivery_signed_by_another_library_is_stored(nodes, clients):
    """Not just an empty batch: a real envelope from JPN, in a request JPN signed its own way."""
    jpn = nodes["JPN"]
    item = note(jpn, 1)
    seq = nodes["KOR"].conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM fed_inbox WHERE originator='JPN'").fetchone()[0]
    body = batch_body([canonical_json(seal(item, "KOR", seq, jpn.identity, jpn.clock.now()).to_json())])
    req = hms_request(jpn.identity.private_key, "JPN", body=body, label="jpn", include_alg=False,
                      digest=Sha512Digest, components=("content-type",) + REQUIRED[::-1], nonce="n-1")
    r = post(clients["KOR"], req)
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["receipts"]] == ["stored"]
    assert nodes["KOR"].get_item(item.id).body == {"n": 1}


REFUSED = {
    "expired": (lambda: dict(expires=_later(-1)), "request from JPN expired at"),
    "created outside the window": (lambda: dict(created=_later(-10)), "created 6[0-9][0-9] s ago by this node's clock"),
    "does not cover @query": (dict(components=("@method", "@path", "content-digest", "accord-recipient")),
                              "does not cover @query"),
    "does not cover the recipient": (dict(components=REQUIRED[:4]), "does not cover accord-recipient"),
    "addressed to another node": (dict(to="USA"), r"addressed to USA, not to this node \(KOR\)"),
    "a component with parameters": (dict(components=('"content-digest";sf',) + REQUIRED[:3] + REQUIRED[4:]),
                                    'covers "content-digest";sf: Accord accepts components without parameters'),
    "a derived component with parameters": (dict(components=REQUIRED + ('"@query-param";name="a"',),
                                              url="http://testserver" + PATH + "?a=1"),
                                         "without parameters"),
}


@pytest.mark.parametrize("form", REFUSED, ids=list(REFUSED))
def test_invalid_partner_requests_are_refused_saying_what_is_wrong(nodes, clients, form, recorded):
    args, message = REFUSED[form]
    req = hms_request(nodes["JPN"].identity.private_key, "JPN", **(args() if callable(args) else args))
    r = post(clients["KOR"], req)
    assert re.search(message, refusal(r, recorded)), refusal(r, recorded)


def test_a_sha512_digest_of_another_body_is_refused_as_such(nodes, clients):
    req = hms_request(nodes["JPN"].identity.private_key, "JPN", digest=Sha512Digest)
    r = clients["KOR"].post(PATH, content=b'{"envelopes": []}', headers=list(req.headers.multi_items()))
    assert r.status_code == 401
    assert "Content-Digest sha-512 of the request from JPN does not match its body" in r.json()["detail"]["reason"]


def test_another_algorithm_under_a_pinned_keyid_is_refused_naming_the_algorithm(nodes, clients, recorded):
    req = hms_request(ec.generate_private_key(ec.SECP256R1()), "JPN", algorithm=algorithms.ECDSA_P256_SHA256)
    r = post(clients["KOR"], req)
    assert r.json()["detail"]["reason"] == UNVERIFIED_REASON  # the pin is not confirmed to the caller
    assert 'declares alg "ecdsa-p256-sha256", but JPN\'s pinned key is Ed25519' in refusal(r, recorded)


def test_a_forged_request_is_recorded_as_from_an_unknown_key_not_the_keyid_it_claims(nodes, clients, recorded):
    kor = nodes["KOR"]
    before = len(ledger_events(kor.dir, "item.rejected"))
    req = hms_request(Identity.generate("JPN").private_key, "JPN")  # claims JPN, signed by another key
    r = post(clients["KOR"], req)
    assert "does not verify under JPN's pinned key" in refusal(r, recorded)
    assert "JPN" not in r.json()["detail"]["reason"]
    events = ledger_events(kor.dir, "item.rejected")[before:]
    assert [(e["from"], e["signer"]) for e in events] == [(None, "unknown key")]
    row = kor.conn.execute("SELECT sender, reason FROM fed_rejections ORDER BY id DESC LIMIT 1").fetchone()
    assert row[0] is None and "does not verify" in row[1]
    # an unpinned keyid likewise, and the message lists what was offered
    r = post(clients["KOR"], hms_request(Identity.generate("XXX").private_key, "XXX", label="x"))
    assert 'no signature by a pinned partner key: "x" (keyid "XXX")' in refusal(r, recorded)
    assert ledger_events(kor.dir, "item.rejected")[-1]["from"] is None


def test_a_captured_request_replayed_to_another_node_is_refused(nodes, clients):
    """Issue #16.5: JPN's request to KOR, captured and replayed to USA inside the window."""
    jpn, usa = nodes["JPN"], nodes["USA"]
    headers = sign_request(jpn.identity, "POST", PATH, "", BODY, jpn.clock.now(), "KOR")
    assert clients["KOR"].post(PATH, content=BODY, headers=headers).status_code == 200
    before = len(ledger_events(usa.dir, "item.rejected"))
    r = clients["USA"].post(PATH, content=BODY, headers=headers)
    assert r.status_code == 401
    assert r.json()["detail"]["reason"] == "request from JPN is addressed to KOR, not to this node (USA)"
    # the signature was JPN's own: the refusal is recorded under JPN
    assert [e["from"] for e in ledger_events(usa.dir, "item.rejected")[before:]] == ["JPN"]


def test_accord_requests_verify_under_the_other_library():
    """Accord's own signing output, checked by http-message-signatures (components and digest)."""
    jpn = Identity.generate("JPN")
    now = datetime.now(UTC)
    for method, path, query, body in (("POST", PATH, "", BODY), ("GET", "/federation/v1/consistency",
                                                                  "first=1&second=2", b"")):
        headers = sign_request(jpn, method, path, query, body, now, "KOR")
        req = httpx.Request(method, "http://kor.example" + path + ("?" + query if query else ""), headers=headers)
        verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=MappingKeyResolver(
            public_keys={"JPN": jpn.public_key}, private_keys={}))
        [result] = verifier.verify(req, require_components=REQUIRED, body=body)
        assert result.label == "accord" and result.parameters["keyid"] == "JPN"


# --- properties -----------------------------------------------------------------------------
KEY_CHARS = string.ascii_lowercase + string.digits + "_-.*"
EXTRAS = ("content-type", "@authority", "@target-uri", "@scheme", "@request-target")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(label=st.text(KEY_CHARS, min_size=0, max_size=12).map(lambda s: "a" + s),
       order=st.permutations(REQUIRED), extras=st.lists(st.sampled_from(EXTRAS), unique=True),
       include_alg=st.booleans(), nonce=st.none() | st.text(string.ascii_letters + string.digits, max_size=20),
       expires=st.none() | st.integers(1, 3600), digest=st.sampled_from([ContentDigest, Sha512Digest]),
       gateway=st.sampled_from(["none", "after"]), body=st.binary(max_size=200))
def test_any_valid_layout_covering_the_required_components_verifies(label, order, extras, include_alg, nonce,
                                                                    expires, digest, gateway, body):
    jpn = _PROPERTY_KEYS["JPN"]
    now = datetime.now(UTC)
    req = hms_request(jpn.private_key, "JPN", body=body, label=label, components=tuple(order) + tuple(extras),
                      include_alg=include_alg, nonce=nonce, digest=digest, created=now,
                      expires=now + timedelta(seconds=expires) if expires else None)
    if gateway == "after":
        gateway_signs(req, body=body)
    party = verify_request(req.headers, "POST", PATH, "", body, {"JPN": jpn.public_key, "USA": _PROPERTY_KEYS["USA"].public_key},
                           now, recipient="KOR", authority="testserver", scheme="http")
    assert party == "JPN"


_PROPERTY_KEYS = {p: Identity.generate(p) for p in ("JPN", "USA")}
_VALID = sign_request(_PROPERTY_KEYS["JPN"], "POST", PATH, "", BODY, datetime(2026, 6, 1, tzinfo=UTC), "KOR")
BOUNDARY_VALUES = ["", " ", ",", "=", "a=", "a=(", "a=()", 'a=("@method"', "a=:", "a=:!!:", "a=?2",
                   "a=1;created=" + "9" * 16, "a=();created=?1", "a=();created=1.5", 'a=();keyid=KOR',
                   'a=();keyid="JPN";alg=ed25519', 'a=();keyid="JPN", a=();keyid="JPN"',
                   'a=(("x"))', 'a=("@method" "@method");keyid="JPN"', "é=1", "a=\u00e9", "a=\u4e16",
                   "a=" + "(" * 5000, "a=" + "x" * 20000, 'a=("' + "z" * 5000 + '");keyid="JPN"',
                   '*=();keyid="JPN";created=1', "a=%\"x\"", "a=@1", "a=1e3",
                   # boundaries: NUL, an integer and a decimal at RFC 8941's 15 digits, 2**63,
                   # 5,000 members, a 20,000-character keyid, a huge byte sequence
                   "\x00", "a=\x00", "a=-999999999999999", "a=999999999999.999", "a=9223372036854775808",
                   ", ".join(f"a{i}=()" for i in range(5000)), 'a=();keyid="' + "J" * 20000 + '"',
                   "a=:" + "A" * 40000 + ":", "sha-256=:" + "A" * 40000 + ":"]


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(["signature-input", "signature", "content-digest", "accord-recipient"]),
       value=st.sampled_from(BOUNDARY_VALUES) | st.text(max_size=80)
       | st.sampled_from(list(_VALID.values())).flatmap(
           lambda v: st.tuples(st.integers(0, len(v)), st.integers(0, 8), st.text(max_size=4)).map(
               lambda t: v[:t[0]] + t[2] + v[t[0] + t[1]:])))
def test_malformed_signature_headers_get_an_accord_error_never_a_crash(field, value):
    _verified_or_refused(field, value)


@pytest.mark.parametrize("field", ["signature-input", "signature", "content-digest", "accord-recipient"])
@pytest.mark.parametrize("value", BOUNDARY_VALUES, ids=range(len(BOUNDARY_VALUES)))
def test_every_boundary_header_value_in_every_field_gets_an_accord_error(field, value):
    """Each boundary value in each field, not only those the random draw happens to pick."""
    _verified_or_refused(field, value)


def _verified_or_refused(field: str, value: str) -> None:
    headers = {k.lower(): v for k, v in _VALID.items()}
    headers[field] = value
    try:
        verify_request(headers, "POST", PATH, "", BODY, {"JPN": _PROPERTY_KEYS["JPN"].public_key},
                       datetime(2026, 6, 1, tzinfo=UTC), recipient="KOR")
    except RequestSignatureError as exc:
        assert "\n" not in str(exc) and str(exc)
        assert exc.signer in (None, "JPN")


@pytest.mark.parametrize("digest, message", [
    ("md5=:AAAA:", "has no sha-256 or sha-512 digest (has: md5)"),
    ("sha-256=1", "sha-256 of the request from JPN is not a byte sequence"),
    ("sha-256=:AAAA:, sha-512=:" + ContentDigest.create(BODY)[9:-1] + ":", "sha-256 of the request from JPN does not match"),
    ("sha-256", "sha-256 of the request from JPN is not a byte sequence"),
    ("sha-256=:not base64:", "not an RFC 8941 dictionary"),
])
def test_content_digest_errors_say_what_is_wrong(digest, message):
    with pytest.raises(RequestSignatureError) as exc:
        verify_content_digest({"content-digest": digest}, BODY, "JPN")
    assert message in str(exc.value) and exc.value.signer == "JPN"


def test_both_supported_digests_are_checked_and_unknown_ones_ignored():
    both = ContentDigest.create(BODY) + ", " + Sha512Digest.create(BODY) + ", unixsum=:AAAA:"
    verify_content_digest({"content-digest": both}, BODY, "JPN")


SIGNED_AT = datetime(2026, 6, 1, tzinfo=UTC)


def _crafted(sig_input: str, signature: str = "sig1=:" + "A" * 86 + "==:", **extra) -> dict[str, str]:
    headers = {k.lower(): v for k, v in _VALID.items()}
    return {**headers, "signature-input": sig_input, "signature": signature, **extra}


@pytest.mark.parametrize("headers, message", [
    (_crafted('sig1=("@method" "Content-Type");keyid="JPN"'), "'Content-Type', which is not a lowercase HTTP field"),
    (_crafted('sig1=("@method" "x-a");keyid="JPN"', **{"x-a": "a\nb"}), 'value contains a line break'),
    (_crafted('sig1=("@method" "x-b");keyid="JPN"'), 'covers the header field "x-b", which the request does not'),
    (_crafted('sig1=("@status");keyid="JPN"'), '"@status", a derived component Accord does not support'),
    (_crafted('sig1=("@authority");keyid="JPN"'), "was not told the request's authority"),
    (_crafted('sig1=();keyid=JPN'), 'no signature by a pinned partner key: "sig1" (keyid JPN is not a quoted string)'),
    (_crafted('sig1=()'), '"sig1" (no keyid); pinned: JPN'),
    (_crafted('sig1=("@method" "@method");keyid="JPN"'), 'covers "@method" twice'),
    (_crafted('sig1=:AAAA:'), '"sig1" (no keyid)'),
    (_crafted('sig1=(1);keyid="JPN"'), "lists 1, not a component name string"),
    (_crafted('sig1=();keyid="JPN";created=1.5'), "created must be an integer, got 1.5"),
    (_crafted('sig1=();keyid="JPN";created=?1'), "created must be an integer, got ?1"),
    (_crafted('sig1=();keyid="JPN";alg="rsa-v1_5-sha256"'), 'declares alg "rsa-v1_5-sha256"'),
    (_crafted('sig1=();keyid="JPN"', "other=:AAAA:"), 'the Signature header has no member of that label'),
    (_crafted('sig1=();keyid="JPN"', "sig1=1"), 'Signature member "sig1" is not a byte sequence'),
    (_crafted('a=();keyid="JPN", a=();keyid="JPN"'), "Signature-Input is not an RFC 8941 dictionary: duplicate key"),
    (_crafted('sig1=();keyid="JPN"'), 'signature "sig1" (keyid "JPN") does not verify under JPN\'s pinned key'),
])
def test_malformed_signatures_are_refused_saying_what_is_wrong(headers, message):
    with pytest.raises(RequestSignatureError) as exc:
        verify_request(headers, "POST", PATH, "", BODY, {"JPN": _PROPERTY_KEYS["JPN"].public_key}, SIGNED_AT,
                       recipient="KOR")
    assert message in str(exc.value)
    assert exc.value.signer is None  # nothing verified: nobody is named


def _accord_signed(params: str) -> dict[str, str]:
    """A request JPN signed over Accord's components with parameters of the test's choosing."""
    digest = content_digest(BODY)
    inner = f'({" ".join(COMPONENTS)}){params}'
    sig = _PROPERTY_KEYS["JPN"].sign(signature_base("POST", PATH, "", digest, "KOR", inner))
    return {"content-digest": digest, "accord-recipient": "KOR", "signature-input": "s=" + inner,
            "signature": "s=:" + base64.b64encode(sig).decode() + ":"}


@pytest.mark.parametrize("params, message", [
    (';keyid="JPN"', 'signature "s" of JPN has no created parameter'),
    (f';keyid="JPN";created={int(SIGNED_AT.timestamp())};foo=1', "parameters RFC 9421 does not define: foo"),
    (f';keyid="JPN";created={int(SIGNED_AT.timestamp()) + 400}', "created 400 s in the future"),
    (f';keyid="JPN";created={int(SIGNED_AT.timestamp())};expires=-999999999999999',
     "expired at -999999999999999 (Unix time)"),
    (f';keyid="JPN";created={int(SIGNED_AT.timestamp())};expires={int(SIGNED_AT.timestamp()) - 1}',
     "expired at 2026-05-31T23:59:59Z (1 s ago)"),
])
def test_authentic_but_unacceptable_signatures_are_refused_under_their_signer(params, message):
    with pytest.raises(RequestSignatureError) as exc:
        verify_request(_accord_signed(params), "POST", PATH, "", BODY, {"JPN": _PROPERTY_KEYS["JPN"].public_key},
                       SIGNED_AT, recipient="KOR")
    assert message in str(exc.value) and exc.value.signer == "JPN"


def test_headers_alone_authenticate_before_the_body_is_read():
    """``body=None``: the signature covers the Content-Digest header, so the signer is known
    before the body is read; the body is then matched against that header."""
    keys = {"JPN": _PROPERTY_KEYS["JPN"].public_key}
    headers = {k.lower(): v for k, v in _VALID.items()}
    assert verify_request(headers, "POST", PATH, "", None, keys, SIGNED_AT, recipient="KOR") == "JPN"
    verify_content_digest(headers, BODY, "JPN")
    with pytest.raises(RequestSignatureError, match="does not match its body") as exc:
        verify_content_digest(headers, BODY + b" ", "JPN")
    assert exc.value.signer == "JPN"
    forged = {**headers, "content-digest": content_digest(b"other")}
    with pytest.raises(RequestSignatureError, match="does not verify"):
        verify_request(forged, "POST", PATH, "", None, keys, SIGNED_AT, recipient="KOR")


def test_an_expired_signature_beside_a_fresh_one_by_the_same_key_does_not_hide_it(nodes, clients):
    jpn_key = nodes["JPN"].identity.private_key
    req = hms_request(jpn_key, "JPN", label="old", expires=_later(-1))
    sign(req, jpn_key, "JPN", label="new", components=REQUIRED, append_if_signature_exists=True,
         use_existing_digest=True, body=BODY)
    assert post(clients["KOR"], req).status_code == 200
    only_old = hms_request(jpn_key, "JPN", label="old", expires=_later(-1))
    gateway_signs(only_old)  # a signature by no pinned key does not change the answer
    r = post(clients["KOR"], only_old)
    assert r.status_code == 401 and "request from JPN expired at" in r.json()["detail"]["reason"]


@settings(max_examples=100, deadline=None)
@given(created=st.none() | st.integers(-10**15 + 1, 10**15 - 1) | st.sampled_from([0, int(SIGNED_AT.timestamp())]),
       expires=st.none() | st.integers(-10**15 + 1, 10**15 - 1),
       nonce=st.none() | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e, exclude_characters='"\\'),
                                 max_size=40))
def test_authentic_signatures_with_any_structured_field_integers_get_an_answer(created, expires, nonce):
    """Past the signature check, every created/expires an RFC 8941 integer can hold (15 digits,
    either sign) is judged with an Accord error, never a crash (datetime cannot hold them all)."""
    params = ';keyid="JPN"' + (f";created={created}" if created is not None else "")
    params += (f";expires={expires}" if expires is not None else "") + (f';nonce="{nonce}"' if nonce is not None else "")
    try:
        party = verify_request(_accord_signed(params), "POST", PATH, "", BODY,
                               {"JPN": _PROPERTY_KEYS["JPN"].public_key}, SIGNED_AT, recipient="KOR")
    except RequestSignatureError as exc:
        assert exc.signer == "JPN" and "\n" not in str(exc)
    else:
        assert party == "JPN" and created is not None and abs(created - SIGNED_AT.timestamp()) <= 300
        assert expires is None or expires >= SIGNED_AT.timestamp()


def test_a_get_with_a_query_signed_by_another_library_is_accepted(nodes, clients):
    size = nodes["KOR"].ledger.size
    url = f"http://testserver/federation/v1/consistency?first=1&second={size}"
    req = hms_request(nodes["JPN"].identity.private_key, "JPN", method="GET", url=url, body=b"")
    r = post(clients["KOR"], req)
    assert r.status_code == 200, r.text
    assert r.json()["second"] == size


def test_a_request_a_node_sent_to_itself_is_named_as_such(nodes, clients, recorded):
    """A partner URL pinned with the node's own port (`partner add --party KOR --url
    http://127.0.0.1:8601` on the node serving 8601): the node delivered to itself and logged
    ``no signature by a pinned partner key: "accord" (keyid "JPN"); pinned: KOR`` several times a
    second, which does not say the request was its own. The refusal says so."""
    kor = nodes["KOR"]
    r = post(clients["KOR"], hms_request(kor.identity.private_key, "KOR", label="accord"))
    assert ('"accord" (keyid "KOR", this node\'s own party: does a partner URL pinned on KOR point back at '
            "this server?)") in refusal(r, recorded)
