"""Stage ``presets``: ``sdfrecon reconstruct`` with each preset on the SRB scans, timed and scored.

Each run is a process (``python -m sdfrecon reconstruct SCAN -o OUT --config PRESET --device D``),
so its seconds are what a user waits for: start, imports, reading, training (with any
``torch.compile``), meshing, writing. Steps and the training seconds come from the run record
(``OUT.json``), giving seconds per 1,000 steps. Every mesh, and Open3D screened Poisson on the
same scan (``sdfrecon.evaluation.baselines.poisson``, on the CPU as always), is scored against
the SRB ground-truth mesh by ``sdfrecon.evaluation.scoring.evaluate``. Runs go shape by shape
(lord_quas first), presets in the order hashgrid, default, steik, until the stage's budget is spent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.gpu_check.stages import write_stage
from bench.shapes import SHARED_DATA, SHAPES, BenchShape

REPO = Path(__file__).resolve().parents[2]

PRESETS = ("hashgrid", "default", "steik")
MIN_RUN_S = 10.0
"""A run is not started with less than this left of the stage's budget (it is recorded as skipped)."""


@dataclass
class PresetPlan:
    """What the stage runs."""

    device: str
    budget_s: float
    """Seconds for the whole stage, counted from ``started``."""
    started: float = field(default_factory=time.perf_counter)
    """``time.perf_counter()`` when the stage's process started."""
    shapes: list[str] = field(default_factory=lambda: ["srb_lord_quas", "srb_dc"])
    presets: tuple[str, ...] = PRESETS
    iterations: dict[str, int] = field(default_factory=dict)
    """Per-preset cap on training steps (absent = the preset's own)."""
    resolution: int | None = None
    sets: list[str] = field(default_factory=list)
    """``--set`` overrides for every run."""
    samples: int = 100_000
    """Surface samples per mesh for the metrics."""


def data_folder() -> Path:
    """Where the shared data is: ``$GPU_CHECK_DATA``, else ``../shared/data`` (``bench.shapes``),
    else ``./shared/data`` (a copy carried to a machine without ``../shared``)."""
    env = os.environ.get("GPU_CHECK_DATA")
    if env:
        return Path(env)
    return SHARED_DATA if (SHARED_DATA / "srb").exists() else REPO / "shared" / "data"


def srb_shapes(names: list[str], data: Path) -> list[BenchShape]:
    """The SRB shapes of ``bench.shapes`` named in ``names`` whose scan and GT exist under ``data``."""
    by_name = {s.name: s for s in SHAPES if s.scan is not None}
    chosen = [by_name[n] for n in names if n in by_name]
    return [s for s in chosen if (data / s.scan).exists() and (data / s.gt).exists()]


def _score(mesh, gt_mesh, scan_points, samples: int) -> dict[str, Any]:
    from sdfrecon.evaluation.metrics import MetricOptions
    from sdfrecon.evaluation.scoring import evaluate

    ev = evaluate(mesh, gt_mesh=gt_mesh, scan_points=scan_points, options=MetricOptions(samples=samples))
    d = ev.as_dict()
    return {k: d[k] for k in ("chamfer_l1", "chamfer_l1_rel", "hausdorff", "normal_consistency", "fscore",
                              "scan_chamfer", "watertight", "vertices", "faces")}


def _poisson(shape: BenchShape, out: Path, gt_mesh, cloud, samples: int) -> dict[str, Any]:
    from sdfrecon.evaluation.baselines import poisson
    from sdfrecon.meshing.io import write_mesh

    t0 = time.perf_counter()
    mesh = poisson(cloud)
    seconds = time.perf_counter() - t0
    write_mesh(mesh, out / "poisson.ply")
    return {"seconds": round(seconds, 2), **_score(mesh, gt_mesh, cloud.points, samples)}


def _command(plan: PresetPlan, scan: Path, mesh: Path, preset: str) -> list[str]:
    cmd = [sys.executable, "-m", "sdfrecon", "reconstruct", str(scan), "-o", str(mesh), "--config", preset,
           "--device", plan.device, "--overwrite", "--quiet"]
    if preset in plan.iterations:
        cmd += ["--iterations", str(plan.iterations[preset])]
    if plan.resolution:
        cmd += ["--resolution", str(plan.resolution)]
    for s in plan.sets:
        cmd += ["--set", s]
    return cmd


