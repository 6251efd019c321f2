"""What training consumes, and reading it from a path of any supported kind.

Two kinds of input exist: point clouds (:class:`~sdfrecon.datasets.pointcloud.PointCloud`)
and planar cross-sections (slices). Both satisfy :class:`TrainingData`, which is
all the reconstruct pipeline needs: a kind, a bounding extent, a way to move into
the unit frame, and a summary for the run record. Samplers know the concrete type.

Each file format registers an :class:`InputFormat` in :data:`INPUT_FORMATS`
(point clouds and meshes in :mod:`.readers`, ``.csl`` contours in :mod:`.csl`,
mask stacks in :mod:`.masks`); :func:`read_input` asks them in order of
``priority`` which one claims a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from sdfrecon.base.errors import ConfigError, InputError
from sdfrecon.base.registry import Registry
from sdfrecon.datasets.normalize import Normalization

if TYPE_CHECKING:
    from sdfrecon.datasets.masks import MaskOptions
    from sdfrecon.datasets.readers import ReadOptions


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


@dataclass(frozen=True)
class InputOptions:
    """Everything a reader may need besides the path."""

    read: "ReadOptions | None" = None
    """Point-cloud / mesh options (mesh sampling count and seed)."""
    masks: "MaskOptions | None" = None
    """Spacing, origin and slice axis of a mask stack; None = not given."""

    def refuse_mask_options(self, what: str) -> None:
        """Mask options given for an input that is not a mask stack are a mistake."""
        if self.masks is not None and not self.masks.is_default:
            raise ConfigError(f"--spacing/--origin/--axis apply to mask folders and volumes, not to {what}")


@dataclass(frozen=True)
class InputFormat:
    """One kind of input file (or folder) and how to read it.

    Attributes
    ----------
    kind : str
        ``"points"`` or ``"slices"`` (what the data is, for the default preset).
    suffixes : callable
        ``() -> tuple of str``: the file extensions it reads (lower case); a
        *folder* named with one of them is refused as a mistaken path.
    matches : callable
        ``(path) -> bool``: whether this format claims an existing path.
    read : callable
        ``(path, InputOptions) -> TrainingData``.
    priority : int
        Formats are asked in increasing priority; the catch-all comes last.
    """

    kind: str
    suffixes: Callable[[], tuple[str, ...]]
    matches: Callable[[Path], bool]
    read: Callable[[Path, InputOptions], TrainingData]
    priority: int = 50


INPUT_FORMATS: Registry[InputFormat] = Registry("input format", providers="sdfrecon.datasets")
"""Input formats by name (``points``, ``csl``, ``masks``)."""


def file_suffixes() -> set[str]:
    """Every file extension some input format reads."""
    return {s for entry in INPUT_FORMATS.entries() for s in entry.builder.suffixes()}


def input_format(path: str | Path) -> InputFormat:
    """The format that claims ``path`` (the catch-all point reader when none does)."""
    p = Path(path)
    for entry in sorted(INPUT_FORMATS.entries(), key=lambda e: e.builder.priority):
        if entry.builder.matches(p):
            return entry.builder
    raise InputError("is not a supported input", p)  # unreachable while the catch-all exists


def input_kind(path: str | Path) -> str:
    """``"slices"`` for cross-section inputs (``.csl`` files, mask folders, 3D ``.npy``/``.npz``
    volumes), else ``"points"``."""
    return input_format(path).kind


def read_input(path: str | Path, options: "ReadOptions | None" = None,
               mask_options: "MaskOptions | None" = None) -> TrainingData:
    """Read any supported input.

    Parameters
    ----------
    path : str or Path
        A point cloud or mesh (see :func:`sdfrecon.datasets.readers.read_point_cloud`), a
        ``.csl`` contour file (:func:`sdfrecon.datasets.csl.read_csl`), or a mask stack --
        a folder of PNGs or a 3D ``.npy``/``.npz`` volume
        (:func:`sdfrecon.datasets.masks.read_mask_stack`).
    options : ReadOptions, optional
        Point-cloud / mesh sampling options.
    mask_options : MaskOptions, optional
        Spacing, origin and slice axis of a mask stack; an error for other inputs
        unless left at the defaults.

    Returns
    -------
    TrainingData
        A :class:`~sdfrecon.datasets.pointcloud.PointCloud` or a :class:`~sdfrecon.datasets.slices.SliceSet`.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", p)
    if p.is_dir() and p.suffix.lower() in file_suffixes():
        raise InputError(f"is a directory, expected a {p.suffix.lower()} file", p)
    return input_format(p).read(p, InputOptions(read=options, masks=mask_options))
