"""``sdfrecon view --web``: the viewer's scene in a browser, for machines without a screen.

Built on viser (a maintained web viewer for 3D scenes, the one nerfstudio
uses): this process serves a page; the browser draws the scene with WebGL on
the user's own machine, so nothing is rendered here. Chosen by measurement
over Open3D's WebRTC viewer, which renders every frame on the server with
Filament: on a CPU-only machine that is 20-40 s per 320x240 frame (see
docs/benchmarks.md, "Pictures without a screen").

What is shown is what the window shows (:class:`~sdfrecon.viewer.interactive.ViewerState`):
the mesh (with its error heat-map and colour scale), input points, ground
truth beside or over it, the SDF slice as a picture on its plane with axis and
position controls (and an optional cut), and, given a folder of training
snapshots, a timeline slider through them. Controls only resend what they
change (toggles flip visibility; the slider resends the slice picture).

The server listens on 127.0.0.1 unless another address is asked for: from a
laptop, ``ssh -N -L PORT:127.0.0.1:PORT user@server`` forwards the page.
"""

from __future__ import annotations

import getpass
import socket
import threading
import time
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from sdfrecon.viewer.interactive import ViewerState
from sdfrecon.viewer.scene import GT_RGB, MESH_RGB, POINTS_RGB, Scene
from sdfrecon.viewer.sdf_slice import SlicePlane

