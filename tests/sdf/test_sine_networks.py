"""SIREN-family networks: initial shapes, quadratic layer identity at init."""

import pytest
import torch

from sdfrecon.pipeline.config import resolve_config
from sdfrecon.base.errors import ConfigError
from sdfrecon.pipeline.reconstruct import build_field_seeded
from sdfrecon.sdf.sine_networks import QuadraticLayer


def _field(network):
    return build_field_seeded(resolve_config(None, [{"field": {"network": network}}]))


def _radial_profile(field, radii):
    dirs = torch.nn.functional.normalize(torch.randn(300, 3, generator=torch.Generator().manual_seed(0)), dim=1)
    with torch.no_grad():
        return [field.sdf(dirs * r) for r in radii]


@pytest.mark.parametrize("name", ["siren", "quadratic"])
@pytest.mark.parametrize("init", ["mfgi", "geometric_sine"])
def test_geometric_sine_inits_start_as_a_sphere_around_the_data(name, init):
    """DiGS/StEik start from a sphere SDF (scaled by 0.1) whose zero set lies near the
    unit-frame data's extent: negative at the centre, growing with the radius, and
    about radially symmetric."""
    field = _field({"name": name, "hidden_dim": 128, "num_layers": 4, "init": init})
    profile = _radial_profile(field, [0.05, 0.5, 1.0])
    means = [p.mean().item() for p in profile]
    assert means == sorted(means)
    assert (profile[0] < 0).all() and (profile[1] < 0).all()
    assert abs(means[2]) < 0.1  # zero level set near radius 1 (within 0.1 / 0.1 scaling = 1 unit)
    assert profile[1].std() < 0.3 * (means[2] - means[0])


def test_geometric_softplus_quadratic_starts_as_sphere():
    field = _field({"name": "quadratic", "hidden_dim": 128, "num_layers": 4, "activation": "softplus",
                    "init": "geometric", "init_radius": 0.5})
    inner, shell, outer = _radial_profile(field, [0.1, 0.5, 0.95])
    assert (inner < 0).all() and (outer > 0).all() and shell.abs().mean() < 0.08


def test_quadratic_layer_starts_linear():
    layer = QuadraticLayer(5, 7)
    x = torch.randn(20, 5)
    linear = layer.lin1(x)
    assert torch.allclose(layer(x), linear, atol=1e-3 * linear.abs().max().item())


def test_siren_init_statistics():
    field = _field({"name": "siren", "hidden_dim": 128, "num_layers": 3, "init": "siren"})
    first = field.network.layers[0].weight
    assert first.abs().max() <= 1 / 3 + 1e-6  # U(+-1/in), in = 3
    hidden = field.network.layers[1].weight
    assert hidden.abs().max() <= (6 / 128) ** 0.5 / 30 + 1e-6


def test_incompatible_init_and_activation_rejected():
    with pytest.raises(ConfigError, match="is for activation 'sine'"):
        resolve_config(None, [{"field": {"network": {"name": "quadratic", "activation": "softplus", "init": "mfgi"}}}])
    with pytest.raises(ConfigError, match="'geometric' is for softplus/relu"):
        resolve_config(None, [{"field": {"network": {"name": "siren", "activation": "sine", "init": "geometric"}}}])
