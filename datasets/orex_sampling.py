"""OReX's hierarchical sampling levels and coarse-to-fine schedule, registered as ``orex``.

From OReX (Sawdayee et al., CVPR 2023) and its code (haimsaw/OReX, commit
089db1f: ``Dataset/Sampler.py``, ``Trainer.py``, ``Globals.py``); written anew.

Each refinement level ``l`` is a fixed set of labelled points, built once:

* per plane, in a 2D frame through the mean of its vertices along their
  principal axes (OReX projects by PCA):

  - ``n_l`` points along every contour edge (``t = 0, 1/n_l, ...``), each
    moved by ``+-r_l`` along the edge normal -- labelled by point-in-polygon,
    group ``plane``; the unmoved points are labelled 0.5 (on the surface),
    group ``contour``;
  - ``n_l`` points on a circle of radius ``r_l`` around every vertex, labelled
    (group ``plane``);
  - ``noise_points`` uniform points in a square of half side ``noise_half_side``
    around the vertex mean, labelled (group ``plane``);

* ``hull_points`` points on the convex hull of all contour vertices grown by
  ``1 + hull_margin`` about their mean, labelled outside (group ``exterior``).

Radii ``r_l = frame_scale * 0.5 ** radius_exponents[l]`` shrink level by level
and ``n_l = edge_samples[l]`` grows, so finer levels sample closer to the
contours. Training opens the levels one after another, and every step draws
``batch_size`` points uniformly from the newest ``used_levels`` levels (OReX
trains on the last 3 level datasets, shuffled). Level ``l`` lasts
``level_epochs[l]`` epochs in OReX, an epoch being one pass over the levels in
use; here it lasts the matching share of the training steps
(``epochs x points in use``), so the time spent per level is as in OReX.

Labels follow sdfrecon: 1 inside, 0 outside (OReX's are the opposite; its
loss reads them as ``1 - label``, which is the same BCE).

Frames: OReX moves the contours' mean to the origin and, when some coordinate
exceeds 1, divides by ``1.1 x`` the largest; sdfrecon's unit frame puts the
longest half side of the bounding box at 1. ``frame_scale`` (1.1) converts
OReX's lengths (radii, the noise square) to this frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from sdfrecon.base.errors import ConfigError
from sdfrecon.datasets.sampling import SAMPLERS, SampleBatch, SamplerConfig
from sdfrecon.datasets.slices import PlaneSlice, SliceSet

PLANE, CONTOUR, EXTERIOR = 0, 1, 2
GROUP_NAMES = ("plane", "contour", "exterior")


@dataclass
class OReXSamplerConfig(SamplerConfig):
    """OReX's level datasets and their schedule (see module doc)."""

    name: str = "orex"
    batch_size: int = 16384
    """Points per step (OReX: 2^14)."""
    radius_exponents: list[int] = field(default_factory=lambda: [4, 5, 5, 6, 6, 7])
    """Per level: the sampling radius is ``frame_scale * 0.5 ** exponent``."""
    edge_samples: list[int] = field(default_factory=lambda: [2, 2, 3, 3, 4, 5])
    """Per level: points per edge (each moved both ways) and per vertex circle."""
    level_epochs: list[int] = field(default_factory=lambda: [50, 50, 100, 100, 150, 200])
    """Per level: OReX's epochs, which set each level's share of the training steps."""
    used_levels: int = 3
    """Newest levels drawn from at each step."""
    noise_points: int = 2048
    """Uniform points per plane."""
    noise_half_side: float = 1.0
    """Half side of each plane's noise square, in OReX's frame (times ``frame_scale`` here)."""
    hull_points: int = 16384
    """Points on the grown convex hull per level, labelled outside."""
    hull_margin: float = 0.05
    """The hull is grown by ``1 + hull_margin`` about the vertices' mean."""
    frame_scale: float = 1.1
    """Lengths of OReX's frame in this one (see module doc)."""

    input_kind: ClassVar[str] = "slices"
    """The kind of input it samples (see :mod:`sdfrecon.datasets.inputs`)."""

    def validate(self, path: str) -> None:
        levels = len(self.level_epochs)
        if levels < 1:
            raise ConfigError(f"{path}.level_epochs: needs at least one level")
        if len(self.radius_exponents) < levels or len(self.edge_samples) < levels:
            raise ConfigError(f"{path}: radius_exponents and edge_samples need an entry for each of the "
                              f"{levels} levels of level_epochs")
        if any(e <= 0 for e in self.level_epochs) or any(n < 1 for n in self.edge_samples[:levels]):
            raise ConfigError(f"{path}: level_epochs must be > 0 and edge_samples >= 1")
        if self.batch_size < 1 or self.used_levels < 1:
            raise ConfigError(f"{path}: batch_size and used_levels must be >= 1")
        if self.noise_points < 0 or self.hull_points < 0 or self.hull_margin < 0:
            raise ConfigError(f"{path}: noise_points, hull_points and hull_margin must be >= 0")
        if not (self.noise_half_side > 0 and self.frame_scale > 0):
            raise ConfigError(f"{path}: noise_half_side and frame_scale must be > 0")

    def radius(self, level: int) -> float:
        """Sampling radius of ``level``, unit frame."""
        return self.frame_scale * 0.5 ** self.radius_exponents[level]


