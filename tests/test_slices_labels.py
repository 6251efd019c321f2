"""Labelled slices (one shape per label): .csl labels and integer mask volumes, split per
label by the library and reconstructed one mesh per label by the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from sdfrecon.cli import main
from sdfrecon.datasets.csl import read_csl, write_csl
from sdfrecon.datasets.masks import MaskOptions, read_mask_stack
from sdfrecon.datasets.slices import make_plane, make_slice_set


def _disc(center, radius, count=32, ccw=True):
    t = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    if not ccw:
        t = t[::-1]
    return np.stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)], axis=1)


def _two_organs():
    """Label 1: a disc at x = -2; label 2: a ring at x = +2 whose hole carries label 0 (as
    OReX's files write holes); four planes z = 0..3."""
    planes = []
    for z in range(4):
        loops2 = [_disc((-2.0, 0.0), 1.0), _disc((2.0, 0.0), 1.0), _disc((2.0, 0.0), 0.4, ccw=False)]
        loops = [np.column_stack([lp, np.full(len(lp), float(z))]) for lp in loops2]
        planes.append(make_plane([0, 0, 1], -float(z), loops, parents=[-1, -1, 1], labels=[1, 2, 0]))
    return make_slice_set(planes, "organs")


@pytest.fixture(scope="module")
def organs_csl(tmp_path_factory):
    return write_csl(_two_organs(), tmp_path_factory.mktemp("csl") / "organs.csl", n_labels=3)


def test_labels_and_for_label(organs_csl):
    slices = read_csl(organs_csl)
    assert slices.labels() == [1, 2]  # the hole's 0 belongs to its parent's region
    ring = slices.for_label(2)
    assert ring.meta["label"] == 2 and len(ring.planes) == 4
    plane = ring.planes[0]
    assert len(plane.loops) == 2 and plane.parents == (-1, 0)
    inside = plane.contains_2d(plane.to_2d(np.array([[2.7, 0, 0], [2.0, 0, 0], [-2.0, 0, 0]])))
    assert inside.tolist() == [True, False, False]  # the ring, its hole, and the other label
    with pytest.raises(Exception, match="has no label 5"):
        slices.for_label(5)


def test_integer_mask_volume_is_a_label_map():
    rows, cols = np.mgrid[0:20, 0:30]
    left = (rows - 10) ** 2 + (cols - 7) ** 2 <= 16
    right = (rows - 10) ** 2 + (cols - 22) ** 2 <= 25
    slab = np.where(left, 3, 0) + np.where(right, 7, 0)
    volume = np.stack([np.zeros_like(slab), slab, slab, np.zeros_like(slab)]).astype(np.uint8)
    slices = read_mask_stack_array(volume)
    assert slices.labels() == [3, 7] and slices.meta["labels"] == [3, 7]
    right_only = slices.for_label(7)
    xs = np.concatenate([p.vertices()[:, 0] for p in right_only.planes if not p.is_empty])
    assert xs.min() > 16 and xs.max() < 28
    assert [p.is_empty for p in right_only.planes] == [True, False, False, True]
    binary = read_mask_stack_array(volume > 0)
    assert binary.labels() == [1]


def read_mask_stack_array(volume):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vol.npy"
        np.save(path, volume)
        return read_mask_stack(path, MaskOptions())


def _quick():
    return ["--device", "cpu", "--quiet", "--iterations", "25", "--resolution", "24",
            "--set", "sampler.pool_size=2048", "--set", "train.checkpoint_every=0"]


@pytest.mark.slow
def test_cli_one_mesh_per_label_into_a_folder(organs_csl, tmp_path, capsys):
    out = tmp_path / "organs"
    assert main(["reconstruct", str(organs_csl), "-o", f"{out}/", *_quick()]) == 0
    printed = capsys.readouterr().out
    meshes = {k: out / f"organs_label{k}.ply" for k in (1, 2)}
    assert all(p.exists() for p in meshes.values()), sorted(out.iterdir())
    left, right = (trimesh.load(meshes[k]) for k in (1, 2))
    assert left.bounds[1][0] < 0 < right.bounds[0][0]  # each mesh holds its own label only
    for k in (1, 2):
        record = json.loads(meshes[k].with_suffix(".json").read_text())
        assert record["input"]["label"] == k
        line = next(ln for ln in printed.splitlines() if ln.startswith(f"label {k}: volume"))
        assert f"{record['mesh']['pieces']} piece(s)" in line and record["mesh"]["pieces"] >= 1
        assert float(line.split("volume ")[1].split()[0]) == pytest.approx(record["mesh"]["volume"], rel=1e-5)
    # the ring's hole stays open: the disc has more volume than the ring of the same outer radius
    assert json.loads(meshes[1].with_suffix(".json").read_text())["mesh"]["volume"] > \
        json.loads(meshes[2].with_suffix(".json").read_text())["mesh"]["volume"]


@pytest.mark.slow
def test_cli_chosen_label_goes_to_the_named_file(organs_csl, tmp_path, capsys):
    out = tmp_path / "ring.ply"
    assert main(["reconstruct", str(organs_csl), "-o", str(out), "--label", "2", *_quick()]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".ply") == ["ring.ply"]
    assert trimesh.load(out).bounds[0][0] > 0
    assert "label 2: volume" in capsys.readouterr().out


def test_cli_label_errors(organs_csl, tmp_path, capsys):
    out = tmp_path / "o" / "x.ply"
    assert main(["reconstruct", str(organs_csl), "-o", str(out), "--label", "9", *_quick()]) == 2
    assert "has no label 9 (its labels are 1, 2)" in capsys.readouterr().err
    pts = tmp_path / "pts.xyz"
    np.savetxt(pts, np.random.default_rng(0).normal(size=(100, 3)))
    assert main(["reconstruct", str(pts), "-o", str(out), "--label", "1", *_quick()]) == 2
    assert "--label chooses a label of labelled slices" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_label_output_names(tmp_path):
    from pathlib import Path

    from sdfrecon.pipeline.run import label_outputs

    src = Path("scans/abdomen.csl")
    assert label_outputs(src, None, [None]) == [Path("abdomen_mesh.ply")]
    assert label_outputs(src, "out.obj", [None]) == [Path("out.obj")]
    assert label_outputs(src, "organs/", [1, 4]) == [Path("organs/abdomen_label1.ply"), Path("organs/abdomen_label4.ply")]
    assert label_outputs(src, "organs", [1]) == [Path("organs/abdomen_label1.ply")]  # no extension: a folder
    assert label_outputs(src, "o.ply", [1, 4]) == [Path("o_label1.ply"), Path("o_label4.ply")]
    assert label_outputs(src, "o.ply", [4]) == [Path("o.ply")]  # --label 4: the file asked for
    assert label_outputs(src, None, [2, 3])[1] == Path("abdomen_label3.ply")
    (tmp_path / "x.ply").mkdir()  # an existing folder, whatever its name
    assert label_outputs(src, tmp_path / "x.ply", [None]) == [tmp_path / "x.ply" / "abdomen_mesh.ply"]


def test_mesh_measures():
    from sdfrecon.pipeline.run import mesh_measures

    two = trimesh.util.concatenate([trimesh.creation.box(extents=(1, 2, 3)),
                                    trimesh.creation.icosphere(radius=0.5).apply_translation([5, 0, 0])])
    measures = mesh_measures(two)
    assert measures["pieces"] == 2
    assert measures["volume"] == pytest.approx(6.0 + trimesh.creation.icosphere(radius=0.5).volume, rel=1e-9)
    assert mesh_measures(trimesh.Trimesh()) == {"volume": None, "pieces": 0}
