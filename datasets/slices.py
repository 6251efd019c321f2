"""Planar cross-sections: the slice input type and the 2D geometry it needs.

A slice is a plane ``n . x + d = 0`` (``n`` a unit normal) carrying closed
contours. The region inside the shape on that plane is given by the even-odd
rule over all of the plane's contours, so nested contours (holes, islands in
holes) need no bookkeeping to be labelled; the hole structure (``parents``) is
kept for writing ``.csl`` files and for validation. A plane with no contours
says the whole plane lies outside the shape.

Each plane has a right-handed 2D frame ``(u, v)`` with ``u x v = n``, so a
contour that is counter-clockwise in ``(u, v)`` is counter-clockwise around
``n`` (outer contours CCW, holes CW, as in the ``.csl`` format).

:class:`SliceSet` satisfies :class:`sdfrecon.datasets.inputs.TrainingData`; the sampler
that trains on it is in :mod:`sdfrecon.datasets.slice_sampling`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from sdfrecon.base.errors import InputError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from sdfrecon.datasets.normalize import Normalization

PLANARITY_TOLERANCE = 1e-3
"""Largest allowed distance of a contour point to its plane, as a fraction of the
bounding-box diagonal of all contour points."""

COPLANAR_TOLERANCE = 1e-9
"""All contour points within this fraction of their diagonal of one plane: no
extent across the slices (e.g. every plane given twice at the same place)."""

DUPLICATE_TOLERANCE = 1e-9
"""Consecutive contour vertices closer than this fraction of the contours' diagonal
are one vertex (repeated vertices, a closing copy of the first one)."""

MIN_AREA_FRACTION = 1e-12
"""A contour whose area is below this fraction of the squared diagonal is degenerate."""


@dataclass(frozen=True, eq=False)
class PlaneSlice:
    """One cutting plane and the closed contours on it, world units.

    Attributes
    ----------
    normal : (3,) float64 ndarray
        Unit plane normal.
    offset : float
        ``d`` in ``normal . x + d = 0``.
    loops : tuple of (M_i, 3) float64 ndarray
        Closed contours (the last vertex connects back to the first), on the plane.
    parents : tuple of int
        Per loop: -1 for an outer contour, else the index of the loop it is a hole of.
    labels : tuple of int
        Per loop: the ``.csl`` component label. A loop with ``parent < 0``
        bounds the region of its own label; a hole belongs to its parent's
        label whatever it says (files differ: some give holes the parent's
        label, others the "outside" label). See :meth:`region_labels`.
    """

    normal: np.ndarray
    offset: float
    loops: tuple[np.ndarray, ...] = ()
    parents: tuple[int, ...] = ()
    labels: tuple[int, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the plane has no contour (it lies entirely outside the shape)."""
        return len(self.loops) == 0

    @property
    def num_vertices(self) -> int:
        return sum(len(loop) for loop in self.loops)

    def vertices(self) -> np.ndarray:
        """All contour vertices, (V, 3)."""
        return np.concatenate(self.loops) if self.loops else np.zeros((0, 3))

    def region_labels(self) -> tuple[int, ...]:
        """Per loop, the label whose region it bounds: its own label for an outer
        loop, its parent's for a hole (1 for every loop when no labels are given)."""
        labels = self.labels or (1,) * len(self.loops)
        parents = self.parents or (-1,) * len(self.loops)
        return tuple(labels[p] if p >= 0 else lab for lab, p in zip(labels, parents))

    def only_label(self, label: int) -> "PlaneSlice":
        """The same plane keeping only the loops of ``label``'s region (maybe none)."""
        keep = [k for k, lab in enumerate(self.region_labels()) if lab == label]
        new_index = {old: new for new, old in enumerate(keep)}
        parents = self.parents or (-1,) * len(self.loops)
        labels = self.labels or (1,) * len(self.loops)
        return PlaneSlice(self.normal, self.offset, tuple(self.loops[k] for k in keep),
                          tuple(new_index.get(parents[k], -1) for k in keep), tuple(labels[k] for k in keep))

    # ------------------------------------------------------------- 2D frame

    def frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Origin (3,) (the plane point nearest the world origin) and axes ``u``, ``v`` (3,)
        with ``u x v = normal``."""
        n = self.normal
        helper = np.eye(3)[int(np.argmin(np.abs(n)))]
        u = np.cross(n, helper)
        u /= np.linalg.norm(u)
        v = np.cross(n, u)
        return -self.offset * n, u, v

    def to_2d(self, points: np.ndarray) -> np.ndarray:
        """Coordinates (N, 2) of (N, 3) points projected into the plane's frame."""
        origin, u, v = self.frame()
        rel = np.asarray(points, dtype=np.float64) - origin
        return np.stack([rel @ u, rel @ v], axis=1)

    def from_2d(self, uv: np.ndarray) -> np.ndarray:
        """World points (N, 3) of plane-frame coordinates (N, 2)."""
        origin, u, v = self.frame()
        uv = np.asarray(uv, dtype=np.float64)
        return origin + uv[:, :1] * u + uv[:, 1:2] * v

    def loops_2d(self) -> list[np.ndarray]:
        """The contours in the plane's frame, each (M_i, 2)."""
        origin, u, v = self.frame()  # once for all loops
        return [np.stack([(loop - origin) @ u, (loop - origin) @ v], axis=1) for loop in self.loops]

    def contains_2d(self, uv: np.ndarray) -> np.ndarray:
        """Even-odd inside test (N,) bool of plane-frame points (N, 2) against all contours."""
        return points_inside(uv, self.loops_2d())

    def transformed(self, normalization: "Normalization") -> "PlaneSlice":
        """The plane in the unit frame ``x' = (x - c) / s``: ``n . x' + (d + n . c) / s = 0``."""
        c, s = normalization.center, normalization.scale
        return PlaneSlice(
            normal=self.normal,
            offset=float((self.offset + self.normal @ c) / s),
            loops=tuple(normalization.to_unit(loop) for loop in self.loops),
            parents=self.parents,
            labels=self.labels,
        )


