"""Read and write ``.csl`` cross-section files (the OReX contour format).

Plain text, blank lines ignored::

    CSLC
    n_planes n_labels
    id n_verts n_comps A B C D        # per plane (id 1-based, in order); plane Ax+By+Cz+D=0
    x y z                             # n_verts vertex lines
    n[hK] label i0 i1 ...             # n_comps component lines: n vertex indices (0-based,
                                      # into this plane's vertices); hK = hole of component K

Outer contours are counter-clockwise around the plane normal, holes clockwise.
The reader checks counts, indices, closure, planarity, areas and crossings, and
reports the first problem as one line ``<file>: line N: <problem>``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import numpy as np

from sdfrecon.datasets.slices import (PLANARITY_TOLERANCE, PlaneSlice, SliceSet, check_volume_extent,
                                      make_slice_set, signed_area)
from sdfrecon.base.atomic import atomic_write_text
from sdfrecon.base.errors import InputError
from sdfrecon.datasets.inputs import INPUT_FORMATS, InputFormat, InputOptions


class _Lines:
    """Non-blank lines of a file with their 1-based numbers, consumed in order."""

    def __init__(self, text: str, source: str):
        self.items = [(no, line.split()) for no, line in enumerate(text.splitlines(), start=1) if line.strip()]
        self.pos = 0
        self.source = source

    def next(self, expecting: str) -> tuple[int, list[str]]:
        if self.pos >= len(self.items):
            raise InputError(f"file ends early: expected {expecting}", self.source)
        item = self.items[self.pos]
        self.pos += 1
        return item

    def error(self, line: int, problem: str) -> InputError:
        return InputError(f"line {line}: {problem}", self.source)


def _int(lines: _Lines, line: int, token: str, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise lines.error(line, f"{what} must be an integer, got {token!r}") from None


def _floats(lines: _Lines, line: int, tokens: list[str], what: str) -> list[float]:
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise lines.error(line, f"{what} must be numbers, got {' '.join(tokens)!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise lines.error(line, f"{what} must be finite, got {' '.join(tokens)!r}")
    return values


def read_csl(path: str | Path) -> SliceSet:
    """Read a ``.csl`` file into a validated :class:`~sdfrecon.datasets.slices.SliceSet`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    SliceSet
        Planes with unit normals and contours projected onto them, world units.

    Raises
    ------
    InputError
        Missing/unreadable/empty file, or malformed content: wrong header, bad or
        inconsistent counts, plane ids out of order, vertex index out of range,
        open contours (< 3 vertices), contour points off their plane, zero-area or
        crossing contours, holes outside their parent. The message names the line.
    """
    from sdfrecon.datasets.readers import check_readable_file

    p = check_readable_file(path)
    source = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("is not a text .csl file (binary content)", source) from None
    lines = _Lines(text, source)
    no, tok = lines.next("the header 'CSLC'")
    if tok != ["CSLC"]:
        raise lines.error(no, f"expected the header 'CSLC', got {' '.join(tok)!r}")
    no, tok = lines.next("'n_planes n_labels'")
    if len(tok) != 2:
        raise lines.error(no, f"expected 'n_planes n_labels', got {' '.join(tok)!r}")
    n_planes = _int(lines, no, tok[0], "n_planes")
    n_labels = _int(lines, no, tok[1], "n_labels")
    if n_planes < 1:
        raise lines.error(no, f"n_planes must be >= 1, got {n_planes}")
    if n_labels < 2:
        raise lines.error(no, f"n_labels must be >= 2 (inside and outside), got {n_labels}")
    planes, where = [], []
    for index in range(1, n_planes + 1):
        plane, header_line = _read_plane(lines, index, n_planes)
        planes.append(plane)
        where.append(f"line {header_line}: plane {index}")
    if lines.pos < len(lines.items):
        no, tok = lines.items[lines.pos]
        raise lines.error(no, f"unexpected content after the last of {n_planes} planes: {' '.join(tok)[:60]!r}")
    planes, notes = settle_plane_equations(planes, where)
    slices = make_slice_set(planes, source, where=where, meta={"format": "csl"}, repairs=notes)
    check_volume_extent(slices)
    return slices


def settle_plane_equations(planes: list[PlaneSlice], where: list[str]) -> tuple[list[PlaneSlice], list[str]]:
    """Let the vertices decide what the plane equations mean (OReX itself samples each
    plane from its vertices alone, so files in the wild are loose about them).

    * Sign convention, per file: OReX writes ``Ax+By+Cz+D = 0``, some tools
      ``Ax+By+Cz = D``. When more planes hold their vertices with ``-D`` than
      with ``D``, every plane (empty ones too) is read with ``-D``.
    * A plane whose vertices are off its stated equation (beyond
      :data:`~sdfrecon.datasets.slices.PLANARITY_TOLERANCE` of the contours' diagonal)
      but lie on one common plane gets the plane through them (least squares),
      its normal turned to agree with the stated one.

    Vertices that lie on no common plane are left for
    :func:`~sdfrecon.datasets.slices.check_slices` to refuse.

    Returns
    -------
    (list of PlaneSlice, list of str)
        The planes, and one message per change.
    """
    contoured = [p for p in planes if not p.is_empty]
    if not contoured:
        return planes, []
    verts = np.concatenate([p.vertices() for p in contoured])
    if not np.isfinite(verts).all():
        return planes, []  # reported by check_slices
    tol = PLANARITY_TOLERANCE * float(np.linalg.norm(verts.max(axis=0) - verts.min(axis=0)))

    def residual(plane: PlaneSlice, sign: float, points: np.ndarray | None = None) -> float:
        points = plane.vertices() if points is None else points
        length = float(np.linalg.norm(plane.normal))
        return float(np.abs(points @ plane.normal / length + sign * plane.offset / length).max())

    fits_plus = sum(residual(p, 1.0) <= tol for p in contoured)
    fits_minus = sum(residual(p, -1.0) <= tol for p in contoured)
    notes = []
    if fits_minus > fits_plus:
        planes = [PlaneSlice(p.normal, -p.offset, p.loops, p.parents, p.labels) for p in planes]
        notes.append(f"plane equations are written as Ax+By+Cz = D ({fits_minus} of {len(contoured)} planes hold "
                     f"their vertices that way, {fits_plus} as Ax+By+Cz+D = 0); read them so")
    out = []
    for plane, loc in zip(planes, where):
        if plane.is_empty or residual(plane, 1.0) <= tol:
            out.append(plane)
            continue
        fitted = _plane_through(plane.vertices(), plane.normal)
        if fitted is None or residual(fitted, 1.0, plane.vertices()) > tol:
            out.append(plane)  # not planar: check_slices reports it
            continue
        off = residual(plane, 1.0)
        out.append(PlaneSlice(fitted.normal, fitted.offset, plane.loops, plane.parents, plane.labels))
        notes.append(f"{loc}: its vertices lie up to {off:.4g} from the stated plane but on one common plane; "
                     "used the plane through them")
    return out, notes


def _plane_through(points: np.ndarray, like: np.ndarray) -> PlaneSlice | None:
    """Least-squares plane of (N, 3) ``points`` with its normal on the side of ``like``
    (None when the points are (nearly) collinear)."""
    centre = points.mean(axis=0)
    _, sing, vt = np.linalg.svd(points - centre, full_matrices=False)
    if len(sing) < 2 or sing[1] <= 1e-12 * max(sing[0], 1e-300):
        return None
    normal = vt[-1] if float(vt[-1] @ like) >= 0 else -vt[-1]
    return PlaneSlice(normal, -float(normal @ centre))


def _read_plane(lines: _Lines, index: int, n_planes: int) -> tuple[PlaneSlice, int]:
    no, tok = lines.next(f"the header of plane {index} of {n_planes}")
    if len(tok) != 7:
        raise lines.error(no, f"plane header must be 'id n_verts n_comps A B C D', got {' '.join(tok)[:60]!r}")
    plane_id = _int(lines, no, tok[0], "plane id")
    n_verts = _int(lines, no, tok[1], "n_verts")
    n_comps = _int(lines, no, tok[2], "n_comps")
    coeffs = _floats(lines, no, tok[3:], "plane coefficients A B C D")
    if plane_id != index:
        raise lines.error(no, f"plane id {plane_id} out of order; expected {index} (ids are 1-based, in order)")
    if n_verts < 0 or n_comps < 0:
        raise lines.error(no, f"n_verts and n_comps must be >= 0, got {n_verts} and {n_comps}")
    if n_comps > 0 and n_verts == 0:
        raise lines.error(no, f"plane {index} has {n_comps} components but no vertices")
    if n_verts > 0 and n_comps == 0:
        raise lines.error(no, f"plane {index} has {n_verts} vertices but no component using them")
    if not any(coeffs[:3]):
        raise lines.error(no, f"plane {index} has a zero normal (A = B = C = 0)")
    vertices = np.empty((n_verts, 3))
    for k in range(n_verts):
        vno, vtok = lines.next(f"vertex {k + 1} of {n_verts} of plane {index}")
        if len(vtok) != 3:
            raise lines.error(vno, f"plane {index}: vertex {k + 1} must be 'x y z', got {' '.join(vtok)[:60]!r}")
        vertices[k] = _floats(lines, vno, vtok, f"plane {index}: vertex {k + 1} coordinates")
    loops, parents, labels = [], [], []
    for c in range(n_comps):
        cno, ctok = lines.next(f"component {c + 1} of {n_comps} of plane {index}")
        head = ctok[0].lower().split("h")
        if len(head) > 2 or len(ctok) < 2:
            raise lines.error(cno, f"plane {index}: component must be 'n[hK] label i0 i1 ...', got {' '.join(ctok)[:60]!r}")
        count = _int(lines, cno, head[0], "component vertex count")
        parent = _int(lines, cno, head[1], "hole parent index K") if len(head) == 2 else -1
        label = _int(lines, cno, ctok[1], "component label")
        indices = [_int(lines, cno, t, "vertex index") for t in ctok[2:]]
        if len(indices) != count:
            raise lines.error(cno, f"plane {index}: component {c + 1} declares {count} vertex indices "
                                   f"but lists {len(indices)}")
        if count < 3:
            raise lines.error(cno, f"plane {index}: component {c + 1} is an open contour: {count} vertices "
                                   "(at least 3 needed)")
        bad = [i for i in indices if not 0 <= i < n_verts]
        if bad:
            raise lines.error(cno, f"plane {index}: component {c + 1} refers to vertex {bad[0]}, "
                                   f"outside 0..{n_verts - 1} (open or broken contour)")
        if parent >= 0 and not (0 <= parent < n_comps and parent != c):
            raise lines.error(cno, f"plane {index}: component {c + 1} is a hole of component {parent}, which does not exist "
                                   f"(K must be another component index, 0..{n_comps - 1})")
        loops.append(vertices[indices])
        parents.append(parent)
        labels.append(label)
    plane = PlaneSlice(np.asarray(coeffs[:3]), coeffs[3], tuple(loops), tuple(parents), tuple(labels))
    return plane, no


def format_csl(slices: SliceSet, n_labels: int = 2) -> str:
    """The ``.csl`` text of ``slices``: outer contours written CCW and holes CW
    around each plane's normal, with enough decimals for the data's scale."""
    verts = slices.vertices()
    extent = float(np.abs(verts).max()) if len(verts) else 1.0
    decimals = max(10, 10 - math.floor(math.log10(max(extent, 1e-300))))
    fmt = f"{{:.{decimals}f}}"
    out = ["CSLC", f"{len(slices.planes)} {n_labels}", ""]
    for index, plane in enumerate(slices.planes, start=1):
        coeffs = " ".join(fmt.format(c) for c in (*plane.normal, plane.offset))
        out += [f"{index} {plane.num_vertices} {len(plane.loops)} {coeffs}", ""]
        comps, start = [], 0
        for loop, loop2, parent, label in _oriented(plane):
            out += [" ".join(fmt.format(c) for c in v) for v in loop]
            head = f"{len(loop)}" + (f"h{parent}" if parent >= 0 else "")
            comps.append(f"{head} {label} " + " ".join(str(i) for i in range(start, start + len(loop))))
            start += len(loop)
        out += [""] + comps + [""]
    return "\n".join(out)


def _oriented(plane: PlaneSlice) -> Iterator[tuple[np.ndarray, np.ndarray, int, int]]:
    """Each loop reversed where needed so outer loops are CCW and holes CW in the plane frame."""
    labels = plane.labels or (1,) * len(plane.loops)
    parents = plane.parents or (-1,) * len(plane.loops)
    for loop, parent, label in zip(plane.loops, parents, labels):
        loop2 = plane.to_2d(loop)
        ccw = signed_area(loop2) > 0
        if ccw != (parent < 0):
            loop, loop2 = loop[::-1], loop2[::-1]
        yield loop, loop2, parent, label


def write_csl(slices: SliceSet, path: str | Path, n_labels: int = 2) -> Path:
    """Write ``slices`` to ``path`` as ``.csl``, atomically; returns the path."""
    return atomic_write_text(path, format_csl(slices, n_labels))


def _read_csl_input(path: Path, options: InputOptions) -> SliceSet:
    options.refuse_mask_options("a .csl file")
    return read_csl(path)


INPUT_FORMATS.add("csl", InputFormat(kind="slices", suffixes=lambda: (".csl",),
                                     matches=lambda path: path.suffix.lower() == ".csl",
                                     read=_read_csl_input, priority=10))
