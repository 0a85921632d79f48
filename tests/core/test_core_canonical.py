"""RFC 8785 canonical JSON and strict parsing."""

import json

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from accord.core.canonical import canonical_json, parse_json_strict
from accord.errors import CanonicalJSONError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text()
    | st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


def test_rfc8785_orders_keys_by_utf16_and_formats_numbers():
    # RFC 8785 §3.2.3 sorts by UTF-16 code units: U+20AC (€) < U+1F600 (😀) though the latter is
    # a larger code point; numbers use ECMAScript formatting (1.0 → 1, 1e21 → 1e+21).
    out = canonical_json({"\U0001F600": 1, "\u20ac": 2, "a": 1.0, "b": 1e21})
    assert out == '{"a":1,"b":1e+21,"€":2,"😀":1}'.encode()
    assert out != json.dumps({"\U0001F600": 1, "\u20ac": 2, "a": 1.0, "b": 1e21}, sort_keys=True,
                             separators=(",", ":"), ensure_ascii=False).encode()


def test_duplicate_keys_are_rejected():
    with pytest.raises(CanonicalJSONError, match="duplicate key 'a'"):
        parse_json_strict('{"a": 1, "b": {"a": 2, "a": 3}}'.replace('"b": {"a": 2, "a": 3}', '"a": 2'))
    with pytest.raises(CanonicalJSONError, match="duplicate key 'x'"):
        parse_json_strict('{"b": {"x": 2, "x": 3}}')


def test_nan_and_malformed_json_are_rejected_with_location():
    with pytest.raises(CanonicalJSONError, match="NaN"):
        parse_json_strict('{"a": NaN}')
    with pytest.raises(CanonicalJSONError, match="line 2"):
        parse_json_strict('{"a":\n}', source="x.json")


@given(json_values)
def test_canonical_round_trip_is_stable(value):
    once = canonical_json(value)
    assert canonical_json(parse_json_strict(once)) == once


def assert_same_as_rfc8785(value):
    """canonical_json gives rfc8785's bytes, or refuses (CanonicalJSONError) what rfc8785 refuses."""
    try:
        expected = rfc8785.dumps(value)
    except Exception:
        with pytest.raises(CanonicalJSONError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@given(json_values)
def test_fast_path_is_byte_identical_to_rfc8785(value):
    assert_same_as_rfc8785(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_is_printed_as_ecmascript_does(x):
    import rfc8785

    try:
        expected = rfc8785.dumps(x)
    except Exception:
        return  # outside I-JSON's exact domain: both raise (covered above)
    assert canonical_json(x) == expected


@given(st.integers(0, 2**64 - 1))
def test_random_bit_patterns_match_rfc8785(bits):
    import struct

    import rfc8785

    x = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if x != x or x in (float("inf"), float("-inf")):
        return
    try:
        expected = rfc8785.dumps({"v": [x, -x]})
    except Exception:
        return
    assert canonical_json({"v": [x, -x]}) == expected


def test_non_bmp_keys_sort_by_utf16_and_tuples_are_arrays():
    import rfc8785

    value = {"\U0001F600": 1, "\uff61": 2, "a": (1.5, 2)}
    assert canonical_json(value) == rfc8785.dumps({"\U0001F600": 1, "\uff61": 2, "a": [1.5, 2]})


def test_sealed_envelope_signing_bytes_equal_canonical_json_of_the_envelope():
    """seal() splices the item's cached canonical bytes; they must be exactly RFC 8785's."""
    from datetime import UTC, datetime

    from hypothesis import given as given_
    from hypothesis import settings

    from accord.core.envelopes import Envelope, seal
    from accord.core.identity import Identity
    from accord.core.items import new_item
    from accord.core.markings import Marking

    ident = Identity.generate("JPN")

    @settings(max_examples=60, deadline=None)
    @given_(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.integers(1, 2**40))
    def check(body, seq):
        item = new_item("test.note", body, Marking.parse("UNCLASSIFIED//REL TO JPN, KOR"), "JPN",
                        datetime(2026, 11, 25, 1, 2, 3, 456789, tzinfo=UTC))
        env = seal(item, "KOR", seq, ident, datetime(2026, 11, 25, 1, 2, 4, 987654, tzinfo=UTC))
        assert env.signing_bytes() == canonical_json(env.unsigned_json())
        again = Envelope.from_bytes(env.to_bytes())
        assert again.signing_bytes() == env.signing_bytes()
        ident.public_key.verify(env.signature, again.signing_bytes())
        from accord.core.envelopes import verify_envelope

        got = verify_envelope(again, recipient="KOR", keys={"JPN": ident.public_key}, last_seq=seq - 1,
                              now=env.timestamp)
        assert got._given is not None and got._given[1] is again.item_bytes  # primed from the signed bytes …
        assert got.canonical() == canonical_json(got.to_json())  # … and exactly RFC 8785's
        assert got.digest() == item.digest()

    check()


# --- the orjson fast path (values without floats) -----------------------------------------
plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(st.characters(codec="utf-8"))  # every code point but lone surrogates
    | st.text(alphabet=st.characters(max_codepoint=0x3F)),  # control characters, quotes, backslash
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=4), children, max_size=4),
    max_leaves=25,
)


