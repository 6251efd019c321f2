"""VI3NR: activation moments, the backward condition, and pre-activation variance through
deep random networks built from configs, against the default initialisations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from sdfrecon.base.errors import ConfigError
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import build_field_seeded
from sdfrecon.sdf import vi3nr
from sdfrecon.sdf.activations import Gaussian, Sine
from sdfrecon.sdf.vi3nr import activation_moments, backward_optimal_sigma_p, default_sigma_p, preactivation_variances

DEPTH, WIDTH, SEEDS = 10, 512, 16


@pytest.mark.parametrize("activation, sigma", [
    (nn.ReLU(), 0.7), (Sine(), 1 / 30), (Sine(), 0.1), (Gaussian(0.05), 0.08), (Gaussian(0.2), 0.1)])
def test_closed_form_moments_match_monte_carlo(activation, sigma):
    exact = activation_moments(activation, sigma)
    assert exact.closed_form

    class Opaque(nn.Module):  # the same function, hidden from the closed forms
        def forward(self, z):
            return activation(z)

    estimate = activation_moments(Opaque(), sigma, samples=1 << 21, seed=3)
    assert not estimate.closed_form
    for name in ("second", "derivative_second"):
        assert getattr(estimate, name) == pytest.approx(getattr(exact, name), rel=0.01), name
    assert estimate.mean == pytest.approx(exact.mean, abs=0.01 * math.sqrt(exact.second))


def test_gaussian_backward_optimum_closed_form_matches_search():
    act = Gaussian(0.05)
    closed = default_sigma_p(act)
    assert closed == pytest.approx(0.05 * math.sqrt(1 + math.sqrt(2)))
    assert activation_moments(act, closed).backward_ratio() == pytest.approx(1.0, abs=1e-9)
    searched = backward_optimal_sigma_p(act)
    assert searched == pytest.approx(closed, rel=1e-3)


def test_backward_condition_has_no_crossing_for_sine_and_relu():
    assert backward_optimal_sigma_p(nn.ReLU()) is None  # ratio is exactly 1 everywhere
    assert backward_optimal_sigma_p(Sine()) is None  # u / tanh(u) > 1
    assert activation_moments(Sine(), 1 / 30).backward_ratio() == pytest.approx(1 / math.tanh(1.0))


def test_monte_carlo_moments_are_seeded():
    a = activation_moments(nn.Softplus(beta=100), 1.0, samples=10_000, seed=7)
    vi3nr._MC_CACHE.clear()
    b = activation_moments(nn.Softplus(beta=100), 1.0, samples=10_000, seed=7)
    c = activation_moments(nn.Softplus(beta=100), 1.0, samples=10_000, seed=8)
    assert a == b and a != c


def _profiles(network: dict, points: torch.Tensor) -> tuple[np.ndarray, float]:
    """(seeds, layers) pre-activation variances of the hidden layers, and the VI3NR target."""
    rows = []
    for seed in range(SEEDS):
        cfg = resolve_config(None, [{"seed": seed, "field": {"network": network}}])
        field = build_field_seeded(cfg)
        rows.append(preactivation_variances(field.network.layers, field, points)[:-1])  # all but the output
    return np.array(rows), default_sigma_p(field.network.activation) ** 2


# (network, activation) with VI3NR, and the init it replaces: SIREN's for sine, PyTorch's
# nn.Linear draw otherwise. (The siren stack with softplus/relu builds the same layers
# from the same draws as the mlp network, so it is not repeated.) The variance is
# averaged over SEEDS networks: VI3NR, like He and Xavier, sets its expectation; single
# ReLU/softplus nets of this width scatter by up to ~40% at depth 10 (printed).
CASES = [
    ("siren", "sine", {"init": "siren"}),
    ("siren", "gaussian", {"init": "pytorch"}),
    ("mlp", "softplus", {"geometric_init": False}),
    ("mlp", "relu", {"geometric_init": False}),
]


@pytest.mark.parametrize("name, activation, baseline", CASES)
def test_vi3nr_keeps_preactivation_variance_on_target_where_the_default_drifts(name, activation, baseline):
    points = torch.rand(512, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float32) * 2 - 1
    net = {"name": name, "hidden_dim": WIDTH, "num_layers": DEPTH, "activation": activation}
    ours, target = _profiles({**net, "init": "vi3nr"}, points)
    theirs, _ = _profiles({**net, **baseline}, points)
    ours_ratio = ours.mean(axis=0) / target  # expectation over the init distribution, per layer
    drift = theirs.mean(axis=0) / theirs.mean(axis=0)[0]  # the default against its own first layer
    print(f"\n{name}/{activation} vi3nr var/target per layer: " + " ".join(f"{r:.2f}" for r in ours_ratio)
          + f"  (single nets: worst {np.abs(ours / target - 1).max():.0%})"
          + f"\n{name}/{activation} {baseline} var/first layer:  " + " ".join(f"{r:.3g}" for r in drift))
    assert np.all(np.abs(ours_ratio - 1) < 0.2), ours_ratio
    assert np.abs(drift - 1).max() > 0.2, drift


def test_relu_vi3nr_is_he_init_and_so_is_geometric():
    """For ReLU the forward condition is He's (variance 2/fan_in); our geometric init
    is He with fan_out, so on square hidden layers it does not drift either."""
    points = torch.rand(512, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    geometric, _ = _profiles({"name": "mlp", "hidden_dim": WIDTH, "num_layers": DEPTH, "activation": "relu"}, points)
    ratio = geometric.mean(axis=0) / geometric.mean(axis=0)[0]
    assert np.abs(ratio - 1).max() < 0.2, ratio
    field = build_field_seeded(resolve_config(None, [{"field": {"network": {
        "name": "mlp", "hidden_dim": WIDTH, "num_layers": 3, "activation": "relu", "init": "vi3nr"}}}]))
    w = field.network.layers[1].weight
    assert w.var().item() == pytest.approx(2.0 / (WIDTH + 2.0), rel=0.05)  # sigma_p^2 / (fan_in/2 sigma_p^2 + 1)


def test_vi3nr_sigma_p_option_sets_the_scale():
    points = torch.rand(512, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    field = build_field_seeded(resolve_config(None, [{"field": {"network": {
        "name": "siren", "hidden_dim": WIDTH, "num_layers": 4, "activation": "gaussian", "gaussian_width": 0.1,
        "init": "vi3nr", "vi3nr": {"sigma_p": 0.3}}}}]))
    first, *_ = preactivation_variances(field.network.layers, field, points)
    assert first == pytest.approx(0.09, rel=0.1)


def test_invalid_vi3nr_configs_rejected():
    with pytest.raises(ConfigError, match="sigma_p: must be > 0"):
        resolve_config(None, [{"field": {"network": {"name": "siren", "init": "vi3nr", "vi3nr": {"sigma_p": -1}}}}])
    with pytest.raises(ConfigError, match="'geometric' is for softplus/relu"):
        resolve_config(None, [{"field": {"network": {"name": "siren", "activation": "gaussian", "init": "geometric"}}}])
    with pytest.raises(ConfigError, match="init"):
        resolve_config(None, [{"field": {"network": {"name": "mlp", "init": "siren"}}}])


def test_vi3nr_fills_the_primary_map_of_quadratic_layers():
    """StEik's quadratic layers start as their linear map lin1, which VI3NR fills."""
    points = torch.rand(512, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    field = build_field_seeded(resolve_config(None, [{"field": {"network": {
        "name": "quadratic", "hidden_dim": WIDTH, "num_layers": 4, "activation": "sine", "init": "vi3nr"}}}]))
    ratios = np.array(preactivation_variances(field.network.layers, field, points)[:-1]) * 30.0**2
    assert np.all(np.abs(ratios - 1) < 0.2), ratios
