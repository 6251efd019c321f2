"""Surface-reconstruction metrics between point samples of two surfaces.

Conventions (distances are unsquared Euclidean, world units, unless noted):

* ``chamfer_l1`` -- SRB's d_C: ``(mean d(gt->rec) + mean d(rec->gt)) / 2``.
* ``chamfer_l2`` -- ShapeNet/ONet convention used by DiGS/StEik:
  ``mean d(gt->rec)^2 + mean d(rec->gt)^2`` (summed, squared distances).
* ``hausdorff`` -- ``max(max d(gt->rec), max d(rec->gt))``.
* ``accuracy`` / ``completeness`` -- ``mean d(rec->gt)`` / ``mean d(gt->rec)``.
* ``normal_consistency`` -- mean over both directions of ``|n_rec . n_gt|`` at
  nearest neighbours (ONet-style; orientation-blind), in [0, 1].
* ``fscore`` at ``threshold`` -- harmonic mean of precision (fraction of rec
  samples within ``threshold`` of gt) and recall (gt samples within it of rec).
  The threshold is absolute (world units) or relative: a fraction of the
  ground truth's bounding-box diagonal (default 1 %); see :class:`MetricOptions`.
* ``scan_chamfer`` / ``scan_hausdorff`` -- SRB's one-sided d_C-> / d_H->: mean /
  max over the *input scan* points of their distance to the reconstruction.
  SRB measures it against 1M reconstruction samples; here it is the exact
  point-to-triangle distance (:func:`distance_to_surface`), the limit of that.
* ``iou`` -- volumetric intersection over union of two watertight meshes, from
  uniform samples in the union of their bounding boxes (:mod:`sdfrecon.evaluation.iou`);
  NaN when either mesh is not closed. ShapeNet/ONet data instead give labelled
  occupancy points (``points.npz``), see :func:`sdfrecon.evaluation.iou.iou_at_points`.

Nearest neighbours come from scipy's cKDTree; every sampling takes a seed, so
results are reproducible and independent of the input point order.
:func:`sdfrecon.evaluation.scoring.evaluate` computes all of the above in one call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from sdfrecon.base.errors import ConfigError


def sample_surface(mesh: trimesh.Trimesh, count: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform samples on ``mesh`` and their face normals.

    Returns
    -------
    points : (count, 3) float64 ndarray
    normals : (count, 3) float64 ndarray
        Unit face normals of the sampled faces.
    """
    points, face_index = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points, dtype=np.float64), np.asarray(mesh.face_normals[face_index], dtype=np.float64)


