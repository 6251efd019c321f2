"""Cut a mesh with planes into cross-sections, so any mesh becomes a slice benchmark.

A closed (watertight) mesh cut by a plane gives closed contours. The pieces
come from ``trimesh.intersections.mesh_plane`` as loose segments; they are
joined here into loops (endpoints shared by neighbouring faces are merged), and
nesting decides which loops are holes. :func:`sdfrecon.datasets.csl.write_csl` then
writes outer contours counter-clockwise and holes clockwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import trimesh

from sdfrecon.datasets.slices import PlaneSlice, SliceSet, make_plane, make_slice_set
from sdfrecon.base.errors import InputError

AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """A triangle mesh from ``path`` (any format trimesh reads), checked to have faces.

    Raises
    ------
    InputError
        Missing, unreadable, no faces, or non-finite vertices.
    """
    from sdfrecon.datasets.readers import check_readable_file

    p = check_readable_file(path)
    try:
        mesh = trimesh.load(p, force="mesh", process=True)
    except Exception as exc:  # parsers raise anything
        raise InputError(f"cannot be read as a mesh ({' '.join(str(exc).split())[:120]})", p) from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise InputError("has no faces; cutting needs a closed triangle mesh", p)
    if not np.isfinite(mesh.vertices).all():
        raise InputError("has NaN or infinite vertex coordinates", p)
    return mesh


def parallel_planes(mesh: trimesh.Trimesh, count: int, normal: Sequence[float] = AXES["z"]) -> list[tuple[np.ndarray, float]]:
    """``count`` evenly spaced planes across the mesh along ``normal``.

    The mesh's extent ``[lo, hi]`` along the normal is split into ``count`` equal
    cells and a plane put through the middle of each, so the shape ends within
    half a spacing beyond the outer planes.

    Returns
    -------
    list of (normal (3,), offset) with ``normal . x + offset = 0``
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    heights = mesh.vertices @ n
    lo, hi = heights.min(), heights.max()
    step = (hi - lo) / count
    return [(n, -(lo + (k + 0.5) * step)) for k in range(count)]


def random_planes(mesh: trimesh.Trimesh, count: int, seed: int = 0) -> list[tuple[np.ndarray, float]]:
    """``count`` planes with uniformly random normals, each through a random surface point
    (area-uniform), so every plane cuts the shape."""
    rng = np.random.default_rng(seed)
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=int(rng.integers(2**31)))
    normals = rng.normal(size=(count, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return [(n, -float(n @ p)) for n, p in zip(normals, points)]


def _chain_segments(segments: np.ndarray, tol: float) -> list[np.ndarray] | None:
    """Join (S, 2, 3) segments into closed loops; None if they do not form closed loops."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    ends = segments.reshape(-1, 3)
    pairs = cKDTree(ends).query_pairs(tol, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(ends), len(ends)))
    _, node = connected_components(graph, directed=False)  # merged endpoint id per segment end
    edges = node.reshape(-1, 2)
    edges = edges[edges[:, 0] != edges[:, 1]]
    if not len(edges):
        return []
    position = np.zeros((node.max() + 1, 3))
    position[node] = ends
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    if any(len(v) != 2 for v in neighbours.values()):
        return None
    loops, seen = [], set()
    for start in neighbours:
        if start in seen:
            continue
        loop, prev, cur = [start], -1, start
        seen.add(start)
        while True:
            a, b = neighbours[cur]
            nxt = b if a == prev else a
            if nxt == start:
                break
            if nxt in seen:
                return None
            loop.append(nxt)
            seen.add(nxt)
            prev, cur = cur, nxt
        if len(loop) >= 3:
            loops.append(position[loop])
    return loops


def cut_plane(mesh: trimesh.Trimesh, normal: np.ndarray, offset: float) -> PlaneSlice:
    """The cross-section of ``mesh`` by the plane ``normal . x + offset = 0``.

    The plane is nudged by a hair (1e-7 of the mesh size) when it passes exactly
    through a vertex, where a cut is ambiguous.

    Raises
    ------
    InputError
        The cut is not a set of closed loops (the mesh is not watertight).
    """
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    size = float(np.linalg.norm(mesh.extents))
    d = float(offset)
    for _ in range(10):
        if np.abs(mesh.vertices @ n + d).min() > 1e-9 * size:
            break
        d += 1e-7 * size
    segments = trimesh.intersections.mesh_plane(mesh, plane_normal=n, plane_origin=-d * n)
    loops = _chain_segments(np.asarray(segments), 1e-9 * size) if len(segments) else []
    if loops is None:
        raise InputError(f"the cut by plane {n.round(4).tolist()} . x + {d:.6g} = 0 gives open contours; "
                         "the mesh must be closed (watertight)")
    return make_plane(n, d, loops)


def slice_mesh(mesh: trimesh.Trimesh, planes: Sequence[tuple[np.ndarray, float]], *, source: str = "<mesh>") -> SliceSet:
    """Cut ``mesh`` by each of ``planes`` ((normal, offset) pairs) into a :class:`SliceSet`.

    Planes that miss the mesh become empty planes (all outside).

    Raises
    ------
    InputError
        Open cuts (mesh not watertight), or no plane meets the mesh.
    """
    cut = []
    for k, (n, d) in enumerate(planes):
        try:
            cut.append(cut_plane(mesh, n, d))
        except InputError as exc:
            raise InputError(f"plane {k + 1}: {exc}", source) from None
    return make_slice_set(cut, source, meta={"format": "mesh cut"})
