"""``sdfrecon evolve`` end to end on a tiny reconstruction checkpoint: outputs, GIF, run record,
resume (interrupted and re-meshing), frames of two checkpoints, and bad inputs (one line, exit 2,
nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sdfrecon.base.checkpoint import load_checkpoint
from sdfrecon.base.errors import TrainingInterrupted
from sdfrecon.cli import main
from sdfrecon.datasets.normalize import Normalization
from sdfrecon.datasets.synthetic import sphere_points
from sdfrecon.meshing.extract import MeshConfig, extract_mesh
from sdfrecon.pipeline.evolve import EvolveFiles, evolve_checkpoints, shape_from_checkpoint
from sdfrecon.pipeline.run import reconstruct_file
from tests.helpers import write_ply

TINY = ["--iterations", "2", "--resolution", "24", "--device", "cpu", "--quiet",
        "--set", "sampler.surface_resolution=24", "--set", "sampler.data_points=64",
        "--set", "sampler.flow_points=64", "--set", "sampler.surface_samples=500"]
TINY_OVERRIDES = [{"device": "cpu", "train": {"iterations": 6, "checkpoint_every": 0}, "mesh": {"resolution": 24},
                   "sampler": {"surface_resolution": 24, "data_points": 64, "flow_points": 64,
                               "surface_samples": 500}}]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A reconstruction checkpoint of a sphere of radius 1 (a few training steps)."""
    folder = tmp_path_factory.mktemp("recon")
    points, normals = sphere_points(2000, radius=1.0, seed=0)
    write_ply(folder / "sphere.ply", points, normals)
    reconstruct_file(folder / "sphere.ply", folder / "sphere_mesh.ply", preset="default", progress=False,
                     overrides=[{"device": "cpu", "train": {"iterations": 40, "checkpoint_every": 0},
                                 "mesh": {"resolution": 24},
                                 "sampler": {"surface_points": 512, "uniform_points": 256, "near_points": 256}}])
    return folder / "sphere_mesh.ckpt"


def _outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


class FakeRenderer:
    """Stands in for the viewer's renderer (seconds of software rendering per frame on CI; the
    viewer's own tests render for real): records each call's camera, returns a flat picture."""

    def __init__(self):
        self.cameras = []

    def __call__(self, scene, cameras, width, height, **kwargs):
        self.cameras += list(cameras)
        assert "mesh" in [item.name for item in scene.items]
        return [np.full((height, width, 3), 200, dtype=np.uint8) for _ in cameras]


def test_smooth_writes_meshes_checkpoint_record_config_and_gif(trained, tmp_path, capsys, monkeypatch):
    import sdfrecon.viewer.pictures

    renderer = FakeRenderer()
    monkeypatch.setattr(sdfrecon.viewer.pictures, "render_pictures", renderer)
    out = tmp_path / "run" / "smooth.ply"
    code = main(["evolve", "smooth", str(trained), "-o", str(out), "--times", "0,0.001", "--gif",
                 "--gif-size", "96", "96", *TINY])
    assert code == 0, capsys.readouterr().err
    assert _outputs(out.parent) == ["smooth.ckpt", "smooth.config.yaml", "smooth.gif", "smooth.json",
                                    "smooth_t0.001.ply", "smooth_t0.ply"]
    record = json.loads((out.parent / "smooth.json").read_text())
    assert record["flow"] == "mean_curvature" and record["train"]["steps"] == 2
    assert record["evolution"]["duration"] == 0.001 and record["times"] == [0.0, 0.001]
    assert [m["time"] for m in record["meshes"]] == [0.0, 0.001]
    assert all(m["watertight"] and m["components"] == 1 for m in record["meshes"])
    assert record["gif"]["frames"] == 2 and record["shapes"][0]["source"] == str(trained)
    from PIL import Image

    with Image.open(out.parent / "smooth.gif") as gif:
        assert gif.n_frames == 2 and gif.size == (96, 96)
        first = np.asarray(gif.convert("RGB"))
        gif.seek(1)
        second = np.asarray(gif.convert("RGB"))
    assert not np.array_equal(first, second)  # labelled with their times
    assert len(renderer.cameras) == 2 and np.allclose(renderer.cameras[0].eye, renderer.cameras[1].eye)
    # the meshes are in the world frame of the reconstruction (a sphere of radius ~1 at the origin)
    import trimesh

    mesh = trimesh.load(out.parent / "smooth_t0.ply")
    assert 0.7 < np.linalg.norm(mesh.vertices, axis=1).mean() < 1.3
    # a second run refuses to replace them ...
    before = {p.name: p.stat().st_mtime_ns for p in out.parent.iterdir()}
    assert main(["evolve", "smooth", str(trained), "-o", str(out), "--times", "0,0.001", *TINY]) == 2
    assert "pass --resume to continue it or --overwrite" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.parent.iterdir()} == before
    # ... and --resume re-meshes the finished field at a new time without training
    assert main(["evolve", "smooth", str(trained), "-o", str(out), "--times", "0.0005", "--resume", "--quiet"]) == 0
    record = json.loads((out.parent / "smooth.json").read_text())
    assert record["train"]["steps"] == 2 and (out.parent / "smooth_t0.0005.ply").exists()
    # times outside the trained range are refused
    assert main(["evolve", "smooth", str(trained), "-o", str(out), "--times", "0.01", "--resume", "--quiet"]) == 2
    assert "beyond the trained range [0, 0.001]" in capsys.readouterr().err


