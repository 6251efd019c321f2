"""Field -> mesh: grid evaluation, marching cubes and clean-up in one call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import trimesh

from meshing.cleanup import remove_small_components
from meshing.grid import FieldFn, Grid, evaluate_grid
from meshing.marching import marching_cubes
from sdf.errors import ConfigError


@dataclass
class MeshConfig:
    """How a trained field becomes a mesh."""

    resolution: int = 256
    """Grid cells along the longest side of the meshing box."""
    padding: float = 0.05
    """Margin around the input's bounding box, unit frame (inputs fill [-1, 1])."""
    level: float = 0.0
    """Iso-value extracted."""
    chunk_points: int = 262_144
    """Grid nodes per network call (bounds memory)."""
    min_component_fraction: float = 0.01
    """Drop pieces with less than this fraction of the largest piece's area; 0 keeps all."""
    snapshot_every: int = 0
    """Write a mesh every this many training steps to OUTPUT.snapshots/ (0 = never)."""
    snapshot_resolution: int = 96
    """Grid resolution of those snapshot meshes."""

    def validate(self, path: str) -> None:
        if self.resolution < 2:
            raise ConfigError(f"{path}.resolution: must be >= 2, got {self.resolution}")
        if self.padding < 0 or self.chunk_points < 1 or not 0 <= self.min_component_fraction < 1:
            raise ConfigError(f"{path}: padding >= 0, chunk_points >= 1, 0 <= min_component_fraction < 1")
        if self.snapshot_every < 0 or self.snapshot_resolution < 2:
            raise ConfigError(f"{path}: snapshot_every >= 0 and snapshot_resolution >= 2")


@dataclass
class MeshResult:
    """An extracted mesh (field frame) and what it cost."""

    mesh: trimesh.Trimesh
    grid: Grid
    queries: int
    """Network evaluations spent."""


def extract_mesh(
    field: FieldFn,
    lo: np.ndarray,
    hi: np.ndarray,
    cfg: MeshConfig,
    *,
    device: torch.device | str = "cpu",
) -> MeshResult:
    """Mesh the ``cfg.level`` set of ``field`` inside the box ``[lo, hi]`` (+ padding).

    Parameters
    ----------
    field : callable
        ``(N, 3) -> (N,)`` signed distance on ``device``, negative inside.
    lo, hi : (3,) ndarray
        Box to mesh, field frame (typically the input's bounding box).
    cfg : MeshConfig
    device : torch.device or str

    Returns
    -------
    MeshResult
        Closed, outward-oriented mesh in the field's frame.

    Raises
    ------
    NoSurfaceError
        The field does not cross ``cfg.level`` inside the box.
    """
    pad = np.full(3, cfg.padding)
    grid = Grid.covering(np.asarray(lo) - pad, np.asarray(hi) + pad, cfg.resolution)
    values = evaluate_grid(field, grid, device=device, chunk_points=cfg.chunk_points)
    mesh = marching_cubes(values, grid, level=cfg.level)
    mesh = remove_small_components(mesh, cfg.min_component_fraction)
    return MeshResult(mesh=mesh, grid=grid, queries=grid.num_nodes)
