"""Split chosen edges of a triangle mesh so that it stays closed (red-green refinement).

A triangle with all three edges chosen is split in four (red), one with a single
chosen edge in two (green). A triangle with two chosen edges would need a split no
neighbour agrees with, so its third edge is chosen too, until no such triangle is
left. Every chosen edge gets one new vertex shared by the triangles on both sides, so
a closed, consistently wound mesh stays closed and consistently wound. Edges are
trimesh's (``Trimesh.edges_unique``, ``Trimesh.faces_unique_edges``).

:func:`edge_sagitta` says which edges need it on a curved surface: the gap between
an edge's chord and the surface, estimated from the normals at its two ends.
"""

from __future__ import annotations

import numpy as np


def edge_sagitta(vertices: np.ndarray, normals: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(E,) signed distance from each edge's midpoint to the surface it spans, along the
    mean of its end normals (positive: the surface lies on the normals' side).

    On a circle of radius R the chord of length L stands L^2 / 8R off the arc, and
    (b - a) . (n_b - n_a) = L^2 / R, so ``(b - a) . (n_b - n_a) / 8`` estimates it from
    the end points a, b and their unit normals alone (the cubic Hermite curve's bulge).
    vertices, normals : (V, 3); edges : (E, 2) int.
    """
    a, b = vertices[edges[:, 0]], vertices[edges[:, 1]]
    return np.einsum("ij,ij->i", b - a, normals[edges[:, 1]] - normals[edges[:, 0]]) / 8.0


def close_selection(face_edges: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """(E,) bool: ``chosen`` plus the third edge of every face with two chosen edges,
    repeated until each face has zero, one or three (the splits :func:`split_edges` makes)."""
    chosen = np.array(chosen, dtype=bool)
    while True:
        two = chosen[face_edges].sum(axis=1) == 2
        if not two.any():
            return chosen
        chosen[face_edges[two].ravel()] = True


def split_edges(faces: np.ndarray, face_edges: np.ndarray, new_vertex: np.ndarray) -> np.ndarray:
    """Faces after splitting the edges that have a new vertex.

    Parameters
    ----------
    faces : (F, 3) int
    face_edges : (F, 3) int
        Index of each face's edge from corner k to corner k+1 (trimesh's
        ``Trimesh.faces_unique_edges``, into ``Trimesh.edges_unique``).
    new_vertex : (E,) int
        Index of the vertex inserted on each edge, -1 where the edge is kept. Each face
        must have zero, one or three split edges (:func:`close_selection`).

    Returns
    -------
    (F', 3) int
        Kept faces first, then the four children of each fully split face, then the two
        of each face split on one edge; all wound like their parent.
    """
    faces = np.asarray(faces, dtype=np.int64)
    mid = new_vertex[face_edges]  # (F, 3): vertex on the edge from corner k to k+1, or -1
    count = (mid >= 0).sum(axis=1)
    if np.any(count == 2):
        raise ValueError("split_edges: a face has two split edges (use close_selection first)")
    kept = faces[count == 0]
    f, m = faces[count == 3], mid[count == 3]
    red = [np.stack(c, axis=1) for c in ((f[:, 0], m[:, 0], m[:, 2]), (m[:, 0], f[:, 1], m[:, 1]),
                                         (m[:, 2], m[:, 1], f[:, 2]), (m[:, 0], m[:, 1], m[:, 2]))]
    f, m = faces[count == 1], mid[count == 1]
    k = np.argmax(m >= 0, axis=1)
    rows = np.arange(len(f))
    start, end, apex, middle = f[rows, k], f[rows, (k + 1) % 3], f[rows, (k + 2) % 3], m[rows, k]
    green = [np.stack((start, middle, apex), axis=1), np.stack((middle, end, apex), axis=1)]
    return np.vstack([kept, *red, *green])
