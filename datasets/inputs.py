"""What training consumes, and reading it from a path of any supported kind.

Two kinds of input exist: point clouds (:class:`~datasets.pointcloud.PointCloud`)
and planar cross-sections (slices). Both satisfy :class:`TrainingData`, which is
all the reconstruct pipeline needs: a kind, a bounding extent, a way to move into
the unit frame, and a summary for the run record. Samplers know the concrete type.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from datasets.normalize import Normalization
from datasets.readers import ReadOptions, read_point_cloud
from sdf.errors import ConfigError, InputError

if TYPE_CHECKING:
    from datasets.masks import MaskOptions

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
    """``"slices"`` for cross-section inputs (``.csl`` files, mask folders, 3D ``.npy``/``.npz``
    volumes), else ``"points"``."""
    from datasets.masks import is_mask_stack

    from datasets.readers import supported_extensions

    p = Path(path)
    if p.suffix.lower() in SLICE_EXTENSIONS:
        return "slices"
    if p.suffix.lower() in supported_extensions() and p.is_dir():
        return "points"  # a folder named like a point file: read_input reports it
    return "slices" if is_mask_stack(p) else "points"


def read_input(path: str | Path, options: ReadOptions | None = None,
               mask_options: "MaskOptions | None" = None) -> TrainingData:
    """Read any supported input.

    Parameters
    ----------
    path : str or Path
        A point cloud or mesh (see :func:`datasets.readers.read_point_cloud`), a
        ``.csl`` contour file (:func:`datasets.csl.read_csl`), or a mask stack --
        a folder of PNGs or a 3D ``.npy``/``.npz`` volume
        (:func:`datasets.masks.read_mask_stack`).
    options : ReadOptions, optional
        Point-cloud / mesh sampling options.
    mask_options : MaskOptions, optional
        Spacing, origin and slice axis of a mask stack; an error for other inputs
        unless left at the defaults.

    Returns
    -------
    TrainingData
        A :class:`~datasets.pointcloud.PointCloud` or a :class:`~datasets.slices.SliceSet`.
    """
    from datasets.masks import MaskOptions, is_mask_stack, read_mask_stack

    from datasets.readers import supported_extensions

    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", p)
    if p.is_dir() and p.suffix.lower() in (*SLICE_EXTENSIONS, *supported_extensions()):
        raise InputError(f"is a directory, expected a {p.suffix.lower()} file", p)
    if p.suffix.lower() in SLICE_EXTENSIONS:
        from datasets.csl import read_csl

        _no_mask_options(mask_options, "a .csl file")
        return read_csl(p)
    if is_mask_stack(p):
        return read_mask_stack(p, mask_options or MaskOptions())
    _no_mask_options(mask_options, "a point cloud or mesh")
    return read_point_cloud(path, options)


def _no_mask_options(mask_options: "MaskOptions | None", what: str) -> None:
    if mask_options is not None and not mask_options.is_default:
        raise ConfigError(f"--spacing/--origin/--axis apply to mask folders and volumes, not to {what}")
