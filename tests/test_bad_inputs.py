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


REPAIRABLE = [e for e in MANIFEST["odd_but_valid"] if e["file"].endswith(".csl")]


@pytest.mark.parametrize("entry", REPAIRABLE, ids=lambda e: e["file"])
def test_repairable_contours_read_with_one_warning(entry, caplog):
    """Digitisation defects OReX's data has are repaired, each with one warning naming
    plane and contour; the repaired contours are simple and keep the shape's area."""
    from shapely import Polygon

    from sdfrecon.datasets.csl import read_csl

    with caplog.at_level(logging.WARNING):
        slices = read_csl(CORPUS / entry["file"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and entry["expect"] in warnings[0], warnings
    assert warnings[0].startswith(str(CORPUS / entry["file"]))
    assert slices.meta["repairs"] == [warnings[0].split(": ", 1)[1]]
    for plane in slices.planes:
        for loop in plane.loops_2d():
            assert Polygon(loop).is_valid  # simple: no crossing or touching left
        assert np.abs(plane.vertices() @ plane.normal + plane.offset).max() < 1e-9
    # every file stacks three unit discs (or the pinched/overlapping plane 1) along z
    heights = sorted(round(float(-p.offset * p.normal[2]), 6) for p in slices.planes)
    assert len(set(heights)) == 3


def test_repaired_geometry_is_the_even_odd_region():
    from sdfrecon.datasets.csl import read_csl

    sign = read_csl(CORPUS / "opposite_plane_sign.csl")
    assert [round(-p.offset, 9) for p in sign.planes] == [0.0, 1.0, 2.0]  # z = D, read as z - D = 0
    tilted = read_csl(CORPUS / "off_plane_but_planar.csl").planes[0]
    np.testing.assert_allclose(tilted.normal, [0.0, 0.6, 0.8], atol=1e-9)
    assert tilted.offset == pytest.approx(-0.5, abs=1e-9)  # the plane its vertices lie on
    two = read_csl(CORPUS / "overlapping_contours.csl").planes[0]
    inside = two.contains_2d(two.to_2d(np.array([[0.8, 0.0, 0.0], [0.0, 0.0, 0.0], [1.6, 0.0, 0.0]])))
    assert inside.tolist() == [False, True, True]  # the overlap is outside: even-odd
    crossing = read_csl(CORPUS / "slightly_self_crossing.csl").planes[0]
    assert len(crossing.loops) == 2 and crossing.parents == (-1, -1)  # the disc and the tiny lobe


def test_cli_reconstructs_a_repaired_file_with_a_warning_line(tmp_path, capsys):
    path = CORPUS / "slightly_self_crossing.csl"
    out = tmp_path / "rec.ply"
    assert main(["reconstruct", str(path), "-o", str(out), "--iterations", "5", "--resolution", "16",
                 "--device", "cpu", "--quiet", "--set", "sampler.pool_size=1024"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {path}: line 4: plane 1: contour 1 crosses itself"), err
    assert out.exists()
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["input"]["repairs"] and "crosses itself" in record["input"]["repairs"][0]


def test_outline_in_pieces_is_one_disc_without_a_slit():
    from sdfrecon.datasets.csl import read_csl

    plane = read_csl(CORPUS / "outline_in_pieces.csl").planes[0]
    assert len(plane.loops) == 1
    # The centre lies on the strip between the two pieces' closing edges: outside before the join.
    probe = plane.to_2d(np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, -0.5, 0.0], [1.2, 0.0, 0.0]]))
    assert plane.contains_2d(probe).tolist() == [True, True, True, False]
