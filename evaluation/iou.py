"""Volumetric intersection over union (IoU) of watertight meshes.

Inside/outside comes from Open3D's ``RaycastingScene.compute_occupancy``
(ray-crossing parity, majority vote over a few rays so a ray grazing an edge
does not flip a point). It is only meaningful for closed meshes; callers check
that first (:func:`sdfrecon.evaluation.metrics.is_closed`).

Two protocols:

* :func:`volumetric_iou` -- both shapes are meshes: uniform points in the union
  of the two bounding boxes, seeded; IoU = |in both| / |in either|.
* :func:`iou_at_points` -- ShapeNet/ONet: the data set gives points with
  ground-truth occupancy labels (``points.npz``); only the reconstruction is
  tested for inside.
"""

from __future__ import annotations

import numpy as np
import trimesh

from sdfrecon.base.errors import InputError

RAYS = 3
"""Rays per query point (odd; the majority decides)."""


def inside_mask(mesh: trimesh.Trimesh, points: np.ndarray, *, rays: int = RAYS) -> np.ndarray:
    """Which of the (N, 3) ``points`` lie inside the closed ``mesh``.

    Returns
    -------
    (N,) bool ndarray
    """
    from sdfrecon.evaluation.metrics import raycasting_scene

    scene, query = raycasting_scene(mesh, points)
    return scene.compute_occupancy(query, nsamples=rays).numpy() > 0.5


def iou_from_masks(a: np.ndarray, b: np.ndarray) -> float:
    """|a and b| / |a or b| of two (N,) boolean masks; NaN when both are empty."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    union = np.count_nonzero(a | b)
    return float("nan") if union == 0 else float(np.count_nonzero(a & b) / union)


def volumetric_iou(rec: trimesh.Trimesh, gt: trimesh.Trimesh, *, samples: int = 100_000, seed: int = 0) -> float:
    """Monte-Carlo volumetric IoU of two closed meshes.

    Parameters
    ----------
    rec, gt : trimesh.Trimesh
        Watertight meshes in the same frame.
    samples : int
        Uniform points drawn in the union of the two bounding boxes. The
        standard error is about ``sqrt(IoU (1 - IoU) / (samples * f))`` with
        ``f`` the fraction of the box the union fills.
    seed : int
        Seed of the uniform points.

    Returns
    -------
    float
        IoU in [0, 1].
    """
    if samples < 1:
        raise InputError(f"IoU needs at least 1 sample, got {samples}")
    lo = np.minimum(rec.bounds[0], gt.bounds[0])
    hi = np.maximum(rec.bounds[1], gt.bounds[1])
    points = np.random.default_rng(seed).uniform(lo, hi, size=(samples, 3))
    return iou_from_masks(inside_mask(rec, points), inside_mask(gt, points))


def iou_at_points(rec: trimesh.Trimesh, points: np.ndarray, occupancies: np.ndarray) -> float:
    """IoU of the closed ``rec`` against labelled points (ONet ``points.npz``).

    Parameters
    ----------
    rec : trimesh.Trimesh
        Watertight reconstruction, in the frame of ``points``.
    points : (N, 3) ndarray
        Query points.
    occupancies : (N,) bool ndarray
        Ground-truth inside labels of ``points``.
    """
    if len(points) != len(occupancies):
        raise InputError(f"{len(points)} occupancy points but {len(occupancies)} labels")
    return iou_from_masks(inside_mask(rec, points), occupancies)