# ----------------------------------------------------------------- level sets


def _principal_frame(plane: PlaneSlice) -> tuple[np.ndarray, np.ndarray]:
    """Centre (2,) and axes (2, 2) (rows) of the plane's vertices in its 2D frame (PCA)."""
    if plane.is_empty:
        return np.zeros(2), np.eye(2)
    uv = np.concatenate(plane.loops_2d())
    centre = uv.mean(axis=0)
    _, _, axes = np.linalg.svd(uv - centre, full_matrices=False)
    return centre, axes


def plane_samples(plane: PlaneSlice, cfg: OReXSamplerConfig, level: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One plane's samples of ``level``: points (M, 3), labels (M,), groups (M,) (module doc)."""
    r, n = cfg.radius(level), cfg.edge_samples[level]
    centre, axes = _principal_frame(plane)
    parts_uv, parts_group = [], []
    contour_uv = np.zeros((0, 2))
    if not plane.is_empty:
        loops = plane.loops_2d()
        starts = np.concatenate(loops)
        ends = np.concatenate([np.roll(lp, -1, axis=0) for lp in loops])
        direction = starts - ends
        length = np.linalg.norm(direction, axis=1, keepdims=True)
        normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1) / np.maximum(length, 1e-300)
        t = np.arange(n) / n  # OReX: d * start + (1 - d) * end for d = 0, 1/n, ...
        on_edge = (t[None, :, None] * starts[:, None] + (1.0 - t[None, :, None]) * ends[:, None]).reshape(-1, 2)
        offset = np.repeat(normal, n, axis=0) * r
        angles = np.linspace(-np.pi, np.pi, n, endpoint=False)
        circle = r * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        around_vertex = (starts[:, None] + circle[None]).reshape(-1, 2)
        parts_uv += [around_vertex, on_edge + offset, on_edge - offset]
        parts_group += [np.full(len(around_vertex) + 2 * len(on_edge), PLANE)]
        contour_uv = on_edge
    half = cfg.noise_half_side * cfg.frame_scale
    noise = centre + rng.uniform(-half, half, size=(cfg.noise_points, 2)) @ axes
    parts_uv.append(noise)
    parts_group.append(np.full(len(noise), PLANE))
    labelled = np.concatenate(parts_uv)
    labels = plane.contains_2d(labelled).astype(np.float32) if not plane.is_empty else np.zeros(len(labelled),
                                                                                                np.float32)
    points = plane.from_2d(np.concatenate([labelled, contour_uv]))
    labels = np.concatenate([labels, np.full(len(contour_uv), 0.5, np.float32)])
    groups = np.concatenate(parts_group + [np.full(len(contour_uv), CONTOUR)])
    return points, labels, groups


def hull_samples(slices: SliceSet, cfg: OReXSamplerConfig, rng: np.random.Generator) -> np.ndarray:
    """``cfg.hull_points`` points (area-uniform) on the convex hull of the contour vertices,
    grown by ``1 + hull_margin`` about their mean, (M, 3)."""
    import trimesh
    from scipy.spatial import ConvexHull, QhullError

    if cfg.hull_points == 0:
        return np.zeros((0, 3))
    verts = slices.vertices()
    centre = verts.mean(axis=0)
    grown = centre + (verts - centre) * (1.0 + cfg.hull_margin)
    try:
        hull = ConvexHull(grown)
    except QhullError:  # flat input (cannot happen for a validated SliceSet): no hull samples
        return np.zeros((0, 3))
    mesh = trimesh.Trimesh(hull.points, hull.simplices, process=False)
    areas = mesh.area_faces
    face = rng.choice(len(areas), size=cfg.hull_points, p=areas / areas.sum())
    a, b = rng.uniform(size=(2, cfg.hull_points, 1))
    flip = (a + b) > 1.0
    a, b = np.where(flip, 1.0 - a, a), np.where(flip, 1.0 - b, b)
    tri = mesh.triangles[face]
    return tri[:, 0] + a * (tri[:, 1] - tri[:, 0]) + b * (tri[:, 2] - tri[:, 0])


