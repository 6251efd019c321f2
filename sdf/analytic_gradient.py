"""A field's value and input gradient in one forward pass (forward-mode tangents).

For eikonal and normal losses the trainer needs ``grad_x f`` as a differentiable
function of the parameters. Autograd gets it by a backward pass with
``create_graph`` and then differentiates that backward pass again (double
backward), which is costly for table lookups such as hash grids. Here each
module instead carries the tangents ``d h / d x_k`` (N, 3, D) -- one row per input
axis -- forward alongside its output, so the loss needs only ordinary first-order
backpropagation, linear layers stay single matrix products, and the whole
computation can be handed to ``torch.compile``.

Supported: encodings ``none``, ``fourier`` and ``hashgrid`` (PyTorch backend)
followed by the ``mlp`` network. :func:`supports_analytic_gradient` says whether
a field qualifies; otherwise the trainer uses autograd.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sdfrecon.sdf.encodings import FourierEncoding, IdentityEncoding
from sdfrecon.sdf.fields import NeuralField
from sdfrecon.sdf.hashgrid import HashGridEncoding, TorchHashGrid
from sdfrecon.sdf.networks import GeometricMLP


def _identity(enc: IdentityEncoding, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x, torch.eye(3, dtype=x.dtype, device=x.device).expand(len(x), 3, 3)


def _fourier(enc: FourierEncoding, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(x)
    scaled = x[:, None, :] * enc.freqs[None, :, None]  # (N, K, 3)
    w = enc.window[None, :, None]
    sin, cos = torch.sin(scaled) * w, torch.cos(scaled) * w
    eye = torch.eye(3, dtype=x.dtype, device=x.device)
    # d sin(f x_d) / d x_k = f cos(f x_d) [d == k]: tangent k keeps only the d == k entries.
    dsin = (cos * enc.freqs[None, :, None])[:, None] * eye[None, :, None, :]  # (N, 3, K, 3)
    dcos = (-sin * enc.freqs[None, :, None])[:, None] * eye[None, :, None, :]
    h = torch.cat([x, sin.reshape(n, -1), cos.reshape(n, -1)], dim=1)
    dh = torch.cat([eye.expand(n, 3, 3), dsin.reshape(n, 3, -1), dcos.reshape(n, 3, -1)], dim=2)
    return h, dh


def _hashgrid(enc: HashGridEncoding, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return enc.forward_with_tangents(x)


ENCODING_TANGENTS = {IdentityEncoding: _identity, FourierEncoding: _fourier, HashGridEncoding: _hashgrid}


def mlp_with_tangents(net: GeometricMLP, h: torch.Tensor, dh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Output (N, C) and its tangents (N, 3, C) of a :class:`GeometricMLP` given the
    encoded input ``h`` (N, D) and ``dh = d h / d x_k`` (N, 3, D)."""
    inputs, dinputs = h, dh
    last = len(net.layers) - 1
    softplus = isinstance(net.activation, nn.Softplus)
    beta = net.activation.beta if softplus else 1.0
    for i, layer in enumerate(net.layers):
        if i in net.skip_layers:
            h = torch.cat([h, inputs], dim=1) / math.sqrt(2.0)
            dh = torch.cat([dh, dinputs], dim=2) / math.sqrt(2.0)
        z = layer(h)
        dz = dh @ layer.weight.T  # (N, 3, out): one matrix product for all three tangents
        if i < last:
            if softplus:
                h, slope = nn.functional.softplus(z, beta=beta), torch.sigmoid(beta * z)
            else:
                h, slope = torch.relu(z), (z > 0).to(z.dtype)
            dh = slope[:, None, :] * dz
        else:
            h, dh = z, dz
    return h, dh


def supports_analytic_gradient(field: nn.Module) -> bool:
    """Whether :func:`field_with_gradient` can handle ``field``."""
    if not isinstance(field, NeuralField) or not isinstance(field.network, GeometricMLP):
        return False
    enc = field.encoding
    if isinstance(enc, HashGridEncoding):
        return isinstance(enc.grid, TorchHashGrid)
    return type(enc) in ENCODING_TANGENTS


def field_with_gradient(field: NeuralField, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs (N, C) and the gradient of channel 0 w.r.t. ``x``, (N, 3).

    Both are differentiable w.r.t. the parameters (and w.r.t. ``x``, so
    Hessian-based terms can still differentiate the gradient with autograd).
    """
    h, dh = ENCODING_TANGENTS[type(field.encoding)](field.encoding, x)
    out, dout = mlp_with_tangents(field.network, h, dh)
    return out, dout[:, :, 0]
