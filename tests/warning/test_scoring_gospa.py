"""GOSPA (c = 5 km, p = 2, α = 2): hand-computed cases and metric properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import InputError
from accord.warning.scoring import gospa

C = 5000.0


def test_identical_sets_score_zero():
    X = np.array([[0.0, 0.0, 0.0], [1e4, 0.0, 0.0]])
    g = gospa(X, X.copy())
    assert g.distance == 0.0 and g.n_missed == 0 and g.n_false == 0 and len(g.pairs) == 2


def test_empty_sets():
    assert gospa(np.zeros((0, 3)), np.zeros((0, 3))).distance == 0.0
    g = gospa(np.zeros((2, 3)) + [[0, 0, 0], [1e5, 0, 0]], np.zeros((0, 3)))
    # two misses: sqrt(2 · c²/2) = c
    assert g.distance == pytest.approx(C) and g.n_missed == 2 and g.missed == pytest.approx(C**2)
    g = gospa(np.zeros((0, 3)), np.array([[0.0, 0.0, 0.0]]))
    assert g.distance == pytest.approx(C / math.sqrt(2)) and g.n_false == 1


def test_hand_computed_localisation_miss_and_false():
    # truth a=(0,0,0), b=(100 km,0,0); estimates 3 km from a, and one 50 km from everything
    X = np.array([[0.0, 0.0, 0.0], [1e5, 0.0, 0.0]])
    Y = np.array([[3000.0, 0.0, 0.0], [0.0, 5e4, 0.0]])
    g = gospa(X, Y)
    assert g.localisation == pytest.approx(3000.0**2)
    assert g.missed == pytest.approx(C**2 / 2) and g.false == pytest.approx(C**2 / 2)
    assert g.distance == pytest.approx(math.sqrt(3000.0**2 + C**2))
    assert g.pairs == ((0, 0, 3000.0),)


def test_optimal_assignment_not_greedy():
    # greedy nearest-first would pair x0–y0 (1 km) and leave x1–y1 at 4.5 km;
    # the optimum pairs x0–y1 (2 km) and x1–y0 (2 km)
    X = np.array([[0.0, 0.0, 0.0], [3000.0, 0.0, 0.0]])
    Y = np.array([[1000.0, 0.0, 0.0], [-2000.0, 0.0, 0.0]])
    g = gospa(X, Y)
    assert g.distance == pytest.approx(math.sqrt(2000.0**2 + 2000.0**2))


def test_pairs_at_or_beyond_c_are_a_miss_plus_a_false_track():
    X = np.array([[0.0, 0.0, 0.0]])
    far = gospa(X, np.array([[7000.0, 0.0, 0.0]]))
    at_c = gospa(X, np.array([[C, 0.0, 0.0]]))
    assert far.distance == pytest.approx(C) == at_c.distance
    assert far.n_missed == 1 and far.n_false == 1 and far.pairs == ()


def test_only_alpha_two():
    with pytest.raises(InputError):
        gospa(np.zeros((1, 3)), np.zeros((1, 3)), alpha=1.0)


points = st.lists(st.tuples(*[st.floats(-2e4, 2e4, allow_nan=False)] * 3), max_size=5).map(
    lambda rows: np.array(rows, dtype=float).reshape(-1, 3))


@settings(max_examples=150, deadline=None)
@given(points, points)
def test_symmetry_and_cap(X, Y):
    a, b = gospa(X, Y), gospa(Y, X)
    assert a.distance == pytest.approx(b.distance, rel=1e-9, abs=1e-6)
    assert a.n_missed == b.n_false and a.n_false == b.n_missed
    # every point costs at most c^p/2 each side: d^p ≤ (c^p/2)(|X| + |Y|)
    assert a.distance**2 <= C**2 / 2 * (len(X) + len(Y)) + 1e-6
    assert a.distance ** 2 == pytest.approx(a.localisation + a.missed + a.false, rel=1e-9, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(points, points, points)
def test_triangle_inequality(X, Y, Z):
    assert gospa(X, Z).distance <= gospa(X, Y).distance + gospa(Y, Z).distance + 1e-6


@settings(max_examples=100, deadline=None)
@given(points)
def test_zero_only_for_identical_sets(X):
    assert gospa(X, X).distance == pytest.approx(0.0, abs=1e-9)
    if len(X):
        moved = X.copy()
        moved[0, 0] += 10.0
        assert gospa(X, moved).distance > 0.0
