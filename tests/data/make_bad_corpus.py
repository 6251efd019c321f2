"""Write the bad-input corpus ``tests/data/bad/`` and its ``manifest.json``.

Every file here is produced by this script; nobody edits the corpus by hand
(``tests/test_bad_inputs.py`` regenerates it and compares byte for byte). To add
a case, add it to :func:`cases` and run::

    python tests/data/make_bad_corpus.py

Each case is a file whose content is wrong in one way, plus the fragment of the
one-line error the CLI must print for it. Cases that cannot live in git (an
unreadable file, a directory given as a file) are made by the test itself.

The script depends on NumPy only, and the content is fully deterministic
(no RNG: points lie on a Fibonacci sphere), so it regenerates identically
everywhere.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "bad"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Case:
    """One corpus file."""

    name: str
    """File name inside ``bad/`` (the extension is part of the case)."""
    data: bytes
    """Its exact content."""
    problem: str
    """What is wrong with it, for people."""
    expect: str
    """Fragment the one-line error message must contain."""


# ------------------------------------------------------------------ geometry


def fibonacci_sphere(count: int, radius: float = 1.0, center=(0.0, 0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spread points on a sphere and their outward normals, deterministic."""
    i = np.arange(count) + 0.5
    z = 1.0 - 2.0 * i / count
    r = np.sqrt(1.0 - z * z)
    phi = np.pi * (1.0 + 5.0**0.5) * i
    normals = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
    return normals * radius + np.asarray(center, dtype=np.float64), normals


def xyz_text(rows: np.ndarray, fmt: str = "%.9g") -> bytes:
    """Whitespace-separated rows."""
    return "".join(" ".join(fmt % v for v in row) + "\n" for row in np.asarray(rows)).encode("ascii")


def ply_bytes(points: np.ndarray, normals: np.ndarray | None = None, *, binary: bool = True,
              faces: np.ndarray | None = None, declare_vertices: int | None = None) -> bytes:
    """A PLY file (float32 properties); ``declare_vertices`` lets the header lie."""
    names = ["x", "y", "z"] + (["nx", "ny", "nz"] if normals is not None else [])
    data = points if normals is None else np.hstack([points, normals])
    count = len(points) if declare_vertices is None else declare_vertices
    lines = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", f"element vertex {count}"]
    lines += [f"property float {n}" for n in names]
    if faces is not None:
        lines += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    lines.append("end_header")
    out = io.BytesIO()
    out.write(("\n".join(lines) + "\n").encode("ascii"))
    if binary:
        out.write(np.asarray(data, dtype="<f4").tobytes())
        if faces is not None:
            rec = np.zeros(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
            rec["n"], rec["v"] = 3, faces
            out.write(rec.tobytes())
    else:
        out.write(xyz_text(data, "%.7g"))
        if faces is not None:
            out.write("".join(f"3 {a} {b} {c}\n" for a, b, c in faces).encode("ascii"))
    return out.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, np.ascontiguousarray(array), allow_pickle=False)
    return out.getvalue()


def csl_bytes(planes: list[tuple[float, list[tuple[float, float]], list[list[int]]]]) -> bytes:
    """A ``.csl`` file of horizontal planes ``z = height``: (height, 2D vertices, components)."""
    out = ["CSLC", f"{len(planes)} 2", ""]
    for index, (height, verts, comps) in enumerate(planes, start=1):
        out += [f"{index} {len(verts)} {len(comps)} 0 0 1 {0.0 - height:g}", ""]
        out += [f"{x:g} {y:g} {height:g}" for x, y in verts] + [""]
        out += [f"{len(c)} 1 " + " ".join(str(i) for i in c) for c in comps] + [""]
    return ("\n".join(out) + "\n").encode("ascii")


SQUARE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


def general_csl_bytes(planes: list[tuple[str, np.ndarray, list[list[int]]]]) -> bytes:
    """A ``.csl`` file of arbitrary planes: (``"A B C D"`` as written, 3D vertices, components)."""
    out = ["CSLC", f"{len(planes)} 2", ""]
    for index, (equation, verts, comps) in enumerate(planes, start=1):
        out += [f"{index} {len(verts)} {len(comps)} {equation}", ""]
        out += [" ".join(f"{c:.10g}" for c in v) for v in verts] + [""]
        out += [f"{len(c)} 1 " + " ".join(str(i) for i in c) for c in comps] + [""]
    return ("\n".join(out) + "\n").encode("ascii")


