"""Readers from files to :class:`~sdfrecon.datasets.pointcloud.PointCloud`.

Supported (chosen by file extension):

* ``.ply`` -- binary or ASCII; a point cloud (optional ``nx ny nz``) or, when it
  has faces, a mesh that is sampled.
* ``.xyz``, ``.pts``, ``.txt`` -- whitespace-separated ``x y z [nx ny nz]`` rows.
* ``.npy`` -- an ``(N, 3)`` or ``(N, 6)`` array; ``.npz`` -- arrays ``points``
  (and optionally ``normals``), or a single ``(N, 3|6)`` array.
* ``.obj``, ``.off``, ``.stl`` -- meshes, sampled area-uniformly with face normals; an OBJ
  without faces is a point cloud (with its ``vn`` normals when there is one per vertex).
* ``.pcd`` -- through Open3D; NaN rows of organized depth-camera frames (no depth
  measured) are dropped with a warning.

Parsing is done by trimesh, NumPy and Open3D. What they accept silently (a PLY
whose header promises more vertices than it holds, faces indexing missing
vertices) is checked here, and every failure is an :class:`InputError` naming
the file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from sdfrecon.datasets.pointcloud import PointCloud, make_point_cloud
from sdfrecon.base.errors import InputError
from sdfrecon.base.registry import Registry
from sdfrecon.datasets.inputs import INPUT_FORMATS, InputFormat, InputOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadOptions:
    """How to turn a file into points."""

    mesh_samples: int = 100_000
    """Points sampled on the surface when the file is a mesh."""
    seed: int = 0
    """Seed of the mesh surface sampling."""


Reader = Callable[[Path, ReadOptions], PointCloud]
READERS: Registry[Reader] = Registry("point-cloud reader", providers="sdfrecon.datasets")
"""Point-cloud and mesh readers by lower-case file extension (``".ply"``)."""


def supported_extensions() -> list[str]:
    """File extensions :func:`read_point_cloud` understands, sorted."""
    return READERS.names()


def check_readable_file(path: str | Path) -> Path:
    """Return ``path`` as a Path if it is an existing, readable, non-empty file.

    Raises
    ------
    InputError
        Missing, a directory, unreadable, or empty.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", p)
    if p.is_dir():
        raise InputError("is a directory, expected a file", p)
    if not os.access(p, os.R_OK):
        raise InputError("cannot be read (permission denied)", p)
    if p.stat().st_size == 0:
        raise InputError("is empty (0 bytes)", p)
    return p


def read_point_cloud(path: str | Path, options: ReadOptions | None = None) -> PointCloud:
    """Read a point cloud (or sample a mesh) from ``path``.

    Parameters
    ----------
    path : str or Path
        Input file; the format comes from its extension (case-insensitive).
    options : ReadOptions, optional
        Mesh sampling count and seed.

    Returns
    -------
    PointCloud
        Validated points (and unit normals when the file has them), world units.

    Raises
    ------
    InputError
        Missing/unreadable/empty file, unknown extension, malformed content, or
        points that fail :func:`~sdfrecon.datasets.pointcloud.make_point_cloud`.
    """
    options = options or ReadOptions()
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in READERS:
        if p.is_dir():
            raise InputError("is a directory, expected a point-cloud or mesh file", p)
        raise InputError(
            f"unknown format {ext or '(no extension)'!r}; supported: {', '.join(supported_extensions())}", p
        )
    check_readable_file(p)
    _check_content_matches_extension(p, ext)
    try:
        return READERS.get(ext).builder(p, options)
    except OSError as exc:  # permission or I/O trouble after the checks above
        raise InputError(f"cannot be read ({exc.strerror or type(exc).__name__})", p) from None


_MAGIC: tuple[tuple[bytes, str, tuple[str, ...]], ...] = (
    (b"ply\n", "PLY", (".ply",)),
    (b"ply\r\n", "PLY", (".ply",)),
    (b"\x93NUMPY", "NumPy .npy array", (".npy",)),
    (b"PK\x03\x04", "NumPy .npz archive (zip)", (".npz",)),
)


