"""``sdfrecon benchmark``: run methods over a suite of shapes and tabulate the metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdfrecon.cli import add_common_options
from sdfrecon.cli.options import add_metric_options, default_of, metric_options_from
from sdfrecon.datasets.benchmarks import ScanOptions
from sdfrecon.evaluation.methods import MethodSettings

CONTACT_SHEET = "contact_sheet.png"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark",
        help="run reconstruction methods over a benchmark suite; write results.csv and results.md",
        description="Run each method (config presets such as default or steik, and the classical poisson "
                    "and ball_pivoting) on each shape of a suite folder, score every mesh against the "
                    "ground truth, and write OUT/meshes/<shape>/<method>.ply, OUT/results.csv and "
                    "OUT/results.md. Rerunning with the same OUT resumes: finished pairs are skipped. "
                    "Suite layouts (srb, shapenet, meshes) are described in datasets/benchmarks.py.",
    )
    p.add_argument("--suite", type=Path, required=True, metavar="FOLDER", help="benchmark suite folder")
    p.add_argument("--layout", default="auto", choices=("auto", "srb", "shapenet", "meshes"),
                   help="suite layout (default: auto-detect)")
    p.add_argument("--methods", default="default,poisson", metavar="A,B",
                   help="comma-separated methods: presets from configs/ and poisson, ball_pivoting "
                        "(default: default,poisson)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="results folder")
    p.add_argument("--shapes", metavar="A,B", help="only these shapes (default: all)")
    g = p.add_argument_group("neural methods")
    g.add_argument("--iterations", type=int, metavar="N", help="training steps (default: the preset's)")
    g.add_argument("--resolution", type=int, metavar="N", help="marching-cubes resolution (default: the preset's)")
    g.add_argument("--device", metavar="auto|cpu|cuda", help="training device (default: the preset's)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every neural method, e.g. --set train.lr=5e-4 (repeatable)")
    p.add_argument("--seed", type=int, default=default_of(MethodSettings, "seed"), metavar="S",
                   help="seed of training, synthetic scans and metric sampling (default %(default)s)")
    add_metric_options(p.add_argument_group("metrics"))
    s = p.add_argument_group("synthetic scans (meshes and shapenet layouts)")
    s.add_argument("--scan-points", type=int, default=default_of(ScanOptions, "points"), metavar="N",
                   help="points per synthetic scan (default %(default)s)")
    s.add_argument("--noise", type=float, default=default_of(ScanOptions, "noise"), metavar="SIGMA",
                   help="Gaussian noise, fraction of the bbox diagonal (default %(default)s)")
    s.add_argument("--holes", type=int, default=default_of(ScanOptions, "holes"), metavar="K",
                   help="missing regions per scan (default %(default)s)")
    s.add_argument("--hole-radius", type=float, default=default_of(ScanOptions, "hole_radius"), metavar="R",
                   help="radius of each missing region, fraction of the bbox diagonal (default %(default)s)")
    s.add_argument("--no-normals", action="store_true", help="give synthetic scans no normals")
    p.add_argument("--contact-sheet", action="store_true",
                   help=f"when done, render the meshes side by side into OUT/{CONTACT_SHEET} (needs viewer)")
    p.add_argument("--overwrite", action="store_true", help="redo every pair instead of resuming")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_common_options(p)
    p.set_defaults(run=run)


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def contact_sheet_function():
    """``sdfrecon.viewer.contact_sheet`` if this install has it.

    Raises
    ------
    ConfigError
        The viewer (or its contact sheet) is not available.
    """
    import importlib
    from types import ModuleType

    from sdfrecon.base.errors import ConfigError

    try:
        found = getattr(importlib.import_module("sdfrecon.viewer"), "contact_sheet", None)
        if found is None:
            found = importlib.import_module("sdfrecon.viewer.contact_sheet")
    except Exception as exc:  # missing module, or a viewer that fails to import (GL stack)
        raise ConfigError(f"--contact-sheet: sdfrecon.viewer.contact_sheet is not available ({exc}); "
                          "run without --contact-sheet") from None
    # sdfrecon.viewer.contact_sheet may be the function itself (re-exported) or its module.
    function = getattr(found, "contact_sheet", None) if isinstance(found, ModuleType) else found
    if not callable(function):
        raise ConfigError("--contact-sheet: sdfrecon.viewer.contact_sheet has no contact_sheet(mesh_paths, out_png)")
    return function


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from sdfrecon.datasets.benchmarks import read_suite
    from sdfrecon.evaluation.benchmark import BenchmarkRun, finished_meshes, run_benchmark
    from sdfrecon.evaluation.methods import MethodSettings, get_methods
    from sdfrecon.evaluation.report import STATUS_OK
    from sdfrecon.base.configtools import parse_override

    # Everything is checked before the output folder is touched.
    sheet = contact_sheet_function() if args.contact_sheet else None
    settings = MethodSettings(iterations=args.iterations, resolution=args.resolution, device=args.device,
                              seed=args.seed, overrides=tuple(parse_override(t) for t in args.overrides))
    methods = get_methods(_names(args.methods) or [], settings)
    scan = ScanOptions(points=args.scan_points, noise=args.noise, holes=args.holes, hole_radius=args.hole_radius,
                       normals=not args.no_normals, seed=args.seed)
    metrics = metric_options_from(args)
    shapes = read_suite(args.suite, args.layout, scan, _names(args.shapes))
    layout = shapes[0].layout
    record = {"layout": layout, "neural": {k: v for k, v in asdict(settings).items()}}
    if layout != "srb":
        record["scan"] = asdict(scan)
    description = [
        f"Suite `{args.suite}` ({layout}, {len(shapes)} shapes); methods: {', '.join(m.name for m in methods)}.",
        f"Neural: iterations {args.iterations or 'preset'}, resolution {args.resolution or 'preset'}, "
        f"device {args.device or 'preset'}, seed {args.seed}. Metrics: {args.samples} samples per surface, "
        + (f"F-score threshold {args.fscore_threshold}" if args.fscore_threshold is not None
           else f"F-score threshold {args.fscore_relative:g} x GT bbox diagonal") + ".",
    ]
    rows = run_benchmark(BenchmarkRun(shapes, methods, metrics, record, description), args.output,
                         overwrite=args.overwrite, progress=not args.quiet)
    done = sum(r["status"] == STATUS_OK for r in rows)
    print(f"{done}/{len(rows)} pairs finished; results: {args.output / 'results.md'}, {args.output / 'results.csv'}")
    if sheet is not None:
        png = args.output / CONTACT_SHEET
        sheet(finished_meshes(rows, args.output), png)
        print(f"contact sheet: {png}")
    return 0
