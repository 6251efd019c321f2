"""The point-cloud container every reader returns, and the checks it must pass."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdfrecon.base.errors import InputError

if TYPE_CHECKING:
    from sdfrecon.datasets.normalize import Normalization

log = logging.getLogger(__name__)

MIN_POINTS = 10
"""Fewest (distinct) points we try to reconstruct from; fewer cannot define a surface."""

FLAT_TOLERANCE = 1e-5
"""Points whose spread across their thinnest principal axis is below this fraction
of their size are called collinear / coplanar: thinner than any meshing grid can
resolve, and above the rounding noise of text files written with ~7 digits."""

MIN_RESOLVABLE_STEPS = 1e4
"""The points' extent must span at least this many float64 steps at their
coordinates' magnitude (otherwise they sit on a visibly quantised lattice)."""

DUPLICATE_WARNING_FRACTION = 0.05
"""Warn (rather than log quietly) when at least this fraction of points are exact
duplicates; they are dropped either way so they do not skew the sampling."""


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
    normals_oriented : bool
        Whether the normals' signs are trusted (outward); False for normals of
        unknown sign, e.g. estimated by PCA (:mod:`sdfrecon.datasets.point_geometry`).
    """

    points: np.ndarray
    normals: np.ndarray | None
    source: str
    normals_oriented: bool = True

    kind = "points"
    """Input kind, for choosing presets and samplers (see :mod:`sdfrecon.datasets.inputs`)."""

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
        return dataclasses.replace(self, points=normalization.to_unit(self.points))

    def summary(self) -> dict:
        """JSON-ready description for run records."""
        return {"kind": self.kind, "source": self.source, "points": len(self), "normals": self.has_normals}

    def without(self, drop: np.ndarray) -> "PointCloud":
        """The cloud without the points where the (N,) bool mask ``drop`` is True."""
        keep = ~np.asarray(drop, dtype=bool)
        return dataclasses.replace(self, points=self.points[keep],
                                   normals=None if self.normals is None else self.normals[keep])

    def subset(self, count: int, seed: int = 0) -> "PointCloud":
        """``count`` of the points (with their normals), drawn at random without
        replacement from ``seed``; the cloud itself when it has no more than that."""
        if len(self) <= count:
            return self
        pick = np.sort(np.random.default_rng([seed, 11]).choice(len(self), size=count, replace=False))
        return dataclasses.replace(self, points=self.points[pick],
                                   normals=None if self.normals is None else self.normals[pick])


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
        Empty, wrongly shaped, non-finite, fewer than :data:`MIN_POINTS` distinct,
        or degenerate (all identical, collinear, coplanar, or too small to resolve
        in float64 at their offset) points.

    Notes
    -----
    Exact duplicate points are dropped (keeping the first copy and its normal),
    with a warning when they are :data:`DUPLICATE_WARNING_FRACTION` or more.
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
        raise InputError(f"has only {len(pts)} point{'s' if len(pts) != 1 else ''}; "
                         f"at least {MIN_POINTS} are needed", src)
    nrm = None if normals is None else np.asarray(normals, dtype=np.float64)
    if nrm is not None and nrm.shape != pts.shape:
        raise InputError(f"normals must match points {pts.shape}, got {nrm.shape}", src)
    _check_not_degenerate(pts, src)
    keep = _distinct_rows(pts)
    if keep is not None:
        dropped = len(pts) - len(keep)
        if len(keep) < MIN_POINTS:
            raise InputError(f"has only {len(keep)} distinct points (of {len(pts)} rows); "
                             f"at least {MIN_POINTS} are needed", src)
        (log.warning if dropped >= DUPLICATE_WARNING_FRACTION * len(pts) else log.info)(
            "%s: %d of %d points are exact duplicates; using the %d distinct ones", src, dropped, len(pts), len(keep))
        pts = pts[keep]
        nrm = None if nrm is None else nrm[keep]
    if nrm is not None:
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


def _distinct_rows(points: np.ndarray) -> np.ndarray | None:
    """Indices (in input order) of the first copy of each distinct point, or None
    when there are no duplicates."""
    _, first = np.unique(points, axis=0, return_index=True)
    if len(first) == len(points):
        return None
    return np.sort(first)


def _check_not_degenerate(points: np.ndarray, source: str) -> None:
    """Reject point sets with no usable 3D extent: identical, collinear, coplanar,
    or too small for float64 to resolve at their distance from the origin."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    size = float((hi - lo).max())
    if size == 0.0:
        raise InputError(f"all {len(points)} points are identical; there is no surface to reconstruct", source)
    # Coordinates far from the origin (UTM, ECEF) are fine in float64 as long as
    # the shape spans many representable steps at that offset.
    magnitude = float(np.abs(np.concatenate([lo, hi])).max())
    steps = size / float(np.spacing(magnitude))
    if steps < MIN_RESOLVABLE_STEPS:
        raise InputError(
            f"the points span {size:.3g} at coordinates of about {magnitude:.3g}, only {steps:.0f} steps of the "
            "float64 resolution there (below the float64 resolution needed to describe a surface); "
            "subtract an offset or change units before saving", source)
    centred = points - points.mean(axis=0)
    # Singular values give the spread along the principal axes, relative to the size.
    spread = np.linalg.svd(centred / size, compute_uv=False) / np.sqrt(len(points))
    if spread[1] < FLAT_TOLERANCE:
        raise InputError("all points lie on one line; a surface needs 3D extent", source)
    if spread[2] < FLAT_TOLERANCE:
        raise InputError("all points lie on one plane (a flat patch); a closed surface needs 3D extent -- "
                         "scan the object from more sides", source)
