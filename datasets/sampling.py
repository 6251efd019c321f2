"""Per-iteration training samples, drawn on the training device.

A sampler turns training data (already in the unit frame) into a
:class:`SampleBatch`: named groups of points that loss terms select by name.
The point-cloud sampler produces

* ``surface`` -- random input points (with their normals, if any);
* ``uniform`` -- uniform points in the cube ``[-domain, domain]^3``;
* ``near`` -- input points jittered by a Gaussian whose width is the distance to
  the k-th nearest input neighbour (IGR's local sigma), so sampling adapts to
  the local density;
* ``exterior`` (optional) -- points of the cube outside the input's bounding box,
  labelled outside (0).

With ``distance_targets``, ``near`` and ``uniform`` points are drawn from pools
made once per run, each point with its distance to the input surface (the
points' splats, :func:`sdfrecon.datasets.point_geometry.splat_distance`; signed
when the normals are trusted). The ``distance`` loss term regresses the field on
them: a first-order, supervised signal that fits the shape in far fewer steps
than surface and eikonal terms alone (IGR/SAL-style warm start).

With ``occupancy_labels`` and oriented normals, ``near`` points also carry
inside/outside labels: 1 behind the nearest oriented input point
(``(q - p) . n < 0``), else 0. These supervise an occupancy head (the Occ-SDF
hybrid, ``configs/occsdf.yaml``).

All randomness comes from one ``torch.Generator`` on the device, so sampling
needs no host round trip and its state is checkpointed with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import torch

from sdfrecon.base.configtools import ComponentConfig
from sdfrecon.base.errors import ConfigError
from sdfrecon.base.registry import Registry

SAMPLERS: Registry = Registry("sampler", providers="sdfrecon.datasets")


@dataclass
class SamplerConfig(ComponentConfig):
    """Base of sampler configs (chosen by ``name``)."""

    name: str = "surface"
    registry: ClassVar[Registry] = SAMPLERS


@dataclass
class SampleBatch:
    """One iteration's samples, unit frame.

    Attributes
    ----------
    points : dict of str -> (n_g, 3) float32 Tensor
        Sample positions per group.
    normals : dict of str -> (n_g, 3) float32 Tensor
        Target unit normals for groups that have them (``surface`` when the
        input has normals).
    labels : dict of str -> (n_g,) float32 Tensor
        Per-point targets for groups that have them (e.g. occupancy in [0, 1]).
    distances : dict of str -> (n_g,) float32 Tensor
        Distance to the input surface for groups that have it, unit frame;
        signed (negative inside) when ``oriented``, else unsigned.
    spacing : dict of str -> (n_g,) float32 Tensor
        Input point spacing (distance to the 8th neighbour) at the input point
        nearest to each sample, unit frame, for groups with distances.
    outside : dict of str -> (n_g,) bool Tensor
        Samples known to lie outside the shape whatever the normals say (reached from
        the box's boundary through free space; ``flood_fill``), for groups with distances.
    inside : dict of str -> (n_g,) float32 Tensor
        A lower bound on how far each sample lies behind the surface, unit frame; 0 where
        unknown (``flood_inside``), for groups with distances.
    oriented : bool
        Whether the normals' (and distances') signs are trusted.
    signed_distances : bool
        Whether the cloud is dense enough for its splats to say inside from outside
        (``SamplerConfig.distance_max_spacing``): with ``oriented``, the ``distance`` term
        fits the distances' signs.
    """

    points: dict[str, torch.Tensor]
    normals: dict[str, torch.Tensor] = field(default_factory=dict)
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    distances: dict[str, torch.Tensor] = field(default_factory=dict)
    spacing: dict[str, torch.Tensor] = field(default_factory=dict)
    outside: dict[str, torch.Tensor] = field(default_factory=dict)
    inside: dict[str, torch.Tensor] = field(default_factory=dict)
    oriented: bool = True
    signed_distances: bool = True


class Sampler(Protocol):
    """What the trainer needs from a sampler."""

    groups: tuple[str, ...]

    def sample(self) -> SampleBatch: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class SurfaceSamplerConfig(SamplerConfig):
    """Samples for fitting an SDF to an (optionally oriented) point cloud."""

    name: str = "surface"
    surface_points: int = 8192
    """Input points per iteration (drawn with replacement)."""
    uniform_points: int = 4096
    """Uniform points per iteration in the sampling cube."""
    near_points: int = 4096
    """Gaussian-jittered input points per iteration."""
    domain: float = 1.1
    """Half side of the uniform sampling cube, unit frame (inputs fill [-1, 1])."""
    knn_k: int = 50
    """Neighbour whose distance sets each point's Gaussian width."""
    sigma_scale: float = 1.0
    """Multiplier on the local Gaussian width."""
    min_sigma: float = 0.002
    """Lower bound on the Gaussian width, unit frame (guards duplicate points)."""
    occupancy_labels: bool = False
    """Label ``near`` points inside (1) / outside (0) from the oriented input normals."""
    exterior_points: int = 0
    """Points per iteration outside the input's bounding box (grown by ``exterior_margin``), labelled 0."""
    exterior_margin: float = 0.05
    """Gap between the input's bounding box and the exterior region, unit frame."""
    distance_targets: bool = False
    """Draw ``near`` and ``uniform`` points from pools made once, each with its distance
    to the input's splats (for the ``distance`` loss term)."""
    pool_points: int = 131_072
    """Points in the ``near`` pool (the ``uniform`` pool holds half as many)."""
    splat_radius: float = 1.0
    """Radius of each input point's disc, in units of its distance to its 8th neighbour."""
    normals_max_spacing: float = 0.0
    """Normals of unknown sign (e.g. PCA estimates) reach the loss terms only when the
    input's median point spacing (distance to the 8th neighbour, unit frame) is below
    this: estimates from a sparse cloud are poor and measurably hurt (a 1,000-point
    scan's neighbourhoods span a tenth of the shape). 0 = always."""
    distance_max_spacing: float = 0.0
    """Signed distance targets (trusted normals) reach the ``distance`` term only when the
    input's median point spacing (as for ``normals_max_spacing``, unit frame) is below this.
    On a sparse cloud each splat spans a large share of the shape, and near thin parts a
    sample takes its sign from a splat on the far side: a 1,000-point cow with its normals
    grew blobs at its hooves and a disc at its ear (Chamfer 0.25 % -> 0.39 % of the diagonal).
    The pools stay for ``clearance``, which ignores the sign. 0 = always."""
    flood_fill: bool = False
    """Without trusted normals, label the pool samples that the box's boundary reaches
    through free space (a voxel flood fill around the thickened points,
    :mod:`sdfrecon.datasets.free_space`) as outside; the ``clearance`` term then wants
    the field positive there, not just away from zero. It stops membranes across the
    mouths of deep concavities (a blind bore). Skipped when the fill encloses no
    interior (an open scan lets the flood in), unless the points show both faces of
    thin walls (``flood_min_two_sided``): a thin closed part (a tray, a mug, a ShapeNet
    table) has no interior the thickened points leave free, but it is closed. Any other
    cloud that encloses nothing keeps the labels where more than a half-space is open
    (``flood_open_directions``)."""
    flood_radius: float = 1.5
    """Thickening of the points for the flood fill, in median point spacings (distance
    to the 8th neighbour): gaps between neighbours up to twice this close."""
    flood_min_interior: float = 0.05
    """The labels are used only when the enclosed interior is at least this share of
    the points' convex-hull volume."""
    flood_min_two_sided: float = 0.15
    """Without an enclosed interior the labels are still used when at least this share
    of the points has a second sheet of points behind it within the thickening's reach
    (:func:`~sdfrecon.datasets.point_geometry.two_sided_share`): both faces of thin walls
    were scanned, so the part is closed and the flood only reached its outside. Open
    single views measure 0.00-0.05, open and noisy corpus scans up to 0.06, thin parts 0.21
    (the mug with noise) to 0.89; 0.15 is 2.5x the highest open or noisy scan. Dense
    input only: a sparse cloud's neighbourhoods span whole features. 1 = never."""
    flood_min_contact: float = 0.0
    """Nor does the two-sided test: the labels are still used when the fill's interior,
    however small a share of the hull, lies right behind at least this share of the points
    (:meth:`~sdfrecon.datasets.free_space.FreeSpace.interior_contact`): walls thicker than
    the thickening but thinner than the two-sided test's reach enclose a shell of free
    space behind every face. A bowl with walls 4 spacings thick encloses 0.03 of its hull,
    and without labels the field closed it with a lid (IoU 0.19-0.48 over three seeds,
    2.9-4.9x Poisson's Chamfer). The enclosed bubbles of open scans lie behind 0.01-0.10 of
    their points, closed parts' interiors behind 0.94-1.00 of theirs (0.50-0.88 noisy).
    Dense input only, as the two-sided test (a sparse open scan's thickened points close
    their holes). 0 = never."""
    flood_inside: bool = False
    """Sparse clouds without trusted normals: also label the pool samples in the free space
    the fill encloses as inside, with a lower bound on their depth (their distance from the
    exterior less the thickening; :meth:`~sdfrecon.datasets.free_space.FreeSpace.inside_depth`);
    ``clearance`` then wants ``f <= -max(c, depth)`` there. With about 1,000 points a part
    thinner than four point spacings leaves its core to no term (clearance's free band
    spans it), and the field could hollow it: a 3 x 3 x 26 rod came out with a tunnel along
    its axis in 2 of 7 seeds. Its core is still a thread of enclosed free voxels. Given
    however little the fill encloses (an open scan lets the exterior in and encloses
    nothing); blocked voxels are never labelled (a narrow gap between parts is blocked)."""
    flood_open_directions: int = 0
    """Clouds whose fill encloses no interior and that the two-sided test does not call
    closed (sparse clouds, where it does not run; open scans; thin parts under noise that
    hides their walls' second face): still label the reached samples outside where at least
    this many of the 26 lattice directions leave the fill's block unblocked
    (:meth:`~sdfrecon.datasets.free_space.FreeSpace.open_directions`). From inside a scan
    open on one side at most the 9 directions through that side are open, so 13 and up
    (more than a half-space) only labels space that no single opening explains: under a
    table, beside a thin panel. Without it the sign there was free: one seed of a
    1,000-point ShapeNet table filled the space under its top (3.55 % of the diagonal,
    1.15x Poisson), and a noisy ShapeNet bench was 1.73x Poisson. 0 = never."""
    flood_inside_confirm: float = 1.25
    """Thickening (median point spacings) of a second fill that must enclose a sample too
    for its inside label (``flood_inside``); 0 = none. Free space that the thicker fill
    encloses only because the thickened points bridge the two mouths of a hole is exterior
    in the thinner one: 199 of fertility's 435 inside labels lay outside its ground truth
    (``bench.flood_label_check``), none with the confirmation; the rod keeps all of its."""
    flood_resolution: int = 128
    """Voxels per side of the flood-fill grid (over the sampling cube)."""
    flood_thin_radius: float = 1.0
    """Thickening (median point spacings) of the finer fill that labels a thin closed
    part: its labels start closer to the walls (1.5 spacings plus a 128-grid voxel left
    a band where a thin ShapeNet table top sagged: 0.78 % -> 0.51 % of the diagonal)."""
    flood_thin_resolution: int = 256
    """Voxels per side of that finer fill."""
    flood_thin_confirm: float = 1.5
    """Thickening (median point spacings) of a second fill on the finer grid that confirms
    the finer fill's outside labels: a label is kept only within this distance of that
    fill's exterior; 0 = none. Random sampling leaves pinholes in a part's faces that the
    finer fill slips through and a thicker one does not: the flood filled the cores of a
    ShapeNet table's box legs, and 1,822 of its outside labels lay inside the solid its mesh
    encloses (``bench.flood_label_check``). A label beside a thin wall lies within
    (confirm - thin) spacings of the thicker fill's exterior, a core reached through a
    pinhole at least (confirm + thin) spacings away; the cut, ``confirm``, sits halfway.
    Must exceed ``flood_thin_radius``."""
    orient_at: float = 0.0
    """Normals of unknown sign (estimated, or given inconsistently) are oriented by the
    field at this fraction of training: each flips to point where the field grows. The
    field is a function, so its orientation is globally consistent -- and after a
    sign-agnostic warm start it follows the data. 0 = never (stay unoriented)."""

    def validate(self, path: str) -> None:
        for key in ("surface_points", "uniform_points", "near_points", "exterior_points", "normals_max_spacing",
                    "distance_max_spacing"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{path}.{key}: must be >= 0")
        if self.surface_points == 0:
            raise ConfigError(f"{path}.surface_points: must be > 0")
        if self.domain <= 1.0:
            raise ConfigError(f"{path}.domain: must exceed 1.0 (inputs fill [-1, 1]), got {self.domain}")
        if self.knn_k < 1:
            raise ConfigError(f"{path}.knn_k: must be >= 1")
        if self.exterior_margin < 0:
            raise ConfigError(f"{path}.exterior_margin: must be >= 0")
        if self.pool_points < 1024 or self.splat_radius < 0:
            raise ConfigError(f"{path}: pool_points must be >= 1024 and splat_radius >= 0")
        if (min(self.flood_radius, self.flood_thin_radius) <= 0 or not 0.0 <= self.flood_min_interior < 1.0
                or min(self.flood_resolution, self.flood_thin_resolution) < 16
                or not 0.0 <= self.flood_min_two_sided <= 1.0 or not 0 <= self.flood_open_directions <= 26
                or not 0.0 <= self.flood_min_contact <= 1.0
                or self.flood_inside_confirm < 0
                or not (self.flood_thin_confirm == 0 or self.flood_thin_confirm > self.flood_thin_radius)):
            raise ConfigError(f"{path}: flood_radius and flood_thin_radius must be > 0, flood_min_interior in "
                              "[0, 1), flood_min_two_sided and flood_min_contact in [0, 1], "
                              "flood_open_directions in [0, 26], "
                              "flood_inside_confirm >= 0, flood_thin_confirm 0 or above flood_thin_radius, "
                              "flood_resolution and flood_thin_resolution >= 16")
        if not 0.0 <= self.orient_at < 1.0:
            raise ConfigError(f"{path}.orient_at: must lie in [0, 1), got {self.orient_at}")


def nearest_neighbours(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices (N, k+1) of each point's k nearest points, itself first (k capped at N-1)."""
    from sdfrecon.base.kdtree import point_tree

    k = min(k, len(points) - 1)
    return point_tree(points).query(points, k=k + 1, workers=-1)


def local_sigma(points: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point (N, 3) to its k-th nearest other point, (N,)."""
    return nearest_neighbours(points, k)[0][:, -1]


EXTERIOR_POOL = 65536
"""Exterior points drawn once per run; iterations pick from this pool (fixed shapes, no host round trip)."""


def exterior_pool(count: int, lo: np.ndarray, hi: np.ndarray, domain: float,
                  rng: np.random.Generator) -> np.ndarray:
    """``count`` uniform points (count, 3) of the cube ``[-domain, domain]^3`` outside the box ``[lo, hi]``.

    Fewer are returned only if the box nearly fills the cube (rejection gives up after 200 rounds).
    """
    got, have = [], 0
    for _ in range(200):
        pts = rng.uniform(-domain, domain, size=(4 * count, 3))
        keep = ~np.all((pts >= lo) & (pts <= hi), axis=1)
        got.append(pts[keep])
        have += int(keep.sum())
        if have >= count:
            break
    return np.concatenate(got)[:count]


class SurfaceSampler:
    """Draws ``surface``, ``uniform`` and ``near`` groups on ``device``.

    Parameters
    ----------
    cfg : SurfaceSamplerConfig
    points : (N, 3) ndarray
        Input points, unit frame.
    normals : (N, 3) ndarray or None
        Unit normals of the input points.
    device : torch.device
    seed : int
        Seed of the sampler's own generator.
    """

    def __init__(
        self,
        cfg: SurfaceSamplerConfig,
        points: np.ndarray,
        normals: np.ndarray | None,
        device: torch.device,
        seed: int,
        *,
        oriented: bool = True,
    ):
        if cfg.occupancy_labels and (normals is None or not oriented):
            raise ValueError("occupancy_labels needs oriented normals")
        self.cfg = cfg
        self.device = device
        self.points = torch.as_tensor(points, dtype=torch.float32, device=device)
        self.normals = None if normals is None else torch.as_tensor(normals, dtype=torch.float32, device=device)
        dist, neighbours = nearest_neighbours(points, cfg.knn_k)
        sigma = np.maximum(dist[:, -1] * cfg.sigma_scale, cfg.min_sigma)
        point_spacing = dist[:, min(8, dist.shape[1] - 1)]  # distance to the 8th neighbour (local_spacing)
        spacing = float(np.median(point_spacing))
        sparse = cfg.normals_max_spacing > 0 and spacing > cfg.normals_max_spacing
        self.sparse = sparse  # the flood fill's thin-wall test is for dense input only
        # Normals the loss terms see: trusted ones always, unknown-sign ones only on dense input.
        self.train_normals = normals is not None and (oriented or not sparse)
        # For occupancy labels: the candidates for the input point nearest to a jittered sample.
        self.neighbours = (torch.as_tensor(neighbours, dtype=torch.int64, device=device)
                           if cfg.occupancy_labels else None)
        self.sigma = torch.as_tensor(sigma, dtype=torch.float32, device=device)[:, None]
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.oriented = bool(oriented and normals is not None)
        # Signed distance targets need splats small next to the shape's thin parts.
        self.distances_dense = not (cfg.distance_max_spacing > 0 and spacing > cfg.distance_max_spacing)
        self.pools: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if cfg.distance_targets:
            if normals is None:
                raise ValueError("distance_targets needs normals (given or estimated)")
            from sdfrecon.base.kdtree import point_tree

            points64 = np.asarray(points, dtype=np.float64)
            # Made once: the pools (and their remake in orient_by) and the flood fill share them.
            self._geometry = (points64, sigma, point_spacing, point_tree(points64))
            self._normals = np.asarray(normals, dtype=np.float64)  # for the flood fill's two-sided test
            self.pools = self._distance_pools(self._normals, np.random.default_rng([seed, 7]))
        self.outside: dict[str, torch.Tensor] = {}
        self.inside: dict[str, torch.Tensor] = {}
        self.flood_note = ""
        if cfg.flood_fill and self.pools and not self.oriented:
            self.outside, self.inside, self.flood_note = self._flood_labels()
        groups = ["surface"]
        if cfg.uniform_points:
            groups.append("uniform")
        if cfg.near_points:
            groups.append("near")
        self.exterior = None
        if cfg.exterior_points:
            rng = np.random.default_rng(seed)
            lo, hi = points.min(axis=0) - cfg.exterior_margin, points.max(axis=0) + cfg.exterior_margin
            pool = exterior_pool(EXTERIOR_POOL, lo, hi, cfg.domain, rng)
            if len(pool):
                self.exterior = torch.as_tensor(pool, dtype=torch.float32, device=device)
                groups.append("exterior")
        self.groups = tuple(groups)

    def _distance_pools(self, normals: np.ndarray, rng: np.random.Generator | None = None
                        ) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``{group: (points (P, 3), distances (P,), spacing (P,))}`` for ``near`` and
        ``uniform``, on the device; new pool points from ``rng``, or the current ones (new
        distances) without."""
        from sdfrecon.datasets.point_geometry import splat_distance

        cfg = self.cfg
        points, sigma, spacing, tree = self._geometry
        radius = spacing * cfg.splat_radius
        if rng is not None:
            pick = rng.integers(len(points), size=cfg.pool_points)
            where = {"near": points[pick] + rng.normal(size=(cfg.pool_points, 3)) * sigma[pick, None],
                     "uniform": rng.uniform(-cfg.domain, cfg.domain, size=(cfg.pool_points // 2, 3))}
        else:
            where = {g: pool[0].cpu().numpy().astype(np.float64) for g, pool in self.pools.items()}
        pools = {}
        for group, at in where.items():
            distance, nearest = splat_distance(at, points, normals, radius, oriented=self.oriented, tree=tree,
                                               return_nearest=True)
            pools[group] = tuple(torch.as_tensor(a, dtype=torch.float32, device=self.device)
                                 for a in (at, distance, spacing[nearest]))
        return pools

    def _flood_labels(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], str]:
        """Outside labels (``flood_fill``) and inside depths (``flood_inside``) for the pool
        samples, and a note for the log."""
        from sdfrecon.datasets.free_space import flood_exterior, flood_exteriors
        from sdfrecon.datasets.point_geometry import two_sided_share

        cfg = self.cfg
        points, _, spacing, tree = self._geometry
        median_spacing = float(np.median(spacing))  # the three fills' thickenings are in these units
        free = flood_exterior(points, cfg.flood_radius * median_spacing, half_side=cfg.domain,
                              resolution=cfg.flood_resolution)
        pool_at = {group: at.cpu().numpy().astype(np.float64) for group, (at, _, _) in self.pools.items()}
        inside, inside_note = {}, ""
        if cfg.flood_inside and self.sparse:
            inside_confirm = (flood_exterior(points, cfg.flood_inside_confirm * median_spacing,
                                             half_side=cfg.domain, resolution=cfg.flood_resolution)
                              if cfg.flood_inside_confirm > 0 and free.interior.any() else None)
            depth = {group: free.inside_depth(at, inside_confirm) for group, at in pool_at.items()}
            share = float(np.mean(np.concatenate(list(depth.values())) > 0))
            inside_note = f"; {100 * share:.1f} % of pool samples labelled inside"
            if share > 0:  # no labels, no per-step work in the clearance term
                inside = {group: torch.as_tensor(d, dtype=torch.float32, device=self.device)
                          for group, d in depth.items()}
        closed, min_open, thin_confirm = f"interior {free.interior_share:.3f} of the hull", 0, None
        if free.interior_share < cfg.flood_min_interior:
            # A thin closed part: the thickened walls leave no interior, but both faces are there.
            two_sided = (two_sided_share(points, self._normals, spacing, 2 * free.radius + free.voxel, tree=tree)
                         if not self.sparse and cfg.flood_min_two_sided < 1 else 0.0)
            if two_sided >= cfg.flood_min_two_sided:
                closed = f"no enclosed interior, but {two_sided:.2f} of the points see a wall's other face"
                # Label from a finer fill, closer to thin walls: beside a panel thinner than the
                # coarse fill's unlabelled band the field had no sign to go by, and it sagged.
                # ... but not through pinholes a thicker fill closes (flood_thin_confirm).
                radii = [cfg.flood_thin_radius] + ([cfg.flood_thin_confirm] if cfg.flood_thin_confirm > 0 else [])
                free, *confirm = flood_exteriors(points, [r * median_spacing for r in radii],
                                                 half_side=cfg.domain, resolution=cfg.flood_thin_resolution)
                thin_confirm = confirm[0] if confirm else None
            elif (not self.sparse and cfg.flood_min_contact > 0
                  and (contact := free.interior_contact(points)) >= cfg.flood_min_contact):
                # Walls between the two: a thin shell of interior behind every face (a bowl).
                closed = f"interior {free.interior_share:.3f} of the hull, behind {contact:.2f} of the points"
            elif cfg.flood_open_directions > 0:
                # Nothing says the part is closed: label only where no one opening explains the flood.
                min_open = cfg.flood_open_directions
                closed = (f"no enclosed interior ({free.interior_share:.3f} of the hull, {two_sided:.2f} of the "
                          f"points two-sided), only samples with >= {min_open} of 26 directions open")
            else:
                return {}, inside, (f"flood fill: no enclosed interior ({free.interior_share:.3f} of the hull, "
                                    f"{two_sided:.2f} of the points two-sided), no outside labels{inside_note}")
        labels = {}
        for group, at in pool_at.items():
            mask = free.outside(at, tree.query(at, k=1, workers=-1)[0])
            if min_open:
                mask &= free.open_directions(at) >= min_open
            if thin_confirm is not None:
                mask &= thin_confirm.near_exterior(at, thin_confirm.radius)
            labels[group] = torch.as_tensor(mask, device=self.device)
        share = float(torch.cat(list(labels.values())).float().mean())
        return labels, inside, (f"flood fill: {closed}; {100 * share:.0f} % of pool samples labelled "
                                f"outside{inside_note}")

    def observe_field(self, fraction: float, field) -> None:
        """Trainer hook, every step: at ``orient_at``, orient the normals by ``field``."""
        if self.cfg.orient_at > 0 and not self.oriented and fraction >= self.cfg.orient_at:
            self.orient_by(field)

    @torch.no_grad()
    def orient_by(self, field, chunk: int = 65536) -> float:
        """Flip each normal to point where ``field`` (``(N, 3) -> (N, C)``, channel 0)
        grows, comparing it half a sample width in front of and behind the point; then
        trust the signs (oriented normals, signed distance targets). Returns the share
        of normals flipped."""
        flips = []
        for start in range(0, len(self.points), chunk):
            p = self.points[start:start + chunk]
            step = self.normals[start:start + chunk] * (0.5 * self.sigma[start:start + chunk])
            flips.append(field(p + step)[:, 0] < field(p - step)[:, 0])
        flip = torch.cat(flips)
        self.normals = torch.where(flip[:, None], -self.normals, self.normals)
        self.oriented = True
        if self.pools:
            self.pools = self._distance_pools(self.normals.cpu().numpy().astype(np.float64))
        return float(flip.float().mean())

    def _from_pool(self, batch: SampleBatch, group: str, count: int) -> None:
        pool, distance, spacing = self.pools[group]
        pick = torch.randint(len(pool), (count,), device=self.device, generator=self.generator)
        batch.points[group] = pool[pick]
        batch.distances[group] = distance[pick]
        batch.spacing[group] = spacing[pick]
        if group in self.outside:
            batch.outside[group] = self.outside[group][pick]
        if group in self.inside:
            batch.inside[group] = self.inside[group][pick]

    def _indices(self, count: int) -> torch.Tensor:
        return torch.randint(len(self.points), (count,), device=self.device, generator=self.generator)

    def sample(self) -> SampleBatch:
        cfg, gen = self.cfg, self.generator
        idx = self._indices(cfg.surface_points)
        batch = SampleBatch(points={"surface": self.points[idx]}, oriented=self.oriented,
                            signed_distances=self.distances_dense)
        if self.train_normals:
            batch.normals["surface"] = self.normals[idx]
        if cfg.uniform_points and "uniform" in self.pools:
            self._from_pool(batch, "uniform", cfg.uniform_points)
        elif cfg.uniform_points:
            unit = torch.rand((cfg.uniform_points, 3), device=self.device, generator=gen)
            batch.points["uniform"] = (unit * 2.0 - 1.0) * cfg.domain
        if cfg.near_points and "near" in self.pools:
            self._from_pool(batch, "near", cfg.near_points)
        elif cfg.near_points:
            near = self._indices(cfg.near_points)
            noise = torch.randn((cfg.near_points, 3), device=self.device, generator=gen)
            batch.points["near"] = self.points[near] + noise * self.sigma[near]
            if cfg.occupancy_labels:
                batch.labels["near"] = self._inside_labels(batch.points["near"], near)
        if self.exterior is not None:
            pick = torch.randint(len(self.exterior), (cfg.exterior_points,), device=self.device, generator=gen)
            batch.points["exterior"] = self.exterior[pick]
            batch.labels["exterior"] = torch.zeros(cfg.exterior_points, device=self.device)
        return batch

    def _inside_labels(self, query: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """1 where ``query`` (n, 3) is behind the oriented input point nearest to it, else 0; (n,).

        The nearest point is searched among the k nearest neighbours of the point each
        query was jittered from (the jitter is about the k-th neighbour distance), a
        gather on the device. Using the source point's own normal instead would mislabel
        points moved mostly sideways on curved surfaces (error ~ sigma^2 / radius).
        """
        candidates = self.neighbours[source]                              # (n, k+1)
        squared = (query[:, None, :] - self.points[candidates]).square().sum(dim=2)
        nearest = candidates.gather(1, squared.argmin(dim=1, keepdim=True)).squeeze(1)
        return (((query - self.points[nearest]) * self.normals[nearest]).sum(dim=1) < 0).float()

    def state_dict(self) -> dict:
        state = {"generator": self.generator.get_state()}
        if self.cfg.orient_at > 0 and self.oriented:
            state["oriented_normals"] = self.normals.cpu()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        if "oriented_normals" in state and not self.oriented:
            self.normals = state["oriented_normals"].to(self.device)
            self.oriented = True
            if self.pools:
                self.pools = self._distance_pools(self.normals.cpu().numpy().astype(np.float64))


@SAMPLERS.register("surface", config_cls=SurfaceSamplerConfig)
def build_surface_sampler(cfg: SurfaceSamplerConfig, *, data, device: torch.device, seed: int) -> SurfaceSampler:
    """Build a :class:`SurfaceSampler` from a unit-frame :class:`~sdfrecon.datasets.pointcloud.PointCloud`."""
    if cfg.occupancy_labels and (data.normals is None or not data.normals_oriented):
        from sdfrecon.base.errors import InputError

        what = "has no normals" if data.normals is None else "has normals of inconsistent sign"
        raise InputError(f"{what}, and sampler.occupancy_labels (the occsdf preset) labels inside/outside "
                         "from oriented normals; use a preset without labels, e.g. --config default", data.source)
    if cfg.distance_targets and data.normals is None:
        raise ConfigError("sampler.distance_targets: needs normals; set data.normals: auto (estimates them) "
                          "or give an input with normals")
    return SurfaceSampler(cfg, data.points, data.normals, device, seed, oriented=data.normals_oriented)
