"""Compiled flight integration of the simulator (numba): :func:`boost_batch`,
:func:`boost_accels`, :func:`ballistic_arc`.

Solving a launch (:func:`accord.warning.sim.solve_launch`) flies the boost of a batch of pitch
programs about ten times per missile, up to 600 RK4 steps each, and flying it
(:func:`accord.warning.sim.fly`) adds the ballistic arc, one RK4 step a second; written as numpy
expressions over the small batch that is some 185,000 calls of the in-plane acceleration and
about half a second of interpreter overhead per missile. These kernels do the same arithmetic in
compiled loops.

They are meant to give the *same bits* as the numpy reference (``_accel``, ``_rk4``,
``_boost_numpy`` and ``_flight_nodes_numpy`` in :mod:`accord.warning.sim`), so that compiling
changes no solved launch, flight or scenario. They therefore repeat numpy's operations one by
one, in numpy's order, on the real and imaginary parts, including how numpy computes the two
complex operations it runs as SIMD code:

* a product ``a·b`` is ``(fma(aᵣ, bᵣ, −aᵢbᵢ), fma(aᵣ, bᵢ, aᵢbᵣ))`` where numpy's loop fuses the
  multiply-add (``fused``), ``(aᵣbᵣ − aᵢbᵢ, aᵣbᵢ + aᵢbᵣ)`` where it does not;
* ``|z|`` of an array is ``larger · √(ratio² + 1)`` with ``ratio = smaller/larger`` (fused the
  same way), not ``hypot``; ``abs`` of a complex *scalar* is libm's ``hypot``;
* the cube of ``|r|`` in the gravity term is libm's ``pow`` in both (the reference takes it
  element by element, :func:`accord.warning.libm.cube`: numpy's ``power`` is Intel's SVML on
  AVX-512 CPUs, and its last bit differs from libm's there), and so are ``sin`` and ``cos``
  (numpy's are libm's).

A real operand is a complex one with a zero imaginary part, as numpy casts it. Which form numpy
uses depends on the CPU it runs on, so :func:`accord.warning.sim.compiled_boost` checks the
kernels against the numpy reference on a probe flight once per process, and the simulator flies
the reference when neither form gives its bits. Compiled without ``fastmath``, so that LLVM
neither fuses nor reorders anything else; the code is cached on disk with the tracker's kernels
(:func:`accord.warning.kernel_cache.njit`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from llvmlite import ir

from accord.warning.frames import EARTH_RADIUS_M, MU
from accord.warning.kernel_cache import njit

HALF_PI = np.pi / 2


@intrinsic
def _fma(typingctx, a, b, c):
    """``a·b + c`` rounded once (LLVM's ``llvm.fma.f64``, one instruction on FMA hardware)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.DoubleType(), [ir.DoubleType()] * 3),
                                            "llvm.fma.f64")
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True)
def _mul_add(a, b, c, fused):
    return _fma(a, b, c) if fused else a * b + c


@njit(cache=True)
def _cmul(ar, ai, br, bi, fused):
    """numpy's complex product ``a·b`` (module docstring)."""
    return _mul_add(ar, br, -(ai * bi), fused), _mul_add(ar, bi, ai * br, fused)


@njit(cache=True)
def _cabs(x, y, fused):
    """numpy's ``|x + iy|`` (module docstring; finite arguments)."""
    x, y = abs(x), abs(y)
    larger, smaller = max(x, y), min(x, y)
    ratio = smaller / larger if larger != 0.0 else 0.0
    return math.sqrt(_mul_add(ratio, ratio, 1.0, fused)) * larger


@njit(cache=True)
def _accel(tau, x, y, boost, gb, a0, f, tv, tb, fused):
    """``sim._accel``'s in-plane acceleration ``(aₓ, a_y)`` at ``x + iy``: gravity, plus the thrust
    of pitch program ``gb`` in boost (``boost``)."""
    rn = _cabs(x, y, fused)
    ax, ay = _cmul(-MU / math.pow(rn, 3.0), 0.0, x, y, fused)
    if not boost:
        return ax, ay
    frac = min(max((tau - tv) / (tb - tv), 0.0), 1.0)
    gamma = HALF_PI - (HALF_PI - gb) * frac
    a_t = a0 / (1.0 - f * min(tau, tb) / tb)
    ix, iy = _cmul(0.0, 1.0, math.cos(gamma), 0.0, fused)   # 1j * cos γ
    ux, uy = math.sin(gamma) + ix, 0.0 + iy
    qx, qy = _cmul(a_t / rn, 0.0, x, y, fused)
    tx, ty = _cmul(qx, qy, ux, uy, fused)
    return ax + tx, ay + ty


