"""Coarse-to-fine meshing gives the dense result with far fewer queries."""

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from sdfrecon.datasets.synthetic import sphere_sdf, torus_sdf
from sdfrecon.meshing import MeshConfig, evaluate_grid, extract_mesh, marching_cubes
from sdfrecon.meshing.blocks import marching_cubes_band
from sdfrecon.meshing.narrowband import evaluate_narrow_band, levels_for, nested_grid, node_signs
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.base.errors import NoSurfaceError
from sdfrecon.pipeline.reconstruct import build_field_seeded


def _torch(fn):
    return lambda x: torch.as_tensor(fn(x.double().numpy()), dtype=torch.float32)


def torus_and_ball(p):
    return np.minimum(torus_sdf(p, 0.6, 0.2), sphere_sdf(p, 0.15, center=(0.0, 0.0, 0.0)))


def assert_same_mesh(a, b):
    assert len(a.faces) == len(b.faces) and len(a.vertices) == len(b.vertices)
    dist, idx = cKDTree(b.vertices).query(a.vertices)
    assert dist.max() < 1e-5
    assert {tuple(f) for f in np.sort(idx[a.faces], axis=1)} == {tuple(f) for f in np.sort(b.faces, axis=1)}


@pytest.mark.parametrize("block_cells", [8, 64])
def test_matches_dense_marching_cubes(block_cells):
    field = _torch(torus_and_ball)
    levels = levels_for(64, 8)
    grid = nested_grid(-np.ones(3), np.ones(3), 64, levels)
    band = evaluate_narrow_band(field, grid, levels)
    banded = marching_cubes_band(band, block_cells=block_cells)
    dense = marching_cubes(evaluate_grid(field, grid), grid)
    assert_same_mesh(banded, dense)
    assert banded.is_watertight and banded.volume > 0
    assert band.queries < grid.num_nodes / 2


def test_capped_where_the_surface_leaves_the_box():
    field = _torch(lambda p: sphere_sdf(p, 1.0))
    levels = levels_for(48, 8)
    grid = nested_grid(np.array([-1.3, -1.3, 0.0]), np.array([1.3, 1.3, 1.3]), 48, levels)
    banded = marching_cubes_band(evaluate_narrow_band(field, grid, levels), block_cells=16)
    assert_same_mesh(banded, marching_cubes(evaluate_grid(field, grid), grid))
    assert banded.is_watertight


def test_signs_of_unevaluated_nodes_are_right():
    sdf = lambda p: sphere_sdf(p, 0.7)  # noqa: E731
    levels = levels_for(64, 8)
    grid = nested_grid(-np.ones(3), np.ones(3), 64, levels)
    band = evaluate_narrow_band(_torch(sdf), grid, levels)
    rng = np.random.default_rng(0)
    ijk = rng.integers(0, np.array(grid.shape), size=(5000, 3))
    flat = (ijk[:, 0] * grid.shape[1] + ijk[:, 1]) * grid.shape[2] + ijk[:, 2]
    far = ~np.isin(flat, band.nodes)
    truth = np.sign(sdf(grid.origin + ijk[far] * grid.spacing))
    np.testing.assert_array_equal(node_signs(band, ijk[far]), truth)


def test_trained_like_network_field_matches_dense():
    # The field is pinned (not the shipped default's, which may change): a geometric-init MLP is
    # close to a distance function at initialisation, as a trained field is, so the coarse
    # grid's band criterion holds for it.
    cfg = resolve_config("default", [{"field": {
        "encoding": {"name": "fourier", "num_frequencies": 3},
        "network": {"name": "mlp", "hidden_dim": 128, "num_layers": 4, "activation": "softplus"}}}])
    field = build_field_seeded(cfg).eval()
    # A non-cubic box, whose cell counts the coarse-to-fine grid rounds up: both methods
    # must still use one lattice, so the meshes are identical, not merely close.
    lo, hi = np.array([-1.0, -0.7, -0.55]), np.array([1.0, 0.7, 0.55])
    with torch.no_grad():
        coarse = extract_mesh(field.surface_value, lo, hi, MeshConfig(resolution=64, coarse_resolution=8))
        dense = extract_mesh(field.surface_value, lo, hi, MeshConfig(resolution=64, coarse_resolution=8,
                                                                        method="dense"))
    assert_same_mesh(coarse.mesh, dense.mesh)
    assert coarse.queries < dense.queries


def test_queries_scale_with_area_not_volume():
    field = _torch(lambda p: sphere_sdf(p, 0.6))
    counts = {}
    for res in (64, 128):
        levels = levels_for(res, 16)
        grid = nested_grid(-np.ones(3), np.ones(3), res, levels)
        counts[res] = evaluate_narrow_band(field, grid, levels).queries
    assert counts[128] / counts[64] < 5.0  # dense grows 8x


