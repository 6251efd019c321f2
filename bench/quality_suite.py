"""Presets against Open3D screened Poisson over the whole shared corpus, in four input conditions.

Run (from the repository root):

    .venv/bin/python -m bench.quality_suite                       # default vs Poisson, every shape
    .venv/bin/python -m bench.quality_suite --quick               # the subset that fits in ~20 min
    .venv/bin/python -m bench.quality_suite --methods default,hashgrid,poisson --conditions sparse
    .venv/bin/python -m bench.quality_suite --mesh my_part.stl --mesh other.obj   # your own shapes

Shapes: every shape of ``../shared/data`` with a ground truth -- the SRB scans (real
simulated range scans with their normals), the CAD, classic and ``extra/`` meshes
(genus 0-4, sharp edges, thin parts; a 50,000-point oriented scan is sampled from
each, seeded), the ShapeNet samples (50,000 of the 100,000 ONet surface points as
input, all of them as ground truth), the Points2Surf noisy range scan, and the
sparse kitten (its own 500 points). ``--mesh FILE`` runs any ground-truth mesh the same way
(a seeded 50,000-point oriented scan sampled from it), e.g. shapes the defaults were not tuned on.

Conditions (every shape in every one that applies):

* ``oriented`` -- the scan with its normals (shapes whose input has normals);
* ``unoriented`` -- the same points, normals stripped;
* ``noisy`` -- normals stripped, Gaussian noise of 0.5 % of the bounding-box diagonal;
* ``sparse`` -- 1,000 random points of the scan, no normals (the kitten: its 500).

Only when named by ``--conditions``: ``sparse_oriented`` -- the same 1,000 points with the
scan's normals (what the orientation is worth on sparse input); ``unoriented_N`` and
``oriented_N`` -- N random points of the scan (the same N for both), without and with its
normals: the densities between ``sparse`` and the 50,000-point scans, where the default's
sparse-cloud gates switch (e.g. ``--conditions unoriented_5000,oriented_5000``);
``outliers`` -- the scan without normals plus 1 % more points scattered uniformly over its
bounding box grown by 10 % a side (a scanner's stray returns).

Every method gets the same input. Poisson gets what an Open3D user would do: the
given normals, or normals estimated and consistently oriented by Open3D
(``sdfrecon.evaluation.baselines``). Seconds are the method's own (reconstruct and
write the mesh, the run record and the checkpoint; not process start or reading),
measured in the same run for every method. Results resume: ``-o DIR`` keeps
``results.csv`` and the meshes; a rerun skips finished pairs.

Prints per-shape rows and, per method and condition, the mean and worst Chamfer ratio
to Poisson, the win count, the share of single watertight pieces where the ground
truth is one, mean normal consistency, mean seconds and the seconds ratio to Poisson;
writes them to ``DIR/summary.md``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bench.shapes import SHARED_DATA
from sdfrecon.base.atomic import atomic_write_text
from sdfrecon.base.errors import ReconError
from sdfrecon.datasets.benchmarks import (
    BenchmarkItem,
    ScanOptions,
    SuiteShape,
    read_ground_truth,
    read_mesh,
    synthetic_scan,
)
from sdfrecon.datasets.pointcloud import PointCloud, make_point_cloud
from sdfrecon.datasets.readers import read_point_cloud
from sdfrecon.evaluation.benchmark import BenchmarkRun, run_benchmark
from sdfrecon.evaluation.methods import MethodSettings, NeuralMethod, get_methods
from sdfrecon.evaluation.metrics import MetricOptions
from sdfrecon.pipeline.config import config_overrides, resolve_config

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "quality"
SCAN_POINTS = 50_000
"""Points of the synthetic scans sampled from ground-truth meshes (and of ShapeNet inputs)."""
SPARSE_POINTS = 1_000
NOISE = 0.005
"""Gaussian noise sigma of the ``noisy`` condition, fraction of the bounding-box diagonal."""
CONDITIONS = ("oriented", "unoriented", "noisy", "sparse")
EXTRA_CONDITIONS = ("sparse_oriented", "outliers")
"""Run only when named by ``--conditions``: ``sparse_oriented`` is the sparse condition's 1,000
points WITH the scan's normals, a reference no user without normals has. Next to ``sparse`` it
measures what knowing the orientation would add on sparse input. ``outliers`` is the scan
without normals plus ``OUTLIER_FRACTION`` of its point count scattered uniformly over its
bounding box grown by ``OUTLIER_MARGIN`` (stray returns of a real scanner)."""
OUTLIER_FRACTION = 0.01
OUTLIER_MARGIN = 0.1
"""Each side of the box grows by this fraction of its extent."""
SUBSET_CONDITION = re.compile(r"^(oriented|unoriented)_([1-9][0-9]*)$")
"""``oriented_N`` / ``unoriented_N``: N random points of the scan, with / without its normals."""


def known_condition(condition: str) -> bool:
    """Whether ``condition`` names a condition of this suite."""
    return condition in CONDITIONS + EXTRA_CONDITIONS or SUBSET_CONDITION.match(condition) is not None


@dataclass(frozen=True)
class CorpusShape:
    """A corpus shape: how to get its base scan and its ground truth.

    Attributes
    ----------
    name : str
    kind : str
        ``mesh`` (sample a scan from the ground-truth mesh), ``scan`` (a scan file
        with a ground-truth file in its frame), ``onet`` (an ONet ``pointcloud.npz``:
        a subset as input, all points as ground truth) or ``sparse`` (a file that is
        already a sparse input; only the sparse condition applies).
    gt : str
        Ground-truth file (or the ``.npz``), relative to the data folder.
    scan : str or None
        Input scan file for ``scan`` and ``sparse`` kinds.
    """

    name: str
    kind: str
    gt: str
    scan: str | None = None

    def available(self) -> bool:
        return all((SHARED_DATA / p).exists() for p in (self.gt, self.scan) if p)


CORPUS: tuple[CorpusShape, ...] = (
    CorpusShape("srb_dc", "scan", "srb/ground_truth/dc.off", "srb/scans/dc.ply"),
    CorpusShape("srb_lord_quas", "scan", "srb/ground_truth/lordquas.off", "srb/scans/lord_quas.ply"),
    CorpusShape("p2s_abc_00011084", "scan", "extra/scans/p2s_abc_00011084_gt.ply",
                "extra/scans/p2s_abc_00011084_pts.xyz.npy"),
    CorpusShape("fandisk", "mesh", "cad/fandisk.off"),
    CorpusShape("idler_riser", "mesh", "cad/idler_riser.STL"),
    CorpusShape("thingi10k_100728", "mesh", "cad/thingi10k_100728.stl"),
    CorpusShape("thingi10k_52863", "mesh", "extra/meshes/thingi10k_52863.stl"),
    CorpusShape("fertility", "mesh", "misc/fertility.off"),
    CorpusShape("bunny", "mesh", "stanford/bun_zipper.ply"),
    CorpusShape("eight", "mesh", "csl/reference/eight_15_scaled.stl"),
    CorpusShape("3holes", "mesh", "extra/meshes/3holes.off"),
    CorpusShape("blub", "mesh", "extra/meshes/blub.obj"),
    CorpusShape("bob", "mesh", "extra/meshes/bob.obj"),
    CorpusShape("bumpy_cube", "mesh", "extra/meshes/bumpy-cube.obj"),
    CorpusShape("cheburashka", "mesh", "extra/meshes/cheburashka.obj"),
    CorpusShape("cow", "mesh", "extra/meshes/cow.obj"),
    CorpusShape("decimated_max", "mesh", "extra/meshes/decimated-max.obj"),
    CorpusShape("homer", "mesh", "extra/meshes/homer.obj"),
    CorpusShape("horse_quad", "mesh", "extra/meshes/horse_quad.obj"),
    CorpusShape("joint", "mesh", "extra/meshes/joint.obj"),
    CorpusShape("rubber_ducky", "mesh", "extra/meshes/rubber-ducky.obj"),
    CorpusShape("screwdriver", "mesh", "extra/meshes/screwdriver.off"),
    CorpusShape("spot", "mesh", "extra/meshes/spot.obj"),
    CorpusShape("shapenet_bench_1a55", "onet", "extra/shapenet/02828884_1a55e418c61e9dab6f4a86fe50d4c8f0_pointcloud.npz"),
    CorpusShape("shapenet_bench_1acf", "onet", "extra/shapenet/02828884_1acf34aa0cb8f06a19fb4103277a6b93_pointcloud.npz"),
    CorpusShape("shapenet_table_1a15", "onet", "extra/shapenet/04379243_1a15e651e26622b0e5c7ea227b17d897_pointcloud.npz"),
    CorpusShape("shapenet_table_1a5f", "onet", "extra/shapenet/04379243_1a5febd8d65b97e4f4b6538438a0b930_pointcloud.npz"),
    CorpusShape("kitten_sparse500", "sparse", "sparse/kitten/gt.obj", "sparse/kitten/input.xyz"),
)

QUICK = ("srb_lord_quas", "p2s_abc_00011084", "fandisk", "fertility", "3holes", "shapenet_table_1a15",
         "kitten_sparse500")
"""The ``--quick`` subset: a real scan, a real noisy scan, sharp CAD, genus 4, genus 3, a thin
ShapeNet table, and the sparse kitten (about 20 minutes on 2 cores for default + Poisson)."""


# ------------------------------------------------------------------ inputs


@dataclass
class BaseShape:
    """A shape's base scan (world units) and ground truth."""

    points: np.ndarray
    normals: np.ndarray | None
    gt_mesh: object | None
    gt_points: np.ndarray | None
    gt_normals: np.ndarray | None


