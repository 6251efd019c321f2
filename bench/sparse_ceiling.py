"""How much normal consistency 1,000 points can show: reference meshes made from the ground truth.

Issue 21 asks for normal consistency >= 0.97 on sparse input (500-1,000 points). This script
asks what that number means on each corpus shape, with meshes that know the ground truth:

* ``gt_self`` -- the ground truth against itself, sampled with another seed: what the metric
  itself gives a perfect mesh (100,000 samples: nearest samples straddle sharp edges);
* ``gt_1k`` -- the ground truth simplified (quadric decimation, Open3D) to about 1,000
  vertices, the best-placed 1,000 vertices one could hope for, flat between them;
* ``gt_1k_smooth`` -- the same after two Loop subdivisions: the smooth surface those 1,000
  vertices span.

A reconstruction from 1,000 random points without normals knows less than either mesh, so
where the better of ``gt_1k`` and ``gt_1k_smooth`` stays under 0.97 the target is out of reach
of 1,000 points there: the ground truth has detail finer than their spacing. (CAD meshes with
fewer vertices than asked are left as they are by the decimation, and Loop subdivision rounds
their long flat triangles off, so for them ``gt_1k`` is the reference.)

Run (from the repository root; about 5 minutes on 2 cores):

    .venv/bin/python -m bench.sparse_ceiling [--vertices 1000] [--shapes a,b]

Shapes with a ground-truth mesh only (ShapeNet samples are points). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import trimesh

from bench.quality_suite import CORPUS, load_base
from sdfrecon.evaluation.baselines import _to_trimesh
from sdfrecon.evaluation.metrics import MetricOptions
from sdfrecon.evaluation.scoring import evaluate


def _open3d(mesh: trimesh.Trimesh):
    """``mesh`` as an Open3D triangle mesh."""
    import open3d as o3d

    return o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(mesh.vertices, dtype=np.float64)),
                                     o3d.utility.Vector3iVector(np.asarray(mesh.faces, dtype=np.int32)))


def simplified(mesh: trimesh.Trimesh, vertices: int) -> trimesh.Trimesh:
    """``mesh`` decimated to about ``vertices`` vertices (2 faces per vertex on a closed surface)."""
    small = _open3d(mesh).simplify_quadric_decimation(target_number_of_triangles=2 * vertices)
    return _to_trimesh(small)


def loop_subdivided(mesh: trimesh.Trimesh, times: int) -> trimesh.Trimesh:
    """``times`` Loop subdivisions (Open3D): the smooth surface the control mesh spans."""
    smooth = _open3d(mesh).subdivide_loop(number_of_iterations=times)
    return _to_trimesh(smooth)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vertices", type=int, default=1000, help="vertices of the simplified ground truth")
    parser.add_argument("--shapes", default="", help="comma-separated corpus shapes (default: all with a mesh)")
    args = parser.parse_args(argv)
    wanted = {s for s in args.shapes.split(",") if s}
    shapes = [s for s in CORPUS if s.kind != "onet" and s.available() and (not wanted or s.name in wanted)]
    options = MetricOptions(iou_samples=0)
    print(f"| shape | gt vertices | NC: gt_self | gt_{args.vertices} | gt_{args.vertices}_smooth "
          f"| best | CD % diag: gt_{args.vertices} | gt_{args.vertices}_smooth |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for shape in shapes:
        gt = load_base(shape).gt_mesh
        small = simplified(gt, args.vertices)
        smooth = loop_subdivided(small, 2)
        scores = {}
        for name, mesh in (("self", gt), ("small", small), ("smooth", smooth)):
            # the ground truth is sampled with seed 1 (options.seed + 1) and the mesh with seed 0,
            # so the ground truth against itself compares two independent sample sets
            result = evaluate(mesh, gt_mesh=gt, options=options)
            scores[name] = (result.surface.normal_consistency, 100 * result.surface.chamfer_l1 / result.gt_diagonal)
        scores["best"] = (max(scores["small"][0], scores["smooth"][0]), math.nan)
        rows.append(scores)
        print(f"| {shape.name} | {len(gt.vertices)} | {scores['self'][0]:.3f} | {scores['small'][0]:.3f} | "
              f"{scores['smooth'][0]:.3f} | {scores['best'][0]:.3f} | {scores['small'][1]:.3f} | "
              f"{scores['smooth'][1]:.3f} |", flush=True)
    if rows:
        mean = {k: float(np.mean([r[k][0] for r in rows])) for k in ("self", "small", "smooth", "best")}
        below = [shape.name for shape, r in zip(shapes, rows) if r["best"][0] < 0.97]
        print(f"| **mean ({len(rows)})** | | {mean['self']:.3f} | {mean['small']:.3f} | {mean['smooth']:.3f} | "
              f"{mean['best']:.3f} | | |")
        print(f"\n{len(below)} of {len(rows)} shapes: the better {args.vertices}-vertex reference is under 0.97 "
              f"({', '.join(below) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