@given(plain_values)
def test_plain_values_take_orjson_and_equal_rfc8785(value):
    from accord.core.canonical import plain_json

    want = rfc8785.dumps(value)
    assert canonical_json(value) == want
    # keys at or above U+D800 (UTF-16 order differs from code-point order there) leave the fast path
    if plain_json(value):
        import orjson
        assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == want


def test_keys_beyond_the_bmp_sort_by_utf16_not_code_point():
    value = {"\U0001F600": 1, "\uff61": 2}  # U+1F600 is D83D DE00 in UTF-16: before U+FF61
    assert canonical_json(value) == rfc8785.dumps(value) == '{"😀":1,"｡":2}'.encode()


def test_big_integers_and_lone_surrogates_leave_the_fast_path():
    assert canonical_json({"n": 2**53 - 1}) == b'{"n":9007199254740991}'
    with pytest.raises(CanonicalJSONError):
        canonical_json({"n": 2**53})
    with pytest.raises(CanonicalJSONError):
        canonical_json({"s": "\ud800"})


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=30),
       st.floats(allow_nan=False, allow_infinity=False))
def test_floats_on_every_path_equal_rfc8785(values, one):
    """Non-integral floats in [1e-4, 1e16) take orjson; the rest (integral, tiny, huge, -0.0)
    take the ES6 formatter — both must match rfc8785 byte for byte."""
    for value in ({"v": values, "x": one}, values, [one, "s", 1], {"a": {"b": [one, one * 3.7]}}):
        assert_same_as_rfc8785(value)


def test_float_layout_boundaries():
    for x in (1e-4, 9.999e-5, 0.1, 1.5, 1e15 + 0.5, 9999999999999998.0, 1e16, 1e21, 1.0, -0.0, 5e-324,
              123456789.125, -2.5e-7, 1.7976931348623157e308):
        assert canonical_json([x]) == rfc8785.dumps([x]), x


# --- a second implementation and the RFC's own vectors -------------------------------------------
# jcs is a port of the RFC's reference implementation (cyberphone/json-canonicalization), written
# independently of rfc8785: Accord's bytes must equal both wherever Accord accepts the value.
RFC8785_APPENDIX_B = [  # IEEE 754 bit pattern → ECMAScript number serialisation (RFC 8785 Appendix B)
    ("0000000000000000", "0"), ("8000000000000000", "0"), ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"), ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"), ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"), ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"), ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"), ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"), ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"), ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"), ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"), ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"), ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize("bits, text", RFC8785_APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits, text):
    import struct

    import jcs

    x = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert canonical_json([x]) == jcs.canonicalize([x]) == f"[{text}]".encode()


def assert_same_as_jcs(value):
    import jcs

    try:
        ours = canonical_json(value)
    except CanonicalJSONError:
        return  # outside what Accord signs (big integers, lone surrogates): rfc8785 agrees above
    assert ours == jcs.canonicalize(value)


@given(json_values | plain_values)
def test_canonical_json_equals_a_second_implementation(value):
    assert_same_as_jcs(value)


@given(st.integers(0, 2**64 - 1), st.text(max_size=6))
def test_random_doubles_and_keys_equal_a_second_implementation(bits, key):
    import struct

    x = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if x != x or x in (float("inf"), float("-inf")):
        return
    assert_same_as_jcs({key: [x, -x, x / 3], "\U0001F600" + key: {"\uff61": x}})
