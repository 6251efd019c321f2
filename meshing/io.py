"""Mesh output, atomically (temp file + rename), format from the file extension.

Coordinates keep their precision: PLY vertices are written as float64 when
float32 would visibly quantise them (shapes far from the origin, such as
UTM/ECEF survey data), and OBJ/OFF are written with enough digits. STL and GLB
store float32 only, so :func:`check_mesh_precision` refuses them up front for
such data instead of writing a staircase.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import trimesh

from sdfrecon.base.atomic import atomic_write_bytes
from sdfrecon.base.errors import InputError

MESH_FORMATS = (".ply", ".obj", ".off", ".stl", ".glb")
FLOAT32_ONLY_FORMATS = (".stl", ".glb")
"""Formats whose vertex coordinates are float32 by specification."""

FLOAT32_TOLERANCE = 1e-6
"""float32 is good enough while its step at the largest coordinate is below this
fraction of the shape's size (about 1/1000 of a cell of a 1024^3 grid)."""


def float32_is_enough(points: np.ndarray) -> bool:
    """Whether (N, 3) world coordinates survive a round trip through float32."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 0:
        return True
    size = float((pts.max(axis=0) - pts.min(axis=0)).max())
    magnitude = float(np.abs(pts).max())
    return float(np.spacing(np.float32(magnitude))) <= FLOAT32_TOLERANCE * max(size, np.finfo(np.float64).tiny)


def check_mesh_precision(path: str | Path, points: np.ndarray) -> None:
    """Refuse a float32-only output format for data float32 cannot resolve.

    Parameters
    ----------
    path : str or Path
        The planned output mesh.
    points : (N, 3) ndarray
        World points spanning the shape (the input's extent).

    Raises
    ------
    InputError
        ``path`` is ``.stl``/``.glb`` and the data lies too far from the origin
        for its size.
    """
    p = Path(path)
    if p.suffix.lower() in FLOAT32_ONLY_FORMATS and not float32_is_enough(points):
        raise InputError(
            f"{p.suffix} stores float32 coordinates, too coarse for this shape at its distance from the origin "
            f"(about {float(np.abs(points).max()):.3g}); write .ply or .obj instead", p)


def check_mesh_path(path: str | Path) -> Path:
    """Return ``path`` if its extension is a writable mesh format, else raise."""
    p = Path(path)
    if p.suffix.lower() not in MESH_FORMATS:
        raise InputError(
            f"cannot write meshes as {p.suffix or '(no extension)'!r}; use one of {', '.join(MESH_FORMATS)}", p
        )
    return p


def write_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Write ``mesh`` to ``path`` (binary PLY/STL/GLB, text OBJ/OFF) atomically."""
    p = check_mesh_path(path)
    ext = p.suffix.lower()
    if ext == ".ply":
        data = ply_bytes(mesh)
    elif ext == ".obj":
        data = mesh.export(file_type="obj", digits=_digits(mesh.vertices))
    elif ext == ".off":
        data = mesh.export(file_type="off", digits=_digits(mesh.vertices))
    else:
        data = mesh.export(file_type=ext.lstrip("."))
    return atomic_write_bytes(p, data if isinstance(data, bytes) else data.encode("utf-8"))


def _digits(vertices: np.ndarray) -> int:
    """Decimals for text formats so the coordinates keep ~1e-9 of the shape's size."""
    pts = np.asarray(vertices, dtype=np.float64)
    if len(pts) == 0:
        return 8
    size = float((pts.max(axis=0) - pts.min(axis=0)).max())
    return int(np.clip(9 - np.floor(np.log10(max(size, 1e-300))), 8, 17))


def ply_bytes(mesh: trimesh.Trimesh) -> bytes:
    """Binary little-endian PLY of ``mesh``: vertices as float32, or float64 where
    float32 would lose precision (:func:`float32_is_enough`), faces as int32 lists."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
    kind, dtype = ("float", "<f4") if float32_is_enough(vertices) else ("double", "<f8")
    header = "\n".join([
        "ply", "format binary_little_endian 1.0", "comment written by sdfrecon",
        f"element vertex {len(vertices)}", *(f"property {kind} {axis}" for axis in "xyz"),
        f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header",
    ]) + "\n"
    records = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
    records["n"], records["v"] = 3, faces
    out = io.BytesIO()
    out.write(header.encode("ascii"))
    out.write(vertices.astype(dtype).tobytes())
    out.write(records.tobytes())
    return out.getvalue()
