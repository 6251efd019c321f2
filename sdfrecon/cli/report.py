"""``sdfrecon report``: a benchmark folder as one self-contained HTML file."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdfrecon.cli import add_common_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write one self-contained HTML report of a 'sdfrecon benchmark' folder (tables, pictures, "
             "metric plots, interactive 3D views)",
        description="Write one HTML file for a benchmark results folder: the results table and per-method "
                    "means, a bar chart per metric, a rendered picture of every mesh and an interactive 3D "
                    "view of each (decimated). Everything is inside the file: it opens from disk with no "
                    "server and no network, so it can be mailed or kept as a CI artifact.",
    )
    p.add_argument("results", type=Path, metavar="RESULTS_DIR", help="output folder of 'sdfrecon benchmark'")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.html", help="report to write")
    p.add_argument("--title", help="page title (default: from the folder name)")
    p.add_argument("--max-faces", type=int, default=20000, metavar="N",
                   help="decimate each interactive mesh to at most N triangles (default 20000)")
    p.add_argument("--no-pictures", dest="pictures", action="store_false",
                   help="leave out the rendered pictures (the interactive views stay)")
    p.add_argument("--backend", choices=("auto", "legacy", "offscreen"), default="auto",
                   help="renderer of the pictures (see 'sdfrecon render --help')")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    add_common_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sdfrecon.base.errors import InputError, OutputExistsError
    from sdfrecon.viewer.html_report import write_report

    if args.output.suffix.lower() not in (".html", ".htm"):
        raise InputError("must end in .html", args.output)
    if args.output.exists() and not args.overwrite:
        raise OutputExistsError(f"{args.output}: already exists; pass --overwrite to replace it")
    if args.max_faces < 100:
        raise InputError(f"--max-faces must be at least 100, got {args.max_faces}")
    path = write_report(args.results, args.output, title=args.title, pictures=args.pictures,
                        max_faces=args.max_faces, backend=args.backend)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")
    return 0
