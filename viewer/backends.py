"""The native renderers, as run inside the rendering worker process.

Nothing here is called from the main process: :mod:`sdfrecon.viewer.render`
starts :mod:`sdfrecon.viewer.render_worker` in a child process, which builds one
of these backends and renders frames with it, so that a driver that hangs or
crashes takes only the child down (the parent kills it when a frame runs past
its time limit, or on Ctrl-C / SIGTERM).

Backends (measured on a 2-core CPU machine without a display or GPU, see
docs/benchmarks.md, "Pictures without a screen"):

* ``legacy`` -- Open3D's legacy ``Visualizer`` with a hidden window, on
  ``$DISPLAY`` or on a private ``Xvfb`` server (Mesa's llvmpipe OpenGL). About
  0.1-0.5 s per 1600x1200 frame up to a million triangles: the fast path.
* ``offscreen`` -- Open3D's ``OffscreenRenderer`` (Filament). On a GPU it is
  fast; on Mesa's software Vulkan driver (lavapipe) it measured 20-40 s per
  320x240 frame, so ``auto`` only picks it when the legacy path fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import os
import shutil
import signal
import subprocess
from typing import Iterator, Sequence

import numpy as np

from sdfrecon.base.errors import ReconError
from sdfrecon.viewer.camera import Camera
from sdfrecon.viewer.scene import Scene

BACKENDS = ("legacy", "offscreen")
"""Backend names, in the order ``auto`` tries them."""

VULKAN_ICD_DIRS = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")
XVFB_SCREEN = "2048x2048x24"
"""Screen of the private Xvfb server (hidden windows may be larger; llvmpipe draws them whole)."""

LEGACY_LIGHTING = {
    "light0_position": [-1.0, 1.0, 2.0], "light0_diffuse_power": 0.55, "light0_specular_power": 0.04,
    "light0_specular_shininess": 30.0,
    "light1_position": [1.0, 0.3, 2.0], "light1_diffuse_power": 0.25, "light1_specular_power": 0.0,
    "light2_diffuse_power": 0.0, "light2_specular_power": 0.0,
    "light3_diffuse_power": 0.0, "light3_specular_power": 0.0,
    "light_ambient_color": [0.35, 0.35, 0.35],
}
"""Legacy-visualizer lights (its RenderOption JSON keys): a matte key light from the upper left
over a strong ambient term, instead of the default glossy head-on pair whose highlight
washes heat-map colours out to white."""

SUN = 0.0
"""Filament sun intensity (lux); off, so heat-map colours stay readable."""
INDIRECT = 22000.0
"""Filament image-based (ambient) light intensity."""


class BackendUnavailable(ReconError):
    """A backend cannot start here; the message says what is missing."""


def backend_problem(name: str) -> str | None:
    """Why backend ``name`` cannot start on this machine, or None when it may.

    Only checks what can be checked without trying (a failed start may abort
    the process): for ``legacy`` an X display or Xvfb, for ``offscreen`` a
    Vulkan loader with a driver, or EGL.
    """
    if name == "legacy":
        if os.environ.get("DISPLAY") or shutil.which("Xvfb"):
            return None
        return ("needs an X display or Xvfb, and there is no $DISPLAY and no Xvfb "
                "(Debian: apt-get install xvfb, or run scripts/setup.sh as root)")
    if name == "offscreen":
        has_vulkan = ctypes.util.find_library("vulkan") is not None
        has_icd = any(glob.glob(os.path.join(d, "*.json")) for d in VULKAN_ICD_DIRS)
        has_egl = ctypes.util.find_library("EGL") is not None
        if (has_vulkan and has_icd) or has_egl:
            return None
        return ("needs Vulkan (Debian: libvulkan1 mesa-vulkan-drivers) or EGL (Debian: libegl1) "
                "-- run scripts/setup.sh as root")
    raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")


def make_backend(name: str):
    """Start backend ``name`` (in the worker process).

    Raises
    ------
    BackendUnavailable
    """
    problem = backend_problem(name)
    if problem is not None:
        raise BackendUnavailable(f"the {name} renderer {problem}")
    return {"legacy": LegacyBackend, "offscreen": FilamentBackend}[name]()


# --------------------------------------------------------------------- legacy


class LegacyBackend:
    """Open3D's legacy visualizer in hidden windows, on ``$DISPLAY`` or a private Xvfb.

    Lighting in the legacy visualizer is one switch for the whole window, so a
    scene mixing lit items with unlit triangles (the SDF slice, or ``--unlit``)
    is drawn in two windows -- everything lit, and the unlit items with the
    light off -- and composited by depth: exact colours where an unlit item is
    in front, shading elsewhere.
    """

    name = "legacy"

    def __init__(self) -> None:
        self._xvfb: subprocess.Popen | None = None
        if not os.environ.get("DISPLAY"):
            self._xvfb, os.environ["DISPLAY"] = start_xvfb()
        self._windows: dict[str, object] = {}
        self._size: tuple[int, int] | None = None
        self._options_json = _lighting_json()

    def close(self) -> None:
        for vis in self._windows.values():
            vis.destroy_window()
        self._windows.clear()
        with contextlib.suppress(OSError):
            os.unlink(self._options_json)
        if self._xvfb is not None:
            self._xvfb.kill()
            self._xvfb.wait()
            self._xvfb = None

    def _window(self, key: str, width: int, height: int):
        """A hidden window of this size, kept between calls (opening one costs ~0.1 s)."""
        import open3d as o3d

        if self._size != (width, height):
            for vis in self._windows.values():
                vis.destroy_window()
            self._windows.clear()
            self._size = (width, height)
        if key not in self._windows:
            vis = o3d.visualization.Visualizer()
            if not vis.create_window(window_name=f"sdfrecon-{key}", width=width, height=height, visible=False):
                raise BackendUnavailable(f"the legacy renderer could not open a window on display "
                                         f"{os.environ.get('DISPLAY')}")
            self._windows[key] = vis
        return self._windows[key]

    def frames(self, scene: Scene, cameras: Sequence[Camera], width: int, height: int, supersample: int,
               background) -> Iterator[np.ndarray]:
        """RGB uint8 images (height, width, 3), one per camera, as each is drawn."""
        import open3d as o3d

        drawn = [it for it in scene.items if it.visible and not _is_empty(it.geometry)]
        lit = [it for it in drawn if not (it.style == "unlit" and _kind(it.geometry) == "mesh")]
        # Points and lines are unlit in the legacy visualizer whatever the switch says.
        has_lit_triangles = any(it.style == "lit" for it in drawn)
        passes = []
        if has_lit_triangles:
            passes.append(("lit", drawn, True))
        if len(lit) < len(drawn) or not has_lit_triangles:
            passes.append(("unlit", [it for it in drawn if it.style != "lit"], False))
        windows = []
        for key, items, light in passes:
            vis = self._window(key, width, height)
            vis.clear_geometries()
            for item in items:
                vis.add_geometry(item.geometry, reset_bounding_box=True)
            opt = vis.get_render_option()
            opt.load_from_json(self._options_json)
            opt.background_color = np.asarray(background, dtype=np.float64)
            opt.mesh_show_back_face = True
            opt.light_on = light
            # Smooth shading from the vertex normals (Open3D names SmoothShade "Color" in Python).
            opt.mesh_shade_option = o3d.visualization.MeshShadeOption.Color
            sizes = [it.size for it in items if it.style in ("points", "lines")]
            opt.point_size = float(max(sizes, default=2.0) * supersample)
            opt.line_width = float(max(sizes, default=2.0) * supersample)
            windows.append(vis)
        for cam in cameras:
            shots = [_capture(vis, cam, width, height, depth=len(windows) > 1) for vis in windows]
            if len(shots) == 1:
                yield shots[0][0]
                continue
            (lit_rgb, lit_depth), (flat_rgb, flat_depth) = shots
            # The unlit pass holds a subset of the items: where it drew something as near as the
            # full (lit) scene, that unlit item is in front, and its exact colour wins.
            front = (flat_depth > 0) & ((lit_depth <= 0) | (flat_depth <= lit_depth * (1.0 + 1e-5) + 1e-7))
            image = lit_rgb.copy()
            image[front] = flat_rgb[front]
            yield image


def _lighting_json() -> str:
    """A RenderOption JSON file with :data:`LEGACY_LIGHTING` (the only way to set lights from Python)."""
    import json
    import tempfile

    import open3d as o3d

    fd, path = tempfile.mkstemp(prefix="sdfrecon-render-", suffix=".json")
    os.close(fd)
    o3d.visualization.RenderOption().save_to_json(path)
    with open(path) as fh:
        options = json.load(fh)
    options.update(LEGACY_LIGHTING)
    with open(path, "w") as fh:
        json.dump(options, fh)
    return path


def _capture(vis, cam: Camera, width: int, height: int, *, depth: bool):
    control = vis.get_view_control()
    control.convert_from_pinhole_camera_parameters(_pinhole(cam, width, height), allow_arbitrary=True)
    vis.poll_events()
    vis.update_renderer()
    buf = np.asarray(vis.capture_screen_float_buffer(do_render=True))
    rgb = (np.clip(buf, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    z = np.asarray(vis.capture_depth_float_buffer(do_render=False)) if depth else None
    return rgb, z


def _pinhole(cam: Camera, width: int, height: int):
    """Legacy-visualizer camera (intrinsics from the vertical fov, extrinsics from look-at)."""
    import open3d as o3d

    focal = (height / 2.0) / np.tan(np.radians(cam.fov) / 2.0)
    params = o3d.camera.PinholeCameraParameters()
    params.intrinsic = o3d.camera.PinholeCameraIntrinsic(width, height, focal, focal, width / 2.0 - 0.5,
                                                         height / 2.0 - 0.5)
    forward = cam.center - cam.eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, cam.up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # world -> camera (x right, y down, z forward)
    extrinsic = np.eye(4)
    extrinsic[:3, :3] = rotation
    extrinsic[:3, 3] = -rotation @ cam.eye
    params.extrinsic = extrinsic
    return params


def start_xvfb(screen: str = XVFB_SCREEN) -> tuple[subprocess.Popen, str]:
    """Start a private Xvfb server that dies with this process.

    Returns
    -------
    (Popen, str)
        The server and its display name (``:N``).

    Raises
    ------
    BackendUnavailable
        No Xvfb, or it did not start.
    """
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise BackendUnavailable("the legacy renderer needs an X display or Xvfb (Debian: apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        number = fh.readline().strip()
    if not number:
        proc.kill()
        raise BackendUnavailable("the legacy renderer could not start Xvfb")
    return proc, f":{number}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)


# ------------------------------------------------------------------ offscreen


class FilamentBackend:
    """Open3D's ``OffscreenRenderer`` (Filament: a GPU's driver, or Mesa's lavapipe / EGL).

    Colours are exact: post-processing (tone mapping) is off, so an unlit
    vertex colour c comes out as round(255 c).
    """

    name = "offscreen"

    def __init__(self) -> None:
        self._renderer = None
        self._size: tuple[int, int] | None = None
        self._uploads = 0

    def close(self) -> None:
        self._renderer = None

    def _get(self, width: int, height: int):
        if self._renderer is not None and self._size == (width, height):
            return self._renderer
        import open3d as o3d

        self._renderer = None  # drop the old one before starting another
        o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
        renderer = o3d.visualization.rendering.OffscreenRenderer(width, height)
        view = renderer.scene.view
        view.set_post_processing(False)  # exact colours, no tone mapping
        # No shadows: on lavapipe the sun's shadow pass sometimes takes minutes for one frame.
        view.set_shadowing(False, o3d.visualization.rendering.View.ShadowType.PCF)
        # A first frame that already holds geometry was seen to take minutes; an empty one first avoids it.
        renderer.setup_camera(30.0, np.zeros(3, np.float32), np.ones(3, np.float32), np.array([0, 1, 0], np.float32))
        renderer.render_to_image()
        self._renderer, self._size = renderer, (width, height)
        return renderer

    def frames(self, scene: Scene, cameras: Sequence[Camera], width: int, height: int, supersample: int,
               background) -> Iterator[np.ndarray]:
        import open3d as o3d

        renderer = self._get(width, height)
        o3d_scene = renderer.scene
        o3d_scene.clear_geometry()
        o3d_scene.set_background([*background, 1.0])
        low = o3d_scene.scene
        low.set_indirect_light_intensity(INDIRECT)
        self._uploads += 1
        added = []
        try:
            for item in scene.items:
                if item.visible and not _is_empty(item.geometry):
                    name = f"{item.name}#{self._uploads}"
                    low.add_geometry(name, item.geometry, _material(item.style, item.size, supersample))
                    low.geometry_shadows(name, False, False)
                    added.append(name)
            for cam in cameras:
                distance = float(np.linalg.norm(cam.eye - cam.center))
                reach = 1.5 * scene.radius + float(np.linalg.norm(cam.center - scene.center))
                near = max(distance - reach, distance * 1e-3)
                o3d_scene.camera.set_projection(cam.fov, width / height, near, distance + reach,
                                                o3d.visualization.rendering.Camera.FovType.Vertical)
                o3d_scene.camera.look_at(cam.center.astype(np.float32), cam.eye.astype(np.float32),
                                         cam.up.astype(np.float32))
                low.enable_sun_light(bool(SUN))
                yield np.asarray(renderer.render_to_image()).copy()
        finally:
            for name in added:
                low.remove_geometry(name)


def _material(style: str, size: float, supersample: int):
    import open3d as o3d

    mat = o3d.visualization.rendering.MaterialRecord()
    mat.base_color = (1.0, 1.0, 1.0, 1.0)  # vertex colours carry the colour
    mat.shader = {"lit": "defaultLit", "unlit": "defaultUnlit", "points": "defaultUnlit", "lines": "unlitLine"}[style]
    if style == "lit":
        mat.base_roughness = 0.9  # matte: no glare washing out vertex colours
        mat.base_reflectance = 0.1
    mat.point_size = float(size * supersample)
    mat.line_width = float(size * supersample)
    return mat


# --------------------------------------------------------------------- helpers


def _kind(geometry) -> str:
    from sdfrecon.viewer.packing import item_kind

    return item_kind(geometry)


def _is_empty(geometry) -> bool:
    pts = geometry.vertices if hasattr(geometry, "vertices") else geometry.points
    return len(pts) == 0


def shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter downsampling by an integer ``factor`` (the supersampling average)."""
    if factor == 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    blocks = image[: h * factor, : w * factor].reshape(h, factor, w, factor, -1).astype(np.float32)
    return (blocks.mean(axis=(1, 3)) + 0.5).astype(np.uint8)
