"""The meshing grid of the official StEik/DiGS scripts, reproduced for protocol runs.

The reference code (``utils/utils.py``: ``get_3d_grid`` and ``implicit2mesh`` in
sunyx523/StEik 033d2da, borrowed from DiGS) meshes a trained field like this,
in the unit frame of the input (see :meth:`Normalization.fit_centroid`):

* the box is the input's bounding box grown by ``eps`` (0.1) on every side;
* its *shortest* side gets ``resolution`` samples (``np.linspace``), the other
  two sides samples at the same step from ``lo - eps`` (``np.arange``, which may
  overshoot ``hi + eps`` by up to one step);
* the node coordinates are cast to **float16** before the network sees them (the
  reference stores the grid as float16), while marching cubes places the
  vertices on the exact float64 lattice;
* every node is evaluated (no narrow band), scikit-image marching cubes runs on
  the float64 volume at the level, with no closing layer around the volume
  (the surface stays open where it leaves the box) and no clean-up beyond what
  ``trimesh.Trimesh(..., validate=True)`` does (degenerate and duplicate faces
  dropped, winding made consistent).

Everything here is written from that description; no reference code is copied.
"""

from __future__ import annotations

import numpy as np
import torch
import trimesh

from sdfrecon.base.errors import NoSurfaceError
from sdfrecon.meshing.grid import FieldFn, Grid
from sdfrecon.meshing.marching import check_crossing


def steik_axes(lo: np.ndarray, hi: np.ndarray, samples: int, eps: float) -> list[np.ndarray]:
    """Node coordinates along x, y and z of the reference grid over ``[lo, hi]`` (3,).

    Parameters
    ----------
    lo, hi : (3,) ndarray
        Bounding box of the input, unit frame (float32 or float64; kept).
    samples : int
        Samples along the shortest side (the reference scripts use 512).
    eps : float
        Margin added on every side (the reference uses 0.1).

    Returns
    -------
    list of 3 float64 ndarrays
        The sample positions per axis (lengths differ).
    """
    # The arithmetic keeps the dtype of lo/hi, as the reference does (its box is float32; NumPy
    # >= 2 then computes the axes in float32, the NumPy 1.19 it pins in float64).
    lo, hi = np.asarray(lo), np.asarray(hi)
    shortest = int(np.argmin(hi - lo))
    axes: list[np.ndarray] = [np.empty(0)] * 3
    axes[shortest] = np.linspace(lo[shortest] - eps, hi[shortest] + eps, samples)
    length = float(np.max(axes[shortest]) - np.min(axes[shortest]))
    step = length / (samples - 1)
    for a in range(3):
        if a != shortest:
            axes[a] = np.arange(lo[a] - eps, hi[a] + step + eps, step)
    return axes


@torch.no_grad()
def evaluate_axes(field: FieldFn, axes: list[np.ndarray], *, device: torch.device | str = "cpu",
                  chunk_points: int = 262_144, node_dtype: torch.dtype = torch.float16) -> np.ndarray:
    """Evaluate ``field`` on the tensor-product grid of ``axes`` (x, y, z).

    Coordinates are rounded to ``node_dtype`` (float16, as the reference does),
    then given to the field as float32.

    Returns
    -------
    (nx, ny, nz) float64 ndarray
    """
    device = torch.device(device)
    rounded = [torch.as_tensor(a, dtype=torch.float64).to(node_dtype).to(torch.float32).to(device) for a in axes]
    nx, ny, nz = (len(a) for a in axes)
    total = nx * ny * nz
    out = np.empty(total, dtype=np.float32)
    for start in range(0, total, chunk_points):
        flat = torch.arange(start, min(start + chunk_points, total), device=device)
        points = torch.stack([rounded[0][flat // (ny * nz)], rounded[1][(flat // nz) % ny], rounded[2][flat % nz]], 1)
        out[start : start + len(flat)] = field(points).float().cpu().numpy().reshape(-1)
    return out.reshape(nx, ny, nz).astype(np.float64)


def steik_mesh(field: FieldFn, lo: np.ndarray, hi: np.ndarray, *, samples: int, eps: float, level: float = 0.0,
               device: torch.device | str = "cpu", chunk_points: int = 262_144) -> tuple[trimesh.Trimesh, Grid, int]:
    """Mesh ``field`` exactly as the reference ``implicit2mesh`` does (see module doc).

    Returns
    -------
    mesh : trimesh.Trimesh
        In the field's (unit) frame; open where the surface leaves the box.
    grid : Grid
        The lattice (origin = first node, spacing = the x step, as in the reference).
    queries : int
        Network evaluations (every node).

    Raises
    ------
    NoSurfaceError
        The field does not cross ``level`` on the grid.
    """
    from skimage.measure import marching_cubes as skimage_marching_cubes

    axes = [np.asarray(a, dtype=np.float64) for a in steik_axes(lo, hi, samples, eps)]
    values = evaluate_axes(field, axes, device=device, chunk_points=chunk_points)
    finite = values[np.isfinite(values)]
    if finite.size != values.size:
        raise NoSurfaceError("the field is not finite in the meshing box; training diverged")
    check_crossing(float(values.min()), float(values.max()), level)
    cell = float(axes[0][2] - axes[0][1])  # the reference takes the x step as the cell width
    verts, faces, normals, _ = skimage_marching_cubes(values, level=level, spacing=(cell, cell, cell))
    verts = verts + np.array([axes[0][0], axes[1][0], axes[2][0]])
    mesh = trimesh.Trimesh(verts, faces, vertex_normals=normals, validate=True)
    grid = Grid(origin=np.array([a[0] for a in axes], dtype=np.float64), spacing=cell,
                shape=tuple(len(a) for a in axes))
    return mesh, grid, values.size
