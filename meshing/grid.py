"""Regular grids over a box and chunked, memory-bounded field evaluation.

Index -> coordinate conversion happens here and only here:
``coordinate = origin + index * spacing`` (cubic cells).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from sdfrecon.base.errors import ConfigError

FieldFn = Callable[[torch.Tensor], torch.Tensor]
"""``(N, 3) float32 -> (N,)`` scalar field (signed distance, negative inside)."""


@dataclass(frozen=True)
class Grid:
    """Nodes ``origin + (i, j, k) * spacing`` for ``0 <= (i, j, k) < shape``.

    Attributes
    ----------
    origin : (3,) float64 ndarray
        Coordinates of node (0, 0, 0), in the field's frame.
    spacing : float
        Distance between neighbouring nodes (cells are cubes).
    shape : tuple of 3 int
        Node count per axis.
    """

    origin: np.ndarray
    spacing: float
    shape: tuple[int, int, int]

    @classmethod
    def covering(cls, lo: np.ndarray, hi: np.ndarray, resolution: int) -> "Grid":
        """Grid of cubic cells covering the box ``[lo, hi]`` (3,), with
        ``resolution`` cells along its longest side; the box is centred in it."""
        if resolution < 2:
            raise ConfigError(f"mesh.resolution: must be >= 2, got {resolution}")
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        size = hi - lo
        spacing = float(size.max()) / resolution
        cells = np.maximum(np.ceil(size / spacing - 1e-9).astype(int), 1)
        origin = (lo + hi) / 2.0 - cells * spacing / 2.0
        return cls(origin=origin, spacing=spacing, shape=tuple(int(c) + 1 for c in cells))

    @property
    def num_nodes(self) -> int:
        return int(np.prod(self.shape))

    def coordinates(self, index: torch.Tensor) -> torch.Tensor:
        """Coordinates (M, 3) float32 of integer node indices ``index`` (M, 3)."""
        origin = torch.as_tensor(self.origin, dtype=torch.float64, device=index.device)
        return (origin + index.to(torch.float64) * self.spacing).to(torch.float32)

    def to_frame(self, index_space_vertices: np.ndarray) -> np.ndarray:
        """Map (V, 3) float vertex positions in index units to the field frame."""
        return self.origin + np.asarray(index_space_vertices, dtype=np.float64) * self.spacing


@torch.no_grad()
def evaluate_grid(
    field: FieldFn,
    grid: Grid,
    *,
    device: torch.device | str = "cpu",
    chunk_points: int = 262_144,
) -> np.ndarray:
    """Evaluate ``field`` at every node of ``grid``.

    Parameters
    ----------
    field : callable
        ``(N, 3) -> (N,)`` on ``device``, called without autograd.
    grid : Grid
    device : torch.device or str
        Where node coordinates are made and the field runs.
    chunk_points : int
        Nodes per call; bounds the peak memory of one call.

    Returns
    -------
    (nx, ny, nz) float32 ndarray
        Field values at the nodes.
    """
    device = torch.device(device)
    nx, ny, nz = grid.shape
    out = np.empty(grid.num_nodes, dtype=np.float32)
    for start in range(0, grid.num_nodes, chunk_points):
        flat = torch.arange(start, min(start + chunk_points, grid.num_nodes), device=device)
        index = torch.stack([flat // (ny * nz), (flat // nz) % ny, flat % nz], dim=1)
        values = field(grid.coordinates(index))
        out[start : start + len(flat)] = values.float().cpu().numpy().reshape(-1)
    return out.reshape(nx, ny, nz)
