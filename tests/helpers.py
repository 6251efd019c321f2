"""Small test helpers: writers of input files in every supported format, and a Chamfer
distance to an analytic surface."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_ply(path: Path, points: np.ndarray, normals: np.ndarray | None = None, *,
              binary: bool = True, faces: np.ndarray | None = None) -> Path:
    """Write a PLY point cloud (optionally with normals or faces), binary LE or ASCII."""
    names = ["x", "y", "z"] + (["nx", "ny", "nz"] if normals is not None else [])
    data = points if normals is None else np.hstack([points, normals])
    lines = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
             f"element vertex {len(points)}"]
    lines += [f"property float {n}" for n in names]
    if faces is not None:
        lines += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    lines.append("end_header")
    header = ("\n".join(lines) + "\n").encode("ascii")
    with open(path, "wb") as fh:
        fh.write(header)
        if binary:
            fh.write(np.asarray(data, dtype="<f4").tobytes())
            if faces is not None:
                rec = np.zeros(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
                rec["n"], rec["v"] = 3, faces
                fh.write(rec.tobytes())
        else:
            fh.write("".join(" ".join(f"{v:.7g}" for v in row) + "\n" for row in data).encode())
            if faces is not None:
                fh.write("".join(f"3 {a} {b} {c}\n" for a, b, c in faces).encode())
    return path


def chamfer_to_analytic(mesh, sdf, gt_points):
    """Two-sided mean distance: mesh samples -> exact surface (|sdf|), exact samples -> mesh samples."""
    from scipy.spatial import cKDTree

    from sdfrecon.evaluation.metrics import sample_surface

    pred, _ = sample_surface(mesh, 50_000, seed=1)
    to_true = np.abs(sdf(pred)).mean()
    to_pred = cKDTree(pred).query(gt_points)[0].mean()
    return (to_true + to_pred) / 2.0
