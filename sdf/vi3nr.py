"""VI3NR: variance-informed initialisation for any activation.

Koneputugodage, Ben-Shabat, Ramasinghe & Gould, "VI3NR: Variance Informed
Initialization for Implicit Neural Representations", CVPR 2025 (arXiv 2504.19270).

For a layer ``z = W x + b`` whose weights have zero mean and variance ``var_w``, every
pre-activation ``z_j`` has variance ``var_w * sum_k E[x_k^2]`` (plus the bias'), with
``E[x^2] = mu^2 + sigma^2`` of the layer's input. Choosing

    var_w = sigma_p^2 / (sum_k E[x_k^2] + 1)

gives every layer's pre-activations the same variance ``sigma_p^2`` (forward
stability). The ``+ 1`` is ours: the bias is drawn like a weight on a constant input
1, so it is part of the budget instead of an extra the derivation ignores (the
reference code leaves PyTorch's default bias). For the first layer ``E[x_k^2]`` is
the input statistic (uniform coordinates in the unit frame: 1/3); after it the input
is ``f(z)`` with ``z ~ N(0, sigma_p^2)``, so only the activation's second moment
``E[f(z)^2]`` is needed. Gradients keep their variance from layer to layer (backward
stability, square layers) when ``sigma_p^2 E[f'(z)^2] / E[f(z)^2] = 1``; that ratio
is :meth:`ActivationMoments.backward_ratio`, and where it crosses 1 it fixes
``sigma_p`` (the Gaussian: ``sigma_p = s sqrt(1 + sqrt 2)``).

Moments are in closed form for ReLU, sine and the Gaussian; any other elementwise
activation (softplus, the FKAN gate) gets a seeded Monte Carlo estimate, computed
once when the network is built. Weights and biases are drawn uniformly (as the
reference code) from the global generator, so ``seed`` fixes them as for every other
initialisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.activations import Gaussian


@dataclass
class Vi3nrOptions:
    """Options of ``init: vi3nr``."""

    sigma_p: float | None = None
    """Target standard deviation of every layer's pre-activation; null = the activation's
    default (:func:`default_sigma_p`: the Gaussian's backward optimum, 1/omega for sine)."""
    input_second_moment: float = 1.0 / 3.0
    """``E[x^2]`` of each network input; 1/3 is a uniform coordinate on [-1, 1] (unit frame)."""
    samples: int = 1 << 20
    """Monte Carlo samples for activations without closed-form moments (e.g. softplus)."""
    seed: int = 0
    """Seed of those samples (a private generator: the weight draws are unaffected)."""

    def validate(self, path: str) -> None:
        if self.sigma_p is not None and not self.sigma_p > 0:
            raise ConfigError(f"{path}.sigma_p: must be > 0, got {self.sigma_p}")
        if not self.input_second_moment > 0:
            raise ConfigError(f"{path}.input_second_moment: must be > 0, got {self.input_second_moment}")
        if self.samples < 1000:
            raise ConfigError(f"{path}.samples: must be >= 1000, got {self.samples}")


@dataclass(frozen=True)
class ActivationMoments:
    """Moments of ``f(z)`` for ``z ~ N(0, sigma_p^2)``."""

    sigma_p: float
    mean: float
    """``E[f(z)]``."""
    second: float
    """``E[f(z)^2]`` (= mean^2 + variance): what the next layer's weights are scaled by."""
    derivative_second: float
    """``E[f'(z)^2]``: how much the layer scales gradients on the way back."""
    closed_form: bool
    """False when estimated by Monte Carlo."""

    def backward_ratio(self) -> float:
        """``sigma_p^2 E[f'^2] / E[f^2]``: the per-layer factor on the variance of the
        loss gradient w.r.t. pre-activations in a VI3NR net of square layers (1 = stable)."""
        return self.sigma_p**2 * self.derivative_second / self.second


def _closed_form(activation: nn.Module, s: float) -> tuple[float, float, float] | None:
    """(E f, E f^2, E f'^2) for z ~ N(0, s^2), where known in closed form."""
    if isinstance(activation, nn.ReLU):
        return s / math.sqrt(2.0 * math.pi), 0.5 * s * s, 0.5
    if isinstance(activation, Gaussian):
        a = (s / activation.width) ** 2
        return (1.0 + a) ** -0.5, (1.0 + 2.0 * a) ** -0.5, a / activation.width**2 * (1.0 + 2.0 * a) ** -1.5
    if type(activation).__name__ == "Sine" and hasattr(activation, "omega"):
        w = activation.omega
        decay = math.exp(-2.0 * (w * s) ** 2)  # E[cos(2 w z)]
        return 0.0, 0.5 * (1.0 - decay), 0.5 * w * w * (1.0 + decay)
    return None


def activation_moments(activation: nn.Module, sigma_p: float, *, samples: int = 1 << 20, seed: int = 0) -> ActivationMoments:
    """Moments of an elementwise ``activation`` under ``z ~ N(0, sigma_p^2)``.

    Parameters
    ----------
    activation : nn.Module
        Elementwise, without parameters (``nn.ReLU``, ``nn.Softplus``, ``Sine``, ``Gaussian``...).
    sigma_p : float
        Standard deviation of the pre-activation.
    samples, seed : int
        Monte Carlo size and seed, used only when there is no closed form.
    """
    exact = _closed_form(activation, sigma_p)
    if exact is not None:
        return ActivationMoments(sigma_p, *exact, closed_form=True)
    key = _cache_key(activation, sigma_p, samples, seed)
    if key is not None and key in _MC_CACHE:
        return _MC_CACHE[key]
    moments = _monte_carlo(activation, sigma_p, samples, seed)
    if key is not None:
        _MC_CACHE[key] = moments
    return moments


_MC_CACHE: dict[tuple, ActivationMoments] = {}


def _cache_key(activation: nn.Module, sigma_p: float, samples: int, seed: int) -> tuple | None:
    """Identity of a parameter-free activation by type and plain attributes (None: do not cache)."""
    if any(True for _ in activation.parameters()):
        return None
    attrs = tuple(sorted((k, v) for k, v in vars(activation).items()
                         if not k.startswith("_") and isinstance(v, (int, float, bool, str))))
    return type(activation), attrs, float(sigma_p), samples, seed


def _monte_carlo(activation: nn.Module, sigma_p: float, samples: int, seed: int) -> ActivationMoments:
    generator = torch.Generator().manual_seed(seed)
    z = (torch.randn(samples, generator=generator, dtype=torch.float64) * sigma_p).requires_grad_(True)
    with torch.enable_grad():
        f = activation(z)
        (df,) = torch.autograd.grad(f.sum(), z)  # elementwise: the sum's gradient is f'(z)
    f = f.detach()
    return ActivationMoments(sigma_p, float(f.mean()), float((f * f).mean()), float((df * df).mean()), closed_form=False)


def backward_optimal_sigma_p(activation: nn.Module, *, low: float = 1e-3, high: float = 10.0, steps: int = 400,
                             samples: int = 1 << 16, seed: int = 0) -> float | None:
    """The ``sigma_p`` in [low, high] where the backward ratio crosses 1 (VI3NR's
    backward condition), refined by bisection; None if it never crosses there (ReLU:
    1 everywhere; sine: above 1 for every sigma_p > 0; softplus: below 1)."""
    grid = torch.logspace(math.log10(low), math.log10(high), steps, dtype=torch.float64).tolist()

    def excess(s: float) -> float:
        return activation_moments(activation, s, samples=samples, seed=seed).backward_ratio() - 1.0

    values = [excess(s) for s in grid]
    for (s0, v0), (s1, v1) in zip(zip(grid, values), zip(grid[1:], values[1:])):
        if abs(v0) > 1e-6 and abs(v1) > 1e-6 and (v0 < 0) != (v1 < 0):
            for _ in range(60):
                mid = math.sqrt(s0 * s1)
                vm = excess(mid)
                if (vm < 0) == (v0 < 0):
                    s0, v0 = mid, vm
                else:
                    s1 = mid
            return math.sqrt(s0 * s1)
    return None


def default_sigma_p(activation: nn.Module) -> float:
    """The pre-activation scale ``init: vi3nr`` uses when ``sigma_p`` is not given.

    * Gaussian: the backward-condition optimum, ``s sqrt(1 + sqrt 2)`` (closed form:
      the ratio is ``a^2 / (1 + 2a)`` with ``a = sigma_p^2 / s^2``).
    * sine and the FKAN gate (activations with ``omega``): ``1 / omega``, SIREN's
      operating point (``omega z ~ N(0, 1)``); for sine the backward ratio is
      ``u / tanh(u)`` with ``u = (omega sigma_p)^2``, above 1 for every ``sigma_p`` and
      1 only as the network turns linear, so it fixes nothing.
    * ReLU and softplus: 1 (ReLU satisfies the backward condition at every scale;
      softplus approaches it as ``beta sigma_p`` grows: 0.996 at beta 100).
    """
    if isinstance(activation, Gaussian):
        return activation.width * math.sqrt(1.0 + math.sqrt(2.0))
    omega = getattr(activation, "omega", None)
    if omega is not None:
        return 1.0 / float(omega)
    if isinstance(activation, (nn.ReLU, nn.Softplus)):
        return 1.0
    found = backward_optimal_sigma_p(activation)
    if found is None:
        raise ConfigError(f"vi3nr.sigma_p: no default for activation {type(activation).__name__}; set it")
    return found


@dataclass(frozen=True)
class Vi3nrPlan:
    """What a network needs to initialise its layers: the target scale and the
    activation's second moment at it."""

    sigma_p: float
    moments: ActivationMoments
    input_second_moment: float

    @classmethod
    def for_activation(cls, activation: nn.Module, options: Vi3nrOptions) -> "Vi3nrPlan":
        sigma_p = options.sigma_p if options.sigma_p is not None else default_sigma_p(activation)
        moments = activation_moments(activation, sigma_p, samples=options.samples, seed=options.seed)
        return cls(sigma_p, moments, options.input_second_moment)

    def first_layer_sum(self, in_dim: int) -> float:
        """``sum_k E[x_k^2]`` over the network's inputs."""
        return in_dim * self.input_second_moment

    def hidden_sum(self, fan_in: int) -> float:
        """``sum_k E[x_k^2]`` over ``fan_in`` activations of the previous layer."""
        return fan_in * self.moments.second


@torch.no_grad()
def vi3nr_fill_(weight: torch.Tensor, bias: torch.Tensor | None, *, input_second_moment_sum: float,
                sigma_p: float) -> None:
    """Draw ``weight`` (out, in) and ``bias`` (out,) in place so that the layer's
    pre-activations have variance ``sigma_p^2``.

    Parameters
    ----------
    weight, bias : Tensor
        The layer's parameters; ``bias`` may be None.
    input_second_moment_sum : float
        ``sum_k E[x_k^2]`` over the layer's inputs.
    sigma_p : float
        Target pre-activation standard deviation.

    Notes
    -----
    Both are drawn from ``U(-a, a)`` with ``a = sqrt(3) sigma_w`` and
    ``sigma_w^2 = sigma_p^2 / (input_second_moment_sum + 1)`` (the bias counting as the
    weight of a constant input 1), or ``/ input_second_moment_sum`` without a bias.
    """
    budget = input_second_moment_sum + (1.0 if bias is not None else 0.0)
    bound = math.sqrt(3.0) * sigma_p / math.sqrt(budget)
    weight.uniform_(-bound, bound)
    if bias is not None:
        bias.uniform_(-bound, bound)


def preactivation_variances(layers: Sequence[nn.Module], run, x: torch.Tensor) -> list[float]:
    """Empirical variance of each layer's output (its pre-activation) while ``run(x)``
    evaluates the network; one value per layer, in order (over all points and units)."""
    seen: list[float | None] = [None] * len(layers)
    hooks = []
    for i, layer in enumerate(layers):
        def hook(module, args, out, i=i):
            seen[i] = float(out.detach().double().var())
        hooks.append(layer.register_forward_hook(hook))
    try:
        with torch.no_grad():
            run(x)
    finally:
        for h in hooks:
            h.remove()
    return [float("nan") if v is None else v for v in seen]
