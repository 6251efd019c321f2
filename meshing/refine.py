"""Move mesh vertices onto the input points' surface (point-set projection).

A neural field meshed on a grid is accurate to about a cell; the input points
often carry finer detail. Each vertex is projected onto the local plane of the
input points around it -- the weighted centroid and weighted mean normal of its
nearest points (the "simple point set surface" projection of Adamson and Alexa,
iterated) -- and the displacement is capped at ``max_move`` so the mesh keeps
its topology and cannot fold. The mesh's own vertex normals orient the points'
normals, so input normals of unknown sign (or normals estimated here by PCA)
work as well as oriented ones. Vertices far from any input point (holes, the
far side of missing data) stay where the field put them.

On clean dense input the edges can then be split and the new edge midpoints projected
as well (``subdivide_below_noise``): the vertices were on the surface, but a cell-wide
flat triangle between them cuts the chord of a curved part. The first split takes the
edges whose chord stands at least ``first_split`` cells off the surface (0: every edge,
each triangle in four); where the surface still curves away from the halved edges by
more than ``curved_split`` cells, those are split once more and their midpoints projected too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import trimesh

from sdfrecon.base.errors import ConfigError
from sdfrecon.meshing.subdivide import close_selection, edge_sagitta, split_edges


@dataclass
class RefineConfig:
    """Projection of mesh vertices onto the input points (after marching cubes)."""

    enabled: bool = False
    """Project the vertices; off keeps the marching-cubes mesh as it is."""
    neighbours: int = 32
    """Input points around each vertex that define its local plane (the widest neighbourhood)."""
    bandwidth: float = 0.6
    """Gaussian weight width, in units of the local point spacing (distance to the 8th
    nearest point); wider averages more noise away, narrower keeps detail."""
    noise_bandwidth: float = 5.0
    """Lower bound on the weight width, in units of the input's noise (the median
    scatter of points about their local planes): noisy scans are averaged over more
    points, clean ones keep their detail. 0 disables."""
    max_move: float = 1.0
    """Largest displacement of a vertex, in marching-cubes cells."""
    max_spacing: float = 3.0
    """Project only where the input's local spacing is below this many cells (dense data);
    sparse input is left to the field. A 50k-point scan of a long part (joint, spacing
    about 2 cells) is dense; the corpus's 1k-point clouds have 3.7-13 cells (median)."""
    iterations: int = 2
    """Projection passes (each re-fits the local plane at the moved vertex)."""
    normal_agreement: float = 0.5
    """Neighbours whose (unsigned) normal makes an angle with the vertex normal of more
    than arccos(this) are ignored (keeps perpendicular sheets at edges apart)."""
    sheet_tolerance: float = 0.5
    """Only the sheet of points nearest to a vertex defines its plane: neighbours whose
    offset along the vertex normal differs from the nearest point's by more than this
    many local spacings (or four times the input's noise) are ignored. Without it the
    two sides of a wall thinner than the neighbourhood (a table top, a chair slat)
    pull their vertices onto one mid-plane."""
    gap_fraction: float = 0.45
    """No vertex moves along its normal by more than this fraction of the distance to
    the mesh's nearest opposite-facing sheet, behind it (the other side of a thin
    wall) or in front (across a narrow slot): sheets never meet or cross."""
    subdivide_below_noise: float = 0.0
    """Clean, dense input: when the input's noise is below this many cells and most
    vertices were projected, split the triangles (every one in four, or only around curved
    edges: ``first_split``) and project the new edge midpoints too (one pass). A flat triangle a cell wide cuts the chord of a curved
    surface (error about cell^2 / 8R); halving the edges quarters it. Noisy scans are
    left alone: their projected vertices scatter by a fraction of the noise, and on
    half-size triangles that scatter doubles the normals' roughness. 0 never splits."""
    first_split: float = 0.0
    """That split takes only the edges whose chord stands at least this many cells off the
    surface (estimated from their end normals, :func:`sdfrecon.meshing.subdivide.edge_sagitta`),
    the triangles around them split in two or four so the mesh stays closed: flat parts keep
    their triangles, whose chords already lie on the surface. 0 splits every triangle in four."""
    curved_split: float = 0.0
    """After that split: edges whose chord stands further than this many cells off the
    surface (estimated from their end normals, :func:`sdfrecon.meshing.subdivide.edge_sagitta`)
    are split once more, the triangles around them in two or four so the mesh stays closed,
    and the new midpoints are projected. Only curved parts get the extra triangles (flat
    ones have no chord error). 0 never does."""
    smooth_above_noise: float = 0.0
    """Noisy, dense input: when the input's noise exceeds this many cells and most
    vertices were projected, the projected mesh gets ``smooth_passes`` Taubin passes. The
    projection averages the noise over a neighbourhood, but each vertex keeps a scatter of
    a fraction of it: the normals come out rough. Real scans without added noise (0.07-0.09
    cells in the corpus) keep their detail below it. 0 never smooths."""
    smooth_passes: int = 5
    """Taubin passes, each a shrinking (lambda 0.5) and an inflating (mu -0.5) Laplacian step, so
    the volume is kept (trimesh.smoothing.filter_taubin with twice as many iterations)."""
    noisy_neighbours: int = 0
    """Noisy dense input (noise above ``smooth_above_noise`` cells, points closer than
    ``max_spacing`` cells, median): each vertex's plane is fitted to
    this many nearest points instead of ``neighbours``. There the Gaussian weight (widened by
    ``noise_bandwidth``) reaches past the 32 nearest points, and a plane through more points keeps
    less of the noise; a wider one bends less with the surface, so the count is bounded. 0 keeps
    ``neighbours``."""

    def validate(self, path: str) -> None:
        if self.neighbours < 3 or self.iterations < 0 or self.noisy_neighbours < 0 or 0 < self.noisy_neighbours < 3:
            raise ConfigError(f"{path}: neighbours must be >= 3, noisy_neighbours 0 or >= 3, iterations >= 0")
        if not (self.bandwidth > 0 and self.max_move >= 0 and self.max_spacing > 0 and self.noise_bandwidth >= 0):
            raise ConfigError(f"{path}: bandwidth and max_spacing must be > 0, max_move and noise_bandwidth >= 0")
        if not (self.sheet_tolerance > 0 and 0 < self.gap_fraction < 0.5):
            raise ConfigError(f"{path}: sheet_tolerance must be > 0 and gap_fraction in (0, 0.5)")
        if self.subdivide_below_noise < 0:
            raise ConfigError(f"{path}.subdivide_below_noise: must be >= 0, got {self.subdivide_below_noise}")
        if self.first_split < 0 or self.curved_split < 0:
            raise ConfigError(f"{path}: first_split and curved_split must be >= 0, "
                              f"got {self.first_split} and {self.curved_split}")
        if self.smooth_above_noise < 0 or self.smooth_passes < 0:
            raise ConfigError(f"{path}: smooth_above_noise and smooth_passes must be >= 0, "
                              f"got {self.smooth_above_noise} and {self.smooth_passes}")
        if not -1.0 <= self.normal_agreement < 1.0:
            raise ConfigError(f"{path}.normal_agreement: must lie in [-1, 1), got {self.normal_agreement}")