@njit(cache=True)
def _rk4(tau, x, y, vx, vy, dt, boost, gb, a0, f, tv, tb, fused):
    """``sim._rk4``: one RK4 step of ``(x + iy, vx + i vy)``, every scalar·complex product a
    complex one (numpy's cast of the scalar)."""
    h = dt / 2
    k1x, k1y = _accel(tau, x, y, boost, gb, a0, f, tv, tb, fused)
    px, py = _cmul(h, 0.0, vx, vy, fused)
    k2x, k2y = _accel(tau + dt / 2, x + px, y + py, boost, gb, a0, f, tv, tb, fused)
    qx, qy = _cmul(dt * dt / 4, 0.0, k1x, k1y, fused)
    k3x, k3y = _accel(tau + dt / 2, (x + px) + qx, (y + py) + qy, boost, gb, a0, f, tv, tb, fused)
    dx, dy = _cmul(dt, 0.0, vx, vy, fused)
    qx, qy = _cmul(dt * dt / 2, 0.0, k2x, k2y, fused)
    k4x, k4y = _accel(tau + dt, (x + dx) + qx, (y + dy) + qy, boost, gb, a0, f, tv, tb, fused)
    sx, sy = _cmul(dt * dt / 6, 0.0, (k1x + k2x) + k3x, (k1y + k2y) + k3y, fused)
    m2x, m2y = _cmul(2.0, 0.0, k2x, k2y, fused)
    m3x, m3y = _cmul(2.0, 0.0, k3x, k3y, fused)
    wx, wy = _cmul(dt / 6, 0.0, ((k1x + m2x) + m3x) + k4x, ((k1y + m2y) + m3y) + k4y, fused)
    return (x + dx) + sx, (y + dy) + sy, vx + wx, vy + wy


@njit(cache=True, nogil=True)
def boost_batch(taus, gamma_b, a0, f, tv, tb, fused):
    """``sim._boost``: RK4 from the launch pad through the boost nodes ``taus`` for each burnout
    elevation of ``gamma_b``: in-plane ``(r, v)`` at burnout (complex), whether each flew into the
    ground, and the node states of the first program (``(K,)`` complex each)."""
    n, nk = gamma_b.shape[0], taus.shape[0]
    r_out = np.empty(n, dtype=np.complex128)
    v_out = np.empty(n, dtype=np.complex128)
    crashed = np.zeros(n, dtype=np.bool_)
    rs = np.empty(nk, dtype=np.complex128)
    vs = np.empty(nk, dtype=np.complex128)
    for i in range(n):
        gb = gamma_b[i]
        x, y, vx, vy = EARTH_RADIUS_M, 0.0, 0.0, 0.0
        if i == 0:
            rs[0] = complex(x, y)
            vs[0] = complex(vx, vy)
        for k in range(nk - 1):
            x, y, vx, vy = _rk4(taus[k], x, y, vx, vy, taus[k + 1] - taus[k], True, gb, a0, f, tv, tb, fused)
            if _cabs(x, y, fused) < EARTH_RADIUS_M - 1.0:
                crashed[i] = True
            if i == 0:
                rs[k + 1] = complex(x, y)
                vs[k + 1] = complex(vx, vy)
        r_out[i] = complex(x, y)
        v_out[i] = complex(vx, vy)
    return r_out, v_out, crashed, rs, vs


@njit(cache=True, nogil=True)
def boost_accels(taus, rs, gb, a0, f, tv, tb, fused):
    """The acceleration of pitch program ``gb`` at each boost node ``(taus[k], rs[k])`` (complex)."""
    out = np.empty(taus.shape[0], dtype=np.complex128)
    for k in range(taus.shape[0]):
        ax, ay = _accel(taus[k], rs[k].real, rs[k].imag, True, gb, a0, f, tv, tb, fused)
        out[k] = complex(ax, ay)
    return out


@njit(cache=True, nogil=True)
def ballistic_arc(r, v, t0, tb, max_flight, dt, fused):
    """``sim.fly``'s ballistic RK4 from burnout state ``(r, v)`` (complex) at ``t0``, steps of
    ``dt``, until the altitude falls below zero or ``max_flight`` after burnout ``tb``: node times,
    states and accelerations at each step's start and end; whether it landed. The landing test is
    ``abs`` of a numpy complex scalar, libm's ``hypot``."""
    cap = int(max_flight / dt) + 2
    ts = np.empty(cap)
    rs = np.empty(cap, dtype=np.complex128)
    vs = np.empty(cap, dtype=np.complex128)
    acc_s = np.empty(cap, dtype=np.complex128)
    acc_e = np.empty(cap, dtype=np.complex128)
    x, y, vx, vy = r.real, r.imag, v.real, v.imag
    t_now = t0
    n = 0
    while t_now - tb < max_flight:
        ax, ay = _accel(t_now, x, y, False, 0.0, 0.0, 0.0, 0.0, 0.0, fused)
        acc_s[n] = complex(ax, ay)
        x, y, vx, vy = _rk4(t_now, x, y, vx, vy, dt, False, 0.0, 0.0, 0.0, 0.0, 0.0, fused)
        t_now += dt
        ax, ay = _accel(t_now, x, y, False, 0.0, 0.0, 0.0, 0.0, 0.0, fused)
        acc_e[n] = complex(ax, ay)
        ts[n] = t_now
        rs[n] = complex(x, y)
        vs[n] = complex(vx, vy)
        n += 1
        if math.hypot(x, y) < EARTH_RADIUS_M:
            return ts[:n], rs[:n], vs[:n], acc_s[:n], acc_e[:n], True
    return ts[:n], rs[:n], vs[:n], acc_s[:n], acc_e[:n], False
