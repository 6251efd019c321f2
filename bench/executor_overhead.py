"""Planning and per-pair overhead of the benchmark executors on a large synthetic suite (issue 15).

Run:  .venv/bin/python -m bench.executor_overhead [--shapes 1000] [--workers 2] [--skip-ray]

Writes a suite of ``--shapes`` tiny meshes (a randomly scaled tetrahedron-like hull of 8
points each) and runs one trivial method (the convex hull of a 64-point scan, scored on
200 samples, no IoU) over it with each executor, into fresh output folders:

* ``inline``: every pair in this process -- the baseline; its seconds per pair are the
  work itself (read, reconstruct, score, write the row);
* ``local``: ``--workers`` worker processes, one fresh process per pair;
* ``ray``: a local Ray instance with ``--workers`` CPUs, one task per pair.

Prints planning time (plan a fresh folder; plan again once everything is finished: the
resume check), wall seconds per pair, and the overhead per pair over the inline baseline
measured in the same run, as seconds and as a ratio. With ``--workers`` > 1 a parallel
executor also gains from parallelism, so its overhead is reported both as wall time and
as CPU-slot time (wall x workers), the fair cost of running a pair out of process.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh


def hull(cloud):
    """The trivial method: the convex hull of the scan."""
    return trimesh.convex.convex_hull(cloud.points)


def write_suite(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(count):
        points = rng.normal(size=(8, 3)) * rng.uniform(0.5, 2.0, size=3)
        trimesh.convex.convex_hull(points).export(folder / f"shape{i:05d}.ply")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()

    from sdfrecon.datasets.benchmarks import ScanOptions, read_suite
    from sdfrecon.evaluation.benchmark import BenchmarkRun, plan_benchmark, run_benchmark
    from sdfrecon.evaluation.executors import InlineExecutor, LocalExecutor, RayExecutor
    from sdfrecon.evaluation.methods import ClassicalMethod
    from sdfrecon.evaluation.metrics import MetricOptions

    root = Path(tempfile.mkdtemp(prefix="sdfrecon_overhead_"))
    try:
        t0 = time.perf_counter()
        write_suite(root / "suite", args.shapes)
        print(f"suite of {args.shapes} shapes written in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        shapes = read_suite(root / "suite", options=ScanOptions(points=64))
        t_read = time.perf_counter() - t0
        run = BenchmarkRun(shapes, [ClassicalMethod("hull", hull)], MetricOptions(samples=200, iou_samples=0))
        t0 = time.perf_counter()
        plan = plan_benchmark(run, root / "plan")
        t_plan = time.perf_counter() - t0
        print(f"planning: read_suite {t_read:.2f} s, plan of {len(plan.tasks)} pairs {t_plan:.2f} s "
              f"({1e3 * t_plan / len(plan.tasks):.2f} ms per pair)")

        executors = [("inline", InlineExecutor(), 1), ("local", LocalExecutor(workers=args.workers, threads=1),
                                                       args.workers)]
        if not args.skip_ray:
            executors.append(("ray", RayExecutor(num_cpus=args.workers), args.workers))
        results = {}
        for name, executor, slots in executors:
            out = root / name
            t0 = time.perf_counter()
            rows = run_benchmark(run, out, executor=executor, progress=False)
            wall = time.perf_counter() - t0
            ok = sum(r["status"] == "ok" for r in rows)
            t0 = time.perf_counter()
            again = plan_benchmark(run, out)
            t_resume = time.perf_counter() - t0
            results[name] = (wall / len(rows), slots)
            print(f"{name:6s}: {ok}/{len(rows)} ok, {wall:.1f} s wall, {wall / len(rows):.4f} s/pair; "
                  f"resume plan {t_resume:.2f} s ({len(again.tasks)} left)")
        base = results["inline"][0]
        print("\nexecutor  s/pair (wall)  overhead/pair (wall)  s/pair x slots  overhead/pair (slot time)  ratio")
        for name, (per_pair, slots) in results.items():
            print(f"{name:8s}  {per_pair:12.4f}  {per_pair - base:20.4f}  {per_pair * slots:14.4f}  "
                  f"{per_pair * slots - base:25.4f}  {per_pair * slots / base:5.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
