"""Benchmark executors: a pool of worker processes and Ray give the inline results; a worker
killed mid-run is recorded and retried; shards merge into the unsharded table; SIGTERM stops
the benchmark and its workers cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from functools import partial
from pathlib import Path

import pytest
import trimesh

from sdfrecon.datasets.benchmarks import ScanOptions, read_suite
from sdfrecon.evaluation.benchmark import BenchmarkRun, Shard, merge_results, run_benchmark
from sdfrecon.evaluation.executors import LocalExecutor, RayExecutor
from sdfrecon.evaluation.methods import METHODS, get_methods
from sdfrecon.evaluation.metrics import MetricOptions
from sdfrecon.evaluation.report import read_rows

METRIC_COLUMNS = ("shape", "method", "status", "chamfer_l1", "chamfer_l2", "hausdorff", "scan_chamfer",
                  "normal_consistency", "fscore", "iou", "vertices", "faces")


# Methods are module-level functions (or partials of them): worker processes import them by name.
def hull(cloud):
    return trimesh.convex.convex_hull(cloud.points)


def _marker(folder: Path, cloud) -> Path:
    return folder / f"{zlib.crc32(cloud.source.encode())}.pid"


def killed_once(folder: Path, cloud):
    """First attempt per shape: write this process's pid and wait to be killed (by the test)."""
    marker = _marker(folder, cloud)
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(60)
        raise AssertionError("the worker should have been killed")
    return hull(cloud)


def always_dies(cloud):
    os.kill(os.getpid(), signal.SIGKILL)


def sleeps(folder: Path, cloud):
    (folder / f"{os.getpid()}.pid").write_text(str(os.getpid()))
    time.sleep(60)
    return hull(cloud)


def _kill_workers(folder: Path, stop: threading.Event) -> None:
    """Kill (SIGKILL) each process that announces itself with a pid file, once."""
    killed = set()
    while not stop.is_set():
        for f in folder.glob("*.pid"):
            if f not in killed:
                try:
                    os.kill(int(f.read_text()), signal.SIGKILL)
                    killed.add(f)
                except (ValueError, ProcessLookupError):
                    pass  # pid not written yet
        time.sleep(0.05)


@pytest.fixture
def suite(tmp_path):
    folder = tmp_path / "suite"
    folder.mkdir()
    trimesh.creation.icosphere(subdivisions=2, radius=1.0).export(folder / "sphere.ply")
    trimesh.creation.box(extents=(2.0, 1.2, 0.8)).export(folder / "box.stl")
    return folder


@pytest.fixture
def crashing_methods(tmp_path, swap_component):
    markers = tmp_path / "markers"
    markers.mkdir()
    swap_component(METHODS, "hull", hull)
    swap_component(METHODS, "killed_once", partial(killed_once, markers))
    swap_component(METHODS, "always_dies", always_dies)
    stop = threading.Event()
    killer = threading.Thread(target=_kill_workers, args=(markers, stop), daemon=True)
    killer.start()
    yield markers
    stop.set()
    killer.join()


def _run(suite, out, executor, methods=("hull", "killed_once", "always_dies")):
    shapes = read_suite(suite, options=ScanOptions(points=800))
    run = BenchmarkRun(shapes, get_methods(list(methods)), MetricOptions(samples=2000, iou_samples=4000))
    return run_benchmark(run, out, executor=executor, progress=False)


def _metrics(rows):
    return [{c: r[c] for c in METRIC_COLUMNS} for r in rows if r["method"] == "hull" or r["status"] == "ok"]


def _check_crash_rows(rows):
    by = {(r["shape"], r["method"]): r for r in rows}
    for shape in ("box", "sphere"):
        killed = by[(shape, "killed_once")]
        assert killed["status"] == "ok" and killed["attempts"] == "2", killed  # killed mid-run, then retried
        dead = by[(shape, "always_dies")]
        assert dead["status"] == "failed" and dead["attempts"] == "2", dead
        assert "worker died" in dead["error"] and "(attempt 2 of 2)" in dead["error"]


@pytest.mark.slow
def test_local_pool_matches_inline_and_records_and_retries_killed_workers(suite, tmp_path, crashing_methods):
    inline = _run(suite, tmp_path / "inline", None, methods=("hull",))
    rows = _run(suite, tmp_path / "local", LocalExecutor(workers=2, retries=1, threads=1))
    assert [(r["shape"], r["method"]) for r in rows] == [
        (s, m) for s in ("box", "sphere") for m in ("hull", "killed_once", "always_dies")]
    _check_crash_rows(rows)
    assert _metrics([r for r in rows if r["method"] == "hull"]) == _metrics(inline)
    # the killed-once pairs reconstruct what hull does
    assert [r["chamfer_l1"] for r in rows if r["method"] == "killed_once"] == [r["chamfer_l1"] for r in inline]
    assert read_rows(tmp_path / "local" / "results.csv") == rows  # every row was collected and written


