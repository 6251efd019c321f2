"""``sdfrecon render``: the pictures of ``sdfrecon view``, written to PNG/GIF without a screen.

Three kinds of input:

* ``MESH`` (with the options of ``view``): one picture from a camera preset,
  or ``--turntable N`` frames (numbered PNGs, or one GIF with ``--gif``);
* ``--snapshots RUN.snapshots``: the meshes saved during training
  (``reconstruct --snapshot-every K``), as a labelled grid or a GIF;
* ``--benchmark OUT``: a ``sdfrecon benchmark`` folder as a contact sheet,
  one picture per shape (rows) and method (columns).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from sdfrecon.cli import add_common_options
from sdfrecon.cli.view import add_scene_options, check_scene_options, load_scene_inputs, scene_options

DEFAULT_SIZE = (800, 600)
"""Picture size of a single view."""
DEFAULT_CELL = (320, 320)
"""Cell size of snapshot grids and contact sheets."""
GRID_COLUMNS = 4
"""Snapshots per row of a snapshot grid."""
DEFAULT_FRAME_TIMEOUT = 60.0
"""Seconds per frame (kept in step with viewer.render.DEFAULT_FRAME_TIMEOUT, not imported to keep --help light)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="render a reconstruction (heat-map, SDF slice, turntable), training snapshots or a "
             "benchmark contact sheet to PNG/GIF without a screen",
        description="Render the scene of 'sdfrecon view' without a screen (in a child process, each frame "
                    "with a time limit; by default with the backend measured fastest on this machine: Open3D's "
                    "legacy visualizer on a private Xvfb, or Open3D's offscreen renderer) from a camera "
                    "preset or as a turntable. With --snapshots, render the meshes saved during training "
                    "side by side; with --benchmark, a contact sheet of a benchmark folder. Outputs are "
                    "never replaced without --overwrite.",
    )
    add_scene_options(p, interactive=False)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--snapshots", type=Path, metavar="DIR",
                     help="render the step_NNNNNN meshes of 'reconstruct --snapshot-every' (OUT.snapshots/)")
    src.add_argument("--benchmark", type=Path, metavar="DIR",
                     help="render a contact sheet of a 'sdfrecon benchmark' output folder")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                   help="PNG to write (GIF with --gif); with --turntable and no --gif: FILE_000.png, ...")
    p.add_argument("--turntable", type=int, default=0, metavar="N", help="N frames around the up axis")
    p.add_argument("--gif", action="store_true", help="write the turntable or snapshots as one animated GIF")
    p.add_argument("--seconds-per-frame", type=float, default=0.12, metavar="S", help="GIF frame time (default 0.12)")
    p.add_argument("--width", type=int, metavar="PX",
                   help=f"picture width (default {DEFAULT_SIZE[0]}; cells of --snapshots/--benchmark: {DEFAULT_CELL[0]})")
    p.add_argument("--height", type=int, metavar="PX",
                   help=f"picture height (default {DEFAULT_SIZE[1]}; cells: {DEFAULT_CELL[1]})")
    p.add_argument("--unlit", action="store_true", help="flat colours (exact heat-map colours, no shading)")
    p.add_argument("--no-points", dest="draw_points", action="store_false",
                   help="load --points but do not draw them (e.g. with a heat-map)")
    p.add_argument("--cut", choices=("near", "far", "none"), default="near",
                   help="with --slice: cut away the mesh on the side of the plane facing the camera (near, "
                        "the default: the slice shows whole), on the other side (far: the mesh stands on the "
                        "slice), or keep the whole mesh (none)")
    p.add_argument("--supersample", type=int, default=2, metavar="K", help="anti-aliasing factor (default 2)")
    p.add_argument("--backend", choices=("auto", "legacy", "offscreen"), default="auto",
                   help="renderer: legacy (Open3D's visualizer on $DISPLAY or a private Xvfb), offscreen "
                        "(Open3D's Filament renderer: fast on a GPU, very slow on a CPU), or auto (default: "
                        "the one measured fastest here, probed once and remembered; falls back to the other)")
    p.add_argument("--frame-timeout", type=float, default=DEFAULT_FRAME_TIMEOUT, metavar="S",
                   help=f"stop with an error when one frame takes longer than S seconds "
                        f"(default {DEFAULT_FRAME_TIMEOUT:g})")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_common_options(p)
    p.set_defaults(run=run)


def output_paths(output: Path, *, frames: int, gif: bool) -> list[Path]:
    """Files a render writes: one PNG, one GIF, or ``frames`` numbered PNGs.

    Raises
    ------
    InputError
        Wrong extension for the kind of output.
    """
    from sdfrecon.base.errors import InputError

    want = ".gif" if gif else ".png"
    if output.suffix.lower() != want:
        raise InputError(f"must end in {want}" + (" (--gif writes an animated GIF)" if gif else
                                                  " (pass --gif for an animated GIF)"), output)
    if frames and not gif:
        return [output.with_name(f"{output.stem}_{k:03d}{output.suffix}") for k in range(frames)]
    return [output]


