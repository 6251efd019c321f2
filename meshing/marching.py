"""Marching cubes on a sampled signed-distance grid (scikit-image).

The volume is padded with one layer of positive ("outside") values first, so the
extracted surface is always closed: where the zero level set would leave the
grid it is capped at the boundary instead of left open. Faces are oriented with
normals pointing outward, towards increasing signed distance.
"""

from __future__ import annotations

import numpy as np
import trimesh

from sdfrecon.meshing.grid import Grid
from sdfrecon.base.errors import NoSurfaceError


def outside_value(low: float, high: float, level: float) -> np.float32:
    """Value given to the padding layer: far above anything the field takes, so the
    caps closing the surface sit on the grid's boundary nodes (t ~ 0 on those edges)."""
    return np.float32(max(1e6, 2.0 * max(abs(low), abs(high), abs(level))))


def check_crossing(low: float, high: float, level: float) -> None:
    """Raise :class:`NoSurfaceError`, with the likely cause, unless ``low < level < high``."""
    if level != 0.0 and not low < level < high:
        raise NoSurfaceError(
            f"the field never crosses mesh.level = {level:g} in the meshing box (it spans {low:.4g} .. {high:.4g}); "
            "the level is outside the field's range -- use a level inside it (0 is the surface)"
        )
    if not np.isfinite(low) or not np.isfinite(high):
        raise NoSurfaceError("the field is not finite in the meshing box; training diverged")
    if not low < level:
        raise NoSurfaceError(
            f"the field is above {level:g} everywhere in the meshing box (min {low:.4g}); "
            "no surface to extract -- training likely collapsed (try more iterations or a lower lr)"
        )
    if not high > level:
        raise NoSurfaceError(
            f"the field is below {level:g} everywhere in the meshing box (max {high:.4g}); "
            "the surface lies outside the box or the sign is flipped"
        )


def marching_cubes(values: np.ndarray, grid: Grid, *, level: float = 0.0) -> trimesh.Trimesh:
    """Extract the ``level`` iso-surface of ``values`` sampled on ``grid``.

    Parameters
    ----------
    values : (nx, ny, nz) float ndarray
        Signed distance at the grid nodes (negative inside).
    grid : Grid
        Where the nodes are; vertices are returned in the grid's frame.
    level : float
        Iso-value.

    Returns
    -------
    trimesh.Trimesh
        Closed, outward-oriented mesh in the grid's frame.

    Raises
    ------
    NoSurfaceError
        No node is below ``level``: the field never crosses it inside the grid.
    """
    from skimage.measure import marching_cubes as skimage_marching_cubes

    values = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(values)
    if not finite.all():
        values = np.where(finite, values, np.float32(np.abs(values[finite]).max(initial=1.0)))
    low, high = float(values.min()), float(values.max())
    check_crossing(low, high, level)
    outside = outside_value(low, high, level)
    padded = np.pad(values, 1, mode="constant", constant_values=outside)
    verts, faces, _, _ = skimage_marching_cubes(padded, level=level, gradient_direction="descent")
    # Padding shifted indices by one node.
    vertices = grid.to_frame(verts - 1.0)
    return trimesh.Trimesh(vertices, faces.astype(np.int64), process=False)
