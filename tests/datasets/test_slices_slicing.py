"""Cutting meshes into slices (and the `sdfrecon slice` tool)."""

import numpy as np
import pytest
import trimesh

from sdfrecon.datasets.csl import read_csl
from sdfrecon.datasets.slices import signed_area
from sdfrecon.datasets.slicing import cut_plane, parallel_planes, random_planes, slice_mesh
from sdfrecon.cli import main
from sdfrecon.base.errors import InputError


def test_sphere_cut_by_parallel_planes():
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    slices = slice_mesh(mesh, parallel_planes(mesh, 5))
    heights = np.array([-p.offset for p in slices.planes])
    np.testing.assert_allclose(heights, [-0.8, -0.4, 0.0, 0.4, 0.8], atol=1e-6)  # mid-cells of [-1, 1]
    for plane, h in zip(slices.planes, heights):
        (loop,) = plane.loops
        radius = np.linalg.norm(loop[:, :2], axis=1)
        np.testing.assert_allclose(radius, np.sqrt(1 - h**2), atol=0.01)
        np.testing.assert_allclose(loop[:, 2], h, atol=1e-9)
    assert slices.cap == pytest.approx(0.2)


def test_hole_is_found_and_oriented(tmp_path):
    ring = trimesh.creation.annulus(r_min=0.5, r_max=1.0, height=1.0)
    slices = slice_mesh(ring, parallel_planes(ring, 3, normal=(0, 0, -1)))  # normal pointing down
    plane = slices.planes[0]
    assert plane.parents == (-1, 0)
    read = read_csl(main_write(tmp_path, slices))
    outer, hole = read.planes[0].loops_2d()
    assert signed_area(outer) > 0 > signed_area(hole)  # CCW / CW around the plane normal
    assert abs(signed_area(outer)) > abs(signed_area(hole))


def main_write(tmp_path, slices):
    from sdfrecon.datasets.csl import write_csl

    return write_csl(slices, tmp_path / "ring.csl")


def test_random_planes_all_cut_the_shape():
    mesh = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    slices = slice_mesh(mesh, random_planes(mesh, 8, seed=2))
    assert len(slices.planes) == 8
    assert sum(not p.is_empty for p in slices.planes) >= 7
    again = slice_mesh(mesh, random_planes(mesh, 8, seed=2))
    np.testing.assert_allclose(again.planes[0].normal, slices.planes[0].normal)


def test_plane_through_vertices_is_nudged():
    mesh = trimesh.creation.box(extents=(2.0, 2.0, 2.0))  # vertices at z = +-1, cut at z = 1 exactly
    plane = cut_plane(mesh, np.array([0.0, 0.0, 1.0]), -0.999999)
    assert len(plane.loops) == 1


def test_open_mesh_is_rejected():
    mesh = trimesh.creation.icosphere(subdivisions=2)
    height = mesh.vertices[mesh.faces[0], 2].mean()
    mesh.update_faces(np.arange(len(mesh.faces)) != 0)  # punch a hole where the plane cuts
    up = np.array([0.0, 0.0, 1.0])
    with pytest.raises(InputError, match="plane 1: .*open contours"):
        slice_mesh(mesh, [(up, -height), (up, 0.0)], source="holey")


def test_cli_slice(tmp_path, capsys):
    src = tmp_path / "ring.obj"
    trimesh.creation.annulus(r_min=0.5, r_max=1.0, height=1.0).export(src)
    out = tmp_path / "ring.csl"
    assert main(["slice", str(src), "-o", str(out), "--planes", "4", "--axis", "x"]) == 0
    slices = read_csl(out)
    assert len(slices.planes) == 4
    np.testing.assert_allclose(slices.planes[0].normal, [1, 0, 0])
    assert "4 planes" in capsys.readouterr().out
    # never overwrite without --overwrite; bad input leaves no file
    assert main(["slice", str(src), "-o", str(out), "--planes", "4"]) == 2
    assert main(["slice", str(src), "-o", str(out), "--planes", "5", "--random", "--seed", "1", "--overwrite"]) == 0
    assert len(read_csl(out).planes) == 5
    bad = tmp_path / "bad.obj"
    bad.write_text("this is not a mesh\n")
    assert main(["slice", str(bad), "-o", str(tmp_path / "bad.csl")]) == 2
    assert not (tmp_path / "bad.csl").exists()
    assert capsys.readouterr().err.startswith("error: ")
