"""Finished pictures: a scene with its colour bars, turntables, snapshot sequences
and the benchmark contact sheet.

These glue :mod:`sdfrecon.viewer.scene`, :mod:`sdfrecon.viewer.camera`, :mod:`sdfrecon.viewer.render` and
:mod:`sdfrecon.viewer.annotate` together; ``sdfrecon render`` and the benchmark call them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from sdfrecon.viewer.annotate import BAR_PANEL_WIDTH, grid, label, save_png, with_colorbars
from sdfrecon.viewer.camera import Camera, preset_camera, turntable_cameras
from sdfrecon.viewer.render import render_views
from sdfrecon.viewer.scene import Scene, SceneOptions, bounding_sphere, build_scene

SNAPSHOT_PATTERN = re.compile(r"step_(\d+)\.(ply|obj|off|stl)$", re.IGNORECASE)
"""Files written by ``sdfrecon reconstruct --snapshot-every K``."""


def scene_width(width: int, scene: Scene) -> int:
    """Width left for the 3D view once the scene's colour-bar panels take their share."""
    return width - BAR_PANEL_WIDTH * len(scene.colorbars)


def scene_cameras(scene: Scene, width: int, height: int, *, view: str = "iso", turntable: int = 0,
                  fov: float = 30.0) -> list[Camera]:
    """Cameras framing ``scene``: one preset ``view``, or ``turntable`` frames around the up axis."""
    aspect = scene_width(width, scene) / height
    if turntable:
        return turntable_cameras(turntable, scene.center, scene.radius, up=scene.up, fov=fov, aspect=aspect)
    return [preset_camera(view, scene.center, scene.radius, up=scene.up, fov=fov, aspect=aspect)]


def render_pictures(scene: Scene, cameras: Sequence[Camera], width: int = 800, height: int = 600, *,
                    supersample: int = 2, backend: str = "auto",
                    frame_timeout: float | None = None) -> list[np.ndarray]:
    """Render ``scene`` for each camera and append its colour bars.

    Returns
    -------
    list of (height, width, 3) uint8 ndarray
        The 3D view takes the width the colour-bar panels leave.
    """
    view_w = scene_width(width, scene)
    if view_w < 32:
        raise ValueError(f"picture width {width} leaves no room for the view beside {len(scene.colorbars)} colour bar(s)")
    images = render_views(scene, cameras, view_w, height, supersample=supersample, backend=backend,
                          frame_timeout=frame_timeout)
    return [with_colorbars(img, scene.colorbars) for img in images]


def view_pictures(inputs, options: SceneOptions | None = None, *, width: int = 800, height: int = 600,
                  view: str = "iso", turntable: int = 0, plane=None, cut: str = "near", points: bool = True,
                  gt: bool = True, heatmap: bool = True, slice_resolution: int = 256, supersample: int = 2,
                  backend: str = "auto", frame_timeout: float | None = None) -> list[np.ndarray]:
    """Pictures of a loaded view (``sdfrecon render``): one preset view or a turntable.

    Parameters
    ----------
    inputs : viewer.inputs.ViewInputs
    options : SceneOptions, optional
        Layout, shading, up axis; ``clip_side`` is chosen here per camera.
    width, height : int
        Picture size including colour-bar panels.
    view : str
        Camera preset (ignored with ``turntable``).
    turntable : int
        Number of frames around the up axis; 0 = one picture.
    plane : viewer.sdf_slice.SlicePlane, optional
        Draw the SDF slice there.
    cut : str
        With a slice: hide the mesh on the side of the plane facing each camera
        (``near``: the whole slice shows), on the other side (``far``: the rest
        of the mesh stands on the slice), or nowhere (``none``).
    points, gt, heatmap : bool
        Parts to draw when loaded.
    slice_resolution, supersample, backend, frame_timeout
        See :meth:`ViewInputs.scene` and :func:`sdfrecon.viewer.render.render_scene`.

    Returns
    -------
    list of (height, width, 3) uint8 ndarray
    """
    from dataclasses import replace

    if cut not in ("near", "far", "none"):
        raise ValueError(f"cut must be near, far or none, got {cut!r}")
    options = options or SceneOptions()
    parts = dict(points=points, gt=gt, heatmap=heatmap, plane=plane, slice_resolution=slice_resolution)
    scene = inputs.scene(replace(options, clip_side=0), **parts)
    cameras = scene_cameras(scene, width, height, view=view, turntable=turntable)
    if plane is None or cut == "none":
        return render_pictures(scene, cameras, width, height, supersample=supersample, backend=backend,
                               frame_timeout=frame_timeout)
    pictures = []
    for cam in cameras:  # cutting away the near side differs from camera to camera
        side = clip_side_for(cam, plane.index) * (1 if cut == "near" else -1)
        cut_scene = inputs.scene(replace(options, clip_side=side), **parts)
        pictures += render_pictures(cut_scene, [cam], width, height, supersample=supersample, backend=backend,
                                    frame_timeout=frame_timeout)
    return pictures


