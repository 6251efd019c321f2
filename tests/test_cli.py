"""The command line: help, a real run, one-line errors with exit status 2 and no output."""

import json
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from sdfrecon.datasets.synthetic import sphere_points
from sdfrecon.cli import main
from tests.helpers import write_ply

QUICK = ["--iterations", "60", "--resolution", "40", "--device", "cpu", "--quiet",
         "--set", "sampler.surface_points=1024", "--set", "sampler.uniform_points=512",
         "--set", "sampler.near_points=512"]


def test_help_of_every_subcommand(capsys):
    for argv in (["--help"], ["reconstruct", "--help"], ["config", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    assert "--resume" in capsys.readouterr().out


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "sdfrecon", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "reconstruct" in out.stdout


@pytest.fixture
def scan(tmp_path):
    pts, nrm = sphere_points(2000, radius=3.0, center=(5.0, 0.0, -1.0), seed=0)
    return write_ply(tmp_path / "scan.ply", pts, nrm)


def test_reconstruct_writes_mesh_record_checkpoint_config(tmp_path, scan, capsys):
    out = tmp_path / "out" / "mesh.ply"
    assert main(["reconstruct", str(scan), "-o", str(out), *QUICK]) == 0
    mesh = trimesh.load(out)
    assert mesh.is_watertight
    np.testing.assert_allclose(mesh.bounds.mean(axis=0), [5.0, 0.0, -1.0], atol=0.2)  # input coordinates
    record = json.loads((tmp_path / "out" / "mesh.json").read_text())
    assert record["config"]["train"]["iterations"] == 60
    assert {"read", "train", "mesh", "write", "total"} <= set(record["seconds"])
    assert (tmp_path / "out" / "mesh.ckpt").exists()
    assert "iterations: 60" in (tmp_path / "out" / "mesh.config.yaml").read_text()
    assert "mesh:" in capsys.readouterr().out
    # the resolved config is reusable as --config
    again = tmp_path / "again.ply"
    assert main(["reconstruct", str(scan), "-o", str(again), "--config", str(tmp_path / "out" / "mesh.config.yaml"),
                 "--quiet"]) == 0
    # an existing output is not overwritten without --overwrite
    assert main(["reconstruct", str(scan), "-o", str(out), *QUICK]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_interrupted_run_resumes_to_the_same_mesh(tmp_path, scan):
    """Ctrl-C mid-training leaves a checkpoint; --resume finishes with the uninterrupted result."""
    from sdfrecon.datasets.readers import read_point_cloud
    from sdfrecon.pipeline.config import resolve_config
    from sdfrecon.base.errors import TrainingInterrupted
    from sdfrecon.pipeline.reconstruct import reconstruct
    from sdfrecon.base.run_files import RunFiles

    full = tmp_path / "full.ply"
    assert main(["reconstruct", str(scan), "-o", str(full), *QUICK]) == 0
    cfg = resolve_config(str(tmp_path / "full.config.yaml"))

    def interrupt_at_30(step, model):
        if step == 30:
            raise KeyboardInterrupt

    part = tmp_path / "part.ply"
    with pytest.raises(TrainingInterrupted, match="interrupted at step 30"):
        reconstruct(read_point_cloud(scan), cfg, checkpoint_path=RunFiles.for_mesh(part).checkpoint,
                    progress=False, step_callback=interrupt_at_30)
    assert not part.exists()
    assert main(["reconstruct", str(scan), "-o", str(part), "--resume", "--quiet"]) == 0
    np.testing.assert_array_equal(trimesh.load(full).vertices, trimesh.load(part).vertices)
    assert main(["reconstruct", str(scan), "-o", str(part), "--resume", "--iterations", "99"]) == 2


BAD_CASES = {
    "missing": (lambda d: d / "missing.ply", "no such file"),
    "unknown_ext": (lambda d: _write(d / "scan.abc", b"1 2 3\n"), "unknown format"),
    "empty": (lambda d: _write(d / "empty.ply", b""), "is empty"),
    "truncated": (lambda d: _truncated(d), "truncated|cannot be read as PLY"),
    "nan": (lambda d: _write(d / "nan.xyz", b"0 0 0\n1 1 nan\n" * 10), "NaN or infinite"),
    "inf": (lambda d: _write(d / "inf.xyz", b"0 0 0\n1 inf 1\n" * 10), "NaN or infinite"),
    "few": (lambda d: _write(d / "few.xyz", b"0 0 0\n1 0 0\n0 1 0\n"), "at least 10"),
    "identical": (lambda d: _write(d / "same.xyz", b"1 2 3\n" * 50), "identical"),
}


def _write(path, data):
    path.write_bytes(data)
    return path


def _truncated(d):
    pts, nrm = sphere_points(500, seed=0)
    data = write_ply(d / "full.ply", pts, nrm).read_bytes()
    return _write(d / "trunc.ply", data[: len(data) * 2 // 3])


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_one_line_error_exit_2_no_output(tmp_path, capsys, case):
    make, pattern = BAD_CASES[case]
    path = make(tmp_path)
    out = tmp_path / "out.ply"
    assert main(["reconstruct", str(path), "-o", str(out), *QUICK]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith(f"error: {path}"), err
    import re

    assert re.search(pattern, err), err
    assert not out.exists() and not out.with_suffix(".json").exists() and not out.with_suffix(".ckpt").exists()


def test_bad_input_as_a_real_process(tmp_path):
    path = _write(tmp_path / "few.xyz", b"0 0 0\n")
    out = tmp_path / "o.ply"
    proc = subprocess.run([sys.executable, "-m", "sdfrecon", "reconstruct", str(path), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and "Traceback" not in proc.stderr
    assert not out.exists()


def test_bad_options_are_one_line_errors(tmp_path, scan, capsys):
    out = tmp_path / "o.ply"
    assert main(["reconstruct", str(scan), "-o", str(out), "--set", "train.lrr=1"]) == 2
    assert "train: unknown key lrr" in capsys.readouterr().err
    assert main(["reconstruct", str(scan), "-o", str(tmp_path / "o.xyz")]) == 2
    assert "cannot write meshes as '.xyz'" in capsys.readouterr().err
    assert main(["reconstruct", str(scan), "-o", str(out), "--config", "nope"]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["reconstruct", str(scan), "-o", str(out), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert not out.exists()


def test_snapshots_written_during_training(tmp_path, scan):
    out = tmp_path / "snap.ply"
    assert main(["reconstruct", str(scan), "-o", str(out), *QUICK, "--snapshot-every", "20"]) == 0
    shots = sorted(p.name for p in (tmp_path / "snap.snapshots").glob("*.ply"))
    assert shots == ["step_000020.ply", "step_000040.ply", "step_000060.ply"]
    last = trimesh.load(tmp_path / "snap.snapshots" / "step_000060.ply")
    np.testing.assert_allclose(last.bounds.mean(axis=0), [5.0, 0.0, -1.0], atol=0.3)  # world coordinates