@dataclass(frozen=True, eq=False)
class SliceSet:
    """Planar cross-sections of one shape, world units.

    Attributes
    ----------
    planes : tuple of PlaneSlice
    source : str
        File (or description) they came from.
    cap : float
        How far (world units) the shape may reach beyond a plane along its
        normal: half the typical spacing of parallel planes. The meshing box
        (:meth:`extent_points`) grows by it, so the shape can close past the
        outermost slices.
    """

    planes: tuple[PlaneSlice, ...]
    source: str
    cap: float = 0.0
    meta: dict = field(default_factory=dict, compare=False)
    """Free-form extras for the run record (e.g. mask spacing)."""

    kind = "slices"
    """Input kind, for choosing presets and samplers (see :mod:`sdfrecon.datasets.inputs`)."""

    def __len__(self) -> int:
        return len(self.planes)

    def vertices(self) -> np.ndarray:
        """All contour vertices of all planes, (V, 3)."""
        parts = [p.vertices() for p in self.planes if not p.is_empty]
        return np.concatenate(parts) if parts else np.zeros((0, 3))

    def extent_points(self) -> np.ndarray:
        """(N, 3) points whose bounding box the surface is expected to fill: every
        contour vertex moved by ``+-cap`` along its plane's normal."""
        parts = []
        for plane in self.planes:
            if plane.is_empty:
                continue
            verts = plane.vertices()
            parts += [verts + self.cap * plane.normal, verts - self.cap * plane.normal]
        return np.concatenate(parts)

    def labels(self) -> list[int]:
        """The distinct region labels (see :meth:`PlaneSlice.region_labels`), sorted.
        More than one: a labelled segmentation, reconstructed one label at a time."""
        return sorted({lab for p in self.planes for lab in p.region_labels()})

    def for_label(self, label: int) -> "SliceSet":
        """The slices of one label: each plane keeps that label's contours, and a plane
        without any says the label is absent there (outside), as in a segmentation.

        Raises
        ------
        InputError
            ``label`` does not occur.
        """
        present = self.labels()
        if label not in present:
            raise InputError(f"has no label {label} (its labels are {', '.join(map(str, present))})", self.source)
        planes = tuple(p.only_label(label) for p in self.planes)
        return SliceSet(planes=planes, source=self.source, cap=self.cap, meta={**self.meta, "label": label})

    def transformed(self, normalization: "Normalization") -> "SliceSet":
        """The same slices in ``normalization``'s unit frame."""
        return SliceSet(
            planes=tuple(p.transformed(normalization) for p in self.planes),
            source=self.source,
            cap=self.cap / normalization.scale,
            meta=self.meta,
        )

    def summary(self) -> dict:
        """JSON-ready description for run records."""
        return {
            "kind": self.kind,
            "source": self.source,
            "planes": len(self.planes),
            "empty_planes": sum(p.is_empty for p in self.planes),
            "contours": sum(len(p.loops) for p in self.planes),
            "vertices": sum(p.num_vertices for p in self.planes),
            "cap": self.cap,
            **self.meta,
        }


