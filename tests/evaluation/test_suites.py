"""Benchmark suite readers (datasets/benchmarks.py): SRB, ShapeNet/ONet and mesh folders."""

import numpy as np
import pytest
import trimesh

from sdfrecon.datasets.benchmarks import ScanOptions, detect_layout, read_ground_truth, read_mesh, read_suite
from sdfrecon.datasets.synthetic import sphere_points
from sdfrecon.evaluation.metrics import distance_to_surface
from sdfrecon.evaluation.scoring import evaluate
from sdfrecon.evaluation.metrics import MetricOptions
from sdfrecon.base.errors import ConfigError, InputError
from tests.conftest import shared_data
from tests.helpers import write_ply


def test_srb_reader_finds_both_shared_shapes_and_pairs_lordquas():
    folder = shared_data("srb")
    shapes = read_suite(folder)
    assert [s.name for s in shapes] == ["dc", "lord_quas"] and {s.layout for s in shapes} == {"srb"}
    item = read_suite(folder, "srb", names=["lord_quas"])[0].load()
    assert item.extras["ground_truth"].endswith("lordquas.off")  # matched ignoring case and '_'
    assert len(item.cloud) == 57264 and item.cloud.has_normals and item.gt_mesh.is_watertight
    # scan and ground truth share a frame: the scan lies on the GT surface (to ~0.3 % of the diagonal)
    d = distance_to_surface(item.cloud.points[::50], item.gt_mesh)
    assert d.mean() < 0.005 * np.linalg.norm(np.ptp(item.gt_mesh.vertices, axis=0))


def test_srb_layout_with_xyz_ground_truth_and_name_variants(tmp_path):
    (tmp_path / "scans").mkdir()
    (tmp_path / "ground_truth").mkdir()
    pts, nrm = sphere_points(500, radius=2.0, seed=0)
    write_ply(tmp_path / "scans" / "Lord_Quas.ply", pts, nrm)
    write_ply(tmp_path / "scans" / "orphan.ply", pts, nrm)  # no ground truth: skipped
    np.savetxt(tmp_path / "ground_truth" / "lordquas.xyz", sphere_points(800, radius=2.0, seed=1)[0])
    shapes = read_suite(tmp_path)
    assert [s.name for s in shapes] == ["Lord_Quas"]
    item = shapes[0].load()
    assert item.gt_mesh is None and item.gt_points.shape == (800, 3) and len(item.cloud) == 500


def _shapenet_suite(root, packed=True):
    model = root / "02691156" / "abc123"
    model.mkdir(parents=True)
    pts, nrm = sphere_points(6000, radius=0.4, seed=2)
    np.savez(model / "pointcloud.npz", points=pts.astype(np.float16), normals=nrm.astype(np.float16))
    query = np.random.default_rng(3).uniform(-0.55, 0.55, size=(20_001, 3))  # odd count: padded last byte
    inside = np.linalg.norm(query, axis=1) < 0.4
    occ = np.packbits(inside) if packed else inside
    np.savez(model / "points.npz", points=query.astype(np.float16), occupancies=occ)
    return inside


@pytest.mark.parametrize("packed", [True, False])
def test_shapenet_onet_layout(tmp_path, packed):
    inside = _shapenet_suite(tmp_path, packed)
    assert detect_layout(tmp_path) == "shapenet"
    shapes = read_suite(tmp_path, options=ScanOptions(points=1000, seed=4))
    assert [s.name for s in shapes] == ["02691156_abc123"]
    item = shapes[0].load()
    assert len(item.cloud) == 1000 and item.cloud.has_normals and item.gt_points.shape == (6000, 3)
    assert item.extras["category"] == "02691156" and item.gt_mesh is None
    np.testing.assert_array_equal(item.occupancies, inside)
    # a sphere reconstruction scores IoU ~ 1 at the labelled points
    rec = trimesh.creation.icosphere(subdivisions=4, radius=0.4)
    ev = evaluate(rec, gt_points=item.gt_points, gt_normals=item.gt_normals, occupancy_points=item.occupancy_points,
                  occupancies=item.occupancies, options=MetricOptions(samples=6000))
    assert ev.iou > 0.98 and ev.surface.chamfer_l1 < 0.01


@pytest.fixture
def mesh_folder(tmp_path):
    trimesh.creation.icosphere(subdivisions=3, radius=1.0).export(tmp_path / "sphere.ply")
    trimesh.creation.box(extents=(2.0, 1.0, 1.0)).export(tmp_path / "box.STL")
    return tmp_path


def test_mesh_folder_synthetic_scans(mesh_folder):
    assert detect_layout(mesh_folder) == "meshes"
    shapes = read_suite(mesh_folder, options=ScanOptions(points=3000, seed=1))
    assert [s.name for s in shapes] == ["box", "sphere"]
    box = shapes[0].load()
    assert box.gt_mesh.is_watertight  # STL corners merged
    assert len(box.cloud) == 3000 and box.cloud.has_normals
    assert distance_to_surface(box.cloud.points, box.gt_mesh).max() < 1e-5
    # seeded per shape: the same scan whatever else is in the suite; another seed differs
    alone = read_suite(mesh_folder, options=ScanOptions(points=3000, seed=1), names=["box"])[0].load()
    np.testing.assert_array_equal(alone.cloud.points, box.cloud.points)
    other = read_suite(mesh_folder, options=ScanOptions(points=3000, seed=2), names=["box"])[0].load()
    assert not np.allclose(other.cloud.points, box.cloud.points)


def test_mesh_folder_noise_holes_and_no_normals(mesh_folder):
    diag = np.sqrt(6.0)
    noisy = read_suite(mesh_folder, options=ScanOptions(points=4000, noise=0.01, normals=False),
                       names=["box"])[0].load()
    assert not noisy.cloud.has_normals
    d = distance_to_surface(noisy.cloud.points, noisy.gt_mesh)
    # |N(0, s^2 I)| along the surface normal: mean |x| = s sqrt(2/pi) away from edges
    assert np.mean(d) == pytest.approx(0.01 * diag * np.sqrt(2 / np.pi), rel=0.15)
    holed = read_suite(mesh_folder, options=ScanOptions(points=4000, holes=3, hole_radius=0.1),
                       names=["sphere"])[0].load()
    assert 2000 < len(holed.cloud) < 3900
    # a missing region leaves a gap far wider than the point spacing
    full = read_suite(mesh_folder, options=ScanOptions(points=4000), names=["sphere"])[0].load()
    from scipy.spatial import cKDTree

    gaps = cKDTree(holed.cloud.points).query(full.cloud.points)[0]
    assert gaps.max() > 0.1 * np.sqrt(12.0) * 0.5 and cKDTree(full.cloud.points).query(holed.cloud.points)[0].max() == 0


def test_suite_errors(tmp_path, mesh_folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="is not a benchmark suite"):
        read_suite(empty)
    with pytest.raises(InputError, match="no such folder"):
        read_suite(tmp_path / "missing")
    with pytest.raises(ConfigError, match="unknown layout 'onet'; valid: auto, srb, shapenet, meshes"):
        read_suite(mesh_folder, "onet")
    with pytest.raises(ConfigError, match="unknown shape 'cat'; this suite has: box, sphere"):
        read_suite(mesh_folder, names=["cat"])
    cloud = write_ply(tmp_path / "cloud.ply", *sphere_points(100, seed=0))
    with pytest.raises(InputError, match="has no faces"):
        read_mesh(cloud)
    assert read_ground_truth(cloud).points.shape == (100, 3)  # a point PLY is ground-truth points
