"""Mean-curvature-flow smoothing of reconstructions of noisy scans (issue: surface evolution).

Run:  nice -n 15 env OMP_NUM_THREADS=1 .venv/bin/python -m bench.evolve_smoothing
          [--shapes bunny,fandisk,fertility,srb_lord_quas] [--times 0,0.0002,0.0005,0.001]
          [--noise 0.005] [--preset cpu] [--recon-preset default] [--samples 100000] [-o DIR]

For each shared shape: add Gaussian noise of ``--noise`` x the ground truth's
bounding-box diagonal to its scan (positions only; the normals are kept),
reconstruct it with ``--recon-preset`` (``sdfrecon.pipeline``), then evolve the
trained field under mean-curvature flow (``sdfrecon.pipeline.evolve``, ``--preset``)
and mesh it at ``--times``. Reported: Chamfer-L1 to the *clean* ground truth of
the reconstruction and of each smoothed mesh, their ratio to the reconstruction
(the baseline measured in the same run; < 1 = smoothing helped), and for
reference trimesh's Taubin smoothing of the reconstruction mesh (10 iterations).
Seconds are training wall time (all sessions of a resumed run, from its record): the
evolution's steps and the reconstruction's steps; meshing and Chamfer are left out.

Every stage is resumable: reconstructions and evolutions keep their checkpoints
in DIR (default bench/results/evolve_smoothing); rerunning skips finished work.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import trimesh

from bench.shapes import available_shapes, load_shape

from sdfrecon.base.run_files import RunFiles
from sdfrecon.datasets.pointcloud import make_point_cloud
from sdfrecon.evaluation.metrics import bbox_diagonal, compare_meshes
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.evolve import EvolveFiles, evolve_checkpoints
from sdfrecon.pipeline.run import resume_config, run_reconstruction

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "evolve_smoothing"
DEFAULT_SHAPES = "bunny,fandisk,fertility,srb_lord_quas"


def _train_seconds(record: dict) -> float:
    """Training wall time of a run over all its sessions (a re-mesh-only resume adds none)."""
    seconds = record["seconds"]
    return float(seconds.get("train_total_including_resumed", seconds["train"]))


def noisy_reconstruction(shape, noise: float, folder: Path, seed: int, preset: str = "default",
                         overrides: list[dict] | None = None) -> tuple[RunFiles, trimesh.Trimesh, float]:
    """Reconstruct the noisy scan of ``shape`` with ``preset`` (resumed if done)."""
    cloud, gt = load_shape(shape, seed=seed)
    diag = bbox_diagonal(np.asarray(gt.vertices))
    rng = np.random.default_rng(seed)
    noisy = make_point_cloud(cloud.points + rng.normal(scale=noise * diag, size=cloud.points.shape),
                             cloud.normals, source=f"{shape.name} + noise {noise:g} diag")
    files = RunFiles.for_mesh(folder / "noisy_recon.ply")
    if files.mesh.exists() and files.record.exists():
        return files, gt, _train_seconds(json.loads(files.record.read_text()))
    if files.checkpoint.exists():
        cfg, state = resume_config(files)
        outcome = run_reconstruction(noisy, cfg, files, resume_state=state)
    else:
        outcome = run_reconstruction(noisy, resolve_config(preset, [{"seed": seed}, *(overrides or [])]), files)
    return files, gt, _train_seconds(outcome.record)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=DEFAULT_SHAPES)
    parser.add_argument("--times", default="0,0.0002,0.0005,0.001")
    parser.add_argument("--noise", type=float, default=0.005, help="noise sigma as a fraction of the GT diagonal")
    parser.add_argument("--preset", default="cpu", help="evolution preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="evolution config override (repeatable)")
    parser.add_argument("--recon-preset", default="default",
                        help="reconstruction preset (e.g. hashgrid, which keeps more of the noise than default)")
    parser.add_argument("--recon-set", dest="recon_overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="reconstruction config override (repeatable)")
    parser.add_argument("--samples", type=int, default=100_000, help="surface samples per mesh for Chamfer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    from sdfrecon.base.configtools import parse_override
    from sdfrecon.pipeline.evolve import parse_times

    times = parse_times(args.times)
    overrides = [parse_override(t) for t in args.overrides]
    shapes = available_shapes(args.shapes.split(","))
    rows = []
    for shape in shapes:
        folder = args.output / shape.name
        files, gt, recon_seconds = noisy_reconstruction(shape, args.noise, folder, args.seed, args.recon_preset,
                                                        [parse_override(t) for t in args.recon_overrides])
        diag = bbox_diagonal(np.asarray(gt.vertices))
        recon = trimesh.load(files.mesh, force="mesh", process=False)
        base = compare_meshes(recon, gt, samples=args.samples, seed=args.seed).chamfer_l1
        taubin = recon.copy()
        trimesh.smoothing.filter_taubin(taubin, iterations=10)
        taubin_cd = compare_meshes(taubin, gt, samples=args.samples, seed=args.seed).chamfer_l1
        out = EvolveFiles(folder / "smooth.ply")
        done = out.record.exists() and all(out.mesh_at(t).exists() for t in times)
        if done:
            record = json.loads(out.record.read_text())
        else:
            resume = out.checkpoint.exists()
            outcome = evolve_checkpoints("smooth", [files.checkpoint], out.base, times=times,
                                         preset=None if resume else args.preset, overrides=[] if resume else overrides,
                                         resume=resume, overwrite=not resume)
            record = outcome.record
        seconds = _train_seconds(record)
        row = {"shape": shape.name, "diag": diag, "recon_cd": base, "recon_s": recon_seconds,
               "taubin_cd": taubin_cd, "evolve_s": seconds, "steps": record["train"]["steps"], "times": {}}
        for t in times:
            mesh = trimesh.load(out.mesh_at(t), force="mesh", process=False)
            row["times"][t] = compare_meshes(mesh, gt, samples=args.samples, seed=args.seed).chamfer_l1
        rows.append(row)
        print(json.dumps(row), flush=True)
    (args.output / "results.json").write_text(json.dumps(rows, indent=2))
    print()
    print(markdown(rows, times, args))
    return 0


def markdown(rows: list[dict], times: list[float], args) -> str:
    """Chamfer-L1 to the clean ground truth in % of its bounding-box diagonal.

    ``t=0`` is the space-time field's own mesh before any flow (at the evolution's
    meshing resolution), the fair baseline for the later times; ``recon`` is the
    reconstruction's mesh as written by ``reconstruct``.
    """
    head = ["shape", "recon", "Taubin x10"] + [f"t={t:g}" for t in times] + ["evolve train s", "recon train s"]
    lines = [f"Chamfer-L1 in % of the diagonal (noise {args.noise:g} x diagonal)",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        pct = 100.0 / r["diag"]
        cells = [r["shape"], f"{r['recon_cd'] * pct:.3f}", f"{r['taubin_cd'] * pct:.3f}"]
        cells += [f"{r['times'][t] * pct:.3f}" for t in times]
        cells += [f"{r['evolve_s']:.0f}", f"{r['recon_s']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
