"""Reconstruction from slices: OReX, our ``slices`` preset and shape-based interpolation.

Run (nice'd: it trains for minutes per shape and method)::

    nice -n 15 env OMP_NUM_THREADS=1 .venv/bin/python -m bench.slices_bench \
        [--inputs eight_15,balloondog] [--extra DIR] [--shapes fertility --planes 20] \
        [--methods orex,slices,interp] [--iterations N] [--set METHOD:key=value ...] [--resolution N]

Inputs, each with a reference mesh in its frame:

* ``--inputs``: the real OReX cross-sections in ../shared/data (``eight_15``,
  ``balloondog``: ``.csl`` files and their reference meshes);
* ``--extra DIR``: every ``DIR/<name>.csl`` with ``DIR/<name>_scaled.stl`` or
  ``DIR/reference/<name>_scaled.stl`` beside it (OReX's ``Data/csl_with_ref`` layout);
* ``--shapes``: shared ground-truth meshes (bench/shapes.py) cut by ``--planes``
  parallel planes along ``--axis`` (what ``sdfrecon slice`` writes).

Methods: a preset name (``orex``, ``slices``, ...) trains through
``sdfrecon.pipeline.reconstruct`` on the CPU, with ``--iterations`` and ``--set
METHOD:key=value`` overrides (a CPU budget; the table says which); ``interp`` is
shape-based interpolation (Raya & Udupa 1990: each slice's 2D signed distance to its
contours, linearly interpolated between neighbouring parallel slices; beyond the outer
slices the distance grows by the distance to the slice), meshed with the same box and
resolution; n/a for non-parallel planes.

Metrics against the reference: Chamfer-L1 (mean of the two one-sided mean distances)
in % of the reference's bounding-box diagonal, normal consistency, volumetric IoU
(Monte Carlo), and seconds (wall clock, pessimistic on a shared machine: compare
methods within one run). For parallel planes, a second table says how the error grows
from next to a plane to half way between two (:func:`between_planes`): ripples
between planes show there. Prints a Markdown table and writes the rows as JSON to
bench/results/slices_<methods>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh

from bench.shapes import SHARED_DATA, available_shapes

from sdfrecon.base.configtools import parse_override
from sdfrecon.datasets.csl import read_csl
from sdfrecon.datasets.normalize import Normalization
from sdfrecon.datasets.slices import SliceSet, points_inside
from sdfrecon.datasets.slicing import AXES, parallel_planes, slice_mesh
from sdfrecon.evaluation.iou import volumetric_iou
from sdfrecon.evaluation.metrics import bbox_diagonal, compare_meshes, raycasting_scene, sample_surface
from sdfrecon.meshing.extract import MeshConfig, extract_mesh
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import reconstruct

REAL_INPUTS = {
    "eight_15": ("csl/eight_15.csl", "csl/reference/eight_15_scaled.stl"),
    "balloondog": ("extra/csl/balloondog.csl", "extra/csl/reference/balloondog_scaled.stl"),
}
"""The shared OReX cross-sections that come with a reference mesh."""


@dataclass
class BenchInput:
    """Slices and the reference mesh they were cut from (same frame)."""

    name: str
    slices: SliceSet
    reference: trimesh.Trimesh
    origin: str
    """How the slices were made (``csl`` file, or ``N planes along z``)."""


def real_inputs(names: list[str], extra: Path | None) -> list[BenchInput]:
    """The requested shared ``.csl`` inputs (those present) and every pair found in ``extra``."""
    pairs = [(n, SHARED_DATA / c, SHARED_DATA / r) for n, (c, r) in REAL_INPUTS.items() if n in names]
    if extra is not None:
        for csl in sorted(extra.glob("*.csl")):
            for ref in (extra / f"{csl.stem}_scaled.stl", extra / "reference" / f"{csl.stem}_scaled.stl"):
                if ref.exists():
                    pairs.append((csl.stem, csl, ref))
                    break
    return [BenchInput(n, read_csl(c), trimesh.load(r, force="mesh", process=True), "csl")
            for n, c, r in pairs if c.exists() and r.exists()]


def cut_inputs(names: list[str], planes: int, axis: str) -> list[BenchInput]:
    """Shared ground-truth meshes cut by ``planes`` parallel planes along ``axis``."""
    out = []
    for shape in available_shapes(names):
        gt = trimesh.load(SHARED_DATA / shape.gt, force="mesh", process=True)
        slices = slice_mesh(gt, parallel_planes(gt, planes, AXES[axis]), source=shape.name)
        out.append(BenchInput(shape.name, slices, gt, f"{planes} planes along {axis}"))
    return out


class SliceInterpolation:
    """Shape-based interpolation of parallel slices as a field ``(N, 3) -> (N,)``, negative inside.

    Parameters
    ----------
    slices : SliceSet
        Parallel planes (any common normal), in the frame the field is evaluated in.
    step : float
        Spacing at which contours are resampled for the distance lookup.
    empty_distance : float
        Signed distance used on planes without contours (all outside).
    """

    def __init__(self, slices: SliceSet, step: float, empty_distance: float = 1.0):
        from scipy.spatial import cKDTree

        ref = slices.planes[0]
        self.normal = ref.normal
        _, self.u, self.v = ref.frame()
        heights, self.planes = [], []
        for plane in slices.planes:
            dot = float(plane.normal @ self.normal)
            if abs(dot) < 1.0 - 1e-6:
                raise ValueError("slice interpolation needs parallel planes")
            heights.append(-plane.offset * np.sign(dot))
            loops = [np.stack([lp @ self.u, lp @ self.v], axis=1) for lp in plane.loops]
            dense = [_resample(lp, step) for lp in loops]
            tree = cKDTree(np.concatenate(dense)) if dense else None
            self.planes.append((loops, tree))
        order = np.argsort(heights)
        self.heights = np.asarray(heights)[order]
        self.planes = [self.planes[i] for i in order]
        self.empty_distance = empty_distance

    def _slice_distance(self, index: int, uv: np.ndarray) -> np.ndarray:
        loops, tree = self.planes[index]
        if tree is None:
            return np.full(len(uv), self.empty_distance)
        dist, _ = tree.query(uv, workers=-1)
        return np.where(points_inside(uv, loops), -dist, dist)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p = x.detach().cpu().double().numpy()
        uv = np.stack([p @ self.u, p @ self.v], axis=1)
        h = p @ self.normal
        hs = self.heights
        value = np.empty(len(p))
        below, above = h <= hs[0], h >= hs[-1]
        value[below] = self._slice_distance(0, uv[below]) + (hs[0] - h[below])
        value[above] = self._slice_distance(len(hs) - 1, uv[above]) + (h[above] - hs[-1])
        between = ~(below | above)
        cell = np.clip(np.searchsorted(hs, h, side="right") - 1, 0, len(hs) - 2)
        for i in np.unique(cell[between]):
            rows = np.flatnonzero(between & (cell == i))
            t = (h[rows] - hs[i]) / (hs[i + 1] - hs[i])
            value[rows] = (1 - t) * self._slice_distance(i, uv[rows]) + t * self._slice_distance(i + 1, uv[rows])
        return torch.as_tensor(value, dtype=torch.float32, device=x.device)


def _resample(loop: np.ndarray, step: float) -> np.ndarray:
    """Points along a closed 2D polyline no farther apart than ``step``."""
    nxt = np.roll(loop, -1, axis=0)
    parts = []
    for a, b in zip(loop, nxt):
        count = max(int(np.ceil(np.linalg.norm(b - a) / step)), 1)
        t = np.arange(count)[:, None] / count
        parts.append(a + t * (b - a))
    return np.concatenate(parts)


def interpolation_baseline(slices: SliceSet, mesh_cfg: MeshConfig) -> trimesh.Trimesh:
    """Mesh of :class:`SliceInterpolation` in the box and resolution ``sdfrecon.pipeline.reconstruct`` uses.

    Meshed on the dense grid: the interpolated field can be steeper than a distance
    (contours that move a lot between slices), which narrow-band meshing assumes it is not.
    """
    import dataclasses

    mesh_cfg = dataclasses.replace(mesh_cfg, method="dense")
    norm = Normalization.fit(slices.extent_points())
    unit = slices.transformed(norm)
    ext = unit.extent_points()
    field = SliceInterpolation(unit, step=0.25 * 2.0 / mesh_cfg.resolution)
    mesh = extract_mesh(field, ext.min(axis=0), ext.max(axis=0), mesh_cfg).mesh
    mesh.vertices = norm.to_world(mesh.vertices)
    return mesh


def scores(rec: trimesh.Trimesh, gt: trimesh.Trimesh, samples: int) -> dict:
    """Chamfer-L1 (% of the reference diagonal), normal consistency and volumetric IoU."""
    if len(rec.faces) == 0:
        return {"chamfer_pct": float("nan"), "nc": float("nan"), "iou": 0.0}
    m = compare_meshes(rec, gt, samples=samples)
    diag = bbox_diagonal(np.asarray(gt.vertices))
    return {"chamfer_pct": 100.0 * m.chamfer_l1 / diag, "nc": m.normal_consistency,
            "iou": volumetric_iou(rec, gt, samples=samples)}


def between_planes(rec: trimesh.Trimesh, gt: trimesh.Trimesh, slices: SliceSet, samples: int) -> dict:
    """Where between the planes the reconstruction departs from the reference (parallel planes).

    Each area-uniform sample of ``rec`` between the outermost planes gets its place in its
    gap, ``u`` = distance to the nearer plane / gap width (0 on a plane, 0.5 half way). Ripples
    between planes show as error that grows from the ``near`` band (u < 0.1, where the
    contours pin the surface) to the ``mid`` band (u > 0.35): the mean distance to the
    reference (% of its diagonal) and the mean angle between the sample's face normal and
    the reference's nearest face normal (degrees, sign ignored), per band.
    """
    nan = {f"{k}_{b}": float("nan") for k in ("dist_pct", "angle") for b in ("near", "mid")}
    if len(rec.faces) == 0 or not parallel(slices):
        return nan
    axis = slices.planes[0].normal
    heights = np.unique(np.round([-p.offset * float(p.normal @ axis) for p in slices.planes], 9))
    if len(heights) < 2:
        return nan
    points, normals = sample_surface(rec, samples, seed=2)
    h = points @ axis
    inside = (h > heights[0]) & (h < heights[-1])
    points, normals, h = points[inside], normals[inside], h[inside]
    gap = np.clip(np.searchsorted(heights, h) - 1, 0, len(heights) - 2)
    t = (h - heights[gap]) / (heights[gap + 1] - heights[gap])
    u = np.minimum(t, 1.0 - t)
    scene, query = raycasting_scene(gt, points)
    closest = scene.compute_closest_points(query)
    distance = np.linalg.norm(closest["points"].numpy() - query.numpy(), axis=1)
    ref_normals = np.asarray(gt.face_normals)[closest["primitive_ids"].numpy()]
    angle = np.degrees(np.arccos(np.clip(np.abs(np.sum(normals * ref_normals, axis=1)), 0.0, 1.0)))
    diag = bbox_diagonal(np.asarray(gt.vertices))
    out = {}
    for band, mask in (("near", u < 0.1), ("mid", u > 0.35)):
        out[f"dist_pct_{band}"] = 100.0 * float(distance[mask].mean()) / diag if mask.any() else float("nan")
        out[f"angle_{band}"] = float(angle[mask].mean()) if mask.any() else float("nan")
    return out


def parallel(slices: SliceSet) -> bool:
    n0 = slices.planes[0].normal
    return all(abs(float(p.normal @ n0)) > 1.0 - 1e-6 for p in slices.planes)


def run_method(method: str, item: BenchInput, overrides: list[dict], resolution: int | None) -> tuple:
    """(mesh or None, seconds) of ``method`` on ``item``."""
    t = time.perf_counter()
    if method == "interp":
        if not parallel(item.slices):
            return None, float("nan")
        mesh_cfg = resolve_config("slices", [{"mesh": {"resolution": resolution}}] if resolution else []).mesh
        mesh = interpolation_baseline(item.slices, mesh_cfg)
    else:
        cfg = resolve_config(method, overrides)
        mesh = reconstruct(item.slices, cfg, progress=False).mesh
    return mesh, time.perf_counter() - t


def method_overrides(method: str, args: argparse.Namespace) -> list[dict]:
    """CPU device, ``--iterations``, ``--resolution``, then this method's ``--set`` values."""
    out: list[dict] = [{"device": "cpu"}]
    if args.iterations is not None:
        out.append({"train": {"iterations": args.iterations}})
    if args.resolution is not None:
        out.append({"mesh": {"resolution": args.resolution}})
    for item in args.set:
        name, _, assignment = item.partition(":")
        if name == method:
            out.append(parse_override(assignment))
    return out