def nearest(source: np.ndarray, target: np.ndarray, tree: cKDTree | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distance (N,) from each ``source`` point to its nearest ``target`` point, and its index (N,)."""
    tree = tree if tree is not None else cKDTree(target)
    dist, index = tree.query(source, k=1, workers=-1)
    return dist, index


@dataclass(frozen=True)
class SurfaceMetrics:
    """Metrics between a reconstruction ("rec") and ground truth ("gt"); see module doc."""

    chamfer_l1: float
    chamfer_l2: float
    hausdorff: float
    accuracy: float
    completeness: float
    normal_consistency: float
    fscore: float
    precision: float
    recall: float
    threshold: float
    """F-score distance threshold, world units."""

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def compare_point_sets(
    rec_points: np.ndarray,
    gt_points: np.ndarray,
    *,
    threshold: float,
    rec_normals: np.ndarray | None = None,
    gt_normals: np.ndarray | None = None,
) -> SurfaceMetrics:
    """Metrics between two surface samplings.

    Parameters
    ----------
    rec_points, gt_points : (N, 3), (M, 3) ndarray
        Samples of the reconstruction and of the ground truth, same units.
    threshold : float
        F-score distance threshold (same units).
    rec_normals, gt_normals : ndarray, optional
        Unit normals of the samples; normal consistency is NaN without them.

    Returns
    -------
    SurfaceMetrics
    """
    rec_to_gt, rec_nn = nearest(rec_points, gt_points)
    gt_to_rec, gt_nn = nearest(gt_points, rec_points)
    if rec_normals is not None and gt_normals is not None:
        nc_rec = np.abs(np.sum(rec_normals * gt_normals[rec_nn], axis=1)).mean()
        nc_gt = np.abs(np.sum(gt_normals * rec_normals[gt_nn], axis=1)).mean()
        normal_consistency = float((nc_rec + nc_gt) / 2.0)
    else:
        normal_consistency = float("nan")
    precision = float((rec_to_gt <= threshold).mean())
    recall = float((gt_to_rec <= threshold).mean())
    fscore = 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)
    return SurfaceMetrics(
        chamfer_l1=float((rec_to_gt.mean() + gt_to_rec.mean()) / 2.0),
        chamfer_l2=float((rec_to_gt**2).mean() + (gt_to_rec**2).mean()),
        hausdorff=float(max(rec_to_gt.max(), gt_to_rec.max())),
        accuracy=float(rec_to_gt.mean()),
        completeness=float(gt_to_rec.mean()),
        normal_consistency=normal_consistency,
        fscore=float(fscore),
        precision=precision,
        recall=recall,
        threshold=float(threshold),
    )


def bbox_diagonal(points: np.ndarray) -> float:
    """Length of the axis-aligned bounding-box diagonal of (N, 3) points."""
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def compare_meshes(
    rec: trimesh.Trimesh,
    gt: trimesh.Trimesh,
    *,
    samples: int = 100_000,
    seed: int = 0,
    threshold: float | None = None,
) -> SurfaceMetrics:
    """Metrics between two meshes from ``samples`` area-uniform points on each.

    Parameters
    ----------
    rec, gt : trimesh.Trimesh
        Reconstruction and ground truth in the same frame.
    samples : int
        Points sampled on each surface (SRB protocol: 1,000,000).
    seed : int
        Sampling seed (rec uses ``seed``, gt ``seed + 1``).
    threshold : float, optional
        F-score threshold; default 1 % of the ground truth's bounding-box diagonal.
    """
    rec_pts, rec_nrm = sample_surface(rec, samples, seed=seed)
    gt_pts, gt_nrm = sample_surface(gt, samples, seed=seed + 1)
    if threshold is None:
        threshold = 0.01 * bbox_diagonal(np.asarray(gt.vertices))
    return compare_point_sets(rec_pts, gt_pts, threshold=threshold, rec_normals=rec_nrm, gt_normals=gt_nrm)


def raycasting_scene(mesh: trimesh.Trimesh, points: np.ndarray):
    """Open3D ``RaycastingScene`` of ``mesh`` and the (N, 3) ``points`` as its query tensor.

    Open3D works in float32, so both are first centred on the mesh's bounding box:
    large coordinates (survey data) keep their precision.
    """
    import open3d as o3d

    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    centre = (vertices.min(axis=0) + vertices.max(axis=0)) / 2.0
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor((vertices - centre).astype(np.float32)),
        o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.uint32)),
    )
    query = o3d.core.Tensor((np.asarray(points, dtype=np.float64) - centre).astype(np.float32))
    return scene, query


def distance_to_surface(points: np.ndarray, mesh: trimesh.Trimesh) -> np.ndarray:
    """Exact unsigned distance (N,) from (N, 3) points to the triangles of ``mesh``.

    Uses Open3D's ``RaycastingScene`` (a BVH over the triangles), so it is the true
    point-to-surface distance, not a distance to surface samples. The per-vertex
    error of a reconstruction is ``distance_to_surface(rec.vertices, gt)``.
    """
    scene, query = raycasting_scene(mesh, points)
    return scene.compute_distance(query).numpy().astype(np.float64)


@dataclass(frozen=True)
class MetricOptions:
    """How metrics are sampled and thresholded.

    Attributes
    ----------
    samples : int
        Area-uniform points drawn on each mesh surface (SRB protocol: 1,000,000).
    seed : int
        Seed of every sampling (surface points and IoU points).
    fscore_threshold : float or None
        Absolute F-score threshold, world units; None uses ``fscore_relative``.
    fscore_relative : float
        F-score threshold as a fraction of the ground truth's bounding-box diagonal.
    iou_samples : int
        Uniform points in the union bounding box for volumetric IoU (0 skips IoU).
    """

    samples: int = 100_000
    seed: int = 0
    fscore_threshold: float | None = None
    fscore_relative: float = 0.01
    iou_samples: int = 100_000

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ConfigError(f"samples: must be >= 1, got {self.samples}")
        if self.iou_samples < 0:
            raise ConfigError(f"iou_samples: must be >= 0, got {self.iou_samples}")
        if self.fscore_threshold is not None and not self.fscore_threshold > 0:
            raise ConfigError(f"fscore_threshold: must be > 0, got {self.fscore_threshold}")
        if not self.fscore_relative > 0:
            raise ConfigError(f"fscore_relative: must be > 0, got {self.fscore_relative}")

    def threshold_for(self, gt_diagonal: float) -> float:
        """The F-score threshold in world units for a ground truth of this bbox diagonal."""
        if self.fscore_threshold is not None:
            return float(self.fscore_threshold)
        return float(self.fscore_relative * gt_diagonal)


@dataclass(frozen=True)
class ScanDistances:
    """SRB's one-sided distances from the input scan to the reconstruction (world units)."""

    mean: float
    """d_C->: mean over scan points."""
    max: float
    """d_H->: max over scan points."""

    @classmethod
    def of(cls, distances: np.ndarray) -> "ScanDistances":
        """From the (N,) distances of the scan points to the reconstruction."""
        return cls(mean=float(distances.mean()), max=float(distances.max()))


def scan_distances(scan_points: np.ndarray, rec: trimesh.Trimesh) -> ScanDistances:
    """One-sided distances from (N, 3) input scan points to the surface of ``rec``.

    Exact point-to-triangle distances (:func:`distance_to_surface`), so the
    result does not depend on a sampling of ``rec`` nor on the point order.
    """
    return ScanDistances.of(distance_to_surface(scan_points, rec))


def is_closed(mesh: trimesh.Trimesh) -> bool:
    """Whether ``mesh`` is watertight once coincident vertices are merged.

    Files like STL store each triangle's corners separately, so the mesh as
    loaded (``process=False``) looks open; merging first judges the surface.
    """
    if len(mesh.faces) == 0:
        return False
    merged = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), process=False)
    merged.merge_vertices()
    return bool(merged.is_watertight)
