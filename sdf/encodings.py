"""Input encodings: map unit-frame positions (N, 3) to network inputs (N, D).

Convention: every encoding's output starts with the raw ``xyz`` columns, then its
features. Builders take keyword ``device`` (where training will run: a backend may
depend on it) and ``seed`` (for their own parameter initialisation). Geometric initialisations rely on it: they start the network as a
sphere SDF of ``xyz`` and zero the weights of the extra features, so training
starts from the same shape whatever the encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import nn

from sdfrecon.base.configtools import ComponentConfig
from sdfrecon.base.errors import ConfigError
from sdfrecon.base.registry import Registry

ENCODINGS: Registry = Registry("encoding", providers="sdfrecon.sdf")


@dataclass
class EncodingConfig(ComponentConfig):
    """Base of encoding configs (chosen by ``name``)."""

    name: str = "none"
    registry: ClassVar[Registry] = ENCODINGS

    @property
    def uses_spacing(self) -> bool:
        """Whether :meth:`fitted_to_spacing` can change this config (else the caller need
        not measure the input's spacing at all)."""
        return False

    def fitted_to_spacing(self, spacing: float) -> "EncodingConfig":
        """This config for input points ``spacing`` apart (unit frame: the median distance
        to the 8th nearest point). Encodings that do not depend on it return themselves."""
        return self


@dataclass
class IdentityEncodingConfig(EncodingConfig):
    """No encoding: the network sees ``xyz``."""

    name: str = "none"


class IdentityEncoding(nn.Module):
    """Passes ``xyz`` through; ``out_dim`` = 3."""

    out_dim = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@ENCODINGS.register("none", config_cls=IdentityEncodingConfig)
def build_identity(cfg: IdentityEncodingConfig, *, device: torch.device | None = None, seed: int = 0) -> IdentityEncoding:
    return IdentityEncoding()


@dataclass
class FourierEncodingConfig(EncodingConfig):
    """NeRF-style positional encoding ``[x, sin(2^k pi x), cos(2^k pi x)]``."""

    name: str = "fourier"
    num_frequencies: int = 6
    """Octaves k = 0 .. num_frequencies-1."""
    anneal_until: float = 0.0
    """Fraction of training by which all octaves are switched on, low ones first
    (coarse-to-fine; Nerfies' windowed encoding). 0 = all on from the start."""
    min_period: float = 0.0
    """Leave out the octaves whose period (``2 / 2^k`` in the unit frame) is shorter than
    this many point spacings of the input (the median distance to the 8th nearest point).
    Samples that far apart cannot pin down such detail, and the field fills it with lumps
    between them; dense scans keep every octave. 0 keeps all."""

    @property
    def uses_spacing(self) -> bool:
        return self.min_period > 0

    def validate(self, path: str) -> None:
        if self.num_frequencies < 0:
            raise ConfigError(f"{path}.num_frequencies: must be >= 0, got {self.num_frequencies}")
        if not 0.0 <= self.anneal_until <= 1.0:
            raise ConfigError(f"{path}.anneal_until: must lie in [0, 1] (a fraction of training), "
                              f"got {self.anneal_until}")
        if not self.min_period >= 0:
            raise ConfigError(f"{path}.min_period: must be >= 0 point spacings (0 keeps every octave), "
                              f"got {self.min_period}")

    def fitted_to_spacing(self, spacing: float) -> "FourierEncodingConfig":
        if self.min_period <= 0 or not spacing > 0:
            return self
        periods = 2.0 / 2.0 ** torch.arange(self.num_frequencies, dtype=torch.float64)
        keep = max(1, int((periods >= self.min_period * spacing).sum()))
        return replace(self, num_frequencies=min(keep, self.num_frequencies))


class FourierEncoding(nn.Module):
    """``(N, 3) -> (N, 3 + 6 * num_frequencies)``.

    With annealing, octave k is faded in by the window
    ``(1 - cos(pi * clamp(a - k, 0, 1))) / 2`` where ``a`` grows linearly from 0
    to ``num_frequencies`` over the first ``anneal_until`` of training. Shapes
    then settle their topology at low frequency before detail is added -- without
    it a torus can keep a membrane across its hole.
    """

    def __init__(self, num_frequencies: int, anneal_until: float = 0.0):
        super().__init__()
        self.register_buffer("freqs", torch.pi * 2.0 ** torch.arange(num_frequencies, dtype=torch.float32))
        self.register_buffer("window", torch.ones(num_frequencies))
        self.anneal_until = anneal_until
        self.out_dim = 3 + 6 * num_frequencies

    def set_training_progress(self, fraction: float) -> None:
        """Update the octave window for the fraction of training done (1 = all on)."""
        if self.anneal_until <= 0:
            return
        a = len(self.freqs) * min(fraction / self.anneal_until, 1.0)
        k = torch.arange(len(self.freqs), dtype=torch.float32, device=self.window.device)
        self.window.copy_((1.0 - torch.cos(torch.pi * (a - k).clamp(0.0, 1.0))) / 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_waves(x)[0]

    def features_and_waves(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The encoding (N, 3 + 6K) and the unweighted ``sin(f_k x_d)``, ``cos(f_k x_d)``
        (N, K, 3) it is made of, which the explicit input gradient reuses
        (:mod:`sdfrecon.sdf.analytic_gradient`)."""
        scaled = x[:, None, :] * self.freqs[None, :, None]  # (N, K, 3)
        w = self.window[None, :, None]
        sin, cos = torch.sin(scaled), torch.cos(scaled)
        features = torch.cat([x, (sin * w).reshape(len(x), -1), (cos * w).reshape(len(x), -1)], dim=1)
        return features, sin, cos


@ENCODINGS.register("fourier", config_cls=FourierEncodingConfig)
def build_fourier(cfg: FourierEncodingConfig, *, device: torch.device | None = None, seed: int = 0) -> FourierEncoding:
    return FourierEncoding(cfg.num_frequencies, cfg.anneal_until)