@pytest.mark.slow
def test_ray_executor_on_a_local_2_cpu_instance_matches_inline_and_retries_a_killed_worker(
        suite, tmp_path, crashing_methods):
    pytest.importorskip("ray")
    inline = _run(suite, tmp_path / "inline", None, methods=("hull", "ball_pivoting"))
    rows = _run(suite, tmp_path / "ray", RayExecutor(num_cpus=2, retries=1),
                methods=("hull", "ball_pivoting", "killed_once"))
    assert _metrics([r for r in rows if r["method"] != "killed_once"]) == _metrics(inline)
    for r in (r for r in rows if r["method"] == "killed_once"):
        assert r["status"] == "ok" and r["attempts"] == "2", r  # its Ray worker was killed mid-run, then retried
    assert [r["chamfer_l1"] for r in rows if r["method"] == "killed_once"] == [
        r["chamfer_l1"] for r in inline if r["method"] == "hull"]


def test_shards_merge_into_the_unsharded_table(suite, tmp_path, swap_component, capsys):
    from sdfrecon.cli import main

    swap_component(METHODS, "hull", hull)
    whole = _run(suite, tmp_path / "whole", None, methods=("hull",))
    shapes = read_suite(suite, options=ScanOptions(points=800))
    run = BenchmarkRun(shapes, get_methods(["hull"]), MetricOptions(samples=2000, iou_samples=4000))
    out = tmp_path / "sharded"
    first = run_benchmark(run, out, shard=Shard.parse("1/2"), progress=False)
    assert [r["shape"] for r in first] == ["box"] and (out / "shards" / "1-of-2" / "results.csv").exists()
    outcome = merge_results(out)
    assert outcome.missing == [("sphere", "hull")]
    run_benchmark(run, out, shard=Shard.parse("2/2"), progress=False)
    assert main(["benchmark", "merge", str(out)]) == 0
    assert "2/2 pairs finished, 0 not run yet" in capsys.readouterr().out
    assert _metrics(read_rows(out / "results.csv")) == _metrics(whole)
    assert "| hull | 2/2 |" in (out / "results.md").read_text()
    # an unsharded rerun into the folder finds every pair done
    calls = []
    swap_component(METHODS, "hull", lambda cloud: calls.append(1) or hull(cloud))
    run_benchmark(BenchmarkRun(shapes, get_methods(["hull"]), run.metrics), out, progress=False)
    assert calls == []
    with pytest.raises(Exception, match="I/N"):
        Shard.parse("3")
    assert [Shard(i, 3).select(list(range(7))) for i in (1, 2, 3)] == [[0, 1], [2, 3], [4, 5, 6]]


@pytest.mark.slow
def test_sigterm_stops_the_benchmark_and_its_workers_and_a_rerun_resumes(suite, tmp_path):
    """The CLI in a subprocess: SIGTERM -> exit 130, the sleeping workers are gone, nothing half-written."""
    pids = tmp_path / "pids"
    pids.mkdir()
    out = tmp_path / "out"
    script = (
        "import sys\n"
        "from functools import partial\n"
        "from pathlib import Path\n"
        "sys.path.insert(0, %r)\n"
        "import test_executors as t\n"
        "from sdfrecon.evaluation.methods import METHODS\n"
        "METHODS.names()\n"
        "METHODS.add('sleeps', partial(t.sleeps, Path(%r)))\n"
        "from sdfrecon.cli import main\n"
        "sys.exit(main(['benchmark', '--suite', %r, '-o', %r, '--methods', 'sleeps', '--workers', '2',\n"
        "               '--quiet', '--samples', '500', '--iou-samples', '500', '--scan-points', '500']))\n"
    ) % (str(Path(__file__).parent), str(pids), str(suite), str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(list(pids.glob("*.pid"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [int(f.read_text()) for f in pids.glob("*.pid")]
    assert len(workers) == 2, "both workers should be running"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    rows = read_rows(out / "results.csv")
    assert rows == []  # the interrupted pairs have no row: a rerun runs them


def test_a_method_a_worker_cannot_receive_is_refused_before_anything_runs(suite, tmp_path, swap_component):
    from sdfrecon.base.errors import ConfigError

    swap_component(METHODS, "closure", lambda cloud: hull(cloud))
    with pytest.raises(ConfigError, match="'closure' or shape 'box' cannot be sent to a worker process"):
        _run(suite, tmp_path / "out", LocalExecutor(), methods=("closure",))
    assert not (tmp_path / "out" / "meshes").exists()
