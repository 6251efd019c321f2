import numpy as np
import pytest
import torch

from sdfrecon.datasets.synthetic import sphere_sdf, torus_sdf
from sdfrecon.meshing import Grid, MeshConfig, evaluate_grid, extract_mesh, marching_cubes
from sdfrecon.meshing.cleanup import remove_small_components
from sdfrecon.base.errors import NoSurfaceError


def _torch_field(fn):
    return lambda x: torch.as_tensor(fn(x.double().numpy()), dtype=torch.float32)


def test_grid_covering_is_cubic_and_centred():
    grid = Grid.covering(np.array([-1.0, -0.5, 0.0]), np.array([1.0, 0.5, 0.2]), 40)
    assert grid.spacing == pytest.approx(2.0 / 40)
    assert grid.shape[0] == 41
    far = grid.origin + (np.array(grid.shape) - 1) * grid.spacing
    np.testing.assert_allclose((grid.origin + far) / 2, [0.0, 0.0, 0.1], atol=1e-12)


def test_chunked_evaluation_matches_one_call():
    grid = Grid.covering(-np.ones(3), np.ones(3), 20)
    f = _torch_field(lambda p: sphere_sdf(p, 0.7))
    whole = evaluate_grid(f, grid, chunk_points=10**9)
    chunked = evaluate_grid(f, grid, chunk_points=97)
    np.testing.assert_array_equal(whole, chunked)
    # node (i, j, k) holds the value at origin + (i, j, k) * spacing
    i, j, k = 3, 11, 17
    expected = sphere_sdf(grid.origin + np.array([i, j, k]) * grid.spacing, 0.7)
    assert whole[i, j, k] == pytest.approx(expected, abs=1e-6)


def test_sphere_mesh_accurate_closed_and_outward():
    grid = Grid.covering(-np.ones(3) * 1.2, np.ones(3) * 1.2, 64)
    values = evaluate_grid(_torch_field(lambda p: sphere_sdf(p, 1.0, center=(0.1, 0, 0))), grid)
    mesh = marching_cubes(values, grid)
    radial = np.linalg.norm(mesh.vertices - [0.1, 0, 0], axis=1)
    assert np.abs(radial - 1.0).max() < 0.01
    assert mesh.is_watertight
    assert mesh.volume > 0  # outward faces => positive signed volume
    assert mesh.volume == pytest.approx(4 / 3 * np.pi, rel=0.02)


def test_surface_leaving_the_box_is_capped_closed():
    # The sphere is cut by the grid: padding with "outside" values closes the cut.
    grid = Grid.covering(np.array([-1.5, -1.5, 0.0]), np.array([1.5, 1.5, 1.5]), 48)
    values = evaluate_grid(_torch_field(lambda p: sphere_sdf(p, 1.0)), grid)
    mesh = marching_cubes(values, grid)
    assert mesh.is_watertight and mesh.volume > 0


def test_no_surface_raises_with_cause():
    grid = Grid.covering(-np.ones(3), np.ones(3), 8)
    with pytest.raises(NoSurfaceError, match="above 0 everywhere"):
        marching_cubes(np.ones(grid.shape, dtype=np.float32), grid)
    with pytest.raises(NoSurfaceError, match="below 0 everywhere"):
        marching_cubes(-np.ones(grid.shape, dtype=np.float32), grid)


def test_extract_mesh_removes_small_blobs():
    def two_spheres(p):
        return np.minimum(sphere_sdf(p, 0.6, center=(-0.3, 0, 0)), sphere_sdf(p, 0.05, center=(0.8, 0.8, 0.8)))

    f = _torch_field(two_spheres)
    lo, hi = -np.ones(3), np.ones(3)
    kept = extract_mesh(f, lo, hi, MeshConfig(resolution=64, min_component_fraction=0.01)).mesh
    everything = extract_mesh(f, lo, hi, MeshConfig(resolution=64, min_component_fraction=0.0)).mesh
    assert len(everything.split(only_watertight=False)) == 2
    assert len(kept.split(only_watertight=False)) == 1
    assert remove_small_components(everything, 0.0) is everything


def test_torus_genus_preserved():
    grid = Grid.covering(-np.array([1.5, 1.5, 0.5]), np.array([1.5, 1.5, 0.5]), 96)
    mesh = marching_cubes(evaluate_grid(_torch_field(torus_sdf), grid), grid)
    assert mesh.is_watertight
    assert mesh.euler_number == 0  # genus 1


def test_chunk_size_explicit_and_automatic(monkeypatch):
    from sdfrecon.meshing import memory

    field = lambda x: x.norm(dim=1) - 0.5  # noqa: E731
    assert memory.chunk_size(field, "cpu", 1234) == 1234
    auto = memory.chunk_size(field, "cpu", 0)
    assert 4096 <= auto <= memory.CPU_CHUNK
    # Short on memory: 64 MB available -> half of it at ~4 KB per node.
    monkeypatch.setattr(memory, "available_host_bytes", lambda: 64 * 2**20)
    assert memory.chunk_size(field, "cpu", 0) == 8192
    monkeypatch.setattr(memory, "available_host_bytes", lambda: None)
    assert memory.chunk_size(field, "cpu", 0) == memory.CPU_CHUNK


def test_peak_memory_reports_the_host():
    from sdfrecon.meshing.memory import peak_memory_mb

    peaks = peak_memory_mb("cpu")
    assert set(peaks) == {"host"} and peaks["host"] > 10  # a Python process with torch is > 10 MB
