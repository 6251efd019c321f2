"""``sdfrecon benchmark``: outputs, resuming, failures recorded per pair, settings guard, contact sheet."""

import sys
import types

import numpy as np
import pytest
import trimesh

from sdfrecon.datasets.benchmarks import ScanOptions, read_suite
from sdfrecon.evaluation.benchmark import BenchmarkRun, run_benchmark
from sdfrecon.evaluation.methods import METHODS, NeuralMethod, get_method, get_methods
from sdfrecon.evaluation.metrics import MetricOptions
from sdfrecon.evaluation.report import read_rows
from sdfrecon.cli import main
from sdfrecon.base.errors import ConfigError

QUICK = ["--iterations", "30", "--resolution", "32", "--device", "cpu", "--quiet",
         "--samples", "3000", "--iou-samples", "20000", "--scan-points", "2000",
         "--set", "sampler.surface_points=1024", "--set", "sampler.uniform_points=512",
         "--set", "sampler.near_points=512"]


@pytest.fixture
def suite(tmp_path):
    folder = tmp_path / "suite"
    folder.mkdir()
    trimesh.creation.icosphere(subdivisions=3, radius=1.0).export(folder / "sphere.ply")
    trimesh.creation.box(extents=(2.0, 1.2, 0.8)).export(folder / "box.stl")
    return folder


def _hull(cloud):
    return trimesh.convex.convex_hull(cloud.points)


def test_default_and_poisson_on_a_tiny_suite_then_resume_skips_everything(suite, tmp_path, monkeypatch, capsys, swap_component):
    out = tmp_path / "results"
    assert main(["benchmark", "--suite", str(suite), "--methods", "default,poisson", "-o", str(out), *QUICK]) == 0
    assert "4/4 pairs finished" in capsys.readouterr().out
    rows = read_rows(out / "results.csv")
    assert [(r["shape"], r["method"]) for r in rows] == [
        ("box", "default"), ("box", "poisson"), ("sphere", "default"), ("sphere", "poisson")]
    for r in rows:
        assert r["status"] == "ok", r["error"]
        assert (out / "meshes" / r["shape"] / f"{r['method']}.ply").exists()
        assert float(r["seconds"]) > 0 and r["watertight"] == "true"
        # even 30 steps from the sphere init land within a few % of the diagonal
        assert float(r["chamfer_l1_rel"]) < (0.02 if r["method"] == "poisson" else 0.06)  # 3000 samples: ~1 % noise
        assert float(r["iou"]) > (0.9 if r["method"] == "poisson" else 0.5)
    md = (out / "results.md").read_text()
    assert "| box | poisson |" in md and "| default | 2/2 |" in md and "| poisson | 2/2 |" in md
    before = (out / "results.csv").read_text()
    stamps = {p: p.stat().st_mtime_ns for p in (out / "meshes").rglob("*.ply")}

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished pair was run again")

    monkeypatch.setattr(NeuralMethod, "run", must_not_run)
    swap_component(METHODS, "poisson", must_not_run)
    assert main(["benchmark", "--suite", str(suite), "--methods", "default,poisson", "-o", str(out), *QUICK]) == 0
    assert (out / "results.csv").read_text() == before
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "meshes").rglob("*.ply")}