def test_deform_with_a_field_file_and_morph_of_two_checkpoints(trained, tmp_path, capsys):
    field = tmp_path / "lift.py"
    field.write_text("import torch\n\ndef v(x, t):\n    return torch.tensor([0.0, 1.0, 0.0]).expand(len(x), 3)\n")
    out = tmp_path / "deform" / "lift.ply"
    assert main(["evolve", "deform", str(trained), "--field", str(field), "-o", str(out), "--times", "0,0.2",
                 *TINY]) == 0, capsys.readouterr().err
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["config"]["flow"]["field"] == {"name": "file", "path": str(field.resolve()), "function": "v"}
    # the sampled/meshed box follows the field: it reaches 0.2 higher than the sphere's (unit frame)
    box_lo, box_hi = record["evolution"]["box"]
    assert box_hi[1] - box_lo[1] > box_hi[0] - box_lo[0] + 0.15
    out = tmp_path / "morph" / "ab.ply"
    assert main(["evolve", "morph", str(trained), str(trained), "-o", str(out), "--times", "0,0.5,1", *TINY]) == 0
    assert _outputs(out.parent) == ["ab.ckpt", "ab.config.yaml", "ab.json", "ab_t0.5.ply", "ab_t0.ply", "ab_t1.ply"]


@pytest.mark.parametrize("args, message", [
    (["smooth", "{missing}", "--times", "0,1"], "no such checkpoint file"),
    (["smooth", "{notckpt}", "--times", "0,1"], "is not a readable checkpoint"),
    (["smooth", "{ckpt}", "--times", "0,-1"], "times must be finite and >= 0"),
    (["smooth", "{ckpt}", "--times", "a,b"], "expected comma-separated numbers"),
    (["smooth", "{ckpt}", "--times", "0"], "give --times with a time > 0 or set duration"),
    (["deform", "{ckpt}", "--field", "spin", "--times", "0,1"], "give one of twist, bend, translate or a .py"),
    (["deform", "{ckpt}", "--field", "{missing}.py", "--times", "0,1"], "no such vector-field file"),
    (["morph", "{ckpt}", "{ckpt}", "--times", "0,2"], "beyond the trained range [0, 1]"),
    (["smooth", "{ckpt}", "--times", "0,1", "--set", "loss.band=-1"], "loss.band: must be >= 0"),
    (["smooth", "{ckpt}", "--times", "0,1", "--config", "nope"], "unknown evolution preset"),
    (["smooth", "{ckpt}", "--times", "0,1", "--resume"], "no checkpoint"),
])
def test_bad_inputs_give_one_line_and_write_nothing(trained, tmp_path, capsys, args, message):
    (tmp_path / "junk.ckpt").write_text("not a checkpoint")
    names = {"missing": str(tmp_path / "missing"), "notckpt": str(tmp_path / "junk.ckpt"), "ckpt": str(trained)}
    out = tmp_path / "out" / "x.ply"
    code = main(["evolve", *[a.format(**names) for a in args], "-o", str(out), *TINY])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert _outputs(out.parent) == []


