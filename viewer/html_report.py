"""``sdfrecon report``: one self-contained HTML file for a benchmark folder.

The file holds everything (no server, no network): the results table and the
per-method means, one bar chart per metric, a picture per (shape, method)
rendered offscreen, and an interactive 3D view of every mesh. Charts and 3D
views are plotly figures; plotly's JavaScript is inlined once (~4.7 MB), and
meshes are decimated (quadric decimation, Open3D) to at most ``max_faces``
triangles each so the file stays small enough to mail or keep as a CI
artifact. Pictures are PNGs embedded as data URIs.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from sdfrecon.viewer.scene import MESH_RGB

MAX_FACES = 20_000
"""Triangles per mesh in the interactive views."""
PICTURE_SIZE = (320, 320)
METRICS: tuple[tuple[str, str, str], ...] = (
    ("chamfer_l1", "CD-L1", "lower is better"),
    ("chamfer_l1_rel", "CD-L1 / GT diagonal", "lower is better"),
    ("hausdorff", "Hausdorff", "lower is better"),
    ("normal_consistency", "normal consistency", "higher is better"),
    ("fscore", "F-score", "higher is better"),
    ("iou", "volumetric IoU", "higher is better"),
    ("seconds", "reconstruction seconds", "lower is better"),
)
"""(column, title, direction) of the metric charts; a chart is left out when its column is empty."""


def build_report(results_dir: str | Path, *, title: str | None = None, pictures: bool = True,
                 max_faces: int = MAX_FACES, backend: str = "auto", frame_timeout: float | None = None) -> str:
    """The HTML text of the report of a ``sdfrecon benchmark`` folder.

    Parameters
    ----------
    results_dir : path
        Holds ``results.csv`` and ``meshes/<shape>/<method>.ply``.
    title : str, optional
    pictures : bool
        Render a still per mesh (offscreen; ``backend``, ``frame_timeout`` as in
        :func:`sdfrecon.viewer.render.render_scene`).
    max_faces : int
        Decimate interactive meshes to at most this many triangles.

    Raises
    ------
    InputError
        No ``results.csv`` (or no rows in it).
    """
    import plotly.io as pio

    from sdfrecon.base.errors import InputError
    from sdfrecon.evaluation.report import read_rows

    root = Path(results_dir)
    rows = read_rows(root / "results.csv")
    if not rows:
        raise InputError("has no results.csv with results (is it a 'sdfrecon benchmark' output folder?)", root)
    title = title or f"Benchmark results: {root.resolve().name}"
    shapes = list(dict.fromkeys(r["shape"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    meshes = _mesh_files(root, rows)

    parts = [f"<h1>{_e(title)}</h1>",
             f"<p>{len(shapes)} shape(s) &times; {len(methods)} method(s), from <code>{_e(str(root))}</code>. "
             "Distances are in each shape's own units. Everything in this file works offline.</p>"]
    parts.append("<h2>Mean per method</h2>" + _means_table(rows, methods))
    parts.append("<h2>All results</h2>" + _results_table(rows))
    figures = _metric_figures(rows, shapes, methods)
    if figures:
        parts.append("<h2>Metrics</h2>")
    first = True
    for fig in figures:
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=first, config={"displaylogo": False}))
        first = False
    stills = _pictures(meshes, backend, frame_timeout) if pictures else {}
    parts.append("<h2>Shapes</h2>")
    for shape in shapes:
        parts.append(f"<h3>{_e(shape)}</h3><div class='row'>")
        for method in methods:
            path = meshes.get((shape, method))
            cell = [f"<div class='cell'><div class='label'>{_e(method)}</div>"]
            if path is None:
                cell.append("<p class='missing'>no mesh</p>")
            else:
                if (shape, method) in stills:
                    cell.append(f"<img alt='{_e(shape)} / {_e(method)}' src='data:image/png;base64,"
                                f"{stills[(shape, method)]}'>")
                fig = mesh_figure(path, max_faces=max_faces)
                if fig is not None:
                    cell.append("<div class='mesh3d'>" + pio.to_html(fig, full_html=False, include_plotlyjs=first,
                                                                     config={"displaylogo": False}) + "</div>")
                    first = False
            cell.append("</div>")
            parts.append("".join(cell))
        parts.append("</div>")
    return _page(title, "\n".join(parts))


def write_report(results_dir: str | Path, out_html: str | Path, **options) -> Path:
    """Build the report (:func:`build_report`) and write it atomically."""
    from sdfrecon.base.atomic import atomic_write_text

    return atomic_write_text(out_html, build_report(results_dir, **options))


def mesh_figure(path: str | Path, *, max_faces: int = MAX_FACES):
    """A plotly figure of the mesh file (decimated, lit, its own aspect ratio), or None if unreadable."""
    import plotly.graph_objects as go

    from sdfrecon.base.errors import InputError
    from sdfrecon.viewer.loading import load_mesh

    try:
        mesh = load_mesh(path)
    except InputError:
        return None
    vertices, faces = decimate(np.asarray(mesh.vertices), np.asarray(mesh.faces), max_faces)
    rgb = "rgb({},{},{})".format(*(int(255 * c) for c in MESH_RGB))
    trace = go.Mesh3d(x=vertices[:, 0], y=vertices[:, 1], z=vertices[:, 2], i=faces[:, 0], j=faces[:, 1],
                      k=faces[:, 2], color=rgb, flatshading=False, hoverinfo="skip",
                      lighting={"ambient": 0.45, "diffuse": 0.7, "specular": 0.05, "roughness": 0.9},
                      lightposition={"x": -100, "y": 200, "z": 300})
    fig = go.Figure(trace)
    fig.update_layout(height=320, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                      scene={"aspectmode": "data", "xaxis": {"visible": False}, "yaxis": {"visible": False},
                             "zaxis": {"visible": False}})
    return fig


def decimate(vertices: np.ndarray, faces: np.ndarray, max_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_faces`` triangles (Open3D quadric decimation; unchanged when already small)."""
    if len(faces) <= max_faces:
        return vertices, faces
    import open3d as o3d

    m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices.astype(np.float64)),
                                  o3d.utility.Vector3iVector(faces.astype(np.int32)))
    m = m.simplify_quadric_decimation(target_number_of_triangles=int(max_faces))
    return np.asarray(m.vertices), np.asarray(m.triangles)