def _rng(name: str, condition: str) -> np.random.Generator:
    import zlib

    return np.random.default_rng([zlib.crc32(name.encode()), zlib.crc32(condition.encode())])


def load_base(shape: CorpusShape) -> BaseShape:
    """Read the base scan and ground truth of ``shape``."""
    if shape.kind == "mesh":
        mesh = read_mesh(SHARED_DATA / shape.gt)
        cloud = synthetic_scan(mesh, shape.name, ScanOptions(points=SCAN_POINTS))
        return BaseShape(cloud.points, cloud.normals, mesh, None, None)
    if shape.kind == "onet":
        with np.load(SHARED_DATA / shape.gt) as npz:
            points = npz["points"].astype(np.float64)
            normals = npz["normals"].astype(np.float64)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        pick = _rng(shape.name, "onet").choice(len(points), size=SCAN_POINTS, replace=False)
        return BaseShape(points[pick], normals[pick], None, points, normals)
    scan = read_point_cloud(SHARED_DATA / shape.scan)
    gt = read_ground_truth(SHARED_DATA / shape.gt)
    return BaseShape(scan.points, scan.normals, gt.mesh, gt.points, gt.normals)


def _random_subset(base: BaseShape, rng: np.random.Generator, count: int, with_normals: bool,
                   source: str) -> PointCloud | None:
    """``count`` random points of the base scan (all if it has fewer), with its normals or
    without; None when normals are wanted and the scan has none."""
    pick = rng.choice(len(base.points), size=min(count, len(base.points)), replace=False)
    if not with_normals:
        return make_point_cloud(base.points[pick], None, source=source)
    return None if base.normals is None else make_point_cloud(base.points[pick], base.normals[pick], source=source)