def project_to_points(mesh: trimesh.Trimesh, points: np.ndarray, normals: np.ndarray,
                      cell: float, cfg: RefineConfig) -> tuple[trimesh.Trimesh, dict]:
    """Project the vertices of ``mesh`` onto the surface of ``points``.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        Closed mesh with outward normals, same frame as ``points``.
    points : (N, 3) ndarray
        Input points.
    normals : (N, 3) ndarray
        Their unit normals; the sign does not matter (e.g. PCA normals).
    cell : float
        Marching-cubes cell size, same units; scales ``max_move`` and ``max_spacing``.
    cfg : RefineConfig

    Returns
    -------
    (trimesh.Trimesh, dict)
        The mesh with moved vertices (same faces; or split when ``subdivide_below_noise``
        applies: ``first_split``, then curved ones again, ``curved_split``)
        and statistics: ``moved`` (share of vertices projected), ``mean_move`` and
        ``max_move`` (in cells), ``noise`` (the input's estimated noise, in cells),
        ``subdivided`` (1 when the faces were split), ``split_edges`` (edges split first),
        ``curved_edges`` (edges split again),
        ``smoothed`` (1 when ``smooth_above_noise`` applied), ``neighbours`` (points per
        plane, ``noisy_neighbours`` on noisy input), ``restored`` (vertices put
        back where they were, :func:`undo_collapses`) and ``unfolded`` (the same for
        folds, :func:`undo_folds`).
    """
    from sdfrecon.base.kdtree import point_tree

    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    tree = point_tree(points)
    surface = _PointSurface(points, normals, tree,
                            tree.query(points, k=min(9, len(points)), workers=-1)[0][:, -1],  # 8th neighbour
                            noise_level(points, normals, tree) if cfg.noise_bandwidth > 0 else 0.0)
    # Noisy input: planes through more points here, Taubin passes after the projection. Only
    # dense clouds: on sparse ones the estimate measures their curvature (1k-point clouds read
    # 0.4-3.8 cells), and they are not projected anyway.
    noisy = (cfg.smooth_above_noise > 0 and surface.noise > cfg.smooth_above_noise * cell
             and np.median(surface.spacing) <= cfg.max_spacing * cell)
    if noisy and cfg.noisy_neighbours:
        cfg = dataclasses.replace(cfg, neighbours=cfg.noisy_neighbours)
    start = np.array(mesh.vertices, dtype=np.float64)
    vertex_normals = np.array(mesh.vertex_normals, dtype=np.float64)
    limit = cfg.max_move * cell
    projected, active = surface.project(start, vertex_normals, cell, cfg, cfg.iterations)
    vertices = start + _keep_sheets_apart(start, vertex_normals, projected - start, 4 * limit, cfg.gap_fraction)
    vertices, restored = undo_collapses(vertices, start, COLLAPSE_MARGIN * cell)
    vertices, unfolded = undo_folds(vertices, start, mesh.faces)
    moves = np.linalg.norm(vertices - start, axis=1) / cell
    out = trimesh.Trimesh(vertices, mesh.faces, process=False)
    # Only where the points are dense (most vertices projected): on sparse input the mesh
    # is the field's, and the projection's gates below say nothing about it.
    dense = active.mean() >= 0.5
    # Clean: split, so the midpoints land on the surface too (on sparse input they would stay on
    # the chords, four times the triangles for nothing).
    split = cfg.subdivide_below_noise > 0 and surface.noise < cfg.subdivide_below_noise * cell and dense
    # Noisy: smooth what the projection left.
    smooth = noisy and cfg.smooth_passes > 0 and dense
    first_edges, curved_edges = 0, 0
    if split:
        out, put_back, first_edges = _split_curved_and_project(out, surface, cell, cfg, cfg.first_split)
        restored, unfolded = restored + put_back[0], unfolded + put_back[1]
        if cfg.curved_split > 0:
            out, put_back, curved_edges = _split_curved_and_project(out, surface, cell, cfg, cfg.curved_split)
            restored, unfolded = restored + put_back[0], unfolded + put_back[1]
    if smooth:
        trimesh.smoothing.filter_taubin(out, lamb=0.5, nu=0.5, iterations=2 * cfg.smooth_passes)
    stats = {"moved": float(active.mean()), "mean_move": float(moves[active].mean()) if active.any() else 0.0,
             "max_move": float(moves.max()) if len(moves) else 0.0, "noise": surface.noise / cell,
             "subdivided": float(split), "split_edges": float(first_edges), "curved_edges": float(curved_edges),
             "smoothed": float(smooth), "neighbours": float(cfg.neighbours),
             "restored": float(restored), "unfolded": float(unfolded)}
    return out, stats


