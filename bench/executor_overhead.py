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
measured in the same run, as wall time x slots (a parallel executor also gains from
parallelism; wall x workers is the slot time a pair occupies) and as CPU time (this
process and its finished children; less sensitive to other load on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished children (worker processes;
    a local Ray instance's processes once it is shut down)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


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
            t0, c0 = time.perf_counter(), cpu_seconds()
            rows = run_benchmark(run, out, executor=executor, progress=False)
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            ok = sum(r["status"] == "ok" for r in rows)
            t0 = time.perf_counter()
            again = plan_benchmark(run, out)
            t_resume = time.perf_counter() - t0
            results[name] = (wall / len(rows), cpu / len(rows), slots)
            print(f"{name:6s}: {ok}/{len(rows)} ok, {wall:.1f} s wall, {cpu:.1f} s CPU, "
                  f"resume plan {t_resume:.2f} s ({len(again.tasks)} left)", flush=True)
        base_wall, base_cpu, _ = results["inline"]
        print(f"\nload average during the run: {os.getloadavg()[0]:.1f} (this machine has {os.cpu_count()} CPUs)")
        print("executor  wall s/pair  wall x slots  overhead/pair (slot time)  CPU s/pair  CPU overhead/pair  CPU ratio")
        for name, (wall, cpu, slots) in results.items():
            print(f"{name:8s}  {wall:11.4f}  {wall * slots:12.4f}  {wall * slots - base_wall:25.4f}  {cpu:10.4f}  "
                  f"{cpu - base_cpu:17.4f}  {cpu / base_cpu:8.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
