"""``sdfrecon evaluate``: score a reconstructed mesh against ground truth."""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

from sdfrecon.cli import add_common_options
from sdfrecon.cli.options import add_metric_options, default_of, metric_options_from
from sdfrecon.evaluation.metrics import MetricOptions


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="compare a reconstruction with ground truth (Chamfer, Hausdorff, F-score, IoU...)",
        description="Score PRED (a mesh) against GT (a mesh, or points such as SRB .xyz) in the same frame: "
                    "Chamfer L1 (SRB d_C) and squared L2 (ShapeNet), Hausdorff, normal consistency, F-score, "
                    "volumetric IoU (both meshes watertight), and with --scan the one-sided distances from "
                    "the input scan (SRB d_C->, d_H->). See evaluation/metrics.py for the exact conventions.",
    )
    p.add_argument("pred", type=Path, help="reconstructed mesh (.ply .obj .off .stl)")
    p.add_argument("gt", type=Path, help="ground truth: mesh, or points (.xyz .ply .npy ...)")
    p.add_argument("--scan", type=Path, help="input scan, for the one-sided scan -> reconstruction distances")
    add_metric_options(p)
    p.add_argument("--seed", type=int, default=default_of(MetricOptions, "seed"), metavar="S",
                   help="sampling seed (default %(default)s)")
    p.add_argument("--errors-out", type=Path, metavar="FILE.npy",
                   help="write float32 (V,): distance of each PRED vertex (in file order) to the GT surface")
    p.add_argument("--json", type=Path, metavar="FILE.json", help="also write the metrics as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace existing --errors-out / --json files")
    add_common_options(p)
    p.set_defaults(run=run)


# (key of Evaluation.as_dict(), label, note) in print order.
ROWS = (
    ("chamfer_l1", "Chamfer-L1 (SRB d_C)", "mean of the two one-sided mean distances"),
    ("chamfer_l1_surface", "surface Chamfer-L1", "the same to the other surface, not its samples"),
    ("chamfer_l2", "Chamfer-L2 squared", "ShapeNet: mean d^2 both ways, summed"),
    ("hausdorff", "Hausdorff (d_H)", "max of the two one-sided maxima"),
    ("accuracy", "accuracy", "mean distance pred -> gt"),
    ("completeness", "completeness", "mean distance gt -> pred"),
    ("scan_chamfer", "scan d_C->", "mean distance scan -> pred"),
    ("scan_hausdorff", "scan d_H->", "max distance scan -> pred"),
    ("normal_consistency", "normal consistency", "mean |n_pred . n_gt|, both ways"),
    ("fscore", "F-score", None),
    ("precision", "precision", None),
    ("recall", "recall", None),
    ("iou", "IoU", None),
)


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from sdfrecon.datasets.benchmarks import read_ground_truth, read_mesh
    from sdfrecon.datasets.readers import read_point_cloud
    from sdfrecon.evaluation.metrics import distance_to_surface, nearest
    from sdfrecon.evaluation.report import text_table
    from sdfrecon.evaluation.scoring import evaluate
    from sdfrecon.base.atomic import atomic_write, atomic_write_text
    from sdfrecon.base.errors import InputError, OutputExistsError

    for out, ext in ((args.errors_out, ".npy"), (args.json, ".json")):
        if out is None:
            continue
        if out.suffix.lower() != ext:
            raise InputError(f"must end in {ext}", out)
        if out.exists() and not args.overwrite:
            raise OutputExistsError(f"{out}: already exists; pass --overwrite to replace it")
    options = metric_options_from(args)
    # Keep the file's vertex order so --errors-out lines up with the mesh a viewer loads.
    pred = read_mesh(args.pred, merge=False)
    gt = read_ground_truth(args.gt)
    scan = read_point_cloud(args.scan).points if args.scan is not None else None
    ev = evaluate(pred, gt_mesh=gt.mesh, gt_points=gt.points, gt_normals=gt.normals, scan_points=scan,
                  options=options)
    values = ev.as_dict()

    notes = {"fscore": f"threshold {ev.surface.threshold:.4g}", "precision": "pred samples near gt",
             "recall": "gt samples near pred", "iou": ev.iou_note or f"{options.iou_samples} uniform samples"}
    table = []
    for key, label, note in ROWS:
        value = values[key]
        if key.startswith("scan_") and scan is None:
            continue
        table.append((label, "n/a" if isinstance(value, float) and math.isnan(value) else f"{value:.6g}",
                      note or notes.get(key, "")))
    print(f"{args.pred} vs {args.gt}: {ev.vertices} vertices, {ev.faces} faces, "
          f"{'watertight' if ev.watertight else 'not watertight'}; GT bbox diagonal {ev.gt_diagonal:.6g}")
    print(text_table(table))

    if args.errors_out is not None:
        vertices = np.asarray(pred.vertices)
        errors = (distance_to_surface(vertices, gt.mesh) if gt.mesh is not None
                  else nearest(vertices, gt.points)[0])  # points-only ground truth: distance to nearest GT point
        buffer = io.BytesIO()
        np.save(buffer, errors.astype(np.float32))
        atomic_write(args.errors_out, lambda fh: fh.write(buffer.getvalue()))
        print(f"per-vertex errors: {args.errors_out} (max {errors.max():.4g})")
    if args.json is not None:
        record = {"pred": str(args.pred), "gt": str(args.gt), "scan": None if scan is None else str(args.scan),
                  "options": {"samples": options.samples, "seed": options.seed, "iou_samples": options.iou_samples,
                              "fscore_threshold": ev.surface.threshold},
                  "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}}
        atomic_write_text(args.json, json.dumps(record, indent=2) + "\n")
    return 0