def _check_content_matches_extension(path: Path, ext: str) -> None:
    """Reject a file whose first bytes are an unmistakable magic number of another format."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    for magic, name, extensions in _MAGIC:
        if head.startswith(magic) and ext not in extensions:
            raise InputError(f"looks like a {name} file but is named {ext}; rename it to {extensions[0]}", path)


# --------------------------------------------------------------------------- PLY


@dataclass(frozen=True)
class PlyElement:
    """One ``element`` of a PLY header and its properties."""

    name: str
    count: int
    properties: tuple[tuple[str, bool], ...]
    """(type name, is a list) per property, in order."""


_PLY_SIZES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
              "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4,
              "double": 8, "float64": 8}


@dataclass(frozen=True)
class PlyHeader:
    """The parts of a PLY header we cross-check against what a parser returns."""

    format: str
    element_counts: dict[str, int]
    elements: tuple[PlyElement, ...] = ()
    data_offset: int = 0
    """Byte offset of the first data byte (just after ``end_header``)."""


def read_ply_header(path: Path) -> PlyHeader:
    """Parse just the header of a PLY file (bounded to 64 KiB)."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if not head.startswith(b"ply"):
        raise InputError("is not a PLY file (it does not start with 'ply')", path)
    end = head.find(b"end_header")
    if end < 0:
        raise InputError("PLY header has no 'end_header' line (truncated or corrupt)", path)
    newline = head.find(b"\n", end)
    data_offset = len(head) if newline < 0 else newline + 1
    fmt, counts, elements = "", {}, []
    for raw in head[:end].decode("ascii", errors="replace").splitlines():
        parts = raw.split()
        if len(parts) >= 2 and parts[0] == "format":
            fmt = parts[1]
        elif len(parts) == 3 and parts[0] == "element":
            try:
                counts[parts[1]] = int(parts[2])
            except ValueError:
                raise InputError(f"PLY header has a bad element count: {raw.strip()!r}", path) from None
            if counts[parts[1]] < 0:
                raise InputError(f"PLY header has a negative element count: {raw.strip()!r}", path)
            elements.append(PlyElement(parts[1], counts[parts[1]], ()))
        elif len(parts) >= 3 and parts[0] == "property" and elements:
            prop = (parts[1], parts[1] == "list")
            last = elements[-1]
            elements[-1] = PlyElement(last.name, last.count, last.properties + (prop,))
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise InputError(f"PLY header has an unknown format {fmt!r}", path)
    return PlyHeader(fmt, counts, tuple(elements), data_offset)


def _check_ply_vertex_data(path: Path, header: PlyHeader) -> None:
    """Fail when the file holds fewer complete vertices than its header declares.

    Checked for the vertex element when it comes first and has scalar properties
    only (the usual layout); parsers would otherwise fail with an unhelpful
    message or, for ASCII, read the face lines as vertices.
    """
    if not header.elements or header.elements[0].name != "vertex":
        return
    vertex = header.elements[0]
    if not vertex.properties or any(is_list for _, is_list in vertex.properties):
        return
    if header.format == "ascii":
        complete = _complete_ascii_rows(path, header.data_offset, vertex.count, len(vertex.properties))
    else:
        sizes = [_PLY_SIZES.get(kind) for kind, _ in vertex.properties]
        if None in sizes:
            return  # an unknown type: let the parser report it
        available = path.stat().st_size - header.data_offset
        complete = available // sum(sizes)
    if complete < vertex.count:
        raise InputError(f"PLY vertex data ends early: the header declares {vertex.count} vertices but the file "
                         f"holds only {complete} complete ones (truncated, or the header count is wrong)", path)


def _complete_ascii_rows(path: Path, offset: int, wanted: int, columns: int) -> int:
    """How many of the first ``wanted`` data lines of an ASCII PLY hold ``columns`` numbers."""
    complete = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        for raw in fh:
            if complete >= wanted:
                break
            fields = raw.split()
            if not fields:
                continue
            if len(fields) != columns:
                break
            try:
                [float(f) for f in fields]
            except ValueError:
                break
            complete += 1
    return complete


