"""Flood fill of the free space around a point cloud: a blind bore is outside, a closed
solid's inside is not, an open scan gives no labels at all, and a thin closed part (no
interior once its walls are thickened) still gets them."""

import numpy as np
import pytest
import torch

from sdfrecon.datasets.free_space import flood_exterior
from sdfrecon.datasets.point_geometry import local_spacing
from sdfrecon.datasets.sampling import SurfaceSampler, SurfaceSamplerConfig


def _surface_points(sdf, count: int, seed: int, n: int) -> np.ndarray:
    """``count`` area-uniform points on the zero set of ``sdf`` (``(x, y, z) -> values`` on an
    ``n^3`` grid over ``[-1, 1]^3``), meshed by marching cubes."""
    import trimesh
    from skimage.measure import marching_cubes

    axis = np.linspace(-1.0, 1.0, n)
    values = sdf(*np.meshgrid(axis, axis, axis, indexing="ij"))
    verts, faces, _, _ = marching_cubes(values, 0.0, spacing=(axis[1] - axis[0],) * 3)
    mesh = trimesh.Trimesh(verts - 1.0, faces)
    return np.asarray(trimesh.sample.sample_surface(mesh, count, seed=seed)[0])


def _cup_points(count: int = 30_000, seed: int = 0, bore_radius: float = 0.35, bore_bottom: float = -0.3,
                n: int = 96) -> np.ndarray:
    """Points on a solid cylinder (radius 0.8, z in [-0.8, 0.8]) with a blind bore
    (``bore_radius``, from the top down to ``bore_bottom``)."""
    def sdf(x, y, z):
        r = np.hypot(x, y)
        solid = np.maximum(r - 0.8, np.abs(z) - 0.8)
        bore = np.maximum(r - bore_radius, bore_bottom - z)  # inside the bore
        return np.maximum(solid, -bore)

    return _surface_points(sdf, count, seed, n)


def _tray_points(count: int = 30_000, seed: int = 0, wall: float = 0.06, n: int = 161) -> np.ndarray:
    """Points on an open tray (1.8 x 1.2 x 0.24) with walls and floor ``wall`` thick."""
    def sdf(x, y, z):
        outer = np.maximum(np.maximum(np.abs(x) - 0.9, np.abs(y) - 0.6), np.abs(z) - 0.12)
        pocket = np.maximum(np.maximum(np.abs(x) - (0.9 - wall), np.abs(y) - (0.6 - wall)), np.abs(z - wall) - 0.12)
        return np.maximum(outer, -pocket)

    return _surface_points(sdf, count, seed, n)


def test_blind_bore_is_outside_and_the_wall_is_not():
    points = _cup_points()
    spacing = float(np.median(local_spacing(points, 8)))
    free = flood_exterior(points, 1.5 * spacing)
    assert free.interior_share > 0.2
    probes = np.array([[0.0, 0.0, 0.2],    # on the bore's axis, 0.35 from its wall: outside
                       [0.0, 0.0, 1.05],   # above the cup
                       [0.58, 0.0, 0.0],   # inside the wall (between bore and mantle)
                       [0.0, 0.0, -0.6]])  # in the solid floor below the bore
    distance = np.array([0.35, 0.25, 0.2, 0.2])
    assert free.outside(probes, distance).tolist() == [True, True, False, False]


def test_a_small_cloud_in_a_corner_floods_the_same():
    """The fill works on the block around the points only; a cup shrunk into a corner of the
    cube still has its bore outside, its wall inside, and everything beyond the block outside."""
    points = 0.4 * _cup_points() + np.array([0.5, -0.5, 0.5])
    spacing = float(np.median(local_spacing(points, 8)))
    free = flood_exterior(points, 1.5 * spacing)
    assert free.exterior.shape[0] < 128 // 2 and free.interior_share > 0.2
    probes = np.array([[0.5, -0.5, 0.58],    # in the bore
                       [0.732, -0.5, 0.5],   # in the wall
                       [-0.9, 0.9, -0.9]])   # the far corner, beyond the block
    assert free.outside(probes, np.array([0.14, 0.08, 1.0])).tolist() == [True, False, True]


def test_open_scan_gives_no_outside_labels():
    """Half a sphere: the flood reaches everything, no interior is enclosed, and the
    sampler gives no labels (the clearance term stays sign-agnostic)."""
    rng = np.random.default_rng(0)
    d = rng.normal(size=(20_000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    half = 0.8 * d[d[:, 2] > 0]
    assert flood_exterior(half, 1.5 * float(np.median(local_spacing(half, 8)))).interior_share < 0.01
    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=4096, flood_fill=True)
    sampler = SurfaceSampler(cfg, half, d[d[:, 2] > 0], torch.device("cpu"), seed=0, oriented=False)
    assert sampler.outside == {} and "no enclosed interior" in sampler.flood_note


def test_sampler_labels_pool_samples_of_a_closed_cup():
    points = _cup_points(20_000)
    from sdfrecon.datasets.point_geometry import pca_normals

    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=8192, flood_fill=True)
    sampler = SurfaceSampler(cfg, points, pca_normals(points), torch.device("cpu"), seed=0, oriented=False)
    assert set(sampler.outside) == {"near", "uniform"}
    at = sampler.pools["uniform"][0]
    labelled = at[sampler.outside["uniform"]]
    radius = labelled[:, :2].norm(dim=1)
    in_bore = (radius < 0.3) & (labelled[:, 2] > -0.2) & (labelled[:, 2] < 0.75)
    in_solid = (radius > 0.45) & (radius < 0.7) & (labelled[:, 2].abs() < 0.7)
    assert in_bore.sum() > 20 and in_solid.sum() == 0
    batch = sampler.sample()
    assert batch.outside["uniform"].dtype == torch.bool and len(batch.outside["uniform"]) == cfg.uniform_points
    with pytest.raises(Exception):
        SurfaceSamplerConfig(flood_radius=0).validate("sampler")


def test_a_thin_closed_tray_gets_labels_and_its_pocket_is_outside():
    """The tray's walls are thinner than the thickened points, so the fill encloses no
    interior; but both faces of every wall are there, so the pocket is labelled outside
    (no membrane across it) and nothing inside the walls is."""
    from sdfrecon.datasets.point_geometry import pca_normals

    points = _tray_points()
    assert flood_exterior(points, 1.5 * float(np.median(local_spacing(points, 8)))).interior_share < 0.01
    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=16384, flood_fill=True)
    sampler = SurfaceSampler(cfg, points, pca_normals(points), torch.device("cpu"), seed=0, oriented=False)
    assert set(sampler.outside) == {"near", "uniform"}, sampler.flood_note
    assert "other face" in sampler.flood_note
    at = sampler.pools["uniform"][0]
    labelled = at[sampler.outside["uniform"]]
    in_pocket = (labelled[:, 0].abs() < 0.7) & (labelled[:, 1].abs() < 0.4) & (labelled[:, 2] > 0.0) & (
        labelled[:, 2] < 0.12)
    in_floor = (labelled[:, 0].abs() < 0.8) & (labelled[:, 1].abs() < 0.5) & ((labelled[:, 2] + 0.09).abs() < 0.02)
    assert in_pocket.sum() > 20 and in_floor.sum() == 0
    # never: the test can be switched off
    never = SurfaceSamplerConfig(distance_targets=True, pool_points=4096, flood_fill=True, flood_min_two_sided=1.0)
    assert SurfaceSampler(never, points, pca_normals(points), torch.device("cpu"), seed=0,
                          oriented=False).outside == {}
