"""End-to-end: analytic point clouds -> trained SDF -> mesh, checked against the true surface."""

import numpy as np
import pytest

from sdfrecon.datasets.pointcloud import make_point_cloud
from sdfrecon.datasets.synthetic import sphere_points, sphere_sdf, torus_points, torus_sdf
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import reconstruct
from tests.conftest import TEST_DEVICE, quick_overrides
from tests.helpers import chamfer_to_analytic


@pytest.fixture(scope="module")
def sphere_run():
    pts, nrm = sphere_points(3000, radius=1.0, seed=0)
    cfg = resolve_config("default", quick_overrides())
    return pts, reconstruct(make_point_cloud(pts, nrm), cfg, progress=False)


def test_sphere_chamfer_below_one_percent_of_diagonal(sphere_run):
    pts, result = sphere_run
    gt, _ = sphere_points(50_000, seed=9)
    diag = np.linalg.norm(pts.max(0) - pts.min(0))
    cd = chamfer_to_analytic(result.mesh, lambda p: sphere_sdf(p, 1.0), gt)
    assert cd < 0.01 * diag, cd / diag
    assert result.mesh.is_watertight and result.mesh.volume > 0


def test_torus_chamfer_below_one_percent_of_diagonal():
    pts, nrm = torus_points(4000, seed=0)
    cfg = resolve_config("default", quick_overrides(iterations=250, resolution=80))
    result = reconstruct(make_point_cloud(pts, nrm), cfg, progress=False)
    gt, _ = torus_points(50_000, seed=9)
    diag = np.linalg.norm(pts.max(0) - pts.min(0))
    cd = chamfer_to_analytic(result.mesh, torus_sdf, gt)
    assert cd < 0.01 * diag, cd / diag
    assert result.mesh.is_watertight and result.mesh.euler_number == 0  # genus 1 kept


def test_sphere_without_normals():
    pts, _ = sphere_points(3000, radius=1.0, seed=2)
    cfg = resolve_config("default", quick_overrides())
    result = reconstruct(make_point_cloud(pts), cfg, progress=False)
    gt, _ = sphere_points(50_000, seed=9)
    assert chamfer_to_analytic(result.mesh, lambda p: sphere_sdf(p, 1.0), gt) < 0.01 * 2 * np.sqrt(3)


def test_output_in_input_coordinates(sphere_run):
    """A shifted and scaled input gives the same mesh shifted and scaled."""
    pts, base = sphere_run
    _, nrm = sphere_points(3000, radius=1.0, seed=0)
    scale, shift = 250.0, np.array([1e4, -3e3, 42.0])
    cfg = resolve_config("default", quick_overrides())
    moved = reconstruct(make_point_cloud(pts * scale + shift, nrm), cfg, progress=False)
    # Training happens in the unit frame, so the two runs are the same up to float rounding.
    np.testing.assert_allclose(moved.mesh.vertices, base.mesh.vertices * scale + shift, rtol=0, atol=1e-3 * scale)
    radial = np.linalg.norm(moved.mesh.vertices - shift, axis=1)
    assert np.abs(radial - scale).mean() < 0.01 * scale


def test_seed_determinism(sphere_run):
    pts, first = sphere_run
    _, nrm = sphere_points(3000, radius=1.0, seed=0)
    again = reconstruct(make_point_cloud(pts, nrm), resolve_config("default", quick_overrides()), progress=False)
    np.testing.assert_array_equal(first.mesh.vertices, again.mesh.vertices)
    assert first.record["train"]["final_losses"] == again.record["train"]["final_losses"]


def test_record_contents(sphere_run):
    _, result = sphere_run
    rec = result.record
    assert rec["device"] == TEST_DEVICE
    assert {"setup", "train", "mesh"} <= set(rec["seconds"])
    assert rec["train"]["steps"] == 150 and "total" in rec["train"]["final_losses"]
    assert rec["config"]["train"]["iterations"] == 150
    assert rec["mesh"]["peak_memory_mb"]["host"] > 0