def condition_input(shape: CorpusShape, base: BaseShape, condition: str) -> PointCloud | None:
    """The input of ``shape`` in ``condition``; None where the condition does not apply."""
    source = f"{shape.name} ({condition})"
    if shape.kind == "sparse":
        return make_point_cloud(base.points, None, source=source) if condition == "sparse" else None
    if condition == "oriented":
        return None if base.normals is None else make_point_cloud(base.points, base.normals, source=source)
    if condition == "unoriented":
        return make_point_cloud(base.points, None, source=source)
    if condition == "noisy":
        diagonal = float(np.linalg.norm(np.ptp(base.points, axis=0)))
        noise = _rng(shape.name, condition).normal(scale=NOISE * diagonal, size=base.points.shape)
        return make_point_cloud(base.points + noise, None, source=source)
    if condition == "outliers":
        low, high = base.points.min(axis=0), base.points.max(axis=0)
        grow = OUTLIER_MARGIN * (high - low)
        count = int(round(OUTLIER_FRACTION * len(base.points)))
        stray = _rng(shape.name, condition).uniform(low - grow, high + grow, size=(count, 3))
        return make_point_cloud(np.concatenate([base.points, stray]), None, source=source)
    if condition in ("sparse", "sparse_oriented"):
        # both draw from the sparse stream: the same 1,000 points, with and without normals
        return _random_subset(base, _rng(shape.name, "sparse"), SPARSE_POINTS, condition == "sparse_oriented", source)
    subset = SUBSET_CONDITION.match(condition)
    if subset:
        count = int(subset.group(2))
        # one stream per N: oriented_N and unoriented_N are the same points
        return _random_subset(base, _rng(shape.name, f"subset_{count}"), count, subset.group(1) == "oriented", source)
    raise ValueError(f"unknown condition {condition!r}")


