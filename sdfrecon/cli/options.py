"""Command-line options shared by subcommands that train (config, device, seed...).

Flags turn into config overrides in one place,
:func:`sdfrecon.pipeline.config.config_overrides`; defaults shown in ``--help``
come from the config dataclasses (:func:`default_of`), never from a second copy.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any


def default_of(config_cls: type, name: str) -> Any:
    """The default of field ``name`` of dataclass ``config_cls`` (one source of truth)."""
    for f in dataclasses.fields(config_cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                return f.default_factory()  # type: ignore[misc]
    raise KeyError(f"{config_cls.__name__} has no field {name!r} with a default")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--device``, ``--iterations``, ``--resolution``, ``--seed``, ``--set``, ``--weights``."""
    group = parser.add_argument_group("configuration")
    group.add_argument("--config", metavar="PRESET|FILE",
                       help="preset name from configs/ (e.g. default, steik) or a YAML file; "
                            "default: 'default' on CPU, 'steik' on CUDA")
    group.add_argument("--device", default=None, metavar="auto|cpu|cuda",
                       help="compute device (default: the config's, normally auto)")
    group.add_argument("--iterations", type=int, metavar="N", help="training steps, exactly, at any point density (train.iterations)")
    group.add_argument("--resolution", type=int, metavar="N",
                       help="marching-cubes cells along the longest side (mesh.resolution)")
    group.add_argument("--seed", type=int, metavar="N", help="random seed (seed)")
    group.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override any config key, e.g. --set train.lr=5e-4 (repeatable)")
    group.add_argument("--weights", metavar="FILE",
                       help="learned prior model file for presets that use one (gridformer, gridformer_refine; "
                            "'sdfrecon train-prior' writes it); default: the bundled model (prior.weights)")


def overrides_from_args(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The config overrides the shortcut flags and ``--set`` ask for, in order."""
    from sdfrecon.pipeline.config import config_overrides

    out = config_overrides(device=args.device, iterations=args.iterations, resolution=args.resolution,
                           seed=args.seed, sets=args.overrides)
    if getattr(args, "weights", None) is not None:
        out.append({"prior": {"weights": str(args.weights)}})
    return out


def add_metric_options(parser) -> None:
    """``--samples``, ``--iou-samples``, ``--fscore-threshold``/``--fscore-relative`` (and
    ``--seed`` unless the parser has one), defaults from :class:`MetricOptions`."""
    from sdfrecon.evaluation.metrics import MetricOptions

    parser.add_argument("--samples", type=int, default=default_of(MetricOptions, "samples"), metavar="N",
                        help="points sampled on each mesh surface (default %(default)s; SRB protocol: 1000000)")
    parser.add_argument("--iou-samples", type=int, default=default_of(MetricOptions, "iou_samples"), metavar="N",
                        help="uniform points for volumetric IoU (default %(default)s; 0 skips IoU)")
    thr = parser.add_mutually_exclusive_group()
    thr.add_argument("--fscore-threshold", type=float, metavar="T", help="F-score threshold in world units")
    thr.add_argument("--fscore-relative", type=float, default=default_of(MetricOptions, "fscore_relative"),
                     metavar="R", help="F-score threshold as a fraction of the GT bounding-box diagonal "
                                       "(default %(default)s)")


def metric_options_from(args: argparse.Namespace):
    """:class:`MetricOptions` from the flags of :func:`add_metric_options` (and ``--seed``)."""
    from sdfrecon.evaluation.metrics import MetricOptions

    return MetricOptions(samples=args.samples, seed=args.seed, fscore_threshold=args.fscore_threshold,
                         fscore_relative=args.fscore_relative, iou_samples=args.iou_samples)
