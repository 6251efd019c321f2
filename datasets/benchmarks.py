"""Benchmark suites: folders of shapes with ground truth, read as uniform items.

A suite is a folder in one of three layouts; ``layout="auto"`` recognises them
in this order.

``srb`` -- Surface Reconstruction Benchmark (Berger et al. 2013)::

    <suite>/scans/<name>.ply                      input scan (points, normals)
    <suite>/ground_truth/<name>.off|ply|obj|stl   ground-truth mesh, or
    <suite>/ground_truth/<name>.xyz               ground-truth points

  A scan and a ground-truth file belong together when their stems are equal
  ignoring case, ``_`` and ``-``: some copies name lord_quas's ground truth
  ``lordquas.off``. The shape is named after the scan. Scans are used as they
  are (no noise or holes added).

``shapenet`` -- ShapeNet as preprocessed by Occupancy Networks (ONet)::

    <suite>/<class>/<model>/pointcloud.npz   ``points`` (N, 3), ``normals`` (N, 3)
    <suite>/<class>/<model>/points.npz       optional: ``points`` (Q, 3) and
                                             ``occupancies`` (np.packbits-packed,
                                             as ONet stores them, or (Q,) bool)
    <suite>/<class>/<model>/model.obj|off|ply optional ground-truth mesh, in the
                                             frame of the ``.npz`` points

  The ground truth is the full ``pointcloud.npz`` point set (the DiGS/StEik
  protocol compares against it); the input is a seeded subset of
  ``ScanOptions.points`` of its points (with normals unless switched off).
  ``points.npz`` gives the IoU. The shape is named ``<class>_<model>``. An
  optional ``<model>/input.ply`` is used as the input as it is instead (to rerun
  a published experiment on its exact inputs, e.g. the Neural-Splines clouds).

``meshes`` -- a plain folder of meshes ``<suite>/<name>.obj|off|ply|stl``: each
  is the ground truth, and a synthetic scan is sampled from it:
  ``ScanOptions.points`` area-uniform points with face normals, optional
  Gaussian noise and optional missing regions (points inside random balls
  dropped), all seeded per shape.

Every reader returns :class:`SuiteShape` entries (a name and a loader) so a
benchmark can skip finished shapes without reading them; loading gives a
:class:`BenchmarkItem`.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import trimesh

from sdfrecon.datasets.pointcloud import PointCloud, make_point_cloud
from sdfrecon.datasets.readers import ReadOptions, check_readable_file, read_point_cloud
from sdfrecon.base.errors import ConfigError, InputError

log = logging.getLogger(__name__)

MESH_EXTENSIONS: tuple[str, ...] = (".obj", ".off", ".ply", ".stl")
"""Mesh files a suite may hold (case-insensitive)."""
POINT_EXTENSIONS: tuple[str, ...] = (".xyz", ".pts", ".txt", ".npy", ".npz")
"""Point files accepted as ground truth (SRB distributes ``.xyz``)."""
SHAPENET_INPUT = "input.ply"
"""Optional file in a ShapeNet model folder: the exact input point cloud to use."""


# ------------------------------------------------------------------- items


@dataclass(frozen=True)
class GroundTruth:
    """A reference surface: a mesh, a point set, or both.

    Attributes
    ----------
    mesh : trimesh.Trimesh or None
        Ground-truth mesh (vertices merged), world units.
    points : (M, 3) float64 ndarray or None
        Ground-truth surface points, compared against as they are.
    normals : (M, 3) float64 ndarray or None
        Unit normals of ``points``.
    """

    mesh: trimesh.Trimesh | None = None
    points: np.ndarray | None = None
    normals: np.ndarray | None = None


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark shape, loaded.

    Attributes
    ----------
    name : str
        Shape name (results are filed under it).
    cloud : PointCloud
        Input to the reconstruction methods, world units.
    gt_mesh : trimesh.Trimesh or None
        Ground-truth mesh in the same frame.
    gt_points, gt_normals : ndarray or None
        Ground-truth surface points (and normals) when the suite gives them.
    occupancy_points, occupancies : ndarray or None
        Labelled points (Q, 3) and inside labels (Q,) bool for IoU (ShapeNet).
    extras : dict
        Anything else: ``layout``, ``category``, source files.
    """

    name: str
    cloud: PointCloud
    gt_mesh: trimesh.Trimesh | None = None
    gt_points: np.ndarray | None = None
    gt_normals: np.ndarray | None = None
    occupancy_points: np.ndarray | None = None
    occupancies: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SuiteShape:
    """A shape of a suite, not yet read: its name and how to load it."""

    name: str
    layout: str
    source: Path
    """The main file or folder, for messages."""
    loader: Callable[[], BenchmarkItem]

    def load(self) -> BenchmarkItem:
        """Read the shape's files (raises :class:`InputError` on bad content)."""
        return self.loader()


