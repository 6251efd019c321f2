"""A neural field: an encoding followed by a network.

``NeuralField(x: (N, 3)) -> (N, C)`` in the unit frame; channel 0 is the signed
distance (negative inside), see :mod:`sdf`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from sdf.encodings import ENCODINGS, EncodingConfig, IdentityEncodingConfig
from sdf.networks import NETWORKS, GeometricMLPConfig, NetworkConfig


@dataclass
class FieldConfig:
    """Which encoding and network make up the field."""

    encoding: EncodingConfig = field(default_factory=IdentityEncodingConfig)
    """Input encoding (``name: none | fourier | ...``)."""
    network: NetworkConfig = field(default_factory=GeometricMLPConfig)
    """Network on the encoded input (``name: mlp | ...``)."""
    outputs: int = 1
    """Output channels: 1 = SDF; extra channels serve hybrid heads."""


class NeuralField(nn.Module):
    """Encoding + network; ``forward(x: (N, 3)) -> (N, outputs)``."""

    def __init__(self, encoding: nn.Module, network: nn.Module):
        super().__init__()
        self.encoding = encoding
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(self.encoding(x))

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        """Signed distance only, (N,)."""
        return self.forward(x)[:, 0]


def build_field(cfg: FieldConfig) -> NeuralField:
    """Construct the field described by ``cfg`` (on the CPU, float32)."""
    encoding = ENCODINGS.build(cfg.encoding)
    network = NETWORKS.build(cfg.network, in_dim=encoding.out_dim, out_dim=cfg.outputs)
    return NeuralField(encoding, network)
