"""The point-cloud sampler: groups, sizes, occupancy labels from normals, exterior points."""

import numpy as np
import pytest
import torch

from sdfrecon.datasets.pointcloud import make_point_cloud
from sdfrecon.datasets.sampling import SurfaceSamplerConfig, build_surface_sampler, exterior_pool
from sdfrecon.datasets.synthetic import sphere_points
from sdfrecon.base.errors import InputError


def _sampler(cfg: SurfaceSamplerConfig, with_normals: bool = True, seed: int = 0):
    pts, nrm = sphere_points(20_000, radius=0.8, seed=1)
    return build_surface_sampler(cfg, data=make_point_cloud(pts, nrm if with_normals else None),
                                 device=torch.device("cpu"), seed=seed)


def test_groups_and_sizes():
    cfg = SurfaceSamplerConfig(surface_points=100, uniform_points=50, near_points=70, exterior_points=30)
    batch = _sampler(cfg).sample()
    assert {k: len(v) for k, v in batch.points.items()} == {"surface": 100, "uniform": 50, "near": 70,
                                                            "exterior": 30}
    assert set(batch.normals) == {"surface"}
    assert set(batch.labels) == {"exterior"}  # no near labels unless asked


def test_near_labels_agree_with_the_true_inside():
    cfg = SurfaceSamplerConfig(near_points=4000, occupancy_labels=True)
    batch = _sampler(cfg).sample()
    near, labels = batch.points["near"].numpy(), batch.labels["near"].numpy()
    inside = (np.linalg.norm(near, axis=1) < 0.8).astype(np.float32)
    # Jitter along the tangent of a curved surface can flip points very close to it.
    assert (labels == inside).mean() > 0.98
    assert 0.3 < labels.mean() < 0.7  # both classes present


def test_exterior_points_lie_outside_the_input_box():
    cfg = SurfaceSamplerConfig(exterior_points=2000, exterior_margin=0.05)
    batch = _sampler(cfg).sample()
    ext = batch.points["exterior"].numpy()
    assert np.all(np.abs(ext) <= cfg.domain + 1e-6)
    box = 0.8 + 0.05 - 0.002  # extent of the sampled sphere points + margin, less sampling slack
    outside = np.any(np.abs(ext) > box, axis=1)
    assert outside.all()
    assert torch.all(batch.labels["exterior"] == 0)


def test_exterior_pool_rejects_the_box():
    rng = np.random.default_rng(0)
    pts = exterior_pool(500, np.full(3, -0.5), np.full(3, 0.5), 1.0, rng)
    assert pts.shape == (500, 3)
    assert not np.any(np.all(np.abs(pts) <= 0.5, axis=1))


def test_sampling_is_seeded_and_state_restores():
    cfg = SurfaceSamplerConfig(surface_points=64, uniform_points=32, near_points=32, exterior_points=16,
                               occupancy_labels=True)
    a, b = _sampler(cfg, seed=3), _sampler(cfg, seed=3)
    state = a.state_dict()
    first = a.sample()
    assert torch.equal(first.points["near"], b.sample().points["near"])
    a.load_state_dict(state)
    assert torch.equal(a.sample().points["exterior"], first.points["exterior"])


def test_occupancy_labels_need_normals():
    cfg = SurfaceSamplerConfig(occupancy_labels=True)
    with pytest.raises(InputError, match="has no normals"):
        _sampler(cfg, with_normals=False)


def test_distance_pools_carry_the_distance_to_the_surface():
    pts, nrm = sphere_points(20_000, radius=0.8, seed=1)
    cfg = SurfaceSamplerConfig(near_points=3000, uniform_points=3000, distance_targets=True, pool_points=8192)
    batch = build_surface_sampler(cfg, data=make_point_cloud(pts, nrm), device=torch.device("cpu"), seed=0).sample()
    assert batch.oriented
    for group in ("near", "uniform"):
        truth = batch.points[group].norm(dim=1) - 0.8
        near = truth.abs() < 0.05
        assert (batch.distances[group] - truth)[near].abs().max() < 0.01
        assert (torch.sign(batch.distances[group]) == torch.sign(truth))[truth.abs() > 0.01].all()


def test_normals_of_unknown_sign_are_oriented_by_the_field():
    import dataclasses

    pts, nrm = sphere_points(20_000, radius=0.8, seed=1)
    flips = np.random.default_rng(0).choice([-1.0, 1.0], size=(len(pts), 1))
    cloud = dataclasses.replace(make_point_cloud(pts, nrm * flips), normals_oriented=False)
    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=8192, orient_at=0.3)
    sampler = build_surface_sampler(cfg, data=cloud, device=torch.device("cpu"), seed=0)
    assert not sampler.sample().oriented
    sphere = lambda x: (x.norm(dim=1) - 0.8)[:, None]
    sampler.observe_field(0.1, sphere)  # not yet
    assert not sampler.oriented
    sampler.observe_field(0.3, sphere)
    batch = sampler.sample()
    assert batch.oriented
    radial = torch.nn.functional.normalize(batch.points["surface"], dim=1)
    assert ((batch.normals["surface"] * radial).sum(dim=1) > 0.9).all()
    truth = batch.points["near"].norm(dim=1) - 0.8
    assert (torch.sign(batch.distances["near"]) == torch.sign(truth))[truth.abs() > 0.01].all()
    # the orientation survives a checkpoint round trip
    fresh = build_surface_sampler(cfg, data=cloud, device=torch.device("cpu"), seed=0)
    fresh.load_state_dict(sampler.state_dict())
    assert fresh.oriented and torch.equal(fresh.normals, sampler.normals)


def test_unknown_sign_normals_of_a_sparse_cloud_do_not_reach_the_loss():
    import dataclasses

    cfg = SurfaceSamplerConfig(surface_points=64, normals_max_spacing=0.05)
    for count, expected in ((400, False), (20_000, True)):
        pts, nrm = sphere_points(count, radius=0.8, seed=1)
        unknown = dataclasses.replace(make_point_cloud(pts, nrm), normals_oriented=False)
        batch = build_surface_sampler(cfg, data=unknown, device=torch.device("cpu"), seed=0).sample()
        assert ("surface" in batch.normals) == expected, count
    # trusted normals are used however sparse the cloud
    pts, nrm = sphere_points(400, radius=0.8, seed=1)
    batch = build_surface_sampler(cfg, data=make_point_cloud(pts, nrm), device=torch.device("cpu"), seed=0).sample()
    assert "surface" in batch.normals


def test_signed_distances_of_a_sparse_cloud_do_not_reach_the_distance_term():
    """``distance_max_spacing``: trusted normals keep their signs for the normal term, but a
    sparse cloud's signed distance targets are switched off (the pools stay, for clearance)."""
    cfg = SurfaceSamplerConfig(surface_points=64, near_points=256, uniform_points=256, distance_targets=True,
                               pool_points=4096, distance_max_spacing=0.05)
    for count, expected in ((400, False), (20_000, True)):
        pts, nrm = sphere_points(count, radius=0.8, seed=1)
        batch = build_surface_sampler(cfg, data=make_point_cloud(pts, nrm), device=torch.device("cpu"),
                                      seed=0).sample()
        assert batch.oriented and "near" in batch.distances, count
        assert batch.signed_distances == expected, count
    # 0 keeps them at any spacing
    pts, nrm = sphere_points(400, radius=0.8, seed=1)
    loose = SurfaceSamplerConfig(surface_points=64, distance_targets=True, pool_points=4096)
    assert build_surface_sampler(loose, data=make_point_cloud(pts, nrm), device=torch.device("cpu"),
                                 seed=0).sample().signed_distances
