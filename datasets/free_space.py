"""Which space a point cloud leaves open to the outside: a voxel flood fill.

Without trusted normals a field has no sign to go by, and a deep concavity (a
blind bore, the inside of a cup) can be closed by a membrane at its mouth: the
sign-agnostic terms only see that no data lie there. Space that can be reached
from the box's boundary without passing through the (slightly thickened)
points is outside whatever the normals say -- the classic flood-fill sign of
volumetric reconstruction (Curless & Levoy 1996's "space carving" in its
simplest, viewpoint-free form).

The points are rasterised on a grid, every voxel within ``radius`` of a point
is blocked (so the gaps between neighbouring points close), and the free
voxels connected to the grid's boundary are the *exterior*. The labels are
only trusted when the fill also leaves a substantial enclosed *interior*: a
scan with a hole wider than the thickening lets the flood into the inside, the
interior then vanishes, and no labels are given (thin parts and open scans
lose nothing; they are trained as before).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FreeSpace:
    """The exterior of a point cloud on a voxel grid.

    Attributes
    ----------
    exterior : (R, R, R) bool ndarray
        Free voxels connected to the grid's boundary.
    lo : float
        Lower corner of the grid (the cube ``[lo, -lo]^3``, unit frame).
    voxel : float
        Voxel side, unit frame.
    radius : float
        Thickening of the points, unit frame.
    interior_share : float
        Enclosed free volume (neither exterior nor within ``radius`` of a point) as a
        share of the points' convex-hull volume.
    """

    exterior: np.ndarray
    lo: float
    voxel: float
    radius: float
    interior_share: float

    def outside(self, at: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """(P,) bool: the (P, 3) positions ``at`` that lie in the exterior and more than
        ``radius`` plus a voxel from the points (``distance``, (P,), unit frame)."""
        index = np.floor((np.asarray(at) - self.lo) / self.voxel).astype(np.int64)
        size = self.exterior.shape[0]
        inside_grid = np.all((index >= 0) & (index < size), axis=1)
        clipped = np.clip(index, 0, size - 1)
        in_exterior = self.exterior[clipped[:, 0], clipped[:, 1], clipped[:, 2]]
        # Beyond the grid is outside too (the grid covers the sampling cube, the data lie inside).
        return (in_exterior | ~inside_grid) & (np.asarray(distance) > self.radius + self.voxel)


def flood_exterior(points: np.ndarray, radius: float, *, half_side: float = 1.1,
                   resolution: int = 128) -> FreeSpace:
    """Flood-fill the free space around ``points`` from the boundary of the cube
    ``[-half_side, half_side]^3``.

    Parameters
    ----------
    points : (N, 3) ndarray
        Unit-frame points.
    radius : float
        Voxels closer than this to a point are blocked (unit frame); at least a voxel.
    half_side : float
        Half side of the grid's cube, unit frame.
    resolution : int
        Voxels per side.
    """
    from scipy import ndimage
    from scipy.spatial import ConvexHull, QhullError

    voxel = 2.0 * half_side / resolution
    radius = max(float(radius), voxel)
    index = np.clip(np.floor((np.asarray(points) + half_side) / voxel).astype(np.int64), 0, resolution - 1)
    occupied = np.zeros((resolution,) * 3, dtype=bool)
    occupied[index[:, 0], index[:, 1], index[:, 2]] = True
    # Distance (in voxels) from each voxel centre to the nearest occupied voxel: blocked within radius.
    blocked = ndimage.distance_transform_edt(~occupied) * voxel <= radius
    free = ~blocked
    labels, _ = ndimage.label(free)  # 6-connectivity: the flood does not slip through diagonal gaps
    boundary = np.unique(np.concatenate([
        labels[0].ravel(), labels[-1].ravel(), labels[:, 0].ravel(), labels[:, -1].ravel(),
        labels[:, :, 0].ravel(), labels[:, :, -1].ravel()]))
    exterior = np.isin(labels, boundary[boundary > 0])
    interior_voxels = int(np.count_nonzero(free & ~exterior))
    try:
        hull = ConvexHull(np.asarray(points, dtype=np.float64)).volume
    except (QhullError, ValueError):  # degenerate (flat or too few points): no volume to enclose
        hull = 0.0
    share = interior_voxels * voxel ** 3 / hull if hull > 0 else 0.0
    return FreeSpace(exterior=exterior, lo=-half_side, voxel=voxel, radius=radius, interior_share=float(share))
