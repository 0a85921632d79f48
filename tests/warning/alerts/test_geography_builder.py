"""tools/build_geography.py: waters enclosed by baselines (UNCLOS arts. 7, 8) and the tables it
builds from (the geography file itself is built offline; tests/warning/alerts/test_alerts_geography.py
checks the result)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon

_PATH = Path(__file__).resolve().parents[3] / "tools" / "build_geography.py"


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
    assert len(builder.baseline_lines("KOR")) == 3
    hinomisaki = (135 + 3 / 60 + 40 / 3600, 33 + 52 / 60 + 55 / 3600)
    kamoda = (134 + 44 / 60 + 58 / 3600, 33 + 50 / 60 + 3 / 3600)
    assert list(lines[0].coords) == [pytest.approx(hinomisaki), pytest.approx(kamoda)]
    # coasts that stop short of both lighthouses: each end is joined to the nearest land, past it
    land = shapely.union(shapely.box(135.07, 33.80, 135.30, 33.95), shapely.box(134.50, 33.75, 134.74, 33.90))
    kii = builder.baseline_lines("JPN", land)[0]
    assert land.contains(Point(kii.coords[0])) and land.contains(Point(kii.coords[-1]))
    assert kii.distance(Point(hinomisaki)) < 1e-12 and kii.distance(Point(kamoda)) < 1e-12


IROHA = "イロハニホヘトチリヌルヲワカヨタレソツネナラムウヰノオクヤマ"


def test_japan_table_1_is_the_orders_lines_items_1_to_13(builder):
    table = [(n, pts) for p, n, pts in builder.BASELINES if p == "JPN" and n.startswith("Table 1 ")]
    items: dict[int, list] = {}
    for name, pts in table:
        item = int(name.split()[3])
        first, last = name.split()[4].split("–")
        assert pts[0][0].startswith(f"{item}{first}") and pts[-1][0].startswith(f"{item}{last}")
        items.setdefault(item, []).extend(pts)
    # items 14 and 15 (Etorofu, Shikotan) are not in the data's land of Japan, so not here
    assert sorted(items) == list(range(1, 14))
    # each item's points are its iroha labels in order, none missing or repeated
    for item, pts in items.items():
        assert [p[0].split()[0] for p in pts] == [f"{item}{k}" for k in IROHA[:len(pts)]], item
        assert all(0 <= m < 60 and 0 <= s < 60 for _, la, lo in pts for m, s in (la[1:], lo[1:]))
    assert sum(len(p) for p in items.values()) == 173
    assert sum(len(pts) - 1 for _, pts in table) == 143
    # 1イ Nosappu-misaki, 43°23'10" N 145°49'06" E; item 10 closes round Tsushima (ヤ = イ)
    assert items[1][0] == ("1イ 納沙布岬東端", (43, 23, 10), (145, 49, 6))
    assert items[10][-1][1:] == items[10][0][1:] and items[10][-1][0] == "10ヤ 戸ノ埼北東端"
    # all within Japan's waters: 24–46 N, 128–146 E
    assert all(24 <= la[0] <= 45 and 127 <= lo[0] <= 145 for p in items.values() for _, la, lo in p)


def test_lines_whose_ends_meet_on_an_islet_are_joined_into_one_chain(builder, monkeypatch):
    # Item 7: イ–ロ, ハ–ニ, ホ–ヘ, broken where the baseline follows the reef Ufubishi (ロ, ハ
    # 2.4 km apart) and Kudaka-jima (ニ, ホ 0.6 km apart): one chain of six points
    lines = builder.baseline_lines("JPN")
    i7 = next(ln for ln in lines if ln.coords[0] == pytest.approx((128 + 14 / 60 + 14 / 3600,
                                                                    26 + 37 / 60 + 49 / 3600)))
    assert len(i7.coords) == 6
    # on the equator: a second line starting 1.1 km (0.01°) past the first one's end is joined,
    # one starting 5.6 km past it is not
    monkeypatch.setattr(builder, "BASELINES", [
        ("XXX", "a", [("a1", (0, 0, 0), (0, 0, 0)), ("a2", (0, 0, 0), (0, 6, 0))]),
        ("XXX", "b", [("b1", (0, 0, 0), (0, 6, 36)), ("b2", (0, 0, 0), (0, 12, 0))]),
        ("XXX", "c", [("c1", (0, 0, 0), (0, 15, 0)), ("c2", (0, 0, 0), (0, 20, 0))]),
    ])
    a, c = builder.baseline_lines("XXX")
    assert len(a.coords) == 4 and len(c.coords) == 2


def test_every_us_state_and_territory_has_japanese_and_korean_names(builder):
    assert len(builder.US_STATES) == 56
    assert builder.US_STATES["06"] == ("カリフォルニア州", "캘리포니아주")
    assert all(ja and ko and ja != ko for ja, ko in builder.US_STATES.values())


def test_korea_baselines_are_the_decrees_three_water_areas(builder):
    lines = builder.baseline_lines("KOR")
    assert [len(ln.coords) for ln in lines] == [2, 2, 19]            # 23 base points
    # 1 Dalmangap, 36°06'20" N 129°26'00" E; 23 Soryeongdo, 36°58'56" N 125°44'58" E
    assert lines[0].coords[0] == pytest.approx((129 + 26 / 60, 36 + 6 / 60 + 20 / 3600))
    assert lines[2].coords[-1] == pytest.approx((125 + 44 / 60 + 58 / 3600, 36 + 58 / 60 + 56 / 3600))
    # the US State Department's figures for two segments: Yeongil Bay 6.1 nmi, Jeolmyeongseo
    # (13) – Soheuksando (14) 60.3 nmi, the longest
    from pyproj import Geod
    geod = Geod(ellps="WGS84")

    def nmi(a, b):
        return geod.inv(*a, *b)[2] / 1852

    assert nmi(*lines[0].coords) == pytest.approx(6.1, abs=0.05)
    chain = list(lines[2].coords)
    segs = [nmi(a, b) for a, b in zip(chain, chain[1:])]
    assert max(segs) == segs[8] == pytest.approx(60.3, abs=0.2)
    assert sum(s > 48 for s in segs) == 2 and sum(24 < s <= 48 for s in segs) == 5


def test_the_korea_strait_is_the_chains_first_three_points_at_3_nmi(builder):
    [(name, pts, breadth)] = builder.narrow_sea_points("KOR")
    assert name == "Korea Strait" and breadth == 3 * 1852
    assert [p for p, _, _ in builder.BASELINES[-1][2][:3]] == [
        "5 1.5 Miteoam (1.5미터암)", "6 Saengdo (생도)", "7 Hongdo (홍도, South Sea)"]
    assert builder.narrow_sea_points("JPN") == [] and builder.narrow_sea_points("USA") == []


def test_a_narrow_sea_is_a_band_off_the_baseline_between_the_normals_at_its_ends(builder):
    # A straight coast along the equator, land to the south; a baseline stretch on two rocks
    # 0.05° (3 nmi) off it, the sea is 3 nmi from that stretch and 12 nmi elsewhere.
    land = shapely.box(-1.0, -1.0, 2.0, 0.0)
    nm = 1 / 60                                                      # 1 nmi in degrees of latitude
    buf = land.buffer(12 * nm)
    stretch = [(0.2, 3 * nm), (0.5, 3.2 * nm), (0.8, 3 * nm)]
    out = builder.narrow_territorial(buf, land, [("strait", stretch, 3 * 1852.0)], 2 * 22224.0)
    assert not out.contains(Point(0.5, 3.2 * nm + 5 * nm))             # 5 nmi off the stretch
    assert out.contains(Point(0.5, 3.2 * nm + 2.5 * nm))               # 2.5 nmi off it
    assert out.contains(Point(0.5, 1.5 * nm))                          # landward of it
    assert out.contains(Point(1.0, 10 * nm)) and out.contains(Point(-0.1, 10 * nm))  # beyond the ends
    assert not out.contains(Point(0.5, 13 * nm)) and buf.contains(Point(0.5, 11 * nm))
    # the sector lies on the seaward side only
    xy = [(x * 111_320, y * 110_574) for x, y in stretch]
    sector = builder.narrow_sea_sector(xy, 40_000, shapely.box(-111_320, -110_574, 222_640, 0))
    assert sector.bounds[1] >= min(y for _, y in xy) - 1e-6 and sector.bounds[3] > 40_000


def test_a_pocket_behind_a_chain_is_filled_and_one_elsewhere_is_not(builder):
    sea = shapely.box(0, 0, 10, 10)
    behind, elsewhere = shapely.box(4, 1, 5, 2), shapely.box(4, 8, 5, 9)
    terr = sea.difference(behind).difference(elsewhere)
    chain = LineString([(0, 0), (3, 5), (10, 0)])                     # encloses (4, 1)-(5, 2)
    out, n = builder.fill_behind_chains(terr, [chain, LineString([(0, 9.5), (9, 9.5)])])
    assert n == 1 and out.contains(Point(4.5, 1.5)) and not out.contains(Point(4.5, 8.5))
    assert builder.fill_behind_chains(terr, [])[1] == 0


def test_baseline_report_gives_each_points_distance_to_land_and_each_segments_length(builder, monkeypatch):
    # Two base points on the equator 1' of longitude apart (1.0 nmi) and a third 30' further
    # east (30.05 nmi: a minute of longitude on the equator is 1 855 m); land is a box whose north
    # edge is 0.1° south of them (11.06 km on WGS 84).
    monkeypatch.setattr(builder, "BASELINES", [
        ("XXX", "test chain", [("a", (0, 0, 0), (0, 0, 0)), ("b", (0, 0, 0), (0, 1, 0)),
                               ("c", (0, 0, 0), (0, 31, 0))]),
        ("YYY", "other", [("z", (0, 0, 0), (1, 0, 0)), ("w", (0, 0, 0), (2, 0, 0))]),
    ])
    land = shapely.box(-1.0, -1.0, 1.0, -0.1)
    lines = builder.baseline_report("XXX", {"box": land, "all": shapely.box(-1, -1, 1, 1)})
    assert lines[0] == "XXX test chain: 3 points, 2 segments, 1 over 24 nmi, 0 over 48 nmi"
    a, b, c = (ln.split() for ln in lines[2:5])
    assert a[0] == "a" and float(a[3]) == pytest.approx(11.06, abs=0.01) and float(a[4]) == 0.0
    assert float(a[5]) == pytest.approx(1.0, abs=0.01) and float(b[5]) == pytest.approx(30.05, abs=0.06)
    assert len(c) == 5                                                 # no segment after the last point
    assert builder.baseline_report("ZZZ", {"box": land}) == []


def test_pocket_report_lists_the_holes_in_a_territorial_sea_largest_first(builder):
    sea = shapely.box(0, 0, 1, 1).difference(shapely.box(0.1, 0.1, 0.2, 0.2)).difference(
        shapely.box(0.5, 0.5, 0.52, 0.52))
    lines = builder.pocket_report("XXX", sea, top=1)
    assert lines[0] == "XXX: 2 pocket(s) of open water enclosed by the territorial sea"
    assert lines[1].split()[0] == f"{0.1 * 111.32 * 0.1 * 110.57:.1f}"   # ~123 km² near the equator
    assert lines[2].startswith("  … and 1 smaller")
    assert builder.pocket_report("XXX", shapely.box(0, 0, 1, 1)) == [
        "XXX: 0 pocket(s) of open water enclosed by the territorial sea"]


def test_a_lake_in_the_national_outline_joins_the_territory_and_slivers_do_not(builder):
    # The national outline (Natural Earth admin-0) holds a lake 1° across that the admin areas
    # leave out, and a 100 m sliver along the coast where the two outlines disagree.
    land = shapely.box(0, 0, 3, 3).difference(shapely.box(1, 1, 2, 2))
    terr = land.buffer(0.05)                                         # a thin sea round the land
    outline = shapely.box(-0.001, 0, 3, 3)                           # lake and sliver
    lakes = builder.terr_lakes(outline, terr, 100.0)
    assert lakes.contains(Point(1.5, 1.5)) and lakes.area == pytest.approx(0.81, rel=0.01)
    assert builder.terr_lakes(land, terr, 100.0).is_empty            # nothing new: nothing added


def test_specified_area_points_are_the_orders_own(builder):
    # Table 2 names Table 1's points by item and label, and gives a few coordinates of its own
    assert builder.table_point("13マ") == pytest.approx((141 + 56 / 60 + 26 / 3600, 45 + 31 / 60 + 25 / 3600))
    assert builder.table_point("種子島喜志鹿埼北端") == pytest.approx((131 + 3 / 60 + 24 / 3600, 30 + 50 / 60 + 33 / 3600))
    with pytest.raises(KeyError):
        builder.table_point("99イ")
    assert [n for _, n, _ in builder.SPECIFIED_AREAS] == [
        "Sōya Strait (宗谷海峡)", "Tsugaru Strait (津軽海峡)", "Tsushima Strait east channel (対馬海峡東水道)",
        "Tsushima Strait west channel (対馬海峡西水道)", "Ōsumi Strait (大隅海峡)"]


def test_specified_area_lines_run_on_true_bearings_to_the_12_nmi_line(builder):
    # "3 nmi at 358° from" a point; "the line's crossing of the 12-nmi line"; two lines meeting
    lon, lat = builder.off((0.0, 0.0), 0, 3)
    assert lon == pytest.approx(0.0, abs=1e-9) and builder.GEOD.inv(0, 0, lon, lat)[2] == pytest.approx(3 * 1852)
    sea12 = shapely.box(-1.0, -1.0, 1.0, 0.2)
    q = builder.exit_12((0.0, 0.0), 0, sea12)
    assert q == pytest.approx((0.0, 0.2), abs=1e-6)
    q = builder.exit_12((0.0, 0.0), 45, sea12)                        # first crossing: the north side
    assert q[1] == pytest.approx(0.2, abs=1e-6) and 0.19 < q[0] < 0.21
    x = builder.meet((0.0, 0.0), 90, (0.5, -0.5), 0)
    assert x == pytest.approx((0.5, 0.0), abs=1e-4)


def test_a_tangent_line_closes_an_area_beyond_the_12_nmi_line_only(builder):
    # An area running north from a coast, 12-nmi sea a disc; the line at 90° tangent to the
    # disc's far side cuts the area there and leaves the disc's part of it whole.
    area = shapely.box(-0.2, 0.0, 0.2, 1.0)
    sea12 = Point(0.0, 0.0).buffer(0.4)
    cut = builder.cut_at_tangent(area, sea12, 90)
    assert cut.bounds[3] == pytest.approx(0.4, abs=0.01)
    assert cut.intersection(sea12).area == pytest.approx(area.intersection(sea12).area, rel=1e-3)


def test_inside_a_specified_area_the_sea_is_3_nmi_and_outside_it_12(builder):
    # A straight coast along the equator, land to the south, 12-nmi sea off it; a specified area
    # over lon 0–1: there the sea is 3 nmi from the coast, elsewhere 12.
    nm = 1 / 60
    land = shapely.box(-1.0, -1.0, 2.0, 0.0)
    buf = land.buffer(12 * nm)
    area = shapely.box(0.0, -0.001, 1.0, 1.0)
    out = builder.specified_territorial(buf, land, [], [("strait", area)], 3 * 1852.0)
    assert not out.contains(Point(0.5, 5 * nm)) and out.contains(Point(0.5, 2.5 * nm))
    assert out.contains(Point(1.5, 10 * nm)) and out.contains(Point(-0.5, 10 * nm))
    # a baseline at sea (a rock 2 nmi off) is measured from too
    rock = LineString([(0.4, 2 * nm), (0.6, 2 * nm)])
    out = builder.specified_territorial(buf, land, [rock], [("strait", area)], 3 * 1852.0)
    assert out.contains(Point(0.5, 4.5 * nm)) and not out.contains(Point(0.5, 5.5 * nm))
    assert builder.specified_territorial(buf, land, [], [], 3 * 1852.0) is buf
