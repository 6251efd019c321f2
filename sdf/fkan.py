"""FKAN: a Fourier Kolmogorov-Arnold layer followed by an ordinary MLP.

Mehrabian, Mojarad Adi, Heidari & Hacihaliloglu, "Implicit Neural Representations with
Fourier Kolmogorov-Arnold Networks", ICASSP 2025 (arXiv 2409.09323).

The first layer has no fixed activation: every (output j, input i) pair owns a
learnable function of one variable, a truncated Fourier series,

    phi_ji(t) = sum_{k=1..K} A_jik cos(k t) + B_jik sin(k t),
    y_j      = b_j + sum_i phi_ji(x_i),

so training chooses how much of each frequency ``k`` (``harmonics`` = K, the paper's
"grid size") every input feeds to every unit. Then, as in the reference code, a
LayerNorm and an MLP: ``[Linear -> activation] x num_layers -> Linear``, by default
with the reference's gate ``(z + tanh(30 z)) sigmoid(z)`` and SIREN's uniform init.

Computationally the Fourier layer is a linear map on the features
``[cos(k x_i), sin(k x_i)]``, evaluated as one matrix product; everything is plain
autograd, so gradients and Hessian-vector products (eikonal, StEik, DiGS terms) work.
``train.gradient: analytic`` does not support this network (``auto`` falls back to autograd).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.activations import GatedTanh, Sine
from sdfrecon.sdf.networks import NETWORKS, NetworkConfig
from sdfrecon.sdf.vi3nr import Vi3nrOptions, Vi3nrPlan, vi3nr_fill_


@dataclass
class FkanConfig(NetworkConfig):
    """Fourier-KAN first layer, then an MLP."""

    name: str = "fkan"
    harmonics: int = 16
    """K: frequencies 1..K (radians per unit-frame unit) of each learnable Fourier series."""
    hidden_dim: int = 128
    """Width of the Fourier layer's output and of the MLP."""
    num_layers: int = 3
    """Hidden MLP layers (Linear + activation) after the Fourier layer."""
    activation: Literal["gated_tanh", "sine", "softplus"] = "gated_tanh"
    """MLP activation: the reference code's ``(z + tanh(30 z)) sigmoid(z)``, ``sin(30 z)``,
    or softplus (``softplus_beta``)."""
    init: Literal["siren", "vi3nr"] = "siren"
    """MLP init: SIREN's ``U(+-sqrt(6/in)/30)`` (the reference code's, for gated_tanh and
    sine), or variance-informed (any activation; options under ``vi3nr``)."""
    layer_norm: bool = True
    """LayerNorm after the Fourier layer (the reference code has it)."""
    smooth_init: bool = False
    """Draw harmonic k's coefficients with std ``1/(sqrt(in) k^2)`` (smooth initial
    functions) instead of ``1/sqrt(in K)`` (unit output variance, every k alike)."""
    softplus_beta: float = 100.0
    """Softplus sharpness when ``activation: softplus``."""
    vi3nr: Vi3nrOptions = field(default_factory=Vi3nrOptions)
    """Options of ``init: vi3nr``."""
    center_output: bool = True
    """Start the output bias at minus the mean initial output over inputs uniform in
    [-1, 1] (ours, not the paper's): the initial field is nearly flat, and centring it
    puts its zero level set inside the unit box, so even a short run has a surface."""

    def validate(self, path: str) -> None:
        if self.harmonics < 1:
            raise ConfigError(f"{path}.harmonics: must be >= 1, got {self.harmonics}")
        if self.hidden_dim < 1 or self.num_layers < 0:
            raise ConfigError(f"{path}: hidden_dim must be >= 1 and num_layers >= 0")
        if self.init == "siren" and self.activation == "softplus":
            raise ConfigError(f"{path}.init: 'siren' is for gated_tanh/sine; use vi3nr with softplus")


