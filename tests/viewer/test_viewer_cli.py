"""``sdfrecon render`` and ``sdfrecon view`` end to end on tiny inputs, and their one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import foreground, sphere_mesh
from PIL import Image

from sdfrecon.cli import main

SIZE = ["--width", "160", "--height", "120", "--supersample", "1"]


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_render_a_mesh_to_png(tmp_path, sphere_ply, capsys):
    out = tmp_path / "shot.png"
    code, stdout, _ = _run(["render", str(sphere_ply), "-o", str(out), "--view", "front", *SIZE], capsys)
    assert code == 0 and "wrote" in stdout
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape == (120, 160, 3)
    fg = foreground(image)
    assert 0.05 < fg.mean() < 0.9 and fg[60, 80]


def test_render_heatmap_from_gt_with_colour_bar(tmp_path, sphere_ply, capsys):
    gt = tmp_path / "gt.ply"
    sphere_mesh(0.45).export(gt)
    out = tmp_path / "heat.png"
    code, stdout, _ = _run(["render", str(sphere_ply), "--gt", str(gt), "--heatmap", "--gt-layout", "none",
                            "--unlit", "-o", str(out), "--width", "250", "--height", "120", "--supersample", "1"],
                           capsys)
    assert code == 0
    assert "error (distance to GT): 0" in stdout and "max error 0.05" in stdout
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape == (120, 250, 3)
    # every vertex is 0.05 from the GT: one colour, the top of the map (the range is the 99th percentile)
    centre = image[60, 80].astype(int)
    assert centre[0] > 150 and centre[2] < 60


def test_render_errors_file_and_turntable_gif(tmp_path, sphere_ply, capsys):
    errors = tmp_path / "e.npy"
    np.save(errors, np.linspace(0, 1, len(sphere_mesh().vertices)).astype(np.float32))
    gif = tmp_path / "turn.gif"
    code, stdout, _ = _run(["render", str(sphere_ply), "--errors", str(errors), "--turntable", "3", "--gif",
                            "-o", str(gif), *SIZE, "--width", "250"], capsys)
    assert code == 0 and "3 frames" in stdout
    with Image.open(gif) as im:
        assert im.n_frames == 3 and im.size == (250, 120)
    frames = tmp_path / "turn.png"
    code, _, _ = _run(["render", str(sphere_ply), "--turntable", "2", "-o", str(frames), *SIZE], capsys)
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("turn_*.png")) == ["turn_000.png", "turn_001.png"]


def test_render_sdf_slice_from_a_checkpoint(tmp_path, sphere_ply, field_checkpoint, capsys):
    out = tmp_path / "slice.png"
    code, stdout, _ = _run(["render", str(sphere_ply), "--checkpoint", str(field_checkpoint), "--slice", "y=0.1",
                            "--unlit", "-o", str(out), *SIZE, "--width", "250"], capsys)
    assert code == 0 and "SDF on the slice" in stdout
    image = np.asarray(Image.open(out).convert("RGB"))
    assert foreground(image[:, :160]).mean() > 0.1


def test_render_snapshots_and_benchmark_sheet(tmp_path, capsys):
    snaps = tmp_path / "run.snapshots"
    snaps.mkdir()
    for step, r in ((100, 0.2), (200, 0.35), (300, 0.5)):
        sphere_mesh(r, subdivisions=2).export(snaps / f"step_{step:06d}.ply")
    out = tmp_path / "conv.png"
    code, stdout, _ = _run(["render", "--snapshots", str(snaps), "-o", str(out), *SIZE], capsys)
    assert code == 0 and "3 snapshots" in stdout
    assert Image.open(out).size == (3 * 160, 120)
    bench = tmp_path / "bench"
    for shape in ("a", "b"):
        (bench / "meshes" / shape).mkdir(parents=True)
        for method in ("m1", "m2"):
            sphere_mesh(0.5, subdivisions=1).export(bench / "meshes" / shape / f"{method}.ply")
    sheet = tmp_path / "sheet.png"
    code, stdout, _ = _run(["render", "--benchmark", str(bench), "-o", str(sheet), *SIZE], capsys)
    assert code == 0 and "2 shape(s) x 2 method(s)" in stdout
    w, h = Image.open(sheet).size
    assert w > 2 * 160 and h > 2 * 120


def test_view_check_prints_help_and_scales_without_a_window(tmp_path, sphere_ply, field_checkpoint, capsys,
                                                            monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    gt = tmp_path / "gt.ply"
    sphere_mesh(0.45).export(gt)
    code, stdout, _ = _run(["view", str(sphere_ply), "--gt", str(gt), "--heatmap", "--checkpoint",
                            str(field_checkpoint), "--slice", "z", "--check"], capsys)
    assert code == 0
    assert "keys (in the window):" in stdout and "move the slice" in stdout
    assert "error (distance to GT)" in stdout and "SDF on the slice" in stdout
    assert "scene: mesh, gt, slice, contour" in stdout
    code, _, err = _run(["view", str(sphere_ply)], capsys)
    assert code == 2 and err.startswith("error: cannot open a window") and err.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["missing.ply"], "missing.ply"),
    (["{mesh}", "--slice", "w=3"], "--slice"),
    (["{mesh}", "--slice", "z=1.5"], "outside [-1, 1]"),
    (["{mesh}", "--slice", "z"], "no checkpoint"),
    (["{mesh}", "--heatmap"], "--heatmap needs --gt"),
    (["{mesh}", "--gif", "--turntable", "2"], "must end in .gif"),
    (["{mesh}", "--errors", "{bad_errors}"], "vertices"),
    (["--snapshots", "{tmp}"], "no training snapshots"),
    (["--benchmark", "{tmp}"], "no meshes/ folder"),
    ([], "exactly one of MESH"),
])
def test_bad_inputs_are_one_line_errors_and_write_nothing(tmp_path, sphere_ply, capsys, args, message):
    bad_errors = tmp_path / "bad.npy"
    np.save(bad_errors, np.zeros(5))
    out = tmp_path / "out.png"
    argv = ["render"] + [a.format(mesh=sphere_ply, bad_errors=bad_errors, tmp=tmp_path) for a in args]
    code, _, err = _run(argv + ["-o", str(out), *SIZE], capsys)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_existing_output_needs_overwrite(tmp_path, sphere_ply, capsys):
    out = tmp_path / "shot.png"
    out.write_bytes(b"keep me")
    code, _, err = _run(["render", str(sphere_ply), "-o", str(out), *SIZE], capsys)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"keep me"
    code, _, _ = _run(["render", str(sphere_ply), "-o", str(out), "--overwrite", *SIZE], capsys)
    assert code == 0 and out.read_bytes()[:4] == b"\x89PNG"