@dataclass(frozen=True)
class ScanOptions:
    """How synthetic inputs are made (``meshes`` and ``shapenet`` layouts).

    Attributes
    ----------
    points : int
        Points sampled per mesh (``meshes``) or taken from ``pointcloud.npz``
        (``shapenet``).
    noise : float
        Gaussian noise sigma as a fraction of the shape's bounding-box diagonal.
    holes : int
        Missing regions: every input point within ``hole_radius`` of one of
        ``holes`` random input points is dropped.
    hole_radius : float
        Radius of each missing region, fraction of the bounding-box diagonal.
    normals : bool
        Give the input its (face) normals.
    seed : int
        Base seed; each shape draws from ``(seed, crc32(name))``, so a shape's
        scan does not depend on which other shapes are in the suite.
    """

    points: int = 30_000
    noise: float = 0.0
    holes: int = 0
    hole_radius: float = 0.05
    normals: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.points < 10:
            raise ConfigError(f"scan points: must be >= 10, got {self.points}")
        if self.noise < 0:
            raise ConfigError(f"noise: must be >= 0, got {self.noise}")
        if self.holes < 0 or self.hole_radius < 0:
            raise ConfigError(f"holes, hole radius: must be >= 0, got {self.holes}, {self.hole_radius}")

    def rng(self, name: str) -> np.random.Generator:
        """The random generator of shape ``name``."""
        return np.random.default_rng([self.seed, zlib.crc32(name.encode("utf-8"))])


# ------------------------------------------------------------------- files


def read_mesh(path: str | Path, *, merge: bool = True) -> trimesh.Trimesh:
    """Read a triangle mesh file (``.obj .off .ply .stl``).

    Parameters
    ----------
    path : str or Path
        Mesh file.
    merge : bool
        Merge coincident vertices (STL stores every corner separately). Pass
        False to keep the file's vertex order, e.g. for per-vertex arrays.

    Returns
    -------
    trimesh.Trimesh

    Raises
    ------
    InputError
        Missing, unreadable, not a mesh, no faces, or non-finite vertices.
    """
    p = check_readable_file(path)
    ext = p.suffix.lower()
    if ext not in MESH_EXTENSIONS:
        raise InputError(f"not a mesh format ({ext or 'no extension'}); use one of {', '.join(MESH_EXTENSIONS)}", p)
    try:
        with open(p, "rb") as fh:
            geometry = trimesh.load(fh, file_type=ext.lstrip("."), process=False)
    except Exception as exc:  # parsers raise anything from ValueError to IndexError
        raise InputError(f"cannot be read as {ext.lstrip('.').upper()} ({' '.join(str(exc).split())[:160]})", p) from None
    if isinstance(geometry, trimesh.Scene):
        parts = [g for g in geometry.geometry.values() if isinstance(g, trimesh.Trimesh)]
        geometry = trimesh.util.concatenate(parts) if parts else None
    faces = np.asarray(getattr(geometry, "faces", np.zeros((0, 3))))
    if geometry is None or len(faces) == 0:
        raise InputError("has no faces; a mesh is expected", p)
    vertices = np.asarray(geometry.vertices, dtype=np.float64)
    if not np.isfinite(vertices).all():
        raise InputError("has NaN or infinite vertex coordinates", p)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise InputError(f"faces refer to vertex {int(faces.max())} but there are only {len(vertices)} vertices", p)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    if merge:
        mesh.merge_vertices()
    return mesh


def _has_faces(path: Path) -> bool:
    """Whether a PLY file declares faces (PLY holds point clouds and meshes alike)."""
    from sdfrecon.datasets.readers import read_ply_header

    return read_ply_header(path).element_counts.get("face", 0) > 0


