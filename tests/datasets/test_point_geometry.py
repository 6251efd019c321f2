"""Local point-cloud geometry: PCA normals, the orientation check, two-sided walls, splat distances."""

import numpy as np
import pytest

from sdfrecon.datasets.point_geometry import (
    local_spacing,
    pca_normals,
    prepare_normals,
    sign_disagreement,
    splat_distance,
    two_sided_share,
)
from sdfrecon.datasets.synthetic import sphere_points


def _slab(n=6000, thickness=0.02, seed=0):
    """Top and bottom faces of a thin square plate, outward normals (+z / -z)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-1, 1, size=(n, 2))
    top = np.c_[xy[: n // 2], np.full(n // 2, thickness / 2)]
    bottom = np.c_[xy[n // 2:], np.full(n - n // 2, -thickness / 2)]
    normals = np.r_[np.tile([0, 0, 1.0], (n // 2, 1)), np.tile([0, 0, -1.0], (n - n // 2, 1))]
    return np.r_[top, bottom], normals


def test_pca_normals_are_radial_on_a_sphere():
    points, normals = sphere_points(5000, radius=0.7, seed=1)
    estimated = pca_normals(points)
    assert np.abs(np.einsum("nd,nd->n", estimated, normals)).min() > 0.98


def test_sign_disagreement_separates_consistent_from_random_signs():
    points, normals = sphere_points(5000, radius=0.7, seed=1)
    assert sign_disagreement(points, normals) < 0.01
    flips = np.random.default_rng(2).choice([-1.0, 1.0], size=(len(points), 1))
    assert 0.35 < sign_disagreement(points, normals * flips) < 0.65


def test_a_thin_wall_is_not_mistaken_for_inconsistent_normals():
    # The two faces of a plate are within each other's neighbourhood and face away
    # from each other; that is consistent orientation, not a sign error.
    points, normals = _slab()
    assert sign_disagreement(points, normals) < 0.01


def test_prepare_normals_decisions():
    points, normals = sphere_points(3000, radius=0.7, seed=1)
    flips = np.random.default_rng(3).choice([-1.0, 1.0], size=(len(points), 1))
    kept, oriented, _ = prepare_normals(points, normals, "auto")
    assert oriented and kept is normals
    kept, oriented, note = prepare_normals(points, normals * flips, "auto")
    assert not oriented and "inconsistent" in note
    estimated, oriented, _ = prepare_normals(points, None, "auto")
    assert not oriented and estimated.shape == points.shape
    assert prepare_normals(points, normals * flips, "given")[1]  # told to trust them
    assert prepare_normals(points, normals, "none")[0] is None


@pytest.mark.parametrize("oriented", [True, False])
def test_splat_distance_near_a_sphere(oriented):
    points, normals = sphere_points(20_000, radius=0.7, seed=4)
    rng = np.random.default_rng(5)
    queries = rng.normal(size=(2000, 3))
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True) * rng.uniform(0.55, 0.85, size=(2000, 1))
    d = splat_distance(queries, points, normals, local_spacing(points), oriented=oriented)
    truth = np.linalg.norm(queries, axis=1) - 0.7
    expected = truth if oriented else np.abs(truth)
    near = np.abs(truth) < 0.03  # within a few spacings the splats are the surface
    assert np.abs(d - expected)[near].max() < 0.002
    assert np.abs(d - expected).max() < 0.02  # farther, the nearest disc is an approximation
    if oriented:  # the sign is right wherever the query is off the surface by more than noise
        off = np.abs(truth) > 0.002
        assert np.all(np.sign(d[off]) == np.sign(truth[off]))


@pytest.mark.parametrize("oriented", [True, False])
def test_splat_distance_returns_the_nearest_point(oriented):
    """``return_nearest`` hands back the index a separate nearest-neighbour query would
    give (the sampler uses it for the pool's spacing) and leaves the distances alone."""
    from scipy.spatial import cKDTree

    points, normals = sphere_points(5_000, radius=0.7, seed=4)
    queries = np.random.default_rng(6).uniform(-1, 1, size=(3000, 3))
    spacing = local_spacing(points)
    d, nearest = splat_distance(queries, points, normals, spacing, oriented=oriented, return_nearest=True)
    assert np.array_equal(d, splat_distance(queries, points, normals, spacing, oriented=oriented))
    dist, truth = cKDTree(points).query(queries, k=1)
    assert np.array_equal(nearest, truth)
    assert np.allclose(np.linalg.norm(queries - points[nearest], axis=1), dist)


def _two_sided(points: np.ndarray) -> float:
    spacing = local_spacing(points, 8)
    return two_sided_share(points, pca_normals(points), spacing, 5 * float(np.median(spacing)))


def test_two_sided_share_sees_both_faces_of_a_thin_plate_and_not_one_sheet():
    rng = np.random.default_rng(1)
    plate, _ = _slab(n=20_000, thickness=0.04)
    assert _two_sided(plate) > 0.5  # random sampling leaves some cylinders with under three points a side
    # one face alone, flat or curved (a half sphere), clean or noisy: no second sheet
    top = plate[plate[:, 2] > 0]
    assert _two_sided(top) < 0.05
    half = sphere_points(20_000, radius=0.8, seed=0)[0]
    half = half[half[:, 2] > 0]
    assert _two_sided(half) < 0.05
    spacing = float(np.median(local_spacing(top, 8)))
    assert _two_sided(top + rng.normal(scale=0.5 * spacing, size=top.shape)) < 0.1