PROJECT_BLOCK = 16_384
"""Vertices projected at once (bounds the (block, neighbours, 3) arrays to ~12 MB at 32 neighbours)."""


@dataclass
class _PointSurface:
    """The input points as a surface to project onto: points and unit normals (N, 3), their
    KD-tree, each point's 8th-neighbour spacing (N,) and the input's noise (same units)."""

    points: np.ndarray
    normals: np.ndarray
    tree: object
    spacing: np.ndarray
    noise: float

    def project(self, vertices: np.ndarray, vertex_normals: np.ndarray, cell: float, cfg: RefineConfig,
                iterations: int) -> tuple[np.ndarray, np.ndarray]:
        """(V, 3) vertices moved onto the local planes of their nearest points, by at most
        ``max_move`` cells, and which of them (V,) bool were projected."""
        # Each vertex is projected on its own; in blocks the (block, k, 3) arrays are reused
        # memory, where whole-mesh ones (~75 MB each on a 100k-vertex mesh) came fresh from
        # the system every time (joint's refinement 4.3 -> 3.5 s).
        parts = [self._project_block(vertices[i:i + PROJECT_BLOCK], vertex_normals[i:i + PROJECT_BLOCK],
                                     cell, cfg, iterations) for i in range(0, len(vertices), PROJECT_BLOCK)]
        if not parts:
            return np.empty((0, 3)), np.zeros(0, dtype=bool)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _project_block(self, vertices: np.ndarray, vertex_normals: np.ndarray, cell: float, cfg: RefineConfig,
                       iterations: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`project` on one block of vertices."""
        points, normals = self.points, self.normals
        k = min(cfg.neighbours, len(points))
        start = vertices
        limit = cfg.max_move * cell
        active = np.ones(len(vertices), dtype=bool)
        for _ in range(iterations):
            dist, idx = self.tree.query(vertices, k=k, workers=-1)
            local = self.spacing[idx].mean(axis=1)  # the neighbourhood's spacing (one point's is noisy)
            h = np.maximum(np.maximum(local * cfg.bandwidth, self.noise * cfg.noise_bandwidth), 1e-12)
            near_points, near_normals = np.take(points, idx, axis=0), np.take(normals, idx, axis=0)  # (V, k, 3)
            agree = _dot_rows(near_normals, vertex_normals)
            offsets = _dot_rows(near_points, vertex_normals) - np.einsum("nd,nd->n", vertices, vertex_normals)[:, None]
            tolerance = np.maximum(local * cfg.sheet_tolerance, 4.0 * self.noise)
            nearest_sheet = np.abs(offsets - offsets[:, :1]) <= tolerance[:, None]
            weight = np.exp(-(dist / h[:, None]) ** 2) * (np.abs(agree) >= cfg.normal_agreement) * nearest_sheet
            total = weight.sum(axis=1)
            active &= (local <= cfg.max_spacing * cell) & (total > 1e-6) & (dist[:, 0] <= 2 * limit + h)
            w = weight / np.maximum(total, 1e-12)[:, None]
            centroid = _weighted_sum(w, near_points)
            # the neighbours' normals turned to the vertex normal's side (their sign is unknown)
            normal = _weighted_sum(np.where(agree < 0, -w, w), near_normals)
            normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
            offset = np.einsum("nd,nd->n", vertices - centroid, normal)
            moved = vertices - offset[:, None] * normal
            displacement = moved - start
            length = np.linalg.norm(displacement, axis=1)
            scale = np.minimum(1.0, limit / np.maximum(length, 1e-12))
            vertices = np.where(active[:, None], start + displacement * scale[:, None], start)
        return vertices, active


def _dot_rows(rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(V, k) dot products of each of the k rows of ``rows`` (V, k, 3) with ``vectors`` (V, 3)."""
    # a batched matmul: 2-4x faster than np.einsum here (on (390k, 32, 3): 20 against 54 ms)
    return (rows @ vectors[:, :, None])[..., 0]


def _weighted_sum(weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(V, 3) sums of ``rows`` (V, k, 3) weighted by ``weights`` (V, k)."""
    return (weights[:, None, :] @ rows)[:, 0]


COLLAPSE_MARGIN = 1e-4
"""Vertices the projection leaves closer than this many cells to another are put back."""


FOLD_COSINE = 0.0
"""A triangle whose normal the projection turned by more than arccos(this) (90 degrees: turned
over) counts as folded. Measured on the 26 oriented inputs' captured fields: putting back the
corners of triangles turned by over 60 degrees as well removed more folds (5.5k instead of 11.7k
of 33.9k edges folded sharper than 120 degrees) but cost accuracy (surface Chamfer ratio to
Poisson 0.62 -> 0.66, wins 25 -> 21 of 26); turned over only costs none."""


def undo_folds(vertices: np.ndarray, before: np.ndarray, faces: np.ndarray, *, rounds: int = 3) -> tuple[np.ndarray, int]:
    """(V, 3) ``vertices`` with the corners of every triangle the projection turned over
    (:data:`FOLD_COSINE`) put back at ``before`` (V, 3); and how many were put back.

    A vertex projected along its local plane's normal also moves sideways; on triangles a
    fraction of a cell wide (after the splits) that can turn a neighbouring triangle over:
    a fold, a local self-intersection that no distance metric sees. Put back, the corners
    return to a configuration without it; a few rounds catch folds that putting back one
    corner makes next to it. faces : (F, 3) int.
    """
    vertices = np.array(vertices, dtype=np.float64)
    before = np.asarray(before, dtype=np.float64)
    faces = np.asarray(faces)
    reference = _unit_normals(before, faces)
    restored = np.zeros(len(vertices), dtype=bool)
    for _ in range(rounds):
        turned = np.einsum("ij,ij->i", reference, _unit_normals(vertices, faces)) < FOLD_COSINE
        turned &= np.any(reference != 0, axis=1)  # a degenerate triangle had no side to turn from
        corners = np.unique(faces[turned])
        corners = corners[np.any(vertices[corners] != before[corners], axis=1)]
        if len(corners) == 0:
            break
        vertices[corners] = before[corners]
        restored[corners] = True
    return vertices, int(restored.sum())


def _unit_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) unit normals of ``faces`` on ``vertices`` (zero for degenerate faces)."""
    corners = vertices[faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def undo_collapses(vertices: np.ndarray, before: np.ndarray, margin: float) -> tuple[np.ndarray, int]:
    """(V, 3) ``vertices`` with those closer than ``margin`` to another one put back at
    ``before`` (V, 3), their position before the projection; and how many were put back.

    Projecting along different local normals can bring two vertices onto one point (at
    creases, across thin walls). Coincident vertices are welded by the tools that load the
    mesh (trimesh's default, float32 files), which opens it. Marching cubes keeps its vertices
    at least ~1e-3 cells apart (:data:`sdfrecon.meshing.marching.LEVEL_MARGIN`), so putting the
    pair back separates it; a few rounds catch a vertex put back next to a third one.
    """
    from scipy.spatial import cKDTree

    vertices = np.array(vertices, dtype=np.float64)
    restored = np.zeros(len(vertices), dtype=bool)
    for _ in range(3):
        pairs = cKDTree(vertices).query_pairs(margin, output_type="ndarray")
        close = np.unique(pairs)
        close = close[~restored[close]]
        if len(close) == 0:
            break
        vertices[close] = before[close]
        restored[close] = True
    return vertices, int(restored.sum())


CURVED_START_LIMIT = 0.25
"""The split midpoints' projection starts at most this fraction of their edge's length off
the chord: across a crease the end normals disagree and the sagitta estimate means nothing."""


def _split_curved_and_project(mesh: trimesh.Trimesh, surface: _PointSurface, cell: float, cfg: RefineConfig,
                              threshold: float) -> tuple[trimesh.Trimesh, tuple[int, int], int]:
    """``mesh`` with the edges whose sagitta is at least ``threshold`` cells split (conforming,
    :mod:`sdfrecon.meshing.subdivide`; 0: every edge) and their midpoints projected; how many
    midpoints were put back (:func:`_project_added`); how many edges were split."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    normals = np.asarray(mesh.vertex_normals, dtype=np.float64)
    edges, face_edges = mesh.edges_unique, mesh.faces_unique_edges
    sagitta = edge_sagitta(vertices, normals, edges)
    chosen = close_selection(face_edges, np.abs(sagitta) >= threshold * cell)
    if not chosen.any():
        return mesh, (0, 0), 0
    new_vertex = np.full(len(edges), -1, dtype=np.int64)
    new_vertex[chosen] = len(vertices) + np.arange(np.count_nonzero(chosen))
    a, b = vertices[edges[chosen, 0]], vertices[edges[chosen, 1]]
    direction = normals[edges[chosen, 0]] + normals[edges[chosen, 1]]
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    limit = CURVED_START_LIMIT * np.linalg.norm(b - a, axis=1)
    # the projection starts on the estimated arc, so it only corrects the estimate
    arc = (a + b) / 2 + np.clip(sagitta[chosen], -limit, limit)[:, None] * direction
    faces = split_edges(mesh.faces, face_edges, new_vertex)
    fine, put_back = _project_added(mesh, np.vstack([vertices, (a + b) / 2]), faces, surface, cell, cfg, guess=arc)
    return fine, put_back, int(np.count_nonzero(chosen))


def _project_added(mesh: trimesh.Trimesh, vertices: np.ndarray, faces: np.ndarray, surface: _PointSurface,
                   cell: float, cfg: RefineConfig, guess: np.ndarray) -> tuple[trimesh.Trimesh, tuple[int, int]]:
    """The split mesh (``vertices`` (V', 3): ``mesh``'s first, then the new ones on their
    chords; ``faces``) with its new vertices projected, and how many of them were put back
    on their chords: onto another vertex (:func:`undo_collapses`), and folding a triangle
    (:func:`undo_folds`).

    The old vertices are already on the points' surface; a new one starts within the
    chord error (a small fraction of a cell) of it, so one projection pass settles it.
    ``guess`` (V' - V, 3): where the projection starts (the estimated arc); the move is
    still measured, and bounded by the sheets, from the chord.
    """
    old = len(mesh.vertices)
    chord = vertices[old:]
    normals = np.asarray(trimesh.Trimesh(vertices, faces, process=False).vertex_normals[old:], dtype=np.float64)
    projected, _ = surface.project(guess, normals, cell, cfg, 1)
    # The sheets to keep apart from are the old vertices': among the split mesh's, denser,
    # the nearest neighbours may all lie on the new vertex's own sheet. The old vertices
    # have already closed up to 2 x gap_fraction of a thin wall's gap; a new vertex only
    # corrects a chord, so it gets half that share of what is left.
    displacement = _keep_sheets_apart(chord, normals, projected - chord, 4 * cfg.max_move * cell,
                                      cfg.gap_fraction / 2, sheets=(np.asarray(mesh.vertices), mesh.vertex_normals))
    moved = vertices.copy()
    moved[old:] += displacement
    moved, restored = undo_collapses(moved, vertices, COLLAPSE_MARGIN * cell)
    moved, unfolded = undo_folds(moved, vertices, faces)
    return trimesh.Trimesh(moved, faces, process=False), (restored, unfolded)


def _keep_sheets_apart(vertices: np.ndarray, normals: np.ndarray, displacement: np.ndarray, radius: float,
                      fraction: float, *, neighbours: int = 32,
                      sheets: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Scale displacements so no vertex crosses ``fraction`` of the gap to an opposite-facing sheet.

    vertices, normals, displacement : (V, 3) arrays (the mesh before projection, its unit
    vertex normals, the proposed moves). radius : only sheets this close count (units of
    the vertices). sheets : (S, 3) points and unit normals of the surface to keep apart
    from (default: ``vertices`` and ``normals`` themselves). Returns the scaled (V, 3)
    displacement.
    """
    from scipy.spatial import cKDTree

    others, other_normals = (vertices, normals) if sheets is None else (np.asarray(sheets[0]), np.asarray(sheets[1]))
    if len(others) < 2 or len(vertices) == 0:
        return displacement
    dist, idx = cKDTree(others).query(vertices, k=min(neighbours, len(others)), distance_upper_bound=radius,
                                      workers=-1)
    valid = np.isfinite(dist)
    idx = np.where(valid, idx, 0)
    facing = valid & (_dot_rows(np.take(other_normals, idx, axis=0), normals) < -0.5)
    offset = _dot_rows(np.take(others, idx, axis=0), normals) - np.einsum("nd,nd->n", vertices, normals)[:, None]
    behind = np.where(facing & (offset < 0), -offset, np.inf).min(axis=1)
    ahead = np.where(facing & (offset > 0), offset, np.inf).min(axis=1)
    along = np.einsum("nd,nd->n", displacement, normals)
    room = fraction * np.where(along < 0, behind, ahead)
    scale = np.minimum(1.0, room / np.maximum(np.abs(along), 1e-300))
    return displacement * scale[:, None]


def noise_level(points: np.ndarray, normals: np.ndarray, tree, *, samples: int = 4000, k: int = 16,
                seed: int = 0) -> float:
    """Median scatter of points about their neighbours' mean plane (same units as the points).

    For each of ``samples`` random points, the standard deviation of its ``k`` nearest
    points' offsets along its normal; the median over them is robust to sharp edges
    and corners, where the local plane is a poor model.
    """
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(points), size=min(samples, len(points)), replace=False)
    _, idx = tree.query(points[pick], k=min(k, len(points)), workers=-1)
    offsets = np.einsum("nkd,nd->nk", points[idx] - points[idx].mean(axis=1, keepdims=True), normals[pick])
    return float(np.median(offsets.std(axis=1)))