def read_ground_truth(path: str | Path) -> GroundTruth:
    """Ground truth from a mesh file, or from a point file (``.xyz`` etc., PLY without faces).

    Raises
    ------
    InputError
        The file cannot be read as either.
    """
    p = check_readable_file(path)
    ext = p.suffix.lower()
    if ext in MESH_EXTENSIONS and (ext != ".ply" or _has_faces(p)):
        return GroundTruth(mesh=read_mesh(p))
    if ext in POINT_EXTENSIONS or ext == ".ply":
        cloud = read_point_cloud(p)
        return GroundTruth(points=cloud.points, normals=cloud.normals)
    raise InputError(
        f"cannot be used as ground truth ({ext or 'no extension'}); "
        f"use a mesh ({', '.join(MESH_EXTENSIONS)}) or points ({', '.join(POINT_EXTENSIONS)})", p)


# ------------------------------------------------------------ synthetic scans


def synthetic_scan(mesh: trimesh.Trimesh, name: str, options: ScanOptions, *, source: str = "") -> PointCloud:
    """Sample a scan of ``mesh``: points with face normals, then noise and holes.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        Ground truth, world units.
    name : str
        Shape name; with ``options.seed`` it seeds the sampling.
    options : ScanOptions
        Count, noise, missing regions, normals.
    source : str
        Description for messages.

    Returns
    -------
    PointCloud
    """
    rng = options.rng(name)
    points, face_index = trimesh.sample.sample_surface(mesh, options.points, seed=rng)
    normals = np.asarray(mesh.face_normals[face_index], dtype=np.float64)
    return corrupt(np.asarray(points, dtype=np.float64), normals, rng, options,
                   source=source or f"{name} (sampled)")


def corrupt(points: np.ndarray, normals: np.ndarray | None, rng: np.random.Generator, options: ScanOptions,
            *, source: str) -> PointCloud:
    """Apply ``options``' noise, missing regions and normal choice to (N, 3) points."""
    diagonal = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    if options.holes > 0 and options.hole_radius > 0:
        centres = points[rng.choice(len(points), size=min(options.holes, len(points)), replace=False)]
        from scipy.spatial import cKDTree

        near = cKDTree(centres).query(points, k=1)[0] <= options.hole_radius * diagonal
        points, normals = points[~near], (None if normals is None else normals[~near])
    if options.noise > 0:
        points = points + rng.normal(scale=options.noise * diagonal, size=points.shape)
    return make_point_cloud(points, normals if options.normals else None, source=source)


# ----------------------------------------------------------------- layouts


def _key(stem: str) -> str:
    """Name-matching key: case-insensitive, ignoring ``_`` and ``-``."""
    return stem.lower().replace("_", "").replace("-", "")


def _files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions)


def _load_scan_shape(name: str, scan: Path, ground_truth: Path, layout: str,
                     truth_points: Path | None) -> BenchmarkItem:
    cloud = read_point_cloud(scan, ReadOptions())
    gt = read_ground_truth(ground_truth)
    extras: dict[str, Any] = {"layout": layout, "scan": str(scan), "ground_truth": str(ground_truth)}
    if truth_points is not None:
        extras["ground_truth_points"] = str(truth_points)
    elif gt.mesh is None:
        extras["ground_truth_points"] = str(ground_truth)
    return BenchmarkItem(name, cloud, gt.mesh, gt.points, gt.normals, extras=extras)


def scan_shape(name: str, scan: Path, ground_truth: Path, *, layout: str = "scan",
               truth_points: Path | None = None) -> SuiteShape:
    """A shape given by an input scan file and a ground-truth file in the same frame.

    ``truth_points`` names a ground-truth *point* file kept beside a ground-truth
    mesh (SRB ships ``.xyz`` points; the official SRB protocol compares against
    them); it is recorded in ``extras["ground_truth_points"]`` and read only by
    protocols that need it.
    """
    # functools.partial of a module-level function (not a closure): shapes are pickled
    # to worker processes by the parallel executors.
    return SuiteShape(name, layout, scan, partial(_load_scan_shape, name, scan, ground_truth, layout, truth_points))


def _load_mesh_shape(name: str, mesh_path: Path, options: ScanOptions, layout: str) -> BenchmarkItem:
    mesh = read_mesh(mesh_path)
    if not mesh.area > 0:
        raise InputError("mesh has zero surface area", mesh_path)
    cloud = synthetic_scan(mesh, name, options, source=f"{mesh_path} (sampled)")
    return BenchmarkItem(name, cloud, gt_mesh=mesh, extras={"layout": layout, "ground_truth": str(mesh_path)})


