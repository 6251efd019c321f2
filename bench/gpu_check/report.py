"""Merge the stage records into ``OUT/gpu_check.json`` and the Markdown tables of ``OUT/gpu_check.md``.

Nothing is filled in that a stage did not record: a stage that did not run says so, a
number that was not measured is ``-``. Targets (issue 16, H100/H200 class) are judged only
from numbers measured on CUDA, never in smoke mode.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from bench.gpu_check.stages import read_stage

STAGES = ("env", "setup", "torch_cuda", "presets", "meshing", "tests", "tcnn", "tcnn_test")
"""Stages in report order (the order gpu_check.sh runs them in)."""
TEST_LINE = re.compile(r"^(\S+::\S+?)\s+(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")
TARGETS = {"fast_end_to_end_s": 10.0, "steik_steps_per_s": 50.0, "meshing_512_s": 2.0}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 10**-digits or value == 0 else f"{value:.2e}"
    return str(value)


def test_counts(log: str | None) -> dict[str, Any]:
    """Per-outcome counts and the failing test ids from a ``pytest -v`` log."""
    counts: dict[str, Any] = {}
    failing: list[str] = []
    if log and Path(log).exists():
        for line in Path(log).read_text(errors="replace").splitlines():
            m = TEST_LINE.match(line)
            if m:
                counts[m.group(2).lower()] = counts.get(m.group(2).lower(), 0) + 1
                if m.group(2) in ("FAILED", "ERROR"):
                    failing.append(m.group(1))
    counts["failing"] = failing
    return counts


def targets(stages: dict[str, dict | None], smoke: bool) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows."""
    presets = (stages.get("presets") or {}).get("data", {})
    meshing = (stages.get("meshing") or {}).get("data", {})
    cuda = str(presets.get("device", "")).startswith("cuda") and not smoke
    rows = []
    runs = [r for r in presets.get("runs", []) if r.get("status") == "ok"]
    for r in [r for r in runs if r["preset"] == "hashgrid"]:
        poisson = presets.get("poisson", {}).get(r["shape"], {}).get("chamfer_l1")
        better = poisson is not None and r["chamfer_l1"] < poisson
        met = r["end_to_end_s"] <= TARGETS["fast_end_to_end_s"] and better
        rows.append((f"hashgrid on {r['shape']} ({r['points']} points): <= 10 s end to end, Chamfer below Poisson",
                     f"{r['end_to_end_s']:.1f} s, CD-L1 {r['chamfer_l1']:.4g} vs Poisson {_fmt(poisson, 4)}",
                     ("met" if met else "not met") if cuda else "not judged (not a CUDA run)"))
    for r in [r for r in runs if r["preset"] == "steik"]:
        rows.append((f"steik on {r['shape']}: >= 50 steps/s (10k steps < 200 s)",
                     f"{r['steps_per_s']} steps/s over {r['steps']} steps (10k projected: "
                     f"{10 * r['s_per_1k_steps']:.0f} s)",
                     ("met" if r["steps_per_s"] >= TARGETS["steik_steps_per_s"] else "not met") if cuda
                     else "not judged (not a CUDA run)"))
    for v in [v for v in meshing.get("variants", []) if v.get("status") == "ok"]:
        judged = cuda and meshing.get("resolution") == 512
        rows.append((f"meshing 512^3, {v['variant']}: < 2 s", f"{v['seconds']:.2f} s at {meshing.get('resolution')}^3",
                     ("met" if v["seconds"] < TARGETS["meshing_512_s"] else "not met") if judged
                     else "not judged (not 512^3 on CUDA)"))
    if not rows:
        rows.append(("all targets", "nothing measured", "not judged"))
    return rows


