"""Run methods over a benchmark suite: meshes, metrics, a CSV and a Markdown table.

Output folder layout::

    <out>/meshes/<shape>/<method>.ply   each reconstruction (world units of the shape)
    <out>/results.csv                   one row per shape x method (:data:`sdfrecon.evaluation.report.COLUMNS`)
    <out>/results.md                    per-shape table and a mean row per method
    <out>/benchmark.json                the settings the results were made with

Every file is written atomically, and the CSV and Markdown after every pair,
so an interrupted run loses at most the pair in progress. Rerunning into the
same folder resumes: a pair whose row says ``ok`` and whose mesh exists is
skipped; failed pairs are tried again. A pair that fails (the method raises,
returns an empty mesh, or cannot be scored) gets ``status=failed`` and its
error text, and the run goes on.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from sdfrecon.datasets.benchmarks import BenchmarkItem, SuiteShape
from sdfrecon.evaluation.methods import Method
from sdfrecon.evaluation.metrics import MetricOptions
from sdfrecon.evaluation.report import STATUS_FAILED, STATUS_OK, markdown_report, read_rows, to_row, write_rows
from sdfrecon.base.errors import ConfigError, TrainingInterrupted
from sdfrecon.base.run_files import RunFiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchmarkPaths:
    """Where a benchmark's outputs go."""

    root: Path

    @property
    def csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def markdown(self) -> Path:
        return self.root / "results.md"

    @property
    def settings(self) -> Path:
        return self.root / "benchmark.json"

    def mesh(self, shape: str, method: str) -> Path:
        """``<root>/meshes/<shape>/<method>.ply``."""
        return self.root / "meshes" / shape / f"{method}.ply"


@dataclass(frozen=True)
class BenchmarkRun:
    """What to run and how.

    Attributes
    ----------
    shapes : list of SuiteShape
        The suite's shapes, in report order.
    methods : list of Method
        Methods, in report order.
    metrics : MetricOptions
        Metric sampling and thresholds.
    settings : dict
        Everything else that changes results (method and scan settings); kept
        in ``benchmark.json`` and compared on resume.
    description : list of str
        Lines for the top of ``results.md``.
    """

    shapes: list[SuiteShape]
    methods: list[Method]
    metrics: MetricOptions = field(default_factory=MetricOptions)
    settings: dict[str, Any] = field(default_factory=dict)
    description: list[str] = field(default_factory=list)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_done(row: Mapping[str, str] | None, mesh: Path) -> bool:
    return row is not None and row.get("status") == STATUS_OK and mesh.exists()


def _check_settings(paths: BenchmarkPaths, record: dict[str, Any], overwrite: bool) -> None:
    """Refuse to mix results made with different settings in one folder."""
    if overwrite or not paths.settings.exists():
        return
    try:
        earlier = json.loads(paths.settings.read_text(encoding="utf-8")).get("settings", {})
    except (OSError, ValueError):
        return  # unreadable record: nothing to compare against; it is rewritten below
    changed = sorted(k for k in set(earlier) | set(record["settings"])
                     if earlier.get(k) != record["settings"].get(k))
    if changed:
        diffs = ", ".join(f"{k}: {earlier.get(k)!r} -> {record['settings'].get(k)!r}" for k in changed[:4])
        raise ConfigError(f"{paths.settings}: the results there were made with other settings ({diffs}); "
                          "use another output folder or pass --overwrite to start over")


def _score(item: BenchmarkItem, mesh, options: MetricOptions) -> dict[str, Any]:
    from sdfrecon.evaluation.scoring import evaluate

    ev = evaluate(mesh, gt_mesh=item.gt_mesh, gt_points=item.gt_points, gt_normals=item.gt_normals,
                  scan_points=item.cloud.points, occupancy_points=item.occupancy_points,
                  occupancies=item.occupancies, options=options)
    return ev.as_dict()