# ------------------------------------------------------------------ 2D geometry


def signed_area(loop: np.ndarray) -> float:
    """Shoelace area of a closed 2D polygon (M, 2); positive when counter-clockwise."""
    x, y = loop[:, 0], loop[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def points_inside(uv: np.ndarray, loops: Sequence[np.ndarray]) -> np.ndarray:
    """Even-odd rule: (N,) bool, True where an odd number of ``loops`` (each (M, 2))
    encloses the point. Nested loops alternate inside/outside (holes, islands)."""
    from skimage.measure import points_in_poly

    uv = np.asarray(uv, dtype=np.float64)
    inside = np.zeros(len(uv), dtype=bool)
    for loop in loops:
        lo, hi = loop.min(axis=0), loop.max(axis=0)
        # Only points in the loop's bounding box can be inside it.
        cand = np.flatnonzero(np.all((uv >= lo) & (uv <= hi), axis=1))
        if len(cand):
            inside[cand] ^= points_in_poly(uv[cand], loop)
    return inside


def nesting_parents(loops: Sequence[np.ndarray]) -> tuple[list[int], list[int]]:
    """Containment structure of non-crossing closed 2D loops.

    Returns
    -------
    depth : list of int
        How many other loops enclose each loop (even = outer, odd = hole).
    parent : list of int
        Index of the innermost enclosing loop, or -1.
    """
    from skimage.measure import points_in_poly

    k = len(loops)
    encloses = np.zeros((k, k), dtype=bool)  # encloses[j, i]: loop j contains loop i
    for i, loop in enumerate(loops):
        probe = loop[:1]
        for j, other in enumerate(loops):
            if i != j:
                encloses[j, i] = bool(points_in_poly(probe, other)[0])
    depth = encloses.sum(axis=0).tolist()
    parent = []
    for i in range(k):
        containers = np.flatnonzero(encloses[:, i])
        parent.append(int(containers[np.argmax([depth[j] for j in containers])]) if len(containers) else -1)
    return depth, parent


def first_crossing(loops: Sequence[np.ndarray], tol: float = 0.0, chunk: int = 512) -> tuple[int, int] | None:
    """First pair of loop indices ``(a, b)`` whose edges properly cross (``a == b``:
    a loop crossing itself), or None. Touching or collinear edges do not count.

    Parameters
    ----------
    loops : sequence of (M_i, 2) ndarray
        Closed 2D polygons.
    tol : float
        Orientation values (twice triangle areas) below this count as zero.
    chunk : int
        Edges tested at once against all others (bounds memory).
    """
    starts, ends, owner, pos, sizes = [], [], [], [], []
    for k, loop in enumerate(loops):
        starts.append(loop)
        ends.append(np.roll(loop, -1, axis=0))
        owner.append(np.full(len(loop), k))
        pos.append(np.arange(len(loop)))
        sizes.append(np.full(len(loop), len(loop)))
    if not starts:
        return None
    a0, a1 = np.concatenate(starts), np.concatenate(ends)
    own, idx, size = np.concatenate(owner), np.concatenate(pos), np.concatenate(sizes)
    lo, hi = np.minimum(a0, a1), np.maximum(a0, a1)

    def orient(p, q, r):
        return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])

    n = len(a0)
    for s in range(0, n, chunk):
        e = slice(s, min(s + chunk, n))
        # Bounding boxes must overlap before the orientation test matters.
        overlap = np.all((lo[e, None] <= hi[None]) & (lo[None] <= hi[e, None]), axis=2)
        rows = np.arange(s, e.stop)[:, None]
        overlap &= np.arange(n)[None] > rows  # each pair once
        same = own[e, None] == own[None]
        gap = np.abs(idx[e, None] - idx[None])
        adjacent = same & ((gap == 1) | (gap == size[e, None] - 1))
        overlap &= ~adjacent
        i, j = np.nonzero(overlap)
        if not len(i):
            continue
        i = i + s
        d1 = orient(a0[i], a1[i], a0[j])
        d2 = orient(a0[i], a1[i], a1[j])
        d3 = orient(a0[j], a1[j], a0[i])
        d4 = orient(a0[j], a1[j], a1[i])
        cross = (d1 * d2 < 0) & (d3 * d4 < 0) & (np.minimum.reduce([abs(d1), abs(d2), abs(d3), abs(d4)]) > tol)
        hit = np.flatnonzero(cross)
        if len(hit):
            return int(own[i[hit[0]]]), int(own[j[hit[0]]])
    return None


