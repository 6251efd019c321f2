"""Mesh clean-up after extraction."""

from __future__ import annotations

import numpy as np
import trimesh


def remove_small_components(mesh: trimesh.Trimesh, min_fraction: float) -> trimesh.Trimesh:
    """Drop connected pieces whose area is below ``min_fraction`` of the largest's.

    Parameters
    ----------
    mesh : trimesh.Trimesh
    min_fraction : float
        0 keeps everything; 0.01 removes pieces under 1 % of the main piece's area
        (the typical spurious blobs of a neural field).

    Returns
    -------
    trimesh.Trimesh
        The kept pieces (the input itself when nothing is removed).
    """
    if min_fraction <= 0 or len(mesh.faces) == 0:
        return mesh
    labels = trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(mesh.faces))
    if labels.max() == 0:
        return mesh
    area = np.bincount(labels, weights=mesh.area_faces)
    keep_labels = np.flatnonzero(area >= min_fraction * area.max())
    if len(keep_labels) == len(area):
        return mesh
    keep_faces = np.isin(labels, keep_labels)
    kept = mesh.submesh([np.flatnonzero(keep_faces)], append=True, repair=False)
    return kept