def test_a_failing_pair_is_recorded_the_run_goes_on_and_it_is_retried(suite, tmp_path, monkeypatch, swap_component):
    calls = []

    def hull(cloud):
        calls.append("hull")
        return _hull(cloud)

    def broken(cloud):
        calls.append("broken")
        raise RuntimeError("boom |x|")

    swap_component(METHODS, "hull", hull)
    swap_component(METHODS, "broken", broken)
    shapes = read_suite(suite, options=ScanOptions(points=1000))
    run = BenchmarkRun(shapes, get_methods(["broken", "hull"]), MetricOptions(samples=2000, iou_samples=5000))
    out = tmp_path / "results"
    rows = run_benchmark(run, out, progress=False)
    assert calls == ["broken", "hull", "broken", "hull"]
    assert [r["status"] for r in rows] == ["failed", "ok", "failed", "ok"]
    assert rows[0]["error"] == "RuntimeError: boom |x|" and not (out / "meshes" / "box" / "broken.ply").exists()
    assert float(rows[1]["iou"]) > 0.9  # the hull of a box scan is the box
    md = (out / "results.md").read_text()
    assert "failed: RuntimeError: boom \\|x\\|" in md and "| broken | 0/2 |" in md and "| hull | 2/2 |" in md
    # rerun: failed pairs are tried again, finished ones skipped; a pair whose mesh is gone reruns
    calls.clear()
    (out / "meshes" / "sphere" / "hull.ply").unlink()
    run_benchmark(run, out, progress=False)
    assert calls == ["broken", "broken", "hull"]
    # results made with other settings are not mixed in, unless starting over
    other = BenchmarkRun(shapes, run.methods, MetricOptions(samples=1000, iou_samples=5000))
    with pytest.raises(ConfigError, match="other settings"):
        run_benchmark(other, out, progress=False)
    calls.clear()
    run_benchmark(other, out, overwrite=True, progress=False)
    assert calls == ["broken", "hull", "broken", "hull"]


def test_an_interrupted_pair_stops_the_benchmark_and_a_rerun_resumes(suite, tmp_path, monkeypatch, swap_component):
    from sdfrecon.base.errors import TrainingInterrupted

    calls = []

    def hull(cloud):
        calls.append("hull")
        return _hull(cloud)

    def interrupted(cloud):
        calls.append("stop")
        raise TrainingInterrupted(3, None)

    swap_component(METHODS, "hull", hull)
    swap_component(METHODS, "stop", interrupted)
    shapes = read_suite(suite, options=ScanOptions(points=1000))
    out = tmp_path / "results"
    with pytest.raises(TrainingInterrupted):
        run_benchmark(BenchmarkRun(shapes, get_methods(["hull", "stop"]), MetricOptions(samples=2000)), out,
                      progress=False)
    assert calls == ["hull", "stop"]  # nothing after the interruption ran
    calls.clear()
    rows = run_benchmark(BenchmarkRun(shapes, get_methods(["hull"]), MetricOptions(samples=2000)), out,
                         progress=False)
    assert calls == ["hull"] and [r["status"] for r in rows] == ["ok", "ok"]  # the finished pair was kept


def test_unknown_method_lists_valid_ones_and_writes_nothing(suite, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["benchmark", "--suite", str(suite), "--methods", "default,nope", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'nope'; valid: poisson, ball_pivoting, " in err and "default" in err
    assert not out.exists()
    with pytest.raises(ConfigError, match="named twice"):
        get_methods(["poisson", "poisson"])
    assert get_method("default").kind == "neural" and get_method("poisson").kind == "classical"


def test_contact_sheet_is_called_when_available_and_refused_cleanly_when_not(suite, tmp_path, monkeypatch, capsys, swap_component):
    swap_component(METHODS, "hull", _hull)
    args = ["benchmark", "--suite", str(suite), "--methods", "hull", "--quiet", "--samples", "1000",
            "--iou-samples", "1000", "--scan-points", "500", "--contact-sheet"]
    monkeypatch.setitem(sys.modules, "sdfrecon.viewer", types.ModuleType("sdfrecon.viewer"))
    monkeypatch.setitem(sys.modules, "sdfrecon.viewer.contact_sheet", None)  # makes the import fail
    assert main(args + ["-o", str(tmp_path / "a")]) == 2
    assert "sdfrecon.viewer.contact_sheet is not available" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    seen = {}
    fake = types.ModuleType("sdfrecon.viewer")
    fake.contact_sheet = lambda mesh_paths, out_png: seen.update(paths=mesh_paths, png=out_png)
    monkeypatch.setitem(sys.modules, "sdfrecon.viewer", fake)
    assert main(args + ["-o", str(tmp_path / "b")]) == 0
    assert seen["png"] == tmp_path / "b" / "contact_sheet.png"
    assert seen["paths"] == {(s, "hull"): tmp_path / "b" / "meshes" / s / "hull.ply" for s in ("box", "sphere")}
    assert all(np.isfinite(trimesh.load(p).vertices).all() for p in seen["paths"].values())