def clean_loop(loop: np.ndarray, tol: float) -> np.ndarray:
    """Drop consecutive duplicate vertices (closer than ``tol``), including a repeated
    first vertex at the end."""
    if len(loop) < 2:
        return loop
    step = np.linalg.norm(loop - np.roll(loop, 1, axis=0), axis=1)
    keep = step > tol
    if not keep.any():
        return loop[:1]
    return loop[keep]


# -------------------------------------------------------------- construction


def plane_cap(planes: Sequence[PlaneSlice], fallback_fraction: float = 0.05) -> float:
    """Half the median spacing between neighbouring parallel planes (world units).

    With no parallel pair, ``fallback_fraction`` of the longest side of the
    contour bounding box.
    """
    gaps = []
    for i, p in enumerate(planes):
        best = np.inf
        for j, q in enumerate(planes):
            if i == j:
                continue
            dot = float(p.normal @ q.normal)
            if abs(dot) > 1.0 - 1e-6:
                gap = abs(p.offset - np.sign(dot) * q.offset)
                if gap > 0:
                    best = min(best, gap)
        if np.isfinite(best):
            gaps.append(best)
    if gaps:
        return 0.5 * float(np.median(gaps))
    verts = np.concatenate([p.vertices() for p in planes if not p.is_empty])
    return fallback_fraction * float((verts.max(axis=0) - verts.min(axis=0)).max())


def make_plane(
    normal: Sequence[float],
    offset: float,
    loops: Sequence[np.ndarray] = (),
    parents: Sequence[int] | None = None,
    labels: Sequence[int] | None = None,
) -> PlaneSlice:
    """A :class:`PlaneSlice` from a possibly unnormalised plane ``normal . x + offset = 0``.

    Contour points are projected onto the plane (callers check planarity first,
    see :func:`check_slices`). Without ``parents``, holes are found by nesting.
    """
    n = np.asarray(normal, dtype=np.float64)
    length = float(np.linalg.norm(n))
    n, d = n / length, float(offset) / length
    projected = []
    for loop in loops:
        loop = np.asarray(loop, dtype=np.float64)
        projected.append(loop - np.outer(loop @ n + d, n))
    plane = PlaneSlice(n, d, tuple(projected), (), ())
    if parents is None:
        depth, parent = nesting_parents(plane.loops_2d())
        parents = [parent[i] if depth[i] % 2 else -1 for i in range(len(projected))]
    labels = [1] * len(projected) if labels is None else list(labels)
    return PlaneSlice(n, d, tuple(projected), tuple(int(p) for p in parents), tuple(int(x) for x in labels))