def _run_killable(cmd: list[str], log: Path, timeout: float) -> int | None:
    """Run ``cmd`` in its own session, output to ``log``; its exit status, or None when it ran
    past ``timeout`` (then its whole process group is killed: compile workers it started too,
    which would otherwise keep a pipe open and block the wait)."""
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            return None


def _reconstruct(plan: PresetPlan, scan: Path, folder: Path, preset: str, timeout: float,
                 gt_mesh, scan_points) -> dict[str, Any]:
    """One timed ``sdfrecon reconstruct`` process and its scores."""
    import trimesh

    mesh_path = folder / f"{preset}.ply"
    cmd = _command(plan, scan, mesh_path, preset)
    log = mesh_path.with_suffix(".log")
    t0 = time.perf_counter()
    returncode = _run_killable(cmd, log, timeout)
    wall = time.perf_counter() - t0
    if returncode is None:
        return {"status": "timeout", "note": f"stopped after {timeout:.0f} s", "command": " ".join(cmd[1:])}
    row: dict[str, Any] = {"command": " ".join(cmd[1:]), "end_to_end_s": round(wall, 2)}
    if returncode != 0:
        return {**row, "status": "failed", "note": log.read_text(errors="replace").strip()[-1500:]}
    record = json.loads(mesh_path.with_suffix(".json").read_text())
    steps = int(record["train"]["steps"])
    train_s = float(record["seconds"]["train"])
    row.update({"status": "ok", "steps": steps, "train_s": train_s, "setup_s": record["seconds"].get("setup"),
                "mesh_s": record["seconds"].get("mesh"), "read_s": record["seconds"].get("read"),
                "s_per_1k_steps": round(1000 * train_s / steps, 2) if steps else None,
                "steps_per_s": round(steps / train_s, 1) if train_s > 0 else None,
                "device": record.get("device"), "peak_memory_mb": record["mesh"].get("peak_memory_mb"),
                "grid": record["mesh"].get("grid")})
    try:
        row.update(_score(trimesh.load(mesh_path, process=False), gt_mesh, scan_points, plan.samples))
    except Exception as exc:  # an empty or broken mesh is a result too
        row.update({"status": "failed", "note": f"scoring: {type(exc).__name__}: {exc}"})
    return row


def run(out: Path, plan: PresetPlan) -> dict[str, Any]:
    """Run every (shape, preset), shape by shape, within ``plan.budget_s``; record as it goes."""
    from sdfrecon.datasets.benchmarks import read_ground_truth
    from sdfrecon.datasets.readers import read_point_cloud

    t0 = plan.started
    data_dir = data_folder()
    shapes = srb_shapes(plan.shapes, data_dir)
    data: dict[str, Any] = {"data": str(data_dir), "device": plan.device, "iterations_cap": plan.iterations,
                            "sets": plan.sets,
                            "resolution": plan.resolution, "samples": plan.samples, "runs": [], "poisson": {}}
    if not shapes:
        return write_stage(out, "presets", "skipped", data=data,
                           note=f"no SRB scans under {data_dir} (see gpu_check.sh: Data)")
    for shape in shapes:
        folder = out / "presets" / shape.name
        folder.mkdir(parents=True, exist_ok=True)
        cloud = read_point_cloud(data_dir / shape.scan)
        gt = read_ground_truth(data_dir / shape.gt).mesh
        data["poisson"][shape.name] = {"points": len(cloud.points), **_poisson(shape, folder, gt, cloud, plan.samples)}
        write_stage(out, "presets", "running", seconds=time.perf_counter() - t0, data=data)
        for preset in plan.presets:
            left = plan.budget_s - (time.perf_counter() - t0)
            base = {"shape": shape.name, "preset": preset, "points": len(cloud.points)}
            if left < MIN_RUN_S:
                data["runs"].append({**base, "status": "skipped", "note": f"stage budget spent ({left:.0f} s left)"})
            else:
                data["runs"].append({**base, **_reconstruct(plan, data_dir / shape.scan, folder, preset, left,
                                                            gt, cloud.points)})
            write_stage(out, "presets", "running", seconds=time.perf_counter() - t0, data=data)
    statuses = {r["status"] for r in data["runs"]}
    status = "ok" if statuses == {"ok"} else "failed" if "ok" not in statuses else "ok"
    note = "" if statuses == {"ok"} else "some runs did not finish: " + ", ".join(
        f"{r['shape']}/{r['preset']} {r['status']}" for r in data["runs"] if r["status"] != "ok")
    return write_stage(out, "presets", status, seconds=time.perf_counter() - t0, note=note, data=data)
