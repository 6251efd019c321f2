"""Evaluation protocols: our exact evaluation, and the official StEik/DiGS conventions.

``ours``
    :func:`sdfrecon.evaluation.scoring.evaluate`: ``MetricOptions.samples`` points on
    the reconstruction (and on a ground-truth mesh when there is one, which is
    preferred to ground-truth points), exact point-to-triangle distances for the
    one-sided scan distances, IoU by ray-cast occupancy of the meshes.

``srb`` -- ``surface_reconstruction/compute_metrics_srb.py`` of sunyx523/StEik 033d2da
(identical in Chumbyte/DiGS):
    * 1,000,000 area-uniform samples on the reconstruction (world units);
    * ground truth = the benchmark's ground-truth POINTS (``ground_truth/<name>.xyz``,
      every row of the file, duplicates included), never a mesh;
    * d_C = (mean d(gt->rec) + mean d(rec->gt)) / 2 and d_H = max of the two maxima,
      nearest-neighbour (cKDTree) distances between the two point sets;
    * d_C-> / d_H-> = mean / max over the raw scan points of the distance to the
      nearest reconstruction SAMPLE;
    * no IoU, normal consistency is not part of it (NaN).

``shapenet`` -- ``compute_metrics_shapenet.py`` of the same commit:
    * 30,000 samples on the reconstruction;
    * ground truth = the points the method was given (the input cloud);
    * squared Chamfer ``mean d(gt->rec)^2 + mean d(rec->gt)^2`` (``chamfer_l2``) and
      Hausdorff, nearest-neighbour distances;
    * IoU at the labelled ``points.npz`` points: a neural method's trained network
      evaluated there (inside where f < 0, the input's unit frame), a classical
      method's mesh by ray-cast occupancy.

Both official protocols also mesh neural methods the official way (centroid /
max-abs normalisation, 512 samples along the shortest side, 0.1 margin, dense,
no clean-up): :func:`config_overrides` gives those settings, the same as
``configs/steik_paper.yaml``. F-score, accuracy and completeness are computed from
the same distances as extras (the official scripts print none of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import trimesh

from sdfrecon.base.errors import ConfigError, InputError
from sdfrecon.datasets.benchmarks import BenchmarkItem
from sdfrecon.evaluation.metrics import MetricOptions, bbox_diagonal, compare_point_sets, is_closed, nearest, sample_surface

SignedDistanceFn = Callable[[np.ndarray], np.ndarray]
"""World points (N, 3) -> signed distance (N,), negative inside (a trained network)."""


@dataclass(frozen=True)
class Protocol:
    """How a benchmark scores (and, for neural methods, normalises and meshes).

    Attributes
    ----------
    name : str
        ``ours``, ``srb`` or ``shapenet``.
    samples : int or None
        Reconstruction samples fixed by the protocol; None uses ``MetricOptions.samples``.
    layouts : tuple of str
        Suite layouts the protocol applies to (empty: any).
    summary : str
        One line for reports.
    """

    name: str
    samples: int | None
    layouts: tuple[str, ...]
    summary: str


PROTOCOLS: dict[str, Protocol] = {
    "ours": Protocol("ours", None, (), "exact evaluation (GT mesh preferred, exact scan distances, ray-cast IoU)"),
    "srb": Protocol("srb", 1_000_000, ("srb",),
                    "official SRB script: 1M reconstruction samples vs the GT points, scan distances "
                    "to the nearest sample"),
    "shapenet": Protocol("shapenet", 30_000, ("shapenet",),
                         "official ShapeNet script: 30k reconstruction samples vs the input points, squared "
                         "Chamfer, IoU of the network at points.npz"),
}
"""The protocols by name."""

OFFICIAL_MESHING: dict[str, Any] = {
    "data": {"normalize": "centroid"},
    "mesh": {"grid": "steik", "resolution": 512, "padding": 0.1, "min_component_fraction": 0.0,
             "refine": {"enabled": False}},
}
"""Config overrides that normalise and mesh a neural method as the official scripts do."""


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; :class:`ConfigError` listing the valid ones otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"--protocol: unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}") from None


def config_overrides(name: str) -> list[dict[str, Any]]:
    """Config overrides the protocol applies to neural methods (before the user's own)."""
    return [] if get_protocol(name).name == "ours" else [OFFICIAL_MESHING]


def check_layout(name: str, layout: str) -> None:
    """Refuse a protocol on a suite it was not defined for.

    Raises
    ------
    ConfigError
    """
    protocol = get_protocol(name)
    if protocol.layouts and layout not in protocol.layouts:
        raise ConfigError(f"--protocol {name}: applies to {'/'.join(protocol.layouts)} suites, "
                          f"this suite is {layout}; use --protocol ours")


def raw_points(path: str | Path) -> np.ndarray:
    """Every point of a point file as the reference scripts read it (``trimesh.load(...).vertices``):
    all rows, duplicates kept; ``.xyz`` columns after the third are ignored.

    Raises
    ------
    InputError
        The file cannot be read or has no points.
    """
    from sdfrecon.datasets.readers import check_readable_file

    p = check_readable_file(path)
    try:
        loaded = trimesh.load(str(p))
        points = np.asarray(loaded.vertices, dtype=np.float64)
    except Exception as exc:  # trimesh raises anything from ValueError to IndexError
        raise InputError(f"cannot be read as points ({' '.join(str(exc).split())[:160]})", p) from None
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise InputError("has no points", p)
    if not np.isfinite(points).all():
        raise InputError("has NaN or infinite coordinates", p)
    return points


def _evaluation(rec: trimesh.Trimesh, surface, scan: tuple[float, float] | None, iou: float, note: str,
                diagonal: float) -> dict[str, Any]:
    from sdfrecon.evaluation.scoring import Evaluation

    # The published protocols define their own numbers; the surface Chamfer is not one of them.
    return Evaluation(surface=surface, chamfer_l1_surface=math.nan, scan_chamfer=scan[0] if scan else math.nan,
                      scan_hausdorff=scan[1] if scan else math.nan, iou=iou, iou_note=note, gt_diagonal=diagonal,
                      watertight=is_closed(rec), vertices=len(rec.vertices), faces=len(rec.faces)).as_dict()


def srb_distances(rec_points: np.ndarray, gt_points: np.ndarray, scan_points: np.ndarray, *,
                  threshold: float) -> tuple[Any, tuple[float, float]]:
    """The SRB numbers from samples of the reconstruction.

    Returns
    -------
    (SurfaceMetrics, (d_C->, d_H->))
        ``chamfer_l1`` is d_C, ``hausdorff`` d_H; the pair is the scan's mean / max
        distance to the nearest of ``rec_points``.
    """
    surface = compare_point_sets(rec_points, gt_points, threshold=threshold)
    scan_to_rec, _ = nearest(scan_points, rec_points)
    return surface, (float(scan_to_rec.mean()), float(scan_to_rec.max()))


def score_srb(item: BenchmarkItem, rec: trimesh.Trimesh, options: MetricOptions, *,
              samples: int | None = None) -> dict[str, Any]:
    """Score ``rec`` by the official SRB protocol (module doc); ``samples`` overrides the 1M (tests)."""
    truth = item.extras.get("ground_truth_points")
    scan = item.extras.get("scan")
    if not truth or not scan:
        raise InputError(f"{item.name}: the srb protocol needs the scan file and ground-truth points (.xyz)")
    gt_points = raw_points(truth)
    scan_points = raw_points(scan)
    rec_points, _ = sample_surface(rec, samples or PROTOCOLS["srb"].samples, seed=options.seed)
    diagonal = bbox_diagonal(gt_points)
    surface, scan_distances = srb_distances(rec_points, gt_points, scan_points,
                                            threshold=options.threshold_for(diagonal))
    return _evaluation(rec, surface, scan_distances, math.nan, "not part of the srb protocol", diagonal)


def iou_of_field(signed_distance: SignedDistanceFn, points: np.ndarray, occupancies: np.ndarray) -> float:
    """IoU of ``{f < 0}`` against labelled points, as the official ShapeNet script computes it."""
    predicted = np.asarray(signed_distance(points)).reshape(-1) < 0
    truth = np.asarray(occupancies, dtype=bool)
    union = np.count_nonzero(truth | predicted)
    return float("nan") if union == 0 else float(np.count_nonzero(truth & predicted) / union)


def score_shapenet(item: BenchmarkItem, rec: trimesh.Trimesh, options: MetricOptions, *,
                   signed_distance: SignedDistanceFn | None = None, samples: int | None = None) -> dict[str, Any]:
    """Score ``rec`` by the official ShapeNet protocol (module doc).

    ``signed_distance`` is the method's trained network (world points in); without
    one (classical methods) IoU comes from the mesh's ray-cast occupancy.
    """
    from sdfrecon.evaluation.iou import iou_at_points

    gt_points = np.asarray(item.cloud.points, dtype=np.float64)
    rec_points, _ = sample_surface(rec, samples or PROTOCOLS["shapenet"].samples, seed=options.seed)
    diagonal = bbox_diagonal(gt_points)
    surface = compare_point_sets(rec_points, gt_points, threshold=options.threshold_for(diagonal))
    iou, note = math.nan, "no points.npz"
    if item.occupancy_points is not None and item.occupancies is not None:
        if signed_distance is not None:
            iou, note = iou_of_field(signed_distance, item.occupancy_points, item.occupancies), ""
        elif is_closed(rec):
            iou, note = iou_at_points(rec, item.occupancy_points, item.occupancies), "mesh occupancy (no network)"
        else:
            note = "reconstruction not watertight (no network)"
    return _evaluation(rec, surface, None, iou, note, diagonal)


def score(protocol: str, item: BenchmarkItem, rec: trimesh.Trimesh, options: MetricOptions, *,
          signed_distance: SignedDistanceFn | None = None) -> dict[str, Any]:
    """Every metric of ``rec`` by ``protocol``, as a flat dict of result columns."""
    name = get_protocol(protocol).name
    if name == "srb":
        return score_srb(item, rec, options)
    if name == "shapenet":
        return score_shapenet(item, rec, options, signed_distance=signed_distance)
    from sdfrecon.evaluation.scoring import evaluate

    return evaluate(rec, gt_mesh=item.gt_mesh, gt_points=item.gt_points, gt_normals=item.gt_normals,
                    scan_points=item.cloud.points, occupancy_points=item.occupancy_points,
                    occupancies=item.occupancies, options=options).as_dict()
