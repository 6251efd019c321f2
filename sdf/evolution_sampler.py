"""Space-time samples for training an evolution ``f(x, t)``.

Each step draws, per initial condition ``k`` (an SDF ``g_k`` given at time
``t_k``), points ``(x, t_k)`` near its surface and uniformly in the box, labelled
with ``g_k(x)`` and the unit gradient of ``g_k`` (group ``data<k>``); and
space-time points for the level-set equation (group ``flow``): times uniform in
the trained range, positions uniform in the box or near the surface -- the
initial surfaces' samples moved along the speed's velocity when it has one
(:meth:`Speed.advect`), then jittered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from sdfrecon.base.errors import ConfigError
from sdfrecon.datasets.sampling import SampleBatch
from sdfrecon.sdf.derivatives import gradient
from sdfrecon.sdf.evolution import FLOW_GROUP, Speed, data_group


@dataclass
class SpaceTimeSamplerConfig:
    """How many space-time samples each step draws, and where."""

    data_points: int = 1024
    """Samples per initial condition per step (at its time)."""
    data_near_fraction: float = 0.5
    """Share of those drawn near its surface (the rest uniform in the box)."""
    near_sigma: float = 0.03
    """Gaussian jitter of near-surface samples, unit frame."""
    flow_points: int = 2048
    """Space-time samples per step where the level-set equation is enforced."""
    flow_near_fraction: float = 0.5
    """Share of those drawn near the (moving) surface; the rest uniform in the box."""
    flow_sigma: float = 0.1
    """Gaussian jitter of near-surface flow samples, unit frame."""
    surface_samples: int = 20000
    """Points sampled once on each initial surface, the pool near samples are drawn from."""
    surface_resolution: int = 128
    """Marching-cubes resolution used to find each initial surface (a trained field has no point set)."""

    def validate(self, path: str) -> None:
        if self.data_points < 1 or self.flow_points < 1 or self.surface_samples < 1:
            raise ConfigError(f"{path}: data_points, flow_points and surface_samples must be >= 1")
        if not (0 <= self.data_near_fraction <= 1 and 0 <= self.flow_near_fraction <= 1):
            raise ConfigError(f"{path}: the near fractions must lie in [0, 1]")
        if self.near_sigma < 0 or self.flow_sigma < 0:
            raise ConfigError(f"{path}: near_sigma and flow_sigma must be >= 0")
        if self.surface_resolution < 8:
            raise ConfigError(f"{path}.surface_resolution: must be >= 8, got {self.surface_resolution}")


@dataclass
class InitialCondition:
    """A shape the evolution must pass through: ``f(., time) = sdf``.

    Attributes
    ----------
    sdf : callable
        ``(N, 3) -> (N,)`` signed distance in the evolution's unit frame, on the
        training device, differentiable with respect to its input.
    time : float
        When ``f`` must equal it.
    surface_points : (M, 3) Tensor
        Points on its zero level set (unit frame, training device).
    """

    sdf: Callable[[torch.Tensor], torch.Tensor]
    time: float
    surface_points: torch.Tensor


def sdf_and_normal(sdf: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Values (N,) and unit gradients (N, 3) of ``sdf`` at ``x``, detached."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        value = sdf(x)
        grad = gradient(value, x, create_graph=False)
    normal = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return value.detach(), normal.detach()


class SpaceTimeSampler:
    """Draws the step's :class:`~sdfrecon.datasets.sampling.SampleBatch` of (N, 4) points.

    Parameters
    ----------
    cfg : SpaceTimeSamplerConfig
    initial : sequence of InitialCondition
    box : ((3,), (3,)) array-likes
        ``lo, hi`` of the region where the evolution lives, unit frame.
    time_range : (float, float)
        Times the level-set equation is trained on.
    speed : Speed
        Supplies :meth:`~sdfrecon.sdf.evolution.Speed.advect`; with ``needs_target``
        the flow points are labelled with the last initial condition's SDF.
    device : torch.device
    seed : int
    """

    def __init__(self, cfg: SpaceTimeSamplerConfig, initial: Sequence[InitialCondition], box: tuple[Any, Any],
                 time_range: tuple[float, float], speed: Speed, *, device: torch.device, seed: int = 0):
        if not initial:
            raise ConfigError("an evolution needs at least one initial condition")
        self.cfg = cfg
        self.initial = list(initial)
        self.lo = torch.as_tensor(np.asarray(box[0], dtype=np.float32), device=device)
        self.hi = torch.as_tensor(np.asarray(box[1], dtype=np.float32), device=device)
        self.t0, self.t1 = float(time_range[0]), float(time_range[1])
        self.speed = speed
        self.device = device
        self.groups = tuple(data_group(k) for k in range(len(self.initial))) + (FLOW_GROUP,)
        self.generator = torch.Generator().manual_seed(seed)  # CPU: same draws on every device

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator).to(self.device)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator).to(self.device)

    def _uniform(self, n: int) -> torch.Tensor:
        return self.lo + (self.hi - self.lo) * self._rand(n, 3)

    def _on_surface(self, pool: torch.Tensor, n: int) -> torch.Tensor:
        idx = torch.randint(len(pool), (n,), generator=self.generator).to(pool.device)
        return pool[idx]

    def sample(self) -> SampleBatch:
        cfg = self.cfg
        points: dict[str, torch.Tensor] = {}
        normals: dict[str, torch.Tensor] = {}
        labels: dict[str, torch.Tensor] = {}
        n_near = int(round(cfg.data_points * cfg.data_near_fraction))
        for k, ic in enumerate(self.initial):
            near = self._on_surface(ic.surface_points, n_near) + cfg.near_sigma * self._randn(n_near, 3)
            x = torch.cat([near, self._uniform(cfg.data_points - n_near)])
            value, normal = sdf_and_normal(ic.sdf, x)
            group = data_group(k)
            points[group] = torch.cat([x, torch.full((len(x), 1), ic.time, device=self.device)], dim=1)
            labels[group] = value
            normals[group] = normal
        n_flow_near = int(round(cfg.flow_points * cfg.flow_near_fraction))
        t = self.t0 + (self.t1 - self.t0) * self._rand(cfg.flow_points, 1)
        pools = [ic.surface_points for ic in self.initial]
        pool = pools[0] if len(pools) == 1 else torch.cat(pools)
        start = self._on_surface(pool, n_flow_near)
        with torch.no_grad():
            moved = self.speed.advect(start, t[:n_flow_near]) if n_flow_near else start
        near = moved + cfg.flow_sigma * self._randn(n_flow_near, 3)
        x = torch.cat([near, self._uniform(cfg.flow_points - n_flow_near)])
        points[FLOW_GROUP] = torch.cat([x, t], dim=1)
        if self.speed.needs_target:
            with torch.no_grad():
                labels[FLOW_GROUP] = self.initial[-1].sdf(x).detach()
        return SampleBatch(points=points, normals=normals, labels=labels)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
