"""``sdfrecon slice``: cut a mesh with planes and write the cross-sections as ``.csl``."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdfrecon.cli import add_common_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "slice",
        help="cut a mesh with planes into a .csl cross-section file",
        description="Cut a closed mesh with N parallel planes (evenly spaced across the shape along an "
                    "axis or a given normal) or N random planes (random normals, each through a random "
                    "surface point) and write the contours as .csl (outer contours CCW, holes CW). "
                    "Reconstruct from it with 'sdfrecon reconstruct OUT.csl'.",
    )
    p.add_argument("mesh", type=Path, help="closed triangle mesh (.obj .off .stl .ply ...)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .csl file")
    p.add_argument("--planes", type=int, default=10, metavar="N", help="number of planes (default 10)")
    direction = p.add_mutually_exclusive_group()
    direction.add_argument("--axis", choices=("x", "y", "z"), help="parallel planes across this axis (default z)")
    direction.add_argument("--normal", type=float, nargs=3, metavar=("NX", "NY", "NZ"),
                           help="parallel planes with this normal")
    direction.add_argument("--random", action="store_true", help="random plane orientations and positions")
    p.add_argument("--seed", type=int, default=0, help="seed of --random (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_common_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from sdfrecon.datasets.csl import write_csl
    from sdfrecon.datasets.slicing import AXES, load_mesh, parallel_planes, random_planes, slice_mesh
    from sdfrecon.base.errors import ConfigError, OutputExistsError

    if args.output.suffix.lower() != ".csl":
        raise ConfigError(f"-o {args.output}: the output must be a .csl file")
    if args.planes < 2:
        raise ConfigError(f"--planes: at least 2 planes are needed, got {args.planes}")
    if args.normal is not None and not (np.isfinite(args.normal).all() and np.linalg.norm(args.normal) > 0):
        raise ConfigError(f"--normal: must be a finite non-zero vector, got {args.normal}")
    if args.output.exists() and not args.overwrite:
        raise OutputExistsError(f"{args.output} already exists; pass --overwrite to replace it")
    mesh = load_mesh(args.mesh)
    if args.random:
        planes = random_planes(mesh, args.planes, seed=args.seed)
    else:
        planes = parallel_planes(mesh, args.planes, args.normal if args.normal is not None else AXES[args.axis or "z"])
    slices = slice_mesh(mesh, planes, source=str(args.mesh))
    write_csl(slices, args.output)
    summary = slices.summary()
    print(f"slices: {args.output} ({summary['planes']} planes, {summary['contours']} contours, "
          f"{summary['vertices']} vertices)")
    return 0
