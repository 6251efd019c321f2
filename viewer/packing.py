"""A :class:`~sdfrecon.viewer.scene.Scene` as plain NumPy arrays, to send to another process.

Open3D geometries do not pickle; the rendering worker
(:mod:`sdfrecon.viewer.render_worker`) and the web viewer rebuild them (or
their own objects) from these arrays.
"""

from __future__ import annotations

import numpy as np

from sdfrecon.viewer.scene import Scene, SceneItem


def item_kind(geometry) -> str:
    """``mesh``, ``lines`` or ``points`` for an Open3D TriangleMesh, LineSet or PointCloud."""
    if hasattr(geometry, "triangles"):
        return "mesh"
    if hasattr(geometry, "lines"):
        return "lines"
    return "points"


def pack_item(item: SceneItem) -> dict:
    """One item as a dict of arrays: ``kind``, ``vertices`` (N, 3) float32, ``colors`` (N, 3) float32
    in [0, 1], and ``triangles`` (F, 3) int32 + ``normals`` (N, 3) for meshes, ``lines`` (L, 2) int32
    for line sets; plus ``name``, ``style``, ``size``, ``visible``."""
    g = item.geometry
    kind = item_kind(g)
    if kind == "mesh":
        arrays = {"vertices": np.asarray(g.vertices, dtype=np.float32),
                  "triangles": np.asarray(g.triangles, dtype=np.int32),
                  "colors": np.asarray(g.vertex_colors, dtype=np.float32),
                  "normals": np.asarray(g.vertex_normals, dtype=np.float32)}
    elif kind == "lines":
        arrays = {"vertices": np.asarray(g.points, dtype=np.float32), "lines": np.asarray(g.lines, dtype=np.int32),
                  "colors": np.asarray(g.colors, dtype=np.float32)}
    else:
        arrays = {"vertices": np.asarray(g.points, dtype=np.float32), "colors": np.asarray(g.colors, dtype=np.float32)}
    return {"kind": kind, "name": item.name, "style": item.style, "size": float(item.size),
            "visible": bool(item.visible), **arrays}


def pack_scene(scene: Scene) -> dict:
    """A picklable copy of ``scene``: ``items`` (see :func:`pack_item`), ``center``, ``radius``, ``up``.

    Float32 halves what crosses the pipe; single precision is what the
    renderers draw with anyway.
    """
    return {"items": [pack_item(it) for it in scene.items], "center": np.asarray(scene.center, dtype=np.float64),
            "radius": float(scene.radius), "up": scene.up}


def unpack_scene(packed: dict) -> Scene:
    """The Open3D scene of :func:`pack_scene` (colour bars are not carried: renderers do not draw them)."""
    import open3d as o3d

    v3, v3i, v2i = o3d.utility.Vector3dVector, o3d.utility.Vector3iVector, o3d.utility.Vector2iVector
    items = []
    for d in packed["items"]:
        vertices = d["vertices"].astype(np.float64)
        colors = d["colors"].astype(np.float64)
        if d["kind"] == "mesh":
            g = o3d.geometry.TriangleMesh(v3(vertices), v3i(d["triangles"]))
            if len(colors):
                g.vertex_colors = v3(colors)
            if len(d["normals"]):
                g.vertex_normals = v3(d["normals"].astype(np.float64))
            # The legacy visualizer lights nothing without triangle normals (cheap: ~20 ms per 1M faces).
            g.compute_triangle_normals()
        elif d["kind"] == "lines":
            g = o3d.geometry.LineSet(v3(vertices), v2i(d["lines"]))
            if len(colors):
                g.colors = v3(colors)
        else:
            g = o3d.geometry.PointCloud(v3(vertices))
            if len(colors):
                g.colors = v3(colors)
        items.append(SceneItem(d["name"], g, d["style"], d["size"], d["visible"]))
    return Scene(items=items, center=packed["center"], radius=packed["radius"], up=packed["up"])


def primitives(packed: dict) -> int:
    """Triangles + lines + points drawn for a packed scene."""
    total = 0
    for d in packed["items"]:
        key = {"mesh": "triangles", "lines": "lines", "points": "vertices"}[d["kind"]]
        total += len(d[key]) if d["visible"] else 0
    return total