def method_label(method: str) -> str:
    """A method's name for tables and file names: a preset's name, a YAML file's stem."""
    return Path(method).stem if method.endswith((".yaml", ".yml")) else method


def _print_rows(items: list[BenchInput], methods: list[str], rows: list[dict], cell, *, with_origin: bool) -> None:
    """One Markdown row per input: its name (and origin), then ``cell(row)`` per method."""
    for item in items:
        cells = [cell(next(r for r in rows if r["input"] == item.name and r["method"] == m)) for m in methods]
        lead = f"| {item.name} | {item.origin} | " if with_origin else f"| {item.name} | "
        print(lead + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", default=",".join(REAL_INPUTS), help="shared .csl inputs (default all)")
    parser.add_argument("--extra", type=Path, help="folder of more NAME.csl + NAME_scaled.stl pairs")
    parser.add_argument("--shapes", default="", help="shared meshes to cut into slices, comma-separated")
    parser.add_argument("--planes", type=int, default=15, help="parallel planes per cut mesh (default 15)")
    parser.add_argument("--axis", choices=tuple(AXES), default="z", help="slicing axis (default z)")
    parser.add_argument("--methods", default="orex,slices,interp", help="presets and/or 'interp'")
    parser.add_argument("--iterations", type=int, help="override train.iterations of every preset")
    parser.add_argument("--resolution", type=int, help="override mesh.resolution (every method)")
    parser.add_argument("--set", action="append", default=[], metavar="METHOD:KEY=VALUE",
                        help="config override for one method, e.g. orex:sampler.batch_size=4096 (repeatable)")
    parser.add_argument("--samples", type=int, default=100_000, help="surface / volume samples for the metrics")
    parser.add_argument("--save", type=Path, help="also write each mesh to SAVE/<input>_<method>.ply")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    items = real_inputs([n for n in args.inputs.split(",") if n], args.extra)
    items += cut_inputs([n for n in args.shapes.split(",") if n], args.planes, args.axis)
    rows = []
    for item in items:
        for method in methods:
            mesh, seconds = run_method(method, item, method_overrides(method, args), args.resolution)
            row = {"input": item.name, "origin": item.origin, "method": method, "seconds": seconds,
                   **(scores(mesh, item.reference, args.samples) if mesh is not None else
                      {"chamfer_pct": float("nan"), "nc": float("nan"), "iou": float("nan")}),
                   **between_planes(mesh if mesh is not None else trimesh.Trimesh(), item.reference,
                                    item.slices, args.samples)}
            rows.append(row)
            if mesh is not None and args.save is not None:
                args.save.mkdir(parents=True, exist_ok=True)
                mesh.export(args.save / f"{item.name}_{method_label(method)}.ply")
            print(f"{item.name} {method}: CD {row['chamfer_pct']:.3f}% NC {row['nc']:.3f} IoU {row['iou']:.3f} "
                  f"({seconds:.0f} s)", file=sys.stderr, flush=True)
    budget = ", ".join(args.set) or "presets as shipped"
    print(f"\nSlices vs references, CPU, iterations {args.iterations or 'as preset'}, {budget}; Chamfer-L1 in % of "
          f"the reference diagonal, normal consistency, volumetric IoU ({args.samples} samples), wall seconds:\n")
    print("| input | slices | " + " | ".join(f"{method_label(m)} CD% / NC / IoU / s" for m in methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    _print_rows(items, methods, rows, lambda r: "n/a" if np.isnan(r["seconds"]) else
                f"{r['chamfer_pct']:.3f} / {r['nc']:.3f} / {r['iou']:.3f} / {r['seconds']:.0f}", with_origin=True)
    print("\nBetween the planes (parallel planes only): mean distance to the reference in % of its diagonal "
          "and mean normal angle in degrees, next to a plane (u < 0.1 of the gap) -> half way (u > 0.35):\n")
    print("| input | " + " | ".join(f"{method_label(m)} distance near -> mid | angle near -> mid" for m in methods) + " |")
    print("|---|" + "---|---|" * len(methods))
    _print_rows(items, methods, rows, lambda r: f"{r['dist_pct_near']:.3f} -> {r['dist_pct_mid']:.3f} | "
                f"{r['angle_near']:.1f} -> {r['angle_mid']:.1f}", with_origin=False)
    out = Path(__file__).resolve().parent / "results" / f"slices_{'_'.join(method_label(m) for m in methods)}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
