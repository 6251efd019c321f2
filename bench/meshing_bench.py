"""Dense vs coarse-to-fine meshing of one trained field (issue: fast meshing).

Run:  .venv/bin/python -m bench.meshing_bench [--checkpoint run.ckpt] [--resolutions 128,256,512]

Without ``--checkpoint`` the default preset is trained once on the bundled example
scan (examples/lord_quas.ply). Each (method, resolution) is meshed in a fresh
process so its peak memory (max RSS minus the RSS before meshing) is its own.
Prints seconds, network queries, peak memory and how far apart the two meshes are
(both use one lattice, so identical meshes have identical vertices: the largest
nearest-vertex distance both ways, and how many vertices moved at all; a sampled
Chamfer distance would only measure its own sampling noise here) at each resolution, with coarse-to-fine/dense ratios.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _rss_mb() -> float:
    """Current resident set size of this process, MB (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _mesh_worker(checkpoint: str, method: str, resolution: int, device: str, out_path: str, queue) -> None:
    import torch

    from sdfrecon.meshing.extract import extract_mesh
    from sdfrecon.base.checkpoint import load_checkpoint
    from sdfrecon.pipeline.reconstruct import load_trained_field

    state = load_checkpoint(checkpoint)
    field, normalization, cfg = load_trained_field(state, device=device)
    lo, hi = (np.asarray(v) for v in state["extent"])  # unit-frame box of the input
    mesh_cfg = replace(cfg.mesh, resolution=resolution, method=method)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    base = _rss_mb()
    t = time.perf_counter()
    with torch.no_grad():
        result = extract_mesh(field.surface_value, lo, hi, mesh_cfg, device=device)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - base  # ru_maxrss is KB on Linux
    mesh = result.mesh
    mesh.vertices = normalization.to_world(mesh.vertices)
    mesh.export(out_path)
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else 0.0
    queue.put({"method": method, "resolution": resolution, "seconds": seconds, "queries": result.queries,
               "peak_mb": peak, "gpu_peak_mb": gpu_peak, "faces": len(mesh.faces)})


def _train_field(path: Path) -> None:
    from sdfrecon.datasets.readers import read_point_cloud
    from sdfrecon.pipeline.config import resolve_config
    from sdfrecon.pipeline.reconstruct import reconstruct

    cloud = read_point_cloud(REPO / "examples" / "lord_quas.ply")
    reconstruct(cloud, resolve_config("default", [{"device": "cpu"}]), checkpoint_path=path, progress=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="trained run checkpoint (default: train one)")
    parser.add_argument("--resolutions", default="128,256,512")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    out_dir = REPO / "bench" / "results" / "meshing"
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = args.checkpoint or out_dir / "field.ckpt"
    if not checkpoint.exists():
        print(f"training the default preset on examples/lord_quas.ply -> {checkpoint}", file=sys.stderr)
        _train_field(checkpoint)
    import trimesh

    from scipy.spatial import cKDTree

    ctx = mp.get_context("spawn")
    rows = []
    for res in (int(r) for r in args.resolutions.split(",")):
        pair = {}
        for method in ("dense", "coarse_to_fine"):
            queue = ctx.Queue()
            path = out_dir / f"{method}_{res}.ply"
            proc = ctx.Process(target=_mesh_worker, args=(str(checkpoint), method, res, args.device, str(path), queue))
            proc.start()
            row = queue.get()
            proc.join()
            pair[method] = (row, path)
            rows.append(row)
            print(f"{method} {res}: {row['seconds']:.1f} s, {row['queries']:,} queries, "
                  f"{row['peak_mb']:.0f} MB", file=sys.stderr, flush=True)
        a, b = (trimesh.load(pair[m][1]) for m in ("dense", "coarse_to_fine"))
        pair["coarse_to_fine"][0].update(vertex_gap(a, b, cKDTree))
    print(f"\nMeshing one trained field (default preset on lord_quas), device {args.device}:\n")
    print("| resolution | method | seconds | queries | peak MB | faces | max vertex gap to dense | "
          "vertices moved | speed-up | query ratio | memory ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    by_key = {(r["method"], r["resolution"]): r for r in rows}
    for r in rows:
        dense = by_key[("dense", r["resolution"])]
        extra = ("", "", "", "", "")
        if r["method"] == "coarse_to_fine":
            extra = (f"{r['max_vertex_gap']:.3g}", f"{r['vertices_moved']:,}", f"{dense['seconds'] / r['seconds']:.1f}x",
                     f"{dense['queries'] / r['queries']:.1f}x", f"{dense['peak_mb'] / max(r['peak_mb'], 1):.1f}x")
        mem = f"{r['peak_mb']:.0f}" + (f" (GPU {r['gpu_peak_mb']:.0f})" if r["gpu_peak_mb"] else "")
        print(f"| {r['resolution']} | {r['method']} | {r['seconds']:.1f} | {r['queries']:,} | {mem} | "
              f"{r['faces']:,} | {' | '.join(extra)} |")
    (out_dir / "results.json").write_text(json.dumps(rows, indent=2))


def vertex_gap(a, b, tree_cls) -> dict:
    """Largest nearest-vertex distance between meshes ``a`` and ``b`` (both ways), world
    units, and how many vertices of either have no twin within 1e-6 of the mesh size."""
    ab = tree_cls(b.vertices).query(a.vertices)[0]
    ba = tree_cls(a.vertices).query(b.vertices)[0]
    tol = 1e-6 * float(np.linalg.norm(a.extents))
    return {"max_vertex_gap": float(max(ab.max(), ba.max())),
            "vertices_moved": int((ab > tol).sum() + (ba > tol).sum())}


if __name__ == "__main__":
    main()
