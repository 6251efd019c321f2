"""Eikonal, StEik and DiGS terms against analytic fields and finite differences."""

import pytest
import torch

from sdfrecon.datasets.sampling import SampleBatch
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.losses import LossSet
from sdfrecon.pipeline.reconstruct import build_field_seeded


class Field(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)[:, None]


def sphere_sdf(x):
    return x.norm(dim=1) - 0.5


def squared(x):
    return (x * x).sum(dim=1) - 0.25  # f = |x|^2 - r^2


def _batch(n=500, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    uniform = (torch.rand(n, 3, generator=g, dtype=torch.float64) * 2.2 - 1.1).to(dtype)
    # keep away from the origin, where the sphere SDF is not differentiable
    uniform = uniform[uniform.norm(dim=1) > 0.1]
    surface = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=1).to(dtype) * 0.5
    return SampleBatch(points={"surface": surface, "uniform": uniform})


def _terms(batch, field, terms, dtype=torch.float32):
    cfg = resolve_config(None, [{"loss": {"terms": {
        "surface": {"weight": 0}, "offsurface": {"weight": 0}, "normal": {"weight": 0}, "eikonal": {"weight": 0},
        **terms}}}])
    return LossSet(cfg.loss, 100)(FieldProbe(field, batch, differentiable_inputs=True), 0).unweighted


def test_exact_sphere_sdf_has_zero_eikonal_and_steik():
    batch = _batch()
    values = _terms(batch, Field(sphere_sdf), {"eikonal": {"weight": 1, "norm": "l1"},
                                               "steik": {"weight": 1, "groups": ["uniform"]}})
    assert values["eikonal"].item() == pytest.approx(0.0, abs=1e-5)
    # the second derivative of a distance along its gradient is 0
    assert values["steik"].item() == pytest.approx(0.0, abs=1e-4)


def test_quadratic_field_matches_hand_computed_values():
    """f = |x|^2 - r^2: grad = 2x, H = 2I, so (|g|-1)^2 = (2|x|-1)^2, g.Hg/|g|^2 = 2, lap = 6."""
    batch = _batch(dtype=torch.float64)
    x = batch.points["uniform"]
    values = _terms(batch, Field(squared), {
        "eikonal": {"weight": 1, "norm": "l2", "groups": ["uniform"]},
        "steik": {"weight": 1, "groups": ["uniform"]},
        "divergence": {"weight": 1, "groups": ["uniform"]}})
    expected_eik = (2 * x.norm(dim=1) - 1).pow(2).mean()
    g2 = (2 * x).pow(2).sum(dim=1)
    expected_div = (8 * x.pow(2).sum(dim=1) / (g2 + 1e-5)).mean()
    assert values["eikonal"].item() == pytest.approx(expected_eik.item(), rel=1e-10)
    assert values["steik"].item() == pytest.approx(expected_div.item(), rel=1e-10)
    assert values["steik"].item() == pytest.approx(2.0, rel=1e-3)
    assert values["divergence"].item() == pytest.approx(6.0, rel=1e-10)


@pytest.mark.parametrize("network", [
    {"name": "mlp", "hidden_dim": 32, "num_layers": 3},
    {"name": "quadratic", "hidden_dim": 32, "num_layers": 3, "init": "mfgi"},
])
def test_steik_term_matches_finite_differences(network):
    """div = n^T H n with n = g/|g|; FD: n . (g(x + h n) - g(x - h n)) / 2h."""
    cfg = resolve_config(None, [{"field": {"network": network}}])
    field = build_field_seeded(cfg).double()
    batch = _batch(n=200, seed=3, dtype=torch.float64)
    x = batch.points["uniform"].clone().requires_grad_(True)
    probe = FieldProbe(field, SampleBatch(points={"uniform": x}), differentiable_inputs=True)
    g = probe.gradient(["uniform"])
    hg = probe.hessian_gradient(["uniform"])
    div = ((g * hg).sum(1) / (g.pow(2).sum(1) + 1e-5)).detach()

    def grad_at(p):
        p = p.detach().requires_grad_(True)
        (gp,) = torch.autograd.grad(field(p)[:, 0].sum(), p)
        return gp

    n = torch.nn.functional.normalize(g.detach(), dim=1)
    h = 1e-4
    fd = ((grad_at(x + h * n) - grad_at(x - h * n)) * n).sum(1) / (2 * h)
    fd = fd * g.detach().pow(2).sum(1) / (g.detach().pow(2).sum(1) + 1e-5)
    rel = (div - fd).abs().max() / fd.abs().max()
    assert rel < 1e-3, float(rel)


def test_laplacian_matches_finite_differences():
    cfg = resolve_config(None, [{"field": {"network": {"name": "siren", "hidden_dim": 32, "num_layers": 3,
                                                        "init": "mfgi"}}}])
    field = build_field_seeded(cfg).double()
    x = _batch(n=100, seed=4, dtype=torch.float64).points["uniform"]
    probe = FieldProbe(field, SampleBatch(points={"uniform": x}), differentiable_inputs=True)
    lap = probe.laplacian(["uniform"]).detach()
    h = 1e-3
    with torch.no_grad():
        f0 = field(x)[:, 0]
        fd = sum(field(x + h * e)[:, 0] - 2 * f0 + field(x - h * e)[:, 0] for e in torch.eye(3, dtype=torch.float64)) / h**2
    assert ((lap - fd).abs().max() / fd.abs().max()) < 1e-3


def test_divergence_term_clamps_and_zeroes_nan():
    batch = _batch(dtype=torch.float64)
    values = _terms(batch, Field(lambda x: 100 * squared(x)), {"divergence": {"weight": 1, "groups": ["uniform"]}})
    assert values["divergence"].item() == pytest.approx(50.0)  # |lap| = 600 clamped to 50


def test_annealed_weight_skips_the_hessian_after_it_reaches_zero():
    cfg = resolve_config("steik", [{"train": {"iterations": 100}}])
    losses = LossSet(cfg.loss, cfg.train.iterations)
    assert losses.weights_at(10)["steik"] == pytest.approx(100.0)
    assert losses.weights_at(30)["steik"] == pytest.approx(50.0)
    assert losses.weights_at(60)["steik"] == 0.0