def check_slices(planes: Sequence[PlaneSlice], source: str, where: Sequence[str] | None = None) -> float:
    """Validate what every plane needs before its contours are read in 2D: at least
    two planes, some contour, finite coordinates, finite non-zero normals, closed
    contours (>= 3 distinct vertices) lying on their plane.

    Parameters
    ----------
    planes : sequence of PlaneSlice
        Planes as given (contours not yet projected).
    source : str
        Named in error messages.
    where : sequence of str, optional
        Per plane, a location prefix for messages (``"line 12: plane 3"``).

    Returns
    -------
    float
        Bounding-box diagonal of all contour points (world units).

    Raises
    ------
    InputError
        On the first problem.
    """
    where = list(where) if where is not None else [f"plane {i + 1}" for i in range(len(planes))]
    if len(planes) < 2:
        raise InputError(f"has {len(planes)} plane(s); at least 2 are needed to reconstruct a solid", source)
    if all(p.is_empty for p in planes):
        raise InputError("no plane has a contour; there is no shape to reconstruct", source)
    verts = np.concatenate([np.concatenate(p.loops) for p in planes if p.loops])
    if not np.isfinite(verts).all():
        raise InputError("has NaN or infinite contour coordinates", source)
    diag = float(np.linalg.norm(verts.max(axis=0) - verts.min(axis=0)))
    if diag == 0.0:
        raise InputError("all contour points are identical", source)
    tol = PLANARITY_TOLERANCE * diag
    for plane, loc in zip(planes, where):
        length = float(np.linalg.norm(plane.normal))
        if not (np.isfinite(length) and length > 0 and np.isfinite(plane.offset)):
            raise InputError(f"{loc}: the plane coefficients (A, B, C) must be finite and not all zero", source)
        n, d = plane.normal / length, plane.offset / length
        for k, loop in enumerate(plane.loops):
            if len(loop) < 3:
                raise InputError(f"{loc}: contour {k + 1} is open (it has {len(loop)} distinct vertices; "
                                 "a closed contour needs at least 3)", source)
            dist = np.abs(loop @ n + d)
            worst = int(np.argmax(dist))
            if dist[worst] > tol:
                raise InputError(f"{loc}: contour {k + 1} vertex {worst + 1} lies {dist[worst]:.4g} from the "
                                 f"stated plane (tolerance {tol:.3g}); contour points must lie on their plane",
                                 source)
    return diag


def _check_areas_and_holes(plane: PlaneSlice, loc: str, source: str, diag: float, areas: np.ndarray | None,
                           repaired_labels: set[int]) -> None:
    """Zero-area contours and holes outside their parents are errors."""
    loops2 = plane.loops_2d()
    for k, loop in enumerate(loops2):
        area = abs(signed_area(loop)) if areas is None else areas[k]
        if area <= MIN_AREA_FRACTION * diag**2:
            raise InputError(f"{loc}: contour {k + 1} has zero area (its points are collinear)", source)
    regions = plane.region_labels()
    for k, parent in enumerate(plane.parents):
        if parent >= 0 and regions[k] not in repaired_labels and not points_inside(loops2[k][:1], [loops2[parent]])[0]:
            raise InputError(f"{loc}: contour {k + 1} is marked as a hole of contour {parent + 1} "
                             "but lies outside it", source)


