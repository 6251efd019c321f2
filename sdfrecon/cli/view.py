"""``sdfrecon view``: look at a reconstruction in an Open3D window.

The options describing *what* is shown (mesh, points, ground truth, heat-map,
SDF slice, camera) are shared with ``sdfrecon render``: see
:func:`add_scene_options` and :func:`load_scene_inputs`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sdfrecon.cli import add_common_options

VIEWS = ("front", "back", "side", "left", "top", "bottom", "iso")
"""Camera presets (kept in step with viewer.camera.VIEWS, which is not imported here to keep --help light)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view",
        help="look at a reconstruction in a window (points, ground truth, error heat-map, SDF slice)",
        description="Open an Open3D window showing MESH (lit, with normals) and, when given, the input "
                    "points, the ground truth beside it or overlaid, an error heat-map (per-vertex distance "
                    "to the ground truth) and a slice of the trained signed distance field (a plane "
                    "coloured by SDF value with its zero contour). The keyboard help and the colour scales "
                    "are printed on start. Needs a display; on a machine without one, --web serves the same "
                    "scene to a browser, and 'sdfrecon render' makes the same pictures as files.",
    )
    add_scene_options(p, interactive=True)
    p.add_argument("--width", type=int, default=1280, metavar="PX", help="window width (default 1280)")
    p.add_argument("--height", type=int, default=800, metavar="PX", help="window height (default 800)")
    w = p.add_argument_group("web viewer (for a machine without a screen)")
    w.add_argument("--web", action="store_true",
                   help="serve the scene to a browser instead of opening a window; prints the URL and the "
                        "'ssh -L' line that reaches it from a laptop")
    w.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                   help="address to listen on with --web (default 127.0.0.1: this machine only; 0.0.0.0 "
                        "opens it to the network)")
    w.add_argument("--port", type=int, default=8080, metavar="N", help="port with --web (default 8080)")
    w.add_argument("--snapshots", type=Path, metavar="DIR",
                   help="with --web: training snapshots ('reconstruct --snapshot-every', OUT.snapshots/) "
                        "as a timeline slider")
    p.add_argument("--check", action="store_true",
                   help="load everything and build the scene, print the help and colour scales, "
                        "but open no window (for scripts and machines without a display)")
    add_common_options(p)
    p.set_defaults(run=run)


def add_scene_options(p: argparse.ArgumentParser, *, interactive: bool) -> None:
    """Options of ``view`` and ``render`` that say what is shown and from where."""
    p.add_argument("mesh", type=Path, nargs=None if interactive else "?",
                   help="reconstructed mesh (.ply .obj .off .stl)")
    p.add_argument("--points", type=Path, metavar="SCAN", help="input points to draw over the mesh")
    p.add_argument("--gt", type=Path, metavar="GT_MESH", help="ground-truth mesh in the same frame")
    p.add_argument("--gt-layout", choices=("side", "overlay", "none"), default="side",
                   help="ground truth beside the result, overlaid on it, or not drawn "
                        "(only used for the heat-map); default side")
    p.add_argument("--errors", type=Path, metavar="FILE.npy",
                   help="per-vertex errors to colour the mesh with ('sdfrecon evaluate --errors-out')")
    p.add_argument("--heatmap", action="store_true",
                   help="colour the mesh by the distance of each vertex to --gt")
    p.add_argument("--error-max", type=float, metavar="D",
                   help="error at the top of the colour bar, world units (default: 99th percentile)")
    p.add_argument("--checkpoint", type=Path, metavar="FILE.ckpt",
                   help="trained field for the SDF slice (default: the mesh's .ckpt sidecar)")
    p.add_argument("--slice", metavar="AXIS[=POS]",
                   help="draw the SDF on a plane perpendicular to AXIS (x, y, z) at POS in [-1, 1] of the "
                        "mesh's bounding box (0 = centre, the default), e.g. z or y=-0.3")
    p.add_argument("--sdf-max", type=float, metavar="D",
                   help="SDF colour range is [-D, D] (default: 99th percentile of |SDF| on the slice)")
    p.add_argument("--view", choices=VIEWS, default="iso", help="camera preset (default iso)")
    p.add_argument("--up", choices=("x", "y", "z"), default="y", help="up axis of the camera presets (default y)")
    p.add_argument("--device", default="cpu", metavar="auto|cpu|cuda",
                   help="where the field is evaluated for the slice (default cpu)")


