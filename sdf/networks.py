"""Coordinate networks: ``forward(h: (N, in_dim)) -> (N, out_dim)``.

Output channel 0 is the signed distance (negative inside, unit frame). Extra
channels (e.g. an occupancy logit) follow it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
from torch import nn

from sdfrecon.base.configtools import ComponentConfig
from sdfrecon.base.errors import ConfigError
from sdfrecon.base.registry import Registry
from sdfrecon.sdf.vi3nr import Vi3nrOptions, Vi3nrPlan, vi3nr_fill_

NETWORKS: Registry = Registry("network", providers="sdfrecon.sdf")


@dataclass
class NetworkConfig(ComponentConfig):
    """Base of network configs (chosen by ``name``)."""

    name: str = "mlp"
    registry: ClassVar[Registry] = NETWORKS


@dataclass
class GeometricMLPConfig(NetworkConfig):
    """Softplus/ReLU MLP with the geometric (SAL/IGR) initialisation."""

    name: str = "mlp"
    hidden_dim: int = 256
    """Width of every hidden layer."""
    num_layers: int = 4
    """Number of hidden layers."""
    activation: Literal["softplus", "relu"] = "softplus"
    """Hidden activation; softplus keeps second derivatives non-zero."""
    softplus_beta: float = 100.0
    """Sharpness of softplus (IGR uses 100)."""
    skip_layers: list[int] = field(default_factory=list)
    """Hidden layers whose input is concatenated with the encoded input (IGR: [4] of 8)."""
    geometric_init: bool = True
    """Start as the SDF of a sphere of radius ``init_radius`` (false: PyTorch's default
    draw); used when ``init`` is ``geometric``."""
    init_radius: float = 0.6
    """Radius of the initial sphere, unit frame."""
    init: Literal["geometric", "vi3nr"] = "geometric"
    """``geometric``: as ``geometric_init`` says; ``vi3nr``: variance-informed
    (:mod:`sdfrecon.sdf.vi3nr`; for ReLU it is He's init with the bias in the budget)."""
    vi3nr: Vi3nrOptions = field(default_factory=Vi3nrOptions)
    """Options of ``init: vi3nr``."""

    def validate(self, path: str) -> None:
        if self.hidden_dim < 1 or self.num_layers < 1:
            raise ConfigError(f"{path}: hidden_dim and num_layers must be >= 1")
        bad = [s for s in self.skip_layers if not 0 < s < self.num_layers]
        if bad:
            raise ConfigError(f"{path}.skip_layers: entries must lie in 1..{self.num_layers - 1}, got {bad}")


class GeometricMLP(nn.Module):
    """MLP SDF whose initial zero level set is a sphere (Atzmon & Lipman, SAL).

    Parameters
    ----------
    cfg : GeometricMLPConfig
    in_dim : int
        Encoded input width; its first 3 columns are ``xyz``.
    out_dim : int
        Output channels; channel 0 is the SDF.
    """

    def __init__(self, cfg: GeometricMLPConfig, in_dim: int, out_dim: int = 1):
        super().__init__()
        self.skip_layers = set(cfg.skip_layers)
        self.in_dim = in_dim
        h = cfg.hidden_dim
        layers = []
        for i in range(cfg.num_layers + 1):
            width_in = in_dim if i == 0 else h
            if i in self.skip_layers:
                width_in = h + in_dim
            width_out = out_dim if i == cfg.num_layers else h
            layers.append(nn.Linear(width_in, width_out))
        self.layers = nn.ModuleList(layers)
        if cfg.activation == "softplus":
            self.activation: nn.Module = nn.Softplus(beta=cfg.softplus_beta)
        else:
            self.activation = nn.ReLU()
        if cfg.init == "vi3nr":
            self._vi3nr_init(cfg.vi3nr, in_dim, h)
        elif cfg.geometric_init:
            self._geometric_init(cfg.init_radius)

    def _vi3nr_init(self, options: Vi3nrOptions, in_dim: int, hidden: int) -> None:
        plan = Vi3nrPlan.for_activation(self.activation, options)
        for i, layer in enumerate(self.layers):
            if i == 0:
                total = plan.first_layer_sum(in_dim)
            elif i in self.skip_layers:  # cat([h, inputs]) / sqrt(2)
                total = (plan.hidden_sum(hidden) + plan.first_layer_sum(in_dim)) / 2.0
            else:
                total = plan.hidden_sum(layer.weight.shape[1])
            vi3nr_fill_(layer.weight, layer.bias, input_second_moment_sum=total, sigma_p=plan.sigma_p)

    @torch.no_grad()
    def _geometric_init(self, radius: float) -> None:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            fan_out = layer.weight.shape[0]
            if i == last:
                nn.init.normal_(layer.weight, mean=math.sqrt(math.pi) / math.sqrt(layer.weight.shape[1]), std=1e-4)
                nn.init.constant_(layer.bias, -radius)
                if fan_out > 1:  # channel 1 is an occupancy logit (positive inside): start as -SDF
                    layer.weight[1].neg_()
                    layer.bias[1].neg_()
                continue
            nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0) / math.sqrt(fan_out))
            nn.init.zeros_(layer.bias)
            # Encoded features other than xyz start switched off, so the
            # initial field is the same sphere whatever the encoding.
            if i == 0:
                layer.weight[:, 3:] = 0.0
            elif i in self.skip_layers and self.in_dim > 3:
                layer.weight[:, -(self.in_dim - 3) :] = 0.0

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        inputs = h
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if i in self.skip_layers:
                h = torch.cat([h, inputs], dim=1) / math.sqrt(2.0)
            h = layer(h)
            if i < last:
                h = self.activation(h)
        return h


@NETWORKS.register("mlp", config_cls=GeometricMLPConfig)
def build_geometric_mlp(cfg: GeometricMLPConfig, *, in_dim: int, out_dim: int = 1) -> GeometricMLP:
    return GeometricMLP(cfg, in_dim, out_dim)
