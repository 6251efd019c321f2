"""The learned prior in the application: train-prior (one process and torchrun's environment),
feed-forward reconstruction with the bundled model, the warm start, and their errors."""

from __future__ import annotations

import json
import shlex
import socket

import numpy as np
import pytest
import torch
import trimesh

from sdfrecon.base.checkpoint import load_checkpoint
from sdfrecon.cli import main
from sdfrecon.datasets.pointcloud import make_point_cloud
from sdfrecon.datasets.synthetic import sphere_points, torus_points, torus_sdf
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.prior import weights_path
from sdfrecon.pipeline.reconstruct import load_trained_field, reconstruct
from sdfrecon.sdf.prior_field import PriorField
from sdfrecon.sdf.prior_model import load_prior_model

TINY_MODEL = ["--set", "model.grid_resolution=8", "--set", "model.channels=[8,16]", "--set", "model.attention_levels=1",
              "--set", "model.point_features=16", "--set", "model.decoder_hidden=16",
              "--set", "data.samples.input_points=256", "--set", "data.samples.query_points=128",
              "--set", "validation_shapes=0", "--set", "train.checkpoint_every=1", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _iou(mesh: trimesh.Trimesh, inside_fn, lo: float = -1.5, hi: float = 1.5, count: int = 40000) -> float:
    from sdfrecon.evaluation.iou import inside_mask, iou_from_masks

    points = np.random.default_rng(0).uniform(lo, hi, size=(count, 3))
    return iou_from_masks(inside_mask(mesh, points), inside_fn(points))


def test_train_prior_under_torchrun_environment_and_resume(tmp_path, monkeypatch, capsys):
    # torchrun's variables for one process: the code joins a gloo process group and trains under DDP.
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    out = tmp_path / "prior.pt"
    args = ["train-prior", "-o", str(out), "--procedural", "2", "--steps", "2", "--batch-size", "1",
            "--device", "cpu", *TINY_MODEL]
    assert main(args) == 0
    assert not torch.distributed.is_initialized()  # left the group again
    record = json.loads((tmp_path / "prior.training.json").read_text())
    assert record["hardware"]["processes"] == 1 and record["train"]["steps_done"] == 2
    assert record["data"]["procedural"] == 2 and record["seconds"]["train"] > 0
    assert record["commands"] == [shlex.join(["sdfrecon", *args])]
    loaded = load_prior_model(out)
    assert loaded.inputs["points"] == 256 and loaded.training["train"]["steps_done"] == 2
    # Outputs are not clobbered; a resumed run keeps its config but may run longer.
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 2
    assert "only device, train.steps may change, not data.procedural" in capsys.readouterr().err
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    assert main(["train-prior", "-o", str(out), "--resume", "--steps", "3", "--quiet"]) == 0
    assert load_checkpoint(tmp_path / "prior.training.ckpt")["trainer"]["step"] == 3
    resumed = load_prior_model(out).training
    assert resumed["train"]["steps_done"] == 3 and len(resumed["commands"]) == 2 and "--resume" in resumed["commands"][1]


def test_train_prior_bad_suite_is_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train-prior", "--suite", str(tmp_path / "empty"), "-o", str(tmp_path / "m.pt"),
                 "--procedural", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "not a benchmark suite" in err
    assert not (tmp_path / "m.pt").exists()


def test_bundled_model_ships_and_loads():
    path = weights_path("bundled")
    assert path.is_file() and path.stat().st_size < 20e6
    bundled = load_prior_model(path)
    training = bundled.training
    assert training["train"]["steps_done"] >= 500 and training["data"]["procedural"] > 0
    # Trained only on redistributable data: procedural shapes and the permissively licensed meshes.
    assert set(training["data"]["suite_shapes"]) <= {"blub", "idler_riser", "joint", "kitten",
                                                      "thingi10k_100728", "thingi10k_52863"}


@pytest.mark.parametrize("shape", ["sphere", "torus"])
def test_feedforward_reconstructs_analytic_shapes(shape, tmp_path):
    if shape == "sphere":
        points, normals = sphere_points(3000, radius=1.0, seed=0)
        inside = lambda p: np.linalg.norm(p, axis=1) < 1.0  # noqa: E731
    else:
        points, normals = torus_points(3000, seed=0)
        inside = lambda p: torus_sdf(p) < 0  # noqa: E731
    cfg = resolve_config("gridformer", [{"device": "cpu", "mesh": {"resolution": 64}}])
    result = reconstruct(make_point_cloud(points, normals, source=shape), cfg, progress=False)
    assert result.record["train"]["steps"] == 0 and result.record["prior"]["mode"] == "feedforward"
    assert result.mesh.is_watertight
    assert _iou(result.mesh, inside) > 0.85
    if shape == "torus":
        assert result.mesh.euler_number == 0  # the hole is open: genus 1


def test_feedforward_checkpoint_reloads_as_a_prior_field(tmp_path):
    points, normals = sphere_points(2000, radius=2.0, center=(5.0, 0.0, 0.0), seed=1)
    np.savetxt(tmp_path / "ball.xyz", points)
    out = tmp_path / "ball.ply"
    assert main(["reconstruct", str(tmp_path / "ball.xyz"), "-o", str(out), "--config", "gridformer",
                 "--iterations", "2", "--resolution", "32", "--device", "cpu", "--quiet"]) == 0
    state = load_checkpoint(tmp_path / "ball.ckpt")
    field, normalization, cfg = load_trained_field(state)
    assert isinstance(field, PriorField) and cfg.prior.mode == "feedforward"
    mesh = trimesh.load(out)
    unit = torch.as_tensor(normalization.to_unit(np.asarray(mesh.vertices)), dtype=torch.float32)
    with torch.no_grad():
        assert field.surface_value(unit).abs().max() < 0.05  # the reloaded field's zero set is the mesh


def test_weights_errors(tmp_path, capsys):
    points, _ = sphere_points(500, seed=0)
    np.savetxt(tmp_path / "s.xyz", points)
    out = tmp_path / "s.ply"
    assert main(["reconstruct", str(tmp_path / "s.xyz"), "-o", str(out), "--config", "gridformer",
                 "--weights", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing.pt: no such checkpoint file" in err and err.count("\n") == 1
    assert not out.exists()
    assert main(["reconstruct", str(tmp_path / "s.xyz"), "-o", str(out), "--config", "default",
                 "--weights", str(weights_path("bundled"))]) == 2
    assert "uses no learned prior" in capsys.readouterr().err


def test_warm_start_puts_the_field_on_the_prior_surface():
    # With no training steps at all, the default field is its initial sphere (radius 0.6 in the unit frame);
    # warm-started, it is already close to the scanned torus.
    points, normals = torus_points(3000, seed=2)
    data = make_point_cloud(points, normals, source="torus")
    tiny = {"device": "cpu", "train": {"iterations": 0}, "mesh": {"resolution": 48},
            "prior": {"warm_start": {"steps": 150, "batch": 2048, "pool": 32768, "resolution": 48}}}
    warm = reconstruct(data, resolve_config("gridformer_refine", [tiny]), progress=False)
    cold = reconstruct(data, resolve_config("default", [tiny]), progress=False)
    assert warm.record["prior"]["warm_start"]["steps"] == 150
    inside = lambda p: torus_sdf(p) < 0  # noqa: E731
    iou_warm, iou_cold = _iou(warm.mesh, inside), _iou(cold.mesh, inside)
    assert iou_warm > 0.7 and iou_warm > iou_cold + 0.3, (iou_warm, iou_cold)


def test_prior_presets_refuse_slices():
    from sdfrecon.base.errors import ConfigError
    from sdfrecon.datasets.slicing import parallel_planes, slice_mesh

    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.8)
    slices = slice_mesh(sphere, parallel_planes(sphere, 4), source="sphere")
    for preset in ("gridformer", "gridformer_refine"):
        with pytest.raises(ConfigError, match="point-cloud prior"):
            reconstruct(slices, resolve_config(preset, [{"device": "cpu", "sampler": {"name": "slices"},
                                                         "train": {"iterations": 1}}]), progress=False)
