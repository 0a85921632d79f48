"""``Geography.areas_within`` never misses an area within the distance: a degree of latitude is
as short as 110,574 m at the equator, a degree of longitude shrinks to nothing at the poles, and
an area across the antimeridian is near in metres though far in degrees."""

from __future__ import annotations

import pytest
import shapely
from pyproj import Geod

from accord.warning.alerts.geography import AdminArea, Geography, PartyGeography

GEOD = Geod(ellps="WGS84")


def _square(lon: float, lat: float, half_deg: float = 0.001) -> shapely.Polygon:
    return shapely.box(lon - half_deg, lat - half_deg, lon + half_deg, lat + half_deg)


def _geo(*centres: tuple[float, float]) -> Geography:
    areas = tuple(AdminArea("TST", f"TST-{i:02d}", {"en": f"area {i}"}, _square(lon, lat))
                  for i, (lon, lat) in enumerate(centres))
    land = shapely.union_all([a.geometry for a in areas])
    party = PartyGeography("TST", {"en": "Test"}, land, land, areas)
    return Geography({"TST": party}, (), (), territorial_m=22_224.0, simplify_m=0.0, source="<test>")


def _gap_m(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Geodesic distance between the nearest vertices of two small squares (an upper bound of
    the true distance, so an area asserted to be within it is)."""
    pa, pb = shapely.get_coordinates(a), shapely.get_coordinates(b)
    return min(GEOD.inv(x0, y0, x1, y1)[2] for x0, y0 in pa for x1, y1 in pb)


@pytest.mark.parametrize("name,here,there,distance_m", [
    # due north near the equator: 0.3 % inside the distance, beyond distance / 111,195 m per degree
    ("equator, due north", (10.0, 0.5), None, 200_000.0),
    # at 89.8° N a quarter turn of longitude is ~31 km away
    ("near the pole", (0.0, 89.8), (90.0, 89.8), 45_000.0),
    # across the antimeridian at 50° N: ~14 km apart, 359.8° apart in longitude
    ("antimeridian", (179.9, 50.0), (-179.9, 50.0), 20_000.0),
    # at 70° N, due east at the edge of the distance
    ("high latitude, due east", (20.0, 70.0), None, 150_000.0),
])
def test_areas_within_keeps_every_area_inside_the_distance(name, here, there, distance_m):
    if there is None:
        az = 0.0 if name.endswith("north") else 90.0
        # the far square's nearest vertex lies 0.997 × distance away (its half-width added back)
        lon, lat, _ = GEOD.fwd(here[0], here[1], az, 0.997 * distance_m)
        lon, lat = (lon, lat + 0.001) if az == 0.0 else (lon + 0.001 / 0.34, lat)
        there = (lon, lat)
    geo = _geo(there)
    probe = _square(*here)
    gap = _gap_m(probe, geo.parties["TST"].areas[0].geometry)
    assert gap <= distance_m, (name, gap)
    assert [a.code for a in geo.areas_within("TST", probe, distance_m)] == ["TST-00"], name


def test_areas_within_still_leaves_out_areas_beyond_the_distance():
    # 1.5 × the distance away at 40° N, and 3 × it at 60° N: outside the box
    lon1, lat1, _ = GEOD.fwd(135.0, 40.0, 0.0, 150_000.0)
    lon2, lat2, _ = GEOD.fwd(135.0, 60.0, 90.0, 300_000.0)
    near_lon, near_lat, _ = GEOD.fwd(135.0, 40.0, 180.0, 50_000.0)
    geo = _geo((lon1, lat1), (lon2, lat2), (near_lon, near_lat))
    got = [a.code for a in geo.areas_within("TST", _square(135.0, 40.0), 100_000.0)]
    assert got == ["TST-02"]
