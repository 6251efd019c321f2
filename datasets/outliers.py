"""Stray points: points much farther from their neighbours than the cloud's typical spacing.

Real scanners return a few of them (multipath, dust, mixed pixels at depth edges). They are
not noise around the surface but isolated points in empty space. Left in, they stretch the
bounding box the unit frame is fitted to, count as data for the clearance term (so a surface
may form around them) and pull the mesh projection: with 1 % of the points scattered over
the bounding box, the default's surface Chamfer on joint went from 0.009 % to 0.48 % of the
diagonal (docs/benchmarks.md, "Stray points").

The test is global: a point is a stray when its distance to its ``k``-th nearest neighbour
exceeds ``max_ratio`` times the median of that distance over the cloud. A local test (a point
against its own neighbours, as in the local outlier factor) fails here: strays scattered over
the box have other strays as their nearest neighbours and look like a sparse but regular
cloud. A global one keeps every point of the corpus's clean, noisy and sparse inputs at
``max_ratio`` 8 (real scans lose 0-27 points), because a surface region 8 times sparser than
the median has 64 times fewer points per area and pins the surface down no better than
the field's smoothness does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdfrecon.base.errors import ConfigError
from sdfrecon.base.kdtree import point_tree


@dataclass
class OutlierConfig:
    """Which points of a cloud are dropped as strays before anything else sees it."""

    max_ratio: float = 0.0
    """A point whose distance to its ``neighbours``-th nearest neighbour exceeds this many
    times the cloud's median of that distance is dropped; 0 keeps every point."""
    neighbours: int = 8
    """Which neighbour's distance measures isolation (a few strays close together still
    have their ``neighbours``-th neighbour far away)."""

    @property
    def enabled(self) -> bool:
        return self.max_ratio > 0

    def validate(self, path: str) -> None:
        if self.max_ratio < 0 or (0 < self.max_ratio <= 1):
            raise ConfigError(f"{path}.max_ratio: must be 0 (off) or > 1, got {self.max_ratio}")
        if self.neighbours < 1:
            raise ConfigError(f"{path}.neighbours: must be >= 1, got {self.neighbours}")


def stray_points(points: np.ndarray, cfg: OutlierConfig) -> np.ndarray:
    """Which of ``points`` are strays.

    Parameters
    ----------
    points : (N, 3) float ndarray
        Positions, any units (the test is scale-free).
    cfg : OutlierConfig

    Returns
    -------
    (N,) bool ndarray
        True for the points to drop; all False when the test is off or the cloud has no
        more than ``cfg.neighbours`` points.
    """
    strays = np.zeros(len(points), dtype=bool)
    if not cfg.enabled or len(points) <= cfg.neighbours:
        return strays
    distance, _ = point_tree(points).query(points, k=cfg.neighbours + 1)  # the first is the point itself
    kth = distance[:, -1]
    typical = float(np.median(kth))
    if typical <= 0:
        return strays  # more than half the points repeat: no scale to measure against
    return kth > cfg.max_ratio * typical
