"""The bad-input corpus (tests/data/bad): every case is one ``error:`` line naming the
file and the problem, exit status 2, no traceback and no output file.

The corpus is written by ``tests/data/make_bad_corpus.py``; the first test checks
the committed files are exactly what it writes. Most cases run the CLI in-process
(``sdfrecon.cli.main`` returns the exit status and prints the same lines); a few run
``python -m sdfrecon`` as a real process, including the unreadable file, which needs
one: as root, a mode-000 file is still readable, so that process runs without
root's file-permission override (CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH).
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from sdfrecon.cli import main

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "bad"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
QUICK = ["--iterations", "60", "--resolution", "40", "--device", "cpu", "--quiet",
         "--set", "sampler.surface_points=1024", "--set", "sampler.uniform_points=512",
         "--set", "sampler.near_points=512"]
QUICK_SLICES = ["--iterations", "60", "--resolution", "40", "--device", "cpu", "--quiet"]


def quick(path: Path) -> list[str]:
    """Fast-run options; the slices preset has its own sampler keys."""
    return QUICK_SLICES if path.suffix == ".csl" else QUICK


def _generator():
    spec = importlib.util.spec_from_file_location("make_bad_corpus", REPO / "tests" / "data" / "make_bad_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_committed_corpus_is_exactly_what_the_script_writes(tmp_path):
    written = _generator().write_corpus(tmp_path / "bad")
    assert sorted(written) == sorted(p.name for p in CORPUS.iterdir()), "regenerate: python tests/data/make_bad_corpus.py"
    changed = [n for n in written if (tmp_path / "bad" / n).read_bytes() != (CORPUS / n).read_bytes()]
    assert not changed, f"hand-edited or stale corpus files {changed}; regenerate with tests/data/make_bad_corpus.py"


def assert_one_error_line(err: str, path: Path, expect: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {path}: "), err
    assert expect in lines[0], (expect, err)
    assert "Traceback" not in err


def assert_nothing_written(out_dir: Path) -> None:
    assert not out_dir.exists() or not any(out_dir.iterdir()), sorted(out_dir.iterdir())


@pytest.mark.parametrize("entry", MANIFEST["bad"], ids=lambda e: e["file"])
def test_bad_file_is_one_error_line_exit_2_and_no_output(entry, tmp_path, capsys):
    path = CORPUS / entry["file"]
    out_dir = tmp_path / "out"
    assert main(["reconstruct", str(path), "-o", str(out_dir / "out.ply"), *quick(path)]) == 2
    captured = capsys.readouterr()
    assert_one_error_line(captured.err, path, entry["expect"])
    assert captured.out == ""
    assert_nothing_written(out_dir)


def _run_cli(args: list[str], preexec_fn=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "sdfrecon", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, preexec_fn=preexec_fn, timeout=120)


@pytest.mark.parametrize("name", ["truncated_binary.ply", "open_contour.csl"])
def test_bad_file_as_a_real_process(name, tmp_path):
    entry = next(e for e in MANIFEST["bad"] if e["file"] == name)
    path = CORPUS / name
    proc = _run_cli(["reconstruct", str(path), "-o", str(tmp_path / "out" / "out.ply"), *quick(path)])
    assert proc.returncode == 2, proc.stderr
    assert_one_error_line(proc.stderr, path, entry["expect"])
    assert proc.stdout == ""
    assert_nothing_written(tmp_path / "out")


def _without_root_file_override() -> None:
    """preexec_fn: drop CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2) from the
    bounding set, so the exec'd root process obeys file modes like any user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_unreadable_file(tmp_path):
    entry = next(e for e in MANIFEST["made_by_the_test"] if e["file"] == "unreadable.xyz")
    path = tmp_path / "unreadable.xyz"
    path.write_bytes((CORPUS / "mostly_duplicates.xyz").read_bytes())  # good content
    path.chmod(0)
    preexec = _without_root_file_override if os.geteuid() == 0 else None
    probe = subprocess.run([sys.executable, "-c", f"open({str(path)!r}).close()"], capture_output=True,
                           preexec_fn=preexec)
    if probe.returncode == 0:
        pytest.skip("cannot make a file unreadable for this process (root without a droppable DAC override)")
    proc = _run_cli(["reconstruct", str(path), "-o", str(tmp_path / "out" / "out.ply"), *QUICK], preexec)
    assert proc.returncode == 2, proc.stderr
    assert_one_error_line(proc.stderr, path, entry["expect"])
    assert_nothing_written(tmp_path / "out")


@pytest.mark.parametrize("name", ["folder.ply/", "missing.ply"])
def test_directory_or_missing_file(name, tmp_path, capsys):
    entry = next(e for e in MANIFEST["made_by_the_test"] if e["file"] == name)
    path = tmp_path / name.rstrip("/")
    if name.endswith("/"):
        path.mkdir()
        (path / "points.xyz").write_text("0 0 0\n")
    assert main(["reconstruct", str(path), "-o", str(tmp_path / "out" / "out.ply"), *QUICK]) == 2
    assert_one_error_line(capsys.readouterr().err, path, entry["expect"])
    assert_nothing_written(tmp_path / "out")


# ------------------------------------------------------------ odd but valid


def test_far_from_origin_reconstructs_with_float64_output(tmp_path, capsys):
    """UTM/ECEF-like data: a unit sphere at 1e9. Normalised in float64 and written
    as a double-precision PLY, it keeps sub-millimetre detail."""
    path = CORPUS / "far_from_origin.xyz"
    out = tmp_path / "far.ply"
    assert main(["reconstruct", str(path), "-o", str(out), *QUICK]) == 0
    assert b"property double x" in out.read_bytes()[:300]
    mesh = trimesh.load(out, process=False)
    radial = np.linalg.norm(mesh.vertices - np.array([1e9, -2e9, 5e8]), axis=1)
    assert mesh.is_watertight and abs(radial.mean() - 1.0) < 0.02 and radial.std() < 0.02
    capsys.readouterr()
    # STL holds float32 only: refused before training, nothing written
    stl = tmp_path / "stl" / "far.stl"
    assert main(["reconstruct", str(path), "-o", str(stl), *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {stl}: .stl stores float32 coordinates"), err
    assert_nothing_written(stl.parent)


def test_mostly_duplicates_are_dropped_with_a_warning(caplog):
    from sdfrecon.datasets.readers import read_point_cloud

    entry = next(e for e in MANIFEST["odd_but_valid"] if e["file"] == "mostly_duplicates.xyz")
    with caplog.at_level(logging.WARNING):
        cloud = read_point_cloud(CORPUS / "mostly_duplicates.xyz")
    assert len(cloud) == 401 and len(np.unique(cloud.points, axis=0)) == 401
    assert entry["expect"] in caplog.text
