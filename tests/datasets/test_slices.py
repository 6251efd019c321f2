"""The slice data type: plane frames, even-odd labelling, unit-frame transform, validation."""

import numpy as np
import pytest

from sdfrecon.datasets.normalize import Normalization
from sdfrecon.datasets.slices import (
    PlaneSlice,
    first_crossing,
    make_plane,
    make_slice_set,
    nesting_parents,
    plane_cap,
    points_inside,
    signed_area,
)
from sdfrecon.base.errors import InputError


def _square(half, center=(0.0, 0.0), ccw=True):
    c = np.asarray(center)
    pts = np.array([[-half, -half], [half, -half], [half, half], [-half, half]]) + c
    return pts if ccw else pts[::-1]


def test_plane_frame_is_right_handed_and_round_trips(rng):
    for _ in range(5):
        normal = rng.normal(size=3)
        plane = make_plane(normal, 0.3)
        origin, u, v = plane.frame()
        np.testing.assert_allclose(np.cross(u, v), plane.normal, atol=1e-12)
        assert plane.normal @ origin + plane.offset == pytest.approx(0.0, abs=1e-12)
        uv = rng.uniform(-2, 2, size=(10, 2))
        world = plane.from_2d(uv)
        np.testing.assert_allclose(world @ plane.normal + plane.offset, 0.0, atol=1e-12)
        np.testing.assert_allclose(plane.to_2d(world), uv, atol=1e-12)


def test_even_odd_labels_holes_and_islands():
    loops = [_square(2.0), _square(1.0, ccw=False), _square(0.3)]  # square, hole, island in the hole
    probes = np.array([[1.5, 0.0], [0.6, 0.0], [0.0, 0.0], [3.0, 0.0]])
    np.testing.assert_array_equal(points_inside(probes, loops), [True, False, True, False])
    depth, parent = nesting_parents(loops)
    assert depth == [0, 1, 2] and parent == [-1, 0, 1]
    assert signed_area(loops[0]) == pytest.approx(16.0) and signed_area(loops[1]) == pytest.approx(-4.0)


def test_make_plane_finds_holes_by_nesting():
    blank = make_plane([0, 0, 2], -1.0)  # unnormalised: z = 0.5
    assert blank.offset == pytest.approx(-0.5)
    loops = [blank.from_2d(_square(2.0)), blank.from_2d(_square(1.0)), blank.from_2d(_square(0.5, (5, 0)))]
    plane = make_plane([0, 0, 2], -1.0, loops)
    assert plane.parents == (-1, 0, -1)


def test_first_crossing():
    assert first_crossing([_square(1.0), _square(0.5)]) is None
    assert first_crossing([_square(1.0), _square(1.0, center=(1.0, 1.0))]) == (0, 1)
    bowtie = np.array([[0, 0], [2, 2], [2, 0], [0, 1]], dtype=float)
    assert first_crossing([bowtie]) == (0, 0)
    # touching at a vertex is not a crossing
    assert first_crossing([_square(1.0), _square(1.0, center=(2.0, 2.0))]) is None


def _stack(heights=(-0.5, 0.0, 0.5), normal=(0.0, 0.0, 1.0)):
    planes = []
    for h in heights:
        blank = make_plane(normal, -h)
        planes.append(make_plane(normal, -h, [blank.from_2d(_square(1.0))]))
    return make_slice_set(planes, "stack")


def test_transformed_planes_stay_consistent_with_their_contours(rng):
    normal = np.array([0.3, -0.4, 0.866])
    slices = _stack(normal=normal)
    norm = Normalization(center=np.array([5.0, -2.0, 1.0]), scale=3.0)
    unit = slices.transformed(norm)
    for world, plane in zip(slices.planes, unit.planes):
        verts = plane.vertices()
        np.testing.assert_allclose(verts, norm.to_unit(world.vertices()))
        np.testing.assert_allclose(verts @ plane.normal + plane.offset, 0.0, atol=1e-12)
        # labels agree in both frames
        uv = rng.uniform(-1.5, 1.5, size=(200, 2))
        pts = world.from_2d(uv)
        np.testing.assert_array_equal(world.contains_2d(uv), plane.contains_2d(plane.to_2d(norm.to_unit(pts))))
    assert unit.cap == pytest.approx(slices.cap / 3.0)


def test_cap_is_half_the_spacing_and_grows_the_extent():
    slices = _stack(heights=(-1.0, 0.0, 1.0))
    assert slices.cap == pytest.approx(0.5)
    ext = slices.extent_points()
    assert ext[:, 2].min() == pytest.approx(-1.5) and ext[:, 2].max() == pytest.approx(1.5)
    tilted = [make_plane(n, 0.0, [make_plane(n, 0.0).from_2d(_square(1.0))]) for n in ([0, 0, 1], [1, 0, 0])]
    assert plane_cap(tilted) == pytest.approx(0.05 * 2.0)  # no parallel pair: 5% of the longest side


def test_summary_counts():
    s = _stack().summary()
    assert (s["kind"], s["planes"], s["contours"], s["vertices"]) == ("slices", 3, 3, 12)


def test_validation_errors():
    blank = make_plane([0, 0, 1], 0.0)
    one = make_plane([0, 0, 1], 0.0, [blank.from_2d(_square(1.0))])
    with pytest.raises(InputError, match="at least 2 are needed"):
        make_slice_set([one], "x")
    with pytest.raises(InputError, match="no plane has a contour"):
        make_slice_set([blank, make_plane([0, 0, 1], -1.0)], "x")
    off = PlaneSlice(np.array([0.0, 0.0, 1.0]), 0.0, (np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0.3]], float),))
    with pytest.raises(InputError, match="from the stated plane"):
        make_slice_set([off, one], "x")
    dup = PlaneSlice(np.array([0.0, 0.0, 1.0]), 0.0, (np.array([[0, 0, 0], [1, 0, 0], [1, 0, 0], [0, 0, 0]], float),))
    with pytest.raises(InputError, match="open"):
        make_slice_set([dup, one], "x")
