"""Training samples for a learned shape prior: noisy scans with labelled query points.

A *training shape* is anything that can give surface samples and say which points
are inside, in its own (canonical) frame:

* :class:`ProceduralSource` -- a seeded procedural solid (:mod:`.procedural`);
  the sign of its implicit function labels points exactly;
* :class:`MeshSource` -- a watertight mesh (the ``meshes`` and ``srb`` suite
  layouts); Open3D ray casting labels points (parity, majority of 3 rays);
* :class:`LabelledSource` -- surface points plus labelled occupancy points
  (ShapeNet as preprocessed by ONet: ``pointcloud.npz`` + ``points.npz``).

:func:`make_sample` turns one into a training sample the way a user's scan
reaches the network: a random rotation and per-axis scale (augmentation), a
subset of ``input_points`` surface points with Gaussian noise and optional
missing regions, normalised by their own bounding box exactly as
:class:`~sdfrecon.datasets.normalize.Normalization` does at inference; query points
uniform in the grid's cube and near the surface, with their inside labels.

:class:`PriorDataset` is a map-style ``torch.utils.data.Dataset`` over such
shapes (deterministic per ``(seed, epoch, index)``, so a resumed or distributed
run draws the same samples).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import trimesh

from sdfrecon.base.errors import ConfigError, InputError
from sdfrecon.datasets.benchmarks import ScanOptions, read_suite
from sdfrecon.datasets.normalize import Normalization
from sdfrecon.datasets.procedural import FAMILIES, procedural_shape

log = logging.getLogger(__name__)


@dataclass
class SampleOptions:
    """How a training sample is drawn from a shape (unit-frame lengths: inputs fill [-1, 1])."""

    input_points: int = 3000
    """Input points per shape (GridFormer's ShapeNet setting: 3000)."""
    noise: list[float] = field(default_factory=lambda: [0.0, 0.01])
    """Range of the Gaussian noise sigma, drawn per sample (the paper's 0.005 of a unit cube is 0.01 here)."""
    query_points: int = 2048
    """Labelled query points per shape."""
    near_fraction: float = 0.6
    """Fraction of queries near the surface; the rest are uniform in the grid's cube."""
    near_sigmas: list[float] = field(default_factory=lambda: [0.01, 0.03, 0.1])
    """Offsets of near-surface queries: Gaussian, sigma drawn from these per point."""
    domain: float = 1.1
    """Half side of the cube uniform queries fill (the model's grid extent)."""
    rotate: bool = True
    """Rotate each sample randomly (scans come in any orientation)."""
    scale_jitter: float = 0.25
    """Per-axis scale drawn from [1 - j, 1 + j] before rotating."""
    max_holes: int = 2
    """Up to this many missing regions per input (drawn 0..max_holes)."""
    hole_radius: float = 0.15
    """Radius of each missing region."""

    def validate(self, path: str) -> None:
        if self.input_points < 10 or self.query_points < 1:
            raise ConfigError(f"{path}: input_points must be >= 10 and query_points >= 1")
        if len(self.noise) != 2 or min(self.noise) < 0 or self.noise[0] > self.noise[1]:
            raise ConfigError(f"{path}.noise: expected [low, high] with 0 <= low <= high, got {self.noise}")
        if not 0.0 <= self.near_fraction <= 1.0 or not self.near_sigmas or min(self.near_sigmas) <= 0:
            raise ConfigError(f"{path}: near_fraction must lie in [0, 1] and near_sigmas be > 0")
        if self.domain <= 1.0 or not 0 <= self.scale_jitter < 1 or self.max_holes < 0 or self.hole_radius < 0:
            raise ConfigError(f"{path}: domain > 1, 0 <= scale_jitter < 1, max_holes >= 0, hole_radius >= 0")


@dataclass
class PriorDataConfig:
    """Which shapes a prior trains on, and how samples are drawn from them."""

    procedural: int = 1000
    """Procedural shapes (seeds ``procedural_seed ..``); 0 = suite shapes only."""
    procedural_seed: int = 0
    """First seed of the procedural shapes (held-out shapes for validation come after the last)."""
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    """Procedural families drawn from."""
    suite_repeats: int = 10
    """Times each suite shape appears per epoch (suites are small next to the procedural set)."""
    samples: SampleOptions = field(default_factory=SampleOptions)
    """How a sample is drawn from a shape."""

    def validate(self, path: str) -> None:
        if self.procedural < 0 or self.suite_repeats < 1:
            raise ConfigError(f"{path}: procedural must be >= 0 and suite_repeats >= 1")
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ConfigError(f"{path}.families: expected some of {', '.join(FAMILIES)}, got {self.families}")


class TrainingShape(Protocol):
    """A shape to draw training samples from (canonical frame)."""

    name: str
    fixed_labels: tuple[np.ndarray, np.ndarray] | None
    """Labelled points (Q, 3) and labels (Q,) bool when the shape has no inside test (else None)."""

    def surface(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` surface samples (count, 3)."""
        ...

    def inside(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool inside labels of (N, 3) points (only called when ``fixed_labels`` is None)."""
        ...


# ---------------------------------------------------------------- sources


class ProceduralSource:
    """The procedural solid of one seed; meshed once (lazily), then sampled from a cached pool.

    Parameters
    ----------
    seed : int
    pool : int
        Surface samples kept in memory per shape (inputs are subsets of them).
    families : tuple of str
        Procedural families to draw from.
    """

    def __init__(self, seed: int, pool: int = 6000, families: tuple[str, ...] | list[str] = FAMILIES):
        self.seed = seed
        self.name = f"procedural_{seed}"
        self.fixed_labels = None
        self.pool_size = pool
        self.families = tuple(families)
        self._pool: np.ndarray | None = None
        self._value = None

    def _load(self) -> None:
        shape = procedural_shape(self.seed, families=self.families)
        rng = np.random.default_rng([self.seed, 7])
        self._pool = shape.surface_points(self.pool_size, rng).astype(np.float32)
        self._value = shape.value

    def surface(self, count: int, rng: np.random.Generator) -> np.ndarray:
        if self._pool is None:
            self._load()
        pick = rng.choice(len(self._pool), size=count, replace=count > len(self._pool))
        return self._pool[pick].astype(np.float64)

    def inside(self, points: np.ndarray) -> np.ndarray:
        if self._value is None:
            self._load()
        return self._value(points) < 0


def _canonical(points: np.ndarray) -> Normalization:
    """The frame a source is kept in: bounding box centred, longest half side 1."""
    return Normalization.fit(points)


class MeshSource:
    """A watertight mesh; labels from Open3D ray-casting parity (majority of 3 rays)."""

    def __init__(self, name: str, mesh: trimesh.Trimesh):
        frame = _canonical(np.asarray(mesh.vertices))
        self.name = name
        self.fixed_labels = None
        self.mesh = trimesh.Trimesh(frame.to_unit(mesh.vertices), np.asarray(mesh.faces), process=False)
        self._scene = None

    def surface(self, count: int, rng: np.random.Generator) -> np.ndarray:
        points, _ = trimesh.sample.sample_surface(self.mesh, count, seed=rng)
        return np.asarray(points, dtype=np.float64)

    def inside(self, points: np.ndarray) -> np.ndarray:
        import open3d as o3d

        if self._scene is None:  # built lazily: Open3D scenes do not pickle into data-loader workers
            self._scene = o3d.t.geometry.RaycastingScene()
            self._scene.add_triangles(o3d.core.Tensor(np.asarray(self.mesh.vertices, dtype=np.float32)),
                                      o3d.core.Tensor(np.asarray(self.mesh.faces, dtype=np.uint32)))
        query = o3d.core.Tensor(np.asarray(points, dtype=np.float32))
        return self._scene.compute_occupancy(query, nsamples=3).numpy() > 0.5

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_scene": None}


class LabelledSource:
    """Surface points plus labelled occupancy points (ONet ``pointcloud.npz`` + ``points.npz``)."""

    def __init__(self, name: str, surface_points: np.ndarray, occupancy_points: np.ndarray, occupancies: np.ndarray):
        frame = _canonical(surface_points)
        self.name = name
        self.points = frame.to_unit(surface_points)
        self.fixed_labels = (frame.to_unit(occupancy_points), np.asarray(occupancies, dtype=bool))

    def surface(self, count: int, rng: np.random.Generator) -> np.ndarray:
        return self.points[rng.choice(len(self.points), size=count, replace=count > len(self.points))]

    def inside(self, points: np.ndarray) -> np.ndarray:
        raise NotImplementedError("labelled shapes have fixed labels only")


def suite_sources(folder: str | Path, layout: str = "auto") -> list[TrainingShape]:
    """Training shapes of a benchmark suite folder (see :mod:`sdfrecon.datasets.benchmarks`).

    A shape with a watertight ground-truth mesh becomes a :class:`MeshSource`; one
    with labelled occupancy points (ONet ``points.npz``) a :class:`LabelledSource`;
    others are skipped with a warning (nothing says what is inside them).

    Raises
    ------
    InputError
        Not a suite, or no shape of it is usable.
    """
    sources: list[TrainingShape] = []
    skipped = []
    for shape in read_suite(folder, layout, ScanOptions(points=10)):
        item = shape.load()
        if item.gt_mesh is not None and item.gt_mesh.is_watertight:
            sources.append(MeshSource(item.name, item.gt_mesh))
        elif item.occupancy_points is not None and item.gt_points is not None:
            sources.append(LabelledSource(item.name, item.gt_points, item.occupancy_points, item.occupancies))
        else:
            skipped.append(item.name)
    if skipped:
        log.warning("%s: skipped %d shape(s) without a watertight mesh or occupancy labels: %s",
                    folder, len(skipped), ", ".join(skipped))
    if not sources:
        raise InputError("has no shape with a watertight ground-truth mesh or occupancy labels (points.npz) "
                         "to train on", folder)
    return sources


def training_shapes(cfg: PriorDataConfig, suites: list[str | Path] = (), layout: str = "auto"
                    ) -> tuple[list[TrainingShape], list[int]]:
    """The training shapes ``cfg`` asks for plus those of ``suites``, and their repeats per epoch.

    Raises
    ------
    ConfigError
        Nothing to train on (no suite and ``procedural`` = 0).
    InputError
        A suite folder is unusable.
    """
    shapes: list[TrainingShape] = [ProceduralSource(cfg.procedural_seed + i, families=cfg.families)
                                   for i in range(cfg.procedural)]
    repeats = [1] * len(shapes)
    for folder in suites:
        found = suite_sources(folder, layout)
        shapes += found
        repeats += [cfg.suite_repeats] * len(found)
    if not shapes:
        raise ConfigError("nothing to train on: give a suite (--suite DIR) or procedural shapes (data.procedural > 0)")
    return shapes, repeats


# ---------------------------------------------------------------- samples


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation matrix (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _drop_holes(points: np.ndarray, rng: np.random.Generator, holes: int, radius: float) -> np.ndarray:
    """``points`` without those within ``radius`` of ``holes`` random ones of them."""
    if holes == 0:
        return points
    centres = points[rng.choice(len(points), size=holes, replace=False)]
    far = np.all(np.linalg.norm(points[:, None, :] - centres[None], axis=2) > radius, axis=1)
    return points[far] if far.sum() >= 10 else points


def make_sample(shape: TrainingShape, rng: np.random.Generator, options: SampleOptions) -> dict[str, np.ndarray]:
    """One training sample of ``shape`` (see module doc).

    Returns
    -------
    dict
        ``points`` (input_points, 3) float32 input scan, unit frame;
        ``queries`` (query_points, 3) float32, unit frame;
        ``occupancy`` (query_points,) float32, 1 inside, 0 outside.
    """
    o = options
    transform = np.diag(rng.uniform(1 - o.scale_jitter, 1 + o.scale_jitter, 3))
    if o.rotate:
        transform = random_rotation(rng) @ transform
    inverse = np.linalg.inv(transform)
    near_count = 0 if shape.fixed_labels is not None else int(round(o.query_points * o.near_fraction))
    # Inputs: surface samples (extra so missing regions can be cut), transformed, noisy.
    surface = shape.surface(int(o.input_points * 1.5) + near_count, rng) @ transform.T
    scan, near_base = surface[: len(surface) - near_count], surface[len(surface) - near_count:]
    scan = _drop_holes(scan, rng, int(rng.integers(0, o.max_holes + 1)), o.hole_radius * _half_extent(scan))
    scan = scan[rng.choice(len(scan), size=o.input_points, replace=len(scan) < o.input_points)]
    sigma = rng.uniform(*o.noise) * _half_extent(scan)
    scan = scan + rng.normal(scale=sigma, size=scan.shape)
    frame = Normalization.fit(scan)
    if shape.fixed_labels is None:
        uniform = rng.uniform(-o.domain, o.domain, size=(o.query_points - near_count, 3))
        sigmas = rng.choice(np.asarray(o.near_sigmas), size=(near_count, 1))
        near = frame.to_unit(near_base) + rng.normal(size=(near_count, 3)) * sigmas
        queries = np.concatenate([uniform, near])
        labels = shape.inside(frame.to_world(queries) @ inverse.T)
    else:  # fixed labelled points (ONet points.npz)
        pool_points, pool_labels = shape.fixed_labels
        pick = rng.choice(len(pool_points), size=o.query_points, replace=len(pool_points) < o.query_points)
        queries = frame.to_unit(pool_points[pick] @ transform.T)
        labels = pool_labels[pick]
    return {"points": frame.to_unit(scan).astype(np.float32), "queries": queries.astype(np.float32),
            "occupancy": np.asarray(labels, dtype=np.float32)}


def _half_extent(points: np.ndarray) -> float:
    """Half the longest side of the bounding box of (N, 3) points (the unit-frame length)."""
    return float((points.max(axis=0) - points.min(axis=0)).max()) / 2.0


class PriorDataset(torch.utils.data.Dataset):
    """Training samples of a list of shapes; item ``i`` of epoch ``e`` is drawn from
    shape ``order[i]`` (each shape ``repeats`` times) with the generator ``(seed, e, i)``.

    Parameters
    ----------
    shapes : list of TrainingShape
    options : SampleOptions
    seed : int
    repeats : list of int, optional
        Times each shape appears per epoch (default once each).
    """

    def __init__(self, shapes: list[TrainingShape], options: SampleOptions, seed: int = 0,
                 repeats: list[int] | None = None):
        if not shapes:
            raise InputError("no training shapes")
        self.shapes = shapes
        self.options = options
        self.seed = seed
        counts = repeats or [1] * len(shapes)
        self.order = np.repeat(np.arange(len(shapes)), counts)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the samples of ``epoch`` for plain integer keys."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """Item ``key`` of the current epoch, or ``key = (epoch, index)`` of any epoch."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        sample = make_sample(self.shapes[int(self.order[index])], rng, self.options)
        return {k: torch.from_numpy(v) for k, v in sample.items()}
