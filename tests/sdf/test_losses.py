import numpy as np
import pytest
import torch

from sdfrecon.datasets.sampling import SampleBatch
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.losses import LossSet


class SphereSDF(torch.nn.Module):
    """Exact SDF of a sphere, as a field module: (N, 3) -> (N, 1)."""

    def __init__(self, radius: float = 0.5):
        super().__init__()
        self.radius = radius

    def forward(self, x):
        return (x.norm(dim=1) - self.radius)[:, None]


class ScaledSphere(SphereSDF):
    """2 x the sphere SDF: right zero set, gradient norm 2."""

    def forward(self, x):
        return 2.0 * super().forward(x)


def _batch(n=2000, seed=0, radius=0.5):
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
    uniform = torch.rand(n, 3, generator=g) * 2.2 - 1.1
    return SampleBatch(points={"surface": dirs * radius, "uniform": uniform,
                               "near": dirs * radius + 0.01 * torch.randn(n, 3, generator=g)},
                       normals={"surface": dirs})


def _losses(terms):
    cfg = resolve_config(None, [{"loss": {"terms": terms}}])
    return LossSet(cfg.loss, total_steps=100)


def test_exact_sdf_has_zero_surface_eikonal_and_normal_loss():
    batch = _batch()
    losses = _losses({"offsurface": {"weight": 0}})
    values = losses(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), step=0)
    for key in ("surface", "eikonal", "normal"):
        assert values.unweighted[key].item() == pytest.approx(0.0, abs=1e-5), key


def test_eikonal_detects_wrong_gradient_norm():
    batch = _batch()
    losses = _losses({"eikonal": {"norm": "l2"}, "offsurface": {"weight": 0}})
    values = losses(FieldProbe(ScaledSphere(), batch, differentiable_inputs=True), step=0)
    assert values.unweighted["eikonal"].item() == pytest.approx(1.0, rel=1e-4)  # (2 - 1)^2


def test_offsurface_term_value():
    batch = _batch()
    losses = _losses({"offsurface": {"alpha": 10.0, "weight": 1.0}})
    values = losses(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), step=0)
    d = (batch.points["uniform"].norm(dim=1) - 0.5).abs()
    assert values.unweighted["offsurface"].item() == pytest.approx(torch.exp(-10 * d).mean().item(), rel=1e-5)


def test_normal_term_modes():
    batch = _batch()
    batch.normals["surface"] = -batch.normals["surface"]  # flipped normals
    oriented = _losses({"normal": {"mode": "oriented"}})(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), 0)
    unoriented = _losses({"normal": {"mode": "unoriented"}})(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), 0)
    assert oriented.unweighted["normal"].item() == pytest.approx(2.0, abs=1e-5)
    assert unoriented.unweighted["normal"].item() == pytest.approx(0.0, abs=1e-5)


def test_normal_term_skipped_without_normals():
    batch = _batch()
    batch.normals.clear()
    values = _losses({})(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), 0)
    assert "normal" not in values.unweighted and "surface" in values.unweighted


def test_scheduled_weight_and_zero_weight_skip():
    losses = _losses({"eikonal": {"weight": {"knots": [[0, 10], [0.5, 0]]}}})
    assert losses.weights_at(0)["eikonal"] == 10
    assert losses.weights_at(25)["eikonal"] == pytest.approx(5)
    values = losses(FieldProbe(ScaledSphere(), _batch(), differentiable_inputs=True), step=60)
    assert "eikonal" not in values.unweighted
    off = _losses({"eikonal": {"weight": 0}, "normal": {"weight": 0}})
    assert not off.needs_gradient
