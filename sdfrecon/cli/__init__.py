"""``sdfrecon`` command line: one entry point, one module per subcommand.

Each subcommand is a module here exposing ``add_parser(subparsers)`` (which sets
``run`` as the parser default) and calls library functions; adding a module adds
the subcommand. Errors the library raises on purpose
(:class:`~sdfrecon.base.errors.ReconError`) print as one line ``error: <msg>`` and exit
with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from typing import Sequence

from sdfrecon import __version__
from sdfrecon.base.errors import ReconError

HELP_ORDER = ("reconstruct", "evaluate", "benchmark", "report", "view", "render", "slice", "config")
"""Subcommands listed first in ``--help``, in this order; others follow alphabetically."""


def subcommand_modules() -> list[str]:
    """Names of the modules under :mod:`sdfrecon.cli` that define a subcommand (``add_parser``)."""
    import pkgutil

    here = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.name != "options"]
    return sorted(here, key=lambda n: (HELP_ORDER.index(n) if n in HELP_ORDER else len(HELP_ORDER), n))

EXIT_INTERRUPTED = 130


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdfrecon",
        description="Neural implicit surface reconstruction: point clouds or slices -> SDF -> mesh.",
    )
    parser.add_argument("--version", action="version", version=f"sdfrecon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in subcommand_modules():
        importlib.import_module(f"sdfrecon.cli.{name}").add_parser(sub)
    return parser


def _raise_interrupt(signum, frame):  # SIGTERM -> same path as Ctrl-C
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, for run records
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        handlers=[handler], force=True)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return int(args.run(args) or 0)
    except ReconError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options every subcommand shares."""
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