# ------------------------------------------------------------------ pieces


def _mesh_files(root: Path, rows: Sequence[dict]) -> dict[tuple[str, str], Path]:
    from sdfrecon.base.errors import InputError
    from sdfrecon.viewer.pictures import benchmark_meshes

    try:
        found = benchmark_meshes(root)
    except InputError:
        found = {}
    ok = {(r["shape"], r["method"]) for r in rows if r["status"] == "ok"}
    return {k: p for k, p in found.items() if k in ok}


def _pictures(meshes: dict, backend: str, frame_timeout: float | None) -> dict[tuple[str, str], str]:
    """Base64 PNG per (shape, method): one offscreen still each, every method of a shape from one camera."""
    from sdfrecon.viewer.pictures import sheet_cells

    shapes, methods, rows = sheet_cells(meshes, cell_size=PICTURE_SIZE, backend=backend, frame_timeout=frame_timeout)
    return {(shape, method): _png64(cell) for shape, row in zip(shapes, rows) for method, cell in zip(methods, row)
            if cell is not None}


def _png64(image: np.ndarray) -> str:
    from sdfrecon.viewer.annotate import png_bytes

    return base64.b64encode(png_bytes(image)).decode("ascii")


def _metric_figures(rows, shapes, methods) -> list:
    import plotly.graph_objects as go

    from sdfrecon.evaluation.report import number

    figures = []
    for column, title, direction in METRICS:
        values = {(r["shape"], r["method"]): number(r, column) for r in rows if r["status"] == "ok"}
        if not any(math.isfinite(v) for v in values.values()):
            continue
        fig = go.Figure([go.Bar(name=m, x=shapes, y=[values.get((s, m), math.nan) for s in shapes])
                         for m in methods])
        fig.update_layout(barmode="group", height=320, title=f"{title} ({direction})",
                          margin={"l": 50, "r": 10, "t": 40, "b": 40}, legend={"orientation": "h"})
        figures.append(fig)
    return figures


def _results_table(rows) -> str:
    from sdfrecon.evaluation.report import REPORTED, number

    head = "".join(f"<th>{_e(h)}</th>" for h in ("shape", "method", "status", *[h for _, h in REPORTED]))
    body = []
    for r in rows:
        cells = [r["shape"], r["method"], r["status"] if r["status"] == "ok" else f"{r['status']}: {r['error']}"]
        cells += [_num(number(r, c)) for c, _ in REPORTED]
        body.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _means_table(rows, methods) -> str:
    from sdfrecon.evaluation.report import REPORTED, number

    head = "".join(f"<th>{_e(h)}</th>" for h in ("method", "ok", *[h for _, h in REPORTED]))
    body = []
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        ok = [r for r in mine if r["status"] == "ok"]
        cells = [m, f"{len(ok)}/{len(mine)}"]
        for column, _ in REPORTED:
            vals = [number(r, column) for r in ok]
            vals = [v for v in vals if math.isfinite(v)]
            cells.append(_num(float(np.mean(vals))) if vals else "")
        body.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _num(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.4g}"


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _page(title: str, body: str) -> str:
    style = ("body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
             "table{border-collapse:collapse;margin:8px 0 24px;font-size:13px}"
             "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "th:first-child,td:first-child,td:nth-child(2){text-align:left}"
             ".row{display:flex;flex-wrap:wrap;gap:12px}.cell{width:340px}"
             ".cell img{width:320px;height:320px;display:block}.label{font-weight:600;margin:4px 0}"
             ".missing{color:#999}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>")