@READERS.register(".ply")
def _read_ply(path: Path, options: ReadOptions) -> PointCloud:
    header = read_ply_header(path)
    declared = header.element_counts.get("vertex", 0)
    if declared == 0:
        raise InputError("has no points (the PLY header declares 0 vertices)", path)
    _check_ply_vertex_data(path, header)
    try:
        geometry = _trimesh_load(path, "ply")
    except InputError:
        if header.element_counts.get("face", 0) > 0:
            raise
        # Point clouds whose header also declares an empty face element with several list
        # properties (MeshLab/VCG exports: vertex_indices, texcoord, colours) stop trimesh's
        # parser; Open3D reads their vertex element.
        return _read_ply_points_open3d(path, declared)
    got = len(geometry.vertices)
    if got != declared:
        raise InputError(f"PLY header declares {declared} vertices but the file holds {got} (truncated?)", path)
    if header.element_counts.get("face", 0) > 0 and len(getattr(geometry, "faces", ())) > 0:
        return _sample_mesh(geometry, path, options)
    normals = _ply_vertex_normals(geometry)
    return make_point_cloud(geometry.vertices, normals, source=path)


def _read_ply_points_open3d(path: Path, declared: int) -> PointCloud:
    """Points (and ``nx ny nz`` normals, if present) of a PLY point cloud read by Open3D."""
    points, normals = _open3d_points(path, "ply")
    if len(points) != declared:
        raise InputError(f"PLY header declares {declared} vertices but {len(points)} could be read", path)
    return make_point_cloud(points, normals, source=path)


PLY_NORMAL_NAMES = (("nx", "ny", "nz"), ("normal_x", "normal_y", "normal_z"))
"""Vertex properties read as normals, in order of preference: the common ``nx ny nz``, and
``normal_x normal_y normal_z`` as PCL's PLY writer names them (its ``PointNormal`` fields)."""


def _ply_vertex_normals(geometry) -> np.ndarray | None:
    """Per-vertex normals of a PLY point cloud as loaded by trimesh, if present
    (:data:`PLY_NORMAL_NAMES`)."""
    raw = geometry.metadata.get("_ply_raw", {}).get("vertex", {}).get("data")
    if raw is None:
        return None
    names = set(raw.keys() if isinstance(raw, dict) else (raw.dtype.names or ()))
    for triple in PLY_NORMAL_NAMES:
        if set(triple) <= names:
            return np.stack([np.asarray(raw[k], dtype=np.float64).reshape(-1) for k in triple], axis=1)
    return None


# -------------------------------------------------------------------------- meshes


def _trimesh_load(path: Path, file_type: str):
    import trimesh

    try:
        with open(path, "rb") as fh:
            geometry = trimesh.load(fh, file_type=file_type, process=False)
    except Exception as exc:  # parsers raise anything from ValueError to IndexError
        raise InputError(f"cannot be read as {file_type.upper()} ({_short(exc)})", path) from None
    if isinstance(geometry, trimesh.Scene):
        meshes = [g for g in geometry.geometry.values() if isinstance(g, trimesh.Trimesh)]
        if not meshes:
            raise InputError(f"holds no mesh or points readable as {file_type.upper()}", path)
        geometry = trimesh.util.concatenate(meshes)
    if not hasattr(geometry, "vertices") or len(geometry.vertices) == 0:
        raise InputError("has no points", path)
    return geometry


@READERS.register(".obj", ".off", ".stl")
def _read_mesh(path: Path, options: ReadOptions) -> PointCloud:
    if path.suffix.lower() == ".obj":
        _check_obj_faces(path)
    geometry = _trimesh_load(path, path.suffix.lower().lstrip("."))
    faces = np.asarray(getattr(geometry, "faces", np.zeros((0, 3))))
    if len(faces) == 0:
        # A mesh format holding only vertices is a point cloud.
        normals = _obj_point_normals(path, len(geometry.vertices)) if path.suffix.lower() == ".obj" else None
        return make_point_cloud(geometry.vertices, normals, source=path)
    return _sample_mesh(geometry, path, options)


