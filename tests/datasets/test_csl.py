"""The .csl reader and writer: round trips, the OReX files, and one-line errors for bad files."""

import numpy as np
import pytest

from sdfrecon.datasets.csl import format_csl, read_csl, write_csl
from sdfrecon.datasets.slices import make_plane, make_slice_set, signed_area
from sdfrecon.cli import main
from sdfrecon.base.errors import InputError
from tests.conftest import shared_data


def _circle(center, radius, count=24, ccw=True):
    t = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    if not ccw:
        t = t[::-1]
    return np.stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)], axis=1)


def _tilted_slices():
    """Three parallel tilted planes with an annulus (outer + hole) and an extra island."""
    normal = np.array([1.0, 2.0, 2.0]) / 3.0
    planes = []
    for k, height in enumerate((-0.5, 0.0, 0.5)):
        blank = make_plane(normal, -height)
        loops2 = [_circle((0.1, 0.2), 1.0), _circle((0.1, 0.2), 0.4, ccw=False)]
        if k == 1:
            loops2.append(_circle((3.0, 0.0), 0.5))
        loops = [blank.from_2d(lp) for lp in loops2]
        planes.append(make_plane(normal, -height, loops))
    return make_slice_set(planes, "tilted")


def test_writer_reader_round_trip(tmp_path):
    original = _tilted_slices()
    path = write_csl(original, tmp_path / "t.csl")
    again = read_csl(path)
    assert len(again.planes) == len(original.planes)
    for a, b in zip(original.planes, again.planes):
        np.testing.assert_allclose(b.normal, a.normal, atol=1e-9)
        assert b.offset == pytest.approx(a.offset, abs=1e-9)
        assert b.parents == a.parents
        assert len(b.loops) == len(a.loops)
        for la, lb in zip(a.loops, b.loops):
            np.testing.assert_allclose(lb, la, atol=1e-9)
    assert again.planes[0].parents == (-1, 0)
    assert again.planes[1].parents == (-1, 0, -1)
    assert format_csl(again).splitlines()[:3] == ["CSLC", "3 2", ""]


def test_writer_orients_outer_ccw_and_holes_cw(tmp_path):
    tilted = _tilted_slices().planes
    plane = tilted[0]
    flipped = make_plane(plane.normal, plane.offset, [lp[::-1] for lp in plane.loops], parents=plane.parents)
    slices = make_slice_set([flipped, tilted[2]], "flipped")  # two planes apart: a volume
    read = read_csl(write_csl(slices, tmp_path / "f.csl"))
    outer, hole = read.planes[0].loops_2d()
    assert signed_area(outer) > 0 > signed_area(hole)


def test_reads_orex_eight():
    slices = read_csl(shared_data("csl", "eight_15.csl"))
    summary = slices.summary()
    assert (summary["planes"], summary["contours"], summary["vertices"]) == (15, 21, 2028)
    np.testing.assert_allclose(slices.planes[0].normal, [0, 0, 1])
    assert -slices.planes[0].offset == pytest.approx(0.8636363636)


def test_reads_orex_heart_with_tilted_planes():
    slices = read_csl(shared_data("csl", "Heart-25-even-better.csl"))
    assert len(slices.planes) == 25
    normals = np.array([p.normal for p in slices.planes])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert len({tuple(n.round(3)) for n in normals}) > 5  # many orientations
    for plane in slices.planes:  # contour points were projected onto their plane
        assert np.abs(plane.vertices() @ plane.normal + plane.offset).max() < 1e-6


SQUARE = ["0 0 0", "1 0 0", "1 1 0", "0 1 0"]


def _file(*plane_blocks, header="CSLC", counts=None):
    lines = [header, counts or f"{len(plane_blocks)} 2", ""]
    for block in plane_blocks:
        lines += block + [""]
    return "\n".join(lines) + "\n"


def _plane(pid, verts, comps, normal="0 0 1", d=0.0, n_verts=None, n_comps=None):
    head = f"{pid} {len(verts) if n_verts is None else n_verts} {len(comps) if n_comps is None else n_comps} {normal} {d}"
    return [head, ""] + verts + [""] + comps


def _lift(verts, z):
    return [" ".join(v.split()[:2] + [str(z)]) for v in verts]


GOOD2 = _plane(2, _lift(SQUARE, 1), ["4 1 0 1 2 3"], d=-1.0)

