"""A long run is never lost: non-finite steps roll back, an empty result warns and
keeps the trained field, SIGTERM checkpoints and --resume finishes to the same
quality, checkpoints are written atomically, and no output is silently replaced."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from sdfrecon.datasets.pointcloud import make_point_cloud
from sdfrecon.datasets.synthetic import sphere_points, sphere_sdf
from sdfrecon.cli import main
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.base.errors import TrainingDivergedError
from sdfrecon.pipeline.reconstruct import reconstruct
from tests.conftest import TEST_DEVICE, quick_overrides
from tests.helpers import write_ply
from tests.helpers import chamfer_to_analytic

REPO = Path(__file__).resolve().parent.parent
QUICK = ["--iterations", "60", "--resolution", "40", "--device", TEST_DEVICE, "--quiet",
         "--set", "sampler.surface_points=1024", "--set", "sampler.uniform_points=512",
         "--set", "sampler.near_points=512"]


@pytest.fixture(scope="module")
def sphere():
    pts, nrm = sphere_points(3000, radius=1.0, seed=0)
    gt, _ = sphere_points(50_000, seed=9)
    return make_point_cloud(pts, nrm), gt


class PoisonOnce:
    """Step callback writing NaN into the first parameter after step ``at``, ``times`` times."""

    def __init__(self, at: int, times: int = 1):
        self.at, self.left = at, times

    def __call__(self, step: int, model: torch.nn.Module) -> None:
        if step == self.at and self.left > 0:
            self.left -= 1
            with torch.no_grad():
                next(model.parameters()).view(-1)[0] = float("nan")


def test_forced_nan_rolls_back_lowers_lr_logs_and_still_meshes_well(sphere, caplog):
    cloud, gt = sphere
    cfg = resolve_config("default", quick_overrides())
    with caplog.at_level(logging.WARNING, logger="sdfrecon.sdf.training"):
        result = reconstruct(cloud, cfg, progress=False, step_callback=PoisonOnce(at=60))
    # step 61 sees the NaN, goes back to the in-memory snapshot of step 50 and halves the lr
    assert result.record["train"]["recoveries"] == [
        {"at_step": 61, "rolled_back_to": 50, "reason": "loss", "lr_scale": 0.5}]
    logged = [r.getMessage() for r in caplog.records if "rolled back" in r.getMessage()]
    schedule = cfg.train.lr_schedule
    lr_at_50 = cfg.train.lr * (1.0 if schedule is None else schedule.value_at(50 / cfg.train.iterations))
    assert logged == [f"non-finite loss at step 61; rolled back to step 50 and lowered the learning rate to "
                      f"{lr_at_50 * 0.5:.3g}"], logged
    assert result.record["train"]["steps"] == cfg.train.iterations
    assert all(np.isfinite(v) for v in result.record["train"]["final_losses"].values())
    assert all(torch.isfinite(p).all() for p in result.field.parameters())
    mesh = result.mesh
    assert mesh.is_watertight
    assert chamfer_to_analytic(mesh, lambda p: sphere_sdf(p, 1.0), gt) < 0.01 * 2 * np.sqrt(3)


def test_repeated_nan_gives_up_with_one_line_error(sphere):
    cloud, _ = sphere
    cfg = resolve_config("default", quick_overrides(iterations=80))
    with pytest.raises(TrainingDivergedError) as info:
        reconstruct(cloud, cfg, progress=False, step_callback=PoisonOnce(at=55, times=100))
    assert str(info.value) == "training diverged (loss) 6 times; lower train.lr or the loss weights"


def test_no_surface_warns_with_cause_keeps_checkpoint_and_remeshes_on_resume(tmp_path, capsys):
    pts, nrm = sphere_points(2000, radius=3.0, center=(5.0, 0.0, -1.0), seed=0)
    scan = write_ply(tmp_path / "scan.ply", pts, nrm)
    out = tmp_path / "out.ply"
    # a level the field never reaches inside the box: trained, but nothing to mesh
    assert main(["reconstruct", str(scan), "-o", str(out), *QUICK, "--set", "mesh.level=-5"]) == 3
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: the extracted mesh is empty: the field never "
                                                         "crosses mesh.level = -5"), captured.err
    assert "outside the field's range" in warnings[0]
    assert "no mesh written; the trained field is kept in" in captured.out
    assert not out.exists() and (tmp_path / "out.ckpt").exists() and (tmp_path / "out.json").exists()
    # the run is not lost: --resume with another mesh option meshes it without training again
    assert main(["reconstruct", str(scan), "-o", str(out), "--resume", "--quiet", "--set", "mesh.level=0"]) == 0
    assert trimesh.load(out).is_watertight


def test_collapsed_field_warning_names_the_likely_cause(sphere, caplog):
    cloud, _ = sphere
    cfg = resolve_config("default", quick_overrides(iterations=20, resolution=32))

    def push_everything_outside(step: int, model: torch.nn.Module) -> None:
        if step == cfg.train.iterations:  # as if training had collapsed to a positive field
            last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
            with torch.no_grad():
                last.bias.add_(100.0)

    with caplog.at_level(logging.WARNING):
        result = reconstruct(cloud, cfg, progress=False, step_callback=push_everything_outside)
    assert len(result.mesh.faces) == 0 and result.record["mesh"]["empty"]
    assert "the field is above 0 everywhere" in caplog.text and "training likely collapsed" in caplog.text
    assert result.record["mesh"]["warning"].startswith("the extracted mesh is empty: the field is above 0")


def _chamfer(path: Path, radius: float, center) -> float:
    mesh = trimesh.load(path)
    gt, _ = sphere_points(20_000, radius=radius, center=center, seed=9)
    return chamfer_to_analytic(mesh, lambda p: sphere_sdf(p, radius, center), gt)


def test_sigterm_checkpoints_and_resume_matches_an_uninterrupted_run(tmp_path, capsys):
    """A real process gets SIGTERM mid-training: exit 130, a checkpoint, no mesh.
    --resume finishes it with the loss and Chamfer distance of an uninterrupted run."""
    pts, nrm = sphere_points(2000, radius=3.0, center=(5.0, 0.0, -1.0), seed=0)
    scan = write_ply(tmp_path / "scan.ply", pts, nrm)
    opts = [*QUICK, "--iterations", "160", "--set", "train.checkpoint_every=10"]
    part = tmp_path / "part.ply"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "sdfrecon", "reconstruct", str(scan), "-o", str(part), *opts],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = tmp_path / "part.ckpt"
    deadline = time.monotonic() + 90
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ckpt.exists(), proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().startswith("error: interrupted at step ") and "continue with --resume" in err, err
    assert not part.exists()
    from sdfrecon.base.checkpoint import load_checkpoint

    stopped_at = load_checkpoint(ckpt)["trainer"]["step"]
    assert 10 <= stopped_at < 160
    assert main(["reconstruct", str(scan), "-o", str(part), "--resume", "--quiet"]) == 0
    full = tmp_path / "full.ply"
    assert main(["reconstruct", str(scan), "-o", str(full), *opts]) == 0
    capsys.readouterr()
    import json

    loss_part = json.loads((tmp_path / "part.json").read_text())["train"]["final_losses"]["total"]
    loss_full = json.loads((tmp_path / "full.json").read_text())["train"]["final_losses"]["total"]
    assert loss_part == pytest.approx(loss_full, rel=0.05)
    cd_part, cd_full = _chamfer(part, 3.0, (5.0, 0.0, -1.0)), _chamfer(full, 3.0, (5.0, 0.0, -1.0))
    assert cd_part < 0.01 * 6 * np.sqrt(3) and cd_part == pytest.approx(cd_full, rel=0.1), (cd_part, cd_full)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    from sdfrecon.base import checkpoint

    path = tmp_path / "run.ckpt"
    checkpoint.save_checkpoint(path, {"trainer": {"step": 1}})

    def crash(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", crash)
    with pytest.raises(OSError):
        checkpoint.save_checkpoint(path, {"trainer": {"step": 2}})
    monkeypatch.undo()
    assert checkpoint.load_checkpoint(path)["trainer"]["step"] == 1  # the old one, intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]  # no temporary left behind


@pytest.mark.parametrize("sidecar", ["out.json", "out.config.yaml", "out.snapshots"])
def test_existing_sidecar_is_not_replaced_without_overwrite(tmp_path, capsys, sidecar):
    pts, nrm = sphere_points(500, seed=0)
    scan = write_ply(tmp_path / "scan.ply", pts, nrm)
    target = tmp_path / sidecar
    if sidecar.endswith(".snapshots"):
        target.mkdir()
    else:
        target.write_text("precious\n")
    assert main(["reconstruct", str(scan), "-o", str(tmp_path / "out.ply"), *QUICK]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {target}: already exists (from an earlier run); pass --overwrite to replace it\n"
    assert not (tmp_path / "out.ply").exists() and not (tmp_path / "out.ckpt").exists()
    if not sidecar.endswith(".snapshots"):
        assert target.read_text() == "precious\n"
