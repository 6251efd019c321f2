"""``sdfrecon config``: print a resolved preset as YAML to copy and edit."""

from __future__ import annotations

import argparse

from sdfrecon.cli import add_common_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="print a preset, fully resolved, as YAML",
        description="Print the full resolved config of a preset (or YAML file) with overrides applied. "
                    "Redirect it to a file, edit it, and pass it to --config.",
    )
    p.add_argument("preset", nargs="?", default="default", help="preset name or YAML file (default: default)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key, e.g. --set train.lr=5e-4 (repeatable)")
    p.add_argument("--list", action="store_true", help="list the bundled presets and exit")
    add_common_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sdfrecon.pipeline.config import available_presets, dump_config, resolve_config
    from sdfrecon.base.configtools import parse_override

    if args.list:
        print("\n".join(available_presets()))
        return 0
    cfg = resolve_config(args.preset, [parse_override(t) for t in args.overrides])
    print(dump_config(cfg), end="")
    return 0
