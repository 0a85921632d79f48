"""A scan in the feed's own form is decoded at C speed (``_plain_scan``): the same scan, bit for
bit, or the same refusal as the general one-value-at-a-time path, and the fast path is taken."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.errors import InputError
from accord.feeds import scans as scans_mod
from accord.feeds.scans import Scan, _plain_scan, parse_scan, radar_subject, scans_of
from accord.warning.io import read_detections

SUBJ = "accord.JPN.radar.JPN-TPY1"


def general(data: bytes, subject: str) -> Scan | str:
    """parse_scan with the fast path switched off: the scan, or the refusal's text."""
    saved = scans_mod._plain_scan
    scans_mod._plain_scan = lambda data, subject: None
    try:
        return parse_scan(data, subject)
    except InputError as exc:
        return str(exc)
    finally:
        scans_mod._plain_scan = saved


def same(a: Scan | str, b: Scan | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return (a.t == b.t and np.signbit(a.t) == np.signbit(b.t) and a.sensor == b.sensor
            and a.plots.shape == b.plots.shape and a.plots.tobytes() == b.plots.tobytes())


def test_the_feeds_own_scans_take_the_fast_path_and_decode_as_before(japan_scenario):
    _, det = read_detections(japan_scenario)
    n = 0
    for scan in scans_of(det):
        data, subject = scan.payload(), radar_subject("accord", "JPN", scan.sensor)
        fast = _plain_scan(data, subject)
        if len(scan.plots):
            assert fast is not None   # the form Scan.payload writes is the fast path's
            n += 1
        assert same(parse_scan(data, subject), general(data, subject))
        assert fast is None or same(fast, general(data, subject))
    assert n > 100


number = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["-0", "-0.0", "0", "0.0", "1e400", "-1e400", "1e-400", "6.283185307179586",
                     "6.2831853071795864769", "1.5707963267948966", "1.57079632679489661923",
                     "3.14159265358979323846264338327950288", "1E5", "1e+5", "01", "1.", ".5", "+1",
                     "true", "false", "null", '"1"', "[]", "{}", "e", "-", "1e", "NaN", "Infinity",
                     "1" + "0" * 400, "-1" + "0" * 400]),
)
plot = st.lists(number, min_size=2, max_size=4).map(lambda v: "[" + ",".join(v) + "]")
message = st.tuples(
    number, st.sampled_from(["JPN-TPY1", "KOR-GP1", "JPN-TPY1\\u0041", ""]),
    st.lists(plot, max_size=4).map(lambda ps: "[" + ",".join(ps) + "]"),
    st.sampled_from(['{{"t":{t},"sensor":"{s}","plots":{p}}}', '{{"t":{t},"sensor":"{s}","plots":{p},"t":1}}',
                     '{{"sensor":"{s}","t":{t},"plots":{p}}}', '{{"t": {t},"sensor":"{s}","plots":{p}}}']),
).map(lambda x: x[3].format(t=x[0], s=x[1], p=x[2]).encode())


@given(message)
def test_any_message_decodes_or_is_refused_as_by_the_general_path(data):
    """Numbers of every kind (negative zero, out of range, more digits than a double holds,
    non-JSON forms), booleans, nulls and strings among the plots, duplicated and reordered
    members: the fast path gives what the general path gives, or leaves the message to it."""
    got: Scan | str
    try:
        got = parse_scan(data, SUBJ)
    except InputError as exc:
        got = str(exc)
    assert same(got, general(data, SUBJ))


@pytest.mark.parametrize("data", [
    b'{"t":-0,"sensor":"JPN-TPY1","plots":[[1e5,1.0,0.1]]}',
    b'{"t":1,"sensor":"JPN-TPY1","plots":[[1e5,1.0,true]]}',
    b'{"t":1,"sensor":"JPN-TPY1","plots":[[1e5,1.0,0.1],[1e5,1.0]]}',
    b'{"t":1,"sensor":"JPN-TPY1","plots":[[[1e5,1.0,0.1]]]}',
    b'{"t":1,"sensor":"JPN-TPY1","plots":[[1e5,7.0,0.1]]}',
    b'{"t":1,"sensor":"KOR-GP1","plots":[[1e5,1.0,0.1]]}',
    b'{"t":1,"sensor":"JPN-TPY1","plots":[[1e400,1.0,0.1]]}',
    b'{"t":1,"sensor":"JPN-TPY1","plots":[]}',
])
def test_what_the_fast_path_leaves_to_the_general_one(data):
    assert _plain_scan(data, SUBJ) is None


@pytest.mark.parametrize("data, words", [
    (b'{"t":1' + b"0" * 400 + b',"sensor":"JPN-TPY1","plots":[[1e5,1.0,0.1]]}', "t must be a finite number"),
    (b'{"t":1,"sensor":"JPN-TPY1","plots":[[1' + b"0" * 400 + b',1.0,0.1]]}', "plot 0: a number beyond a 64-bit"),
    (b'{"t":1,"sensor":"JPN-TPY1","plots":[[1e5,1.0,0.1],[1e5,-1' + b"0" * 400 + b',0.1]]}', "plot 1: a number"),
])
def test_an_integer_beyond_a_double_is_refused_in_one_line(data, words):
    # JSON bounds no integer: float() of one of 400 digits raised OverflowError, which stopped
    # the ingest before its commit, at the same message after every restart
    with pytest.raises(InputError, match=words) as info:
        parse_scan(data, SUBJ)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_quiet_gc_freezes_the_start_up_heap_and_raises_the_thresholds():
    import gc

    from accord.feeds.ingest import GC_THRESHOLDS, quiet_gc

    before = gc.get_threshold()
    try:
        quiet_gc()
        assert gc.get_threshold() == GC_THRESHOLDS and gc.get_freeze_count() > 0
        assert gc.isenabled()   # cycles are still collected
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_refusal_quotes_at_most_a_few_dozen_characters_of_a_huge_sensor_name():
    # the log line of a refused scan quoted the whole sensor name: 500,000 characters a message
    data = b'{"t":1,"sensor":"' + b"A" * 200_000 + b'","plots":[]}'   # under MAX_SCAN_BYTES
    with pytest.raises(InputError, match="sent on the subject of sensor 'JPN-TPY1'") as info:
        parse_scan(data, SUBJ)
    assert len(str(info.value)) < 200