@dataclass
class LevelSet:
    """The samples of one level: points (M, 3), labels (M,), groups (M,) on the device."""

    points: torch.Tensor
    labels: torch.Tensor
    groups: torch.Tensor


def level_sets(slices: SliceSet, cfg: OReXSamplerConfig, seed: int) -> list[tuple[np.ndarray, ...]]:
    """Every level's (points, labels, groups) on the host, unit frame."""
    rng = np.random.default_rng(seed)
    out = []
    for level in range(len(cfg.level_epochs)):
        parts = [plane_samples(p, cfg, level, rng) for p in slices.planes]
        hull = hull_samples(slices, cfg, rng)
        points = np.concatenate([p for p, _, _ in parts] + [hull])
        labels = np.concatenate([lab for _, lab, _ in parts] + [np.zeros(len(hull), np.float32)])
        groups = np.concatenate([g for _, _, g in parts] + [np.full(len(hull), EXTERIOR)])
        out.append((points, labels, groups))
    return out


def level_starts(cfg: OReXSamplerConfig, sizes: list[int]) -> np.ndarray:
    """Fraction of training at which each level opens: level ``l`` lasts ``level_epochs[l] x``
    the points in use (its window of ``used_levels`` levels), as OReX's epochs do."""
    work = []
    for level, epochs in enumerate(cfg.level_epochs):
        window = range(max(0, level - cfg.used_levels + 1), level + 1)
        work.append(epochs * sum(sizes[i] for i in window))
    bounds = np.concatenate([[0.0], np.cumsum(work)]) / float(sum(work))
    return bounds[:-1]


# ----------------------------------------------------------------- sampler


class OReXSampler:
    """Draws OReX's level samples on ``device`` (see module doc).

    Parameters
    ----------
    cfg : OReXSamplerConfig
    slices : SliceSet
        Cross-sections in the unit frame.
    device : torch.device
    seed : int
        Seeds the level sets (host) and the device generator.
    """

    def __init__(self, cfg: OReXSamplerConfig, slices: SliceSet, device: torch.device, seed: int):
        self.cfg = cfg
        self.device = device
        host = level_sets(slices, cfg, seed)
        self.levels = [LevelSet(torch.as_tensor(p, dtype=torch.float32, device=device),
                                torch.as_tensor(lab, dtype=torch.float32, device=device),
                                torch.as_tensor(g, dtype=torch.int64, device=device)) for p, lab, g in host]
        self.starts = level_starts(cfg, [len(p) for p, _, _ in host])
        present = set(np.concatenate([g for _, _, g in host]).tolist())
        self.groups = tuple(name for code, name in enumerate(GROUP_NAMES) if code in present)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.level = -1
        self.set_training_progress(0.0)

    def set_training_progress(self, fraction: float) -> None:
        """Open the level whose share of training has begun; draw from it and the
        ``used_levels - 1`` before it."""
        level = int(np.searchsorted(self.starts, fraction, side="right") - 1)
        level = min(max(level, 0), len(self.levels) - 1)
        if level == self.level:
            return
        self.level = level
        window = self.levels[max(0, level - self.cfg.used_levels + 1): level + 1]
        self.active = LevelSet(torch.cat([w.points for w in window]), torch.cat([w.labels for w in window]),
                               torch.cat([w.groups for w in window]))

    def sample(self) -> SampleBatch:
        active = self.active
        idx = torch.randint(len(active.points), (self.cfg.batch_size,), device=self.device, generator=self.generator)
        points, labels, groups = active.points[idx], active.labels[idx], active.groups[idx]
        batch = SampleBatch(points={})
        for code, name in enumerate(GROUP_NAMES):
            if name not in self.groups:
                continue
            rows = groups == code
            batch.points[name] = points[rows]
            batch.labels[name] = labels[rows]
        return batch

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


@SAMPLERS.register("orex", config_cls=OReXSamplerConfig)
def build_orex_sampler(cfg: OReXSamplerConfig, *, data, device: torch.device, seed: int) -> OReXSampler:
    """Build an :class:`OReXSampler` from a unit-frame :class:`~sdfrecon.datasets.slices.SliceSet`."""
    if not isinstance(data, SliceSet):
        raise ConfigError(f"sampler.name: 'orex' needs cross-section input, got {getattr(data, 'kind', '?')}")
    return OReXSampler(cfg, data, device, seed)