class FourierKANLayer(nn.Module):
    """``y_j = b_j + sum_i sum_{k=1..K} A_jik cos(k x_i) + B_jik sin(k x_i)``.

    Parameters
    ----------
    in_dim, out_dim : int
    harmonics : int
        K.
    smooth_init : bool
        Coefficient std ``1/(sqrt(in) k^2)`` instead of ``1/sqrt(in K)``.

    Notes
    -----
    ``2 K in_dim out_dim + out_dim`` parameters: ``cos_coeffs`` and ``sin_coeffs``
    (out, in, K) and ``bias`` (out,), initialised to 0. With the default init and
    inputs spread over several periods each output has unit variance.
    """

    def __init__(self, in_dim: int, out_dim: int, harmonics: int, *, smooth_init: bool = False):
        super().__init__()
        self.in_dim, self.out_dim, self.harmonics = in_dim, out_dim, harmonics
        self.register_buffer("frequencies", torch.arange(1, harmonics + 1, dtype=torch.float32))
        k = self.frequencies
        scale = 1.0 / (math.sqrt(in_dim) * k * k) if smooth_init else torch.full_like(k, 1.0 / math.sqrt(in_dim * harmonics))
        self.cos_coeffs = nn.Parameter(torch.randn(out_dim, in_dim, harmonics) * scale)
        self.sin_coeffs = nn.Parameter(torch.randn(out_dim, in_dim, harmonics) * scale)
        self.bias = nn.Parameter(torch.zeros(out_dim))

    @staticmethod
    def parameter_count(in_dim: int, out_dim: int, harmonics: int) -> int:
        """Number of learnable values of a layer of this shape."""
        return 2 * harmonics * in_dim * out_dim + out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, in) -> (N, out)
        phase = x[:, :, None] * self.frequencies.to(x.dtype)  # (N, in, K)
        features = torch.cat([torch.cos(phase), torch.sin(phase)], dim=2).reshape(len(x), -1)
        weight = torch.cat([self.cos_coeffs, self.sin_coeffs], dim=2).reshape(self.out_dim, -1)
        return nn.functional.linear(features, weight, self.bias)


class FKAN(nn.Module):
    """Fourier-KAN layer (+ LayerNorm) then an MLP; ``(N, in_dim) -> (N, out_dim)``.

    Parameters
    ----------
    cfg : FkanConfig
    in_dim : int
        Encoded input width (3 without an encoding).
    out_dim : int
        Output channels; channel 0 is the SDF.
    """

    def __init__(self, cfg: FkanConfig, in_dim: int, out_dim: int = 1):
        super().__init__()
        h = cfg.hidden_dim
        self.fourier = FourierKANLayer(in_dim, h, cfg.harmonics, smooth_init=cfg.smooth_init)
        self.norm: nn.Module = nn.LayerNorm(h) if cfg.layer_norm else nn.Identity()
        dims = [h] * (cfg.num_layers + 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        if cfg.activation == "gated_tanh":
            self.activation: nn.Module = GatedTanh()
        elif cfg.activation == "sine":
            self.activation = Sine()
        else:
            self.activation = nn.Softplus(beta=cfg.softplus_beta)
        self._init_mlp(cfg)
        if cfg.center_output:
            self._center_output(in_dim)

    @torch.no_grad()
    def _center_output(self, in_dim: int) -> None:
        # A private generator: the global one (which drew the weights) is left as it was.
        sample = torch.rand(4096, in_dim, generator=torch.Generator().manual_seed(0)) * 2 - 1
        self.layers[-1].bias -= self.forward(sample).mean(dim=0)

    @torch.no_grad()
    def _init_mlp(self, cfg: FkanConfig) -> None:
        if cfg.init == "siren":
            omega = self.activation.omega
            for layer in self.layers:
                bound = math.sqrt(6.0 / layer.weight.shape[1]) / omega
                layer.weight.uniform_(-bound, bound)  # bias: nn.Linear's default, as the reference code
            return
        plan = Vi3nrPlan.for_activation(self.activation, cfg.vi3nr)
        for i, layer in enumerate(self.layers):
            fan_in = layer.weight.shape[1]
            # After the LayerNorm (or the unit-variance Fourier layer) each input has E[x^2] = 1.
            total = float(fan_in) if i == 0 else plan.hidden_sum(fan_in)
            vi3nr_fill_(layer.weight, layer.bias, input_second_moment_sum=total, sigma_p=plan.sigma_p)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.fourier(h))
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < last:
                h = self.activation(h)
        return h


@NETWORKS.register("fkan", config_cls=FkanConfig)
def build_fkan(cfg: FkanConfig, *, in_dim: int, out_dim: int = 1) -> FKAN:
    return FKAN(cfg, in_dim, out_dim)
