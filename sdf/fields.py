"""A neural field: an encoding followed by a network.

``NeuralField(x: (N, 3)) -> (N, C)`` in the unit frame; channel 0 is the signed
distance (negative inside), see :mod:`sdf`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from sdfrecon.sdf.encodings import ENCODINGS, EncodingConfig, IdentityEncodingConfig
from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.networks import NETWORKS, GeometricMLPConfig, NetworkConfig


@dataclass
class FieldConfig:
    """Which encoding and network make up the field."""

    encoding: EncodingConfig = field(default_factory=IdentityEncodingConfig)
    """Input encoding (``name: none | fourier | ...``)."""
    network: NetworkConfig = field(default_factory=GeometricMLPConfig)
    """Network on the encoded input (``name: mlp | ...``)."""
    outputs: int = 1
    """Output channels: channel 0 is the SDF; channel 1, when present, is an
    occupancy logit (positive inside) for occupancy / Occ-SDF hybrid training."""
    surface: Literal["sdf", "occupancy"] = "sdf"
    """Which output is meshed: ``sdf`` (zero set of channel 0) or ``occupancy``
    (zero set of the channel-1 logit, i.e. probability 0.5)."""

    def validate(self, path: str) -> None:
        if self.outputs < 1:
            raise ConfigError(f"{path}.outputs: must be >= 1, got {self.outputs}")
        if self.surface == "occupancy" and self.outputs < 2:
            raise ConfigError(f"{path}.surface: 'occupancy' needs outputs >= 2 (channel 1 is the logit)")


class NeuralField(nn.Module):
    """Encoding + network; ``forward(x: (N, 3)) -> (N, outputs)``."""

    def __init__(self, encoding: nn.Module, network: nn.Module, surface: str = "sdf"):
        super().__init__()
        self.encoding = encoding
        self.network = network
        self.surface = surface

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(self.encoding(x))

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        """Signed distance (channel 0), (N,)."""
        return self.forward(x)[:, 0]

    def surface_value(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) values whose zero set is the surface, negative inside: the SDF, or
        the negated occupancy logit when ``surface == "occupancy"``."""
        out = self.forward(x)
        return -out[:, 1] if self.surface == "occupancy" else out[:, 0]


def build_field(cfg: FieldConfig, *, device: torch.device | str = "cpu", seed: int = 0) -> NeuralField:
    """Construct the field described by ``cfg`` (float32, on the CPU unless a backend
    needs ``device``); call ``.to(device)`` on the result."""
    encoding = ENCODINGS.build(cfg.encoding, device=torch.device(device), seed=seed)
    network = NETWORKS.build(cfg.network, in_dim=encoding.out_dim, out_dim=cfg.outputs)
    return NeuralField(encoding, network, surface=cfg.surface)
