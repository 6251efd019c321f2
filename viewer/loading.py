"""Reading what the viewer shows: meshes, point clouds, per-vertex errors, checkpoints.

Every problem is an :class:`~sdfrecon.base.errors.InputError` naming the file, so the CLI
prints one line and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from sdfrecon.datasets.benchmarks import MESH_EXTENSIONS, read_mesh
from sdfrecon.datasets.readers import check_readable_file
from sdfrecon.base.errors import InputError

__all__ = ["MESH_EXTENSIONS", "find_checkpoint", "load_errors", "load_mesh", "load_points", "vertex_errors"]


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Read a triangle mesh (vertices in the file's own units), keeping the file's vertex order.

    The same reader as ``sdfrecon evaluate``, so per-vertex errors it writes
    line up with the vertices shown here.

    Raises
    ------
    InputError
        Missing/unreadable file, unknown format, no faces, or non-finite vertices.
    """
    return read_mesh(path, merge=False)


def load_points(path: str | Path, *, max_points: int = 200_000, seed: int = 0) -> np.ndarray:
    """Read a point cloud (any format ``sdfrecon reconstruct`` reads) as (N, 3) float64.

    Clouds larger than ``max_points`` are subsampled (seeded) to keep drawing fast.
    """
    from sdfrecon.datasets.readers import ReadOptions, read_point_cloud

    points = read_point_cloud(path, ReadOptions(mesh_samples=min(max_points, 100_000), seed=seed)).points
    if len(points) > max_points:
        keep = np.random.default_rng(seed).choice(len(points), max_points, replace=False)
        points = points[np.sort(keep)]
    return points


def load_errors(path: str | Path, n_vertices: int) -> np.ndarray:
    """Read per-vertex errors written by ``sdfrecon evaluate --errors-out``.

    Parameters
    ----------
    path : str or Path
        ``.npy`` file holding a (V,) float array (world units, >= 0).
    n_vertices : int
        Vertex count of the mesh the errors belong to.

    Returns
    -------
    (V,) float64 ndarray

    Raises
    ------
    InputError
        Not a ``.npy`` array, wrong shape, NaN/inf or negative values.
    """
    p = check_readable_file(path)
    try:
        errors = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"is not a NumPy .npy array ({type(exc).__name__})", p) from None
    errors = np.asarray(errors)
    if errors.ndim != 1 or errors.shape[0] != n_vertices:
        raise InputError(f"holds errors of shape {errors.shape}; the mesh has {n_vertices} vertices, "
                         f"so ({n_vertices},) is needed", p)
    if not np.issubdtype(errors.dtype, np.number):
        raise InputError(f"holds {errors.dtype} values, expected numbers", p)
    errors = errors.astype(np.float64)
    if not np.isfinite(errors).all():
        raise InputError("holds NaN or infinite errors", p)
    if (errors < 0).any():
        raise InputError(f"holds negative errors (min {errors.min():.4g}); expected distances >= 0", p)
    return errors


def vertex_errors(mesh: trimesh.Trimesh, gt: trimesh.Trimesh) -> np.ndarray:
    """Distance (V,) from each vertex of ``mesh`` to the surface of ``gt``, world units (exact)."""
    from sdfrecon.evaluation.metrics import distance_to_surface

    return distance_to_surface(np.asarray(mesh.vertices), gt)


def find_checkpoint(mesh_path: str | Path, explicit: str | Path | None = None, *, required: bool = False) -> Path | None:
    """The checkpoint of a reconstruction: ``explicit`` if given, else ``MESH.ckpt`` beside it.

    Returns None when none is given or found and ``required`` is false.

    Raises
    ------
    InputError
        ``explicit`` does not exist, or ``required`` and no checkpoint was found.
    """
    from sdfrecon.base.run_files import RunFiles

    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise InputError("no such checkpoint file", p)
        return p
    beside = RunFiles.for_mesh(mesh_path).checkpoint
    if beside.is_file():
        return beside
    if required:
        raise InputError(f"has no checkpoint beside it ({beside.name}); pass --checkpoint FILE "
                         "(the SDF slice needs the trained field)", mesh_path)
    return None