def check_scene_options(args: argparse.Namespace) -> None:
    """Option combinations that cannot work, as one-line errors (before anything is read)."""
    from sdfrecon.base.errors import InputError
    from sdfrecon.viewer.inputs import parse_slice_spec

    args.plane = parse_slice_spec(args.slice) if args.slice is not None else None
    if args.errors is not None and args.heatmap:
        raise InputError("pass either --errors FILE.npy or --heatmap (computed from --gt), not both")
    if args.heatmap and args.gt is None:
        raise InputError("--heatmap needs --gt GT_MESH (the errors are distances to it)")
    if args.error_max is not None and not args.error_max > 0:
        raise InputError(f"--error-max must be > 0, got {args.error_max:g}")
    if args.sdf_max is not None and not args.sdf_max > 0:
        raise InputError(f"--sdf-max must be > 0, got {args.sdf_max:g}")
    if args.gt_layout == "none" and args.gt is not None and not args.heatmap:
        raise InputError("--gt-layout none hides the ground truth; it only makes sense with --heatmap")


def load_scene_inputs(args: argparse.Namespace, *, field: str):
    """Read the files the options name (see :func:`sdfrecon.viewer.inputs.load_view_inputs`)."""
    from sdfrecon.viewer.inputs import load_view_inputs

    return load_view_inputs(args.mesh, points=args.points, gt=args.gt, errors=args.errors, heatmap=args.heatmap,
                            checkpoint=args.checkpoint, field=field, device=args.device)


def scene_options(args: argparse.Namespace, *, shading: str = "lit"):
    """SceneOptions from the options (``--gt-layout none`` is handled by the caller)."""
    from sdfrecon.viewer.scene import SceneOptions

    return SceneOptions(gt_layout="side" if args.gt_layout == "none" else args.gt_layout,
                        error_max=args.error_max, shading=shading, up=args.up, sdf_limit=args.sdf_max)


def run(args: argparse.Namespace) -> int:
    import os

    from sdfrecon.base.errors import InputError

    if args.width < 64 or args.height < 64:
        raise InputError(f"window size must be at least 64x64, got {args.width}x{args.height}")
    check_scene_options(args)
    if args.snapshots is not None and not args.web:
        raise InputError("--snapshots is shown by the web viewer: add --web")
    if args.web and not 0 < args.port < 65536:
        raise InputError(f"--port must be 1 to 65535, got {args.port}")
    if args.web and not args.check:
        return _serve_web(args)
    if args.check:
        state, inputs = _viewer_state(args)
        scene = state.scene()
        print(state.help_text())
        for line in state.colorbar_lines(scene):
            print(line)
        print(state.describe())
        print(f"scene: {', '.join(scene.names())}; bounding sphere radius {scene.radius:.4g}")
        return 0
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        from sdfrecon.viewer.render import RenderError

        raise RenderError("cannot open a window: no display ($DISPLAY is not set); use 'sdfrecon view --web' "
                          "to look from a browser, or 'sdfrecon render ... -o picture.png'")
    return run_window_process(args)


def _serve_web(args: argparse.Namespace) -> int:
    from sdfrecon.base.errors import ConfigError

    try:
        from sdfrecon.viewer.web import serve
    except ImportError as exc:
        raise ConfigError(f"--web needs viser ({exc}): pip install 'sdfrecon[web]' (or: pip install viser)") from None
    snapshots = []
    if args.snapshots is not None:
        from sdfrecon.viewer.loading import load_mesh
        from sdfrecon.viewer.pictures import snapshot_files

        snapshots = [(step, load_mesh(path)) for step, path in snapshot_files(args.snapshots)]
    state, _ = _viewer_state(args)
    serve(state, host=args.host, port=args.port, snapshots=snapshots, printer=lambda line: print(line, flush=True))
    return 0


def _viewer_state(args: argparse.Namespace):
    from sdfrecon.viewer.interactive import ViewerState

    inputs = load_scene_inputs(args, field="required" if args.plane is not None else "optional")
    if args.gt_layout == "none":
        inputs.gt = None
    return ViewerState(inputs, scene_options(args), plane=args.plane), inputs


def run_window_process(args: argparse.Namespace) -> int:
    """Run the window in a child process and wait for it; returns its exit status.

    The window's event loop is native code that Python signal handlers cannot
    interrupt, so it runs in a child (its own process group) and this process
    only waits, in short slices: Ctrl-C / SIGTERM here kill the child at once.
    """
    import os
    import pickle
    import signal
    import subprocess
    import sys

    code = "import sys; from sdfrecon.cli.view import window_main; sys.exit(window_main())"
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, start_new_session=True)
    try:
        proc.stdin.write(pickle.dumps(args))
        proc.stdin.close()
        while True:
            try:
                return proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise


def window_main() -> int:
    """Entry of the window process (:func:`run_window_process`): options as a pickle on stdin."""
    import pickle
    import signal
    import sys

    from sdfrecon.base.errors import ReconError
    from sdfrecon.cli import EXIT_INTERRUPTED
    from sdfrecon.viewer.interactive import run_window

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    args = pickle.load(sys.stdin.buffer)
    try:
        state, inputs = _viewer_state(args)
        run_window(state, width=args.width, height=args.height, view=args.view,
                   title=f"sdfrecon view - {inputs.name}")
    except ReconError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return 0
