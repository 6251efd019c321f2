"""Evaluate a field once per training step and serve what loss terms ask for.

All sample groups go through the network in one batched call. Gradients and
Hessian-gradient products are computed on first request, for all points in one
backward pass, and cached -- so a term that is switched off (weight 0 at this
step) costs nothing, and two terms that need gradients share them.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from sdfrecon.datasets.sampling import SampleBatch
from sdfrecon.sdf.derivatives import gradient, hessian_gradient_product, laplacian


class FieldProbe:
    """One step's field outputs and their derivatives, by sample group.

    Parameters
    ----------
    field : callable
        ``(N, 3) -> (N, C)`` network; channel 0 is the SDF.
    batch : SampleBatch
        This step's samples.
    differentiable_inputs : bool
        Track gradients with respect to the inputs (needed by any autograd derivative).
    with_gradient : callable, optional
        ``x -> (outputs, grad of channel 0)`` computed together, differentiable in
        the parameters; when given, :meth:`gradient` uses it instead of autograd.
    """

    def __init__(
        self,
        field: torch.nn.Module,
        batch: SampleBatch,
        *,
        differentiable_inputs: bool,
        with_gradient: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
    ):
        self.batch = batch
        names = list(batch.points)
        self._spans: dict[str, slice] = {}
        start = 0
        for name in names:
            n = len(batch.points[name])
            self._spans[name] = slice(start, start + n)
            start += n
        x = torch.cat([batch.points[n] for n in names], dim=0)
        if differentiable_inputs:
            x = x.detach().requires_grad_(True)
        self.x = x
        self._grad: torch.Tensor | None = None
        if with_gradient is not None:
            # Outputs and grad f in one forward pass (see sdfrecon.sdf.analytic_gradient).
            self.outputs, self._grad = with_gradient(x)
        else:
            self.outputs = field(x)
        self._hg: torch.Tensor | None = None
        self._lap: torch.Tensor | None = None
        self._channel_grads: dict[int, torch.Tensor] = {}

    def has(self, group: str) -> bool:
        return group in self._spans and self._spans[group].stop > self._spans[group].start

    def rows(self, tensor: torch.Tensor, groups: Sequence[str]) -> torch.Tensor:
        """The rows of a per-point ``tensor`` (N, ...) that belong to ``groups``, in group order."""
        return self._rows(tensor, groups)

    def _rows(self, tensor: torch.Tensor, groups: Sequence[str]) -> torch.Tensor:
        parts = [tensor[self._spans[g]] for g in groups if g in self._spans]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)

    def sdf(self, groups: Sequence[str]) -> torch.Tensor:
        """Signed distance at the points of ``groups``, (n,)."""
        return self._rows(self.outputs[:, 0], groups)

    def channel(self, index: int, groups: Sequence[str]) -> torch.Tensor:
        """Output channel ``index`` at the points of ``groups``, (n,)."""
        return self._rows(self.outputs[:, index], groups)

    def all_gradients(self) -> torch.Tensor:
        """``grad f`` for every point, (N, 3), differentiable."""
        if self._grad is None:
            self._grad = gradient(self.outputs[:, 0], self.x)
        return self._grad

    def gradient(self, groups: Sequence[str]) -> torch.Tensor:
        """``grad f`` at the points of ``groups``, (n, 3)."""
        return self._rows(self.all_gradients(), groups)

    def channel_gradient(self, index: int, groups: Sequence[str]) -> torch.Tensor:
        """Gradient of output channel ``index`` at the points of ``groups``, (n, 3); cached per channel."""
        if index == 0:
            return self.gradient(groups)
        if index not in self._channel_grads:
            self._channel_grads[index] = gradient(self.outputs[:, index], self.x)
        return self._rows(self._channel_grads[index], groups)

    def hessian_gradient(self, groups: Sequence[str]) -> torch.Tensor:
        """``H grad f`` at the points of ``groups``, (n, 3)."""
        if self._hg is None:
            self._hg = hessian_gradient_product(self.all_gradients(), self.x)
        return self._rows(self._hg, groups)

    def laplacian(self, groups: Sequence[str]) -> torch.Tensor:
        """Laplacian of ``f`` at the points of ``groups``, (n,)."""
        if self._lap is None:
            self._lap = laplacian(self.all_gradients(), self.x)
        return self._rows(self._lap, groups)
