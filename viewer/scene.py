"""What to draw, as Open3D geometry, built without a window or a renderer.

:func:`build_scene` is a pure function from arrays (a mesh, optional input
points, ground truth, per-vertex errors, an SDF slice) to a :class:`Scene`: a
list of named Open3D geometries, each with a drawing style, plus the colour
bars that explain its colours and the bounding sphere the cameras frame. The
offscreen renderer (:mod:`sdfrecon.viewer.render`) and the window
(:mod:`sdfrecon.viewer.interactive`) both draw a Scene; neither decides what is in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trimesh

from sdfrecon.viewer.camera import view_frame
from sdfrecon.viewer.colormap import error_range, map_values, symmetric_range

MESH_RGB = (0.78, 0.78, 0.76)
"""Colour of a mesh without a heat-map."""
GT_RGB = (0.60, 0.78, 0.58)
"""Colour of the ground-truth mesh."""
POINTS_RGB = (0.10, 0.35, 0.75)
"""Colour of input points."""

STYLES = ("lit", "unlit", "points", "lines")
"""How an item is drawn: shaded triangles, flat-coloured triangles, points, lines."""


@dataclass
class SceneItem:
    """One named geometry and how to draw it.

    Attributes
    ----------
    name : str
        Unique key (``mesh``, ``points``, ``gt``, ``slice``, ``contour``).
    geometry : open3d.geometry.Geometry3D
        TriangleMesh, PointCloud or LineSet, world coordinates, colours set.
    style : str
        One of :data:`STYLES`.
    size : float
        Point size or line width, pixels.
    visible : bool
    """

    name: str
    geometry: Any
    style: str = "lit"
    size: float = 1.0
    visible: bool = True


@dataclass(frozen=True)
class ColorBar:
    """The legend of a colour-mapped quantity.

    Attributes
    ----------
    title : str
    colormap : str
        Name in :mod:`sdfrecon.viewer.colormap`.
    vmin, vmax : float
        Values at the ends of the map (world units for distances).
    """

    title: str
    colormap: str
    vmin: float
    vmax: float

    def describe(self) -> str:
        """One console line, e.g. ``error (distance to GT): 0 (dark blue) .. 0.0123 (dark red)``."""
        low, high = {"error": ("dark blue", "dark red"), "sdf": ("blue, inside", "red, outside")}.get(
            self.colormap, ("low", "high"))
        return f"{self.title}: {self.vmin:.4g} ({low}) .. {self.vmax:.4g} ({high})"


@dataclass
class Scene:
    """Named geometries with styles, colour bars and a bounding sphere.

    Attributes
    ----------
    items : list of SceneItem
    colorbars : list of ColorBar
    center : (3,) float64 ndarray
    radius : float
        Bounding sphere of every item, world units.
    up : str
        Up axis for camera presets (x, y or z).
    """

    items: list[SceneItem]
    colorbars: list[ColorBar] = field(default_factory=list)
    center: np.ndarray = field(default_factory=lambda: np.zeros(3))
    radius: float = 1.0
    up: str = "y"

    def item(self, name: str) -> SceneItem:
        """The item called ``name`` (KeyError if absent)."""
        for it in self.items:
            if it.name == name:
                return it
        raise KeyError(f"scene has no item {name!r}; it has {', '.join(i.name for i in self.items)}")

    def names(self) -> list[str]:
        return [it.name for it in self.items]


@dataclass(frozen=True)
class SceneOptions:
    """How :func:`build_scene` lays out and colours things."""

    gt_layout: str = "side"
    """``side``: ground truth beside the result (along the view's right axis); ``overlay``: in place."""
    error_max: float | None = None
    """Error at the top of the heat-map, world units; default: the 99th percentile."""
    shading: str = "lit"
    """``lit`` or ``unlit`` (exact colours, for checking heat-maps) for the meshes."""
    point_size: float = 2.0
    """Input point size, pixels."""
    up: str = "y"
    """Up axis (x, y, z) of the camera presets; also fixes the side-by-side direction."""
    clip_side: int = 0
    """With a slice: hide the mesh faces on the +axis (1) or -axis (-1) side of the plane, 0 none."""
    sdf_limit: float | None = None
    """SDF colour range is ``[-sdf_limit, sdf_limit]``; default: the 99th percentile of |SDF| on the slice."""


def build_scene(mesh: trimesh.Trimesh, *, points: np.ndarray | None = None, gt: trimesh.Trimesh | None = None,
                errors: np.ndarray | None = None, sdf_slice=None, options: SceneOptions | None = None) -> Scene:
    """Assemble the scene shown by ``sdfrecon view`` and ``sdfrecon render``.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        The reconstruction, world coordinates.
    points : (N, 3) ndarray, optional
        Input points, drawn over the reconstruction.
    gt : trimesh.Trimesh, optional
        Ground truth in the same frame; beside the result or overlaid (``options.gt_layout``).
    errors : (V,) ndarray, optional
        Per-vertex error of ``mesh`` (distance to the ground truth, world units >= 0);
        colours the mesh with the ``error`` map and adds a colour bar.
    sdf_slice : viewer.sdf_slice.SdfSlice, optional
        A sampled plane; adds the coloured plane, its zero contour and an SDF colour bar.
    options : SceneOptions, optional

    Returns
    -------
    Scene
        Items ``mesh`` and, when given, ``points``, ``gt``, ``slice``, ``contour``.
    """
    options = options or SceneOptions()
    if options.gt_layout not in ("side", "overlay"):
        raise ValueError(f"gt_layout must be 'side' or 'overlay', got {options.gt_layout!r}")
    if options.shading not in ("lit", "unlit"):
        raise ValueError(f"shading must be 'lit' or 'unlit', got {options.shading!r}")
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    items: list[SceneItem] = []
    bars: list[ColorBar] = []

    if errors is not None:
        errors = np.asarray(errors, dtype=np.float64).reshape(-1)
        if errors.shape[0] != len(vertices):
            raise ValueError(f"errors must be ({len(vertices)},) for this mesh, got {errors.shape}")
        lo, hi = error_range(errors, options.error_max)
        colors = map_values(errors, lo, hi, "error")
        bars.append(ColorBar("error (distance to GT)", "error", lo, hi))
    else:
        colors = np.tile(MESH_RGB, (len(vertices), 1))

    if sdf_slice is not None and options.clip_side:
        faces = _faces_behind_plane(vertices, faces, sdf_slice.axis, sdf_slice.coordinate, options.clip_side)
    items.append(SceneItem("mesh", triangle_mesh(vertices, faces, colors), options.shading))

    if points is not None:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        items.append(SceneItem("points", point_cloud(pts, POINTS_RGB), "points", size=options.point_size))

    if gt is not None:
        gv = np.asarray(gt.vertices, dtype=np.float64)
        if options.gt_layout == "side":
            gv = gv + side_offset(vertices, gv, options.up)
        items.append(SceneItem("gt", triangle_mesh(gv, np.asarray(gt.faces), np.tile(GT_RGB, (len(gv), 1))),
                               options.shading))

    if sdf_slice is not None:
        from sdfrecon.viewer.sdf_slice import slice_geometry

        if options.sdf_limit is not None:
            s_lo, s_hi = -float(options.sdf_limit), float(options.sdf_limit)
        else:
            s_lo, s_hi = symmetric_range(sdf_slice.values)
        plane, contour = slice_geometry(sdf_slice, s_lo, s_hi)
        items.append(SceneItem("slice", plane, "unlit"))
        items.append(SceneItem("contour", contour, "unlit"))
        bars.append(ColorBar(f"{sdf_slice.title} on the slice", "sdf", s_lo, s_hi))

    center, radius = bounding_sphere([_item_points(it) for it in items])
    return Scene(items=items, colorbars=bars, center=center, radius=radius, up=options.up)


def triangle_mesh(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None):
    """Open3D TriangleMesh from (V, 3) vertices, (F, 3) faces and optional (V, 3) colours in [0, 1],
    with vertex normals computed for shading."""
    import open3d as o3d

    m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(vertices, dtype=np.float64)),
                                  o3d.utility.Vector3iVector(np.asarray(faces, dtype=np.int32)))
    if colors is not None:
        m.vertex_colors = o3d.utility.Vector3dVector(np.asarray(colors, dtype=np.float64))
    m.compute_vertex_normals()
    return m


