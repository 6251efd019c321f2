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


LEVEL_MARGIN = 1e-3
"""Node values closer to the level than this many cells (in field units, a unit-gradient field)
are pushed out to it, on their own side (see :func:`away_from_level`)."""


def away_from_level(values: np.ndarray, level: float, margin: float) -> np.ndarray:
    """``values`` with those within ``margin`` of ``level`` moved to ``level -/+ margin``, on
    their own side (exactly-on-level ones go above).

    A node value at or near the level puts the crossings of every edge around that node
    at the node: triangles with edges of 1e-8 cells and less. Such vertices merge when a
    file is written in float32 or loaded by a tool that welds close vertices, and the
    mesh stops being closed. Pushing the values out keeps each crossing at least about
    ``margin`` from the node and moves no vertex by more than about that much.
    """
    near = np.abs(values - level) < margin
    if not near.any():
        return values
    pushed = np.where(values < level, values.dtype.type(level - margin), values.dtype.type(level + margin))
    return np.where(near, pushed, values)


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
    values = away_from_level(values, level, LEVEL_MARGIN * grid.spacing)
    padded = np.pad(values, 1, mode="constant", constant_values=outside)
    verts, faces, _, _ = skimage_marching_cubes(padded, level=level, gradient_direction="descent")
    # Padding shifted indices by one node.
    vertices = grid.to_frame(verts - 1.0)
    return trimesh.Trimesh(vertices, faces.astype(np.int64), process=False)