DEFAULT_PORT = 8080
LOOPBACK = "127.0.0.1"
SLICE_RESOLUTION = 200
"""Samples along the longer side of the slice picture."""
PLAY_SECONDS = 0.6
"""Time per snapshot when the timeline plays."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def access_lines(host: str, port: int) -> list[str]:
    """What to print so a user can open the page: the URL and the ``ssh -L`` line for a laptop."""
    user, machine = getpass.getuser(), socket.gethostname()
    if host in ("127.0.0.1", "localhost", "::1"):
        return [f"web viewer: http://{host}:{port}  (Ctrl-C to stop)",
                f"from your laptop: ssh -N -L {port}:127.0.0.1:{port} {user}@{machine}  "
                f"then open http://localhost:{port}"]
    shown = machine if host in ("0.0.0.0", "::", "") else host
    return [f"web viewer: http://{shown}:{port}  (Ctrl-C to stop)",
            f"warning: listening on {host or 'all addresses'}: anyone who can reach this machine can open it; "
            f"the default (127.0.0.1) with 'ssh -N -L {port}:127.0.0.1:{port} {user}@{machine}' is private"]


class WebViewer:
    """A viser server showing a :class:`ViewerState`, with controls for what the keys do in the window.

    Parameters
    ----------
    state : ViewerState
    host : str
        Address to listen on (loopback by default).
    port : int
    snapshots : sequence of (step, trimesh.Trimesh), optional
        Meshes saved during training, in step order: a timeline slider shows
        one in place of the result.
    slice_resolution : int
    """

    def __init__(self, state: ViewerState, *, host: str = LOOPBACK, port: int = DEFAULT_PORT,
                 snapshots: Sequence[tuple[int, object]] = (), slice_resolution: int = SLICE_RESOLUTION):
        import viser

        self.state = state
        self.slice_resolution = int(slice_resolution)
        self.snapshots = list(snapshots)
        self._lock = threading.Lock()
        self._playing = False
        self.server = viser.ViserServer(host=host, port=port, verbose=False)
        self.host, self.port = host, int(self.server.get_port())
        scene = state.scene()
        self.server.scene.set_up_direction("+" + state.options.up)
        self._frame_camera(scene)
        self._handles: dict[str, object] = {}
        self._send_mesh(scene)
        self._send_gt(scene)
        self._send_points(scene)
        self._send_slice()
        self._send_snapshots()
        self._build_gui(scene)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._playing = False
        self.server.stop()

    # --------------------------------------------------------------- scene

    def _frame_camera(self, scene: Scene) -> None:
        from sdfrecon.viewer.camera import preset_camera

        cam = preset_camera("iso", scene.center, scene.radius, up=scene.up, aspect=16 / 9, fov=50.0)
        self.server.initial_camera.fov = float(np.radians(50.0))
        self.server.initial_camera.position = tuple(float(x) for x in cam.eye)
        self.server.initial_camera.look_at = tuple(float(x) for x in cam.center)
        self.server.initial_camera.up = tuple(float(x) for x in cam.up)

    def _item(self, scene: Scene, name: str) -> dict | None:
        from sdfrecon.viewer.packing import pack_item

        for it in scene.items:
            if it.name == name:
                return pack_item(it)
        return None

    def _replace(self, key: str, handle) -> None:
        old = self._handles.pop(key, None)
        if old is not None and (handle is None or old.name != handle.name):  # same name: viser replaced it
            old.remove()
        if handle is not None:
            self._handles[key] = handle

    def _send_mesh(self, scene: Scene) -> None:
        """The result, with per-vertex heat-map colours when they are on (resent when colours or the cut change)."""
        import trimesh

        d = self._item(scene, "mesh")
        if len(d["colors"]) and not np.allclose(d["colors"], MESH_RGB, atol=1e-3):
            tm = trimesh.Trimesh(d["vertices"], d["triangles"], process=False,
                                 vertex_colors=(np.clip(d["colors"], 0, 1) * 255 + 0.5).astype(np.uint8))
            handle = self.server.scene.add_mesh_trimesh("/mesh", tm)
        else:
            handle = self.server.scene.add_mesh_simple("/mesh", d["vertices"], d["triangles"],
                                                       color=_rgb255(MESH_RGB), side="double")
        self._replace("mesh", handle)

    def _send_gt(self, scene: Scene) -> None:
        d = self._item(scene, "gt")
        if d is None:
            self._replace("gt", None)
            return
        self._replace("gt", self.server.scene.add_mesh_simple("/gt", d["vertices"], d["triangles"],
                                                              color=_rgb255(GT_RGB), side="double"))

    def _send_points(self, scene: Scene) -> None:
        pts = self.state.inputs.points
        if pts is None:
            return
        size = 0.004 * 2 * scene.radius
        self._replace("points", self.server.scene.add_point_cloud(
            "/points", np.asarray(pts, dtype=np.float32), _rgb255(POINTS_RGB), point_size=size,
            visible=self.state.show_points))

    def _send_slice(self) -> None:
        """The slice as a picture (colours and zero contour) on its plane; unlit, so colours stay exact."""
        from sdfrecon.viewer.sdf_slice import slice_image

        state = self.state
        if state.inputs.field is None:
            return
        limit = float(state.options.sdf_limit)
        s = state.inputs.sdf_slice(state.plane, self.slice_resolution)
        image = slice_image(s, -limit, limit)
        center = np.zeros(3)
        center[s.axis] = s.coordinate
        center[s.u_axis] = (s.u[0] + s.u[-1]) / 2
        center[s.v_axis] = (s.v[0] + s.v[-1]) / 2
        rotation = np.zeros((3, 3))  # picture x -> +u, picture y (up) -> +v, normal -> +axis (u x v = axis)
        rotation[s.u_axis, 0] = rotation[s.v_axis, 1] = rotation[s.axis, 2] = 1.0
        handle = self.server.scene.add_image("/slice", image, float(s.u[-1] - s.u[0]), float(s.v[-1] - s.v[0]),
                                             position=tuple(center), wxyz=_wxyz(rotation),
                                             visible=state.show_slice, cast_shadow=False, receive_shadow=False)
        self._replace("slice", handle)

    def _send_snapshots(self) -> None:
        for k, (step, mesh) in enumerate(self.snapshots):
            self._replace(f"snapshot{k}", self.server.scene.add_mesh_simple(
                f"/snapshots/step_{step:06d}", np.asarray(mesh.vertices, dtype=np.float32),
                np.asarray(mesh.faces, dtype=np.int32), color=_rgb255(MESH_RGB), side="double", visible=False))

    # ----------------------------------------------------------------- gui

    def _build_gui(self, scene: Scene) -> None:
        from sdfrecon.viewer.annotate import colorbar_panel

        gui, state = self.server.gui, self.state
        gui.add_markdown(f"**{state.inputs.name}**")
        if state.has("points"):
            box = gui.add_checkbox("input points", state.show_points)
            box.on_update(lambda e: self._toggle(lambda: setattr(state, "show_points", e.target.value)))
        if state.has("gt"):
            box = gui.add_checkbox("ground truth", state.show_gt)
            box.on_update(lambda e: self._toggle(lambda: setattr(state, "show_gt", e.target.value)))
            layout = gui.add_dropdown("ground truth layout", ("side", "overlay"), initial_value=state.options.gt_layout)
            layout.on_update(lambda e: self._change_gt_layout(e.target.value))
        self._bars: dict[str, object] = {}
        if state.has("errors"):
            box = gui.add_checkbox("error heat-map", state.heatmap)
            box.on_update(lambda e: self._change_heatmap(e.target.value))
            bar = next(b for b in state.inputs.scene(replace(state.options, clip_side=0), points=False, gt=False,
                                                     heatmap=True).colorbars if b.colormap == "error")
            self._bars["error"] = gui.add_image(colorbar_panel(bar, 240, width=160), label=bar.describe(),
                                                visible=state.heatmap)
        if state.has("field"):
            with gui.add_folder("SDF slice"):
                show = gui.add_checkbox("show slice", state.show_slice)
                show.on_update(lambda e: self._change_slice(show=e.target.value))
                axis = gui.add_dropdown("axis", ("x", "y", "z"), initial_value=state.plane.axis)
                axis.on_update(lambda e: self._change_slice(axis=e.target.value))
                pos = gui.add_slider("position", -1.0, 1.0, 0.01, float(state.plane.offset),
                                     hint="-1 = low face of the bounding box, 0 = centre, 1 = high face")
                pos.on_update(lambda e: self._change_slice(offset=e.target.value))
                cut = gui.add_checkbox("cut the mesh at the slice", state.options.clip_side != 0)
                cut.on_update(lambda e: self._change_slice(cut=e.target.value))
                from sdfrecon.viewer.scene import ColorBar

                limit = float(state.options.sdf_limit)
                bar = ColorBar(f"{state.inputs.field_title} on the slice", "sdf", -limit, limit)
                self._bars["sdf"] = gui.add_image(colorbar_panel(bar, 240, width=160), label=bar.describe())
        if self.snapshots:
            with gui.add_folder("training"):
                n = len(self.snapshots)
                marks = ((0, f"{self.snapshots[0][0]}"), (n, "result"))
                step = gui.add_slider("snapshot", 0, n, 1, n, marks=marks,
                                      hint="training snapshots by step; the last position is the result")
                self._step_label = gui.add_markdown("showing: the result")
                step.on_update(lambda e: self._show_snapshot(int(e.target.value)))
                play = gui.add_checkbox("play", False)
                play.on_update(lambda e: self._play(step, e.target.value))

    def _toggle(self, change: Callable[[], None]) -> None:
        with self._lock:
            change()
            if "points" in self._handles:
                self._handles["points"].visible = self.state.show_points
            if "gt" in self._handles:
                self._handles["gt"].visible = self.state.show_gt

    def _change_gt_layout(self, layout: str) -> None:
        with self._lock:
            self.state.options = replace(self.state.options, gt_layout=layout)
            self._send_gt(self.state.scene())
            self._handles["gt"].visible = self.state.show_gt

    def _change_heatmap(self, on: bool) -> None:
        with self._lock:
            self.state.heatmap = on
            self._send_mesh(self.state.scene())
            self._bars["error"].visible = on

    def _change_slice(self, *, show: bool | None = None, axis: str | None = None, offset: float | None = None,
                      cut: bool | None = None) -> None:
        with self._lock:
            state = self.state
            if show is not None:
                state.show_slice = show
            if axis is not None or offset is not None:
                state.plane = SlicePlane(axis or state.plane.axis,
                                         float(offset) if offset is not None else state.plane.offset)
            if cut is not None:
                state.options = replace(state.options, clip_side=1 if cut else 0)
            if axis is not None or offset is not None:
                self._send_slice()
            elif show is not None:
                self._handles["slice"].visible = show
            if state.options.clip_side or cut is not None:  # the cut follows the plane
                self._send_mesh(state.scene())

    def _show_snapshot(self, index: int) -> None:
        with self._lock:
            for k in range(len(self.snapshots)):
                self._handles[f"snapshot{k}"].visible = k == index
            self._handles["mesh"].visible = index >= len(self.snapshots)
            self._step_label.content = ("showing: the result" if index >= len(self.snapshots)
                                        else f"showing: step {self.snapshots[index][0]}")

    def _play(self, slider, on: bool) -> None:
        self._playing = on
        if not on:
            return

        def run() -> None:
            while self._playing:
                slider.value = (int(slider.value) + 1) % (len(self.snapshots) + 1)
                time.sleep(PLAY_SECONDS)

        threading.Thread(target=run, daemon=True).start()


def serve(state: ViewerState, *, host: str = LOOPBACK, port: int = DEFAULT_PORT,
          snapshots: Sequence[tuple[int, object]] = (), printer=print) -> None:
    """Serve ``state`` until Ctrl-C / SIGTERM (which raise KeyboardInterrupt here: the server stops).

    Raises
    ------
    InputError
        The port cannot be bound.
    """
    from sdfrecon.base.errors import InputError

    try:
        viewer = WebViewer(state, host=host, port=port, snapshots=snapshots)
    except OSError as exc:
        raise InputError(f"cannot serve on {host}:{port}: {exc.strerror or exc}; pass another --port") from None
    for line in access_lines(viewer.host, viewer.port):
        printer(line)
    try:
        while True:  # the server runs in its own threads; this one only waits, so signals act at once
            time.sleep(0.2)
    finally:
        viewer.stop()


def _rgb255(rgb) -> tuple[int, int, int]:
    return tuple(int(round(255 * c)) for c in rgb)


def _wxyz(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (w, x, y, z) of a proper rotation matrix."""
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return float(w), float(x), float(y), float(z)
