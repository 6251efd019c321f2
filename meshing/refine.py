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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from sdfrecon.base.errors import ConfigError


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
    max_spacing: float = 2.0
    """Project only where the input's local spacing is below this many cells (dense data);
    sparse input is left to the field."""
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

    def validate(self, path: str) -> None:
        if self.neighbours < 3 or self.iterations < 0:
            raise ConfigError(f"{path}: neighbours must be >= 3 and iterations >= 0")
        if not (self.bandwidth > 0 and self.max_move >= 0 and self.max_spacing > 0 and self.noise_bandwidth >= 0):
            raise ConfigError(f"{path}: bandwidth and max_spacing must be > 0, max_move and noise_bandwidth >= 0")
        if not (self.sheet_tolerance > 0 and 0 < self.gap_fraction < 0.5):
            raise ConfigError(f"{path}: sheet_tolerance must be > 0 and gap_fraction in (0, 0.5)")
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
        The mesh with moved vertices (same faces) and statistics: ``moved`` (share
        of vertices projected), ``mean_move`` and ``max_move`` (in cells), ``noise``
        (the input's estimated noise, in cells).
    """
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    k = min(cfg.neighbours, len(points))
    tree = cKDTree(points)
    spacing = tree.query(points, k=min(9, len(points)), workers=-1)[0][:, -1]  # 8th neighbour
    noise = noise_level(points, normals, tree) if cfg.noise_bandwidth > 0 else 0.0
    vertices = np.array(mesh.vertices, dtype=np.float64)
    vertex_normals = np.array(mesh.vertex_normals, dtype=np.float64)
    start = vertices.copy()
    limit = cfg.max_move * cell
    active = np.ones(len(vertices), dtype=bool)
    for _ in range(cfg.iterations):
        dist, idx = tree.query(vertices, k=k, workers=-1)
        local = spacing[idx].mean(axis=1)  # the neighbourhood's spacing (one point's is noisy)
        h = np.maximum(np.maximum(local * cfg.bandwidth, noise * cfg.noise_bandwidth), 1e-12)
        near_normals = normals[idx]
        agree = np.einsum("nkd,nd->nk", near_normals, vertex_normals)
        near_normals = near_normals * np.where(agree < 0, -1.0, 1.0)[:, :, None]
        offsets = np.einsum("nkd,nd->nk", points[idx] - vertices[:, None, :], vertex_normals)
        tolerance = np.maximum(local * cfg.sheet_tolerance, 4.0 * noise)
        nearest_sheet = np.abs(offsets - offsets[:, :1]) <= tolerance[:, None]
        weight = np.exp(-(dist / h[:, None]) ** 2) * (np.abs(agree) >= cfg.normal_agreement) * nearest_sheet
        total = weight.sum(axis=1)
        active &= (local <= cfg.max_spacing * cell) & (total > 1e-6) & (dist[:, 0] <= 2 * limit + h)
        w = weight / np.maximum(total, 1e-12)[:, None]
        centroid = np.einsum("nk,nkd->nd", w, points[idx])
        normal = np.einsum("nk,nkd->nd", w, near_normals)
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
        offset = np.einsum("nd,nd->n", vertices - centroid, normal)
        moved = vertices - offset[:, None] * normal
        displacement = moved - start
        length = np.linalg.norm(displacement, axis=1)
        scale = np.minimum(1.0, limit / np.maximum(length, 1e-12))
        vertices = np.where(active[:, None], start + displacement * scale[:, None], start)
    vertices = start + _keep_sheets_apart(start, vertex_normals, vertices - start, 4 * limit, cfg.gap_fraction)
    moves = np.linalg.norm(vertices - start, axis=1) / cell
    out = trimesh.Trimesh(vertices, mesh.faces, process=False)
    stats = {"moved": float(active.mean()), "mean_move": float(moves[active].mean()) if active.any() else 0.0,
             "max_move": float(moves.max()) if len(moves) else 0.0, "noise": noise / cell}
    return out, stats


def _keep_sheets_apart(vertices: np.ndarray, normals: np.ndarray, displacement: np.ndarray, radius: float,
                      fraction: float, *, neighbours: int = 32) -> np.ndarray:
    """Scale displacements so no vertex crosses ``fraction`` of the gap to an opposite-facing sheet.

    vertices, normals, displacement : (V, 3) arrays (the mesh before projection, its unit
    vertex normals, the proposed moves). radius : only sheets this close count (units of
    the vertices). Returns the scaled (V, 3) displacement.
    """
    from scipy.spatial import cKDTree

    if len(vertices) < 2:
        return displacement
    dist, idx = cKDTree(vertices).query(vertices, k=min(neighbours, len(vertices)), distance_upper_bound=radius,
                                        workers=-1)
    valid = np.isfinite(dist)
    idx = np.where(valid, idx, 0)
    facing = valid & (np.einsum("nkd,nd->nk", normals[idx], normals) < -0.5)
    offset = np.einsum("nkd,nd->nk", vertices[idx] - vertices[:, None, :], normals)
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
