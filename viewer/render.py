"""Pictures of a :class:`~sdfrecon.viewer.scene.Scene` without a screen.

The main path is Open3D's ``OffscreenRenderer`` (Filament). On a machine
without a GPU it runs on Mesa's software Vulkan driver (lavapipe: Debian
packages ``libvulkan1 mesa-vulkan-drivers``, installed by
``scripts/setup.sh``). When that cannot start, the legacy
``o3d.visualization.Visualizer`` is used with a hidden window, on the current
X display or on a private ``Xvfb`` server started for the purpose; when neither
is possible a :class:`RenderError` says what is missing.

Colours are exact: post-processing (tone mapping) is off, so an unlit vertex
colour c comes out as round(255 c). Anti-aliasing is by supersampling: render
``supersample`` times larger and shrink with a box filter.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Iterator, Sequence

import numpy as np

from sdfrecon.base.errors import ReconError
from sdfrecon.viewer.camera import Camera
from sdfrecon.viewer.scene import Scene

log = logging.getLogger(__name__)

SUN = 0.0
"""Sun intensity (Filament lux); kept moderate so heat-map colours stay readable in shadow."""
INDIRECT = 22000.0
"""Image-based (ambient) light intensity."""
BACKGROUND = (1.0, 1.0, 1.0)
"""Default background colour (white)."""

SMALL_SCENE = 5000
"""Scenes with fewer triangles/points/lines than this are always rendered in this process."""

VULKAN_ICD_DIRS = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")


class RenderError(ReconError):
    """No way to render offscreen on this machine (the message says what is missing)."""


def render_scene(scene: Scene, camera: Camera, width: int = 800, height: int = 600, *,
                 supersample: int = 1, background=BACKGROUND, backend: str = "auto") -> np.ndarray:
    """Render ``scene`` from ``camera`` to an RGB image.

    Parameters
    ----------
    scene : Scene
    camera : Camera
    width, height : int
        Output size, pixels.
    supersample : int
        Render this many times larger and downsample (anti-aliasing); 1 = off.
    background : (3,) floats in [0, 1]
    backend : str
        ``auto`` (offscreen, else legacy), ``offscreen`` or ``legacy``.

    Returns
    -------
    (height, width, 3) uint8 ndarray
    """
    return render_views(scene, [camera], width, height, supersample=supersample,
                        background=background, backend=backend)[0]


def render_views(scene: Scene, cameras: Sequence[Camera], width: int = 800, height: int = 600, *,
                 supersample: int = 1, background=BACKGROUND, backend: str = "auto") -> list[np.ndarray]:
    """Render ``scene`` once per camera (geometry is uploaded once). See :func:`render_scene`.

    Returns
    -------
    list of (height, width, 3) uint8 ndarray
    """
    if width < 8 or height < 8:
        raise ValueError(f"image size must be at least 8x8 pixels, got {width}x{height}")
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    if backend not in ("auto", "offscreen", "legacy"):
        raise ValueError(f"backend must be auto, offscreen or legacy, got {backend!r}")
    w, h = width * supersample, height * supersample
    problem = offscreen_problem() if backend != "legacy" else "the legacy backend was asked for"
    if problem is None:
        try:
            images = _render_offscreen(scene, cameras, w, h, supersample, background)
            return [_shrink(img, supersample) for img in images]
        except RuntimeError as exc:
            problem = f"Open3D's offscreen renderer failed ({exc})"
    if backend == "offscreen":
        raise RenderError(f"cannot render offscreen: {problem}")
    images = _render_legacy(scene, cameras, w, h, supersample, background, offscreen_problem=problem)
    return [_shrink(img, supersample) for img in images]


def offscreen_problem() -> str | None:
    """Why Open3D's offscreen renderer cannot start here, or None when it should.

    Only checks what can be checked without trying (a failed start may abort
    the process): a Vulkan loader with at least one driver, or EGL.
    """
    has_vulkan = ctypes.util.find_library("vulkan") is not None
    has_icd = any(glob.glob(os.path.join(d, "*.json")) for d in VULKAN_ICD_DIRS)
    has_egl = ctypes.util.find_library("EGL") is not None
    if (has_vulkan and has_icd) or has_egl:
        return None
    missing = []
    if not has_vulkan:
        missing.append("the Vulkan loader (Debian: libvulkan1)")
    if not has_icd:
        missing.append("a Vulkan driver (Debian: mesa-vulkan-drivers)")
    missing.append("EGL (Debian: libegl1)")
    return "missing " + ", ".join(missing) + " -- run scripts/setup.sh as root"


# ------------------------------------------------------------------ offscreen


class _OffscreenCache:
    """The process's Open3D offscreen renderer, reused while the size stays the same.

    Filament's engine is process-wide and starting a renderer is slow (software
    shader compilation), so one renderer serves every picture of a given size.
    """

    renderer = None
    size: tuple[int, int] | None = None
    uploads = 0

    @classmethod
    def get(cls, width: int, height: int):
        if cls.renderer is not None and cls.size == (width, height):
            return cls.renderer
        import open3d as o3d

        cls.renderer = None  # drop the old one before starting another
        o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
        with _native_output_hidden():
            cls.renderer = o3d.visualization.rendering.OffscreenRenderer(width, height)
        cls.size = (width, height)
        view = cls.renderer.scene.view
        view.set_post_processing(False)  # exact colours, no tone mapping
        # No shadows: on Mesa's software Vulkan driver (Open3D 0.20, Mesa 22.3)
        # the sun's shadow pass sometimes takes minutes for one frame, depending
        # on the camera distance; pictures of single objects do not need it.
        view.set_shadowing(False, o3d.visualization.rendering.View.ShadowType.PCF)
        # Likewise a first frame that already holds geometry was seen to take
        # minutes; after one empty frame the rest are fast.
        with _native_output_hidden():
            cls.renderer.setup_camera(30.0, np.zeros(3, np.float32), np.ones(3, np.float32),
                                      np.array([0, 1, 0], np.float32))
            cls.renderer.render_to_image()
        return cls.renderer


def _material(style: str, size: float, supersample: int):
    import open3d as o3d

    mat = o3d.visualization.rendering.MaterialRecord()
    mat.base_color = (1.0, 1.0, 1.0, 1.0)  # vertex colours carry the colour
    mat.shader = {"lit": "defaultLit", "unlit": "defaultUnlit", "points": "defaultUnlit",
                  "lines": "unlitLine"}[style]
    if style == "lit":
        mat.base_roughness = 0.9  # matte: no glare washing out vertex colours
        mat.base_reflectance = 0.1
    mat.point_size = float(size * supersample)
    mat.line_width = float(size * supersample)
    return mat


def _render_offscreen(scene: Scene, cameras, width, height, supersample, background) -> list[np.ndarray]:
    """Render in this process the first time, in a fresh child process after that.

    With Open3D 0.20 on Mesa's software driver, the frames after a second
    geometry upload in one process were seen to take 30-90 s each (meshes of
    some 10k triangles and up; the first upload after the renderer's start is
    fast). A child process starts its own renderer, so each call gets the fast
    first-upload path, at the cost of starting Python and Open3D (1-3 s).
    Scenes of fewer than :data:`SMALL_SCENE` primitives were never seen to
    trigger it and stay in this process.
    """
    small = _primitives(scene) < SMALL_SCENE
    if small or _OffscreenCache.uploads == 0 or os.environ.get("SDFRECON_RENDER_IN_PROCESS") == "1":
        return _render_offscreen_here(scene, cameras, width, height, supersample, background)
    return _render_offscreen_child(scene, cameras, width, height, supersample, background)


def _primitives(scene: Scene) -> int:
    """Triangles + points + lines drawn for ``scene``."""
    total = 0
    for it in scene.items:
        g = it.geometry
        for attr in ("triangles", "lines", "points"):
            if hasattr(g, attr):
                total += len(getattr(g, attr))
                break
    return total


def _render_offscreen_child(scene: Scene, cameras, width, height, supersample, background) -> list[np.ndarray]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    packed = _pack_scene(scene)
    env_key = "SDFRECON_RENDER_IN_PROCESS"
    previous = os.environ.get(env_key)
    os.environ[env_key] = "1"  # the child renders itself, never spawns another
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(_child_render, packed, list(cameras), width, height, supersample,
                               tuple(background)).result()
    except BrokenProcessPool:
        raise RuntimeError("the rendering process died") from None
    finally:
        if previous is None:
            os.environ.pop(env_key, None)
        else:
            os.environ[env_key] = previous


def _child_render(packed: dict, cameras, width, height, supersample, background) -> list[np.ndarray]:
    return _render_offscreen_here(_unpack_scene(packed), cameras, width, height, supersample, background)


def _pack_scene(scene: Scene) -> dict:
    """A picklable copy of ``scene`` (Open3D geometries as NumPy arrays)."""
    items = []
    for it in scene.items:
        g = it.geometry
        if hasattr(g, "triangles"):
            arrays = {"kind": "mesh", "vertices": np.asarray(g.vertices), "triangles": np.asarray(g.triangles),
                      "colors": np.asarray(g.vertex_colors), "normals": np.asarray(g.vertex_normals)}
        elif hasattr(g, "lines"):
            arrays = {"kind": "lines", "points": np.asarray(g.points), "lines": np.asarray(g.lines),
                      "colors": np.asarray(g.colors)}
        else:
            arrays = {"kind": "points", "points": np.asarray(g.points), "colors": np.asarray(g.colors)}
        items.append({"name": it.name, "style": it.style, "size": it.size, "visible": it.visible, **arrays})
    return {"items": items, "center": scene.center, "radius": scene.radius, "up": scene.up}


def _unpack_scene(packed: dict) -> Scene:
    import open3d as o3d

    from sdfrecon.viewer.scene import SceneItem

    v3, v3i, v2i = o3d.utility.Vector3dVector, o3d.utility.Vector3iVector, o3d.utility.Vector2iVector
    items = []
    for d in packed["items"]:
        if d["kind"] == "mesh":
            g = o3d.geometry.TriangleMesh(v3(d["vertices"]), v3i(d["triangles"]))
            if len(d["colors"]):
                g.vertex_colors = v3(d["colors"])
            if len(d["normals"]):
                g.vertex_normals = v3(d["normals"])
        elif d["kind"] == "lines":
            g = o3d.geometry.LineSet(v3(d["points"]), v2i(d["lines"]))
            if len(d["colors"]):
                g.colors = v3(d["colors"])
        else:
            g = o3d.geometry.PointCloud(v3(d["points"]))
            if len(d["colors"]):
                g.colors = v3(d["colors"])
        items.append(SceneItem(d["name"], g, d["style"], d["size"], d["visible"]))
    return Scene(items=items, center=packed["center"], radius=packed["radius"], up=packed["up"])


def _render_offscreen_here(scene: Scene, cameras, width, height, supersample, background) -> list[np.ndarray]:
    import open3d as o3d

    renderer = _OffscreenCache.get(width, height)
    o3d_scene = renderer.scene
    o3d_scene.clear_geometry()
    o3d_scene.set_background([*background, 1.0])
    low = o3d_scene.scene  # rendering.Scene: what Filament draws
    low.set_indirect_light_intensity(INDIRECT)
    added = []
    _OffscreenCache.uploads += 1
    try:
        for item in scene.items:
            if item.visible and not _is_empty(item.geometry):
                name = f"{item.name}#{_OffscreenCache.uploads}"
                low.add_geometry(name, item.geometry, _material(item.style, item.size, supersample))
                low.geometry_shadows(name, False, False)
                added.append(name)
        images = []
        for cam in cameras:
            distance = float(np.linalg.norm(cam.eye - cam.center))
            reach = 1.5 * scene.radius + float(np.linalg.norm(cam.center - scene.center))
            near = max(distance - reach, distance * 1e-3)
            camera = o3d_scene.camera
            camera.set_projection(cam.fov, width / height, near, distance + reach,
                                  o3d.visualization.rendering.Camera.FovType.Vertical)
            camera.look_at(cam.center.astype(np.float32), cam.eye.astype(np.float32), cam.up.astype(np.float32))
            if SUN:
                # Light from over the viewer's shoulder (up and to the left) so the front is lit.
                view_dir = (cam.center - cam.eye) / distance
                right = np.cross(view_dir, cam.up)
                right /= np.linalg.norm(right)
                light = view_dir - 0.35 * np.cross(right, view_dir) + 0.25 * right
                low.set_sun_light((light / np.linalg.norm(light)).astype(np.float32), [1.0, 1.0, 1.0], SUN)
            low.enable_sun_light(bool(SUN))
            with _native_output_hidden():
                images.append(np.asarray(renderer.render_to_image()).copy())
    finally:
        for name in added:
            low.remove_geometry(name)
    return images


def _is_empty(geometry) -> bool:
    pts = geometry.vertices if hasattr(geometry, "vertices") else geometry.points
    return len(pts) == 0


# --------------------------------------------------------------------- legacy


def _render_legacy(scene: Scene, cameras, width, height, supersample, background, *,
                   offscreen_problem: str) -> list[np.ndarray]:
    """Hidden-window rendering with ``o3d.visualization.Visualizer`` on an X display."""
    import open3d as o3d

    with _x_display(offscreen_problem):
        vis = o3d.visualization.Visualizer()
        if not vis.create_window(width=width, height=height, visible=False):
            raise RenderError(f"cannot render: {offscreen_problem}; and the legacy visualizer could not "
                              f"open a window on display {os.environ.get('DISPLAY')}")
        try:
            for item in scene.items:
                if item.visible and not _is_empty(item.geometry):
                    vis.add_geometry(item.geometry, reset_bounding_box=True)
            opt = vis.get_render_option()
            opt.background_color = np.asarray(background, dtype=np.float64)
            opt.mesh_show_back_face = True
            sizes = [it.size for it in scene.items if it.style in ("points", "lines")]
            opt.point_size = float(max(sizes, default=2.0) * supersample)
            opt.line_width = float(max(sizes, default=2.0) * supersample)
            control = vis.get_view_control()
            images = []
            for cam in cameras:
                control.convert_from_pinhole_camera_parameters(_pinhole(cam, width, height), allow_arbitrary=True)
                vis.poll_events()
                vis.update_renderer()
                buf = np.asarray(vis.capture_screen_float_buffer(do_render=True))
                images.append((np.clip(buf, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
            return images
        finally:
            vis.destroy_window()


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


@contextlib.contextmanager
def _x_display(offscreen_problem: str) -> Iterator[None]:
    """Use ``$DISPLAY`` if set, else start a private Xvfb server for the duration."""
    if os.environ.get("DISPLAY"):
        yield
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RenderError(f"cannot render: {offscreen_problem}; the fallback (Open3D's legacy visualizer) "
                          "needs an X display, and there is no $DISPLAY and no Xvfb (Debian: xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as fh:
            number = fh.readline().strip()
        if not number:
            raise RenderError(f"cannot render: {offscreen_problem}; and Xvfb did not start")
        os.environ["DISPLAY"] = f":{number}"  # GLFW reads the display from the environment
        try:
            yield
        finally:
            os.environ.pop("DISPLAY", None)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --------------------------------------------------------------------- helpers


def _shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter downsampling by an integer ``factor`` (the supersampling average)."""
    if factor == 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    blocks = image[: h * factor, : w * factor].reshape(h, factor, w, factor, -1).astype(np.float64)
    return (blocks.mean(axis=(1, 3)) + 0.5).astype(np.uint8)


@contextlib.contextmanager
def _native_output_hidden() -> Iterator[None]:
    """Silence what Filament/Open3D print from C++ (engine banners) on fds 1 and 2.

    Native stderr is kept in a temporary file and replayed if the block raises,
    so real failures still explain themselves.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        saved_out, saved_err = os.dup(1), os.dup(2)
    except (OSError, ValueError, io.UnsupportedOperation):  # no real fds (embedded interpreters)
        yield
        return
    libc = ctypes.CDLL(None)
    err_file = tempfile.TemporaryFile()
    devnull = os.open(os.devnull, os.O_WRONLY)
    failed = False
    try:
        os.dup2(devnull, 1)
        os.dup2(err_file.fileno(), 2)
        yield
    except BaseException:
        failed = True
        raise
    finally:
        libc.fflush(None)
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, devnull):
            os.close(fd)
        if failed:
            err_file.seek(0)
            text = err_file.read().decode(errors="replace").strip()
            if text:
                log.error("renderer output: %s", text[-2000:])
        err_file.close()
