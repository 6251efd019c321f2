"""Explicit reverse-pass gradients equal autograd's, value and parameter-gradient alike."""

import pytest
import torch

from sdfrecon.sdf.analytic_gradient import field_with_gradient, supports_analytic_gradient
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import build_field_seeded

FIELDS = {
    "plain": {"encoding": {"name": "none"}, "network": {"name": "mlp", "hidden_dim": 32, "num_layers": 3,
                                                         "skip_layers": [2]}},
    "two_skips": {"encoding": {"name": "fourier", "num_frequencies": 2}, "network": {"name": "mlp", "hidden_dim": 16,
                                                                                   "num_layers": 4, "skip_layers": [1, 3]}},
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


def test_default_preset_trains_alike_with_either_gradient():
    """The whole default loss set (surface, eikonal, normal, distance, clearance, ...) on the
    trainer's own path: 10 steps with the explicit gradient end where autograd's end. Not
    more: the two differ in rounding, and training amplifies that (after 40 steps an
    AVX-512 CPU had the normal term 10 % apart, where 10 steps agree to 1e-6)."""
    import numpy as np

    from sdfrecon.datasets.pointcloud import make_point_cloud
    from sdfrecon.datasets.synthetic import sphere_points
    from sdfrecon.pipeline.reconstruct import reconstruct

    points, normals = sphere_points(2000, radius=1.0, seed=0)
    finals = {}
    for gradient in ("autograd", "analytic"):
        cfg = resolve_config("default", [{"train": {"gradient": gradient, "iterations": 10, "checkpoint_every": 0},
                                          "mesh": {"resolution": 32, "refine": {"enabled": False}}}])
        result = reconstruct(make_point_cloud(points, normals), cfg, progress=False)
        finals[gradient] = result.record["train"]["final_losses"]
    assert finals["autograd"].keys() == finals["analytic"].keys()
    assert {"eikonal", "normal", "surface"} <= finals["analytic"].keys()
    for term, value in finals["autograd"].items():
        np.testing.assert_allclose(finals["analytic"][term], value, rtol=1e-3, atol=1e-7, err_msg=term)


@pytest.mark.parametrize("network, explicit", [({}, True), ({"name": "siren", "hidden_dim": 16, "num_layers": 2}, False)],
                         ids=["mlp", "siren"])
def test_auto_takes_the_explicit_gradient_only_where_the_field_supports_it(monkeypatch, network, explicit):
    from sdfrecon.datasets.pointcloud import make_point_cloud
    from sdfrecon.datasets.synthetic import sphere_points
    from sdfrecon.pipeline.reconstruct import reconstruct
    from sdfrecon.sdf import analytic_gradient

    calls = []
    real = analytic_gradient.field_with_gradient
    monkeypatch.setattr(analytic_gradient, "field_with_gradient", lambda f, x: calls.append(len(x)) or real(f, x))
    points, normals = sphere_points(2000, radius=1.0, seed=0)
    override = {"train": {"gradient": "auto", "iterations": 3, "checkpoint_every": 0},
                "mesh": {"resolution": 16, "refine": {"enabled": False}}}
    if network:
        override["field"] = {"network": network, "encoding": {"name": "none"}}
    result = reconstruct(make_point_cloud(points, normals), resolve_config("default", [override]), progress=False)
    steps = result.record["train"]["steps"]  # 3, or twice that where the cloud counts as sparse
    assert steps >= 3 and len(calls) == (steps if explicit else 0)


def test_the_default_preset_takes_the_explicit_gradient():
    assert resolve_config("default", []).train.gradient in ("analytic", "auto")


def test_auto_with_compile_refuses_a_field_it_cannot_write_out():
    """``compile`` needs the explicit gradient, so ``auto`` cannot fall back to autograd there:
    the run is refused by name instead of compiling a double backward."""
    from sdfrecon.base.errors import ConfigError
    from sdfrecon.datasets.pointcloud import make_point_cloud
    from sdfrecon.datasets.synthetic import sphere_points
    from sdfrecon.pipeline.reconstruct import reconstruct

    points, normals = sphere_points(500, radius=1.0, seed=0)
    override = {"train": {"gradient": "auto", "compile": True, "iterations": 2, "checkpoint_every": 0},
                "field": {"network": {"name": "siren", "hidden_dim": 16, "num_layers": 2}, "encoding": {"name": "none"}}}
    with pytest.raises(ConfigError, match="train.gradient"):
        reconstruct(make_point_cloud(points, normals), resolve_config("default", [override]), progress=False)
