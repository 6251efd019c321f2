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