def mesh_shape(name: str, mesh_path: Path, options: ScanOptions, *, layout: str = "meshes") -> SuiteShape:
    """A shape given by a ground-truth mesh, with a synthetic scan sampled from it."""
    return SuiteShape(name, layout, mesh_path, partial(_load_mesh_shape, name, mesh_path, options, layout))


def read_srb(folder: Path, options: ScanOptions) -> list[SuiteShape]:
    """SRB layout: ``scans/<name>.ply`` paired with ``ground_truth/<name>.*`` (see module doc)."""
    scans_dir, gt_dir = folder / "scans", folder / "ground_truth"
    for d in (scans_dir, gt_dir):
        if not d.is_dir():
            raise InputError(f"SRB layout needs a folder {d.name}/", folder)
    truths: dict[str, Path] = {}
    points: dict[str, Path] = {}
    # Prefer a mesh over points when both exist for one shape (the points are kept for
    # the official SRB protocol, which compares against them).
    for p in _files(gt_dir, POINT_EXTENSIONS):
        truths[_key(p.stem)] = points[_key(p.stem)] = p
    for p in _files(gt_dir, MESH_EXTENSIONS):
        truths[_key(p.stem)] = p
    shapes = []
    for scan in _files(scans_dir, (".ply",) + POINT_EXTENSIONS):
        gt = truths.get(_key(scan.stem))
        if gt is None:
            log.warning("%s: no ground truth in %s; skipped", scan, gt_dir)
            continue
        extra_points = points.get(_key(scan.stem))
        shapes.append(scan_shape(scan.stem, scan, gt, layout="srb",
                                 truth_points=extra_points if extra_points != gt else None))
    return shapes


def _unpack_occupancies(raw: np.ndarray, count: int, path: Path) -> np.ndarray:
    """ONet stores occupancies bit-packed (np.packbits); plain bool/0-1 arrays are accepted too."""
    raw = np.asarray(raw).reshape(-1)
    if len(raw) == count:
        return raw.astype(bool)
    if raw.dtype == np.uint8 and len(raw) == (count + 7) // 8:
        return np.unpackbits(raw)[:count].astype(bool)
    raise InputError(f"occupancies ({len(raw)} values) do not match {count} points", path)