def _obj_point_normals(path: Path, count: int) -> np.ndarray | None:
    """The ``vn`` normals of an OBJ point cloud (no faces), (count, 3), or None.

    Without faces nothing indexes the ``vn`` lines; point-cloud exporters (MeshLab,
    CloudCompare) write one per ``v`` line, in the same order, so exactly ``count`` of them
    are paired with the vertices in order, and any other number is ignored.
    """
    rows = [line.split()[1:4] for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
            if line.startswith("vn ")]
    if len(rows) != count:
        return None
    try:
        return np.asarray(rows, dtype=np.float64)
    except ValueError:
        return None


def _sample_mesh(mesh, path: Path, options: ReadOptions) -> PointCloud:
    """Area-uniform surface samples of ``mesh`` with their face normals."""
    import trimesh

    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces)
    bad = (faces < 0) | (faces >= len(vertices))
    if bad.any():
        face = int(np.flatnonzero(bad.any(axis=1))[0])
        index = int(faces[face][bad[face]][0])
        raise InputError(f"face {face + 1} refers to vertex {index} but the file has only {len(vertices)} vertices "
                         f"(indices 0..{len(vertices) - 1})", path)
    if not np.isfinite(vertices).all():
        raise InputError("has NaN or infinite vertex coordinates", path)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    if not mesh.area > 0:
        raise InputError("mesh has zero surface area", path)
    points, face_index = trimesh.sample.sample_surface(mesh, options.mesh_samples, seed=options.seed)
    normals = mesh.face_normals[face_index]
    return make_point_cloud(points, normals, source=path)


def _check_obj_faces(path: Path) -> None:
    """Every OBJ face index must name an existing vertex (1-based, or negative = relative).

    trimesh drops or wraps bad indices silently in some versions; a face
    pointing past the vertex list means a truncated or corrupt file.
    """
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except OSError:
        return  # reported by the loader
    total = sum(1 for line in lines if line.startswith("v ") or line.startswith("v\t"))
    seen, face = 0, 0
    for number, line in enumerate(lines, start=1):
        if line.startswith("v ") or line.startswith("v\t"):
            seen += 1
        elif line.startswith("f ") or line.startswith("f\t"):
            face += 1
            for token in line.split()[1:]:
                try:
                    index = int(token.split("/", 1)[0])
                except ValueError:
                    raise InputError(f"line {number}: face {face} has a bad vertex index {token!r}", path) from None
                if index == 0:
                    raise InputError(f"line {number}: face {face} uses vertex index 0; OBJ indices start at 1",
                                     path)
                if index > total or -index > seen:
                    raise InputError(f"line {number}: face {face} refers to vertex {index} but the file has only "
                                     f"{total} vertices", path)


# ---------------------------------------------------------------------------- text


@READERS.register(".xyz", ".pts", ".txt")
def _read_text(path: Path, options: ReadOptions) -> PointCloud:
    raw_bytes = path.read_bytes()
    try:
        if b"\0" in raw_bytes[:65536]:
            raise UnicodeDecodeError("utf-8", raw_bytes[:1], 0, 1, "NUL byte")
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"is not a text point file (binary content); {path.suffix} files hold "
                         "'x y z [nx ny nz]' rows", path) from None
    lines = [ln for ln in (raw.split("#", 1)[0].strip() for raw in text.splitlines()) if ln]
    if lines and len(lines[0].split()) == 1:
        lines = lines[1:]  # some .pts files start with the point count
    if not lines:
        raise InputError("has no points", path)
    try:
        table = np.loadtxt(lines, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise InputError(f"cannot be parsed as 'x y z [nx ny nz]' rows ({_short(exc)})", path) from None
    return _from_columns(table, path)


def _from_columns(table: np.ndarray, path: Path) -> PointCloud:
    if table.ndim != 2 or table.shape[1] not in (3, 6):
        cols = table.shape[1] if table.ndim == 2 else table.ndim
        raise InputError(f"expected 3 (x y z) or 6 (x y z nx ny nz) columns, got {cols}", path)
    normals = table[:, 3:6] if table.shape[1] == 6 else None
    if normals is not None and _look_like_colours(normals):
        # CloudCompare's and MeshLab's plain-text exports write "x y z r g b" with the same six
        # columns; read as normals, the colours would all point into one octant and pass for
        # consistently oriented ones.
        log.warning("%s: columns 4-6 hold whole numbers from 0 to 255 (RGB colours, not normals); "
                    "reading x y z only", path)
        normals = None
    return make_point_cloud(table[:, :3], normals, source=path)


def _look_like_colours(columns: np.ndarray) -> bool:
    """Whether (N, 3) ``columns`` are 8-bit colours: all whole numbers in [0, 255], some above 1.

    Unit normals never exceed 1; axis-aligned ones (only -1, 0, 1) stay normals.
    """
    finite = columns[np.isfinite(columns)]
    return (finite.size > 0 and bool(np.all(finite == np.round(finite))) and finite.min() >= 0
            and finite.max() <= 255 and finite.max() > 1)


# --------------------------------------------------------------------------- NumPy


@READERS.register(".npy")
def _read_npy(path: Path, options: ReadOptions) -> PointCloud:
    with open(path, "rb") as fh:
        if not fh.read(6) == b"\x93NUMPY":
            raise InputError("is not a NumPy .npy file (it does not start with the NUMPY header)", path)
    try:
        table = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"cannot be read as a NumPy .npy array ({_short(exc)})", path) from None
    if table.size == 0:
        raise InputError("has no points", path)
    return _from_columns(np.asarray(table, dtype=np.float64), path)


