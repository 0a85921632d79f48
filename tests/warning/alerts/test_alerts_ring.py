"""The CAP ring of a region at risk that falls apart into pieces (a boost path's buffer can):
drawn as the hull covering every piece, never a crash of the alert engine."""
from __future__ import annotations

from shapely.geometry import MultiPolygon, Point, Polygon

from accord.warning.alerts.geography import local_projection
from accord.warning.alerts.rules import ring_latlon


def test_a_region_in_pieces_is_drawn_as_the_hull_covering_every_piece():
    fwd, inv = local_projection(40.0, 140.0)
    a, b = Point(0, 0).buffer(1_000.0), Point(50_000.0, 0).buffer(1_000.0)
    ring = ring_latlon(MultiPolygon([a, b]), inv)
    assert ring[0] == ring[-1] and len(ring) >= 4
    hull = Polygon([fwd.transform(lon, lat) for lat, lon in ring])
    # both pieces inside the drawn ring (rounded to 1e-4° ≈ 10 m)
    assert hull.buffer(20.0).contains(a) and hull.buffer(20.0).contains(b)


def test_nothing_drawable_is_no_ring():
    _, inv = local_projection(40.0, 140.0)
    assert ring_latlon(Polygon(), inv) == ()
