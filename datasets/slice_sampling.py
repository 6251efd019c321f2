"""Training samples from planar cross-sections (OReX-style), registered as ``slices``.

Groups of a :class:`~sdfrecon.datasets.sampling.SampleBatch` (unit frame):

* ``plane`` -- uniform points on the planes (inside the sampling cube), labelled
  1 inside a contour, 0 outside (even-odd rule, so holes work);
* ``band`` -- points near the contours, on their planes: a contour point moved
  in-plane by a distance ``r`` (along the edge normal, or in a random direction
  around a vertex for corners), labelled by point-in-polygon. ``r`` comes from
  ``levels`` geometric scales from ``band_max`` down to ``band_min``;
* ``contour`` -- points on the contours, labelled 0.5 (the surface);
* ``uniform`` -- unlabelled uniform points in the cube (for the eikonal term);
* ``near`` -- unlabelled contour points jittered in 3D by a Gaussian of the
  current scale ``r``, so regularisation is dense where the surface is;
* ``exterior`` -- points of the cube outside the meshing box (the input extent
  grown by ``exterior_margin``), labelled 0, so the shape closes inside it.

Labelled points are drawn once, on the host, into pools (``pool_size`` points
per group and level) whose labels come from an exact point-in-polygon test;
each step then picks random pool entries on the device. Pools depend only on
the data and the seed, so a resumed run sees the same pools.

Coarse-to-fine (OReX refines sampling around contours level by level): with
``refine_until > 0`` the sampler's :meth:`SliceSampler.set_training_progress`
(called by the trainer every step with the fraction of training done) opens the
finer levels one by one until that fraction; each step draws from the newest
``level_window`` levels. With ``refine_until = 0`` every step mixes all levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from sdfrecon.datasets.sampling import SAMPLERS, SampleBatch, SamplerConfig, exterior_pool
from sdfrecon.datasets.slices import PlaneSlice, SliceSet, points_inside
from sdfrecon.base.errors import ConfigError

GROUPS = ("plane", "band", "contour", "uniform", "near", "exterior")


@dataclass
class SliceSamplerConfig(SamplerConfig):
    """Samples for fitting a field to labelled cross-sections."""

    name: str = "slices"
    plane_points: int = 2048
    """Uniform in-plane points per step (labelled)."""
    band_points: int = 4096
    """Near-contour in-plane points per step (labelled)."""
    contour_points: int = 1024
    """On-contour points per step (label 0.5)."""
    uniform_points: int = 2048
    """Unlabelled uniform points per step in the sampling cube."""
    near_points: int = 1024
    """Unlabelled points per step jittered around contours in 3D."""
    exterior_points: int = 512
    """Points per step outside the meshing box, labelled outside."""
    domain: float = 1.1
    """Half side of the sampling cube, unit frame (inputs fill [-1, 1])."""
    band_max: float = 0.08
    """Coarsest distance from the contour of ``band`` samples, unit frame."""
    band_min: float = 0.01
    """Finest distance from the contour of ``band`` samples, unit frame."""
    levels: int = 4
    """Number of geometric scales from ``band_max`` to ``band_min``."""
    refine_until: float = 0.0
    """Fraction of training by which all finer levels are open (0 = all from the start)."""
    level_window: int = 3
    """While refining, draw from this many of the newest levels (OReX trains on the last 3)."""
    corner_fraction: float = 0.25
    """Share of ``band`` samples placed around vertices in random directions (covers corners)."""
    component_balance: float = 0.0
    """How ``band``, ``contour`` and ``near`` samples share out between contours: 0 = in
    proportion to contour length (a finger's outline gets little next to the palm's),
    1 = the same number per contour, in between: in proportion to ``length^(1 - b)``.
    Small components and holes (thin bones, their hollows) then get dense samples."""
    exterior_margin: float = 0.03
    """Gap between the input extent and the exterior region, unit frame."""
    pool_size: int = 65536
    """Precomputed points per labelled group (per level for ``band``)."""

    input_kind: ClassVar[str] = "slices"
    """The kind of input it samples (see :mod:`sdfrecon.datasets.inputs`)."""

    def validate(self, path: str) -> None:
        counts = ("plane_points", "band_points", "contour_points", "uniform_points", "near_points",
                  "exterior_points")
        for key in counts:
            if getattr(self, key) < 0:
                raise ConfigError(f"{path}.{key}: must be >= 0")
        if self.plane_points + self.band_points == 0:
            raise ConfigError(f"{path}: plane_points and band_points cannot both be 0 (no in/out labels)")
        if self.domain <= 1.0:
            raise ConfigError(f"{path}.domain: must exceed 1.0 (inputs fill [-1, 1]), got {self.domain}")
        if not 0 < self.band_min <= self.band_max:
            raise ConfigError(f"{path}: need 0 < band_min <= band_max, got {self.band_min}, {self.band_max}")
        if self.levels < 1 or self.level_window < 1:
            raise ConfigError(f"{path}: levels and level_window must be >= 1")
        if not 0 <= self.refine_until <= 1:
            raise ConfigError(f"{path}.refine_until: must lie in [0, 1], got {self.refine_until}")
        if not 0 <= self.corner_fraction <= 1:
            raise ConfigError(f"{path}.corner_fraction: must lie in [0, 1]")
        if not 0 <= self.component_balance <= 1:
            raise ConfigError(f"{path}.component_balance: must lie in [0, 1]")
        if self.exterior_margin < 0 or self.pool_size < 16:
            raise ConfigError(f"{path}: exterior_margin >= 0 and pool_size >= 16")

    def scales(self) -> np.ndarray:
        """The ``levels`` band distances, coarse to fine, unit frame."""
        if self.levels == 1:
            return np.array([self.band_max])
        return np.geomspace(self.band_max, self.band_min, self.levels)


# ----------------------------------------------------------------- pools


@dataclass
class _PlaneGeometry:
    """A plane's contours in its 2D frame, and edge tables for sampling along them."""

    plane: PlaneSlice
    loops2: list[np.ndarray]
    starts: np.ndarray  # (E, 2) edge start points
    vectors: np.ndarray  # (E, 2) edge vectors
    normals: np.ndarray  # (E, 2) unit in-plane edge normals (either side)
    perimeters: np.ndarray  # (E,) length of the contour each edge belongs to

    @classmethod
    def of(cls, plane: PlaneSlice) -> "_PlaneGeometry":
        loops2 = plane.loops_2d()
        if loops2:
            starts = np.concatenate(loops2)
            edges = [np.roll(lp, -1, axis=0) - lp for lp in loops2]
            vectors = np.concatenate(edges)
            perimeters = np.concatenate([np.full(len(e), np.linalg.norm(e, axis=1).sum()) for e in edges])
        else:
            starts = vectors = np.zeros((0, 2))
            perimeters = np.zeros(0)
        length = np.linalg.norm(vectors, axis=1, keepdims=True)
        normals = np.stack([vectors[:, 1], -vectors[:, 0]], axis=1) / np.maximum(length, 1e-300)
        return cls(plane, loops2, starts, vectors, normals, perimeters)

    @property
    def lengths(self) -> np.ndarray:
        return np.linalg.norm(self.vectors, axis=1)


