"""Reconstruction from slices vs a classical baseline, on meshes cut into slices (issue: slices).

Run:  .venv/bin/python -m bench.slices_bench [--shapes eight,fandisk] [--planes 15] [--axis z]
                                             [--preset slices] [--iterations N] [--resolution N]

Each ground-truth mesh from ../shared/data (see bench/shapes.py) is cut by
``--planes`` parallel planes across its extent (``sdfrecon.datasets.slicing``), exactly
what ``sdfrecon slice`` writes. Two methods reconstruct from the same slices:

* neural -- the ``--preset`` (default ``slices``) through ``sdfrecon.pipeline.reconstruct``;
* interp -- shape-based interpolation (Raya & Udupa 1990): each slice's 2D signed
  distance to its contours, linearly interpolated between neighbouring slices
  (beyond the outer slices the distance grows by the distance to the slice),
  meshed with the same box and resolution.

Metrics against the full ground truth: Chamfer-L1 (mean of the two one-sided
mean distances, world units and % of the GT bounding-box diagonal), volumetric
IoU (Monte Carlo) and seconds. Prints a Markdown table and writes the rows as
JSON to bench/results/slices_<preset>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import trimesh

# Run as a script, Python puts bench/ first on the path, where a script may shadow a
# package of the same name (a bench/meshing.py would hide meshing/): use the repository root instead.

from bench.shapes import SHARED_DATA, available_shapes

from sdfrecon.datasets.normalize import Normalization
from sdfrecon.datasets.slices import SliceSet, points_inside
from sdfrecon.datasets.slicing import AXES, parallel_planes, slice_mesh
from sdfrecon.evaluation.iou import volumetric_iou
from sdfrecon.evaluation.metrics import bbox_diagonal, compare_meshes
from sdfrecon.meshing.extract import MeshConfig, extract_mesh
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import reconstruct

DEFAULT_SHAPES = "eight,fandisk,fertility,kitten_sparse500,idler_riser"


class SliceInterpolation:
    """Shape-based interpolation of parallel slices as a field ``(N, 3) -> (N,)``, negative inside.

    Parameters
    ----------
    slices : SliceSet
        Parallel planes (any common normal), in the frame the field is evaluated in.
    step : float
        Spacing at which contours are resampled for the distance lookup.
    empty_distance : float
        Signed distance used on planes without contours (all outside).
    """

    def __init__(self, slices: SliceSet, step: float, empty_distance: float = 1.0):
        from scipy.spatial import cKDTree

        ref = slices.planes[0]
        self.normal = ref.normal
        _, self.u, self.v = ref.frame()
        heights, self.planes = [], []
        for plane in slices.planes:
            dot = float(plane.normal @ self.normal)
            if abs(dot) < 1.0 - 1e-6:
                raise ValueError("slice interpolation needs parallel planes")
            heights.append(-plane.offset * np.sign(dot))
            loops = [np.stack([lp @ self.u, lp @ self.v], axis=1) for lp in plane.loops]
            dense = [_resample(lp, step) for lp in loops]
            tree = cKDTree(np.concatenate(dense)) if dense else None
            self.planes.append((loops, tree))
        order = np.argsort(heights)
        self.heights = np.asarray(heights)[order]
        self.planes = [self.planes[i] for i in order]
        self.empty_distance = empty_distance

    def _slice_distance(self, index: int, uv: np.ndarray) -> np.ndarray:
        loops, tree = self.planes[index]
        if tree is None:
            return np.full(len(uv), self.empty_distance)
        dist, _ = tree.query(uv, workers=-1)
        return np.where(points_inside(uv, loops), -dist, dist)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p = x.detach().cpu().double().numpy()
        uv = np.stack([p @ self.u, p @ self.v], axis=1)
        h = p @ self.normal
        hs = self.heights
        value = np.empty(len(p))
        below, above = h <= hs[0], h >= hs[-1]
        value[below] = self._slice_distance(0, uv[below]) + (hs[0] - h[below])
        value[above] = self._slice_distance(len(hs) - 1, uv[above]) + (h[above] - hs[-1])
        between = ~(below | above)
        cell = np.clip(np.searchsorted(hs, h, side="right") - 1, 0, len(hs) - 2)
        for i in np.unique(cell[between]):
            rows = np.flatnonzero(between & (cell == i))
            t = (h[rows] - hs[i]) / (hs[i + 1] - hs[i])
            value[rows] = (1 - t) * self._slice_distance(i, uv[rows]) + t * self._slice_distance(i + 1, uv[rows])
        return torch.as_tensor(value, dtype=torch.float32, device=x.device)


def _resample(loop: np.ndarray, step: float) -> np.ndarray:
    """Points along a closed 2D polyline no farther apart than ``step``."""
    nxt = np.roll(loop, -1, axis=0)
    parts = []
    for a, b in zip(loop, nxt):
        count = max(int(np.ceil(np.linalg.norm(b - a) / step)), 1)
        t = np.arange(count)[:, None] / count
        parts.append(a + t * (b - a))
    return np.concatenate(parts)


def interpolation_baseline(slices: SliceSet, mesh_cfg: MeshConfig) -> trimesh.Trimesh:
    """Mesh of :class:`SliceInterpolation` in the box and resolution ``sdfrecon.pipeline.reconstruct`` uses.

    Meshed on the dense grid: the interpolated field can be steeper than a distance
    (contours that move a lot between slices), which narrow-band meshing assumes it is not.
    """
    import dataclasses

    mesh_cfg = dataclasses.replace(mesh_cfg, method="dense")
    norm = Normalization.fit(slices.extent_points())
    unit = slices.transformed(norm)
    ext = unit.extent_points()
    field = SliceInterpolation(unit, step=0.25 * 2.0 / mesh_cfg.resolution)
    mesh = extract_mesh(field, ext.min(axis=0), ext.max(axis=0), mesh_cfg).mesh
    mesh.vertices = norm.to_world(mesh.vertices)
    return mesh


def _scores(rec: trimesh.Trimesh, gt: trimesh.Trimesh, samples: int) -> dict:
    m = compare_meshes(rec, gt, samples=samples)
    diag = bbox_diagonal(np.asarray(gt.vertices))
    return {"chamfer": m.chamfer_l1, "chamfer_pct": 100.0 * m.chamfer_l1 / diag,
            "iou": volumetric_iou(rec, gt, samples=samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=DEFAULT_SHAPES, help=f"comma-separated (default {DEFAULT_SHAPES})")
    parser.add_argument("--planes", type=int, default=15, help="parallel planes per shape (default 15)")
    parser.add_argument("--axis", choices=tuple(AXES), default="z", help="slicing axis (default z)")
    parser.add_argument("--preset", default="slices")
    parser.add_argument("--iterations", type=int, help="override train.iterations")
    parser.add_argument("--resolution", type=int, help="override mesh.resolution (both methods)")
    parser.add_argument("--samples", type=int, default=100_000, help="surface / volume samples for the metrics")
    args = parser.parse_args()
    overrides = [{"device": "cpu"}]
    if args.iterations is not None:
        overrides.append({"train": {"iterations": args.iterations}})
    if args.resolution is not None:
        overrides.append({"mesh": {"resolution": args.resolution}})
    cfg = resolve_config(args.preset, overrides)
    rows = []
    for shape in available_shapes(args.shapes.split(",")):
        gt = trimesh.load(SHARED_DATA / shape.gt, force="mesh", process=True)
        slices = slice_mesh(gt, parallel_planes(gt, args.planes, AXES[args.axis]), source=shape.name)
        t = time.perf_counter()
        neural = reconstruct(slices, cfg, progress=False).mesh
        s_neural = time.perf_counter() - t
        t = time.perf_counter()
        interp = interpolation_baseline(slices, cfg.mesh)
        s_interp = time.perf_counter() - t
        n, b = _scores(neural, gt, args.samples), _scores(interp, gt, args.samples)
        row = {"shape": shape.name, "planes": args.planes, "axis": args.axis, "diag": bbox_diagonal(gt.vertices),
               **{f"{k}_neural": v for k, v in n.items()}, **{f"{k}_interp": v for k, v in b.items()},
               "s_neural": s_neural, "s_interp": s_interp}
        rows.append(row)
        print(f"{shape.name}: neural CD {n['chamfer_pct']:.3f}% IoU {n['iou']:.3f} ({s_neural:.0f} s); "
              f"interp CD {b['chamfer_pct']:.3f}% IoU {b['iou']:.3f} ({s_interp:.1f} s)", file=sys.stderr, flush=True)
    print(f"\nPreset `{args.preset}` vs slice interpolation, {args.planes} planes along {args.axis}, CPU; "
          f"Chamfer-L1 in % of the GT diagonal, volumetric IoU ({args.samples} samples):\n")
    print("| shape | CD neural | CD interp | CD ratio | IoU neural | IoU interp | s neural | s interp |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['shape']} | {r['chamfer_pct_neural']:.3f} | {r['chamfer_pct_interp']:.3f} | "
              f"{r['chamfer_neural'] / r['chamfer_interp']:.2f} | {r['iou_neural']:.3f} | {r['iou_interp']:.3f} | "
              f"{r['s_neural']:.0f} | {r['s_interp']:.1f} |")
    out = Path(__file__).resolve().parent / "results" / f"slices_{args.preset}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