def test_an_evolution_checkpoint_is_not_taken_as_a_shape(trained, tmp_path, capsys):
    out = tmp_path / "a.ply"
    assert main(["evolve", "smooth", str(trained), "-o", str(out), "--times", "0,0.001", *TINY]) == 0
    capsys.readouterr()
    assert main(["evolve", "smooth", str(tmp_path / "a.ckpt"), "-o", str(tmp_path / "b.ply"),
                 "--times", "0,0.001", *TINY]) == 2
    assert "is an evolution checkpoint; give the reconstruction's checkpoint" in capsys.readouterr().err


def test_interrupted_run_resumes_to_the_same_field(trained, tmp_path):
    def stop_at(step: int):
        def callback(current: int, model: torch.nn.Module) -> None:
            if current == step:
                raise KeyboardInterrupt

        return callback

    whole = evolve_checkpoints("smooth", [trained], tmp_path / "whole.ply", times=[0.0, 0.001],
                               overrides=TINY_OVERRIDES, progress=False)
    with pytest.raises(TrainingInterrupted, match="interrupted at step 3"):
        evolve_checkpoints("smooth", [trained], tmp_path / "cut.ply", times=[0.0, 0.001], overrides=TINY_OVERRIDES,
                           progress=False, step_callback=stop_at(3))
    files = EvolveFiles(tmp_path / "cut.ply")
    assert files.checkpoint.exists() and not files.mesh_at(0.001).exists() and not files.record.exists()
    assert load_checkpoint(files.checkpoint)["trainer"]["step"] == 3
    resumed = evolve_checkpoints("smooth", [trained], tmp_path / "cut.ply", times=[0.0, 0.001], resume=True,
                                 progress=False)
    assert resumed.record["train"]["steps"] == 6
    a = whole.evolution.field.state_dict()
    b = resumed.evolution.field.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_a_second_checkpoint_in_another_frame_is_mapped_into_the_first(trained, tmp_path):
    state = load_checkpoint(trained)
    moved = dict(state, normalization={"center": [5.0, -2.0, 1.0], "scale": 3.0})  # same field, elsewhere
    first, frame = shape_from_checkpoint(state)
    second, same_frame = shape_from_checkpoint(moved, frame=frame, time=1.0)
    assert same_frame is frame and second.field is None  # only the first shape can seed the network
    # the second shape's surface, meshed in the first frame, lands where its own frame puts it in the world
    cfg = MeshConfig(resolution=32, padding=0.1)
    own = extract_mesh(first.sdf, first.lo, first.hi, cfg).mesh  # the network's surface in its unit frame
    mapped = extract_mesh(second.sdf, second.lo, second.hi, cfg).mesh
    world_expected = Normalization.from_dict(moved["normalization"]).to_world(own.vertices)
    world_mapped = frame.to_world(mapped.vertices)
    assert np.allclose(world_mapped.mean(axis=0), world_expected.mean(axis=0), atol=0.05 * 3.0)
    assert np.isclose(np.ptp(world_mapped, axis=0), np.ptp(world_expected, axis=0), rtol=0.05).all()
    # distances are in the first frame's units: |grad| stays ~1 after the mapping
    x = torch.as_tensor(mapped.vertices[:50], dtype=torch.float32).requires_grad_(True)
    (grad,) = torch.autograd.grad(second.sdf(x).sum(), x)
    own_x = torch.as_tensor(own.vertices[:50], dtype=torch.float32).requires_grad_(True)
    (own_grad,) = torch.autograd.grad(first.sdf(own_x).sum(), own_x)
    assert abs(float(grad.norm(dim=1).mean()) - float(own_grad.norm(dim=1).mean())) < 0.05
