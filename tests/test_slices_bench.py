"""The slices bench's between-planes measure sees error that grows away from the planes."""

import numpy as np
import trimesh

from bench.slices_bench import between_planes
from sdfrecon.datasets.slicing import parallel_planes, slice_mesh


def _sphere_and_slices():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=1.0)
    return sphere, slice_mesh(sphere, parallel_planes(sphere, 8, np.array([0.0, 0.0, 1.0])), source="sphere")


def test_a_surface_that_bulges_between_planes_measures_worse_half_way():
    sphere, slices = _sphere_and_slices()
    heights = np.unique([round(-p.offset * float(p.normal[2]), 9) for p in slices.planes])
    v = np.asarray(sphere.vertices)
    gap = np.clip(np.searchsorted(heights, v[:, 2]) - 1, 0, len(heights) - 2)
    t = np.clip((v[:, 2] - heights[gap]) / (heights[gap + 1] - heights[gap]), 0.0, 1.0)
    bulge = 0.02 * np.sin(np.pi * t) ** 2  # zero on every plane, largest half way
    rippled = trimesh.Trimesh(v * (1.0 + bulge)[:, None], sphere.faces, process=False)
    got = between_planes(rippled, sphere, slices, samples=20_000)
    assert got["dist_pct_mid"] > 3 * got["dist_pct_near"]
    same = between_planes(sphere, sphere, slices, samples=20_000)
    assert same["dist_pct_near"] < 1e-3 and same["dist_pct_mid"] < 1e-3
    assert same["angle_near"] < 1.0 and same["angle_mid"] < 1.0
