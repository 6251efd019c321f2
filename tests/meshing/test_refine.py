"""Projection of mesh vertices onto the input points."""

import dataclasses

import numpy as np
import pytest
import trimesh

from sdfrecon.base.errors import ConfigError

from sdfrecon.datasets.synthetic import sphere_points
from sdfrecon.meshing.refine import RefineConfig, project_to_points, undo_collapses, undo_folds

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


def _thin_plate(thickness: float, fattening: float, cell: float):
    """A closed mesh of a plate fattened by ``fattening`` (as a coarse field meshes a thin
    wall) and points on the plate's two true faces, z = +-thickness / 2, unsigned normals."""
    from skimage.measure import marching_cubes

    from sdfrecon.datasets.synthetic import box_sdf

    half = np.array([0.5, 0.5, thickness / 2])
    axes = [np.arange(-0.6, 0.6 + cell / 2, cell)] * 3
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    values = box_sdf(grid.reshape(-1, 3), half).reshape(grid.shape[:3]) - fattening
    verts, faces, _, _ = marching_cubes(values, 0.0, spacing=(cell,) * 3)
    mesh = trimesh.Trimesh(verts - 0.6, faces)
    if mesh.volume < 0:  # outward normals whatever the marching-cubes winding
        mesh.invert()
    rng = np.random.default_rng(3)
    xy = rng.uniform(-0.45, 0.45, size=(20_000, 2))
    z = np.where(rng.random(len(xy)) < 0.5, 1.0, -1.0) * thickness / 2
    points = np.column_stack([xy, z])
    normals = np.tile([0.0, 0.0, 1.0], (len(points), 1))  # unsigned: one direction for both faces
    return mesh, points, normals


@pytest.mark.parametrize("split", [0.0, 1.0])
def test_the_two_sides_of_a_thin_wall_never_meet(split):
    # A wall a third of a cell thick that the field meshed 1.5 cells thick (a ShapeNet table
    # top): both sheets of the mesh see both faces' points; they must move towards the
    # points without collapsing onto one mid-plane (coincident vertices, fused sheets),
    # also the midpoints added when the triangles are split (clean points: split = 1 applies).
    cell = 0.04
    mesh, points, normals = _thin_plate(cell / 3, 0.6 * cell, cell)
    refined, stats = project_to_points(mesh, points, normals, cell,
                                       RefineConfig(enabled=True, subdivide_below_noise=split))
    assert stats["subdivided"] == (split > 0)
    gap_before, gap_after = _sheet_gap(mesh), _sheet_gap(refined)
    assert stats["moved"] > 0.5
    assert gap_after > 0.05 * gap_before  # the sheets stay apart...
    assert gap_after < 0.8 * gap_before  # ...and still move towards the true faces
    merged = trimesh.Trimesh(refined.vertices, refined.faces, process=True)
    assert len(merged.vertices) == len(refined.vertices)  # no two vertices coincide


def _sheet_gap(mesh: trimesh.Trimesh) -> float:
    """Smallest distance between the upward and downward sheets of a plate (z), away from its rim."""
    inner = np.abs(mesh.vertices[:, :2]).max(axis=1) < 0.4
    top = inner & (mesh.vertex_normals[:, 2] > 0.9)
    bottom = inner & (mesh.vertex_normals[:, 2] < -0.9)
    return float(mesh.vertices[top, 2].min() - mesh.vertices[bottom, 2].max())


def _chord_error(mesh: trimesh.Trimesh) -> float:
    """Mean distance of area-uniform samples of ``mesh`` from the unit sphere."""
    samples, _ = trimesh.sample.sample_surface(mesh, 50_000, seed=0)
    return float(np.abs(np.linalg.norm(samples, axis=1) - 1.0).mean())


def test_clean_input_splits_the_triangles_and_the_midpoints_land_on_the_surface():
    # Triangles about four cells wide on a unit sphere: their flat interiors sit inside it
    # (the chord). Split in four with the midpoints projected, the error must drop about
    # fourfold; the mesh stays closed and the old vertices stay where the first pass put them.
    points, normals = sphere_points(40_000, radius=1.0, seed=1)
    coarse = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    kept, kept_stats = project_to_points(coarse, points, normals, CELL, RefineConfig(enabled=True))
    split, stats = project_to_points(coarse, points, normals, CELL,
                                     RefineConfig(enabled=True, subdivide_below_noise=0.06))
    assert kept_stats["subdivided"] == 0 and stats["subdivided"] == 1 and stats["noise"] < 0.06
    assert len(split.faces) == 4 * len(coarse.faces) and split.is_watertight
    assert np.allclose(split.vertices[:len(kept.vertices)], kept.vertices)
    assert _chord_error(split) < 0.5 * _chord_error(kept)  # 0.36 measured; split alone gives 1.0
    assert np.abs(_radii(split) - 1.0).max() < 0.002