BAD_FILES = {
    "header": (_file(_plane(1, SQUARE, ["4 1 0 1 2 3"]), GOOD2, header="CSL"), "line 1: expected the header"),
    "counts": (_file(_plane(1, SQUARE, ["4 1 0 1 2 3"]), GOOD2, counts="two 2"), "line 2: n_planes must be an integer"),
    "labels": (_file(_plane(1, SQUARE, ["4 1 0 1 2 3"]), GOOD2, counts="2 1"), "n_labels must be >= 2"),
    "plane_id": (_file(_plane(2, SQUARE, ["4 1 0 1 2 3"]), GOOD2), "plane id 2 out of order"),
    "index_range": (_file(_plane(1, SQUARE, ["4 1 0 1 2 7"]), GOOD2), "refers to vertex 7"),
    "open_contour": (_file(_plane(1, SQUARE, ["2 1 0 1"]), GOOD2), "open contour"),
    "index_count": (_file(_plane(1, SQUARE, ["5 1 0 1 2 3"]), GOOD2), "declares 5 vertex indices but lists 4"),
    "vertex_cols": (_file(_plane(1, ["0 0", "1 0 0", "1 1 0"], ["3 1 0 1 2"]), GOOD2), "must be 'x y z'"),
    "vertex_nan": (_file(_plane(1, ["nan 0 0", "1 0 0", "1 1 0"], ["3 1 0 1 2"]), GOOD2), "must be finite"),
    "truncated": (_file(_plane(1, SQUARE, ["4 1 0 1 2 3"]), GOOD2[:4]), "file ends early"),
    "trailing": (_file(_plane(1, SQUARE, ["4 1 0 1 2 3"]), GOOD2 + ["4 1 0 1 2 3"]), "unexpected content"),
    "zero_normal": (_file(_plane(1, SQUARE, ["4 1 0 1 2 3"], normal="0 0 0"), GOOD2), "zero normal"),
    "non_planar": (_file(_plane(1, ["0 0 0", "1 0 0", "1 1 0.5", "0 1 0"], ["4 1 0 1 2 3"]), GOOD2),
                   "from the stated plane"),
    "self_crossing": (_file(_plane(1, SQUARE, ["4 1 0 2 1 3"]), GOOD2), "crosses itself"),
    "zero_area": (_file(_plane(1, ["0 0 0", "1 0 0", "2 0 0"], ["3 1 0 1 2"]), GOOD2), "zero area"),
    "hole_parent": (_file(_plane(1, SQUARE, ["4h5 1 0 1 2 3"]), GOOD2), "does not exist"),
    "hole_outside": (_file(_plane(1, SQUARE + ["3 3 0", "4 3 0", "4 4 0"], ["4 1 0 1 2 3", "3h0 1 4 5 6"]), GOOD2),
                     "lies outside it"),
    "one_plane": (_file(_plane(1, SQUARE, ["4 1 0 1 2 3"])), "at least 2 are needed"),
    "comps_no_verts": (_file(_plane(1, [], ["3 1 0 1 2"]), GOOD2), "no vertices"),
    "binary": ("\x00\xff\xfe garbage", "not a text .csl file"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_give_one_line_errors(tmp_path, case):
    text, expected = BAD_FILES[case]
    path = tmp_path / f"{case}.csl"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError) as info:
        read_csl(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "\n" not in message


def test_overlapping_contours_are_repaired_not_refused(tmp_path, caplog):
    """Two contours of one label overlapping by a quarter used to be refused; the
    even-odd rule gives them a meaning (the overlap is outside), with a warning."""
    path = tmp_path / "two.csl"
    path.write_text(_file(_plane(1, SQUARE + ["0.5 0.5 0", "1.5 0.5 0", "1.5 1.5 0", "0.5 1.5 0"],
                                 ["4 1 0 1 2 3", "4 1 4 5 6 7"]), GOOD2))
    slices = read_csl(path)
    assert "plane 1: contours 1 and 2 overlap; repaired by the even-odd rule (area changed by 25%)" in caplog.text
    plane = slices.planes[0]
    probe = plane.to_2d(np.array([[0.25, 0.25, 0.0], [0.75, 0.75, 0.0], [1.25, 1.25, 0.0]]))
    assert plane.contains_2d(probe).tolist() == [True, False, True]


def test_good_minimal_file_reads(tmp_path):
    path = tmp_path / "ok.csl"
    path.write_text(_file(_plane(1, SQUARE, ["4 1 0 1 2 3"]), GOOD2, _plane(3, [], [], d=-2.0)))
    slices = read_csl(path)
    assert [p.is_empty for p in slices.planes] == [False, False, True]


def test_cli_bad_csl_exits_2_without_output(tmp_path, capsys):
    path = tmp_path / "bad.csl"
    path.write_text(BAD_FILES["self_crossing"][0])
    out = tmp_path / "out" / "mesh.ply"
    assert main(["reconstruct", str(path), "-o", str(out), "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "crosses itself" in err and "\n" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
