"""Run methods over a benchmark suite: meshes, metrics, a CSV and a Markdown table.

A benchmark is three separate steps:

1. **planning** (:func:`plan_benchmark`) -- the (shape, method) pairs in report
   order, the shard of them this process runs (``--shard I/N``), which are already
   finished (from ``results.csv`` and any shard's results), and the
   :class:`PairTask` of each one left;
2. **execution** by an executor (:mod:`sdfrecon.evaluation.executors`): in this
   process (``inline``), a pool of worker processes with one process per pair
   (``local``), or one Ray task per pair (``ray``); each task reconstructs and
   scores its pair and returns the result row;
3. **collection** (:class:`Collector`, in this process only): the rows that come
   back are written atomically to the CSV and the Markdown report (at once, or at
   most every 2 s on large suites, and when the run ends or is interrupted).

Output folder layout::

    <out>/meshes/<shape>/<method>.ply   each reconstruction (world units of the shape)
    <out>/results.csv                   one row per shape x method (:data:`sdfrecon.evaluation.report.COLUMNS`)
    <out>/results.md                    per-shape table and a mean row per method
    <out>/benchmark.json                the settings the results were made with
    <out>/shards/<I>-of-<N>/results.*   the rows of shard I of N (``--shard``); joined into
                                        <out>/results.* by :func:`merge_results`

An interrupted run (Ctrl-C, SIGTERM) loses at most the pairs in progress. Rerunning into the same
folder resumes: a pair whose row says ``ok`` and whose mesh exists (in the main
results or any shard's) is skipped; failed pairs are tried again; a neural pair
continues from its checkpoint. A pair that fails (the method raises, returns an
empty mesh, cannot be scored, or its worker process dies) gets ``status=failed``
and its error text, and the run goes on.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from sdfrecon.datasets.benchmarks import BenchmarkItem, SuiteShape
from sdfrecon.evaluation.methods import Method
from sdfrecon.evaluation.metrics import MetricOptions
from sdfrecon.evaluation.report import STATUS_FAILED, STATUS_OK, markdown_report, read_rows, to_row, write_rows
from sdfrecon.base.errors import ConfigError, TrainingInterrupted
from sdfrecon.base.run_files import RunFiles

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``: a contiguous slice of the pairs in report order.

    Contiguous slices of the shape-major pair list give every shard a mix of
    methods (a shard of N pairs of a suite with M methods holds about N/M of each),
    and depend only on the suite and the methods, never on what is finished.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 1 <= self.index <= self.count):
            raise ConfigError(f"--shard: {self.index}/{self.count}: need 1 <= I <= N")

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"I/N"`` (``"3/10"``); :class:`ConfigError` otherwise."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ConfigError(f"--shard: expected I/N (e.g. 3/10), got {text!r}") from None
        return cls(index, count)

    @property
    def label(self) -> str:
        """Folder name ``<I>-of-<N>``."""
        return f"{self.index}-of-{self.count}"

    def select(self, pairs: Sequence[Any]) -> list[Any]:
        """This shard's slice of ``pairs``."""
        n = len(pairs)
        return list(pairs[(self.index - 1) * n // self.count : self.index * n // self.count])


@dataclass(frozen=True)
class BenchmarkPaths:
    """Where a benchmark's outputs go (a shard's rows go to their own folder)."""

    root: Path
    shard: Shard | None = None

    @property
    def folder(self) -> Path:
        """Folder of this run's ``results.csv`` / ``results.md``."""
        return self.root if self.shard is None else self.shards / self.shard.label

    @property
    def csv(self) -> Path:
        return self.folder / "results.csv"

    @property
    def markdown(self) -> Path:
        return self.folder / "results.md"

    @property
    def settings(self) -> Path:
        return self.root / "benchmark.json"

    @property
    def shards(self) -> Path:
        """Folder holding one sub-folder per shard."""
        return self.root / "shards"

    def shard_csvs(self) -> list[Path]:
        """Every shard's ``results.csv`` present, in name order."""
        return sorted(self.shards.glob("*-of-*/results.csv")) if self.shards.is_dir() else []

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
    protocol : str
        Scoring protocol, ``ours``, ``srb`` or ``shapenet``
        (:mod:`sdfrecon.evaluation.protocols`).
    """

    shapes: list[SuiteShape]
    methods: list[Method]
    metrics: MetricOptions = field(default_factory=MetricOptions)
    settings: dict[str, Any] = field(default_factory=dict)
    description: list[str] = field(default_factory=list)
    protocol: str = "ours"


@dataclass(frozen=True)
class PairTask:
    """One pair to run: everything a worker process needs, picklable.

    Attributes
    ----------
    shape : SuiteShape
        The shape (loaded by the worker).
    method : Method
        The method.
    mesh : Path
        Where the reconstruction goes.
    metrics : MetricOptions
        Metric options.
    protocol : str
        Scoring protocol.
    resume : bool
        Continue the method's own earlier work (a neural checkpoint).
    attempt : int
        1 for the first try; executors count retries of dead workers here.
    """

    shape: SuiteShape
    method: Method
    mesh: Path
    metrics: MetricOptions
    protocol: str = "ours"
    resume: bool = True
    attempt: int = 1

    @property
    def key(self) -> tuple[str, str]:
        """``(shape name, method name)``."""
        return self.shape.name, self.method.name

    @property
    def neural(self) -> bool:
        return getattr(self.method, "kind", "") == "neural"

    def retried(self) -> "PairTask":
        """The next attempt (resuming what the dead one left)."""
        return replace(self, attempt=self.attempt + 1, resume=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_done(row: Mapping[str, str] | None, mesh: Path) -> bool:
    """Whether a pair is finished: its row says ``ok`` and its mesh exists."""
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


def run_pair(item: BenchmarkItem, method: Method, mesh_path: Path, options: MetricOptions, *,
             resume: bool = False, protocol: str = "ours") -> dict[str, str]:
    """Reconstruct ``item`` with ``method`` into ``mesh_path``, score it by ``protocol``;
    never raises for a failure of the method or the scoring (it is recorded in the row)."""
    from sdfrecon.evaluation.protocols import score

    base: dict[str, Any] = {"shape": item.name, "method": method.name,
                            "category": item.extras.get("category", "")}
    t0 = time.perf_counter()
    files = RunFiles.for_mesh(mesh_path)
    try:
        mesh = method.run(item.cloud, files, resume=resume)
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
        # The official ShapeNet IoU evaluates the trained network itself, where there is one.
        field_fn = getattr(method, "signed_distance", None)
        signed_distance = field_fn(files) if field_fn is not None and protocol == "shapenet" else None
        metrics = score(protocol, item, mesh, options, signed_distance=signed_distance)
    except Exception as exc:
        log.warning("%s / %s: scoring failed: %s", item.name, method.name, _one_line(exc))
        return to_row({**base, "status": STATUS_FAILED, "error": f"scoring: {_one_line(exc)}"})
    return to_row({**base, **metrics, "status": STATUS_OK, "eval_seconds": time.perf_counter() - t1})


def failed_row(task: PairTask, error: str, *, seconds: float | None = None) -> dict[str, str]:
    """The row of a pair that could not run (unreadable shape, dead worker)."""
    return to_row({"shape": task.shape.name, "method": task.method.name, "status": STATUS_FAILED,
                   "seconds": seconds, "error": error, "attempts": task.attempt})


def execute_task(task: PairTask, item: BenchmarkItem | None = None) -> dict[str, str]:
    """Run one pair (loading its shape unless ``item`` is given) and return its row.

    Raises only :class:`TrainingInterrupted` (and ``KeyboardInterrupt``); every
    other failure is recorded in the row.
    """
    if item is None:
        try:
            item = task.shape.load()
        except Exception as exc:  # a bad shape fails its pairs, not the benchmark
            log.warning("%s: cannot be loaded: %s", task.shape.name, _one_line(exc))
            return failed_row(task, f"input: {_one_line(exc)}")
    row = run_pair(item, task.method, task.mesh, task.metrics, resume=task.resume, protocol=task.protocol)
    row["attempts"] = str(task.attempt)
    return row


@dataclass
class BenchmarkPlan:
    """The pairs of a benchmark run, what is finished and what is left.

    Attributes
    ----------
    run : BenchmarkRun
    paths : BenchmarkPaths
    pairs : list of (shape, method)
        The pairs this run is responsible for (its shard's), in report order.
    rows : dict
        Rows known so far for those pairs (finished or failed earlier).
    extra : list of dict
        Rows of earlier runs for pairs outside the plan (kept in the CSV).
    tasks : list of PairTask
        The pairs still to run, in report order.
    """

    run: BenchmarkRun
    paths: BenchmarkPaths
    pairs: list[tuple[str, str]]
    rows: dict[tuple[str, str], dict[str, str]]
    extra: list[dict[str, str]]
    tasks: list[PairTask]

    @property
    def done(self) -> int:
        """Pairs already finished before this run."""
        return len(self.pairs) - len(self.tasks)


def settings_record(run: BenchmarkRun) -> dict[str, Any]:
    """What ``benchmark.json`` holds for ``run`` (plain JSON types)."""
    settings = {**run.settings, "metrics": asdict(run.metrics)}
    if run.protocol != "ours":  # older folders, made before protocols existed, resume unchanged
        settings["protocol"] = run.protocol
    record = {"settings": settings, "methods": [m.name for m in run.methods],
              "shapes": [s.name for s in run.shapes], "description": list(run.description)}
    return json.loads(json.dumps(record))  # tuples -> lists, as a reread file has them


def combined_rows(paths: BenchmarkPaths) -> dict[tuple[str, str], dict[str, str]]:
    """Rows of the main results and of every shard, one per pair: a finished row (mesh present)
    wins over a failed one; otherwise the last one read."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for csv in [paths.root / "results.csv", *paths.shard_csvs()]:
        for r in read_rows(csv):
            key = (r["shape"], r["method"])
            if not is_done(out.get(key), paths.mesh(*key)):
                out[key] = r
    return out


def plan_benchmark(run: BenchmarkRun, out_dir: str | Path, *, overwrite: bool = False,
                   shard: Shard | None = None) -> BenchmarkPlan:
    """Plan a run: check the settings, write ``benchmark.json``, list the pairs left.

    Parameters
    ----------
    run : BenchmarkRun
    out_dir : str or Path
        Output folder (created if needed).
    overwrite : bool
        Redo every pair of this run (its earlier rows are dropped).
    shard : Shard, optional
        Run only this shard's pairs; rows go to ``<out>/shards/<I>-of-<N>/``.

    Raises
    ------
    ConfigError
        ``out_dir`` holds results made with other settings (and not ``overwrite``).
    """
    from sdfrecon.base.run_files import write_json

    paths = BenchmarkPaths(Path(out_dir), shard)
    record = settings_record(run)
    _check_settings(paths, record, overwrite)
    all_pairs = [(s.name, m.name) for s in run.shapes for m in run.methods]
    pairs = all_pairs if shard is None else shard.select(all_pairs)
    earlier = {} if overwrite else combined_rows(paths)
    rows = {p: earlier[p] for p in pairs if p in earlier}
    mine = set(pairs)
    extra = [] if shard is not None else [r for key, r in earlier.items() if key not in set(all_pairs)]
    write_json(paths.settings, record)
    shapes = {s.name: s for s in run.shapes}
    methods = {m.name: m for m in run.methods}
    tasks = [PairTask(shapes[s], methods[m], paths.mesh(s, m), run.metrics, run.protocol, resume=not overwrite)
             for s, m in all_pairs if (s, m) in mine and not is_done(rows.get((s, m)), paths.mesh(s, m))]
    return BenchmarkPlan(run, paths, pairs, rows, extra, tasks)


class Collector:
    """Collects result rows in the main process and writes the CSV and Markdown.

    Rewriting both files after every pair costs O(pairs) each time, O(pairs^2) in all
    (0.8 s per pair at 1,000 pairs, measured), so a row is written at once only when
    the last write is ``interval`` seconds old; :meth:`flush` writes the rest (the
    runner calls it when it ends, also on Ctrl-C or an error). A driver killed
    outright loses at most ``interval`` seconds of rows, whose pairs rerun (a
    neural one from its final checkpoint).
    """

    def __init__(self, plan: BenchmarkPlan, interval: float = 2.0):
        self.plan = plan
        self.interval = interval
        self._last = float("-inf")
        self._dirty = False

    def ordered(self) -> list[dict[str, str]]:
        """Rows in report order, then rows of pairs outside the plan."""
        return [self.plan.rows[p] for p in self.plan.pairs if p in self.plan.rows] + self.plan.extra

    def save(self) -> None:
        """Write both files now."""
        from sdfrecon.base.atomic import atomic_write_text

        ordered = self.ordered()
        write_rows(self.plan.paths.csv, ordered)
        atomic_write_text(self.plan.paths.markdown, markdown_report(ordered, notes=self.plan.run.description))
        self._last, self._dirty = time.monotonic(), False

    def flush(self) -> None:
        """Write the files if rows arrived since the last write."""
        if self._dirty:
            self.save()

    def add(self, task: PairTask, row: dict[str, str]) -> None:
        """Record the row of ``task``; write the files unless they were written under ``interval`` s ago."""
        self.plan.rows[task.key] = row
        self._dirty = True
        if time.monotonic() - self._last >= self.interval:
            self.save()


def run_benchmark(run: BenchmarkRun, out_dir: str | Path, *, overwrite: bool = False,
                  progress: bool = True, executor: Any = None, shard: Shard | None = None) -> list[dict[str, str]]:
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
    executor : Executor, optional
        How pairs run (:mod:`sdfrecon.evaluation.executors`); default: one after
        the other in this process (:class:`~sdfrecon.evaluation.executors.InlineExecutor`).
    shard : Shard, optional
        Run only this shard of the pairs (see :func:`plan_benchmark`).

    Returns
    -------
    list of dict
        The rows of this run's ``results.csv``: its pairs in shape-major order,
        then rows of earlier runs for other pairs.

    Raises
    ------
    ConfigError
        ``out_dir`` holds results made with other settings (and not ``overwrite``).
    """
    from tqdm import tqdm

    from sdfrecon.evaluation.executors import InlineExecutor

    plan = plan_benchmark(run, out_dir, overwrite=overwrite, shard=shard)
    collector = Collector(plan)
    collector.save()
    executor = executor if executor is not None else InlineExecutor()
    bar = tqdm(total=len(plan.pairs), initial=plan.done, unit="pair", disable=not progress, dynamic_ncols=True)

    def report(task: PairTask, row: dict[str, str]) -> None:
        collector.add(task, row)
        bar.update(1)
        bar.set_postfix_str(f"{task.shape.name} / {task.method.name}: {row['status']}")

    try:
        executor.run(plan.tasks, report)
    finally:
        bar.close()
        collector.flush()
    return collector.ordered()


@dataclass
class MergeOutcome:
    """What :func:`merge_results` joined.

    Attributes
    ----------
    rows : list of dict
        The merged rows, in report order (then rows of pairs outside the plan).
    missing : list of (shape, method)
        Planned pairs no shard has a row for.
    sources : list of Path
        The CSV files read.
    """

    rows: list[dict[str, str]]
    missing: list[tuple[str, str]]
    sources: list[Path]


def merge_results(out_dir: str | Path) -> MergeOutcome:
    """Join the rows of every shard (and earlier unsharded runs) into ``<out>/results.csv`` and
    ``results.md``, in report order (the shapes and methods of ``benchmark.json``).

    Raises
    ------
    InputError
        ``out_dir`` holds no ``benchmark.json`` (not a benchmark folder).
    """
    from sdfrecon.base.atomic import atomic_write_text
    from sdfrecon.base.errors import InputError

    paths = BenchmarkPaths(Path(out_dir))
    if not paths.settings.exists():
        raise InputError("is not a benchmark output folder (no benchmark.json)", paths.root)
    try:
        record = json.loads(paths.settings.read_text(encoding="utf-8"))
        planned = [(s, m) for s in record["shapes"] for m in record["methods"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot be read ({_one_line(exc)})", paths.settings) from None
    rows = combined_rows(paths)
    ordered = [rows[p] for p in planned if p in rows]
    ordered += [r for key, r in rows.items() if key not in set(planned)]
    write_rows(paths.csv, ordered)
    atomic_write_text(paths.markdown, markdown_report(ordered, notes=record.get("description", [])))
    sources = [c for c in [paths.root / "results.csv", *paths.shard_csvs()] if c.exists()]
    return MergeOutcome(ordered, [p for p in planned if p not in rows], sources)


def finished_meshes(rows: list[Mapping[str, str]], out_dir: str | Path) -> dict[tuple[str, str], Path]:
    """``{(shape, method): mesh path}`` of the finished pairs whose mesh exists."""
    paths = BenchmarkPaths(Path(out_dir))
    out = {}
    for r in rows:
        mesh = paths.mesh(r["shape"], r["method"])
        if r.get("status") == STATUS_OK and mesh.exists():
            out[(r["shape"], r["method"])] = mesh
    return out
