import numpy as np
import pytest
import torch

from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import build_field_seeded


@pytest.mark.parametrize("encoding", [{"name": "none"}, {"name": "fourier", "num_frequencies": 4}])
@pytest.mark.parametrize("activation", ["softplus", "relu"])
def test_geometric_init_starts_as_sphere(encoding, activation):
    cfg = resolve_config(None, [{"field": {"encoding": encoding, "network": {
        "name": "mlp", "hidden_dim": 128, "num_layers": 4, "activation": activation,
        "init_radius": 0.5, "skip_layers": [2]}}}])
    field = build_field_seeded(cfg)
    dirs = torch.nn.functional.normalize(torch.randn(500, 3, generator=torch.Generator().manual_seed(0)), dim=1)
    with torch.no_grad():
        inside = field.sdf(dirs * 0.1)
        outside = field.sdf(dirs * 0.95)
        shell = field.sdf(dirs * 0.5)
    assert (inside < 0).all() and (outside > 0).all()  # negative inside
    assert shell.abs().mean() < 0.05  # zero level set near the init radius


def test_same_seed_same_weights():
    cfg = resolve_config("default")
    a, b = build_field_seeded(cfg), build_field_seeded(cfg)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    other = build_field_seeded(resolve_config("default", [{"seed": 1}]))
    assert not all(torch.equal(pa, pb) for pa, pb in zip(a.parameters(), other.parameters()))


def test_fourier_encoding_shape_and_identity_prefix():
    from sdfrecon.sdf.encodings import FourierEncoding

    enc = FourierEncoding(3)
    x = torch.randn(7, 3)
    y = enc(x)
    assert y.shape == (7, 3 + 18)
    assert torch.equal(y[:, :3], x)
    np.testing.assert_allclose(y[:, 3].numpy(), np.sin(np.pi * x[:, 0].numpy()), atol=1e-6)


@pytest.mark.parametrize("spacing, octaves", [(0.01, 4), (0.12, 4), (0.13, 3), (0.3, 2), (5.0, 1)])
def test_fourier_octaves_fitted_to_point_spacing(spacing, octaves):
    """An octave stays when its period 2 / 2^k (unit frame) spans >= min_period spacings;
    at least one stays."""
    from sdfrecon.sdf.encodings import FourierEncodingConfig

    cfg = FourierEncodingConfig(num_frequencies=4, min_period=2.0)
    assert cfg.fitted_to_spacing(spacing).num_frequencies == octaves
    assert cfg.fitted_to_spacing(spacing).fitted_to_spacing(spacing) == cfg.fitted_to_spacing(spacing)
    assert FourierEncodingConfig(num_frequencies=4).fitted_to_spacing(spacing).num_frequencies == 4
    assert cfg.uses_spacing and not FourierEncodingConfig(num_frequencies=4).uses_spacing