def suite(shapes: list[CorpusShape], conditions: tuple[str, ...]) -> list[SuiteShape]:
    """One suite entry per (shape, condition) that applies, named ``shape@condition``."""
    out = []
    for shape in shapes:
        for condition in conditions:
            if shape.kind == "sparse" and condition != "sparse":
                continue
            with_normals = condition in ("oriented", "sparse_oriented") or condition.startswith("oriented_")
            if with_normals and shape.kind == "scan" and shape.name.startswith("p2s"):
                continue  # the Points2Surf scan has no normals

            def load(shape=shape, condition=condition) -> BenchmarkItem:
                base = load_base(shape)
                cloud = condition_input(shape, base, condition)
                if cloud is None:
                    raise ValueError(f"{shape.name}: condition {condition} does not apply")
                return BenchmarkItem(f"{shape.name}@{condition}", cloud, base.gt_mesh, base.gt_points,
                                     base.gt_normals, extras={"category": condition})

            out.append(SuiteShape(f"{shape.name}@{condition}", "quality", SHARED_DATA / shape.gt, load))
    return out


# ------------------------------------------------------------------ methods


def build_methods(names: list[str], overrides: list[str]):
    """Presets, classical methods, and YAML files (named by their stem) as benchmark methods."""
    settings = MethodSettings(seed=0, overrides=tuple(config_overrides(sets=overrides)))
    plain = [n for n in names if not n.endswith((".yaml", ".yml"))]
    methods = {m.name: m for m in get_methods(plain, settings)} if plain else {}
    for n in names:
        if n.endswith((".yaml", ".yml")):
            # a file's own settings win, its seed included (`seed: 1` reseeds a preset); only --set applies
            methods[Path(n).stem] = NeuralMethod(Path(n).stem, resolve_config(n, list(settings.overrides)))
    return [methods[Path(n).stem if n.endswith((".yaml", ".yml")) else n] for n in names]


# ------------------------------------------------------------------ summary


def _pieces(mesh_path: str) -> tuple[int, bool]:
    """Connected pieces of a result mesh and whether it is watertight."""
    import trimesh

    mesh = trimesh.load(mesh_path, process=False)
    mesh.merge_vertices()
    return len(mesh.split(only_watertight=False)), bool(mesh.is_watertight)


