"""``sdfrecon benchmark``: run methods over a suite of shapes and tabulate the metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdfrecon.cli import add_common_options
from sdfrecon.cli.options import add_metric_options, default_of, metric_options_from
from sdfrecon.datasets.benchmarks import ScanOptions
from sdfrecon.evaluation.methods import MethodSettings
from sdfrecon.evaluation.metrics import MetricOptions

CONTACT_SHEET = "contact_sheet.png"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark",
        help="run reconstruction methods over a benchmark suite; write results.csv and results.md",
        description="Run each method (config presets such as default or steik, and the classical poisson "
                    "and ball_pivoting) on each shape of a suite folder, score every mesh against the "
                    "ground truth, and write OUT/meshes/<shape>/<method>.ply, OUT/results.csv and "
                    "OUT/results.md. Rerunning with the same OUT resumes: finished pairs are skipped. "
                    "Suite layouts (srb, shapenet, meshes) are described in datasets/benchmarks.py. "
                    "Pairs run in worker processes (--executor local, --workers N) or on Ray (--executor ray); "
                    "--shard I/N runs one slice of the pairs (SLURM job arrays) and `sdfrecon benchmark merge OUT` "
                    "joins the shards. See docs/benchmarking.md.",
    )
    actions = p.add_subparsers(dest="benchmark_action", metavar="{merge}")
    m = actions.add_parser("merge", help="join the results of every --shard run in OUT into OUT/results.csv/.md",
                           description="Join OUT/shards/*/results.csv (and any earlier OUT/results.csv) into "
                                       "OUT/results.csv and OUT/results.md, in the suite's order; lists the "
                                       "pairs no shard has finished.")
    m.add_argument("folder", type=Path, metavar="OUT", help="the benchmark output folder the shards wrote to")
    add_common_options(m)
    m.set_defaults(run=run_merge)
    p.add_argument("--suite", type=Path, metavar="FOLDER", help="benchmark suite folder (required)")
    p.add_argument("--layout", default="auto", choices=("auto", "srb", "shapenet", "meshes"),
                   help="suite layout (default: auto-detect)")
    p.add_argument("--methods", default="default,poisson", metavar="A,B",
                   help="comma-separated methods: presets from configs/ and poisson, ball_pivoting "
                        "(default: default,poisson)")
    p.add_argument("-o", "--output", type=Path, metavar="DIR", help="results folder (required)")
    p.add_argument("--protocol", default="ours", choices=("ours", "srb", "shapenet"),
                   help="ours: exact evaluation (default); srb / shapenet: the official StEik/DiGS scripts' "
                        "normalisation, meshing grid, sample counts, ground truth and IoU (docs/benchmarking.md)")
    e = p.add_argument_group("execution")
    e.add_argument("--executor", default="local", choices=("local", "ray", "inline"),
                   help="local: worker processes, one per pair, a crash fails only its pair (default); "
                        "ray: one Ray task per pair (pip install \"sdfrecon[ray]\"); inline: this process")
    e.add_argument("--workers", type=int, default=1, metavar="N", help="local: pairs run at once (default 1)")
    e.add_argument("--threads", type=int, metavar="N",
                   help="torch threads per local worker (default: the CPUs shared among the workers)")
    e.add_argument("--retries", type=int, default=1, metavar="K",
                   help="extra attempts for a pair whose worker process died (default 1)")
    e.add_argument("--address", metavar="auto|HOST:PORT",
                   help="ray: the cluster to use (default: start a local Ray instance for this run)")
    e.add_argument("--cpus-per-pair", type=float, default=1.0, metavar="C", help="ray: CPUs per task (default 1)")
    e.add_argument("--gpus-per-pair", type=float, metavar="G",
                   help="ray: GPUs per neural task (default: 1 if the cluster has GPUs, else 0)")
    e.add_argument("--shard", metavar="I/N",
                   help="run only shard I of N of the pairs (e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT); "
                        "rows go to OUT/shards/I-of-N/; join with `sdfrecon benchmark merge OUT`")
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
    p.set_defaults(run=run, samples=None, parser=p)


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


def make_executor(args: argparse.Namespace):
    """The executor the flags ask for (checked before anything runs)."""
    from sdfrecon.evaluation.executors import InlineExecutor, LocalExecutor, RayExecutor

    if args.executor == "inline":
        return InlineExecutor()
    if args.executor == "ray":
        executor = RayExecutor(address=args.address, cpus_per_pair=args.cpus_per_pair,
                               gpus_per_pair=args.gpus_per_pair, retries=args.retries)
        executor.import_ray()
        return executor
    if args.address is not None:
        from sdfrecon.base.errors import ConfigError

        raise ConfigError("--address applies to --executor ray")
    return LocalExecutor(workers=args.workers, retries=args.retries, threads=args.threads)


def run_merge(args: argparse.Namespace) -> int:
    from sdfrecon.evaluation.benchmark import merge_results
    from sdfrecon.evaluation.report import STATUS_OK

    outcome = merge_results(args.folder)
    done = sum(r["status"] == STATUS_OK for r in outcome.rows)
    planned = done + sum(r["status"] != STATUS_OK for r in outcome.rows) + len(outcome.missing)
    print(f"merged {len(outcome.sources)} result file(s): {done}/{planned} pairs finished, "
          f"{len(outcome.missing)} not run yet; results: {args.folder / 'results.md'}, {args.folder / 'results.csv'}")
    for shape, method in outcome.missing[:10]:
        print(f"  not run: {shape} / {method}")
    if len(outcome.missing) > 10:
        print(f"  ... and {len(outcome.missing) - 10} more")
    return 0


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from sdfrecon.evaluation.benchmark import Shard
    from sdfrecon.evaluation.protocols import PROTOCOLS, check_layout, config_overrides

    from sdfrecon.datasets.benchmarks import read_suite
    from sdfrecon.evaluation.benchmark import BenchmarkRun, finished_meshes, run_benchmark
    from sdfrecon.evaluation.methods import MethodSettings, get_methods
    from sdfrecon.evaluation.report import STATUS_OK
    from sdfrecon.base.configtools import parse_override

    if args.suite is None or args.output is None:
        args.parser.error("the following arguments are required: --suite, -o/--output")
    # Everything is checked before the output folder is touched.
    sheet = contact_sheet_function() if args.contact_sheet else None
    shard = Shard.parse(args.shard) if args.shard else None
    protocol = PROTOCOLS[args.protocol]
    if protocol.samples and args.samples not in (None, protocol.samples):
        from sdfrecon.base.errors import ConfigError

        raise ConfigError(f"--samples: the {protocol.name} protocol fixes {protocol.samples} samples; "
                          "use --protocol ours for another count")
    if args.samples is None:
        args.samples = protocol.samples or default_of(MetricOptions, "samples")
    # A protocol's normalisation and meshing come first, so --resolution / --set still win.
    protocol_overrides = list(config_overrides(args.protocol))
    if protocol_overrides and args.resolution is not None:  # --resolution beats the protocol's 512
        protocol_overrides.append({"mesh": {"resolution": args.resolution}})
    overrides = tuple(protocol_overrides) + tuple(parse_override(t) for t in args.overrides)
    settings = MethodSettings(iterations=args.iterations, resolution=args.resolution, device=args.device,
                              seed=args.seed, overrides=overrides)
    methods = get_methods(_names(args.methods) or [], settings)
    executor = make_executor(args)
    scan = ScanOptions(points=args.scan_points, noise=args.noise, holes=args.holes, hole_radius=args.hole_radius,
                       normals=not args.no_normals, seed=args.seed)
    metrics = metric_options_from(args)
    shapes = read_suite(args.suite, args.layout, scan, _names(args.shapes))
    layout = shapes[0].layout
    check_layout(args.protocol, layout)
    record = {"layout": layout, "neural": {k: v for k, v in asdict(settings).items()}}
    if layout != "srb":
        record["scan"] = asdict(scan)
    description = [
        f"Suite `{args.suite}` ({layout}, {len(shapes)} shapes); methods: {', '.join(m.name for m in methods)}.",
        f"Neural: iterations {args.iterations or 'preset'}, resolution {args.resolution or 'preset'}, "
        f"device {args.device or 'preset'}, seed {args.seed}. Metrics: {args.samples} samples per surface, "
        + (f"F-score threshold {args.fscore_threshold}" if args.fscore_threshold is not None
           else f"F-score threshold {args.fscore_relative:g} x GT bbox diagonal") + ".",
        f"Protocol `{protocol.name}`: {protocol.summary}.",
    ]
    rows = run_benchmark(BenchmarkRun(shapes, methods, metrics, record, description, protocol=args.protocol),
                         args.output, overwrite=args.overwrite, progress=not args.quiet, executor=executor,
                         shard=shard)
    done = sum(r["status"] == STATUS_OK for r in rows)
    where = args.output if shard is None else args.output / "shards" / shard.label
    print(f"{done}/{len(rows)} pairs finished; results: {where / 'results.md'}, {where / 'results.csv'}")
    if sheet is not None:
        png = args.output / CONTACT_SHEET
        sheet(finished_meshes(rows, args.output), png)
        print(f"contact sheet: {png}")
    return 0
