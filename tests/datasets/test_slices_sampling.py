"""The slice sampler: labels match the ground truth, groups, coarse-to-fine levels, determinism."""

import numpy as np
import pytest
import torch
import trimesh

from sdfrecon.datasets.normalize import Normalization
from sdfrecon.datasets.sampling import SAMPLERS
from sdfrecon.datasets.slice_sampling import SliceSamplerConfig
from sdfrecon.datasets.slicing import parallel_planes, slice_mesh
from sdfrecon.base.errors import ConfigError


@pytest.fixture(scope="module")
def sphere_slices():
    """A radius-2 sphere at (1, 0, 0) cut by 5 z planes, in the unit frame."""
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=2.0)
    mesh.apply_translation([1.0, 0.0, 0.0])
    world = slice_mesh(mesh, parallel_planes(mesh, 5), source="sphere")
    norm = Normalization.fit(world.extent_points())
    return world.transformed(norm), norm


def _sampler(slices, seed=0, **options):
    cfg = SliceSamplerConfig(pool_size=4096, **options)
    return SAMPLERS.build(cfg, data=slices, device=torch.device("cpu"), seed=seed)


def test_labels_match_the_sphere(sphere_slices):
    slices, norm = sphere_slices
    batch = _sampler(slices).sample()
    assert set(batch.points) == {"plane", "band", "contour", "uniform", "near", "exterior"}
    for group in ("plane", "band"):
        pts = norm.to_world(batch.points[group].numpy())
        labels = batch.labels[group].numpy()
        assert set(np.unique(labels)) <= {0.0, 1.0}
        sd = np.linalg.norm(pts - [1.0, 0.0, 0.0], axis=1) - 2.0
        clear = np.abs(sd) > 0.02  # away from the polygonal approximation of the circles
        np.testing.assert_array_equal(labels[clear], (sd[clear] < 0).astype(np.float32))
        # on a plane: every point satisfies one of the plane equations
        on_plane = np.min([np.abs(batch.points[group].numpy() @ p.normal + p.offset) for p in slices.planes], axis=0)
        assert on_plane.max() < 1e-5
    contour = norm.to_world(batch.points["contour"].numpy())
    assert np.abs(np.linalg.norm(contour - [1.0, 0.0, 0.0], axis=1) - 2.0).max() < 0.01
    assert torch.all(batch.labels["contour"] == 0.5)
    assert (batch.labels["band"] == 1).float().mean() == pytest.approx(0.5, abs=0.1)  # both sides of the contours


def test_exterior_points_lie_outside_the_meshing_box(sphere_slices):
    slices, _ = sphere_slices
    sampler = _sampler(slices, exterior_margin=0.03)
    ext = sampler.sample().points["exterior"].numpy()
    extent = slices.extent_points()
    lo, hi = extent.min(axis=0) - 0.03, extent.max(axis=0) + 0.03
    assert not np.all((ext >= lo) & (ext <= hi), axis=1).any()
    assert np.abs(ext).max() <= 1.1


def test_coarse_to_fine_window(sphere_slices):
    slices, _ = sphere_slices
    sampler = _sampler(slices, levels=4, refine_until=0.5, level_window=2)
    assert sampler.window == (0, 0)
    sampler.set_training_progress(0.3)
    assert sampler.window == (1, 2)
    sampler.set_training_progress(0.9)
    assert sampler.window == (2, 3)
    mixed = _sampler(slices, levels=4, refine_until=0.0)
    assert mixed.window == (0, 3)
    np.testing.assert_allclose(SliceSamplerConfig(levels=4, band_max=0.08, band_min=0.01).scales(),
                               [0.08, 0.04, 0.02, 0.01])


def test_band_distance_follows_the_level(sphere_slices):
    slices, norm = sphere_slices
    coarse = _sampler(slices, levels=3, refine_until=1.0, level_window=1, corner_fraction=0.0)
    fine = _sampler(slices, levels=3, refine_until=1.0, level_window=1, corner_fraction=0.0)
    fine.set_training_progress(0.99)

    def spread(sampler):
        pts = norm.to_world(sampler.sample().points["band"].numpy())
        return np.abs(np.linalg.norm(pts[:, :2] - [1.0, 0.0], axis=1) - np.sqrt(np.maximum(4.0 - pts[:, 2] ** 2, 0))).mean()

    assert spread(coarse) > 3.0 * spread(fine)


