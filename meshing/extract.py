"""Field -> mesh: grid evaluation, marching cubes and clean-up in one call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import trimesh

from sdfrecon.meshing.blocks import marching_cubes_band
from sdfrecon.meshing.cleanup import remove_small_components
from sdfrecon.meshing.grid import FieldFn, Grid, evaluate_grid
from sdfrecon.meshing.marching import marching_cubes
from sdfrecon.meshing.memory import chunk_size
from sdfrecon.meshing.narrowband import evaluate_narrow_band, levels_for, nested_grid
from sdfrecon.meshing.refine import RefineConfig
from sdfrecon.base.errors import ConfigError


@dataclass
class MeshConfig:
    """How a trained field becomes a mesh."""

    resolution: int = 256
    """Grid cells along the longest side of the meshing box (``grid: steik``: samples along the shortest side)."""
    padding: float = 0.05
    """Margin around the input's bounding box, unit frame (inputs fill [-1, 1])."""
    grid: Literal["ours", "steik"] = "ours"
    """``ours``: the lattice and method below, closed meshes. ``steik``: the official StEik/DiGS
    grid (``resolution`` samples along the shortest side, ``padding`` as its margin, float16 node
    coordinates, every node evaluated, no closing layer; :mod:`sdfrecon.meshing.steik_grid`)."""
    level: float = 0.0
    """Iso-value extracted."""
    chunk_points: int = 0
    """Grid nodes per network call (bounds memory); 0 = from the free memory (``sdfrecon.meshing.memory``)."""
    min_component_fraction: float = 0.01
    """Drop pieces with less than this fraction of the largest piece's area; 0 keeps all."""
    method: Literal["coarse_to_fine", "dense"] = "coarse_to_fine"
    """``coarse_to_fine`` evaluates only a narrow band around the surface (same mesh
    as ``dense`` while the field is at most ``lipschitz_safety``-Lipschitz, far fewer queries)."""
    coarse_resolution: int = 32
    """Resolution of the dense coarse grid the coarse-to-fine method starts from."""
    lipschitz_safety: float = 2.0
    """Assumed bound on |grad f| when ruling cells out; larger = safer, more queries."""
    block_cells: int = 64
    """Cells per block side for block-wise marching cubes (bounds memory)."""
    snapshot_every: int = 0
    """Write a mesh every this many training steps to OUTPUT.snapshots/ (0 = never)."""
    snapshot_resolution: int = 96
    """Grid resolution of those snapshot meshes."""
    refine: RefineConfig = field(default_factory=RefineConfig)
    """Projection of the vertices onto the input points after marching cubes (point clouds)."""

    def validate(self, path: str) -> None:
        if self.resolution < 2:
            raise ConfigError(f"{path}.resolution: must be >= 2, got {self.resolution}")
        if self.padding < 0 or self.chunk_points < 0 or not 0 <= self.min_component_fraction < 1:
            raise ConfigError(f"{path}: padding >= 0, chunk_points >= 0, 0 <= min_component_fraction < 1")
        if self.coarse_resolution < 2 or self.lipschitz_safety <= 0 or self.block_cells < 2:
            raise ConfigError(f"{path}: coarse_resolution >= 2, lipschitz_safety > 0, block_cells >= 2")
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
    chunk = chunk_size(field, device, cfg.chunk_points)
    if cfg.grid == "steik":
        from sdfrecon.meshing.steik_grid import steik_mesh

        # The reference box is the min/max of float32 points, its arithmetic float64 (NumPy 1.19).
        box = [np.asarray(b, dtype=np.float32).astype(np.float64) for b in (lo, hi)]
        mesh, grid, queries = steik_mesh(field, box[0], box[1], samples=cfg.resolution,
                                         eps=cfg.padding, level=cfg.level, device=device, chunk_points=chunk)
        return MeshResult(mesh=remove_small_components(mesh, cfg.min_component_fraction), grid=grid, queries=queries)
    pad = np.full(3, cfg.padding)
    lo, hi = np.asarray(lo) - pad, np.asarray(hi) + pad
    # Both methods use the same lattice (cell counts rounded up to a multiple of 2**levels),
    # so switching method never shifts the vertices: where the field is Lipschitz-bounded
    # the two meshes are identical.
    levels = levels_for(cfg.resolution, cfg.coarse_resolution)
    grid = nested_grid(lo, hi, cfg.resolution, levels)
    if cfg.method == "dense":
        values = evaluate_grid(field, grid, device=device, chunk_points=chunk)
        mesh = marching_cubes(values, grid, level=cfg.level)
        queries = grid.num_nodes
    else:
        band = evaluate_narrow_band(field, grid, levels, level=cfg.level, safety=cfg.lipschitz_safety,
                                    device=device, chunk_points=chunk)
        mesh = marching_cubes_band(band, level=cfg.level, block_cells=cfg.block_cells)
        queries = band.queries
    mesh = remove_small_components(mesh, cfg.min_component_fraction)
    return MeshResult(mesh=mesh, grid=grid, queries=queries)