def point_cloud(points: np.ndarray, rgb=POINTS_RGB):
    """Open3D PointCloud of (N, 3) points in one colour."""
    import open3d as o3d

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, dtype=np.float64)))
    pc.paint_uniform_color(rgb)
    return pc


def side_offset(left: np.ndarray, right: np.ndarray, up: str = "y", gap: float = 0.1) -> np.ndarray:
    """Translation (3,) that puts vertex set ``right`` beside ``left`` along the view's right axis.

    The two sets end up separated by ``gap`` times the larger extent, centred
    on each other in the other two axes.
    """
    r_axis, _, _ = view_frame(up)
    lo_l, hi_l = left.min(axis=0), left.max(axis=0)
    lo_r, hi_r = right.min(axis=0), right.max(axis=0)
    size = float(max((hi_l - lo_l).max(), (hi_r - lo_r).max()))
    shift = (lo_l + hi_l) / 2.0 - (lo_r + hi_r) / 2.0  # centre on the left set first
    # then slide along the right axis until the low face clears the left set's high face
    along = float(r_axis @ (hi_l - (lo_r + shift))) + gap * size
    return shift + r_axis * along


def bounding_sphere(point_sets: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Centre (of the joint bounding box) and radius (farthest point from it) of point sets."""
    pts = np.concatenate([p for p in point_sets if len(p)]) if any(len(p) for p in point_sets) else np.zeros((1, 3))
    center = (pts.min(axis=0) + pts.max(axis=0)) / 2.0
    radius = float(np.linalg.norm(pts - center, axis=1).max())
    return center, radius if radius > 0 else 1.0


def _item_points(item: SceneItem) -> np.ndarray:
    g = item.geometry
    pts = g.vertices if hasattr(g, "vertices") else g.points
    return np.asarray(pts)


def _faces_behind_plane(vertices: np.ndarray, faces: np.ndarray, axis: int, coordinate: float, side: int) -> np.ndarray:
    """Faces whose centroid is not on the ``side`` (+1/-1) of the plane ``x[axis] = coordinate``.

    Whole faces are kept or dropped (no new vertices), so per-vertex colours stay valid.
    """
    centroid = vertices[faces, axis].mean(axis=1)
    keep = (centroid - coordinate) * np.sign(side) <= 0
    return faces[keep]
