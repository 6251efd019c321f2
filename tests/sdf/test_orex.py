"""OReX's pieces: the iterative estimation network, its encoding, the loss on every loop,
and the hierarchical level sampler with its coarse-to-fine schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from sdfrecon.base.errors import ConfigError
from sdfrecon.datasets.orex_sampling import (CONTOUR, EXTERIOR, PLANE, OReXSamplerConfig, level_starts,
                                             plane_samples)
from sdfrecon.datasets.sampling import SAMPLERS, SampleBatch
from sdfrecon.datasets.slices import make_plane, make_slice_set
from sdfrecon.datasets.slicing import parallel_planes, slice_mesh
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.fields import build_field
from sdfrecon.sdf.losses import LOSS_TERMS
from sdfrecon.sdf.losses_occupancy import LoopOccupancyTermConfig
from sdfrecon.sdf.orex_network import OReXNetwork, OReXNetworkConfig, parameter_count, step_embedding


def _network(loops=4, out_dim=4, center_steps=0):
    torch.manual_seed(0)
    return OReXNetwork(OReXNetworkConfig(loops=loops, center_steps=center_steps), in_dim=33, out_dim=out_dim)


def test_network_outputs_every_loop_last_first():
    net = _network().eval()
    h = torch.randn(50, 33)
    out = net(h)
    steps = net.step_logits(h)
    assert out.shape == (50, 4) and len(steps) == 4
    torch.testing.assert_close(out[:, 0], steps[-1][:, 0] * 0.01)  # channel 0: the last loop
    torch.testing.assert_close(out[:, 1:], torch.cat(steps[:-1], dim=1) * 0.01)
    assert not torch.allclose(steps[0], steps[-1])  # every step adds a residual to its logit
    one = OReXNetwork(OReXNetworkConfig(loops=4, center_steps=0), in_dim=33, out_dim=1)
    one.load_state_dict(net.state_dict())
    torch.testing.assert_close(one.eval()(h)[:, 0], out[:, 0])
    with pytest.raises(ConfigError, match="one output per refinement loop"):
        OReXNetwork(OReXNetworkConfig(loops=4), in_dim=33, out_dim=3)


def test_orex_sizes_and_step_embedding():
    field = build_field(resolve_config("orex").field)
    assert field.encoding.out_dim == 33  # xyz + cos/sin at 5 learnable frequencies
    # OReX: 8 linear layers (33+1+32 -> 64 x7 -> 1+32), 2x5 frequencies, initial logit and hidden state
    expected = (66 * 64 + 64) + 6 * (64 * 64 + 64) + (64 * 33 + 33) + 10 + 1 + 32
    assert parameter_count(field) == expected
    codes = step_embedding(10, 32)
    assert codes.shape == (10, 32)
    assert codes[3, 0] == pytest.approx(np.sin(3.0)) and codes[3, 1] == pytest.approx(np.cos(3.0))
    assert codes[2, 2] == pytest.approx(np.sin(4.0))


def test_centred_start_shifts_only_the_first_steps():
    net = _network(center_steps=1).train()
    h = torch.cat([torch.rand(400, 3) * 2 - 1, torch.randn(400, 30)], dim=1)
    first = net(h)[:, 0].detach()
    assert abs(float(first.mean())) < 1e-5  # every batch point lies in the unit box here
    offset = float(net.output_offset)
    net(h + 0.1)
    assert float(net.output_offset) == offset  # kept after center_steps
    assert abs(offset) > 1.0  # OReX's start is far from 0


def test_loop_occupancy_is_the_mean_bce_over_loops():
    outputs = torch.tensor([[0.02, -0.01, 0.0], [-0.03, 0.01, 0.05]])
    labels = torch.tensor([0.0, 1.0])
    batch = SampleBatch(points={"plane": torch.zeros(2, 3)}, labels={"plane": labels})
    probe = FieldProbe(lambda x: outputs, batch, differentiable_inputs=False)
    cfg = LoopOccupancyTermConfig(temperature=0.01, groups=["plane"])
    value = LOSS_TERMS.get("loop_occupancy").builder(cfg, probe)
    by_hand = np.mean([torch.nn.functional.binary_cross_entropy_with_logits(-outputs[:, c] / 0.01, labels).item()
                       for c in range(3)])
    assert float(value) == pytest.approx(by_hand, rel=1e-6)
    cfg.channels = [0, 5]
    with pytest.raises(ConfigError, match="reads channel 5"):
        LOSS_TERMS.get("loop_occupancy").builder(cfg, probe)


def _square_slices():
    square = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    planes = [make_plane([0, 0, 1], -z, [np.column_stack([square, np.full(4, z)])]) for z in (-0.5, 0.5)]
    return make_slice_set(planes, "squares")


def test_level_samples_follow_orex():
    cfg = OReXSamplerConfig(noise_points=100)
    plane = _square_slices().planes[0]
    rng = np.random.default_rng(0)
    for level in (0, 5):
        points, labels, groups = plane_samples(plane, cfg, level, rng)
        n, r = cfg.edge_samples[level], cfg.radius(level)
        # 4 edges x n points moved both ways + 4 vertices x n circle points + noise; n on each edge
        assert (groups == PLANE).sum() == 4 * 2 * n + 4 * n + 100 and (groups == CONTOUR).sum() == 4 * n
        assert np.allclose(points[:, 2], -0.5)
        on = points[groups == CONTOUR]
        assert np.allclose(np.abs(on[:, :2]).max(axis=1), 0.5) and np.all(labels[groups == CONTOUR] == 0.5)
        moved = points[groups == PLANE][: 12 * n]
        gap = np.abs(np.abs(moved[:, :2]).max(axis=1) - 0.5)
        assert gap.max() <= r + 1e-9  # all within the level's radius of the square
        inside = (np.abs(points[:, :2]) < 0.5).all(axis=1)
        clear = np.abs(np.abs(points[:, :2]).max(axis=1) - 0.5) > 1e-9  # not on the square's outline
        rows = (groups == PLANE) & clear
        assert np.array_equal(labels[rows] == 1.0, inside[rows])
    assert cfg.radius(0) == pytest.approx(1.1 / 16) and cfg.radius(5) == pytest.approx(1.1 / 128)


def test_levels_open_coarse_to_fine_over_the_newest_three():
    cfg = OReXSamplerConfig(batch_size=256, noise_points=64, hull_points=128)
    starts = level_starts(cfg, [100, 100, 200, 200, 300, 300])
    assert starts[0] == 0 and np.all(np.diff(starts) > 0) and starts[-1] < 1
    sampler = SAMPLERS.build(cfg, data=_square_slices(), device=torch.device("cpu"), seed=0)
    assert sampler.groups == ("plane", "contour", "exterior")
    sampler.set_training_progress(0.0)
    assert sampler.level == 0 and len(sampler.active.points) == len(sampler.levels[0].points)
    sampler.set_training_progress(1.0)
    assert sampler.level == 5
    assert len(sampler.active.points) == sum(len(sampler.levels[i].points) for i in (3, 4, 5))
    batch = sampler.sample()
    assert sum(len(p) for p in batch.points.values()) == 256
    assert torch.all(batch.labels["exterior"] == 0)
    hull = sampler.levels[0].points[sampler.levels[0].groups == EXTERIOR]
    assert float(hull[:, :2].abs().max()) == pytest.approx(0.5 * 1.05, abs=1e-6)  # hull grown by 5 %


@pytest.mark.slow
def test_orex_reconstructs_a_sliced_sphere():
    """A short CPU run: the sphere comes out closed, a rough ball of about its radius.

    OReX's own schedule (lr 1e-2 decayed x0.001 over thousands of steps) does not fit a
    test: over a few hundred steps it either diverges (1e-2) or decays before any shape
    forms, and the field stays constant (no surface). A flat 2e-3 is the CPU budget here."""
    from sdfrecon.evaluation.metrics import compare_meshes
    from sdfrecon.pipeline.reconstruct import reconstruct

    sphere = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    slices = slice_mesh(sphere, parallel_planes(sphere, 6), source="sphere")
    cfg = resolve_config("orex", [{"device": "cpu", "train": {"iterations": 240, "checkpoint_every": 0, "lr": 2.0e-3,
                                             "lr_schedule": {"knots": [[0, 1], [1, 1]]}},
                                   "sampler": {"batch_size": 1024, "noise_points": 256, "hull_points": 1024},
                                   "mesh": {"resolution": 32}}])
    mesh = reconstruct(slices, cfg, progress=False).mesh
    assert mesh.is_watertight
    metrics = compare_meshes(mesh, sphere, samples=5000)
    # measured: Chamfer 0.136 after 120 steps, 0.083 after 240 (a rough ball; OReX runs thousands)
    assert metrics.chamfer_l1 < 0.12, metrics
    assert abs(np.median(np.linalg.norm(mesh.vertices, axis=1)) - 1.0) < 0.15


def test_orex_config_validates():
    with pytest.raises(ConfigError):
        resolve_config("orex", [{"field": {"network": {"hidden_state": 31}}}])
    with pytest.raises(ConfigError):
        resolve_config("orex", [{"sampler": {"edge_samples": [2, 2]}}])