def circle(count: int, radius: float = 1.0, center: tuple[float, float] = (0.0, 0.0)) -> list[tuple[float, float]]:
    """``count`` points counter-clockwise on a circle (no RNG, exact to 12 digits)."""
    t = 2.0 * np.pi * np.arange(count) / count
    return [(round(center[0] + radius * float(np.cos(a)), 12), round(center[1] + radius * float(np.sin(a)), 12))
            for a in t]


def lifted(points2: list[tuple[float, float]], height: float) -> np.ndarray:
    return np.array([(x, y, height) for x, y in points2])


# --------------------------------------------------------------------- cases


def cases() -> list[Case]:
    """Every corpus file, in manifest order."""
    pts, nrm = fibonacci_sphere(200, radius=2.0, center=(1.0, -2.0, 3.0))
    good_binary = ply_bytes(pts, nrm)
    good_ascii = ply_bytes(pts, nrm, binary=False)
    header_end = good_ascii.index(b"end_header\n") + len(b"end_header\n")
    ascii_cut = good_ascii.index(b"\n", header_end + (len(good_ascii) - header_end) * 3 // 5) - 7
    tetra = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    tetra_faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 9]])
    nan_pts = pts.copy()
    nan_pts[7, 1] = np.nan
    inf_pts = pts.copy()
    inf_pts[3, 2] = np.inf
    rng_free_plane = np.stack([pts[:, 0], pts[:, 1], np.full(len(pts), 0.5)], axis=1)
    t = np.linspace(0.0, 1.0, 60)[:, None]
    line = np.array([1.0, 2.0, 3.0]) + t * np.array([0.5, -1.0, 2.0])
    tiny = np.array([1e9, -2e9, 5e8]) + fibonacci_sphere(100, radius=5e-7)[0]
    bow_tie = [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)]
    collinear = [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)]
    return [
        # ---- PLY
        Case("truncated_binary.ply", good_binary[: len(good_binary) * 3 // 5],
             "binary PLY cut off mid-data (200 vertices declared, 117 complete)",
             "vertex data ends early"),
        Case("truncated_ascii.ply", good_ascii[:ascii_cut],
             "ASCII PLY cut off in the middle of a line",
             "vertex data ends early"),
        Case("header_lie_binary.ply", ply_bytes(pts, nrm, declare_vertices=300),
             "binary PLY whose header declares 300 vertices; the data holds 200 complete ones",
             "header declares 300 vertices"),
        Case("header_lie_ascii.ply", ply_bytes(pts, nrm, binary=False, declare_vertices=300),
             "ASCII PLY whose header declares 300 vertices; the data holds 200 lines",
             "header declares 300 vertices"),
        Case("no_end_header.ply", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n",
             "PLY header without 'end_header'",
             "no 'end_header' line"),
        Case("zero_points.ply", ply_bytes(pts[:0]),
             "valid PLY declaring 0 vertices",
             "has no points"),
        Case("nan_points.ply", ply_bytes(nan_pts),
             "binary PLY with one NaN coordinate",
             "NaN or infinite"),
        Case("faces_past_vertices.ply", ply_bytes(tetra, faces=tetra_faces),
             "PLY mesh whose face 4 refers to vertex 9 of 4",
             "face 4 refers to vertex 9"),
        Case("empty.ply", b"", "0-byte file", "is empty (0 bytes)"),
        # ---- OBJ
        Case("faces_past_vertices.obj",
             b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 9\n",
             "OBJ whose 4th face refers to vertex 9; the file has 4 vertices",
             "face 4 refers to vertex 9"),
        Case("face_index_zero.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 0 1 2\n",
             "OBJ face using index 0 (OBJ indices start at 1)",
             "vertex index 0"),
        # ---- text point files
        Case("nan_points.xyz", xyz_text(nan_pts), "one coordinate is 'nan'", "1 of 200 points have NaN"),
        Case("inf_points.xyz", xyz_text(inf_pts), "one coordinate is 'inf'", "1 of 200 points have NaN or infinite"),
        Case("empty.xyz", b"", "0-byte file", "is empty (0 bytes)"),
        Case("zero_points.xyz", b"# x y z\n# (no rows)\n", "only comments", "has no points"),
        Case("one_point.xyz", xyz_text(pts[:1]), "a single point", "has only 1 point;"),
        Case("two_points.xyz", xyz_text(pts[:2]), "two points", "has only 2 points"),
        Case("line.xyz", xyz_text(line), "60 points on one straight line", "lie on one line"),
        Case("plane.xyz", xyz_text(rng_free_plane), "200 points on the plane z = 0.5", "lie on one plane"),
        Case("duplicates_only.xyz", xyz_text(np.repeat(pts[:1], 500, axis=0)),
             "the same point 500 times", "all 500 points are identical"),
        Case("few_distinct.xyz", xyz_text(np.repeat(pts[:4], 50, axis=0)),
             "200 rows but only 4 distinct points", "only 4 distinct points"),
        Case("huge_offset_tiny_extent.xyz", xyz_text(tiny, "%.17g"),
             "a sphere 1e-6 wide at 1e9 from the origin: below float64 resolution there",
             "below the float64 resolution"),
        Case("bad_numbers.xyz", b"1 2 3\n4 five 6\n" * 10, "a word where a number should be",
             "cannot be parsed as 'x y z [nx ny nz]' rows"),
        Case("four_columns.xyz", xyz_text(np.hstack([pts, pts[:, :1]])), "4 columns per row",
             "expected 3 (x y z) or 6 (x y z nx ny nz) columns, got 4"),
        # ---- wrong extension for the content
        Case("ply_named.xyz", good_binary, "a binary PLY file named .xyz", "looks like a PLY file"),
        Case("binary_named.txt", bytes(range(256)) * 8, "binary bytes named .txt", "binary content"),
        Case("text_named.ply", xyz_text(pts), "'x y z' text named .ply", "is not a PLY file"),
        Case("npy_named.ply", npy_bytes(pts), "a NumPy array named .ply", "looks like a NumPy .npy array"),
        Case("text_named.npy", xyz_text(pts), "'x y z' text named .npy", "is not a NumPy .npy file"),
        Case("ply_named.obj", good_binary, "a binary PLY file named .obj", "looks like a PLY file"),
        Case("two_columns.npy", npy_bytes(pts[:, :2]), "a (200, 2) array",
             "expected 3 (x y z) or 6 (x y z nx ny nz) columns, got 2"),
        # ---- slices
        Case("open_contour.csl", csl_bytes([(0.0, SQUARE, [[0, 1]]), (1.0, SQUARE, [[0, 1, 2, 3]])]),
             "plane 1 has a contour of 2 vertices (not closed)", "plane 1: component 1 is an open contour"),
        Case("self_intersecting.csl", csl_bytes([(0.0, bow_tie, [[0, 1, 2, 3]]), (1.0, SQUARE, [[0, 1, 2, 3]])]),
             "plane 1 holds a bow-tie contour", "plane 1: contour 1 crosses itself"),
        Case("zero_area.csl", csl_bytes([(0.0, SQUARE, [[0, 1, 2, 3]]), (1.0, collinear, [[0, 1, 2]])]),
             "plane 2's only contour has collinear points (zero area)", "plane 2: contour 1 has zero area"),
        Case("coincident_planes.csl", csl_bytes([(0.5, SQUARE, [[0, 1, 2, 3]]), (0.5, SQUARE, [[0, 1, 2, 3]])]),
             "both planes are the same plane z = 0.5: no extent across the slices",
             "all contours lie in one plane"),
        Case("one_plane.csl", csl_bytes([(0.0, SQUARE, [[0, 1, 2, 3]])]),
             "a single plane", "at least 2 are needed"),
        Case("truncated.csl", b"\n".join(csl_bytes([(0.0, SQUARE, [[0, 1, 2, 3]]),
                                                    (1.0, SQUARE, [[0, 1, 2, 3]])]).split(b"\n")[:7]) + b"\n",
             "cut off inside plane 1's vertices", "file ends early"),
    ]


def odd_but_valid() -> list[Case]:
    """Files that look odd but are legitimate input; ``expect`` is the warning, if any."""
    pts, nrm = fibonacci_sphere(1500, radius=1.0)
    far = pts + np.array([1e9, -2e9, 5e8])
    dup = np.vstack([pts[:400], np.repeat(pts[400:401], 1600, axis=0)])
    return [
        Case("far_from_origin.xyz", xyz_text(np.hstack([far, nrm]), "%.17g"),
             "unit sphere at (1e9, -2e9, 5e8), like UTM/ECEF survey data", ""),
        Case("mostly_duplicates.xyz", xyz_text(dup, "%.17g"),
             "2000 rows: 401 distinct sphere points, one of them repeated 1600 times",
             "1599 of 2000 points are exact duplicates"),
        *repairable_slices(),
    ]


def repairable_slices() -> list[Case]:
    """Contour files with the digitisation defects OReX's own data has; each reads with
    one warning naming plane and contour (``expect``), see ``sdfrecon.datasets.contour_repair``."""
    ring = circle(48)
    swapped = list(range(48))
    swapped[10], swapped[11] = 11, 10  # two neighbours traced in the wrong order: a tiny crossing
    pinch = [(0.0, 0.0), (1.0, 1.0), (2.0, 0.0), (2.0, 2.0), (1.0, 1.0), (0.0, 2.0)]  # visits (1, 1) twice
    repeated = [0, 1, 2, 2, 3, 4, 5, 6, 6] + list(range(7, 48))
    two = ring + circle(48, center=(1.6, 0.0))  # two circles of one label overlapping by a sliver
    full = list(range(48))
    # The circle digitised as two open chains, the second traced backwards, each missing one
    # vertex at both joins: stored as two contours, they would leave a slit across the disc.
    pieces = [list(range(1, 24)), list(range(47, 24, -1))]

    def stack(plane1: tuple[list, list[list[int]]]) -> list:
        verts2, comps = plane1
        return [("0 0 1 0", lifted(verts2, 0.0), comps), ("0 0 1 -1", lifted(ring, 1.0), [full]),
                ("0 0 1 -2", lifted(ring, 2.0), [full])]

    tilt = np.array([0.0, 0.6, 0.8])  # a plane n.x = 0.5 written with a wrong offset
    u, v = np.array([1.0, 0.0, 0.0]), np.cross(tilt, [1.0, 0.0, 0.0])
    tilted = np.array([0.5 * tilt + x * u + y * v for x, y in ring])
    return [
        Case("slightly_self_crossing.csl", general_csl_bytes(stack((ring, [swapped]))),
             "plane 1's circle has two neighbouring vertices swapped (a tiny self-crossing)",
             "plane 1: contour 1 crosses itself; repaired by the even-odd rule"),
        Case("self_touching.csl", general_csl_bytes(stack((pinch, [[0, 1, 2, 3, 4, 5]]))),
             "plane 1's contour visits one point twice (two lobes pinched together)",
             "plane 1: contour 1 touches itself"),
        Case("repeated_vertices.csl", general_csl_bytes(stack((ring, [repeated]))),
             "plane 1's contour repeats two vertices in a row",
             "plane 1: contour 1 repeats 2 vertex(es) in a row"),
        Case("overlapping_contours.csl", general_csl_bytes(stack((two, [full, [48 + i for i in full]]))),
             "plane 1 has two outer contours of one label overlapping by a tenth of their area",
             "plane 1: contours 1 and 2 overlap; repaired by the even-odd rule"),
        Case("outline_in_pieces.csl", general_csl_bytes(stack((ring, pieces))),
             "plane 1's circle is stored as two open chains with a one-edge gap at both joins",
             "plane 1: contours 1, 2 are pieces of one outline"),
        Case("opposite_plane_sign.csl", general_csl_bytes(
            [("0 0 1 0", lifted(ring, 0.0), [full]), ("0 0 1 1", lifted(ring, 1.0), [full]),
             ("0 0 1 2", lifted(ring, 2.0), [full])]),
             "planes written as Ax+By+Cz = D (like OReX's rose.csl)", "written as Ax+By+Cz = D"),
        Case("off_plane_but_planar.csl", general_csl_bytes(
            [("0 0.6 0.8 -0.9", tilted, [full]), ("0 0 1 1", lifted(ring, -1.0), [full]),
             ("0 0 1 2", lifted(ring, -2.0), [full])]),
             "plane 1's vertices lie on n.x = 0.5, its equation says n.x = 0.9",
             "plane 1: its vertices lie up to 0.4 from the stated plane but on one common plane"),
    ]


def manifest(bad: list[Case], odd: list[Case]) -> bytes:
    entries = {
        "bad": [{"file": c.name, "problem": c.problem, "expect": c.expect} for c in bad],
        "odd_but_valid": [{"file": c.name, "problem": c.problem, "expect": c.expect} for c in odd],
        "made_by_the_test": [
            {"file": "unreadable.xyz", "problem": "mode 000 (the test drops root's DAC override)",
             "expect": "cannot be read (permission denied)"},
            {"file": "folder.ply/", "problem": "a directory given as the input file",
             "expect": "is a directory"},
            {"file": "missing.ply", "problem": "no such file", "expect": "no such file"},
        ],
    }
    return (json.dumps(entries, indent=2) + "\n").encode("utf-8")


def write_corpus(folder: Path) -> list[str]:
    """(Re)write the corpus into ``folder`` (emptied first); returns the file names written."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    bad, odd = cases(), odd_but_valid()
    names = [c.name for c in bad + odd]
    if len(set(names)) != len(names):
        raise SystemExit("duplicate case names")
    for case in bad + odd:
        (folder / case.name).write_bytes(case.data)
    (folder / MANIFEST).write_bytes(manifest(bad, odd))
    return names + [MANIFEST]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CORPUS, help=f"folder to write (default {CORPUS})")
    args = parser.parse_args(argv)
    names = write_corpus(args.out)
    print(f"wrote {len(names)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
