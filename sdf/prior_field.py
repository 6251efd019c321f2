"""A prior model's prediction for one input, as a field the pipeline can mesh and train.

:class:`PriorField` holds a prior model (:mod:`sdfrecon.sdf.prior_model`) and the
feature grids it encoded one input point cloud into. It behaves like a
:class:`~sdfrecon.sdf.fields.NeuralField` with two outputs:

* channel 1 -- the occupancy logit, positive inside (what the model predicts);
* channel 0 -- ``-logit * LOGIT_LENGTH``: negative inside, so SDF loss terms and
  tools that read channel 0 see the right sign; a logit of 1 counts as 0.01 units.

Its surface is the 0.5 occupancy level (``surface = "occupancy"``). The grids are
parameters, so training the field further (``train.iterations > 0``) optimises
this shape's latent code and the decoder -- test-time optimisation -- while the
encoder is untouched.

:func:`fit_field_to_sdf` is the warm start: a supervised fit of any field's channel 0
to target signed distances (e.g. of the prior's surface).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

LOGIT_LENGTH = 0.01
"""Unit-frame length one logit unit stands for in channel 0 (``-logit * LOGIT_LENGTH``)."""


class PriorField(nn.Module):
    """A prior model decoding fixed (trainable) feature grids; ``forward(x: (N, 3)) -> (N, 2)``.

    Parameters
    ----------
    model : nn.Module
        A prior model with ``decode(grids, queries)``.
    grids : list of Tensor
        Its feature grids for one input, each (1, C, r, r, r).
    """

    surface = "occupancy"

    def __init__(self, model: nn.Module, grids: list[torch.Tensor]):
        super().__init__()
        self.model = model
        self.grids = nn.ParameterList([nn.Parameter(g.detach().clone()) for g in grids])

    @classmethod
    def empty(cls, model: nn.Module) -> "PriorField":
        """A field with zero grids of ``model``'s shapes, to load a saved state into."""
        return cls(model, [torch.zeros(1, *shape) for shape in model.grid_shapes()])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Occupancy logits (N,) at unit-frame points (N, 3)."""
        return self.model.decode(list(self.grids), x[None])[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit = self.logits(x)
        return torch.stack([-logit * LOGIT_LENGTH, logit], dim=1)

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        """Channel 0, (N,): ``-logit * LOGIT_LENGTH``."""
        return -self.logits(x) * LOGIT_LENGTH

    def surface_value(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) values whose zero set is the 0.5 occupancy level, negative inside (channel 0)."""
        return self.sdf(x)


@torch.no_grad()
def encode_points(model: nn.Module, points: np.ndarray, *, count: int, ensemble: int = 1, seed: int = 0,
                  device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Feature grids of unit-frame ``points`` (N, 3), averaged over ``ensemble`` random subsets.

    Parameters
    ----------
    model : nn.Module
        Prior model with ``encode``.
    points : (N, 3) ndarray
        Input points, unit frame.
    count : int
        Points per subset (all points, in order, when ``count >= N`` and ``ensemble == 1``).
    ensemble : int
        Subsets encoded; their grids are averaged (feature-level test-time ensembling).
    seed : int
        Seed of the subsets.

    Returns
    -------
    list of Tensor
        Each (1, C, r, r, r).
    """
    rng = np.random.default_rng(seed)
    total: list[torch.Tensor] | None = None
    for _ in range(ensemble):
        if count >= len(points) and ensemble == 1:
            subset = points
        else:
            subset = points[rng.choice(len(points), size=count, replace=count > len(points))]
        grids = model.encode(torch.as_tensor(subset, dtype=torch.float32, device=device)[None])
        total = grids if total is None else [a + b for a, b in zip(total, grids)]
    return [g / ensemble for g in total]


def fit_field_to_sdf(field: nn.Module, points: torch.Tensor, targets: torch.Tensor, *, steps: int, lr: float,
                     batch: int, seed: int = 0, clamp: float = math.inf) -> float:
    """Fit channel 0 of ``field`` to target signed distances by L1 regression (Adam).

    Coarse-to-fine encodings are held at their start (``set_training_progress(0)``),
    where the trainer that follows starts too, so the fit does not lean on
    features that are switched off next.

    Parameters
    ----------
    field : nn.Module
        ``(N, 3) -> (N, C)``, channel 0 the SDF; trained in place.
    points : (P, 3) Tensor
        Sample positions, unit frame, on the field's device.
    targets : (P,) Tensor
        Signed distances at ``points``, negative inside.
    steps, lr, batch : int, float, int
        Adam steps, learning rate and points per step.
    seed : int
        Seed of the batch draws.
    clamp : float
        Distances are compared clamped to ``[-clamp, clamp]`` (truncated SDF); inf = not.

    Returns
    -------
    float
        Mean L1 error of the last 10 steps.
    """
    for module in field.modules():
        hook = getattr(module, "set_training_progress", None)
        if callable(hook):
            hook(0.0)
    generator = torch.Generator(device=points.device)
    generator.manual_seed(seed)
    optimizer = torch.optim.Adam([p for p in field.parameters() if p.requires_grad], lr=lr)
    target_all = targets.clamp(-clamp, clamp)
    recent: list[float] = []
    field.train()
    for step in range(steps):
        pick = torch.randint(len(points), (batch,), device=points.device, generator=generator)
        pred = field(points[pick])[:, 0].clamp(-clamp, clamp)
        loss = (pred - target_all[pick]).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= steps - 10:
            recent.append(float(loss.detach()))
    return sum(recent) / len(recent) if recent else math.nan
