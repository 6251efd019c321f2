"""Space-time field, curvature, speeds, velocity fields and the evolution sampler (fast, no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sdfrecon.base.errors import ConfigError, InputError
from sdfrecon.datasets.sampling import SampleBatch
from sdfrecon.sdf.derivatives import gradient, laplacian
from sdfrecon.sdf.encodings import FourierEncodingConfig
from sdfrecon.sdf.evolution import (FLOW_GROUP, SPEEDS, EvolutionLoss, EvolutionLossConfig,
                                    MeanCurvatureSpeedConfig, MorphSpeedConfig, VectorFieldSpeedConfig,
                                    mean_curvature)
from sdfrecon.sdf.evolution_sampler import InitialCondition, SpaceTimeSampler, SpaceTimeSamplerConfig
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.fields import FieldConfig, build_field
from sdfrecon.sdf.networks import GeometricMLPConfig
from sdfrecon.sdf.sine_networks import QuadraticNetConfig, SirenConfig
from sdfrecon.sdf.spacetime import build_space_time_field, extend_with_time
from sdfrecon.sdf.vector_fields import (BendFieldConfig, FileFieldConfig, TranslateFieldConfig, TwistFieldConfig,
                                        VECTOR_FIELDS, advect, load_vector_field_file)


def _xt(n: int, t_max: float = 1.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.rand(n, 3, generator=g) * 2 - 1, torch.rand(n, 1, generator=g) * t_max], dim=1)


@pytest.mark.parametrize("field_cfg", [
    FieldConfig(encoding=FourierEncodingConfig(num_frequencies=3, anneal_until=0.5),
                network=GeometricMLPConfig(hidden_dim=32, num_layers=4, skip_layers=[2])),
    FieldConfig(network=SirenConfig(hidden_dim=32, num_layers=3)),
    FieldConfig(network=QuadraticNetConfig(hidden_dim=16, num_layers=2)),
], ids=["fourier-mlp-skip", "siren", "quadratic"])
def test_extended_field_equals_the_trained_field_at_every_time(field_cfg):
    torch.manual_seed(0)
    trained = build_field(field_cfg)
    with torch.no_grad():  # not the initial state: weights of every layer perturbed
        for p in trained.parameters():
            p.add_(0.05 * torch.randn_like(p))
    spacetime = extend_with_time(trained, field_cfg, time_scale=0.01)
    xt = _xt(256, t_max=0.05)
    with torch.no_grad():
        expected = trained.sdf(xt[:, :3])
        assert torch.allclose(spacetime.sdf(xt), expected, atol=1e-5)
        # the time input is live: moving its weights changes f with t (it is not a dead column)
        first = next(m for m in spacetime.network.modules() if isinstance(m, torch.nn.Linear))
        first.weight[:, -1] = 0.5
        assert not torch.allclose(spacetime.sdf(xt), expected, atol=1e-3)


def test_extended_field_ignores_the_encodings_coarse_to_fine_schedule():
    cfg = FieldConfig(encoding=FourierEncodingConfig(num_frequencies=3, anneal_until=0.5),
                      network=GeometricMLPConfig(hidden_dim=16, num_layers=2))
    trained = build_field(cfg)
    trained.encoding.set_training_progress(1.0)
    spacetime = extend_with_time(trained, cfg, time_scale=1.0)
    spacetime.encoding.set_training_progress(0.0)  # what the trainer announces at step 0
    assert torch.equal(spacetime.encoding.window, torch.ones(3))
    assert trained.encoding.anneal_until == 0.5  # the trained field itself is untouched


def test_fresh_geometric_space_time_field_starts_as_the_same_shape_at_every_time():
    cfg = FieldConfig(network=GeometricMLPConfig(hidden_dim=64, num_layers=3, init_radius=0.5))
    field = build_space_time_field(cfg, time_scale=0.1)
    x = torch.randn(100, 3)
    x = 0.5 * x / x.norm(dim=1, keepdim=True)
    with torch.no_grad():
        a = field.at_time(0.0)(x)
        b = field.at_time(0.1)(x)
    assert torch.allclose(a, b)
    with torch.no_grad():  # the geometric init's rough sphere: negative at the centre
        assert field.at_time(0.05)(torch.zeros(1, 3)) < 0


def test_laplacian_of_a_spatial_gradient_skips_the_time_column():
    xt = _xt(64).requires_grad_(True)
    f = (xt[:, :3] ** 2).sum(dim=1) * (1 + xt[:, 3] ** 2)  # spatial lap = 6 (1 + t^2), f_tt = 2|x|^2
    grad = gradient(f, xt)
    lap = laplacian(grad[:, :3], xt)
    assert torch.allclose(lap, 6 * (1 + xt[:, 3].detach() ** 2), atol=1e-5)


def test_mean_curvature_of_a_sphere_is_two_over_radius_for_any_monotone_profile():
    x = torch.randn(200, 3)
    r = 0.3 + 0.7 * torch.rand(200)
    x = (x / x.norm(dim=1, keepdim=True) * r[:, None]).requires_grad_(True)
    for f_of in (lambda x: x.norm(dim=1) - 0.5, lambda x: x.pow(2).sum(dim=1)):  # SDF and a non-SDF
        grad = gradient(f_of(x), x)
        kappa = mean_curvature(grad, x)
        assert torch.allclose(kappa, 2 / r, rtol=1e-4)


def test_vector_fields_twist_and_bend_are_divergence_free_and_twist_rotates():
    x = (torch.rand(128, 3) * 2 - 1).requires_grad_(True)
    t = torch.zeros(128, 1)
    for cfg in (TwistFieldConfig(), BendFieldConfig()):
        v = VECTOR_FIELDS.build(cfg)(x, t)
        div = sum(gradient(v[:, i], x)[:, i] for i in range(3))
        assert div.abs().max() < 1e-5, cfg.name
    # a point at height 1 above the twist base turns by rate * 1 * t about the y axis
    p = torch.tensor([[1.0, 0.0, 0.0]])
    moved = advect(p, torch.tensor([[1.0]]), VECTOR_FIELDS.build(TwistFieldConfig(rate=math.pi / 2)), steps=64)
    assert torch.allclose(moved, torch.tensor([[0.0, 0.0, 1.0]]), atol=2e-3) or \
        torch.allclose(moved, torch.tensor([[0.0, 0.0, -1.0]]), atol=2e-3)
    assert abs(float(moved.norm()) - 1.0) < 1e-3


def test_vector_field_file_is_loaded_and_checked(tmp_path):
    good = tmp_path / "swirl.py"
    good.write_text("import torch\n\ndef v(x, t):\n    return torch.stack([-x[:, 1], x[:, 0], 0 * x[:, 2]], 1)\n")
    fn = VECTOR_FIELDS.build(FileFieldConfig(path=str(good)))
    assert torch.allclose(fn(torch.tensor([[1.0, 0.0, 0.0]]), torch.zeros(1, 1)), torch.tensor([[0.0, 1.0, 0.0]]))
    cases = {
        "missing.py": ("", "no such vector-field file"),
        "nofn.py": ("x = 1\n", "defines no function v(x, t)"),
        "shape.py": ("def v(x, t):\n    return x[:, :2]\n", "shape (N, 3)"),
        "boom.py": ("raise RuntimeError('nope')\n", "raised RuntimeError while importing"),
        "nan.py": ("def v(x, t):\n    return x / 0 * 0\n", "non-finite"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        if text:
            path.write_text(text)
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
            load_vector_field_file(path)
        assert str(path) in str(err.value)
    with pytest.raises(InputError, match="Python file"):
        (tmp_path / "field.txt").write_text("")
        load_vector_field_file(tmp_path / "field.txt")


def test_speed_and_field_configs_reject_bad_values():
    from sdfrecon.base.configtools import from_dict
    from sdfrecon.sdf.evolution import SpeedConfig

    with pytest.raises(ConfigError, match="scale"):
        from_dict(SpeedConfig, {"name": "mean_curvature", "scale": 0})
    with pytest.raises(ConfigError, match="parallel"):
        from_dict(SpeedConfig, {"name": "vector_field", "field": {"name": "bend", "direction": [1, 0, 0]}})
    with pytest.raises(ConfigError, match="unknown vector field 'spin'"):
        from_dict(SpeedConfig, {"name": "vector_field", "field": {"name": "spin"}})
    with pytest.raises(ConfigError, match="unknown speed"):
        from_dict(SpeedConfig, {"name": "melt"})


def _probe(field, batch):
    return FieldProbe(field, batch, differentiable_inputs=True)


def test_lse_residuals_vanish_on_exact_solutions():
    """f = |x - v t| - r solves transport by v; f = |x| - sqrt(r^2 - 4t) solves curvature flow on its
    zero set (and |x| - sqrt(|x0|^2 - 4t) on every level set: each sphere shrinks by the same law)."""
    v = torch.tensor([0.3, -0.2, 0.1])
    xt = _xt(300, t_max=0.02)
    translate = SPEEDS.build(VectorFieldSpeedConfig(field=TranslateFieldConfig(velocity=v.tolist())))
    batch = SampleBatch(points={FLOW_GROUP: xt})
    from sdfrecon.sdf.evolution import FlowPoints

    moving = lambda p: ((p[:, :3] - v * p[:, 3:4]).norm(dim=1) - 0.5)[:, None]
    res = translate.residual(FlowPoints(_probe(moving, batch)))
    assert res.abs().max() < 1e-5
    # every level set of |x|^2 + 4t is a sphere shrinking by r^2 = r0^2 - 4t: an exact MCF solution
    mcf = SPEEDS.build(MeanCurvatureSpeedConfig())
    shrinking = lambda p: (p[:, :3].pow(2).sum(dim=1) + 4 * p[:, 3])[:, None]
    res = mcf.residual(FlowPoints(_probe(shrinking, batch)))
    assert res.abs().max() < 1e-4
    # ... and not of the reversed flow, nor of the wrong rate
    assert SPEEDS.build(MeanCurvatureSpeedConfig(reverse=True)).residual(
        FlowPoints(_probe(shrinking, batch))).abs().min() > 1.0
    assert SPEEDS.build(MeanCurvatureSpeedConfig(scale=2.0)).residual(
        FlowPoints(_probe(shrinking, batch))).abs().min() > 1.0


def test_morph_residual_pulls_towards_the_target():
    xt = _xt(100)
    target = torch.full((100,), 0.3)
    batch = SampleBatch(points={FLOW_GROUP: xt}, labels={FLOW_GROUP: target})
    from sdfrecon.sdf.evolution import FlowPoints

    speed = SPEEDS.build(MorphSpeedConfig(scale=2.0, width=1.0))
    # f = x0 (|grad| = 1, f_t = 0): residual = -2 (0.3 - x0) exp(-x0^2)
    points = FlowPoints(_probe(lambda p: p[:, :1] + 0 * p[:, 3:4], batch), target)
    x0 = xt[:, 0]
    assert torch.allclose(speed.residual(points), -2 * (0.3 - x0) * torch.exp(-x0 ** 2), atol=1e-6)


def test_sampler_labels_its_groups_and_resumes_identically():
    sphere = lambda x: x.norm(dim=1) - 0.5
    u = torch.randn(500, 3)
    ic = InitialCondition(sdf=sphere, time=0.0, surface_points=0.5 * u / u.norm(dim=1, keepdim=True))
    speed = SPEEDS.build(VectorFieldSpeedConfig(field=TranslateFieldConfig(velocity=[1.0, 0, 0])))
    cfg = SpaceTimeSamplerConfig(data_points=200, flow_points=300, near_sigma=0.0, flow_sigma=0.0,
                                 flow_near_fraction=1.0)
    sampler = SpaceTimeSampler(cfg, [ic], (np.full(3, -1.0), np.full(3, 1.0)), (0.0, 0.5), speed,
                               device=torch.device("cpu"), seed=3)
    batch = sampler.sample()
    assert set(batch.points) == {"data0", FLOW_GROUP}
    data = batch.points["data0"]
    assert data.shape == (200, 4) and torch.all(data[:, 3] == 0)
    assert torch.allclose(batch.labels["data0"], sphere(data[:, :3]), atol=1e-6)
    assert torch.allclose(batch.normals["data0"][:100], data[:100, :3] / 0.5, atol=1e-4)  # near = on surface
    flow = batch.points[FLOW_GROUP]
    assert flow.shape == (300, 4) and flow[:, 3].min() >= 0 and flow[:, 3].max() <= 0.5
    # near flow samples were carried along the velocity: they lie on the moved sphere
    moved = flow[:, :3] - torch.tensor([1.0, 0, 0]) * flow[:, 3:4]
    assert torch.allclose(moved.norm(dim=1), torch.full((300,), 0.5), atol=1e-4)
    state = sampler.state_dict()
    again = sampler.sample()
    sampler.load_state_dict(state)
    assert torch.equal(sampler.sample().points[FLOW_GROUP], again.points[FLOW_GROUP])


def test_evolution_loss_is_zero_for_the_exact_translation():
    v = torch.tensor([0.4, 0.0, 0.0])
    moving = lambda p: ((p[:, :3] - v * p[:, 3:4]).norm(dim=1) - 0.5)[:, None]
    sphere = lambda x: x.norm(dim=1) - 0.5
    u = torch.randn(500, 3)
    ic = InitialCondition(sdf=sphere, time=0.0, surface_points=0.5 * u / u.norm(dim=1, keepdim=True))
    speed = SPEEDS.build(VectorFieldSpeedConfig(field=TranslateFieldConfig(velocity=v.tolist())))
    sampler = SpaceTimeSampler(SpaceTimeSamplerConfig(data_points=128, flow_points=128), [ic],
                               (np.full(3, -1.0), np.full(3, 1.0)), (0.0, 1.0), speed, device=torch.device("cpu"))
    loss = EvolutionLoss(EvolutionLossConfig(eikonal=1.0), speed, level_set_weight=1.0, time_scale=1.0,
                         total_steps=10, data_groups=["data0"])
    values = loss(_probe(moving, sampler.sample()), 0)
    assert set(values.unweighted) == {"data", "normal", "level_set", "eikonal"}
    assert float(values.total.detach()) < 1e-8
    wrong = lambda p: ((p[:, :3] + v * p[:, 3:4]).norm(dim=1) - 0.5)[:, None]  # moves the other way
    assert float(loss(_probe(wrong, sampler.sample()), 0).unweighted["level_set"].detach()) > 1e-2