def run_pair(item: BenchmarkItem, method: Method, mesh_path: Path, options: MetricOptions, *,
             resume: bool = False) -> dict[str, str]:
    """Reconstruct ``item`` with ``method`` into ``mesh_path``, score it; never raises for a
    failure of the method or the scoring (it is recorded in the row)."""
    base: dict[str, Any] = {"shape": item.name, "method": method.name,
                            "category": item.extras.get("category", "")}
    t0 = time.perf_counter()
    try:
        mesh = method.run(item.cloud, RunFiles.for_mesh(mesh_path), resume=resume)
    except TrainingInterrupted:
        raise  # Ctrl-C / SIGTERM stops the benchmark (rerun to resume), not just this pair
    except Exception as exc:  # any failure of one pair is recorded, and the benchmark goes on
        log.warning("%s / %s failed: %s", item.name, method.name, _one_line(exc))
        return to_row({**base, "status": STATUS_FAILED, "seconds": time.perf_counter() - t0,
                       "error": _one_line(exc)})
    seconds = time.perf_counter() - t0
    base["seconds"] = seconds
    if len(mesh.faces) == 0:
        return to_row({**base, "status": STATUS_FAILED, "error": "the method returned an empty mesh"})
    base["mesh"] = str(mesh_path)
    t1 = time.perf_counter()
    try:
        metrics = _score(item, mesh, options)
    except Exception as exc:
        log.warning("%s / %s: scoring failed: %s", item.name, method.name, _one_line(exc))
        return to_row({**base, "status": STATUS_FAILED, "error": f"scoring: {_one_line(exc)}"})
    return to_row({**base, **metrics, "status": STATUS_OK, "eval_seconds": time.perf_counter() - t1})


def run_benchmark(run: BenchmarkRun, out_dir: str | Path, *, overwrite: bool = False,
                  progress: bool = True) -> list[dict[str, str]]:
    """Run every method on every shape, resuming what an earlier run finished.

    Parameters
    ----------
    run : BenchmarkRun
        Shapes, methods, metric options and the settings record.
    out_dir : str or Path
        Output folder (see module doc); created if needed.
    overwrite : bool
        Redo every pair instead of resuming (rows of other pairs are dropped).
    progress : bool
        Show a progress bar over the pairs.

    Returns
    -------
    list of dict
        The rows of ``results.csv``: this run's pairs in shape-major order,
        then rows of earlier runs for other pairs.

    Raises
    ------
    ConfigError
        ``out_dir`` holds results made with other settings (and not ``overwrite``).
    """
    from tqdm import tqdm

    paths = BenchmarkPaths(Path(out_dir))
    record = {"settings": {**run.settings, "metrics": asdict(run.metrics)},
              "methods": [m.name for m in run.methods], "shapes": [s.name for s in run.shapes]}
    record = json.loads(json.dumps(record))  # tuples -> lists, as a reread file has them
    _check_settings(paths, record, overwrite)
    earlier = {} if overwrite else {(r["shape"], r["method"]): r for r in read_rows(paths.csv)}
    pairs = [(s.name, m.name) for s in run.shapes for m in run.methods]
    rows: dict[tuple[str, str], dict[str, str]] = {p: earlier[p] for p in pairs if p in earlier}
    extra = [r for key, r in earlier.items() if key not in set(pairs)]

    from sdfrecon.base.run_files import write_json

    write_json(paths.settings, record)

    def save() -> None:
        ordered = [rows[p] for p in pairs if p in rows] + extra
        write_rows(paths.csv, ordered)
        from sdfrecon.base.atomic import atomic_write_text

        atomic_write_text(paths.markdown, markdown_report(ordered, notes=run.description))

    save()
    bar = tqdm(total=len(pairs), unit="pair", disable=not progress, dynamic_ncols=True)
    try:
        for shape in run.shapes:
            todo = [m for m in run.methods
                    if not _is_done(rows.get((shape.name, m.name)), paths.mesh(shape.name, m.name))]
            bar.update(len(run.methods) - len(todo))
            if not todo:
                continue
            bar.set_postfix_str(f"{shape.name}: reading")
            try:
                item = shape.load()
            except Exception as exc:  # a bad shape fails its pairs, not the benchmark
                log.warning("%s: cannot be loaded: %s", shape.name, _one_line(exc))
                for m in todo:
                    rows[(shape.name, m.name)] = to_row({"shape": shape.name, "method": m.name,
                                                         "status": STATUS_FAILED,
                                                         "error": f"input: {_one_line(exc)}"})
                bar.update(len(todo))
                save()
                continue
            for m in todo:
                bar.set_postfix_str(f"{shape.name} / {m.name}")
                rows[(shape.name, m.name)] = run_pair(item, m, paths.mesh(shape.name, m.name), run.metrics,
                                                      resume=not overwrite)
                save()
                bar.update(1)
    finally:
        bar.close()
    return [rows[p] for p in pairs if p in rows] + extra


def finished_meshes(rows: list[Mapping[str, str]], out_dir: str | Path) -> dict[tuple[str, str], Path]:
    """``{(shape, method): mesh path}`` of the finished pairs whose mesh exists."""
    paths = BenchmarkPaths(Path(out_dir))
    out = {}
    for r in rows:
        mesh = paths.mesh(r["shape"], r["method"])
        if r.get("status") == STATUS_OK and mesh.exists():
            out[(r["shape"], r["method"])] = mesh
    return out