def _npz(path: Path, *keys: str) -> dict[str, np.ndarray]:
    try:
        with np.load(check_readable_file(path), allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise InputError(f"has no array {missing[0]!r} (found {', '.join(archive.files) or 'none'})", path)
            return {k: archive[k] for k in archive.files}
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot be read as a NumPy .npz archive ({' '.join(str(exc).split())[:160]})", path) from None


def _load_shapenet_shape(model_dir: Path, name: str, category: str, options: ScanOptions) -> BenchmarkItem:
    surface = _npz(model_dir / "pointcloud.npz", "points")
    gt_points = np.asarray(surface["points"], dtype=np.float64)
    gt_normals = np.asarray(surface["normals"], dtype=np.float64) if "normals" in surface else None
    if gt_normals is not None:
        gt_normals = gt_normals / np.maximum(np.linalg.norm(gt_normals, axis=1, keepdims=True), 1e-12)
    extras: dict[str, Any] = {"layout": "shapenet", "category": category, "folder": str(model_dir)}
    given = model_dir / SHAPENET_INPUT
    if given.exists():  # the exact input of a published run (e.g. the Neural-Splines .ply), as it is
        cloud = read_point_cloud(given, ReadOptions())
        extras["input"] = str(given)
    else:
        rng = options.rng(name)
        take = rng.choice(len(gt_points), size=min(options.points, len(gt_points)), replace=False)
        cloud = corrupt(gt_points[take], None if gt_normals is None else gt_normals[take], rng, options,
                        source=f"{model_dir / 'pointcloud.npz'} (subset)")
    occ_points = occupancies = None
    if (model_dir / "points.npz").exists():
        labelled = _npz(model_dir / "points.npz", "points", "occupancies")
        occ_points = np.asarray(labelled["points"], dtype=np.float64)
        occupancies = _unpack_occupancies(labelled["occupancies"], len(occ_points), model_dir / "points.npz")
    meshes = [model_dir / f"model{ext}" for ext in MESH_EXTENSIONS if (model_dir / f"model{ext}").exists()]
    gt_mesh = read_mesh(meshes[0]) if meshes else None
    return BenchmarkItem(name, cloud, gt_mesh, gt_points, gt_normals, occ_points, occupancies, extras=extras)


def _shapenet_shape(model_dir: Path, name: str, category: str, options: ScanOptions) -> SuiteShape:
    return SuiteShape(name, "shapenet", model_dir, partial(_load_shapenet_shape, model_dir, name, category, options))


def read_shapenet(folder: Path, options: ScanOptions) -> list[SuiteShape]:
    """ONet ShapeNet layout: ``<class>/<model>/pointcloud.npz`` (see module doc)."""
    shapes = []
    for cloud_file in sorted(folder.glob("*/*/pointcloud.npz")):
        model_dir = cloud_file.parent
        category = model_dir.parent.name
        shapes.append(_shapenet_shape(model_dir, f"{category}_{model_dir.name}", category, options))
    return shapes


def read_mesh_folder(folder: Path, options: ScanOptions) -> list[SuiteShape]:
    """Plain folder of meshes, one synthetic scan each (see module doc)."""
    return [mesh_shape(p.stem, p, options) for p in _files(folder, MESH_EXTENSIONS)]


LAYOUTS: dict[str, Callable[[Path, ScanOptions], list[SuiteShape]]] = {
    "srb": read_srb,
    "shapenet": read_shapenet,
    "meshes": read_mesh_folder,
}
"""Suite readers by layout name."""

_DETECT: tuple[tuple[str, Callable[[Path], bool]], ...] = (
    ("srb", lambda f: (f / "scans").is_dir() and (f / "ground_truth").is_dir()),
    ("shapenet", lambda f: next(f.glob("*/*/pointcloud.npz"), None) is not None),
    ("meshes", lambda f: bool(_files(f, MESH_EXTENSIONS))),
)


def detect_layout(folder: str | Path) -> str:
    """The layout of a suite folder (first of srb, shapenet, meshes that fits).

    Raises
    ------
    InputError
        Missing folder, or none of the layouts fits.
    """
    f = Path(folder)
    if not f.is_dir():
        raise InputError("no such folder" if not f.exists() else "is not a folder", f)
    for name, fits in _DETECT:
        if fits(f):
            return name
    raise InputError(
        "is not a benchmark suite: expected scans/ + ground_truth/ (srb), <class>/<model>/pointcloud.npz "
        f"(shapenet) or mesh files {'/'.join(MESH_EXTENSIONS)} (meshes)", f)


def read_suite(
    folder: str | Path,
    layout: str = "auto",
    options: ScanOptions | None = None,
    names: list[str] | None = None,
) -> list[SuiteShape]:
    """The shapes of a suite folder, in name order.

    Parameters
    ----------
    folder : str or Path
        Suite folder.
    layout : str
        ``auto`` or a key of :data:`LAYOUTS`.
    options : ScanOptions, optional
        Synthetic-input settings (``meshes``, ``shapenet``).
    names : list of str, optional
        Keep only these shapes (all must exist).

    Returns
    -------
    list of SuiteShape

    Raises
    ------
    InputError
        The folder is not a suite, or holds no shape.
    ConfigError
        Unknown layout or shape name.
    """
    options = options or ScanOptions()
    folder = Path(folder)
    if layout == "auto":
        layout = detect_layout(folder)
    elif layout not in LAYOUTS:
        raise ConfigError(f"--layout: unknown layout {layout!r}; valid: auto, {', '.join(LAYOUTS)}")
    elif not folder.is_dir():
        raise InputError("no such folder" if not folder.exists() else "is not a folder", folder)
    shapes = LAYOUTS[layout](folder, options)
    if not shapes:
        raise InputError(f"holds no shapes in the {layout} layout", folder)
    if names:
        by_name = {s.name: s for s in shapes}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ConfigError(f"--shapes: unknown shape {unknown[0]!r}; this suite has: {', '.join(by_name)}")
        shapes = [by_name[n] for n in names]
    return shapes


def iter_items(folder: str | Path, layout: str = "auto", options: ScanOptions | None = None,
               names: list[str] | None = None) -> Iterator[BenchmarkItem]:
    """Load the shapes of a suite one by one (see :func:`read_suite`)."""
    for shape in read_suite(folder, layout, options, names):
        yield shape.load()