def _repair_plane(plane: PlaneSlice, loc: str, source: str, diag: float) -> tuple[PlaneSlice, list[str]]:
    """Diagnose one projected plane (see :mod:`sdfrecon.datasets.contour_repair`), refuse
    degenerate or orientation-less contours, and rebuild the labels whose contours
    cross or touch as the simple rings of their even-odd fill.

    Returns
    -------
    (PlaneSlice, list of str)
        The plane (the same object when nothing needed repair) and one message per repair.
    """
    from sdfrecon.datasets.contour_repair import diagnose, repair_group

    loops2 = plane.loops_2d()
    regions = plane.region_labels()
    found = diagnose(loops2, regions)
    for k, area in enumerate(found.areas):
        if area <= MIN_AREA_FRACTION * diag**2:
            raise InputError(f"{loc}: contour {k + 1} has zero area (its points are collinear)", source)
    if found.ambiguous:
        bad = found.ambiguous[0]
        raise InputError(f"{loc}: contour {bad.contour + 1} crosses itself so much that it has no inside: its loops "
                         f"turn both ways (net signed area {100 * bad.winding_ratio:.0f}% of the area it encloses); "
                         "check the order of its vertices", source)
    if not found.defects:
        _check_areas_and_holes(plane, loc, source, diag, found.areas, set())
        return plane, []
    broken = {regions[d.contour] for d in found.defects}
    labels = plane.labels or (1,) * len(plane.loops)
    parents = plane.parents or (-1,) * len(plane.loops)
    keep = [k for k in range(len(plane.loops)) if regions[k] not in broken]  # labels without defects stay as given
    index = {old: new for new, old in enumerate(keep)}
    new_loops = [plane.loops[k] for k in keep]
    new_parents = [index.get(parents[k], -1) for k in keep]
    new_labels = [labels[k] for k in keep]
    for label in sorted(broken):
        rings, parents = repair_group([lp for lp, lab in zip(loops2, regions) if lab == label])
        offset = len(new_loops)
        new_loops += [plane.from_2d(r) for r in rings]
        new_parents += [p + offset if p >= 0 else -1 for p in parents]
        new_labels += [label] * len(rings)
    repaired = PlaneSlice(plane.normal, plane.offset, tuple(new_loops), tuple(new_parents), tuple(new_labels))
    _check_areas_and_holes(repaired, loc, source, diag, None, broken)
    return repaired, [f"{loc}: {d.describe()}" for d in found.defects]


def _join_pieces(plane: PlaneSlice, loc: str, notes: list[str]) -> PlaneSlice:
    """``plane`` with outlines digitised in pieces joined into one contour each
    (:func:`sdfrecon.datasets.contour_repair.join_open_chains`), one note per join. The
    file's hole parents refer to the old contour numbers, so a plane with a join has its
    nesting recomputed from the geometry."""
    from sdfrecon.datasets.contour_repair import join_open_chains

    labels = plane.labels or (1,) * len(plane.loops)
    loops, labels, joins = join_open_chains(plane.loops, labels)
    if not joins:
        return plane
    notes += [f"{loc}: {join.describe()}" for join in joins]
    return PlaneSlice(plane.normal, plane.offset, tuple(loops), (), tuple(labels))


def check_volume_extent(slices: "SliceSet") -> None:
    """Raise :class:`InputError` when every contour lies in one plane (all planes
    coincide): such slices enclose no volume to reconstruct."""
    verts = slices.vertices()
    diag = float(np.linalg.norm(verts.max(axis=0) - verts.min(axis=0))) if len(verts) else 0.0
    if diag == 0.0:
        return  # reported by check_slices
    centred = (verts - verts.mean(axis=0)) / diag
    if np.linalg.svd(centred, compute_uv=False)[-1] / np.sqrt(len(verts)) < COPLANAR_TOLERANCE:
        raise InputError("all contours lie in one plane (the planes coincide); slices at different positions "
                         "are needed to enclose a volume", slices.source)