def markdown(stages: dict[str, dict | None], smoke: bool) -> str:
    """The report as Markdown tables."""
    lines = [f"# GPU check (issue 16){' -- SMOKE RUN: tiny settings, nothing here is a measurement' if smoke else ''}",
             "", f"Written {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}.", "",
             "| stage | status | seconds | note |", "|---|---|---|---|"]
    for name in STAGES:
        rec = stages.get(name)
        if rec is None:
            lines.append(f"| {name} | did not run | - | no record |")
        else:
            note = rec.get("note", "").replace("\n", " ").replace("|", "/")[:300]
            lines.append(f"| {name} | {rec['status']} | {_fmt(rec.get('seconds'), 1)} | {note} |")
    env = (stages.get("env") or {}).get("data", {})
    if env:
        lines += ["", "## Environment", "", "| item | value |", "|---|---|"]
        for key in ("nvidia_smi", "gpu", "gpu_memory_gib", "compute_capability", "torch", "torch_cuda_build",
                    "cuda_available", "cudnn", "nvcc", "tcnn_available", "python", "cpus"):
            lines.append(f"| {key} | {_fmt(env.get(key))} |")
    presets = (stages.get("presets") or {}).get("data", {})
    if presets.get("runs") or presets.get("poisson"):
        lines += ["", f"## Presets on the SRB scans (device {presets.get('device')}; step caps "
                      f"{presets.get('iterations_cap') or 'none'}; {presets.get('samples')} metric samples)", "",
                  "| shape | method | status | steps | end-to-end s | train s | s / 1k steps | steps/s | mesh s | "
                  "CD-L1 | CD-L1 % diag | ratio to Poisson | NC | F-score | vertices |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for shape, p in presets.get("poisson", {}).items():
            lines.append(f"| {shape} | poisson (CPU, Open3D) | ok | - | {_fmt(p.get('seconds'))} (in-process) | - | - | "
                         f"- | - | {_fmt(p.get('chamfer_l1'), 4)} | {_fmt(100 * p['chamfer_l1_rel'], 3)} | 1.00 | "
                         f"{_fmt(p.get('normal_consistency'), 3)} | {_fmt(p.get('fscore'), 3)} | {p.get('vertices')} |")
            for r in [r for r in presets.get("runs", []) if r["shape"] == shape]:
                ok = r.get("status") == "ok"
                ratio = r["chamfer_l1"] / p["chamfer_l1"] if ok and p.get("chamfer_l1") else None
                lines.append(
                    f"| {shape} | {r['preset']} | {r['status']} | {_fmt(r.get('steps'))} | {_fmt(r.get('end_to_end_s'))} | "
                    f"{_fmt(r.get('train_s'))} | {_fmt(r.get('s_per_1k_steps'))} | {_fmt(r.get('steps_per_s'), 1)} | "
                    f"{_fmt(r.get('mesh_s'))} | {_fmt(r.get('chamfer_l1'), 4)} | "
                    f"{_fmt(100 * r['chamfer_l1_rel'], 3) if ok else '-'} | {_fmt(ratio)} | "
                    f"{_fmt(r.get('normal_consistency'), 3)} | {_fmt(r.get('fscore'), 3)} | {_fmt(r.get('vertices'))} |"
                    + ("" if ok else f" {str(r.get('note', ''))[-200:].replace(chr(10), ' ').replace('|', '/')}"))
    meshing = (stages.get("meshing") or {}).get("data", {})
    if meshing.get("variants"):
        lines += ["", f"## Meshing one field at {meshing.get('resolution')}^3 (device {meshing.get('device')}; "
                      f"{meshing.get('field')})", "",
                  "| variant | status | seconds | queries | peak CUDA MB | vertices | faces | compared with | "
                  "vertex count gap | max vertex gap (unit frame) | vertices moved |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for v in meshing["variants"]:
            lines.append(f"| {v['variant']} | {v['status']} | {_fmt(v.get('seconds'), 3)} | {_fmt(v.get('queries'))} | "
                         f"{_fmt(v.get('peak_cuda_mb'), 1)} | {_fmt(v.get('vertices'))} | {_fmt(v.get('faces'))} | "
                         f"{_fmt(v.get('compared_with'))} | {_fmt(v.get('vertex_count_gap'))} | "
                         f"{_fmt(v.get('max_vertex_gap'), 4)} | {_fmt(v.get('vertices_moved'))} |"
                         + ("" if v["status"] == "ok" else f" {v.get('note', '')[:200]}"))
    for name in ("tests", "tcnn_test"):
        rec = stages.get(name)
        if rec and rec["status"] != "skipped":
            c = rec.get("data", {}).get("counts", {})
            lines += ["", f"## {name}: {rec.get('note', '')}", "",
                      "| passed | failed | errors | skipped |", "|---|---|---|---|",
                      f"| {c.get('passed', 0)} | {c.get('failed', 0)} | {c.get('error', 0)} | {c.get('skipped', 0)} |"]
            lines += [f"- failing: `{t}`" for t in c.get("failing", [])]
    lines += ["", "## Targets (issue 16)", "", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {v} |" for t, m, v in targets(stages, smoke)]
    return "\n".join(lines) + "\n"


def write_report(out: Path, *, smoke: bool) -> str:
    """Write ``gpu_check.json`` (every record) and ``gpu_check.md``; return the Markdown."""
    stages = {name: read_stage(out, name) for name in STAGES}
    for name in ("tests", "tcnn_test"):
        if stages[name] is not None:
            stages[name].setdefault("data", {})["counts"] = test_counts(stages[name]["data"].get("log"))
    md = markdown(stages, smoke)
    (out / "gpu_check.json").write_text(json.dumps({"smoke": smoke, "written": time.time(), "stages": stages},
                                                   indent=2, default=str))
    (out / "gpu_check.md").write_text(md)
    return md
