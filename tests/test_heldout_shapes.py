"""The held-out ground truths (bench/heldout_shapes.py) and the sparse reference meshes
(bench/sparse_ceiling.py) are what they say they are."""

import numpy as np
import pytest
import trimesh

from bench.heldout_shapes import SHAPES, ball, box, mesh_of
from bench.sparse_ceiling import loop_subdivided, simplified

EXPECTED_GENUS = {"dumbbell": 0, "pawn": 0, "window_box": 1, "perforated_plate": 9, "blobby": 0, "torus_knot": 1,
                  "mug": 1, "bowl": 0, "stool": 0, "vase": 0, "chair": 3, "spring": 0, "bracket": 2,
                  "slotted_block": 0, "hollow_ball": 0, "rod": 0, "twins": 0}
EXPECTED_PIECES = {"twins": 2}  # every other shape is one piece


def test_primitives_are_signed_distances():
    p = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    np.testing.assert_allclose(ball((0, 0, 0), 2.0)(p), [-2.0, 1.0, 3.0])
    np.testing.assert_allclose(box((0, 0, 0), (1.0, 1.0, 1.0))(p), [-1.0, 2.0, 4.0])


@pytest.mark.parametrize("name", sorted(EXPECTED_GENUS))
def test_each_shape_is_one_closed_piece_of_its_genus(name, tmp_path):
    sdf, bounds = SHAPES[name]()
    mesh = mesh_of(sdf, bounds, resolution=128)
    # as written and read back: STL keeps float32 coordinates and merges vertices on reading
    mesh.export(tmp_path / f"{name}.stl")
    pieces = EXPECTED_PIECES.get(name, 1)
    for each in (mesh, trimesh.load(tmp_path / f"{name}.stl")):
        assert len(each.split(only_watertight=False)) == pieces
        assert each.is_watertight and each.volume > 0  # normals point out
        # Euler number = 2 (pieces - genus summed over the pieces)
        assert round(pieces - each.euler_number / 2) == EXPECTED_GENUS[name]


def test_sparse_references_of_a_sphere():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=1.0)  # 10,242 vertices
    small = simplified(sphere, 1000)
    assert 900 <= len(small.vertices) <= 1100
    smooth = loop_subdivided(small, 2)
    assert len(smooth.faces) == 16 * len(small.faces)
    # Loop subdivision smooths: the faceted 1,000-vertex sphere's face normals deviate from the
    # radial direction more than those of its subdivision
    def deviation(m: trimesh.Trimesh) -> float:
        centres = m.triangles_center
        return float(np.mean(1 - np.abs(np.sum(m.face_normals * centres / np.linalg.norm(centres, axis=1)[:, None], axis=1))))

    assert deviation(smooth) < deviation(small)


def test_an_unknown_shape_is_one_line_of_error_and_writes_nothing(tmp_path, capsys):
    from bench.heldout_shapes import main

    assert main(["-o", str(tmp_path / "out"), "--shapes", "pawn,teapot"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --shapes: unknown shape 'teapot'") and "\n" not in err
    assert not (tmp_path / "out").exists()
