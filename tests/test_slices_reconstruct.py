"""Reconstruction from slices end to end: accuracy on a sliced sphere, the CLI on .csl and mask inputs."""

import json

import numpy as np
import pytest
import trimesh

from sdfrecon.datasets.slicing import parallel_planes, slice_mesh
from sdfrecon.evaluation.metrics import bbox_diagonal, compare_meshes
from sdfrecon.cli import main
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import reconstruct
from tests.conftest import TEST_DEVICE

SMALL = {
    "device": TEST_DEVICE,
    "field": {"encoding": {"name": "none"}, "network": {"hidden_dim": 64, "num_layers": 3}},
    "sampler": {"plane_points": 512, "band_points": 1024, "contour_points": 256, "uniform_points": 512,
                "near_points": 256, "exterior_points": 128, "pool_size": 8192},
    "train": {"iterations": 300, "checkpoint_every": 0},
    "mesh": {"resolution": 48},
}


@pytest.fixture(scope="module")
def sphere():
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=2.0)
    mesh.apply_translation([3.0, -1.0, 0.5])  # world frame away from the origin
    return mesh


@pytest.mark.slow
def test_sphere_from_five_parallel_slices(sphere):
    slices = slice_mesh(sphere, parallel_planes(sphere, 5), source="sphere")
    cfg = resolve_config("slices", [SMALL])
    result = reconstruct(slices, cfg, progress=False)
    mesh = result.mesh
    assert mesh.is_watertight
    metrics = compare_meshes(mesh, sphere, samples=20_000)
    assert metrics.chamfer_l1 < 0.02 * bbox_diagonal(sphere.vertices), metrics
    # mesh comes back in the input's coordinates, and the field's sign is right
    np.testing.assert_allclose(mesh.bounds.mean(axis=0), [3.0, -1.0, 0.5], atol=0.15)
    assert result.record["input"]["kind"] == "slices" and result.record["input"]["planes"] == 5


def _quick(extra=()):
    return ["--device", TEST_DEVICE, "--quiet", "--iterations", "20", "--resolution", "24",
            "--set", "sampler.pool_size=2048", "--set", "train.checkpoint_every=0", *extra]


def test_cli_slice_then_reconstruct_csl(tmp_path, sphere):
    src = tmp_path / "sphere.obj"
    sphere.export(src)
    csl = tmp_path / "sphere.csl"
    assert main(["slice", str(src), "-o", str(csl), "--planes", "5"]) == 0
    out = tmp_path / "rec.ply"
    assert main(["reconstruct", str(csl), "-o", str(out), *_quick()]) == 0
    mesh = trimesh.load(out)
    assert mesh.is_watertight
    record = json.loads((tmp_path / "rec.json").read_text())
    assert record["input"]["kind"] == "slices"
    assert record["config"]["sampler"]["name"] == "slices"  # the slices preset was picked
    assert np.all(mesh.bounds[0] > sphere.bounds[0] - 0.5) and np.all(mesh.bounds[1] < sphere.bounds[1] + 0.5)


def test_cli_reconstruct_mask_volume_with_spacing(tmp_path):
    rows, cols = np.mgrid[0:24, 0:24]
    disc = ((rows - 12) ** 2 + (cols - 12) ** 2 <= 64).astype(np.uint8)
    volume = np.stack([np.zeros_like(disc), disc, disc, disc, np.zeros_like(disc)])
    path = tmp_path / "masks.npy"
    np.save(path, volume)
    out = tmp_path / "masks.ply"
    argv = ["reconstruct", str(path), "-o", str(out), "--spacing", "0.5", "0.5", "2.0",
            "--origin", "100", "0", "0", *_quick()]
    assert main(argv) == 0
    mesh = trimesh.load(out)
    centre = mesh.bounds.mean(axis=0)
    np.testing.assert_allclose(centre, [106.0, 6.0, 4.0], atol=1.0)  # x = 100 + 12 * 0.5, z = 2 * 2
    assert mesh.extents[2] < 2.0 * 4  # closes within the empty end slices


def test_cli_mask_options_on_a_point_cloud_are_an_error(tmp_path, capsys):
    pts = np.random.default_rng(0).normal(size=(200, 3))
    path = tmp_path / "pts.xyz"
    np.savetxt(path, pts)
    out = tmp_path / "o.ply"
    argv = ["reconstruct", str(path), "-o", str(out), "--spacing", "1", "1", "2", "--device", TEST_DEVICE, "--quiet"]
    assert main(argv) == 2
    assert "apply to mask" in capsys.readouterr().err
    assert not out.exists()
