"""The C library's (libm's) elementary functions over numpy arrays, element by element.

numpy runs ``arctan2``, ``arcsin``, ``arccos``, ``cbrt`` and ``power`` (and ``exp``, ``log``,
``tan`` …) as SIMD code chosen by the CPU it finds when imported: on a CPU with AVX-512 that is
Intel's SVML, whose last bit differs from libm's for between one value in a thousand and one in
two (measured on 200,000 values each: ``arccos`` 9 %, ``arctan2`` 5 %, ``power`` 5 %, ``cbrt``
50 %); on an AVX2 CPU numpy calls libm and the two agree. ``sin``, ``cos``, ``sqrt`` and
``hypot`` agree everywhere.

The simulator takes these functions from here so that a seed gives the same bytes on every CPU
(``accord warning simulate --seed``): each is a loop over the values in Python calling
:mod:`math` (about 0.1 µs a value; the simulator's arrays are thousands of values, not millions).
The tracker keeps numpy's: its figures agree at any printed precision, and it runs on millions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]


def _unary(fn: Callable[[float], float], x: ArrayLike) -> F64:
    a = np.asarray(x, dtype=float)
    return np.array([fn(v) for v in a.ravel().tolist()], dtype=float).reshape(a.shape)


def _nan_outside(fn: Callable[[float], float]) -> Callable[[float], float]:
    """``fn`` with numpy's answer (NaN) where libm's Python binding raises (a domain error)."""
    def call(v: float) -> float:
        try:
            return fn(v)
        except ValueError:
            return math.nan
    return call


_asin, _acos = _nan_outside(math.asin), _nan_outside(math.acos)


def arcsin(x: ArrayLike) -> F64:
    """``numpy.arcsin`` with libm's bits (NaN outside [−1, 1], as numpy)."""
    return _unary(_asin, x)


def arccos(x: ArrayLike) -> F64:
    """``numpy.arccos`` with libm's bits (NaN outside [−1, 1], as numpy)."""
    return _unary(_acos, x)


def cbrt(x: ArrayLike) -> F64:
    """``numpy.cbrt`` with libm's bits."""
    return _unary(math.cbrt, x)


def cube(x: ArrayLike) -> F64:
    """``x ** 3`` as libm's ``pow(x, 3)`` gives it (what compiled code calling ``math.pow`` gets)."""
    return _unary(lambda v: math.pow(v, 3.0), x)


def arctan2(y: ArrayLike, x: ArrayLike) -> F64:
    """``numpy.arctan2`` with libm's bits (broadcast as numpy does)."""
    a, b = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(x, dtype=float))
    return np.array([math.atan2(p, q) for p, q in zip(a.ravel().tolist(), b.ravel().tolist())],
                    dtype=float).reshape(a.shape)
