"""The point-cloud container every reader returns, and the checks it must pass."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdf.errors import InputError

if TYPE_CHECKING:
    from datasets.normalize import Normalization

log = logging.getLogger(__name__)

MIN_POINTS = 10
"""Fewest points we try to reconstruct from; fewer cannot define a surface."""


@dataclass(frozen=True)
class PointCloud:
    """Surface samples in the input's own (world) coordinates.

    Attributes
    ----------
    points : (N, 3) float64 ndarray
        Positions, world units.
    normals : (N, 3) float64 ndarray or None
        Unit outward normals, or None when the input has none.
    source : str
        File (or description) the points came from, for messages.
    """

    points: np.ndarray
    normals: np.ndarray | None
    source: str

    kind = "points"
    """Input kind, for choosing presets and samplers (see :mod:`datasets.inputs`)."""

    @property
    def has_normals(self) -> bool:
        return self.normals is not None

    def __len__(self) -> int:
        return len(self.points)

    def extent_points(self) -> np.ndarray:
        """(N, 3) points whose bounding box the surface is expected to fill."""
        return self.points

    def transformed(self, normalization: "Normalization") -> "PointCloud":
        """The same cloud in ``normalization``'s unit frame (normals unchanged)."""
        return PointCloud(normalization.to_unit(self.points), self.normals, self.source)

    def summary(self) -> dict:
        """JSON-ready description for run records."""
        return {"kind": self.kind, "source": self.source, "points": len(self), "normals": self.has_normals}


def make_point_cloud(
    points: np.ndarray,
    normals: np.ndarray | None = None,
    *,
    source: str | Path = "<array>",
) -> PointCloud:
    """Validate raw arrays and wrap them as a :class:`PointCloud`.

    Parameters
    ----------
    points : (N, 3) array_like
        Positions in world units.
    normals : (N, 3) array_like, optional
        Per-point normals (any length; normalised here). Dropped with a warning
        if any is non-finite or zero, since one bad normal would poison the
        normal-alignment loss.
    source : str or Path
        Named in every error message.

    Returns
    -------
    PointCloud

    Raises
    ------
    InputError
        Empty, wrongly shaped, non-finite, fewer than :data:`MIN_POINTS`, or
        degenerate (all identical, collinear or coplanar) points.
    """
    src = str(source)
    pts = np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        raise InputError("has no points", src)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"points must be (N, 3), got shape {tuple(pts.shape)}", src)
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise InputError(f"{int(bad.sum())} of {len(pts)} points have NaN or infinite coordinates", src)
    if len(pts) < MIN_POINTS:
        raise InputError(f"has only {len(pts)} points; at least {MIN_POINTS} are needed", src)
    _check_not_degenerate(pts, src)
    nrm = None
    if normals is not None:
        nrm = np.asarray(normals, dtype=np.float64)
        if nrm.shape != pts.shape:
            raise InputError(f"normals must match points {pts.shape}, got {nrm.shape}", src)
        length = np.linalg.norm(nrm, axis=1)
        usable = np.isfinite(length) & (length > 1e-12)
        if not usable.all():
            log.warning(
                "%s: %d normals are zero or non-finite; ignoring all normals", src, int((~usable).sum())
            )
            nrm = None
        else:
            nrm = nrm / length[:, None]
    return PointCloud(points=pts, normals=nrm, source=src)


def _check_not_degenerate(points: np.ndarray, source: str) -> None:
    """Reject point sets with no 3D extent: identical, collinear or coplanar."""
    extent = points.max(axis=0) - points.min(axis=0)
    size = float(extent.max())
    if size == 0.0:
        raise InputError(f"all {len(points)} points are identical; there is no surface to reconstruct", source)
    centred = points - points.mean(axis=0)
    # Singular values give the spread along the principal axes.
    spread = np.linalg.svd(centred / size, compute_uv=False) / np.sqrt(len(points))
    if spread[1] < 1e-9:
        raise InputError("all points lie on one line; a surface needs 3D extent", source)
    if spread[2] < 1e-9:
        raise InputError("all points lie on one plane; a closed surface needs 3D extent", source)
