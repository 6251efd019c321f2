"""All metrics of one reconstruction against its ground truth, in one call.

The ground truth is a mesh, a point set (SRB ``.xyz``, ONet ``pointcloud.npz``)
or both; the input scan and labelled occupancy points are optional. What each
number means is documented in :mod:`sdfrecon.evaluation.metrics`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import trimesh

from sdfrecon.evaluation.iou import iou_at_points, volumetric_iou
from sdfrecon.evaluation.metrics import (
    MetricOptions,
    ScanDistances,
    SurfaceMetrics,
    bbox_diagonal,
    compare_point_sets,
    distance_to_surface,
    is_closed,
    nearest,
    sample_surface,
)
from sdfrecon.base.errors import InputError


@dataclass(frozen=True)
class Evaluation:
    """Every metric of one reconstruction; NaN where a metric does not apply.

    Attributes
    ----------
    surface : SurfaceMetrics
        Chamfer, Hausdorff, normal consistency, F-score (see :mod:`sdfrecon.evaluation.metrics`).
    chamfer_l1_surface : float
        Chamfer-L1 with distances to the other surface, not to its samples: each
        reconstruction sample to the ground-truth triangles (to the nearest ground-truth
        point when the ground truth is points only), each ground-truth point to the
        reconstruction's triangles; world units. ``surface.chamfer_l1`` measures to
        samples, so it never drops below the spacing of the samples (about 0.15 % of the
        diagonal at 100k): on clean dense input every good method sits on that floor and
        the ratio between two of them says little. This one has no floor.
    scan_chamfer, scan_hausdorff : float
        SRB d_C-> and d_H->: scan -> reconstruction; NaN without a scan.
    iou : float
        Volumetric IoU; NaN when it does not apply (see ``iou_note``).
    iou_note : str
        Why IoU is NaN (empty when it was computed).
    gt_diagonal : float
        Bounding-box diagonal of the ground truth, world units.
    watertight : bool
        Whether the reconstruction is closed.
    vertices, faces : int
        Size of the reconstruction.
    """

    surface: SurfaceMetrics
    chamfer_l1_surface: float
    scan_chamfer: float
    scan_hausdorff: float
    iou: float
    iou_note: str
    gt_diagonal: float
    watertight: bool
    vertices: int
    faces: int

    def as_dict(self) -> dict[str, float | int | bool | str]:
        """Flat mapping of every value (surface metrics first), JSON/CSV ready."""
        out: dict[str, float | int | bool | str] = dict(self.surface.as_dict())
        out["fscore_threshold"] = out.pop("threshold")
        rest = asdict(self)
        rest.pop("surface")
        out.update(rest)
        out["chamfer_l1_rel"] = self.surface.chamfer_l1 / self.gt_diagonal if self.gt_diagonal > 0 else math.nan
        out["chamfer_l1_surface_rel"] = (self.chamfer_l1_surface / self.gt_diagonal if self.gt_diagonal > 0
                                         else math.nan)
        return out


def evaluate(
    rec: trimesh.Trimesh,
    *,
    gt_mesh: trimesh.Trimesh | None = None,
    gt_points: np.ndarray | None = None,
    gt_normals: np.ndarray | None = None,
    scan_points: np.ndarray | None = None,
    occupancy_points: np.ndarray | None = None,
    occupancies: np.ndarray | None = None,
    options: MetricOptions | None = None,
) -> Evaluation:
    """Score ``rec`` against the ground truth.

    Parameters
    ----------
    rec : trimesh.Trimesh
        Reconstruction in the ground truth's frame.
    gt_mesh : trimesh.Trimesh, optional
        Ground-truth surface. Sampled (``options.samples`` points) unless
        ``gt_points`` is given; used for volumetric IoU when closed.
    gt_points : (M, 3) ndarray, optional
        Ground-truth surface points, used as they are (the SRB and ShapeNet
        protocols compare against the given GT point set).
    gt_normals : (M, 3) ndarray, optional
        Normals of ``gt_points``; normal consistency is NaN without them.
    scan_points : (K, 3) ndarray, optional
        The input scan, for the one-sided SRB distances.
    occupancy_points, occupancies : (Q, 3) ndarray and (Q,) bool ndarray, optional
        Labelled points (ONet ``points.npz``); when given, IoU is measured at
        them instead of from uniform samples.
    options : MetricOptions, optional
        Sample counts, seed, F-score threshold.

    Returns
    -------
    Evaluation

    Raises
    ------
    InputError
        The reconstruction has no faces, or there is no ground truth.
    """
    options = options or MetricOptions()
    if len(rec.faces) == 0 or not rec.area > 0:
        raise InputError("the reconstruction is an empty mesh (no faces)")
    if gt_points is None and gt_mesh is None:
        raise InputError("no ground truth: give a mesh or points")
    if gt_points is None:
        gt_points, gt_normals = sample_surface(gt_mesh, options.samples, seed=options.seed + 1)
    gt_points = np.asarray(gt_points, dtype=np.float64)
    diagonal = bbox_diagonal(gt_points if gt_mesh is None else np.asarray(gt_mesh.vertices))
    rec_points, rec_normals = sample_surface(rec, options.samples, seed=options.seed)
    surface = compare_point_sets(
        rec_points, gt_points, threshold=options.threshold_for(diagonal),
        rec_normals=rec_normals, gt_normals=gt_normals,
    )
    rec_to_gt = (distance_to_surface(rec_points, gt_mesh) if gt_mesh is not None
                 else nearest(rec_points, gt_points)[0])
    # One BVH of the reconstruction answers the ground-truth points and the scan together.
    queries = gt_points if scan_points is None else np.vstack([gt_points, np.asarray(scan_points, dtype=np.float64)])
    to_rec = distance_to_surface(queries, rec)
    chamfer_surface = float((rec_to_gt.mean() + to_rec[:len(gt_points)].mean()) / 2.0)
    scan = ScanDistances.of(to_rec[len(gt_points):]) if scan_points is not None else None
    closed = is_closed(rec)
    iou, note = _iou(rec, closed, gt_mesh, occupancy_points, occupancies, options)
    return Evaluation(
        surface=surface,
        chamfer_l1_surface=chamfer_surface,
        scan_chamfer=scan.mean if scan else math.nan,
        scan_hausdorff=scan.max if scan else math.nan,
        iou=iou,
        iou_note=note,
        gt_diagonal=diagonal,
        watertight=closed,
        vertices=len(rec.vertices),
        faces=len(rec.faces),
    )


def _iou(rec, rec_closed, gt_mesh, occupancy_points, occupancies, options) -> tuple[float, str]:
    """IoU by the protocol the ground truth allows, or NaN and the reason."""
    if occupancy_points is not None and occupancies is not None:
        if not rec_closed:
            return math.nan, "reconstruction not watertight"
        return iou_at_points(rec, occupancy_points, occupancies), ""
    if options.iou_samples == 0:
        return math.nan, "IoU switched off"
    if gt_mesh is None:
        return math.nan, "ground truth is points only"
    if not is_closed(gt_mesh):
        return math.nan, "ground truth not watertight"
    if not rec_closed:
        return math.nan, "reconstruction not watertight"
    return volumetric_iou(rec, gt_mesh, samples=options.iou_samples, seed=options.seed + 2), ""