def test_sparse_cloud_trains_fewer_octaves_and_resumes_with_them(tmp_path):
    """The default drops the Fourier octaves a sparse cloud cannot pin down; the config
    written beside the mesh, the record and the checkpoint all hold the fitted encoding,
    so resuming rebuilds the same network."""
    from sdfrecon.base.checkpoint import load_checkpoint
    import trimesh

    from sdfrecon.pipeline.run import reconstruct_file

    overrides = [{"device": TEST_DEVICE, "train": {"iterations": 20, "checkpoint_every": 10}, "mesh": {"resolution": 32}}]
    octaves = {}
    for name, count in [("dense", 5000), ("sparse", 1000)]:
        pts, _ = sphere_points(count, radius=1.0, seed=0)
        scan = tmp_path / f"{name}.ply"
        trimesh.PointCloud(pts).export(scan)
        (outcome,) = reconstruct_file(scan, tmp_path / f"{name}_mesh.ply", overrides=overrides, progress=False)
        octaves[name] = outcome.record["config"]["field"]["encoding"]["num_frequencies"]
        assert f"num_frequencies: {octaves[name]}" in outcome.files.config.read_text()
        state = load_checkpoint(outcome.files.checkpoint)
        assert state["config"]["field"]["encoding"]["num_frequencies"] == octaves[name]
    assert octaves == {"dense": 4, "sparse": 3}
    (again,) = reconstruct_file(tmp_path / "sparse.ply", tmp_path / "sparse_mesh.ply", overrides=[{"mesh": {"resolution": 24}}],
                                resume=True, overwrite=False, progress=False)
    assert again.record["config"]["field"]["encoding"]["num_frequencies"] == 3


def test_large_clouds_train_on_a_seeded_subset():
    """data.max_points: a cloud above it trains on a random subset of that size (the same
    subset for the same seed); the record says how many points were used."""
    from sdfrecon.base.errors import ConfigError

    pts, nrm = sphere_points(6000, radius=1.0, seed=0)
    cloud = make_point_cloud(pts, nrm)
    a, b = cloud.subset(2000, seed=3), cloud.subset(2000, seed=3)
    assert len(a.points) == 2000 and np.array_equal(a.points, b.points) and np.array_equal(a.normals, b.normals)
    assert not np.array_equal(a.points, cloud.subset(2000, seed=4).points)
    assert cloud.subset(10_000) is cloud
    cfg = resolve_config("default", [{"device": TEST_DEVICE, "data": {"max_points": 2000},
                                      "train": {"iterations": 5, "checkpoint_every": 0}, "mesh": {"resolution": 32}}])
    result = reconstruct(cloud, cfg, progress=False)
    assert result.record["input"]["points"] == 6000 and result.record["input"]["points_used"] == 2000
    with pytest.raises(ConfigError, match="max_points"):
        resolve_config("default", [{"data": {"max_points": 500}}])


def test_stray_points_are_dropped_before_the_unit_frame_is_fitted():
    """data.outliers (on in the default): a stray 50 radii out and a few scattered around the
    sphere are dropped before anything sees them, so the unit frame fits the sphere (the far
    one alone would shrink it to 1/25 of the grid), the mesh wraps the sphere only, and the
    record says how many were dropped."""
    pts, _ = sphere_points(3000, radius=1.0, seed=0)
    rng = np.random.default_rng(4)
    around = rng.uniform(-1.6, 1.6, size=(200, 3))
    around = around[np.abs(np.linalg.norm(around, axis=1) - 1.0) > 0.4][:20]
    strays = np.concatenate([around, [[50.0, 0.0, 0.0]]])
    cfg = resolve_config("default", quick_overrides())
    assert cfg.data.outliers.enabled
    result = reconstruct(make_point_cloud(np.concatenate([pts, strays])), cfg, progress=False)
    record = result.record["input"]
    assert record["strays_dropped"] == len(strays) and record["points_used"] == len(pts)
    assert result.record["normalization"]["scale"] == pytest.approx(1.0, rel=0.05)
    gt, _ = sphere_points(50_000, seed=9)
    assert chamfer_to_analytic(result.mesh, lambda p: sphere_sdf(p, 1.0), gt) < 0.02  # 0.6 % of the diagonal
    assert len(result.mesh.split(only_watertight=False)) == 1


def test_sparse_clouds_train_longer_and_the_record_says_so():
    """With train.sparse_spacing set, a cloud sparser than it trains sparse_factor x the steps
    (the record keeps the fitted count); a dense cloud of the same shape keeps its steps."""
    pts, nrm = sphere_points(40_000, radius=1.0, seed=0)
    steps = {}
    for n in (40_000, 500):  # unit-frame spacing about 0.03 and 0.25
        cfg = resolve_config("default", quick_overrides(iterations=3, resolution=16)
                             + [{"train": {"sparse_spacing": 0.05, "sparse_factor": 2.0}}])
        result = reconstruct(make_point_cloud(pts[:n], nrm[:n]), cfg, progress=False)
        steps[n] = (result.record["train"]["steps"], result.record["config"]["train"]["iterations"])
    assert steps == {40_000: (3, 3), 500: (6, 6)}
