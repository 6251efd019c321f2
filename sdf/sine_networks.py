"""SIREN-family networks: SIREN / DiGS (linear layers) and StEik (quadratic layers).

Both are stacks ``[in] -> H x num_layers -> [out]`` with an activation after every
layer but the last, initialised by one of the schemes in :mod:`sdfrecon.sdf.sine_init`
(or the SAL ``geometric`` scheme for softplus/ReLU). With ``geometric_sine`` and
``mfgi`` the raw output goes through :func:`sdfrecon.sdf.sine_init.sphere_output`, so the
field starts as a sphere SDF.

``init: vi3nr`` (any activation, including the Gaussian ``exp(-z^2 / (2 s^2))``) and
``init: pytorch`` (``nn.Linear``'s own draw) are in :mod:`sdfrecon.sdf.vi3nr`.

StEik's quadratic layer (Yang et al. 2023) is
``y = (W1 x + b1) * (W2 x + b2) + W3 (x * x) + b3`` with W2, W3 ~ N(0, 1e-5),
b2 = 1, b3 = 0, so it starts as the linear map ``W1 x + b1`` -- every scheme
initialises ``W1, b1`` exactly as it would a plain linear layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from sdfrecon.sdf import sine_init
from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.activations import Gaussian, Sine
from sdfrecon.sdf.networks import NETWORKS, NetworkConfig
from sdfrecon.sdf.vi3nr import Vi3nrOptions, Vi3nrPlan, vi3nr_fill_


@dataclass
class SineFamilyConfig(NetworkConfig):
    """Options shared by the SIREN-style and quadratic networks."""

    hidden_dim: int = 256
    """Width of every hidden layer."""
    num_layers: int = 5
    """Hidden layers (StEik's scripts: 5; DiGS' 'SIREN 4x256': 5 = first + 4)."""
    activation: Literal["sine", "softplus", "relu", "gaussian"] = "sine"
    """``sine`` is sin(30 z); softplus uses ``softplus_beta``; ``gaussian`` is
    exp(-z^2 / (2 gaussian_width^2))."""
    init: Literal["siren", "geometric_sine", "mfgi", "geometric", "vi3nr", "pytorch"] = "mfgi"
    """Initialisation scheme; ``geometric`` (SAL) is for softplus/relu; ``vi3nr``
    (variance-informed, options under ``vi3nr``) and ``pytorch`` (nn.Linear's default)
    suit every activation."""
    sphere_radius: float = 1.6
    """``geometric_sine``/``mfgi`` output map radius (StEik/DiGS: 1.6)."""
    sphere_scaling: float = 0.1
    """``geometric_sine``/``mfgi`` output map scaling (StEik/DiGS scripts: 0.1)."""
    mfgi_periods: tuple[float, float] = (1.0, 30.0)
    """MFGI first-layer periods (low, high)."""
    mfgi_low_portion: float = 0.25
    """Fraction of first-layer units at the low period."""
    softplus_beta: float = 100.0
    """Softplus sharpness when ``activation: softplus``."""
    init_radius: float = 0.6
    """Initial sphere radius of the ``geometric`` (SAL) scheme, unit frame."""
    gaussian_width: float = 0.05
    """``s`` of the Gaussian activation, in pre-activation units (VI3NR's experiments: 0.05)."""
    vi3nr: Vi3nrOptions = field(default_factory=Vi3nrOptions)
    """Options of ``init: vi3nr``."""

    def validate(self, path: str) -> None:
        if self.hidden_dim < 4:
            raise ConfigError(f"{path}.hidden_dim: must be >= 4, got {self.hidden_dim}")
        if self.init in ("geometric_sine", "mfgi") and self.num_layers < 2:
            raise ConfigError(f"{path}.num_layers: {self.init} needs >= 2 hidden layers")
        if self.init in ("geometric_sine", "mfgi", "siren") and self.activation != "sine":
            raise ConfigError(f"{path}.init: {self.init!r} is for activation 'sine'; use 'geometric' for "
                              f"{self.activation!r}")
        if self.init == "geometric" and self.activation == "sine":
            raise ConfigError(f"{path}.init: 'geometric' is for softplus/relu; use mfgi or geometric_sine")
        if self.init == "geometric" and self.activation == "gaussian":
            raise ConfigError(f"{path}.init: 'geometric' is for softplus/relu; use vi3nr or pytorch")
        if not self.gaussian_width > 0:
            raise ConfigError(f"{path}.gaussian_width: must be > 0, got {self.gaussian_width}")
        if not 0 < self.mfgi_low_portion < 1:
            raise ConfigError(f"{path}.mfgi_low_portion: must lie in (0, 1)")


@dataclass
class SirenConfig(SineFamilyConfig):
    """Linear layers (SIREN, DiGS)."""

    name: str = "siren"


@dataclass
class QuadraticNetConfig(SineFamilyConfig):
    """StEik's network of quadratic layers."""

    name: str = "quadratic"


class QuadraticLayer(nn.Module):
    """``(W1 x + b1) * (W2 x + b2) + W3 (x * x) + b3``; ``primary`` is ``lin1``."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.lin1 = nn.Linear(n_in, n_out)
        self.lin2 = nn.Linear(n_in, n_out)
        self.lin3 = nn.Linear(n_in, n_out)
        with torch.no_grad():
            nn.init.normal_(self.lin2.weight, 0.0, 1e-5)
            nn.init.ones_(self.lin2.bias)
            nn.init.normal_(self.lin3.weight, 0.0, 1e-5)
            nn.init.zeros_(self.lin3.bias)

    @property
    def primary(self) -> nn.Linear:
        return self.lin1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin1(x) * self.lin2(x) + self.lin3(x * x)


class LinearLayer(nn.Linear):
    """``nn.Linear`` exposing itself as ``primary`` (the map initialisers fill)."""

    @property
    def primary(self) -> nn.Linear:
        return self


class LayerStack(nn.Module):
    """Hidden layers with an activation after all but the last, plus an output map.

    Parameters
    ----------
    cfg : SineFamilyConfig
    layer : type
        ``LinearLayer`` or ``QuadraticLayer``.
    in_dim, out_dim : int
    """

    def __init__(self, cfg: SineFamilyConfig, layer: type, in_dim: int, out_dim: int):
        super().__init__()
        dims = [in_dim] + [cfg.hidden_dim] * cfg.num_layers + [out_dim]
        self.layers = nn.ModuleList(layer(a, b) for a, b in zip(dims[:-1], dims[1:]))
        if cfg.activation == "sine":
            self.activation: nn.Module = Sine()
        elif cfg.activation == "softplus":
            self.activation = nn.Softplus(beta=cfg.softplus_beta)
        elif cfg.activation == "gaussian":
            self.activation = Gaussian(cfg.gaussian_width)
        else:
            self.activation = nn.ReLU()
        self.sphere = (cfg.sphere_radius, cfg.sphere_scaling) if cfg.init in ("geometric_sine", "mfgi") else None
        initialise(self.layers, cfg, self.activation)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < last:
                h = self.activation(h)
        if self.sphere is not None:
            # Only the SDF channel goes through the sphere map; others stay raw.
            sdf = sine_init.sphere_output(h[:, :1], *self.sphere)
            h = torch.cat([sdf, h[:, 1:]], dim=1)
        return h


def initialise(layers: nn.ModuleList, cfg: SineFamilyConfig, activation: nn.Module | None = None) -> None:
    """Fill each layer's ``primary`` map according to ``cfg.init`` (``activation``
    is needed by ``vi3nr`` only)."""
    maps = [layer.primary for layer in layers]
    last = len(maps) - 1
    if cfg.init == "pytorch":
        return  # nn.Linear drew them when it was built
    if cfg.init == "vi3nr":
        if activation is None:
            raise ValueError("init 'vi3nr' needs the activation")
        plan = Vi3nrPlan.for_activation(activation, cfg.vi3nr)
        for i, lin in enumerate(maps):
            fan_in = lin.weight.shape[1]
            total = plan.first_layer_sum(fan_in) if i == 0 else plan.hidden_sum(fan_in)
            vi3nr_fill_(lin.weight, lin.bias, input_second_moment_sum=total, sigma_p=plan.sigma_p)
        return
    for i, lin in enumerate(maps):
        w, b = lin.weight, lin.bias
        if cfg.init == "siren":
            (sine_init.siren_first if i == 0 else sine_init.siren_hidden)(w, b)
        elif cfg.init == "geometric":
            _geometric_sal(w, b, is_last=i == last, radius=cfg.init_radius)
        else:
            if i == last:
                sine_init.geometric_sine_last(w, b)
            elif i == last - 1:
                sine_init.geometric_sine_second_last(w, b)
            elif cfg.init == "mfgi" and i == 0:
                low = cfg.mfgi_low_portion
                sine_init.mfgi_first(w, b, periods=cfg.mfgi_periods, portions=(low, 1.0 - low))
            elif cfg.init == "mfgi" and i == 1:
                sine_init.mfgi_second(w, b, low_portion=cfg.mfgi_low_portion)
            else:
                sine_init.geometric_sine_hidden(w, b)


@torch.no_grad()
def _geometric_sal(weight: torch.Tensor, bias: torch.Tensor, *, is_last: bool, radius: float) -> None:
    """SAL/IGR geometric init of one map (see :mod:`sdfrecon.sdf.networks`)."""
    if is_last:
        nn.init.normal_(weight, mean=math.sqrt(math.pi) / math.sqrt(weight.shape[1]), std=1e-4)
        nn.init.constant_(bias, -radius)
    else:
        nn.init.normal_(weight, 0.0, math.sqrt(2.0) / math.sqrt(weight.shape[0]))
        nn.init.zeros_(bias)


@NETWORKS.register("siren", config_cls=SirenConfig)
def build_siren(cfg: SirenConfig, *, in_dim: int, out_dim: int = 1) -> LayerStack:
    return LayerStack(cfg, LinearLayer, in_dim, out_dim)


@NETWORKS.register("quadratic", config_cls=QuadraticNetConfig)
def build_quadratic(cfg: QuadraticNetConfig, *, in_dim: int, out_dim: int = 1) -> LayerStack:
    return LayerStack(cfg, QuadraticLayer, in_dim, out_dim)
