"""Initialisations of SIREN-family networks (SIREN, DiGS, StEik), as pure functions.

Each function fills the ``weight`` (out, in) and ``bias`` (out,) of the linear map
that feeds a layer's activation -- an ``nn.Linear``, or ``lin1`` of a quadratic
layer -- in place, with draws from ``generator``. Activations are
``sin(omega * z)`` with ``omega = 30``; the divisions by ``omega`` below undo that
factor so the pre-activation statistics are the published ones.

* ``siren``: Sitzmann et al. 2020 (first layer U(+-1/in), others
  U(+-sqrt(6/in)/omega)).
* ``geometric_sine``: DiGS' sine version of the geometric initialisation: the
  network starts as (approximately) the SDF of a sphere after the output map
  :func:`sphere_output`.
* ``mfgi``: DiGS' multi-frequency geometric initialisation: like
  ``geometric_sine`` but the first layer mixes low (period 1) and high (period 30)
  frequencies, 25 % / 75 % of its units, and the second layer mostly passes the
  low-frequency units on, so high frequencies are available without noise.

The second-layer MFGI draw is asymmetric, U(-sqrt(3/n), sqrt(3/n)/30) * 5e-4, as
in the reference code; we keep it (see METHODS.md).
"""

from __future__ import annotations

import math

import torch

OMEGA = 30.0
"""Frequency factor of the sine activation ``sin(OMEGA * z)``."""


def _uniform(t: torch.Tensor, low: float, high: float, generator: torch.Generator | None) -> None:
    t.uniform_(low, high, generator=generator)


@torch.no_grad()
def siren_first(weight: torch.Tensor, bias: torch.Tensor, generator: torch.Generator | None = None) -> None:
    """SIREN first layer: W ~ U(+-1/in); bias left as PyTorch's default."""
    n_in = weight.shape[1]
    _uniform(weight, -1.0 / n_in, 1.0 / n_in, generator)


@torch.no_grad()
def siren_hidden(weight: torch.Tensor, bias: torch.Tensor, generator: torch.Generator | None = None) -> None:
    """SIREN hidden/last layer: W ~ U(+-sqrt(6/in)/omega)."""
    bound = math.sqrt(6.0 / weight.shape[1]) / OMEGA
    _uniform(weight, -bound, bound, generator)


@torch.no_grad()
def geometric_sine_hidden(weight: torch.Tensor, bias: torch.Tensor, generator: torch.Generator | None = None) -> None:
    """W ~ U(+-sqrt(3/out))/omega, b ~ U(+-1/(1000 out))/omega (also the first layer)."""
    n_out = weight.shape[0]
    bound = math.sqrt(3.0 / n_out)
    _uniform(weight, -bound, bound, generator)
    _uniform(bias, -1.0 / (1000.0 * n_out), 1.0 / (1000.0 * n_out), generator)
    weight /= OMEGA
    bias /= OMEGA


@torch.no_grad()
def geometric_sine_second_last(weight: torch.Tensor, bias: torch.Tensor, generator: torch.Generator | None = None) -> None:
    """Square layer before the output: W = (pi/2 I + 1e-3 N)/omega, b = (pi/2 + 1e-3 N)/omega."""
    n = weight.shape[0]
    if weight.shape != (n, n):
        raise ValueError(f"geometric_sine needs a square second-to-last layer, got {tuple(weight.shape)}")
    noise_w = torch.randn(n, n, generator=generator, dtype=weight.dtype, device=weight.device)
    noise_b = torch.randn(n, generator=generator, dtype=bias.dtype, device=bias.device)
    weight.copy_((0.5 * math.pi * torch.eye(n, dtype=weight.dtype, device=weight.device) + 1e-3 * noise_w) / OMEGA)
    bias.copy_((0.5 * math.pi + 1e-3 * noise_b) / OMEGA)


@torch.no_grad()
def geometric_sine_last(weight: torch.Tensor, bias: torch.Tensor, generator: torch.Generator | None = None) -> None:
    """Output layer: W = -1 + 1e-5 N, b = in (channel 0; extra channels keep small weights)."""
    n_in = weight.shape[1]
    noise = torch.randn(weight.shape, generator=generator, dtype=weight.dtype, device=weight.device)
    weight.copy_(-1.0 + 1e-5 * noise)
    bias.fill_(float(n_in))


@torch.no_grad()
def mfgi_first(
    weight: torch.Tensor,
    bias: torch.Tensor,
    generator: torch.Generator | None = None,
    periods: tuple[float, ...] = (1.0, 30.0),
    portions: tuple[float, ...] = (0.25, 0.75),
) -> None:
    """First layer: unit groups oscillating with the given ``periods`` over [-1, 1];
    W ~ U(+-sqrt(3/in) * period/omega) per group; bias as :func:`geometric_sine_hidden`."""
    geometric_sine_hidden(weight, bias, generator)
    n_out, n_in = weight.shape
    counts = [int(p * n_out) for p in portions]
    counts[-1] = n_out - sum(counts[:-1])
    start = 0
    for period, count in zip(periods, counts):
        bound = math.sqrt(3.0 / n_in) / (OMEGA / period)
        _uniform(weight[start : start + count], -bound, bound, generator)
        start += count


@torch.no_grad()
def mfgi_second(
    weight: torch.Tensor,
    bias: torch.Tensor,
    generator: torch.Generator | None = None,
    low_portion: float = 0.25,
) -> None:
    """Second layer: tiny weights everywhere except a block passing the low-frequency
    units through (U(+-sqrt(3/n)/omega)); bias as :func:`geometric_sine_hidden`."""
    geometric_sine_hidden(weight, bias, generator)
    n = weight.shape[1]
    if weight.shape[0] != n:
        raise ValueError(f"mfgi needs a square second layer, got {tuple(weight.shape)}")
    bound = math.sqrt(3.0 / n)
    _uniform(weight, -bound, bound / OMEGA, generator)  # asymmetric, as in the reference code
    weight *= 5e-4
    k = int(low_portion * n)
    inner = math.sqrt(3.0 / n) / OMEGA
    _uniform(weight[:k, :k], -inner, inner, generator)


def sphere_output(raw: torch.Tensor, radius: float, scaling: float) -> torch.Tensor:
    """DiGS/StEik output map for geometric sine inits: ``(sign(z) sqrt(|z|) - radius) * scaling``.

    The initialised network's raw output grows like the squared distance from the
    origin; the square root turns it into a distance, so the field starts as the
    SDF of a sphere (scaled by ``scaling``).
    """
    return (torch.sign(raw) * torch.sqrt(raw.abs() + 1e-8) - radius) * scaling