def make_slice_set(planes: Sequence[PlaneSlice], source: str, *, where: Sequence[str] | None = None,
                   check_crossings: bool = True, meta: dict | None = None,
                   repairs: Sequence[str] = ()) -> SliceSet:
    """Validate planes, project contours onto their planes, repair digitisation
    defects, and wrap them as a :class:`SliceSet` with its :func:`plane_cap`.

    Repaired defects (see :mod:`sdfrecon.datasets.contour_repair`: contours that
    touch or slightly cross themselves or each other, repeated vertices, outlines
    digitised in pieces with tiny gaps between them) are
    logged as one ``warning`` per plane and contour and listed in
    ``meta["repairs"]``.

    Parameters
    ----------
    planes : sequence of PlaneSlice
        Planes with possibly unnormalised normals and slightly off-plane points.
    source : str
        Named in every error and warning.
    where : sequence of str, optional
        Per-plane location prefixes for messages.
    check_crossings : bool
        Whether to look for crossing and touching contours (contours traced from
        a raster cannot cross: masks skip it).
    meta : dict, optional
        Extras for :meth:`SliceSet.summary`.
    repairs : sequence of str
        Repairs a reader already made (e.g. to plane equations), reported and
        recorded with the others.

    Returns
    -------
    SliceSet

    Raises
    ------
    InputError
        Fewer than 2 planes, no contour at all, open / off-plane / zero-area
        contours, a self-crossing contour without an orientation, or holes
        outside their parents.
    """
    where = list(where) if where is not None else [f"plane {i + 1}" for i in range(len(planes))]
    notes: list[str] = list(repairs)
    verts = [loop for p in planes for loop in p.loops]
    if verts:
        stacked = np.concatenate(verts).astype(np.float64)
        finite = stacked[np.isfinite(stacked).all(axis=1)]
        extent = float(np.linalg.norm(finite.max(axis=0) - finite.min(axis=0))) if len(finite) else 0.0
        tol = max(DUPLICATE_TOLERANCE * extent, 1e-12 * float(np.abs(finite).max(initial=1.0)))
        cleaned = []
        for plane, loc in zip(planes, where):
            loops = []
            for k, loop in enumerate(plane.loops):
                loop = np.asarray(loop, dtype=np.float64)
                kept = clean_loop(loop, tol)
                closing = len(loop) > 1 and np.linalg.norm(loop[-1] - loop[0]) <= tol
                repeats = len(loop) - len(kept) - int(closing)
                if repeats > 0 and len(kept) >= 3:
                    notes.append(f"{loc}: contour {k + 1} repeats {repeats} vertex(es) in a row; dropped the copies")
                loops.append(kept)
            cleaned.append(_join_pieces(PlaneSlice(plane.normal, plane.offset, tuple(loops), plane.parents,
                                                   plane.labels), loc, notes))
        planes = cleaned
    diag = check_slices(planes, source, where)
    flat = [make_plane(p.normal, p.offset, p.loops, p.parents or None, p.labels or None) for p in planes]
    clean = []
    for plane, loc in zip(flat, where):
        if plane.is_empty:
            clean.append(plane)
        elif check_crossings:
            plane, repairs = _repair_plane(plane, loc, source, diag)
            notes += repairs
            clean.append(plane)
        else:
            _check_areas_and_holes(plane, loc, source, diag, None, set())
            clean.append(plane)
    _report(notes, source)
    info = dict(meta or {})
    if notes:
        info["repairs"] = notes
    return SliceSet(planes=tuple(clean), source=source, cap=plane_cap(clean), meta=info)


MAX_WARNINGS = 20
"""Repair warnings logged per input; the rest are counted in one line (all are in the run record)."""


def _report(notes: list[str], source: str) -> None:
    for note in notes[:MAX_WARNINGS]:
        log.warning("%s: %s", source, note)
    if len(notes) > MAX_WARNINGS:
        log.warning("%s: %d more repairs (listed in the run record under input.repairs)", source,
                    len(notes) - MAX_WARNINGS)
