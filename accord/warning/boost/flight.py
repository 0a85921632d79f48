"""The flight kernel of the boost hypotheses: one motor flown in its launch/aim plane.

:func:`fly` integrates arrays of motors (thrust acceleration ``a₀/(1 − f τ/t_b)``, a vertical
rise for ``t_v``, then a linear pitch-over to the burnout elevation ``γ_b``) by RK4 in the plane
through the Earth's centre and the launch site (x up at the launch site, y down-range), keeping
the states on a regular grid and the exact burnout states; :func:`impact_arc` carries burnout
states along their Kepler arc to the ground. The plane is the same for every launch point, so a
class's hypotheses are flown once (:mod:`accord.warning.boost.prior`).
"""

from __future__ import annotations

import math

import numpy as np

from accord.warning.frames import EARTH_RADIUS_M, MU
from accord.warning.kernel_cache import njit
from accord.warning.prediction import kepler_ground_arc


@njit(cache=True)
def _acc(tau, x, y, a0, tv, tb, gb, f, tp):
    """In-plane acceleration: gravity + thrust (off after ``t_b``), the thrust elevation falling
    linearly from 90° at ``t_v`` to ``γ_b`` at ``t_p`` (``t_p = t_b``: ``accord.warning.sim``)."""
    rn = math.sqrt(x * x + y * y)
    g = -MU / (rn * rn * rn)
    ax, ay = g * x, g * y
    if tau < tb:
        frac = min(max((tau - tv) / (tp - tv), 0.0), 1.0)
        gam = 0.5 * math.pi - (0.5 * math.pi - gb) * frac
        at = a0 / (1.0 - f * min(tau, tb) / tb) / rn
        s, c = math.sin(gam), math.cos(gam)
        # u = r̂ (sin γ + i cos γ) in complex form
        ax += at * (x * s - y * c)
        ay += at * (x * c + y * s)
    return ax, ay


@njit(cache=True)
def _rk4(tau, x, y, vx, vy, h, a0, tv, tb, gb, f, tp):
    k1x, k1y = _acc(tau, x, y, a0, tv, tb, gb, f, tp)
    k2x, k2y = _acc(tau + h / 2, x + h / 2 * vx, y + h / 2 * vy, a0, tv, tb, gb, f, tp)
    k3x, k3y = _acc(tau + h / 2, x + h / 2 * vx + h * h / 4 * k1x, y + h / 2 * vy + h * h / 4 * k1y,
                    a0, tv, tb, gb, f, tp)
    k4x, k4y = _acc(tau + h, x + h * vx + h * h / 2 * k2x, y + h * vy + h * h / 2 * k2y, a0, tv, tb, gb, f, tp)
    return (x + h * vx + h * h / 6 * (k1x + k2x + k3x), y + h * vy + h * h / 6 * (k1y + k2y + k3y),
            vx + h / 6 * (k1x + 2 * k2x + 2 * k3x + k4x), vy + h / 6 * (k1y + 2 * k2y + 2 * k3y + k4y))


@njit(cache=True, nogil=True)
def fly(a0, tv, tb, gb, f, tp, T, dt, node):
    """RK4 in the launch/aim plane (x up at the launch site, y down-range) for arrays of motors:
    states every ``node`` seconds up to ``T`` (``(N, K, 4)``) and the burnout states ``(N, 4)``.
    A step that crosses burnout is split there, so the cut-off is exact."""
    n = a0.shape[0]
    steps = int(round(T / dt))
    every = int(round(node / dt))
    out = np.zeros((n, steps // every + 1, 4))
    burn = np.zeros((n, 4))
    for i in range(n):
        x, y, vx, vy = EARTH_RADIUS_M, 0.0, 0.0, 0.0
        out[i, 0, 0] = x
        for k in range(steps):
            tau = k * dt
            if tau < tb[i] < tau + dt - 1e-9:
                h1 = tb[i] - tau
                x, y, vx, vy = _rk4(tau, x, y, vx, vy, h1, a0[i], tv[i], tb[i], gb[i], f, tp[i])
                burn[i, 0], burn[i, 1], burn[i, 2], burn[i, 3] = x, y, vx, vy
                x, y, vx, vy = _rk4(tb[i], x, y, vx, vy, dt - h1, a0[i], tv[i], tb[i], gb[i], f, tp[i])
            else:
                x, y, vx, vy = _rk4(tau, x, y, vx, vy, dt, a0[i], tv[i], tb[i], gb[i], f, tp[i])
                if abs(tau + dt - tb[i]) <= 1e-9:
                    burn[i, 0], burn[i, 1], burn[i, 2], burn[i, 3] = x, y, vx, vy
            if (k + 1) % every == 0:
                j = (k + 1) // every
                out[i, j, 0], out[i, j, 1], out[i, j, 2], out[i, j, 3] = x, y, vx, vy
    return out, burn


def impact_arc(burn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, down-range m, seconds to impact) of in-plane burnout states ``(N, 4)``."""
    z = np.zeros((len(burn), 1))
    r3 = np.hstack([burn[:, 0:2], z])
    v3 = np.hstack([burn[:, 2:4], z])
    arc = kepler_ground_arc(r3, v3)
    imp = arc["impact"]
    ang = np.arctan2(imp[:, 1], imp[:, 0])
    ok = arc["valid"] & (ang > 0.0)
    return ok, ang * EARTH_RADIUS_M, arc["dt_impact"]
