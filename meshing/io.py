"""Mesh output, atomically (temp file + rename), format from the file extension."""

from __future__ import annotations

from pathlib import Path

import trimesh

from sdf.atomic import atomic_write_bytes
from sdf.errors import InputError

MESH_FORMATS = (".ply", ".obj", ".off", ".stl", ".glb")


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
    data = mesh.export(file_type=p.suffix.lower().lstrip("."))
    return atomic_write_bytes(p, data if isinstance(data, bytes) else data.encode("utf-8"))
