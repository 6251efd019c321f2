"""Projection of mesh vertices onto the input points."""

import numpy as np
import trimesh

from sdfrecon.datasets.synthetic import sphere_points
from sdfrecon.meshing.refine import RefineConfig, project_to_points

CELL = 0.02


def _radii(mesh):
    return np.linalg.norm(mesh.vertices, axis=1)


def test_vertices_move_onto_the_points_surface_with_either_normal_sign():
    points, normals = sphere_points(40_000, radius=1.0, seed=1)
    coarse = trimesh.creation.icosphere(subdivisions=4, radius=0.99)  # 0.5 cell inside the truth
    flips = np.random.default_rng(0).choice([-1.0, 1.0], size=(len(points), 1))
    for given in (normals, normals * flips):
        refined, stats = project_to_points(coarse, points, given, CELL, RefineConfig(enabled=True))
        assert np.abs(_radii(refined) - 1.0).max() < 0.002  # was 0.01 off
        assert stats["moved"] > 0.99 and np.array_equal(refined.faces, coarse.faces)


def test_moves_are_capped_and_sparse_input_is_left_alone():
    points, normals = sphere_points(40_000, radius=1.0, seed=1)
    far = trimesh.creation.icosphere(subdivisions=3, radius=0.9)  # 5 cells inside
    refined, _ = project_to_points(far, points, normals, CELL, RefineConfig(enabled=True, max_move=1.0))
    moved = np.linalg.norm(refined.vertices - far.vertices, axis=1)
    assert moved.max() <= CELL * (1 + 1e-9)
    sparse_points, sparse_normals = sphere_points(300, radius=1.0, seed=2)  # spacing >> 2 cells
    coarse = trimesh.creation.icosphere(subdivisions=3, radius=0.99)
    refined, stats = project_to_points(coarse, sparse_points, sparse_normals, CELL, RefineConfig(enabled=True))
    assert stats["moved"] == 0 and np.allclose(refined.vertices, coarse.vertices)
