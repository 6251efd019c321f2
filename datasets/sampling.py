"""Per-iteration training samples, drawn on the training device.

A sampler turns training data (already in the unit frame) into a
:class:`SampleBatch`: named groups of points that loss terms select by name.
The point-cloud sampler produces

* ``surface`` -- random input points (with their normals, if any);
* ``uniform`` -- uniform points in the cube ``[-domain, domain]^3``;
* ``near`` -- input points jittered by a Gaussian whose width is the distance to
  the k-th nearest input neighbour (IGR's local sigma), so sampling adapts to
  the local density.

All randomness comes from one ``torch.Generator`` on the device, so sampling
needs no host round trip and its state is checkpointed with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import torch

from sdf.configtools import ComponentConfig
from sdf.errors import ConfigError
from sdf.registry import Registry

SAMPLERS: Registry = Registry("sampler")


@dataclass
class SamplerConfig(ComponentConfig):
    """Base of sampler configs (chosen by ``name``)."""

    name: str = "surface"
    registry: ClassVar[Registry] = SAMPLERS


@dataclass
class SampleBatch:
    """One iteration's samples, unit frame.

    Attributes
    ----------
    points : dict of str -> (n_g, 3) float32 Tensor
        Sample positions per group.
    normals : dict of str -> (n_g, 3) float32 Tensor
        Target unit normals for groups that have them (``surface`` when the
        input has normals).
    labels : dict of str -> (n_g,) float32 Tensor
        Per-point targets for groups that have them (e.g. occupancy in [0, 1]).
    """

    points: dict[str, torch.Tensor]
    normals: dict[str, torch.Tensor] = field(default_factory=dict)
    labels: dict[str, torch.Tensor] = field(default_factory=dict)


class Sampler(Protocol):
    """What the trainer needs from a sampler."""

    groups: tuple[str, ...]

    def sample(self) -> SampleBatch: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class SurfaceSamplerConfig(SamplerConfig):
    """Samples for fitting an SDF to an (optionally oriented) point cloud."""

    name: str = "surface"
    surface_points: int = 8192
    """Input points per iteration (drawn with replacement)."""
    uniform_points: int = 4096
    """Uniform points per iteration in the sampling cube."""
    near_points: int = 4096
    """Gaussian-jittered input points per iteration."""
    domain: float = 1.1
    """Half side of the uniform sampling cube, unit frame (inputs fill [-1, 1])."""
    knn_k: int = 50
    """Neighbour whose distance sets each point's Gaussian width."""
    sigma_scale: float = 1.0
    """Multiplier on the local Gaussian width."""
    min_sigma: float = 0.002
    """Lower bound on the Gaussian width, unit frame (guards duplicate points)."""

    def validate(self, path: str) -> None:
        for key in ("surface_points", "uniform_points", "near_points"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{path}.{key}: must be >= 0")
        if self.surface_points == 0:
            raise ConfigError(f"{path}.surface_points: must be > 0")
        if self.domain <= 1.0:
            raise ConfigError(f"{path}.domain: must exceed 1.0 (inputs fill [-1, 1]), got {self.domain}")
        if self.knn_k < 1:
            raise ConfigError(f"{path}.knn_k: must be >= 1")


def local_sigma(points: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point (N, 3) to its k-th nearest other point, (N,)."""
    from scipy.spatial import cKDTree

    k = min(k, len(points) - 1)
    tree = cKDTree(points)
    dist, _ = tree.query(points, k=k + 1, workers=-1)
    return dist[:, -1]


class SurfaceSampler:
    """Draws ``surface``, ``uniform`` and ``near`` groups on ``device``.

    Parameters
    ----------
    cfg : SurfaceSamplerConfig
    points : (N, 3) ndarray
        Input points, unit frame.
    normals : (N, 3) ndarray or None
        Unit normals of the input points.
    device : torch.device
    seed : int
        Seed of the sampler's own generator.
    """

    def __init__(
        self,
        cfg: SurfaceSamplerConfig,
        points: np.ndarray,
        normals: np.ndarray | None,
        device: torch.device,
        seed: int,
    ):
        self.cfg = cfg
        self.device = device
        self.points = torch.as_tensor(points, dtype=torch.float32, device=device)
        self.normals = None if normals is None else torch.as_tensor(normals, dtype=torch.float32, device=device)
        sigma = np.maximum(local_sigma(points, cfg.knn_k) * cfg.sigma_scale, cfg.min_sigma)
        self.sigma = torch.as_tensor(sigma, dtype=torch.float32, device=device)[:, None]
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        groups = ["surface"]
        if cfg.uniform_points:
            groups.append("uniform")
        if cfg.near_points:
            groups.append("near")
        self.groups = tuple(groups)

    def _indices(self, count: int) -> torch.Tensor:
        return torch.randint(len(self.points), (count,), device=self.device, generator=self.generator)

    def sample(self) -> SampleBatch:
        cfg, gen = self.cfg, self.generator
        idx = self._indices(cfg.surface_points)
        batch = SampleBatch(points={"surface": self.points[idx]})
        if self.normals is not None:
            batch.normals["surface"] = self.normals[idx]
        if cfg.uniform_points:
            unit = torch.rand((cfg.uniform_points, 3), device=self.device, generator=gen)
            batch.points["uniform"] = (unit * 2.0 - 1.0) * cfg.domain
        if cfg.near_points:
            near = self._indices(cfg.near_points)
            noise = torch.randn((cfg.near_points, 3), device=self.device, generator=gen)
            batch.points["near"] = self.points[near] + noise * self.sigma[near]
        return batch

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


@SAMPLERS.register("surface", SurfaceSamplerConfig)
def build_surface_sampler(cfg: SurfaceSamplerConfig, *, data, device: torch.device, seed: int) -> SurfaceSampler:
    """Build a :class:`SurfaceSampler` from a unit-frame :class:`~datasets.pointcloud.PointCloud`."""
    return SurfaceSampler(cfg, data.points, data.normals, device, seed)