def test_curved_edges_are_split_again_and_flat_ones_are_not():
    # Triangles about four cells wide: after the split in four, the halved edges of the
    # sphere still stand ~0.02 cells off it; those above curved_split are split again. On
    # the box's flat faces no edge is (the chord lies on the surface); the mesh stays closed.
    points, normals = sphere_points(40_000, radius=1.0, seed=1)
    coarse = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    once, _ = project_to_points(coarse, points, normals, CELL, RefineConfig(enabled=True, subdivide_below_noise=0.06))
    twice, stats = project_to_points(coarse, points, normals, CELL,
                                     RefineConfig(enabled=True, subdivide_below_noise=0.06, curved_split=0.005))
    assert stats["curved_edges"] > 0 and len(twice.faces) > len(once.faces)
    assert twice.is_watertight and twice.is_winding_consistent
    assert _chord_error(twice) < 0.6 * _chord_error(once)
    # a flat patch: every chord lies on the surface, no edge is split again
    patch, patch_points = _flat_patch()
    refined, stats = project_to_points(patch, patch_points, np.tile([0.0, 0.0, 1.0], (20_000, 1)), CELL,
                                       RefineConfig(enabled=True, subdivide_below_noise=0.06, curved_split=0.005))
    assert stats["subdivided"] == 1 and stats["curved_edges"] == 0 and len(refined.faces) == 4 * len(patch.faces)


def test_the_first_split_can_leave_flat_parts_alone():
    # first_split > 0: only edges whose chord stands off the surface are split. A flat patch
    # keeps its triangles; on the sphere (every chord ~0.08 cells off) the split gives the
    # same mesh size and about the same chord error as the split in four (midpoints start on
    # the estimated arc there, so not bit for bit the same).
    cfg = RefineConfig(enabled=True, subdivide_below_noise=0.06, first_split=0.002)
    patch, patch_points = _flat_patch()
    refined, stats = project_to_points(patch, patch_points, np.tile([0.0, 0.0, 1.0], (len(patch_points), 1)),
                                       CELL, cfg)
    assert stats["subdivided"] == 1 and stats["split_edges"] == 0 and len(refined.faces) == len(patch.faces)
    points, normals = sphere_points(40_000, radius=1.0, seed=1)
    coarse = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    everywhere, _ = project_to_points(coarse, points, normals, CELL, RefineConfig(enabled=True, subdivide_below_noise=0.06))
    curved, stats = project_to_points(coarse, points, normals, CELL, cfg)
    assert stats["split_edges"] == len(coarse.edges_unique) and len(curved.faces) == 4 * len(coarse.faces)
    assert curved.is_watertight and _chord_error(curved) < 1.1 * _chord_error(everywhere)


def _flat_patch() -> tuple[trimesh.Trimesh, np.ndarray]:
    """A flat square mesh (z = 0, 25 x 25 squares) and 20,000 points on its plane."""
    side = np.linspace(-0.5, 0.5, 26)
    grid = np.stack(np.meshgrid(side, side, indexing="ij"), axis=-1).reshape(-1, 2)
    patch = trimesh.Trimesh(np.column_stack([grid, np.zeros(len(grid))]), _grid_faces(len(side)), process=False)
    points = np.column_stack([np.random.default_rng(3).uniform(-0.55, 0.55, (20_000, 2)), np.zeros(20_000)])
    return patch, points


def _grid_faces(n: int) -> list[list[int]]:
    """Two triangles per square of an n x n vertex grid (row-major), wound counter-clockwise."""
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, (i + 1) * n + j, (i + 1) * n + j + 1, i * n + j + 1
            faces += [[a, b, c], [a, c, d]]
    return faces


def test_noisy_or_sparse_input_keeps_its_triangles():
    points, normals = sphere_points(40_000, radius=1.0, seed=1)
    noisy = points + np.random.default_rng(4).normal(scale=0.1 * CELL, size=points.shape)  # 0.1 cells
    coarse = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    cfg = RefineConfig(enabled=True, subdivide_below_noise=0.06)
    refined, stats = project_to_points(coarse, noisy, normals, CELL, cfg)
    assert stats["noise"] > 0.06 and stats["subdivided"] == 0 and len(refined.faces) == len(coarse.faces)
    sparse_points, sparse_normals = sphere_points(300, radius=1.0, seed=2)  # nothing is projected
    refined, stats = project_to_points(coarse, sparse_points, sparse_normals, CELL, cfg)
    assert stats["subdivided"] == 0 and len(refined.faces) == len(coarse.faces)


def _normal_roughness(mesh: trimesh.Trimesh) -> float:
    """Mean angle (radians) between the face normals and the unit sphere's normals there."""
    radial = mesh.triangles_center / np.linalg.norm(mesh.triangles_center, axis=1, keepdims=True)
    return float(np.arccos(np.clip(np.einsum("ij,ij->i", mesh.face_normals, radial), -1, 1)).mean())


