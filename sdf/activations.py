"""Pointwise activations of the INR networks that :mod:`torch.nn` lacks.

Every module here is elementwise, smooth (so eikonal and second-derivative loss terms
can differentiate it twice) and carries its shape parameters as plain attributes, which
:mod:`sdfrecon.sdf.vi3nr` reads to compute the activation's moments in closed form.
"""

from __future__ import annotations

import torch
from torch import nn

from sdfrecon.sdf.sine_init import OMEGA as SINE_OMEGA


class Sine(nn.Module):
    """``sin(omega * z)``; ``omega`` = 30 as in SIREN, DiGS and StEik."""

    def __init__(self, omega: float = SINE_OMEGA):
        super().__init__()
        self.omega = float(omega)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega * z)


class Gaussian(nn.Module):
    """``exp(-z^2 / (2 width^2))`` (Gaussian INRs, Ramasinghe & Lucey 2022; VI3NR).

    Parameters
    ----------
    width : float
        ``s``, the standard deviation of the bump, in pre-activation units.
    """

    def __init__(self, width: float = 0.05):
        super().__init__()
        if width <= 0:
            raise ValueError(f"Gaussian width must be > 0, got {width}")
        self.width = float(width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * (z / self.width) ** 2)


class GatedTanh(nn.Module):
    """``(z + tanh(omega z)) * sigmoid(z)``: the hidden activation of the FKAN reference code.

    Near 0 it is about ``(1 + omega) z / 2`` (steep and linear); for large ``|z|`` it
    tends to ``z + 1`` on the right and to 0 on the left, like a shifted SiLU.
    """

    def __init__(self, omega: float = SINE_OMEGA):
        super().__init__()
        self.omega = float(omega)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z + torch.tanh(self.omega * z)) * torch.sigmoid(z)
