"""The learned GridFormer prior on shared shapes it never saw: feed-forward vs default vs Poisson,
and the warm start (gridformer_refine) vs the default as steps-to-equal-Chamfer.

Run:  .venv/bin/python -m bench.prior_bench [--shapes fandisk,fertility] [--iterations N]
          [--weights model.pt] [--resolution 128] [-o DIR]

Shapes (none is in the bundled model's training data, see docs/prior.md): fandisk (CAD,
sharp), fertility (genus 4), bob (genus 1), each with a 30k-point synthetic oriented scan
of its ground truth (seeded), and two real scans: SRB lord_quas and the Points2Surf ABC
scan (noisy, unoriented) with their ground-truth meshes.

Per shape:

1. ``poisson`` (Open3D screened Poisson, depth 10), ``gridformer`` (feed-forward, no
   per-shape optimisation) and ``default`` (``--iterations`` steps; by default the
   default preset's own ``train.iterations``, 800) are scored on the
   final mesh: Chamfer-L1 (relative to the GT bounding-box diagonal), volumetric IoU,
   CPU seconds (process time; run it with ``OMP_NUM_THREADS=1`` so that is one core's
   work) and wall seconds of the whole reconstruction.
2. ``default`` and ``gridformer_refine`` run the same ``--iterations`` steps with the same
   schedule; at checkpoints the field is meshed at ``--curve-resolution`` and its Chamfer
   measured (the time spent measuring is not counted). Steps-to-equal-Chamfer: the first
   checkpoint at which each run is at least as good as the default's last checkpoint,
   and the CPU seconds the run had spent by then (for the refine run including the
   prior's prediction and the warm start).

Results go to ``DIR/<shape>.json`` (a rerun skips finished shapes) and the tables are
printed as Markdown. On a shared machine wall seconds mean little; CPU seconds and the
ratios measured in the same run are what to compare.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.shapes import SHARED_DATA, BenchShape

from sdfrecon.base.errors import NoSurfaceError
from sdfrecon.datasets.benchmarks import ScanOptions, mesh_shape, scan_shape
from sdfrecon.datasets.normalize import Normalization
from sdfrecon.evaluation.baselines import poisson
from sdfrecon.evaluation.metrics import MetricOptions
from sdfrecon.evaluation.scoring import evaluate
from sdfrecon.meshing.extract import MeshConfig, extract_mesh
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import reconstruct

HELD_OUT: tuple[BenchShape, ...] = (
    BenchShape("fandisk", gt="cad/fandisk.off"),
    BenchShape("fertility", gt="misc/fertility.off"),
    BenchShape("bob", gt="extra/meshes/bob.obj"),
    BenchShape("srb_lord_quas", gt="srb/ground_truth/lordquas.off", scan="srb/scans/lord_quas.ply"),
    BenchShape("p2s_abc", gt="extra/scans/p2s_abc_00011084_gt.ply", scan="extra/scans/p2s_abc_00011084_pts.xyz.npy"),
)
CHECKPOINTS = (1, 25, 50, 100, 150, 200, 300, 400, 500, 600, 800, 1000, 1500, 2000)
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "prior_bench"


class ChamferCurve:
    """Step callback: mesh the field at checkpoints and record its Chamfer (and the time spent doing so)."""

    def __init__(self, item, cloud_points: np.ndarray, steps: list[int], resolution: int, options: MetricOptions):
        self.item = item
        self.normalization = Normalization.fit(cloud_points)
        unit = self.normalization.to_unit(cloud_points)
        self.lo, self.hi = unit.min(axis=0), unit.max(axis=0)
        self.steps = set(steps)
        self.mesh_cfg = MeshConfig(resolution=resolution)
        self.options = options
        self.points: list[tuple[int, float]] = []
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.elapsed: list[tuple[float, float]] = []
        self.start()

    def start(self) -> None:
        """Mark the start of the run (call right before it)."""
        self.cpu_start, self.wall_start = time.process_time(), time.perf_counter()

    def __call__(self, step: int, model: torch.nn.Module) -> None:
        if step not in self.steps:
            return
        t0, c0 = time.perf_counter(), time.process_time()
        # CPU and wall seconds since the run started, without the time spent measuring.
        self.elapsed.append((c0 - self.cpu_start - self.cpu_seconds, t0 - self.wall_start - self.seconds))
        was_training = model.training
        model.eval()
        try:
            mesh = extract_mesh(model.surface_value, self.lo, self.hi, self.mesh_cfg).mesh
            mesh.vertices = self.normalization.to_world(mesh.vertices)
            score = evaluate(mesh, gt_mesh=self.item.gt_mesh, gt_points=self.item.gt_points, options=self.options)
            self.points.append((step, score.surface.chamfer_l1 / score.gt_diagonal))
        except (NoSurfaceError, ValueError):
            self.points.append((step, math.nan))
        finally:
            model.train(was_training)
            self.seconds += time.perf_counter() - t0
            self.cpu_seconds += time.process_time() - c0


def _score(item, mesh, options: MetricOptions) -> dict[str, float]:
    if len(mesh.faces) == 0:
        return {"chamfer_rel": math.nan, "iou": math.nan}
    score = evaluate(mesh, gt_mesh=item.gt_mesh, gt_points=item.gt_points, options=options)
    return {"chamfer_rel": score.surface.chamfer_l1 / score.gt_diagonal, "iou": score.iou}


def _first_reaching(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((step for step, value in curve if value <= target), None)


def run_shape(shape: BenchShape, args) -> dict[str, Any]:
    if shape.scan:
        suite_shape = scan_shape(shape.name, SHARED_DATA / shape.scan, SHARED_DATA / shape.gt, layout="held_out")
    else:
        suite_shape = mesh_shape(shape.name, SHARED_DATA / shape.gt, ScanOptions(points=shape.samples, seed=0),
                                 layout="held_out")
    item = suite_shape.load()
    cloud = item.cloud
    final_opts = MetricOptions(samples=args.samples, iou_samples=args.iou_samples)
    curve_opts = MetricOptions(samples=args.curve_samples, iou_samples=0)
    out: dict[str, Any] = {"shape": shape.name, "input_points": len(cloud.points), "normals": cloud.normals is not None}
    common = [{"device": "cpu", "seed": 0}]
    weights = [{"prior": {"weights": args.weights}}] if args.weights else []

    t0, c0 = time.perf_counter(), time.process_time()
    mesh = poisson(cloud)
    out["poisson"] = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                      **_score(item, mesh, final_opts)}
    print(f"  poisson {out['poisson']}", flush=True)

    cfg = resolve_config("gridformer", common + weights + [{"mesh": {"resolution": args.resolution}}])
    t0, c0 = time.perf_counter(), time.process_time()
    result = reconstruct(cloud, cfg, progress=False)
    out["gridformer"] = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                         **_score(item, result.mesh, final_opts), "prior_seconds": result.record["prior"]["seconds"]}
    print(f"  gridformer {out['gridformer']}", flush=True)

    steps = [s for s in CHECKPOINTS if s < args.iterations] + [args.iterations]
    for name in ("default", "gridformer_refine"):
        cfg = resolve_config(name, common + (weights if name != "default" else []) +
                             [{"train": {"iterations": args.iterations, "checkpoint_every": 0}}])
        curve = ChamferCurve(item, cloud.points, steps, args.curve_resolution, curve_opts)
        t0, c0 = time.perf_counter(), time.process_time()
        curve.start()
        result = reconstruct(cloud, cfg, progress=False, step_callback=curve)
        seconds = time.perf_counter() - t0 - curve.seconds
        cpu_seconds = time.process_time() - c0 - curve.cpu_seconds
        prior_seconds = sum(result.record.get("prior", {}).get("seconds", {}).values())
        out[name] = {"seconds": seconds, "cpu_seconds": cpu_seconds,
                     "train_seconds": result.record["seconds"]["train"] - curve.seconds,
                     "prior_seconds": prior_seconds, "curve": curve.points, "curve_cpu_wall": curve.elapsed,
                     **_score(item, result.mesh, final_opts)}
        print(f"  {name} chamfer {out[name]['chamfer_rel']:.5f} in {seconds:.0f} s; curve {curve.points}", flush=True)
    target = out["default"]["curve"][-1][1]
    for name in ("default", "gridformer_refine"):
        run = out[name]
        reach = _first_reaching(run["curve"], target)
        run["steps_to_default_final"] = reach
        at = [i for i, (step, _) in enumerate(run["curve"]) if step == reach]
        run["cpu_seconds_to_default_final"] = run["curve_cpu_wall"][at[0]][0] if at else None
    return out


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def tables(results: list[dict[str, Any]], iterations: int) -> str:
    lines = ["| shape | method | Chamfer-L1 / diag | IoU | CPU s | wall s |", "|---|---|---|---|---|---|"]
    for r in results:
        for m in ("gridformer", "default", "poisson"):
            v = r[m]
            lines.append(f"| {r['shape']} | {m} | {_fmt(v['chamfer_rel'])} | {_fmt(v['iou'], '.3f')} | "
                         f"{_fmt(v.get('cpu_seconds'), '.1f')} | {_fmt(v['seconds'], '.1f')} |")
    lines += ["", f"Steps and CPU seconds to reach the default's Chamfer after {iterations} steps (fields meshed "
                  "at checkpoints; refine's seconds include the prediction and the warm start):", "",
              "| shape | default Chamfer@end | default steps | default CPU s | refine Chamfer@1 | refine Chamfer@end "
              "| refine steps | refine CPU s | step ratio | CPU ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        d, g = r["default"], r["gridformer_refine"]
        ds, gs = d["steps_to_default_final"], g["steps_to_default_final"]
        dc, gc = d.get("cpu_seconds_to_default_final"), g.get("cpu_seconds_to_default_final")
        lines.append(
            f"| {r['shape']} | {_fmt(d['curve'][-1][1])} | {ds} | {_fmt(dc, '.0f')} | {_fmt(g['curve'][0][1])} | "
            f"{_fmt(g['curve'][-1][1])} | {gs or 'not reached'} | {_fmt(gc, '.0f')} | "
            f"{_fmt(gs / ds if gs and ds else None, '.2f')} | {_fmt(gc / dc if gc and dc else None, '.2f')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", help="comma-separated (default: all of " + ", ".join(s.name for s in HELD_OUT) + ")")
    parser.add_argument("--iterations", type=int, default=None,
                        help="steps of default and gridformer_refine (default: the default preset's train.iterations)")
    parser.add_argument("--weights", help="prior model file (default: the bundled one)")
    parser.add_argument("--resolution", type=int, default=128, help="mesh resolution of the feed-forward prediction")
    parser.add_argument("--curve-resolution", type=int, default=96, help="mesh resolution at checkpoints")
    parser.add_argument("--samples", type=int, default=100_000, help="surface samples for the final scores")
    parser.add_argument("--curve-samples", type=int, default=30_000, help="surface samples at checkpoints")
    parser.add_argument("--iou-samples", type=int, default=100_000)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--overwrite", action="store_true", help="redo finished shapes")
    args = parser.parse_args()
    if args.iterations is None:
        args.iterations = resolve_config("default").train.iterations
    names = args.shapes.split(",") if args.shapes else [s.name for s in HELD_OUT]
    unknown = sorted(set(names) - {s.name for s in HELD_OUT})
    if unknown:
        print(f"error: unknown shapes {', '.join(unknown)}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    results = []
    for shape in (s for s in HELD_OUT if s.name in names):
        if not (SHARED_DATA / shape.gt).exists():
            print(f"{shape.name}: shared data absent, skipped", file=sys.stderr)
            continue
        path = args.output / f"{shape.name}.json"
        if path.exists() and not args.overwrite:
            results.append(json.loads(path.read_text()))
            continue
        print(f"{shape.name}:", flush=True)
        result = run_shape(shape, args)
        path.write_text(json.dumps(result, indent=1))
        results.append(result)
    print(tables(results, args.iterations))
    return 0


if __name__ == "__main__":
    sys.exit(main())
