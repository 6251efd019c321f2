import numpy as np
import pytest
import trimesh

from sdfrecon.evaluation.metrics import compare_point_sets, distance_to_surface


def test_distance_to_surface_exact_on_sphere():
    mesh = trimesh.creation.icosphere(subdivisions=6, radius=1.0)
    pts = np.array([[0, 0, 3.0], [0.2, 0, 0], [0, -0.5, 0]]) + 1e4  # large offset keeps precision
    d = distance_to_surface(pts, mesh.copy().apply_translation([1e4] * 3))
    np.testing.assert_allclose(d, [2.0, 0.8, 0.5], atol=2e-3)


def test_identical_point_sets_are_perfect():
    pts = np.random.default_rng(0).normal(size=(1000, 3))
    m = compare_point_sets(pts, pts, threshold=0.01)
    assert m.chamfer_l1 == 0 and m.hausdorff == 0 and m.fscore == 1.0
