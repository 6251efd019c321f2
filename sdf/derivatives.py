"""Spatial derivatives of scalar fields by automatic differentiation.

All functions take the per-point scalar ``y`` (N,) computed from ``x`` (N, 3)
with ``x.requires_grad``; each output row depends only on its own input row, so
one backward pass gives every point's gradient.
"""

from __future__ import annotations

import torch


def gradient(y: torch.Tensor, x: torch.Tensor, *, create_graph: bool = True) -> torch.Tensor:
    """Gradient of ``y`` (N,) with respect to ``x`` (N, 3), returned as (N, 3)."""
    (grad,) = torch.autograd.grad(y.sum(), x, create_graph=create_graph)
    return grad


def hessian_gradient_product(grad: torch.Tensor, x: torch.Tensor, *, create_graph: bool = True) -> torch.Tensor:
    """``H g`` for ``g = grad f``: one extra backward pass of ``|g|^2 / 2``.

    Parameters
    ----------
    grad : (N, 3) Tensor
        ``grad f`` built with ``create_graph=True``.
    x : (N, 3) Tensor
        The input it was taken with respect to.

    Returns
    -------
    (N, 3) Tensor
        The Hessian of ``f`` applied to its own gradient (H is symmetric, so
        ``d/dx (|g|^2/2) = H g``), without forming the 3x3 Hessian.
    """
    (hg,) = torch.autograd.grad(0.5 * grad.pow(2).sum(), x, create_graph=create_graph)
    return hg


def laplacian(grad: torch.Tensor, x: torch.Tensor, *, create_graph: bool = True) -> torch.Tensor:
    """Trace of the Hessian, ``sum_i d g_i / d x_i``, (N,); one backward pass per column of ``grad``.

    ``grad`` (N, k) may hold the first ``k`` columns of a gradient with respect to
    a wider input ``x`` (N, d >= k): for a space-time input ``(x, y, z, t)`` and the
    spatial gradient (k = 3) this is the spatial Laplacian, without ``f_tt``.
    """
    total = torch.zeros(len(x), dtype=grad.dtype, device=grad.device)
    for i in range(grad.shape[1]):
        (gi,) = torch.autograd.grad(grad[:, i].sum(), x, create_graph=create_graph)
        total = total + gi[:, i]
    return total