def _split_by_weight(total: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Counts (K,) summing to ``total``, multinomial in ``weights``."""
    return rng.multinomial(total, weights / weights.sum())


def _in_cube(points: np.ndarray, half: float) -> np.ndarray:
    return np.all(np.abs(points) <= half, axis=1)


def _plane_pool(geo: _PlaneGeometry, count: int, domain: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uniform points on the plane inside the cube ``[-domain, domain]^3`` and their labels."""
    plane = geo.plane
    radius = domain * np.sqrt(3.0)  # the cube section lies within this disc around the origin's foot
    got: list[np.ndarray] = []
    have, tries = 0, 0
    while have < count and tries < 200:
        uv = rng.uniform(-radius, radius, size=(4 * count, 2))
        pts = plane.from_2d(uv)
        keep = _in_cube(pts, domain)
        got.append(uv[keep])
        have += int(keep.sum())
        tries += 1
    uv = np.concatenate(got)[:count] if got else np.zeros((0, 2))
    labels = geo.plane.contains_2d(uv).astype(np.float32) if len(uv) else np.zeros(0, np.float32)
    return plane.from_2d(uv), labels


def _contour_points(geos: list[_PlaneGeometry], count: int, rng: np.random.Generator, balance: float = 0.0):
    """``count`` points on the contours, uniform in arc length within each contour, each
    contour's share of them proportional to ``perimeter^(1 - balance)``: per point the
    plane index, the 2D position, and the in-plane edge normal there."""
    lengths = np.concatenate([g.lengths for g in geos])
    if balance > 0:
        perimeters = np.concatenate([g.perimeters for g in geos])
        lengths = lengths * np.maximum(perimeters, 1e-300) ** (-balance)
    plane_of_edge = np.concatenate([np.full(len(g.starts), i) for i, g in enumerate(geos)])
    starts = np.concatenate([g.starts for g in geos])
    vectors = np.concatenate([g.vectors for g in geos])
    normals = np.concatenate([g.normals for g in geos])
    edge = rng.choice(len(lengths), size=count, p=lengths / lengths.sum())
    t = rng.uniform(0.0, 1.0, size=(count, 1))
    return plane_of_edge[edge], starts[edge] + t * vectors[edge], normals[edge]


def _vertex_points(geos: list[_PlaneGeometry], count: int, rng: np.random.Generator):
    """``count`` random contour vertices: plane index and 2D position."""
    plane_of_vertex = np.concatenate([np.full(len(g.starts), i) for i, g in enumerate(geos)])
    starts = np.concatenate([g.starts for g in geos])
    pick = rng.integers(len(starts), size=count)
    return plane_of_vertex[pick], starts[pick]


def _lift_and_label(geos: list[_PlaneGeometry], plane_index: np.ndarray, uv: np.ndarray,
                    labelled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """World (unit-frame) points (N, 3) of per-plane 2D points, and their in/out labels."""
    points = np.empty((len(uv), 3))
    labels = np.empty(len(uv), dtype=np.float32)
    for i, geo in enumerate(geos):
        rows = np.flatnonzero(plane_index == i)
        if not len(rows):
            continue
        points[rows] = geo.plane.from_2d(uv[rows])
        if labelled:
            labels[rows] = geo.plane.contains_2d(uv[rows])
    return points, labels


def _band_pool(geos: list[_PlaneGeometry], count: int, scale: float, corner_fraction: float,
               rng: np.random.Generator, balance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """In-plane points at distance ~``scale`` from the contours, labelled by point-in-polygon."""
    n_corner = int(round(count * corner_fraction))
    n_edge = count - n_corner
    plane_e, uv_e, nrm_e = _contour_points(geos, n_edge, rng, balance)
    # Distances in [scale/2, scale] fill the gap to the next finer level.
    dist = scale * rng.uniform(0.5, 1.0, size=(n_edge, 1)) * rng.choice([-1.0, 1.0], size=(n_edge, 1))
    plane_c, uv_c = _vertex_points(geos, n_corner, rng)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n_corner)
    radius = scale * rng.uniform(0.5, 1.0, size=(n_corner, 1))
    uv_c = uv_c + radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    plane_index = np.concatenate([plane_e, plane_c])
    uv = np.concatenate([uv_e + dist * nrm_e, uv_c])
    return _lift_and_label(geos, plane_index, uv)


# --------------------------------------------------------------- sampler


def _tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array), dtype=torch.float32, device=device)