def test_same_seed_same_samples_and_state_round_trip(sphere_slices):
    slices, _ = sphere_slices
    a, b = _sampler(slices, seed=3), _sampler(slices, seed=3)
    state = a.state_dict()
    first = a.sample()
    torch.testing.assert_close(first.points["band"], b.sample().points["band"])
    a.load_state_dict(state)
    torch.testing.assert_close(a.sample().points["near"], first.points["near"])
    c = _sampler(slices, seed=4)
    assert not torch.equal(c.sample().points["band"], first.points["band"])


def test_group_counts_and_config_checks(sphere_slices):
    slices, _ = sphere_slices
    sampler = _sampler(slices, near_points=0, exterior_points=0, plane_points=100)
    assert "near" not in sampler.groups and "exterior" not in sampler.groups
    assert len(sampler.sample().points["plane"]) == 100
    with pytest.raises(ConfigError):
        SliceSamplerConfig(band_min=0.1, band_max=0.01).validate("sampler")
    with pytest.raises(ConfigError):
        SliceSamplerConfig(plane_points=0, band_points=0).validate("sampler")


def test_needs_slices(sphere_slices):
    from sdfrecon.datasets.pointcloud import make_point_cloud

    cloud = make_point_cloud(np.random.default_rng(0).normal(size=(50, 3)))
    with pytest.raises(ConfigError, match="cross-section"):
        SAMPLERS.build(SliceSamplerConfig(), data=cloud, device=torch.device("cpu"), seed=0)


def test_trainer_drives_the_refinement(sphere_slices):
    from sdfrecon.pipeline.config import resolve_config
    from sdfrecon.sdf.losses import LossSet
    from sdfrecon.pipeline.reconstruct import build_field_seeded
    from sdfrecon.sdf.training import Trainer

    slices, _ = sphere_slices
    cfg = resolve_config("slices", [{"train": {"iterations": 8, "checkpoint_every": 0},
                                     "field": {"network": {"hidden_dim": 16, "num_layers": 2}},
                                     "sampler": {"levels": 4, "refine_until": 0.5, "level_window": 1,
                                                 "pool_size": 1024}}])
    sampler = SAMPLERS.build(cfg.sampler, data=slices, device=torch.device("cpu"), seed=0)
    seen = []
    trainer = Trainer(build_field_seeded(cfg), sampler, LossSet(cfg.loss, 8), cfg.train, device=torch.device("cpu"),
                      progress=False, step_callback=lambda step, model: seen.append(sampler.window))
    trainer.fit()
    assert seen[0] == (0, 0) and seen[-1] == (3, 3)
    assert [w[1] for w in seen] == sorted(w[1] for w in seen)


def test_component_balance_shares_samples_between_contours():
    """A large and a small contour: by arc length the small one gets its perimeter's share;
    with component_balance 1 each gets half."""
    from sdfrecon.datasets.slice_sampling import _contour_points, _PlaneGeometry
    from sdfrecon.datasets.slices import make_plane

    t = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)
    big = np.stack([np.cos(t), np.sin(t), np.zeros_like(t)], axis=1)
    small = np.stack([3 + 0.1 * np.cos(t), 0.1 * np.sin(t), np.zeros_like(t)], axis=1)
    geo = _PlaneGeometry.of(make_plane([0, 0, 1], 0.0, [big, small]))
    for balance, share in ((0.0, 0.1 / 1.1), (1.0, 0.5), (0.5, np.sqrt(0.1) / (1 + np.sqrt(0.1)))):
        _, uv, _ = _contour_points([geo], 20000, np.random.default_rng(0), balance)
        near_small = np.mean(np.linalg.norm(uv, axis=1) > 2)
        assert near_small == pytest.approx(share, abs=0.015), (balance, near_small)
