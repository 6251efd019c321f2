"""Stage ``meshing``: one trained field meshed dense, coarse-to-fine, and coarse-to-fine with
float16 classification (``mesh.classify_precision``), at one resolution (512 on the GPU).

The field is a checkpoint from the ``presets`` stage (lord_quas, first of ``hashgrid`` and
``default`` that exists), else one trained here (the default preset on the bundled example).
Each variant is warmed up at 64^3, then timed with CUDA synchronised before and after
(``extract_mesh``: field queries, marching cubes, small-piece removal; not the vertex
projection of ``mesh.refine``), with the peak CUDA memory it allocated
(``torch.cuda.max_memory_allocated`` after a reset). Vertex gaps use
``bench.meshing_bench.vertex_gap`` (the variants share one lattice: identical meshes have
identical vertices).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.gpu_check.stages import write_stage

REPO = Path(__file__).resolve().parents[2]
VARIANTS = (("coarse_to_fine", "float32"), ("coarse_to_fine", "float16"), ("dense", "float32"))
"""In this order: dense, the slowest on the CPU side (marching cubes over every node), last, so
a time box that stops it still leaves the coarse-to-fine rows."""
REFERENCE = {"coarse_to_fine/float32": "dense/float32", "coarse_to_fine/float16": "coarse_to_fine/float32"}
"""Each variant's mesh is compared with this one."""


def find_checkpoint(out: Path) -> Path | None:
    """A field trained by the ``presets`` stage, if any."""
    for preset in ("hashgrid", "default"):
        path = out / "presets" / "srb_lord_quas" / f"{preset}.ckpt"
        if path.exists():
            return path
    return None


def train_field(path: Path, device: str, iterations: int) -> Path:
    """Train the default preset on examples/lord_quas.ply into checkpoint ``path``."""
    from sdfrecon.datasets.readers import read_point_cloud
    from sdfrecon.pipeline.config import resolve_config
    from sdfrecon.pipeline.reconstruct import reconstruct

    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = resolve_config("default", [{"device": device, "train": {"iterations": iterations}}])
    reconstruct(read_point_cloud(REPO / "examples" / "lord_quas.ply"), cfg, checkpoint_path=path, progress=False)
    return path


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _mesh_once(field, lo, hi, cfg, device: str) -> tuple[Any, float, float | None]:
    """(MeshResult, seconds, peak CUDA MB or None)."""
    import torch

    from sdfrecon.meshing.extract import extract_mesh

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        result = extract_mesh(field, lo, hi, cfg, device=device)
    _sync(device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    return result, seconds, peak


def run(out: Path, device: str, resolution: int, train_iterations: int) -> dict[str, Any]:
    """Mesh one field in every variant of :data:`VARIANTS`; record as it goes."""
    from scipy.spatial import cKDTree

    from bench.meshing_bench import vertex_gap
    from sdfrecon.base.checkpoint import load_checkpoint
    from sdfrecon.pipeline.reconstruct import load_trained_field

    t0 = time.perf_counter()
    checkpoint = find_checkpoint(out)
    data: dict[str, Any] = {"device": device, "resolution": resolution, "variants": []}
    if checkpoint is None:
        checkpoint = train_field(out / "meshing" / "field.ckpt", device, train_iterations)
        data["field"] = f"default preset, {train_iterations} steps on examples/lord_quas.ply (trained here)"
    else:
        data["field"] = f"{checkpoint.stem} preset on srb_lord_quas (from the presets stage)"
    data["checkpoint"] = str(checkpoint)
    state = load_checkpoint(checkpoint)
    field, _, cfg = load_trained_field(state, device=device)
    lo, hi = (np.asarray(v) for v in state["extent"])
    meshes = {}
    for method, precision in VARIANTS:
        name = f"{method}/{precision}"
        mesh_cfg = replace(cfg.mesh, resolution=resolution, method=method, classify_precision=precision)
        row: dict[str, Any] = {"variant": name, "method": method, "classify_precision": precision}
        try:
            _mesh_once(field.surface_value, lo, hi, replace(mesh_cfg, resolution=64), device)  # warm-up
            result, seconds, peak = _mesh_once(field.surface_value, lo, hi, mesh_cfg, device)
        except Exception as exc:  # one variant failing (e.g. out of memory) is a result
            row.update({"status": "failed", "note": f"{type(exc).__name__}: {str(exc)[:500]}"})
        else:
            meshes[name] = result.mesh
            row.update({"status": "ok", "seconds": round(seconds, 3), "queries": result.queries,
                        "grid": list(result.grid.shape), "peak_cuda_mb": None if peak is None else round(peak, 1),
                        "vertices": len(result.mesh.vertices), "faces": len(result.mesh.faces)})
        data["variants"].append(row)
        write_stage(out, "meshing", "running", seconds=time.perf_counter() - t0, data=data)
    for row in data["variants"]:
        ref = REFERENCE.get(row["variant"])
        if row["status"] == "ok" and ref in meshes:
            mesh = meshes[row["variant"]]
            row["compared_with"] = ref
            row["vertex_count_gap"] = len(mesh.vertices) - len(meshes[ref].vertices)
            row.update(vertex_gap(meshes[ref], mesh, cKDTree))  # field (unit) frame
    ok = all(r["status"] == "ok" for r in data["variants"])
    return write_stage(out, "meshing", "ok" if ok else "failed", seconds=time.perf_counter() - t0,
                       note="" if ok else "a variant failed", data=data)
