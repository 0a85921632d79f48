"""tools/build_geography.py: waters enclosed by baselines (UNCLOS arts. 7, 8) and the tables it
builds from (the geography file itself is built offline; tests/alerts/test_alerts_geography.py
checks the result)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon

_PATH = Path(__file__).resolve().parents[2] / "tools" / "build_geography.py"


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location("build_geography", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# A U-shaped coast (degrees near 0, 0): a bay 1° wide open to the north, between two arms.
COAST = Polygon([(0, 0), (3, 0), (3, 2), (2, 2), (2, 1), (1, 1), (1, 2), (0, 2)])
BAY = Point(1.5, 1.5)
OPEN_SEA = Point(1.5, 2.5)


def test_baseline_across_a_bay_mouth_makes_the_bay_internal_waters(builder):
    mouth = LineString([(0.8, 1.9), (2.2, 1.9)])    # ends carried into the two arms
    inner = builder.enclosed_waters(COAST, [mouth])
    assert inner.contains(BAY) and not inner.contains(OPEN_SEA)
    assert inner.area == pytest.approx(0.9, rel=1e-6)                 # 1° × 0.9° up to the line
    assert not inner.intersects(COAST.buffer(-1e-6))                  # water only


def test_a_line_that_closes_nothing_encloses_no_water(builder):
    off = LineString([(4.0, 0.0), (5.0, 1.0)])                        # out at sea
    assert builder.enclosed_waters(COAST, [off]).is_empty
    assert builder.enclosed_waters(COAST, []).is_empty


def test_baseline_lines_are_the_orders_points_joined_to_the_coast(builder):
    lines = builder.baseline_lines("JPN")
    assert len(lines) == 3 and builder.baseline_lines("KOR") == []
    hinomisaki = (135 + 3 / 60 + 40 / 3600, 33 + 52 / 60 + 55 / 3600)
    kamoda = (134 + 44 / 60 + 58 / 3600, 33 + 50 / 60 + 3 / 3600)
    assert list(lines[0].coords) == [pytest.approx(hinomisaki), pytest.approx(kamoda)]
    # coasts that stop short of both lighthouses: each end is joined to the nearest land, past it
    land = shapely.union(shapely.box(135.07, 33.80, 135.30, 33.95), shapely.box(134.50, 33.75, 134.74, 33.90))
    kii = builder.baseline_lines("JPN", land)[0]
    assert land.contains(Point(kii.coords[0])) and land.contains(Point(kii.coords[-1]))
    assert kii.distance(Point(hinomisaki)) < 1e-12 and kii.distance(Point(kamoda)) < 1e-12


def test_every_us_state_and_territory_has_japanese_and_korean_names(builder):
    assert len(builder.US_STATES) == 56
    assert builder.US_STATES["06"] == ("カリフォルニア州", "캘리포니아주")
    assert all(ja and ko and ja != ko for ja, ko in builder.US_STATES.values())
