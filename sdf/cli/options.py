"""Command-line options shared by subcommands that train (config, device, seed...)."""

from __future__ import annotations

import argparse
from typing import Any

from sdf.configtools import parse_override


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--device``, ``--iterations``, ``--resolution``, ``--seed``, ``--set``."""
    group = parser.add_argument_group("configuration")
    group.add_argument("--config", metavar="PRESET|FILE",
                       help="preset name from configs/ (e.g. default, steik) or a YAML file; "
                            "default: 'default' on CPU, 'steik' on CUDA")
    group.add_argument("--device", default=None, metavar="auto|cpu|cuda",
                       help="compute device (default: the config's, normally auto)")
    group.add_argument("--iterations", type=int, metavar="N", help="training steps (train.iterations)")
    group.add_argument("--resolution", type=int, metavar="N",
                       help="marching-cubes cells along the longest side (mesh.resolution)")
    group.add_argument("--seed", type=int, metavar="N", help="random seed (seed)")
    group.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override any config key, e.g. --set train.lr=5e-4 (repeatable)")


def overrides_from_args(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The config overrides the shortcut flags and ``--set`` ask for, in order."""
    out: list[dict[str, Any]] = []
    if args.device is not None:
        out.append({"device": args.device})
    if args.iterations is not None:
        out.append({"train": {"iterations": args.iterations}})
    if args.resolution is not None:
        out.append({"mesh": {"resolution": args.resolution}})
    if args.seed is not None:
        out.append({"seed": args.seed})
    out.extend(parse_override(text) for text in args.overrides)
    return out


def default_preset(device_name: str | None, input_kind: str = "points") -> str:
    """Preset used when ``--config`` is not given.

    Slices get the ``slices`` preset. Point clouds get ``steik`` (the paper's
    setting) when training will run on CUDA, else the CPU-sized ``default``.
    """
    import torch

    from sdf.config import available_presets

    presets = available_presets()
    if input_kind == "slices" and "slices" in presets:
        return "slices"
    wants_cuda = device_name not in (None, "auto") and device_name.startswith("cuda")
    on_cuda = wants_cuda or (device_name in (None, "auto") and torch.cuda.is_available())
    if on_cuda and "steik" in presets:
        return "steik"
    return "default"