def check_outputs(paths: list[Path], overwrite: bool) -> None:
    """Refuse to replace existing files without ``--overwrite``."""
    from sdfrecon.base.errors import OutputExistsError

    if overwrite:
        return
    existing = [p for p in paths if p.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise OutputExistsError(f"{existing[0]}: already exists{more}; pass --overwrite to replace it")


def run(args: argparse.Namespace) -> int:
    from sdfrecon.base.errors import InputError

    sources = sum(x is not None for x in (args.mesh, args.snapshots, args.benchmark))
    if sources != 1:
        raise InputError("give exactly one of MESH, --snapshots DIR or --benchmark DIR")
    if args.turntable < 0:
        raise InputError(f"--turntable must be >= 0, got {args.turntable}")
    if args.turntable and args.mesh is None:
        raise InputError("--turntable applies to MESH, not to --snapshots or --benchmark")
    if args.gif and args.benchmark is not None:
        raise InputError("--gif does not apply to --benchmark (a contact sheet is one picture)")
    if args.gif and args.mesh is not None and not args.turntable:
        raise InputError("--gif needs --turntable N (the frames of the animation)")
    if not 1 <= args.supersample <= 4:
        raise InputError(f"--supersample must be 1 to 4, got {args.supersample}")
    if not args.frame_timeout > 0:
        raise InputError(f"--frame-timeout must be > 0, got {args.frame_timeout:g}")
    if not args.seconds_per_frame > 0:
        raise InputError(f"--seconds-per-frame must be > 0, got {args.seconds_per_frame:g}")
    default = DEFAULT_SIZE if args.mesh is not None else DEFAULT_CELL
    width = args.width if args.width is not None else default[0]
    height = args.height if args.height is not None else default[1]
    if width < 32 or height < 32 or width > 8192 or height > 8192:
        raise InputError(f"picture size must be 32 to 8192 pixels a side, got {width}x{height}")
    if args.mesh is not None:
        check_scene_options(args)
    elif any(getattr(args, k) is not None for k in ("points", "gt", "errors", "checkpoint", "slice")) or args.heatmap:
        raise InputError("--points, --gt, --errors, --heatmap, --checkpoint and --slice apply to MESH only")
    outputs = output_paths(args.output, frames=args.turntable, gif=args.gif)
    check_outputs(outputs, args.overwrite)
    from sdfrecon.viewer.render import prestart

    prestart(args.backend)  # the renderer starts while the inputs load

    if args.benchmark is not None:
        return _contact_sheet(args, width, height)
    if args.snapshots is not None:
        return _snapshots(args, width, height)
    return _mesh(args, width, height, outputs)


def _mesh(args: argparse.Namespace, width: int, height: int, outputs: list[Path]) -> int:
    from sdfrecon.viewer.annotate import label, save_gif, save_png
    from sdfrecon.viewer.pictures import view_pictures

    inputs = load_scene_inputs(args, field="required" if args.plane is not None else "off")
    gt_drawn = args.gt_layout != "none"
    pictures = view_pictures(inputs, scene_options(args, shading="unlit" if args.unlit else "lit"),
                             width=width, height=height, view=args.view, turntable=args.turntable,
                             plane=args.plane, cut=args.cut, points=args.draw_points, gt=gt_drawn,
                             supersample=args.supersample, backend=args.backend, frame_timeout=args.frame_timeout)
    if args.gt is not None and gt_drawn and args.gt_layout == "side":
        pictures = [label(p, f"{inputs.name} (left), ground truth (right)") for p in pictures]
    if args.gif:
        save_gif(pictures, outputs[0], seconds_per_frame=args.seconds_per_frame)
    else:
        for picture, path in zip(pictures, outputs):
            save_png(picture, path)
    _print_scales(inputs, args)
    print(f"wrote {outputs[0]}" + (f" ... {outputs[-1].name} ({len(outputs)} frames)" if len(outputs) > 1 else "")
          + (f" ({len(pictures)} frames)" if args.gif else ""))
    return 0


def _print_scales(inputs, args: argparse.Namespace) -> None:
    """The colour scales of the picture, as text (the picture has them as bars too)."""
    from sdfrecon.viewer.scene import ColorBar

    if inputs.errors is not None:
        from sdfrecon.viewer.colormap import error_range

        lo, hi = error_range(inputs.errors, args.error_max)
        print(ColorBar("error (distance to GT)", "error", lo, hi).describe()
              + f"; max error {inputs.errors.max():.4g}, mean {inputs.errors.mean():.4g}")
    if args.plane is not None:
        from sdfrecon.viewer.colormap import symmetric_range

        values = inputs.sdf_slice(args.plane, 256).values
        lo, hi = (-args.sdf_max, args.sdf_max) if args.sdf_max is not None else symmetric_range(values)
        print(ColorBar(f"{inputs.field_title} on the slice", "sdf", lo, hi).describe())


def _snapshots(args: argparse.Namespace, width: int, height: int) -> int:
    from sdfrecon.viewer.annotate import grid, save_gif, save_png
    from sdfrecon.viewer.pictures import snapshot_pictures

    pictures = snapshot_pictures(args.snapshots, width=width, height=height, view=args.view, up=args.up,
                                 supersample=args.supersample, backend=args.backend,
                                 frame_timeout=args.frame_timeout)
    if args.gif:
        save_gif(pictures, args.output, seconds_per_frame=args.seconds_per_frame)
    else:
        columns = min(GRID_COLUMNS, len(pictures))
        rows = [pictures[i:i + columns] for i in range(0, len(pictures), columns)]
        save_png(grid(rows, cell_size=(width, height), missing_text=""), args.output)
    print(f"wrote {args.output} ({len(pictures)} snapshots"
          + (f", {math.ceil(len(pictures) / GRID_COLUMNS)} row(s))" if not args.gif else ")"))
    return 0


def _contact_sheet(args: argparse.Namespace, width: int, height: int) -> int:
    from sdfrecon.viewer.pictures import benchmark_meshes, contact_sheet

    meshes = benchmark_meshes(args.benchmark)
    contact_sheet(meshes, args.output, cell_size=(width, height), view=args.view, up=args.up,
                  supersample=args.supersample, backend=args.backend, frame_timeout=args.frame_timeout)
    shapes = len({s for s, _ in meshes})
    methods = len({m for _, m in meshes})
    print(f"wrote {args.output} ({shapes} shape(s) x {methods} method(s))")
    return 0
