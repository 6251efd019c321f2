"""``sdfrecon evaluate``: printed metrics, per-vertex errors, JSON, and clean failures."""

import json

import numpy as np
import pytest
import trimesh

from sdfrecon.datasets.synthetic import sphere_points
from sdfrecon.cli import main

FAST = ["--samples", "20000", "--iou-samples", "50000"]


@pytest.fixture
def spheres(tmp_path):
    pred = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    # shuffle the vertex order: --errors-out must follow the file's order, not a merged/sorted one
    order = np.random.default_rng(0).permutation(len(pred.vertices))
    inverse = np.argsort(order)
    pred = trimesh.Trimesh(pred.vertices[order], inverse[pred.faces], process=False)
    pred.export(tmp_path / "pred.ply")
    trimesh.creation.icosphere(subdivisions=4, radius=1.25).export(tmp_path / "gt.off")
    return tmp_path, pred


def test_evaluate_prints_metrics_and_writes_errors_and_json(spheres, capsys):
    folder, pred = spheres
    scan = folder / "scan.xyz"
    np.savetxt(scan, sphere_points(2000, radius=1.1, seed=0)[0])
    errors, record = folder / "errors.npy", folder / "m.json"
    argv = ["evaluate", str(folder / "pred.ply"), str(folder / "gt.off"), "--scan", str(scan),
            "--errors-out", str(errors), "--json", str(record), "--fscore-threshold", "0.3", *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Chamfer-L1 (SRB d_C)" in out and "scan d_C->" in out and "IoU" in out
    e = np.load(errors)
    assert e.dtype == np.float32 and e.shape == (len(pred.vertices),)
    # vertices lie on the r=1 sphere; the faceted r=1.25 sphere is 0.25 away (minus < 0.3 % faceting)
    np.testing.assert_allclose(e, 0.25, atol=4e-3)
    metrics = json.loads(record.read_text())["metrics"]
    assert metrics["chamfer_l1"] == pytest.approx(0.25, abs=5e-3)
    assert metrics["scan_chamfer"] == pytest.approx(0.1, abs=5e-3)
    assert metrics["fscore"] == 1.0 and metrics["fscore_threshold"] == 0.3
    assert metrics["iou"] == pytest.approx(1 / 1.25**3, abs=0.01)
    # outputs are not replaced without --overwrite
    assert main(argv) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0


def test_evaluate_against_ground_truth_points(spheres, capsys):
    folder, _ = spheres
    gt = folder / "gt.xyz"
    np.savetxt(gt, sphere_points(20000, radius=1.25, seed=1)[0])
    assert main(["evaluate", str(folder / "pred.ply"), str(gt), "--errors-out", str(folder / "e.npy"), *FAST]) == 0
    out = capsys.readouterr().out
    assert "ground truth is points only" in out
    assert np.load(folder / "e.npy").min() >= 0.25 - 1e-3  # nearest GT point is at least the gap away


def test_bad_inputs_fail_cleanly_without_outputs(spheres, capsys):
    folder, _ = spheres
    errors = folder / "errors.npy"
    cases = [
        (["evaluate", str(folder / "pred.ply"), str(folder / "missing.off")], "missing.off: no such file"),
        (["evaluate", str(folder / "gt.off"), str(folder / "pred.ply"), "--errors-out", str(folder / "e.txt")],
         "e.txt: must end in .npy"),
        (["evaluate", str(folder / "pred.ply"), str(folder / "gt.off"), "--samples", "0"], "samples: must be >= 1"),
    ]
    (folder / "points.ply").write_bytes(b"")
    cases.append((["evaluate", str(folder / "points.ply"), str(folder / "gt.off")], "is empty"))
    for argv, message in cases:
        assert main(argv + ["--errors-out", str(errors)] if "--errors-out" not in argv else argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("error: ") and "Traceback" not in err
        assert not errors.exists()
