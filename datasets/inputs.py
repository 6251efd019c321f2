"""What training consumes, and reading it from a path of any supported kind.

Two kinds of input exist: point clouds (:class:`~datasets.pointcloud.PointCloud`)
and planar cross-sections (slices). Both satisfy :class:`TrainingData`, which is
all the reconstruct pipeline needs: a kind, a bounding extent, a way to move into
the unit frame, and a summary for the run record. Samplers know the concrete type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from datasets.normalize import Normalization
from datasets.readers import ReadOptions, read_point_cloud

SLICE_EXTENSIONS: tuple[str, ...] = (".csl",)
"""File extensions holding cross-sections rather than points."""


class TrainingData(Protocol):
    """An input the reconstruct pipeline can train on."""

    kind: str
    """``"points"`` or ``"slices"``; picks the default preset."""
    source: str
    """File (or description) it came from."""

    def extent_points(self) -> np.ndarray:
        """(N, 3) world points whose bounding box the surface is expected to fill."""
        ...

    def transformed(self, normalization: Normalization) -> "TrainingData":
        """The same data in ``normalization``'s unit frame."""
        ...

    def summary(self) -> dict:
        """JSON-ready description for run records."""
        ...


def input_kind(path: str | Path) -> str:
    """``"slices"`` for cross-section inputs (``.csl`` files, mask folders/volumes), else ``"points"``."""
    p = Path(path)
    if p.suffix.lower() in SLICE_EXTENSIONS or p.is_dir():
        return "slices"
    return "points"


def read_input(path: str | Path, options: ReadOptions | None = None) -> TrainingData:
    """Read any supported input; see :func:`datasets.readers.read_point_cloud`."""
    return read_point_cloud(path, options)