def test_noisy_input_is_smoothed_after_the_projection_and_clean_input_is_not():
    # Noise of 0.5 cells: the projected vertices keep a scatter that roughens the normals;
    # the Taubin passes take most of it out without shrinking the sphere.
    points, normals = sphere_points(40_000, radius=1.0, seed=1)
    noisy = points + np.random.default_rng(4).normal(scale=0.5 * CELL, size=points.shape)
    coarse = trimesh.creation.icosphere(subdivisions=5, radius=1.0)
    cfg = RefineConfig(enabled=True, subdivide_below_noise=0.06, smooth_above_noise=0.2, smooth_passes=5)
    rough, rough_stats = project_to_points(coarse, noisy, normals, CELL, RefineConfig(enabled=True))
    smooth, stats = project_to_points(coarse, noisy, normals, CELL, cfg)
    assert rough_stats["smoothed"] == 0 and stats["smoothed"] == 1 and stats["subdivided"] == 0
    assert _normal_roughness(smooth) < 0.7 * _normal_roughness(rough)
    assert abs(np.mean(_radii(smooth)) - 1.0) < 0.1 * CELL  # Taubin keeps the size
    clean, clean_stats = project_to_points(coarse, points, normals, CELL, cfg)
    assert clean_stats["smoothed"] == 0 and clean_stats["subdivided"] == 1


def test_noisy_input_fits_planes_through_more_points():
    # Noise of 0.5 cells on a sphere: the 32 nearest points leave each vertex a scatter of
    # about noise / sqrt(32); 64 leave less (the radius error drops 8 %: the Gaussian weight
    # already fades at the 32nd point of this cloud, 2.5 cells out). Clean input is
    # unaffected by the option: the same mesh with or without it.
    points, normals = sphere_points(40_000, radius=1.0, seed=1)
    noisy = points + np.random.default_rng(4).normal(scale=0.5 * CELL, size=points.shape)
    coarse = trimesh.creation.icosphere(subdivisions=5, radius=1.0)
    base = RefineConfig(enabled=True, subdivide_below_noise=0.06, smooth_above_noise=0.2, smooth_passes=0)
    wide = dataclasses.replace(base, noisy_neighbours=64)
    narrow_mesh, _ = project_to_points(coarse, noisy, normals, CELL, base)
    wide_mesh, stats = project_to_points(coarse, noisy, normals, CELL, wide)
    assert stats["neighbours"] == 64
    assert np.abs(_radii(wide_mesh) - 1.0).mean() < 0.95 * np.abs(_radii(narrow_mesh) - 1.0).mean()
    clean_base, _ = project_to_points(coarse, points, normals, CELL, base)
    clean_wide, stats = project_to_points(coarse, points, normals, CELL, wide)
    assert np.array_equal(clean_base.vertices, clean_wide.vertices) and stats["neighbours"] == 32
    # a sparse cloud's noise estimate reads its curvature (here ~1 cell): not noisy
    sparse_points, sparse_normals = sphere_points(300, radius=1.0, seed=2)
    _, stats = project_to_points(coarse, sparse_points, sparse_normals, CELL, wide)
    assert stats["noise"] > 0.2 and stats["neighbours"] == 32


@pytest.mark.parametrize("bad", [{"subdivide_below_noise": -1.0}, {"first_split": -0.1}, {"noisy_neighbours": 2}, {"neighbours": 2}, {"curved_split": -0.1}, {"smooth_passes": -1}, {"smooth_above_noise": -0.1}, {"gap_fraction": 0.5}, {"gap_fraction": 0.0}, {"sheet_tolerance": 0.0}])
def test_sheet_options_out_of_range_are_refused(bad):
    with pytest.raises(ConfigError, match="sheet_tolerance|gap_fraction|subdivide_below_noise|split|smooth|neighbours"):
        RefineConfig(enabled=True, **bad).validate("mesh.refine")


def test_vertices_brought_onto_one_point_are_put_back():
    before = np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0], [3.0, 0.5, 0]])
    after = before.copy()
    after[1] = [0.5, 0, 0]
    after[0] = [0.5, 0, 1e-9]  # 0 and 1 meet
    after[3] = [2.0, 0, 0]  # 3 lands on 2 ...
    after[4] = [3.0, 0, 0]  # ... and 4 where 3 was: putting 3 back lands it on 4 (a second round)
    fixed, restored = undo_collapses(after, before, 1e-6)
    assert restored == 5
    assert np.allclose(fixed, before)
    untouched, none = undo_collapses(before + 0.1, before, 1e-6)
    assert none == 0 and np.allclose(untouched, before + 0.1)


def test_vertices_that_fold_a_triangle_are_put_back():
    # A flat grid; one vertex pushed sideways past its neighbour turns two triangles over,
    # another lifted slightly turns none by more than 60 degrees: only the first goes back.
    side = np.linspace(0.0, 1.0, 6)
    grid = np.stack(np.meshgrid(side, side, indexing="ij"), axis=-1).reshape(-1, 2)
    before = np.column_stack([grid, np.zeros(len(grid))])
    faces = np.array(_grid_faces(len(side)))
    after = before.copy()
    after[14, 0] += 0.3  # grid step 0.2: past the next vertex in x
    after[8, 2] += 0.02
    restored_vertices, count = undo_folds(after, before, faces)
    assert np.allclose(restored_vertices[14], before[14]) and np.allclose(restored_vertices[8], after[8])
    normals = trimesh.Trimesh(restored_vertices, faces, process=False).face_normals
    assert np.all(normals[:, 2] > 0.9) and count == 1  # the folded triangles' other corners had not moved
