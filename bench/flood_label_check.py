"""Are the flood fill's sign labels right? Each labelled pool sample asked of the ground truth.

Without trusted normals the default's sampler labels pool samples outside (reached by a
flood from the box's boundary) or inside (enclosed free space, with a depth bound), and the
clearance term then wants the field's sign to match (``sampler.flood_fill``,
``flood_inside``, ``flood_open_directions``). A wrong label is a wrong sign the network is
trained towards. This script builds each corpus input as ``bench.quality_suite`` does, sets
the default's sampler up on it as ``sdfrecon reconstruct`` would, and asks the ground-truth
mesh (Open3D's ray-parity occupancy, 9 rays) whether each labelled sample lies inside it;
a label is wrong when it lies on the wrong side by more than 0.5 % of the diagonal.

Run (from the repository root; about 10 s per shape on 2 cores):

    .venv/bin/python -m bench.flood_label_check [--conditions sparse] [--shapes a,b] [--set KEY=VALUE]

Shapes with a watertight ground-truth mesh only: ray parity calls the space below the bunny's
open base inside, and the ShapeNet samples are points whose normals are not consistently
oriented. Prints a Markdown table; ``wrong`` counts outside labels inside
the ground truth and inside labels outside it.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from bench.quality_suite import CORPUS, condition_input, known_condition, load_base


def _occupancy(mesh, at: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """(P,) bool each: whether each (P, 3) world position lies inside the triangle mesh
    ``mesh``, and whether it is farther than ``tolerance`` (world units) from its surface."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, dtype=np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.uint32)))
    query = o3d.core.Tensor(at.astype(np.float32))
    inside = scene.compute_occupancy(query, nsamples=9).numpy() > 0.5
    return inside, scene.compute_distance(query).numpy() > tolerance


def check_labels(cloud, gt_mesh, cfg, tolerance: float = 0.005) -> tuple[int, int, int, int, str]:
    """Outside and inside labels of the sampler set up on ``cloud`` under ``cfg``, against
    ``gt_mesh``: (outside labelled, of them inside the ground truth, inside labelled, of them
    outside it, the sampler's flood note). A label counts as wrong when the sample is also
    farther than ``tolerance`` times the ground truth's diagonal from its surface (the
    fill's raster rounds)."""
    # The same steps as sdfrecon.pipeline.reconstruct.reconstruct up to its sampler (no
    # subset: the corpus inputs are under data.max_points).
    from sdfrecon.datasets.normalize import Normalization
    from sdfrecon.datasets.sampling import SAMPLERS
    from sdfrecon.pipeline.reconstruct import _drop_strays, _fit_to_spacing, _prepare_normals

    data, _ = _drop_strays(cloud, cfg)
    normalization = Normalization.fit_mode(data.extent_points(), cfg.data.normalize)
    unit, _ = _prepare_normals(data.transformed(normalization), cfg)
    cfg = _fit_to_spacing(cfg, unit)
    sampler = SAMPLERS.build(cfg.sampler, data=unit, device=torch.device("cpu"), seed=cfg.seed)
    counts = [0, 0, 0, 0]
    far = tolerance * float(np.linalg.norm(np.ptp(np.asarray(gt_mesh.vertices), axis=0)))
    for group, (at, _, _) in getattr(sampler, "pools", {}).items():
        world = normalization.to_world(at.numpy().astype(np.float64))
        if group in getattr(sampler, "outside", {}):
            outside = world[sampler.outside[group].numpy()]
            counts[0] += len(outside)
            if len(outside):
                inside_gt, deep = _occupancy(gt_mesh, outside, far)
                counts[1] += int((inside_gt & deep).sum())
        if group in getattr(sampler, "inside", {}):
            inside = world[sampler.inside[group].numpy() > 0]
            counts[2] += len(inside)
            if len(inside):
                inside_gt, deep = _occupancy(gt_mesh, inside, far)
                counts[3] += int((~inside_gt & deep).sum())
    return (*counts, getattr(sampler, "flood_note", ""))


def main(argv: list[str] | None = None) -> int:
    from sdfrecon.pipeline.config import config_overrides, resolve_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conditions", default="sparse", help="comma-separated input conditions")
    parser.add_argument("--shapes", default="", help="comma-separated corpus shapes (default: all with a mesh)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override of the default (repeatable)")
    args = parser.parse_args(argv)
    wanted = [s for s in args.shapes.split(",") if s]
    known = {s.name for s in CORPUS}
    conditions = [c for c in args.conditions.split(",") if c]
    for problem, bad in (("unknown shape", [s for s in wanted if s not in known]),
                         ("unknown condition", [c for c in conditions if not known_condition(c)])):
        if bad:
            flag = "--shapes" if problem == "unknown shape" else "--conditions"
            print(f"error: {flag}: {problem} {bad[0]!r}", file=sys.stderr)
            return 2
    cfg = resolve_config("default", config_overrides(sets=args.set))
    shapes = [s for s in CORPUS if s.kind != "onet" and s.available() and (not wanted or s.name in wanted)]
    print("| input | outside labels | of them inside the ground truth | inside labels | of them outside | flood fill |")
    print("|---|---|---|---|---|---|")
    wrong = 0
    for shape in shapes:
        base = load_base(shape)
        for condition in conditions:
            cloud = condition_input(shape, base, condition)
            if cloud is None:
                continue
            if not base.gt_mesh.is_watertight:
                print(f"| {shape.name}@{condition} | | | | | ground truth not watertight: not checked |")
                continue
            out, out_wrong, ins, ins_wrong, note = check_labels(cloud, base.gt_mesh, cfg)
            wrong += out_wrong + ins_wrong
            print(f"| {shape.name}@{condition} | {out} | {out_wrong} | {ins} | {ins_wrong} | {note} |", flush=True)
    print(f"\nwrong labels in all: {wrong}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