def test_no_surface_raises():
    levels = levels_for(32, 8)
    grid = nested_grid(-np.ones(3), np.ones(3), 32, levels)
    with pytest.raises(NoSurfaceError, match="above 0 everywhere"):
        marching_cubes_band(evaluate_narrow_band(_torch(lambda p: sphere_sdf(p, 0.1) + 5), grid, levels))


def test_a_part_thinner_than_a_coarse_cell_is_meshed():
    """A plate 0.04 thick lies between two coarse nodes (0.25 apart), where the field is
    positive; the fine band sees it, and so must the check that a surface exists."""
    slab = _torch(lambda p: np.maximum(np.abs(p[:, 2] - 0.1) - 0.02, np.maximum(np.abs(p[:, 0]), np.abs(p[:, 1])) - 0.5))
    levels = levels_for(64, 8)
    grid = nested_grid(-np.ones(3), np.ones(3), 64, levels)
    band = evaluate_narrow_band(slab, grid, levels)
    coarse = evaluate_grid(slab, nested_grid(-np.ones(3), np.ones(3), 8, 0))
    assert coarse.min() > 0  # the coarse grid alone sees no inside
    assert band.field_min < 0
    assert_same_mesh(marching_cubes_band(band), marching_cubes(evaluate_grid(slab, grid), grid))


class HalfAwareField:
    """An analytic field that behaves like a network under float16 autocast: there its
    values are rounded to float16 and perturbed (by up to 1e-3, deterministically);
    it remembers whether each call ran under autocast."""

    def __init__(self, fn):
        self.fn = _torch(fn)
        self.calls: list[tuple[bool, int]] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        half = torch.is_autocast_enabled(x.device.type)
        self.calls.append((half, len(x)))
        values = self.fn(x)
        if half:
            values = (values + 1e-3 * torch.sin(97.0 * x.sum(dim=1))).half()
        return values


def test_float16_classification_gives_the_float32_mesh():
    lo, hi = -np.ones(3) * 0.9, np.ones(3) * 0.9
    base = MeshConfig(resolution=64, coarse_resolution=8, padding=0.05, min_component_fraction=0.0)
    reference = extract_mesh(_torch(torus_and_ball), lo, hi, base).mesh
    dense = extract_mesh(_torch(torus_and_ball), lo, hi, MeshConfig(**{**base.__dict__, "method": "dense"})).mesh
    field = HalfAwareField(torus_and_ball)
    half = extract_mesh(field, lo, hi, MeshConfig(**{**base.__dict__, "classify_precision": "float16"}))
    assert_same_mesh(half.mesh, reference)
    assert_same_mesh(half.mesh, dense)
    assert any(h for h, _ in field.calls) and not field.calls[-1][0]  # coarse in half, fine level in float32
    assert half.queries < half.grid.num_nodes / 2


def test_float16_never_feeds_marching_cubes():
    """Every fine-level node value comes from a float32 call: equal to the float32 field's."""
    levels = levels_for(64, 8)
    grid = nested_grid(-np.ones(3), np.ones(3), 64, levels)
    field = HalfAwareField(torus_and_ball)
    band = evaluate_narrow_band(field, grid, levels, half=True)
    exact = evaluate_narrow_band(_torch(torus_and_ball), grid, levels)
    ijk = np.stack(np.unravel_index(band.nodes, grid.shape), axis=1)
    expected = _torch(torus_and_ball)(grid.coordinates(torch.as_tensor(ijk))).numpy()
    np.testing.assert_array_equal(band.values, expected)
    assert set(exact.nodes) <= set(band.nodes)


@pytest.mark.parametrize("offset", [0.0, 1e-9])
def test_no_vanishing_edges_where_the_surface_passes_through_nodes(offset):
    # Radius 16 cells: the surface goes through (or 1e-9 next to) the nodes on the axes, and
    # every edge around such a node crosses the level at (or next to) the node. Those
    # crossings would be vertices 1e-8 cells apart or coincident, which tools weld on load
    # (trimesh, float32 files): the mesh would stop being closed.
    field = _torch(lambda p: sphere_sdf(p, 0.5 + offset))
    levels = levels_for(64, 8)
    grid = nested_grid(-np.ones(3), np.ones(3), 64, levels)
    dense = marching_cubes(evaluate_grid(field, grid), grid)
    banded = marching_cubes_band(evaluate_narrow_band(field, grid, levels), block_cells=16)
    for mesh in (dense, banded):
        assert mesh.edges_unique_length.min() > 1e-4 * grid.spacing
        welded = trimesh.Trimesh(np.asarray(mesh.vertices, dtype=np.float32), mesh.faces)  # process=True welds
        assert welded.is_watertight and len(welded.vertices) == len(mesh.vertices)
    assert_same_mesh(banded, dense)
