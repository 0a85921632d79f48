"""Ed25519 through libsodium (the hot path) agrees with OpenSSL (``cryptography``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.identity import Identity, verify_fast

ID = Identity.generate("JPN")
OTHER = Identity.generate("KOR")


@settings(max_examples=200)
@given(st.binary(max_size=2048))
def test_signatures_equal_openssl_and_verify_only_under_the_right_key(message):
    sig = ID.sign(message)
    assert sig == ID.private_key.sign(message)  # RFC 8032 signatures are deterministic
    ID.public_key.verify(sig, message)  # OpenSSL accepts libsodium's signature
    assert verify_fast(ID.public_key, sig, message)
    assert not verify_fast(OTHER.public_key, sig, message)


@given(st.binary(min_size=1, max_size=256), st.integers(0, 63), st.integers(1, 255))
def test_any_altered_byte_fails(message, where, flip):
    sig = bytearray(ID.sign(message))
    sig[where] ^= flip
    assert not verify_fast(ID.public_key, bytes(sig), message)
    msg = bytearray(message)
    msg[where % len(msg)] ^= flip
    assert not verify_fast(ID.public_key, ID.sign(message), bytes(msg))


def test_wrong_length_signature_is_just_invalid():
    assert not verify_fast(ID.public_key, b"\x00" * 63, b"m")
    assert not verify_fast(ID.public_key, b"", b"m")
