"""The default against screened Poisson on real scans that have no ground truth.

Run (from the repository root, on a quiet machine)::

    .venv/bin/python -m bench.real_scans [--inputs FILE,...] [--out DIR]

Default inputs: the shared depth-camera captures and single range scans in
``../shared/data/extra/scans`` (PCL ``.pcd`` frames, Stanford dragon range images), none
with normals. Each is reconstructed by ``sdfrecon reconstruct IN -o OUT`` (what a user
runs) and by ``sdfrecon.evaluation.baselines.poisson`` (normals estimated and oriented by
Open3D). Without a ground truth, both meshes are scored against the scan itself:

* *scan -> mesh*: mean distance from every scan point to the mesh, % of the scan's
  bounding-box diagonal (how closely the mesh follows the data);
* *far area*: share of 50,000 area-uniform mesh samples further than 4 point spacings
  (the median 8th-neighbour distance) from every scan point -- surface the method made up;
* pieces (connected components) and whether the mesh is watertight.

Prints a Markdown table. Seconds are wall clock of one run each (``bench.speed_vs_poisson``
times them properly).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh

from bench.shapes import SHARED_DATA
from sdfrecon.base.kdtree import point_tree
from sdfrecon.datasets.readers import read_point_cloud
from sdfrecon.evaluation.baselines import poisson
from sdfrecon.evaluation.metrics import bbox_diagonal, distance_to_surface, sample_surface
from sdfrecon.meshing.io import write_mesh

SCANS = SHARED_DATA / "extra" / "scans"
DEFAULT_INPUTS = tuple(str(SCANS / name) for name in (
    "pcl_milk.pcd", "pcl_table_scene_mug_stereo_textured.pcd", "dragonStandRight_0.ply", "dragonStandRight_72.ply"))


def fit_to_scan(mesh: trimesh.Trimesh, points: np.ndarray, tree, spacing: float) -> dict:
    """Scan -> mesh mean distance (% of the scan's diagonal), far area (%), pieces, watertight."""
    diag = bbox_diagonal(points)
    samples, _ = sample_surface(mesh, 50_000, seed=0)
    far = tree.query(samples, k=1, workers=-1)[0] > 4.0 * spacing
    return {"scan_to_mesh": 100.0 * float(distance_to_surface(points, mesh).mean()) / diag,
            "far_area": 100.0 * float(far.mean()),
            "pieces": len(mesh.split(only_watertight=False)), "watertight": bool(mesh.is_watertight)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", default=",".join(DEFAULT_INPUTS), help="comma-separated point files")
    parser.add_argument("--out", type=Path, help="keep the meshes here (default: a temporary folder)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="real_scans_"))
    out.mkdir(parents=True, exist_ok=True)
    sdfrecon = str(Path(sys.executable).with_name("sdfrecon"))
    rows = []
    for source in (Path(p) for p in args.inputs.split(",") if p):
        if not source.exists():
            print(f"skipped (missing): {source}", file=sys.stderr)
            continue
        cloud = read_point_cloud(source)
        points = np.asarray(cloud.points)
        tree = point_tree(points)
        spacing = float(np.median(tree.query(points, k=9, workers=-1)[0][:, 8]))
        start = time.perf_counter()
        write_mesh(poisson(cloud), out / f"{source.stem}_poisson.ply")
        poisson_seconds = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sdfrecon, "reconstruct", str(source), "-o", str(out / f"{source.stem}_ours.ply"),
                        "--quiet", "--overwrite"], check=True, capture_output=True)
        ours_seconds = time.perf_counter() - start
        fits = {m: fit_to_scan(trimesh.load(out / f"{source.stem}_{m}.ply", process=False), points, tree, spacing)
                for m in ("ours", "poisson")}
        rows.append((source.name, len(points), ours_seconds, poisson_seconds, fits))
        print(f"{source.name}: ours {fits['ours']}, Poisson {fits['poisson']}", file=sys.stderr, flush=True)
    print("| input | points | ours s | Poisson s | ours scan -> mesh % | Poisson scan -> mesh % | ours far area % "
          "| Poisson far area % | ours pieces | Poisson pieces |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, count, ours_s, poisson_s, f in rows:
        pieces = {m: f"{f[m]['pieces']}, {'watertight' if f[m]['watertight'] else 'open'}" for m in f}
        print(f"| {name} | {count} | {ours_s:.1f} | {poisson_s:.1f} | {f['ours']['scan_to_mesh']:.3f} | "
              f"{f['poisson']['scan_to_mesh']:.3f} | {f['ours']['far_area']:.0f} | {f['poisson']['far_area']:.0f} | "
              f"{pieces['ours']} | {pieces['poisson']} |")
    print(f"\nmeshes: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