def _gt_single_watertight(shape: CorpusShape, cache: dict[str, bool]) -> bool:
    if shape.name not in cache:
        if shape.kind == "onet":
            cache[shape.name] = False  # points only: unknown
        else:
            mesh = read_mesh(SHARED_DATA / shape.gt)
            cache[shape.name] = bool(mesh.is_watertight) and len(mesh.split(only_watertight=False)) == 1
    return cache[shape.name]


def _f(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _percent_and_ratio(row: dict[str, str], ref: dict[str, str], column: str, ok: bool) -> tuple[float, float, float]:
    """A relative-distance ``column`` of ``row`` and of Poisson's ``ref`` in %, and their ratio
    (NaN unless the row is ``ok`` and Poisson's value is positive)."""
    value, reference = _f(row.get(column)) * 100, _f(ref.get(column)) * 100
    return value, reference, value / reference if ok and reference > 0 else math.nan


def summarize(rows: list[dict[str, str]], methods: list[str], shapes: dict[str, CorpusShape]) -> str:
    """Markdown: per-shape rows, then a summary per method and condition."""
    by = {(r["shape"], r["method"]): r for r in rows}
    gt_cache: dict[str, bool] = {}
    lines = ["| shape | condition | method | CD-L1 % diag | Poisson % diag | ratio | surface CD % diag | Poisson | ratio "
             "| NC | pieces | watertight | s | Poisson s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    stats: dict[tuple[str, str], list[dict]] = {}
    for (item, method), row in sorted(by.items()):
        if method == "poisson":
            continue
        name, condition = item.split("@")
        ref = by.get((item, "poisson"), {})
        ok = row.get("status") == "ok"
        cd, cd_ref, ratio = _percent_and_ratio(row, ref, "chamfer_l1_rel", ok)
        # the same with distances to the other surface, not to its samples (no sampling floor)
        cds, cds_ref, surface_ratio = _percent_and_ratio(row, ref, "chamfer_l1_surface_rel", ok)
        pieces, closed = _pieces(row["mesh"]) if ok and row.get("mesh") else (0, False)
        single_needed = _gt_single_watertight(shapes[name], gt_cache) if name in shapes else False
        stats.setdefault((method, condition), []).append({
            "ratio": ratio if ok else math.inf, "cd": cd if ok else math.nan, "cd_ref": cd_ref,
            "surface_ratio": surface_ratio if ok else math.inf,
            "nc": _f(row.get("normal_consistency")), "s": _f(row.get("seconds")), "s_ref": _f(ref.get("seconds")),
            "single": (pieces == 1 and closed) if single_needed else None, "ok": ok})
        lines.append(f"| {name} | {condition} | {method} | {cd:.3f} | {cd_ref:.3f} | {ratio:.2f} | "
                     f"{cds:.4f} | {cds_ref:.4f} | {surface_ratio:.2f} | "
                     f"{_f(row.get('normal_consistency')):.3f} | {pieces} | {'yes' if closed else 'no'} | "
                     f"{_f(row.get('seconds')):.1f} | {_f(ref.get('seconds')):.1f} |"
                     + ("" if ok else f" failed: {row.get('error', '')[:60]}"))
    lines += ["", "| method | condition | n | mean CD ratio | ratio of means | worst ratio | wins (<= 1) | "
                  "surface CD: mean ratio / worst / wins | single watertight piece | mean NC | mean s | "
                  "s ratio to Poisson |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for method in [m for m in methods if m != "poisson"]:
        listed = CONDITIONS + EXTRA_CONDITIONS
        for condition in [*listed, *sorted({c for _, c in stats} - set(listed))]:
            entries = stats.get((method, condition))
            if not entries:
                continue
            ratios = np.array([e["ratio"] for e in entries], dtype=float)
            good = np.isfinite(ratios)
            surface = np.array([e["surface_ratio"] for e in entries], dtype=float)
            known = ~np.isnan(surface)  # results made before the surface Chamfer existed have none
            surface_text = (f"{np.mean(surface[np.isfinite(surface)]):.2f} / {np.max(surface[known]):.2f} / "
                            f"{int(np.sum(surface[known] <= 1.0))}/{int(known.sum())}" if known.any() else "-")
            cd = np.nanmean([e["cd"] for e in entries])
            cd_ref = np.nanmean([e["cd_ref"] for e in entries])
            singles = [e["single"] for e in entries if e["single"] is not None]
            seconds = np.nanmean([e["s"] for e in entries])
            seconds_ref = np.nanmean([e["s_ref"] for e in entries])
            lines.append(
                f"| {method} | {condition} | {len(entries)} | {np.mean(ratios[good]) if good.any() else math.nan:.2f} | "
                f"{cd / cd_ref:.2f} | {np.max(ratios):.2f} | {int(np.sum(ratios <= 1.0))}/{len(entries)} | "
                f"{surface_text} | "
                f"{sum(singles)}/{len(singles)} | {np.nanmean([e['nc'] for e in entries]):.3f} | "
                f"{seconds:.1f} | {seconds / seconds_ref:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="default,poisson",
                        help="comma-separated presets, classical methods or YAML files (default: default,poisson); "
                             "poisson is always added")
    parser.add_argument("--shapes", help="comma-separated corpus shapes (default: all available)")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--mesh", dest="meshes", action="append", default=[], type=Path, metavar="FILE",
                        help="a ground-truth mesh to run as a shape named by its stem (repeatable; with it, "
                             "corpus shapes run only when named by --shapes)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated input conditions")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every neural method (repeatable)")
    parser.add_argument("--samples", type=int, default=100_000, help="surface samples per mesh for the metrics")
    parser.add_argument("-o", "--output", type=Path, help=f"results folder (default {DEFAULT_OUT}/<quick|full>)")
    parser.add_argument("--overwrite", action="store_true", help="redo every pair")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    if "poisson" not in names:
        names.append("poisson")
    wanted = args.shapes.split(",") if args.shapes else (list(QUICK) if args.quick else None)
    if args.meshes and wanted is None:
        wanted = []
    own = [CorpusShape(path.stem, "mesh", str(path.resolve())) for path in args.meshes]
    missing = [str(s.gt) for s in own if not s.available()]
    if missing:
        print(f"error: {missing[0]}: no such file", file=sys.stderr)
        return 2
    shapes = [s for s in CORPUS if (wanted is None or s.name in wanted) and s.available()] + own
    conditions = tuple(c for c in args.conditions.split(",") if c)
    unknown = {c for c in conditions if not known_condition(c)}
    if unknown or not shapes:
        print(f"error: unknown conditions {sorted(unknown)} or no shapes available under {SHARED_DATA}",
              file=sys.stderr)
        return 2
    out = args.output or DEFAULT_OUT / ("quick" if args.quick else "full")
    try:
        methods = build_methods(names, args.overrides)
        entries = suite(shapes, conditions)
        record = {"suite": "quality", "scan_points": SCAN_POINTS, "sparse_points": SPARSE_POINTS, "noise": NOISE,
                  "overrides": list(args.overrides)}
        description = [f"Quality suite: {len(shapes)} shapes x conditions {', '.join(conditions)} = "
                       f"{len(entries)} inputs; methods {', '.join(m.name for m in methods)}."]
        rows = run_benchmark(BenchmarkRun(entries, methods, MetricOptions(samples=args.samples), record, description),
                             out, overwrite=args.overwrite, progress=not args.quiet)
    except ReconError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = summarize(rows, [m.name for m in methods], {s.name: s for s in (*CORPUS, *own)})
    atomic_write_text(out / "summary.md", text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