@READERS.register(".npz")
def _read_npz(path: Path, options: ReadOptions) -> PointCloud:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:
        raise InputError(f"cannot be read as a NumPy .npz archive ({_short(exc)})", path) from None
    if "points" in arrays:
        points = np.asarray(arrays["points"], dtype=np.float64)
        if points.size == 0:
            raise InputError("has no points", path)
        return make_point_cloud(points, arrays.get("normals"), source=path)
    if len(arrays) == 1:
        table = np.asarray(next(iter(arrays.values())), dtype=np.float64)
        if table.size == 0:
            raise InputError("has no points", path)
        return _from_columns(table, path)
    raise InputError(f"expected an array named 'points' (found {', '.join(sorted(arrays)) or 'none'})", path)


# --------------------------------------------------------------------------- PCD


@READERS.register(".pcd")
def _read_pcd(path: Path, options: ReadOptions) -> PointCloud:
    """A PCD file (any PCL encoding, through Open3D).

    PCL stores an organized depth-camera frame as a full WIDTH x HEIGHT grid and writes
    NaN coordinates where the camera measured no depth (the header then says
    ``is_dense = false``). Those rows are "no point", not corrupt data, so they are dropped
    with one warning; a file in which no point has finite coordinates is still an error.
    """
    points, normals = _open3d_points(path, "pcd")
    if len(points) == 0:
        raise InputError("has no points (or is not a readable PCD file)", path)
    measured = np.isfinite(points).all(axis=1)
    if not measured.all():
        if not measured.any():
            raise InputError(f"none of its {len(points)} points has finite coordinates", path)
        log.warning("%s: %d of %d points have no coordinates (NaN: no depth measured); using the %d others",
                    path, int((~measured).sum()), len(points), int(measured.sum()))
        points = points[measured]
        normals = None if normals is None else normals[measured]
    return make_point_cloud(points, normals, source=path)


def _open3d_points(path: Path, file_format: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, 3) points and their (N, 3) normals (None without normals) as Open3D reads them."""
    import open3d as o3d

    cloud = o3d.io.read_point_cloud(str(path), format=file_format)
    normals = np.asarray(cloud.normals, dtype=np.float64) if cloud.has_normals() else None
    return np.asarray(cloud.points, dtype=np.float64), normals


def _short(exc: BaseException) -> str:
    """One-line description of a parser exception."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _read_points_input(path: Path, options: InputOptions) -> PointCloud:
    options.refuse_mask_options("a point cloud or mesh")
    return read_point_cloud(path, options.read)


# The catch-all input format: whatever no other format claims is read (or refused) here.
INPUT_FORMATS.add("points", InputFormat(kind="points", suffixes=lambda: tuple(supported_extensions()),
                                        matches=lambda path: True, read=_read_points_input, priority=100))
