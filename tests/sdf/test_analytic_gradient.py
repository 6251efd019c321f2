"""Forward-mode gradients equal autograd's, value and parameter-gradient alike."""

import pytest
import torch

from sdfrecon.sdf.analytic_gradient import field_with_gradient, supports_analytic_gradient
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import build_field_seeded

FIELDS = {
    "plain": {"encoding": {"name": "none"}, "network": {"name": "mlp", "hidden_dim": 32, "num_layers": 3,
                                                         "skip_layers": [2]}},
    "relu": {"encoding": {"name": "none"}, "network": {"name": "mlp", "hidden_dim": 32, "num_layers": 2,
                                                        "activation": "relu"}},
    "fourier": {"encoding": {"name": "fourier", "num_frequencies": 3, "anneal_until": 0.5},
                "network": {"name": "mlp", "hidden_dim": 32, "num_layers": 2}},
    "hashgrid": {"encoding": {"name": "hashgrid", "num_levels": 4, "log2_table_size": 10, "base_resolution": 4,
                              "finest_resolution": 32, "init_scale": 0.5, "coarse_to_fine": True, "coarse_to_fine_start": 2},
                 "network": {"name": "mlp", "hidden_dim": 32, "num_layers": 2}},
}


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_matches_autograd(name):
    field = build_field_seeded(resolve_config(None, [{"field": FIELDS[name]}])).double()
    for module in field.modules():  # exercise partially-open coarse-to-fine windows
        if hasattr(module, "set_training_progress"):
            module.set_training_progress(0.2)
    assert supports_analytic_gradient(field)
    x = torch.rand(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.8 - 0.9
    out, grad = field_with_gradient(field, x)
    xa = x.clone().requires_grad_(True)
    ref_out = field(xa)
    (ref_grad,) = torch.autograd.grad(ref_out[:, 0].sum(), xa, create_graph=True)
    torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-8, atol=1e-10)
    # The eikonal loss gives the same parameter gradients either way.
    params = [p for p in field.parameters() if p.requires_grad]
    loss_a = (grad.norm(dim=1) - 1).pow(2).mean()
    loss_b = (ref_grad.norm(dim=1) - 1).pow(2).mean()
    ga = torch.autograd.grad(loss_a, params, allow_unused=True)
    gb = torch.autograd.grad(loss_b, params, allow_unused=True)
    for p, a, b in zip(params, ga, gb):
        # "unused" and "all zeros" are the same gradient (ReLU biases do not move a gradient)
        a = torch.zeros_like(p) if a is None else a
        b = torch.zeros_like(p) if b is None else b
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10)


def test_unsupported_fields_are_reported():
    siren = build_field_seeded(resolve_config(None, [{"field": {"network": {"name": "siren", "hidden_dim": 16,
                                                                            "num_layers": 2}}}]))
    assert not supports_analytic_gradient(siren)
