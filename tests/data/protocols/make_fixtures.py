"""Write the small protocol fixtures in this folder (deterministic; rerun to regenerate).

    python -m tests.data.protocols.make_fixtures   (from the repository root)

srb/      an SRB-layout suite of two shapes in SRB-like units (tens of units):
          scans/<name>.ply (points + normals, one duplicated point), ground_truth/<name>.xyz
          (x y z nx ny nz rows, one duplicated row) and result_meshes/<name>.ply (a
          "reconstruction": a bumpy, slightly shifted ellipsoid mesh).
shapenet/ a ShapeNet-layout suite of one model: <class>/<model>/input.ply (the input
          cloud), pointcloud.npz, points.npz (ONet-style, packed occupancies of an
          ellipsoid) and the reconstruction result_meshes/<class>/<model>.ply.
The expected numbers in tests/evaluation/test_protocols.py come from the official
scripts run on these files (see run_official.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

HERE = Path(__file__).resolve().parent
SRB_SHAPES = {"anchor": (30.0, 20.0, 12.0), "gargoyle": (18.0, 25.0, 15.0)}  # ellipsoid semi-axes
SHAPENET = ("chair", "03001627", "m1")  # class name, class id, model
ELLIPSOID = np.array([0.45, 0.3, 0.25])  # ShapeNet ellipsoid semi-axes, ONet frame


def ellipsoid_points(axes: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points on an ellipsoid with outward unit normals."""
    d = rng.normal(size=(count, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    points = d * axes
    normals = points / axes**2
    return points, normals / np.linalg.norm(normals, axis=1, keepdims=True)


def bumpy_mesh(axes: np.ndarray, offset: np.ndarray, seed: int) -> trimesh.Trimesh:
    """An ellipsoid mesh with small radial bumps, shifted by ``offset``."""
    sphere = trimesh.creation.icosphere(subdivisions=3)
    rng = np.random.default_rng(seed)
    bumps = 1.0 + 0.03 * rng.standard_normal(len(sphere.vertices))
    return trimesh.Trimesh(sphere.vertices * bumps[:, None] * axes + offset, sphere.faces, process=False)


def write_cloud_ply(path: Path, points: np.ndarray, normals: np.ndarray) -> None:
    """Binary PLY point cloud (float32 x y z nx ny nz), as SRB and NSP ship them."""
    header = ("ply\nformat binary_little_endian 1.0\nelement vertex %d\n" % len(points)
              + "".join(f"property float {n}\n" for n in ("x", "y", "z", "nx", "ny", "nz")) + "end_header\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(np.hstack([points, normals]).astype("<f4").tobytes())


def main() -> None:
    rng = np.random.default_rng(2024)
    centre = np.array([104.0, -37.0, 12.5])  # SRB scans sit away from the origin
    for i, (name, axes) in enumerate(SRB_SHAPES.items()):
        axes = np.array(axes)
        scan, scan_n = ellipsoid_points(axes, 600, rng)
        keep = scan[:, 2] < 0.7 * axes[2]  # a scan misses the top
        scan, scan_n = scan[keep] + centre, scan_n[keep]
        scan, scan_n = np.vstack([scan, scan[:1]]), np.vstack([scan_n, scan_n[:1]])  # one duplicate
        write_cloud_ply(HERE / "srb" / "scans" / f"{name}.ply", scan, scan_n)
        gt, gt_n = ellipsoid_points(axes, 900, rng)
        gt, gt_n = np.vstack([gt, gt[:1]]) + centre, np.vstack([gt_n, gt_n[:1]])
        (HERE / "srb" / "ground_truth").mkdir(parents=True, exist_ok=True)
        np.savetxt(HERE / "srb" / "ground_truth" / f"{name}.xyz", np.hstack([gt, gt_n]), fmt="%.6f")
        rec = bumpy_mesh(axes * 1.01, centre + np.array([0.3, -0.2, 0.1]) * (i + 1), seed=i)
        (HERE / "srb" / "result_meshes").mkdir(parents=True, exist_ok=True)
        rec.export(HERE / "srb" / "result_meshes" / f"{name}.ply")

    cls, _, model = SHAPENET
    folder = HERE / "shapenet" / cls / model
    folder.mkdir(parents=True, exist_ok=True)
    surface, surface_n = ellipsoid_points(ELLIPSOID, 3000, rng)
    surface += np.array([0.02, -0.01, 0.03])
    np.savez(folder / "pointcloud.npz", points=surface.astype(np.float32), normals=surface_n.astype(np.float32),
             loc=np.zeros(3, np.float32), scale=np.float32(1.0))
    write_cloud_ply(folder / "input.ply", surface[:1000], surface_n[:1000])
    query = rng.uniform(-0.55, 0.55, size=(4000, 3)).astype(np.float32)  # 4000 = 500 packed bytes
    inside = (((query - np.array([0.02, -0.01, 0.03])) / ELLIPSOID) ** 2).sum(axis=1) < 1.0
    np.savez(folder / "points.npz", points=query, occupancies=np.packbits(inside),
             loc=np.zeros(3, np.float32), scale=np.float32(1.0))
    rec = bumpy_mesh(ELLIPSOID * 0.98, np.array([0.025, -0.01, 0.03]), seed=7)
    (HERE / "shapenet_results").mkdir(parents=True, exist_ok=True)
    rec.export(HERE / "shapenet_results" / f"{model}.ply")


if __name__ == "__main__":
    main()