def clip_side_for(camera: Camera, axis: int) -> int:
    """+1 or -1: the side of a slice plane (along ``axis``) that faces ``camera``.

    Hiding the mesh on that side uncovers the slice. 1 when the camera looks
    along the plane.
    """
    d = float(camera.eye[axis] - camera.center[axis])
    return -1 if d < 0 else 1


# ----------------------------------------------------------- snapshots


def snapshot_files(folder: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the meshes in a ``--snapshot-every`` folder, by step.

    Raises
    ------
    InputError
        Not a folder, or no ``step_NNNNNN`` meshes in it.
    """
    from sdfrecon.base.errors import InputError

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("is not a folder of training snapshots", folder)
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := SNAPSHOT_PATTERN.match(p.name)))
    if not found:
        raise InputError("holds no training snapshots (step_NNNNNN.ply files from "
                         "'sdfrecon reconstruct --snapshot-every K')", folder)
    return found


def snapshot_pictures(folder: str | Path, *, width: int = 400, height: int = 400, view: str = "iso",
                      up: str = "y", supersample: int = 1, backend: str = "auto",
                      frame_timeout: float | None = None) -> list[np.ndarray]:
    """One labelled picture per training snapshot, all from the same camera.

    The camera frames the union of all snapshots, so the shape grows or
    shrinks in place from frame to frame.
    """
    from sdfrecon.viewer.loading import load_mesh

    found = snapshot_files(folder)
    meshes = [(step, load_mesh(path)) for step, path in found]
    center, radius = bounding_sphere([np.asarray(m.vertices) for _, m in meshes])
    camera = preset_camera(view, center, radius, up=up, aspect=width / height)
    pictures = []
    for step, mesh in meshes:
        scene = build_scene(mesh, options=SceneOptions(up=up))
        image = render_views(scene, [camera], width, height, supersample=supersample, backend=backend,
                             frame_timeout=frame_timeout)[0]
        pictures.append(label(image, f"step {step}"))
    return pictures


# ------------------------------------------------------- contact sheet


def benchmark_meshes(out_dir: str | Path) -> dict[tuple[str, str], Path]:
    """Meshes of a ``sdfrecon benchmark`` output folder: ``meshes/<shape>/<method>.<ext>``.

    Returns
    -------
    dict
        ``(shape, method) -> path``.

    Raises
    ------
    InputError
        No ``meshes/`` folder or no meshes in it.
    """
    from sdfrecon.base.errors import InputError
    from sdfrecon.viewer.loading import MESH_EXTENSIONS

    root = Path(out_dir) / "meshes"
    if not root.is_dir():
        raise InputError("has no meshes/ folder (is it a 'sdfrecon benchmark' output folder?)", out_dir)
    found = {(p.parent.name, p.stem): p for p in sorted(root.glob("*/*"))
             if p.is_file() and p.suffix.lower() in MESH_EXTENSIONS}
    if not found:
        raise InputError("has no meshes under meshes/<shape>/<method>.ply", out_dir)
    return found


def contact_sheet(mesh_paths: Mapping[tuple[str, str], str | Path], out_png: str | Path, *,
                  cell_size: tuple[int, int] = (240, 240), view: str = "iso", up: str = "y",
                  methods: Sequence[str] | None = None, shapes: Sequence[str] | None = None,
                  supersample: int = 1, backend: str = "auto", frame_timeout: float | None = None) -> Path:
    """Render one picture per (shape, method) into a labelled grid and save it as PNG.

    Parameters
    ----------
    mesh_paths : mapping
        ``(shape, method) -> mesh file``.
    out_png : str or Path
        Output PNG (written atomically).
    cell_size : (width, height)
        Pixels per picture.
    view : str
        Camera preset (:data:`sdfrecon.viewer.camera.VIEWS`); every method of a shape is
        seen from the same camera, framing all of that shape's meshes.
    up : str
        Up axis of the presets.
    methods, shapes : sequence of str, optional
        Column and row order; default sorted. A missing pair leaves its cell
        marked ``missing``; an unreadable mesh marks it ``unreadable``.
    supersample : int
    backend : str
    frame_timeout : float, optional
        See :func:`sdfrecon.viewer.render.render_scene`.

    Returns
    -------
    Path
        ``out_png``.
    """
    shapes, methods, rows = sheet_cells(mesh_paths, cell_size=cell_size, view=view, up=up, methods=methods,
                                        shapes=shapes, supersample=supersample, backend=backend,
                                        frame_timeout=frame_timeout)
    return save_png(grid(rows, row_labels=shapes, col_labels=methods, cell_size=cell_size), out_png)


def sheet_cells(mesh_paths: Mapping[tuple[str, str], str | Path], *, cell_size: tuple[int, int] = (240, 240),
                view: str = "iso", up: str = "y", methods: Sequence[str] | None = None,
                shapes: Sequence[str] | None = None, supersample: int = 1, backend: str = "auto",
                frame_timeout: float | None = None) -> tuple[list[str], list[str], list[list[np.ndarray | None]]]:
    """The pictures of :func:`contact_sheet` before they are laid out: ``(shapes, methods, rows)``,
    ``rows[i][j]`` the (H, W, 3) picture of shape i by method j, or None where there is no mesh."""
    from sdfrecon.base.errors import InputError
    from sdfrecon.viewer.loading import load_mesh

    if not mesh_paths:
        raise ValueError("contact sheet: no meshes given")
    shapes = list(shapes) if shapes is not None else sorted({s for s, _ in mesh_paths})
    methods = list(methods) if methods is not None else sorted({m for _, m in mesh_paths})
    width, height = cell_size
    rows = []
    for shape in shapes:
        meshes: dict[str, object] = {}
        for method in methods:
            path = mesh_paths.get((shape, method))
            if path is None:
                continue
            try:
                meshes[method] = load_mesh(path)
            except InputError:
                meshes[method] = None
        present = [m for m in meshes.values() if m is not None]
        row: list[np.ndarray | None] = []
        if present:
            center, radius = bounding_sphere([np.asarray(m.vertices) for m in present])
            camera = preset_camera(view, center, radius, up=up, aspect=width / height)
        for method in methods:
            mesh = meshes.get(method)
            if mesh is None:
                row.append(None if method not in meshes else _unreadable_cell(width, height))
                continue
            scene = build_scene(mesh, options=SceneOptions(up=up))
            row.append(render_views(scene, [camera], width, height, supersample=supersample, backend=backend,
                                    frame_timeout=frame_timeout)[0])
        rows.append(row)
    return shapes, methods, rows


def _unreadable_cell(width: int, height: int) -> np.ndarray:
    blank = np.full((height, width, 3), 255, dtype=np.uint8)
    return label(blank, "unreadable")
