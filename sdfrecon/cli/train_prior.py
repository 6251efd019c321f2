"""``sdfrecon train-prior``: train a learned shape prior (GridFormer) on shape suites."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from sdfrecon.cli import add_common_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-prior",
        help="train a feed-forward shape prior (GridFormer) for --config gridformer",
        description="Train a GridFormer occupancy network on procedural shapes and/or benchmark suite folders "
                    "(plain mesh folders and SRB: synthetic noisy scans of watertight meshes, labels by ray "
                    "casting; ONet ShapeNet: pointcloud.npz + points.npz). Writes OUTPUT (the model file for "
                    "'sdfrecon reconstruct --config gridformer --weights OUTPUT'), OUTPUT_STEM.training.ckpt "
                    "(continue with --resume) and OUTPUT_STEM.training.json (record). Several GPUs or nodes: "
                    "launch with torchrun, e.g. 'torchrun --nproc_per_node 4 -m sdfrecon train-prior ...'. "
                    "Exit status: 0 done, 2 bad input or option, 130 interrupted (checkpoint kept).",
    )
    p.add_argument("--suite", dest="suites", type=Path, action="append", default=[], metavar="DIR",
                   help="benchmark suite folder to train on (repeatable)")
    p.add_argument("--layout", default="auto", help="suite layout: auto, meshes, srb, shapenet (default auto)")
    p.add_argument("-o", "--output", type=Path, required=True, help="model file to write (.pt)")
    p.add_argument("--procedural", type=int, metavar="N",
                   help="procedural shapes to train on (data.procedural; 0 = suites only)")
    p.add_argument("--steps", type=int, metavar="N", help="optimiser steps (train.steps)")
    p.add_argument("--batch-size", type=int, metavar="N", help="shapes per step and process (train.batch_size)")
    p.add_argument("--workers", type=int, metavar="N", help="data-loader workers per process (train.workers)")
    p.add_argument("--device", metavar="auto|cpu|cuda", help="compute device (default auto)")
    p.add_argument("--seed", type=int, metavar="N", help="random seed")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any training config key, e.g. --set model.grid_resolution=16 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run whose checkpoint is beside OUTPUT")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs and start over")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_common_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sdfrecon.base.configtools import parse_override
    from sdfrecon.pipeline.train_prior import train_prior

    overrides: list[dict] = []
    for key, value in (("device", args.device), ("seed", args.seed)):
        if value is not None:
            overrides.append({key: value})
    for section, key, value in (("data", "procedural", args.procedural), ("train", "steps", args.steps),
                                ("train", "batch_size", args.batch_size), ("train", "workers", args.workers)):
        if value is not None:
            overrides.append({section: {key: value}})
    overrides += [parse_override(t) for t in args.overrides]
    outcome = train_prior(args.suites, args.output, overrides=overrides, layout=args.layout, resume=args.resume,
                          overwrite=args.overwrite, progress=not args.quiet,
                          command=shlex.join(["sdfrecon", *args.argv]))
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun only rank 0 reports
    rec = outcome.record
    val = rec.get("validation") or {}
    summary = f"model: {outcome.files.model} ({rec['parameters']} parameters, {rec['train']['steps_done']} steps " \
              f"in {rec['seconds']['train']:.0f} s, final loss {rec['train']['final_loss']:.4f}"
    if val:
        summary += f", held-out IoU {val['iou']:.3f} on {val['shapes']} procedural shapes"
    print(summary + ")")
    print(f"record: {outcome.files.record}")
    return 0
