"""``python -m bench.gpu_check STAGE``: the measured stages of the GPU check, their records, the report.

    python -m bench.gpu_check env      [--device cuda]
    python -m bench.gpu_check presets  [--device cuda] [--budget-s 220] [--smoke]
    python -m bench.gpu_check meshing  [--device cuda] [--resolution 512] [--smoke]
    python -m bench.gpu_check mark NAME --rc RC --seconds S [--log FILE] [--skip REASON] [--note TEXT]
    python -m bench.gpu_check report   [--smoke]
    python -m bench.gpu_check all      [--device cpu] [--smoke]   # env, presets, meshing, report in turn

Everything goes under ``$OUT`` (default ``./gpu_check_out``). ``--smoke`` makes every stage
tiny (a few steps, small grids) so the whole check runs on a CPU in minutes: it shows the
script works, it measures nothing. ``bench/gpu_check.sh`` is the usual entry point.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.gpu_check.stages import mark, out_dir

STARTED = time.perf_counter()
"""When this process started (before its heavy imports): stage budgets count from here."""

STEIK_GPU_ITERATIONS = 2000
"""Steps of the ``steik`` preset on the GPU (the paper's 10,000 would not fit the device time;
seconds per 1,000 steps are reported, and 10,000 steps projected from them)."""
SMOKE_SETS = ["train.compile=false", "train.checkpoint_every=0", "sampler.surface_points=2048",
              "sampler.uniform_points=2048"]
"""Smoke runs skip ``torch.compile`` (its first call costs more than a whole smoke run on a CPU)
and draw few points per step."""


def _presets(args: argparse.Namespace) -> int:
    from bench.gpu_check.presets import PresetPlan, run

    if args.smoke:
        plan = PresetPlan(device=args.device, budget_s=args.budget_s, started=STARTED, shapes=["srb_lord_quas"],
                          iterations={p: 5 for p in ("hashgrid", "default", "steik")}, resolution=32,
                          sets=list(SMOKE_SETS), samples=5_000)
    else:
        plan = PresetPlan(device=args.device, budget_s=args.budget_s, started=STARTED,
                          iterations={"steik": args.steik_iterations})
    record = run(out_dir(), plan)
    return 0 if record["status"] in ("ok", "skipped") else 1


def _meshing(args: argparse.Namespace) -> int:
    from bench.gpu_check.meshing import run

    resolution = 64 if args.smoke and args.resolution is None else (args.resolution or 512)
    record = run(out_dir(), args.device, resolution, train_iterations=5 if args.smoke else 300)
    return 0 if record["status"] == "ok" else 1


def _env(args: argparse.Namespace) -> int:
    from bench.gpu_check.env import run

    return 0 if run(out_dir(), args.device)["status"] == "ok" else 1


def _report(args: argparse.Namespace) -> int:
    from bench.gpu_check.report import write_report

    md = write_report(out_dir(), smoke=args.smoke)
    print(md, end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("env", "presets", "meshing", "mark", "report", "all"))
    parser.add_argument("name", nargs="?", help="mark: the stage's name")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="every stage tiny, to check the script end to end")
    parser.add_argument("--budget-s", type=float, default=220.0, help="presets: seconds for all its runs")
    parser.add_argument("--steik-iterations", type=int, default=STEIK_GPU_ITERATIONS)
    parser.add_argument("--resolution", type=int, help="meshing: grid resolution (default 512; smoke 64)")
    parser.add_argument("--rc", type=int, help="mark: the stage command's exit status")
    parser.add_argument("--seconds", type=float, default=0.0, help="mark: how long the stage ran")
    parser.add_argument("--log", type=Path, help="mark: the stage's log file")
    parser.add_argument("--skip", default="", help="mark: the stage was skipped, for this reason")
    parser.add_argument("--note", default="", help="mark: a note for the record")
    args = parser.parse_args(argv)
    if args.stage == "mark":
        if not args.name:
            parser.error("mark needs the stage's name")
        mark(out_dir(), args.name, rc=args.rc, seconds=args.seconds, log=args.log, skip=args.skip, note=args.note)
        return 0
    if args.stage == "all":
        rcs = [_env(args), _presets(args), _meshing(args)]
        _report(args)
        return max(rcs)
    return {"env": _env, "presets": _presets, "meshing": _meshing, "report": _report}[args.stage](args)


if __name__ == "__main__":
    sys.exit(main())
