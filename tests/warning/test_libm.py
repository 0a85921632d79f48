"""``accord.warning.libm``: numpy's elementary functions with libm's bits on every CPU (what
makes a simulated scenario the same bytes on an AVX-512 CPU, where numpy's own are Intel's SVML,
as on an AVX2 one), and a scenario simulated with numpy's SIMD code for AVX-512 switched off
gives the same bytes as one simulated with it on."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.warning import libm


def _bits(a) -> bytes:
    return np.asarray(a, dtype=float).tobytes()


def _each(fn, *arrays):
    return np.array([fn(*v) for v in zip(*(a.tolist() for a in arrays))], dtype=float)


RNG = np.random.default_rng(2026)
UNIT = RNG.uniform(-1.0, 1.0, 20_000)            # numpy's SVML arcsin/arccos part from libm on ~8 %
WIDE = RNG.uniform(-3.0, 3.0, 20_000)
BIG = RNG.uniform(1e14, 8e18, 20_000)             # the clutter's r³ (cbrt: ~50 % on AVX-512)


def test_each_function_has_libms_bits():
    assert _bits(libm.arcsin(UNIT)) == _bits(_each(math.asin, UNIT))
    assert _bits(libm.arccos(UNIT)) == _bits(_each(math.acos, UNIT))
    assert _bits(libm.arctan2(UNIT, WIDE)) == _bits(_each(math.atan2, UNIT, WIDE))
    assert _bits(libm.cbrt(BIG)) == _bits(_each(math.cbrt, BIG))
    assert _bits(libm.cube(WIDE)) == _bits(_each(lambda v: math.pow(v, 3.0), WIDE))


def test_they_agree_with_numpy_to_a_few_units_in_the_last_place():
    # the same functions, not merely libm's: within 4 ulp of numpy's where numpy's is SIMD code
    # (measured: 1 ulp at most, cbrt 3)
    for got, ref in [(libm.arcsin(UNIT), np.arcsin(UNIT)), (libm.arccos(UNIT), np.arccos(UNIT)),
                     (libm.arctan2(UNIT, WIDE), np.arctan2(UNIT, WIDE)), (libm.cbrt(BIG), np.cbrt(BIG)),
                     (libm.cube(WIDE), WIDE**3)]:
        assert np.all(np.abs(got - ref) <= 4 * np.spacing(np.abs(ref)))


def test_shapes_broadcasting_and_numpys_nan_outside_the_domain():
    assert libm.arcsin(np.zeros((0, 3))).shape == (0, 3)
    assert libm.cube(np.ones((2, 1))).shape == (2, 1)
    assert libm.arctan2(np.ones((3, 1)), np.ones(4)).shape == (3, 4)
    assert libm.arctan2(1.0, -1.0).shape == () and float(libm.arctan2(1.0, -1.0)) == math.atan2(1.0, -1.0)
    out = libm.arccos(np.array([1.5, -1.0000001, np.nan, np.inf, 1.0]))
    assert np.isnan(out[:4]).all() and out[4] == 0.0
    assert np.isnan(libm.arcsin(np.array([2.0]))).all()
    assert libm.cbrt(np.array([-8.0, np.inf]))[0] == -2.0 and libm.cbrt(np.array([np.inf]))[0] == np.inf


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
def test_any_double_gives_numpys_answer_class_and_libms_bits(y, x):
    with np.errstate(all="ignore"):
        for mine, ref, lib in [(libm.arcsin(y), np.arcsin(y), math.asin), (libm.arccos(y), np.arccos(y), math.acos)]:
            assert np.isnan(mine) == np.isnan(ref)
            if -1.0 <= y <= 1.0:
                assert float(mine) == lib(y)
        assert float(libm.arctan2(y, x)) == math.atan2(y, x) or (math.isnan(y) or math.isnan(x))
        if math.isfinite(y):
            assert float(libm.cbrt(y)) == math.cbrt(y)


def _avx512_dispatch() -> list[str]:
    """numpy's dispatched SIMD targets on this CPU past AVX2 (names as NPY_DISABLE_CPU_FEATURES takes them)."""
    from numpy._core import _multiarray_umath as um

    return [f for f in um.__cpu_dispatch__
            if um.__cpu_features__.get(f) and (f.startswith("AVX512") or f == "X86_V4")]


def test_a_seed_gives_the_same_bytes_with_numpys_avx512_code_on_and_off(tmp_path):
    features = _avx512_dispatch()
    if not features:
        pytest.skip("numpy runs no AVX-512 code on this CPU: nothing to switch off")
    code = ("import sys; from accord.warning.sim import ScenarioSpec, DEFAULT_SENSORS, random_launches, simulate, "
            "write_scenario; write_scenario(sys.argv[1], simulate(ScenarioSpec(DEFAULT_SENSORS, "
            "random_launches(3, 3, lofted_fraction=0.34, depressed_fraction=0.33), seed=3)))")
    root = Path(__file__).resolve().parents[2]
    outs = []
    for name, off in [("on", None), ("off", " ".join(features))]:
        env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
        if off:
            env["NPY_DISABLE_CPU_FEATURES"] = off
        env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], check=True, env=env, timeout=300)
        outs.append(tmp_path / name)
    for f in ("detections.jsonl", "truth.jsonl", "events.jsonl"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
