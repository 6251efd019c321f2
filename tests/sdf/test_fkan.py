"""FKAN: the Fourier-KAN layer's form and size, derivatives against finite differences,
second-order loss terms through it, and SDF reconstructions of analytic shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sdfrecon.base.errors import ConfigError
from sdfrecon.datasets.pointcloud import make_point_cloud
from sdfrecon.datasets.sampling import SampleBatch
from sdfrecon.datasets.synthetic import sphere_points, sphere_sdf, torus_points, torus_sdf
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import build_field_seeded, reconstruct
from sdfrecon.sdf.derivatives import gradient, hessian_gradient_product
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.fkan import FKAN, FourierKANLayer
from sdfrecon.sdf.losses import LossSet
from tests.conftest import quick_overrides
from tests.helpers import chamfer_to_analytic


def _field(**network):
    return build_field_seeded(resolve_config(None, [{"field": {"network": {"name": "fkan", **network}}}]))


def test_fourier_layer_parameter_count():
    layer = FourierKANLayer(3, 64, 8)
    assert sum(p.numel() for p in layer.parameters()) == FourierKANLayer.parameter_count(3, 64, 8) == 2 * 8 * 3 * 64 + 64
    net = _field(harmonics=8, hidden_dim=64, num_layers=2).network
    assert isinstance(net, FKAN)
    mlp = 2 * (64 * 64 + 64) + (64 + 1)
    assert sum(p.numel() for p in net.parameters()) == 2 * 8 * 3 * 64 + 64 + 2 * 64 + mlp  # + LayerNorm


def test_fourier_layer_is_a_sum_of_learnable_fourier_series():
    torch.manual_seed(0)
    layer = FourierKANLayer(2, 5, 4).double()
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.rand(7, 2, dtype=torch.float64) * 2 - 1
    expected = layer.bias.detach().expand(7, 5).clone()
    for j in range(5):
        for i in range(2):
            for k in range(1, 5):
                expected[:, j] += (layer.cos_coeffs[j, i, k - 1] * torch.cos(k * x[:, i])
                                   + layer.sin_coeffs[j, i, k - 1] * torch.sin(k * x[:, i])).detach()
    torch.testing.assert_close(layer(x).detach(), expected)


def test_default_init_gives_unit_variance_outputs():
    torch.manual_seed(0)
    layer = FourierKANLayer(3, 512, 16)
    x = torch.rand(2048, 3) * 2 * np.pi - np.pi  # whole periods of every harmonic
    with torch.no_grad():
        assert layer(x).var().item() == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("network", [
    {}, {"activation": "sine"}, {"activation": "softplus", "init": "vi3nr", "softplus_beta": 10},
    {"init": "vi3nr", "smooth_init": True, "layer_norm": False}])
def test_gradient_and_hessian_vector_product_match_finite_differences(network):
    field = _field(harmonics=6, hidden_dim=32, num_layers=2, **network).double()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(16, 3, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    v = torch.randn(16, 3, generator=g, dtype=torch.float64)
    grad = gradient(field.sdf(x), x)
    hv = torch.autograd.grad((grad * v).sum(), x, retain_graph=True)[0]  # H v
    hg = hessian_gradient_product(grad, x)  # H grad f, as StEik uses it

    def f(p):
        with torch.no_grad():
            return field.sdf(p)

    def grad_at(p):
        p = p.detach().requires_grad_(True)
        return gradient(field.sdf(p), p, create_graph=False)

    eps = 1e-6  # float64 central differences: truncation ~eps^2 f''', rounding ~1e-16 / eps
    fd_grad = torch.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in torch.eye(3, dtype=torch.float64)], 1)
    torch.testing.assert_close(grad.detach(), fd_grad, rtol=1e-6, atol=1e-7)
    fd_hv = (grad_at(x + eps * v) - grad_at(x - eps * v)) / (2 * eps)
    torch.testing.assert_close(hv, fd_hv, rtol=1e-5, atol=1e-6)
    d = grad.detach()
    fd_hg = (grad_at(x + eps * d) - grad_at(x - eps * d)) / (2 * eps)
    torch.testing.assert_close(hg.detach(), fd_hg, rtol=1e-5, atol=1e-6)


def test_second_order_terms_train_through_fkan():
    """StEik and DiGS terms backpropagate to every FKAN parameter, finitely."""
    field = _field(harmonics=6, hidden_dim=32, num_layers=2)
    g = torch.Generator().manual_seed(0)
    batch = SampleBatch(points={"surface": torch.rand(64, 3, generator=g) - 0.5,
                                "uniform": torch.rand(64, 3, generator=g) * 2 - 1})
    cfg = resolve_config(None, [{"loss": {"terms": {
        "surface": {"weight": 1}, "offsurface": {"weight": 0}, "normal": {"weight": 0},
        "eikonal": {"weight": 1}, "steik": {"weight": 1}, "divergence": {"weight": 1}}}}])
    values = LossSet(cfg.loss, 10)(FieldProbe(field, batch, differentiable_inputs=True), 0)
    assert {"steik", "divergence", "eikonal"} <= set(values.unweighted)
    values.total.backward()
    for name, p in field.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_invalid_fkan_configs_rejected():
    with pytest.raises(ConfigError, match="harmonics"):
        resolve_config(None, [{"field": {"network": {"name": "fkan", "harmonics": 0}}}])
    with pytest.raises(ConfigError, match="use vi3nr with softplus"):
        resolve_config(None, [{"field": {"network": {"name": "fkan", "activation": "softplus"}}}])


def _fkan_overrides(iterations: int, resolution: int = 64) -> list[dict]:
    # The fkan preset's network and learning rate, shortened like the default preset's tests.
    return [*quick_overrides(iterations, resolution)]


@pytest.mark.slow
def test_fkan_reconstructs_sphere_below_one_percent_of_diagonal():
    pts, nrm = sphere_points(3000, radius=1.0, seed=0)
    result = reconstruct(make_point_cloud(pts, nrm), resolve_config("fkan", _fkan_overrides(150)), progress=False)
    gt, _ = sphere_points(50_000, seed=9)
    diag = np.linalg.norm(pts.max(0) - pts.min(0))
    cd = chamfer_to_analytic(result.mesh, lambda p: sphere_sdf(p, 1.0), gt)
    print(f"\nfkan sphere: Chamfer {cd / diag:.3%} of the diagonal")
    assert cd < 0.01 * diag, cd / diag
    assert result.mesh.is_watertight and result.mesh.euler_number == 2


@pytest.mark.slow
def test_fkan_reconstructs_torus_below_one_percent_of_diagonal():
    pts, nrm = torus_points(4000, seed=0)
    result = reconstruct(make_point_cloud(pts, nrm), resolve_config("fkan", _fkan_overrides(250, 80)), progress=False)
    gt, _ = torus_points(50_000, seed=9)
    diag = np.linalg.norm(pts.max(0) - pts.min(0))
    cd = chamfer_to_analytic(result.mesh, torus_sdf, gt)
    print(f"\nfkan torus: Chamfer {cd / diag:.3%} of the diagonal")
    assert cd < 0.01 * diag, cd / diag
    assert result.mesh.is_watertight and result.mesh.euler_number == 0  # genus 1 kept
