"""Default CPU preset vs Open3D screened Poisson on the real shapes (issue: spine).

Run:  .venv/bin/python -m bench.spine_vs_poisson [--shapes srb_dc,fandisk] [--preset default]

Both methods get the same input cloud in the same run; Chamfer (SRB convention,
mean of the two one-sided mean distances, world units) is computed against the
ground-truth mesh from 200k samples per surface. Prints a Markdown table with the
ratio neural/Poisson and writes the rows as JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


from bench.shapes import available_shapes, load_shape

from sdfrecon.evaluation.baselines import poisson
from sdfrecon.evaluation.metrics import bbox_diagonal, compare_meshes
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import reconstruct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", help="comma-separated shape names (default: all available)")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--samples", type=int, default=200_000, help="surface samples for the metrics")
    args = parser.parse_args()
    shapes = available_shapes(args.shapes.split(",") if args.shapes else None)
    cfg = resolve_config(args.preset, [{"device": "cpu"}])
    rows = []
    for shape in shapes:
        cloud, gt = load_shape(shape)
        diag = bbox_diagonal(gt.vertices)
        t = time.perf_counter()
        neural = reconstruct(cloud, cfg, progress=False).mesh
        t_neural = time.perf_counter() - t
        t = time.perf_counter()
        classical = poisson(cloud)
        t_poisson = time.perf_counter() - t
        m_n = compare_meshes(neural, gt, samples=args.samples)
        m_p = compare_meshes(classical, gt, samples=args.samples)
        row = {"shape": shape.name, "points": len(cloud), "normals": cloud.has_normals, "diag": diag,
               "cd_neural": m_n.chamfer_l1, "cd_poisson": m_p.chamfer_l1, "ratio": m_n.chamfer_l1 / m_p.chamfer_l1,
               "s_neural": t_neural, "s_poisson": t_poisson,
               "nc_neural": m_n.normal_consistency, "nc_poisson": m_p.normal_consistency}
        rows.append(row)
        print(f"{shape.name}: neural {m_n.chamfer_l1:.4g} ({t_neural:.0f} s), poisson {m_p.chamfer_l1:.4g} "
              f"({t_poisson:.1f} s), ratio {row['ratio']:.2f}", file=sys.stderr, flush=True)
    print(f"\nPreset `{args.preset}` vs Open3D screened Poisson (depth 10), CPU, Chamfer-L1 in world units "
          f"({args.samples} samples/surface):\n")
    print("| shape | points | normals | Chamfer neural | Chamfer Poisson | ratio | s neural | s Poisson |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['shape']} | {r['points']} | {'yes' if r['normals'] else 'no'} | {r['cd_neural']:.4g} | "
              f"{r['cd_poisson']:.4g} | {r['ratio']:.2f} | {r['s_neural']:.0f} | {r['s_poisson']:.1f} |")
    out = Path(__file__).resolve().parent / "results" / f"spine_vs_poisson_{args.preset}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
