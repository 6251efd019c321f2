"""Hash-grid preset vs the default MLP preset: seconds to equal Chamfer (issue: hash grid).

Run:  .venv/bin/python -m bench.hashgrid_vs_mlp [--shapes srb_dc,...] [--budgets 150,300,600]
                                               [--presets hashgrid,occsdf]

For each shape the default preset runs once (its Chamfer C and seconds T are the
baseline); each hash-grid preset (``hashgrid``; ``occsdf``, the same grid with an
occupancy head) runs with each iteration budget. The speed-up is
T divided by the seconds of the cheapest hash-grid budget whose Chamfer is at most
C * (1 + tolerance); "--" when no budget reaches it. Everything runs in the same
process on the same inputs; Chamfer-L1 against the ground truth, world units.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


from bench.shapes import available_shapes, load_shape

from sdfrecon.evaluation.metrics import compare_meshes
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import reconstruct


def timed_chamfer(cloud, gt, preset: str, overrides: list[dict], samples: int) -> tuple[float, float]:
    cfg = resolve_config(preset, overrides)
    t = time.perf_counter()
    mesh = reconstruct(cloud, cfg, progress=False).mesh
    seconds = time.perf_counter() - t
    return compare_meshes(mesh, gt, samples=samples).chamfer_l1, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", help="comma-separated shape names (default: all available)")
    parser.add_argument("--budgets", default="150,300,600", help="hash-grid iteration budgets")
    parser.add_argument("--presets", default="hashgrid", help="comma-separated hash-grid presets")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tolerance", type=float, default=0.02, help="relative Chamfer slack for 'equal'")
    parser.add_argument("--samples", type=int, default=200_000)
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    base = [{"device": args.device}]
    rows = []
    for shape in available_shapes(args.shapes.split(",") if args.shapes else None):
        cloud, gt = load_shape(shape)
        cd_mlp, s_mlp = timed_chamfer(cloud, gt, "default", base, args.samples)
        for preset in args.presets.split(","):
            runs = []
            for budget in budgets:
                cd, s = timed_chamfer(cloud, gt, preset, base + [{"train": {"iterations": budget}}], args.samples)
                runs.append({"iterations": budget, "chamfer": cd, "seconds": s})
                print(f"{shape.name}: {preset}@{budget} {cd:.4g} in {s:.0f} s "
                      f"(default {cd_mlp:.4g} in {s_mlp:.0f} s)", file=sys.stderr, flush=True)
            equal = [r for r in runs if r["chamfer"] <= cd_mlp * (1 + args.tolerance)]
            best = min(equal, key=lambda r: r["seconds"]) if equal else None
            rows.append({"shape": shape.name, "preset": preset, "default": {"chamfer": cd_mlp, "seconds": s_mlp},
                         "hashgrid": runs, "speedup_to_equal": (s_mlp / best["seconds"]) if best else None})
    head = " | ".join(f"@{b} CD / s" for b in budgets)
    print(f"\nDefault (MLP) vs hashgrid presets, device {args.device}, Chamfer-L1 (world units) / seconds:\n")
    print(f"| shape | preset | default CD / s | {head} | speed-up to equal CD |")
    print("|---|---|---|" + "---|" * len(budgets) + "---|")
    for r in rows:
        cells = " | ".join(f"{x['chamfer']:.4g} / {x['seconds']:.0f}" for x in r["hashgrid"])
        speed = f"{r['speedup_to_equal']:.1f}x" if r["speedup_to_equal"] else "--"
        print(f"| {r['shape']} | {r['preset']} | {r['default']['chamfer']:.4g} / {r['default']['seconds']:.0f} | {cells} | {speed} |")
    out = Path(__file__).resolve().parent / "results" / "hashgrid_vs_mlp.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
