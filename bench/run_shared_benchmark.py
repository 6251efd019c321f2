"""Benchmark methods on every shape with ground truth in ../shared/data.

Run:  .venv/bin/python -m bench.run_shared_benchmark [--methods default,poisson] [-o DIR]
          [--shapes srb_dc,fandisk] [--iterations N] [--resolution N] [--device cpu] [--samples N]

The suite is the shape list of ``bench/shapes.py``: the two SRB scans with their
ground-truth meshes, the sparse kitten (500 unoriented points) with its mesh,
and the other meshes (CAD, fertility, bunny, the OReX reference "eight") with a
synthetic oriented scan sampled from each (``sdfrecon.datasets.benchmarks.mesh_shape``,
seeded). Every method gets the same inputs; the results go to
``DIR/meshes/<shape>/<method>.ply``, ``DIR/results.csv`` and ``DIR/results.md``
(default DIR: bench/results/shared_benchmark), and the Markdown is printed.
Rerunning resumes: finished (shape, method) pairs are skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from bench.shapes import SHARED_DATA, available_shapes

from sdfrecon.datasets.benchmarks import ScanOptions, SuiteShape, mesh_shape, scan_shape
from sdfrecon.evaluation.benchmark import BenchmarkRun, run_benchmark
from sdfrecon.evaluation.methods import MethodSettings, get_methods
from sdfrecon.evaluation.metrics import MetricOptions
from sdfrecon.base.configtools import parse_override
from sdfrecon.base.errors import ReconError

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "shared_benchmark"


def shared_suite(names: list[str] | None, seed: int) -> list[SuiteShape]:
    """The shared shapes as suite entries (see module doc)."""
    shapes = available_shapes(names)
    if names:
        missing = sorted(set(names) - {s.name for s in shapes})
        if missing:
            raise SystemExit(f"error: unknown or absent shapes: {', '.join(missing)}")
    out = []
    for s in shapes:
        if s.scan is not None:
            out.append(scan_shape(s.name, SHARED_DATA / s.scan, SHARED_DATA / s.gt, layout="shared"))
        else:
            out.append(mesh_shape(s.name, SHARED_DATA / s.gt, ScanOptions(points=s.samples, seed=seed),
                                  layout="shared"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="default,poisson", help="comma-separated methods")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--shapes", help="comma-separated shape names (default: all available)")
    parser.add_argument("--iterations", type=int, help="training steps of neural methods (default: preset's)")
    parser.add_argument("--resolution", type=int, help="marching-cubes resolution (default: preset's)")
    parser.add_argument("--device", help="device of neural methods (default: preset's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for neural methods (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=100_000, help="surface samples per mesh for the metrics")
    parser.add_argument("--overwrite", action="store_true", help="redo every pair")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()
    try:
        settings = MethodSettings(iterations=args.iterations, resolution=args.resolution, device=args.device,
                                  seed=args.seed, overrides=tuple(parse_override(t) for t in args.overrides))
        methods = get_methods([m.strip() for m in args.methods.split(",") if m.strip()], settings)
        shapes = shared_suite(args.shapes.split(",") if args.shapes else None, args.seed)
        record = {"suite": "shared", "neural": {"iterations": args.iterations, "resolution": args.resolution,
                                                "device": args.device, "seed": args.seed,
                                                "overrides": list(args.overrides)}}
        description = [
            f"Shared data ({len(shapes)} shapes); methods: {', '.join(m.name for m in methods)}; "
            f"neural iterations {args.iterations or 'preset'}, resolution {args.resolution or 'preset'}, "
            f"seed {args.seed}; {args.samples} samples per surface, F-score at 1 % of the GT bbox diagonal.",
        ]
        run = BenchmarkRun(shapes, methods, MetricOptions(samples=args.samples, seed=args.seed), record, description)
        run_benchmark(run, args.output, overwrite=args.overwrite, progress=not args.quiet)
    except ReconError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print((args.output / "results.md").read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