class SliceSampler:
    """Draws the groups listed in :mod:`sdfrecon.datasets.slice_sampling` on ``device``.

    Parameters
    ----------
    cfg : SliceSamplerConfig
    slices : SliceSet
        Cross-sections in the unit frame.
    device : torch.device
    seed : int
        Seeds both the host pools and the device generator.
    """

    def __init__(self, cfg: SliceSamplerConfig, slices: SliceSet, device: torch.device, seed: int):
        self.cfg = cfg
        self.device = device
        rng = np.random.default_rng(seed)
        geos = [_PlaneGeometry.of(p) for p in slices.planes]
        contoured = [g for g in geos if len(g.starts)]
        self.scales = cfg.scales()
        self.pools: dict[str, torch.Tensor] = {}
        self.pool_labels: dict[str, torch.Tensor] = {}

        if cfg.plane_points:
            per_plane = max(cfg.pool_size // len(geos), 64)
            parts = [_plane_pool(g, per_plane, cfg.domain, rng) for g in geos]
            self.pools["plane"] = _tensor(np.concatenate([p for p, _ in parts]), device)
            self.pool_labels["plane"] = _tensor(np.concatenate([lab for _, lab in parts]), device)
        if cfg.band_points:
            bands = [_band_pool(contoured, cfg.pool_size, s, cfg.corner_fraction, rng, cfg.component_balance)
                     for s in self.scales]
            self.pools["band"] = _tensor(np.stack([p for p, _ in bands]), device)  # (L, P, 3)
            self.pool_labels["band"] = _tensor(np.stack([lab for _, lab in bands]), device)  # (L, P)
        if cfg.contour_points or cfg.near_points:
            plane_index, uv, _ = _contour_points(contoured, cfg.pool_size, rng, cfg.component_balance)
            points, _ = _lift_and_label(contoured, plane_index, uv, labelled=False)
            self.pools["contour"] = _tensor(points, device)
        if cfg.exterior_points:
            extent = slices.extent_points()
            lo = extent.min(axis=0) - cfg.exterior_margin
            hi = extent.max(axis=0) + cfg.exterior_margin
            self.pools["exterior"] = _tensor(exterior_pool(cfg.pool_size, lo, hi, cfg.domain, rng), device)

        counts = {"plane": cfg.plane_points, "band": cfg.band_points, "contour": cfg.contour_points,
                  "uniform": cfg.uniform_points, "near": cfg.near_points, "exterior": cfg.exterior_points}
        if "exterior" in self.pools and len(self.pools["exterior"]) == 0:
            counts["exterior"] = 0  # the input fills the whole cube: no exterior region
        self.counts = counts
        self.groups = tuple(g for g in GROUPS if counts[g] > 0)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.window = (0, len(self.scales) - 1)
        self.set_training_progress(0.0)

    def set_training_progress(self, fraction: float) -> None:
        """Open finer ``band`` / ``near`` scales as training advances (see module doc)."""
        cfg, last = self.cfg, len(self.scales) - 1
        if cfg.refine_until <= 0:
            self.window = (0, last)
            return
        newest = min(last, int(fraction / cfg.refine_until * len(self.scales)))
        self.window = (max(0, newest - cfg.level_window + 1), newest)

    def _pick(self, size: int, count: int) -> torch.Tensor:
        return torch.randint(size, (count,), device=self.device, generator=self.generator)

    def _levels(self, count: int) -> torch.Tensor:
        lo, hi = self.window
        return torch.randint(lo, hi + 1, (count,), device=self.device, generator=self.generator)

    def sample(self) -> SampleBatch:
        c, gen, dev = self.counts, self.generator, self.device
        batch = SampleBatch(points={})
        if c["plane"]:
            idx = self._pick(len(self.pools["plane"]), c["plane"])
            batch.points["plane"] = self.pools["plane"][idx]
            batch.labels["plane"] = self.pool_labels["plane"][idx]
        if c["band"]:
            level = self._levels(c["band"])
            idx = self._pick(self.pools["band"].shape[1], c["band"])
            batch.points["band"] = self.pools["band"][level, idx]
            batch.labels["band"] = self.pool_labels["band"][level, idx]
        if c["contour"]:
            idx = self._pick(len(self.pools["contour"]), c["contour"])
            batch.points["contour"] = self.pools["contour"][idx]
            batch.labels["contour"] = torch.full((c["contour"],), 0.5, device=dev)
        if c["uniform"]:
            unit = torch.rand((c["uniform"], 3), device=dev, generator=gen)
            batch.points["uniform"] = (unit * 2.0 - 1.0) * self.cfg.domain
        if c["near"]:
            idx = self._pick(len(self.pools["contour"]), c["near"])
            sigma = torch.as_tensor(self.scales, dtype=torch.float32, device=dev)[self._levels(c["near"])]
            noise = torch.randn((c["near"], 3), device=dev, generator=gen)
            batch.points["near"] = self.pools["contour"][idx] + noise * sigma[:, None]
        if c["exterior"]:
            idx = self._pick(len(self.pools["exterior"]), c["exterior"])
            batch.points["exterior"] = self.pools["exterior"][idx]
            batch.labels["exterior"] = torch.zeros(c["exterior"], device=dev)
        return batch

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


@SAMPLERS.register("slices", config_cls=SliceSamplerConfig)
def build_slice_sampler(cfg: SliceSamplerConfig, *, data, device: torch.device, seed: int) -> SliceSampler:
    """Build a :class:`SliceSampler` from a unit-frame :class:`~sdfrecon.datasets.slices.SliceSet`."""
    if not isinstance(data, SliceSet):
        raise ConfigError(f"sampler.name: 'slices' needs cross-section input, got {getattr(data, 'kind', '?')} "
                          "(use sampler name 'surface' for point clouds)")
    return SliceSampler(cfg, data, device, seed)
