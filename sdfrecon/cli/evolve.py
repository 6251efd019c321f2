"""``sdfrecon evolve``: smooth, deform or morph trained shapes over time (neural surface evolution).

Three modes, each a sub-subcommand taking reconstruction checkpoints (``OUT.ckpt``
of ``sdfrecon reconstruct``)::

    sdfrecon evolve smooth scan_mesh.ckpt --times 0,0.0005,0.001 [--reverse]
    sdfrecon evolve deform scan_mesh.ckpt --field twist|bend|translate|FILE.py --times 0,0.5,1
    sdfrecon evolve morph a.ckpt b.ckpt --times 0,0.25,0.5,0.75,1

The library does the work (:func:`sdfrecon.pipeline.evolve.evolve_checkpoints`);
this module parses flags, renders the optional time-lapse GIF through the viewer
(:func:`time_lapse_pictures`) and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from sdfrecon.cli import add_common_options

VECTOR_FIELD_NAMES = ("twist", "bend", "translate")
"""Built-in velocity fields of ``deform --field`` (or a FILE.py defining v(x, t))."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evolve",
        help="smooth, deform or morph reconstructed shapes over time (neural surface evolution)",
        description="Train a space-time neural field f(x, t) whose zero level set starts at a trained SDF "
                    "(a reconstruction checkpoint) and moves by the level-set equation f_t + V |grad f| = 0 "
                    "(Novello et al., ICCV 2023): mean-curvature flow (smooth), a velocity field (deform), or "
                    "towards a second shape (morph). Writes OUT_t<time>.ply meshes at --times, OUT.ckpt "
                    "(the space-time field; --resume continues it or re-meshes at new times), OUT.json (run "
                    "record), OUT.config.yaml, and with --gif a time-lapse OUT.gif. Times are in the unit "
                    "frame of the first shape (its longest half side is 1): mean-curvature flow removes "
                    "features of radius r by about t = r^2/4; a morph runs from 0 to 1. Exit status: 0 done, "
                    "2 bad input or option (nothing written), 130 interrupted (checkpoint kept).",
    )
    modes = p.add_subparsers(dest="mode", metavar="MODE", required=True)
    smooth = modes.add_parser("smooth", help="mean-curvature flow: smooth a shape (--reverse: sharpen)",
                              description="Mean-curvature flow V = -scale * (sum of principal curvatures): a "
                                          "sphere of radius r0 has radius sqrt(r0^2 - 4 scale t).")
    smooth.add_argument("input", type=Path, help="reconstruction checkpoint (.ckpt)")
    smooth.add_argument("--reverse", action="store_true",
                        help="run the flow backwards (sharpening); ill-posed, keep the times short")
    smooth.add_argument("--scale", type=float, metavar="S", help="flow rate (flow.scale, default 1)")
    deform = modes.add_parser("deform", help="transport the shape along a velocity field v(x, t)",
                              description="Level-set transport f_t + v . grad f = 0. Built-in fields are in the "
                                          "unit frame: twist (about y), bend (along x, towards y), translate "
                                          "(+x); tune them with --set flow.field.KEY=VALUE. A FILE.py must "
                                          "define v(x, t) on torch tensors x (N, 3), t (N, 1) returning (N, 3).")
    deform.add_argument("input", type=Path, help="reconstruction checkpoint (.ckpt)")
    deform.add_argument("--field", required=True, metavar="twist|bend|translate|FILE.py",
                        help="velocity field: a built-in name or a Python file defining v(x, t)")
    morph = modes.add_parser("morph", help="interpolate from shape A (t = 0) to shape B (t = 1)",
                             description="Both shapes are fixed (at t = 0 and 1) and the level-set equation "
                                         "with V = -(g_B - f) exp(-f^2) shapes the path between them.")
    morph.add_argument("input", type=Path, help="checkpoint of shape A (time 0)")
    morph.add_argument("target", type=Path, help="checkpoint of shape B (time 1)")
    for mode in (smooth, deform, morph):
        _add_run_options(mode)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", type=Path,
                   help="names the outputs: OUT_t<time>.ply, OUT.ckpt, OUT.json, OUT.config.yaml, OUT.gif "
                        "(default: INPUT_STEM_MODE.ply here)")
    p.add_argument("--times", required=True, metavar="T0,T1,...",
                   help="times to mesh, comma-separated, >= 0 (the largest sets the trained range unless "
                        "the config's duration does; morph: within [0, 1])")
    group = p.add_argument_group("configuration")
    group.add_argument("--config", metavar="PRESET|FILE",
                       help="evolution preset (cpu, gpu) or a YAML file; default: cpu, or gpu on CUDA")
    group.add_argument("--device", default=None, metavar="auto|cpu|cuda", help="compute device")
    group.add_argument("--iterations", type=int, metavar="N", help="training steps (train.iterations)")
    group.add_argument("--resolution", type=int, metavar="N", help="marching-cubes resolution (mesh.resolution)")
    group.add_argument("--seed", type=int, metavar="N", help="random seed (seed)")
    group.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override any evolution config key, e.g. --set flow.weight=100 (repeatable)")
    pictures = p.add_argument_group("time-lapse GIF")
    pictures.add_argument("--gif", action="store_true", help="write OUT.gif, one frame per time")
    pictures.add_argument("--gif-frames", type=int, metavar="N",
                          help="render N evenly spaced times between the first and last of --times instead "
                               "(meshed at --gif-resolution, not written as files)")
    pictures.add_argument("--gif-resolution", type=int, default=96, metavar="N",
                          help="mesh resolution of --gif-frames frames (default 96)")
    pictures.add_argument("--gif-size", type=int, nargs=2, default=(400, 400), metavar=("W", "H"),
                          help="frame size in pixels (default 400 400)")
    pictures.add_argument("--seconds-per-frame", type=float, default=0.2, metavar="S",
                          help="GIF frame time (default 0.2)")
    pictures.add_argument("--view", default="iso", help="camera preset (default iso)")
    pictures.add_argument("--up", choices=("x", "y", "z"), default="y", help="up axis of the camera (default y)")
    pictures.add_argument("--backend", choices=("auto", "offscreen", "legacy"), default="auto",
                          help="renderer (see sdfrecon render)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run whose checkpoint is OUT.ckpt (or re-mesh it at new --times)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_common_options(p)
    p.set_defaults(run=run)


def mode_overrides(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Config overrides the mode's own flags ask for (before the shared flags and ``--set``)."""
    from sdfrecon.base.errors import InputError

    if args.mode == "smooth":
        flow: dict[str, Any] = {}
        if args.reverse:
            flow["reverse"] = True
        if args.scale is not None:
            flow["scale"] = args.scale
        return [{"flow": flow}] if flow else []
    if args.mode == "deform":
        name = args.field
        if name in VECTOR_FIELD_NAMES:
            return [{"flow": {"field": {"name": name}}}]
        path = Path(name)
        if path.suffix != ".py":
            raise InputError(f"--field {name!r}: give one of {', '.join(VECTOR_FIELD_NAMES)} or a .py file "
                             "defining v(x, t)")
        return [{"flow": {"field": {"name": "file", "path": str(path.resolve())}}}]
    return []


def run(args: argparse.Namespace) -> int:
    from sdfrecon.base.errors import InputError
    from sdfrecon.cli.options import overrides_from_args
    from sdfrecon.pipeline.evolve import evolve_checkpoints, parse_times

    times = parse_times(args.times)
    if args.gif_frames is not None and args.gif_frames < 2:
        raise InputError(f"--gif-frames must be >= 2, got {args.gif_frames}")
    gif = args.gif or args.gif_frames is not None
    width, height = args.gif_size
    if gif and not (32 <= width <= 4096 and 32 <= height <= 4096):
        raise InputError(f"--gif-size must be 32 to 4096 pixels a side, got {width}x{height}")
    if not args.seconds_per_frame > 0:
        raise InputError(f"--seconds-per-frame must be > 0, got {args.seconds_per_frame:g}")
    inputs = [args.input] + ([args.target] if args.mode == "morph" else [])
    output = args.output or Path(f"{args.input.stem}_{args.mode}.ply")
    resuming = args.resume and not args.overwrite
    # A resumed run keeps its checkpoint's flow; the mode's flags only matter for a new run.
    overrides = ([] if resuming else mode_overrides(args)) + overrides_from_args(args)

    def write_gif(files, meshes, evolution) -> dict[str, Any]:
        return _write_gif(args, files, meshes, evolution, times)

    outcome = evolve_checkpoints(args.mode, inputs, output, times=times, preset=args.config, overrides=overrides,
                                 resume=args.resume, overwrite=args.overwrite, progress=not args.quiet, gif=gif,
                                 after_meshes=write_gif if gif else None)
    for item in outcome.record["meshes"]:
        if item["path"] is None:
            print(f"t = {item['time']:g}: no surface ({item.get('warning', '')})")
        else:
            print(f"t = {item['time']:g}: {item['path']} ({item['vertices']} vertices, {item['components']} "
                  f"piece(s), {'watertight' if item['watertight'] else 'NOT watertight'})")
    if "gif" in outcome.record:
        print(f"gif: {outcome.record['gif']['path']} ({outcome.record['gif']['frames']} frames)")
    print(f"checkpoint: {outcome.files.checkpoint}; record: {outcome.files.record} "
          f"({outcome.record['seconds']['total']:.1f} s)")
    return 0


def _write_gif(args: argparse.Namespace, files, meshes, evolution, times: Sequence[float]) -> dict[str, Any]:
    import numpy as np

    from sdfrecon.meshing.extract import MeshConfig
    from sdfrecon.pipeline.evolve import mesh_times
    from sdfrecon.viewer.annotate import save_gif

    if args.gif_frames is not None:
        frame_times = np.linspace(min(times), max(times), args.gif_frames).tolist()
        cfg = MeshConfig(resolution=args.gif_resolution)
        meshes = mesh_times(evolution, frame_times, cfg, device=next(evolution.field.parameters()).device)
    width, height = args.gif_size
    pictures = time_lapse_pictures([(m.time, m.mesh) for m in meshes], width=width, height=height,
                                   view=args.view, up=args.up, backend=args.backend)
    save_gif(pictures, files.gif, seconds_per_frame=args.seconds_per_frame)
    return {"gif": {"path": str(files.gif), "frames": len(pictures)}}


def time_lapse_pictures(meshes: Sequence[tuple[float, Any]], *, width: int = 400, height: int = 400,
                        view: str = "iso", up: str = "y", supersample: int = 1,
                        backend: str = "auto") -> list:
    """One labelled picture per ``(time, mesh)``, all from one camera framing every mesh.

    Returns
    -------
    list of (height, width, 3) uint8 ndarray
        An empty mesh gives a blank frame saying so.
    """
    import numpy as np

    from sdfrecon.viewer.annotate import label
    from sdfrecon.viewer.camera import preset_camera
    from sdfrecon.viewer.pictures import render_pictures
    from sdfrecon.viewer.scene import SceneOptions, bounding_sphere, build_scene

    center, radius = bounding_sphere([np.asarray(m.vertices) for _, m in meshes if len(m.faces)])
    camera = preset_camera(view, center, radius, up=up, aspect=width / height)
    pictures = []
    for t, mesh in meshes:
        if len(mesh.faces) == 0:
            pictures.append(label(np.full((height, width, 3), 255, dtype=np.uint8), f"t = {t:g}: no surface"))
            continue
        scene = build_scene(mesh, options=SceneOptions(up=up))
        image = render_pictures(scene, [camera], width, height, supersample=supersample, backend=backend)[0]
        pictures.append(label(image, f"t = {t:g}"))
    return pictures
