"""The window of ``sdfrecon view``: an Open3D (legacy) visualizer with key bindings.

Two layers:

* :class:`ViewerState` -- what is shown (points, ground truth, heat-map, the
  SDF slice: axis, position, cut) and how keys change it. Plain Python: it
  builds :class:`~sdfrecon.viewer.scene.Scene` objects and never touches a window, so
  it is tested without a display.
* :func:`run_window` -- opens ``o3d.visualization.VisualizerWithKeyCallback``,
  draws the state's scene, and forwards key presses to :meth:`ViewerState.press`,
  redrawing when the state says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sdfrecon.viewer.inputs import ViewInputs
from sdfrecon.viewer.scene import Scene, SceneOptions
from sdfrecon.viewer.sdf_slice import SlicePlane

SLICE_STEP = 0.05
"""How far ``[`` / ``]`` move the slice, as a fraction of the bounding box half-size."""
SCREENSHOT_PATTERN = "sdfrecon_view_{:03d}.png"
"""Screenshots go to the current folder under the first free name of this pattern."""

# Actions a key press asks the window for.
REDRAW = "redraw"
RESET = "reset"
SCREENSHOT = "screenshot"
HELP = "help"
QUIT = "quit"


@dataclass(frozen=True)
class Key:
    """One key binding: the characters that trigger it and what it does."""

    keys: str
    help: str
    needs: str = ""
    """What must be loaded for the key to do anything: points, gt, errors, field (or nothing)."""


KEYS = (
    Key("P", "show / hide the input points", "points"),
    Key("G", "show / hide the ground truth", "gt"),
    Key("O", "ground truth beside the result / overlaid on it", "gt"),
    Key("E", "error heat-map on / off", "errors"),
    Key("V", "show / hide the SDF slice", "field"),
    Key("XYZ", "slice perpendicular to the x / y / z axis", "field"),
    Key("[]", "move the slice down / up its axis", "field"),
    Key("C", "cut the mesh open at the slice: off / hide the + side / hide the - side", "field"),
    Key("R", "reset the view"),
    Key("S", f"save a screenshot ({SCREENSHOT_PATTERN.format(0).replace('000', 'NNN')} in the current folder)"),
    Key("H", "print this help"),
    Key("Q", "quit (also Esc)"),
)
"""Key bindings of the window, in help order."""


class ViewerState:
    """What the window shows, changed by key presses; builds the scene to draw.

    Parameters
    ----------
    inputs : ViewInputs
        Loaded mesh and extras.
    options : SceneOptions, optional
        Layout and colours; ``gt_layout`` and ``clip_side`` change with keys.
    plane : SlicePlane, optional
        Slice shown from the start (needs ``inputs.field``). Without it the
        slice starts hidden, at the centre across z, and ``V`` shows it.
    slice_resolution : int
        Samples along the slice's longer side (lower = faster key response).
    """

    def __init__(self, inputs: ViewInputs, options: SceneOptions | None = None, *,
                 plane: SlicePlane | None = None, slice_resolution: int = 160):
        if plane is not None and inputs.field is None:
            raise ValueError("a slice plane needs inputs.field (load a checkpoint)")
        self.inputs = inputs
        self.options = options or SceneOptions()
        self.slice_resolution = int(slice_resolution)
        self.show_points = inputs.points is not None
        self.show_gt = inputs.gt is not None
        self.heatmap = inputs.errors is not None
        self.show_slice = plane is not None
        self.plane = plane if plane is not None else SlicePlane("z", 0.0)
        self.messages: list[str] = []
        """Lines to print after the last key press (what changed)."""
        if self.show_slice and self.options.clip_side == 0:
            self.options = replace(self.options, clip_side=1)
        if inputs.field is not None and self.options.sdf_limit is None:
            # One colour scale for every slice position, so colours compare as the plane moves.
            from sdfrecon.viewer.colormap import symmetric_range

            lo, hi = inputs.bounds
            values = inputs.field(_probe_points(lo, hi))
            self.options = replace(self.options, sdf_limit=symmetric_range(values)[1])

    # ------------------------------------------------------------- queries

    def has(self, what: str) -> bool:
        """Whether ``what`` (points, gt, errors, field, or "") was loaded."""
        return {"": True, "points": self.inputs.points is not None, "gt": self.inputs.gt is not None,
                "errors": self.inputs.errors is not None, "field": self.inputs.field is not None}[what]

    def active_keys(self) -> list[Key]:
        """The bindings that do something with what was loaded."""
        return [k for k in KEYS if self.has(k.needs)]

    def help_text(self) -> str:
        """Keyboard help, one line per binding (only those that apply)."""
        lines = ["keys (in the window):"]
        for k in self.active_keys():
            label = " ".join(k.keys) if len(k.keys) > 1 else k.keys
            lines.append(f"  {label:<6} {k.help}")
        lines.append("  mouse  left-drag rotate, right-drag / ctrl-drag pan, wheel zoom")
        return "\n".join(lines)

    def scene(self) -> Scene:
        """The scene of the current state."""
        plane = self.plane if self.show_slice else None
        return self.inputs.scene(self.options, points=self.show_points, gt=self.show_gt, heatmap=self.heatmap,
                                 plane=plane, slice_resolution=self.slice_resolution)

    def describe(self) -> str:
        """One line: what is on."""
        parts = [self.inputs.name]
        if self.has("errors"):
            parts.append(f"heat-map {'on' if self.heatmap else 'off'}")
        if self.has("points"):
            parts.append(f"points {'on' if self.show_points else 'off'}")
        if self.has("gt"):
            parts.append(f"ground truth {self.options.gt_layout if self.show_gt else 'off'}")
        if self.has("field"):
            parts.append(self.slice_position() if self.show_slice else "slice off")
        return ", ".join(parts)

    def slice_position(self) -> str:
        """``slice z = 1.23 (offset +0.10), cut + side``."""
        lo, hi = self.inputs.bounds
        cut = {0: "no cut", 1: "cut + side", -1: "cut - side"}[self.options.clip_side]
        return f"slice {self.plane.axis} = {self.plane.coordinate(lo, hi):.4g} (offset {self.plane.offset:+.2f}), {cut}"

    # ------------------------------------------------------------- changes

    def press(self, key: str) -> str | None:
        """Apply key ``key`` (one character, case-insensitive).

        Returns
        -------
        str or None
            What the window must do: :data:`REDRAW`, :data:`RESET`,
            :data:`SCREENSHOT`, :data:`HELP`, :data:`QUIT`, or None (the key
            does nothing here). :attr:`messages` holds lines to print.
        """
        self.messages = []
        k = key.upper()
        binding = next((b for b in KEYS if k in b.keys), None)
        if binding is None or not self.has(binding.needs):
            return None
        if k == "P":
            self.show_points = not self.show_points
        elif k == "G":
            self.show_gt = not self.show_gt
        elif k == "O":
            self.options = replace(self.options, gt_layout="overlay" if self.options.gt_layout == "side" else "side")
            self.show_gt = True
        elif k == "E":
            self.heatmap = not self.heatmap
        elif k == "V":
            self.show_slice = not self.show_slice
        elif k in "XYZ":
            self.plane = SlicePlane(k.lower(), 0.0)
            self.show_slice = True
        elif k in "[]":
            self.plane = self.plane.moved(SLICE_STEP if k == "]" else -SLICE_STEP)
            self.show_slice = True
        elif k == "C":
            self.options = replace(self.options, clip_side={0: 1, 1: -1, -1: 0}[self.options.clip_side])
            self.show_slice = True
        elif k == "R":
            return RESET
        elif k == "S":
            return SCREENSHOT
        elif k == "H":
            self.messages = [self.help_text()]
            return HELP
        elif k == "Q":
            return QUIT
        self.messages = [self.describe()]
        return REDRAW

    def colorbar_lines(self, scene: Scene | None = None) -> list[str]:
        """The colour scales of the current scene, one console line each."""
        scene = scene if scene is not None else self.scene()
        return [bar.describe() for bar in scene.colorbars]


def next_screenshot_path(folder: str | Path = ".") -> Path:
    """First ``sdfrecon_view_NNN.png`` in ``folder`` that does not exist yet."""
    folder = Path(folder)
    for n in range(100000):
        p = folder / SCREENSHOT_PATTERN.format(n)
        if not p.exists():
            return p
    raise RuntimeError(f"{folder}: no free screenshot name left")


def key_code(char: str) -> int:
    """GLFW key code of a key character (letters are their upper-case ASCII code)."""
    return ord(char.upper())


def _probe_points(lo: np.ndarray, hi: np.ndarray, n: int = 24) -> np.ndarray:
    """A regular (n, n, n) grid over the box, to size the SDF colour scale."""
    axes = [np.linspace(lo[a], hi[a], n) for a in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


# ----------------------------------------------------------------- window


def run_window(state: ViewerState, *, width: int = 1280, height: int = 800, view: str = "iso",
               title: str = "sdfrecon view", printer=print) -> None:
    """Open the window and run until it is closed.

    Raises
    ------
    RenderError
        The window cannot be opened (no display).
    """
    import os

    import open3d as o3d

    from sdfrecon.viewer.camera import preset_camera
    from sdfrecon.viewer.render import RenderError

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise RenderError("cannot open a window: no display ($DISPLAY is not set); "
                          "use 'sdfrecon render ... -o picture.png' to render without a screen")
    vis = o3d.visualization.VisualizerWithKeyCallback()
    if not vis.create_window(window_name=title, width=width, height=height):
        raise RenderError(f"cannot open a window on display {os.environ.get('DISPLAY')}; "
                          "use 'sdfrecon render ... -o picture.png' to render without a screen")
    drawn: list = []

    def draw(reset_camera: bool) -> Scene:
        scene = state.scene()
        for geometry in drawn:
            vis.remove_geometry(geometry, reset_bounding_box=False)
        drawn.clear()
        for item in scene.items:
            if item.visible:
                vis.add_geometry(item.geometry, reset_bounding_box=reset_camera)
                drawn.append(item.geometry)
        opt = vis.get_render_option()
        opt.mesh_show_back_face = True
        opt.point_size = float(max((it.size for it in scene.items if it.style == "points"), default=2.0))
        opt.light_on = True
        if reset_camera:
            place_camera(scene)
        return scene

    def place_camera(scene: Scene) -> None:
        cam = preset_camera(view, scene.center, scene.radius, up=scene.up, aspect=width / height)
        ctr = vis.get_view_control()
        ctr.set_lookat(cam.center)
        ctr.set_front((cam.eye - cam.center) / np.linalg.norm(cam.eye - cam.center))
        ctr.set_up(cam.up)
        ctr.set_zoom(0.7)

    def on_key(char: str):
        def callback(v) -> bool:
            action = state.press(char)
            for line in state.messages:
                printer(line)
            if action == REDRAW:
                scene = draw(reset_camera=False)
                if char.upper() in "E[]XYZVC":
                    for line in state.colorbar_lines(scene):
                        printer(f"  {line}")
                return True
            if action == RESET:
                place_camera(state.scene())
                return True
            if action == SCREENSHOT:
                path = next_screenshot_path()
                v.capture_screen_image(str(path), do_render=True)
                printer(f"screenshot: {path}")
                return False
            if action == QUIT:
                v.close()
            return False

        return callback

    for binding in KEYS:
        for char in binding.keys:
            vis.register_key_callback(key_code(char), on_key(char))
    scene = draw(reset_camera=True)
    printer(state.help_text())
    for line in state.colorbar_lines(scene):
        printer(line)
    printer(state.describe())
    try:
        vis.run()
    finally:
        vis.destroy_window()
