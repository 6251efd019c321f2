"""Ground-truth meshes no preset was tuned on, built from analytic signed distances.

The lead checks every result on shapes we have not seen; this script makes a handful of such
shapes so that a session can do the same before it says anything about generalisation:

* ``dumbbell`` -- two balls joined by a bar, smoothly blended (genus 0, concave necks);
* ``pawn`` -- a ball on a cone on a flat base with a sharp rim (a solid of revolution);
* ``window_box`` -- a closed box with 3-unit walls and a window cut through two opposite faces
  (thin walls seen from both sides, sharp edges; a ring: genus 1);
* ``perforated_plate`` -- a 6-unit plate with a 3 x 3 grid of holes (genus 9, sharp edges);
* ``blobby`` -- seven seeded Gaussian blobs (smooth, organic, uneven curvature);
* ``torus_knot`` -- a tube of radius 4 around a (2, 3) torus knot (genus 1, knotted, thin);
* ``mug`` -- a cup with 4-unit walls, open at the top, and a ring handle (a pocket open on one
  side, thin walls seen from both sides; genus 1);
* ``bowl`` -- a hemispherical shell 4 units thick on a foot ring (a wide open pocket, curved thin
  walls; genus 0);
* ``stool`` -- a round seat on three thin legs (thin parts, free space under a top; genus 0);
* ``vase`` -- a round body with 3-unit walls, hollow, open through a narrow neck (a cavity
  reached through a small opening; genus 0);
* ``chair`` -- a seat on four square legs with a slatted back (thin parts, sharp edges, slots
  between slats; genus 3);
* ``spring`` -- a tube of radius 3 coiled four turns around z (thin, long, genus 0);
* ``bracket`` -- an L of two 2-unit plates, each with a hole (sheet metal: thin walls, a sharp
  fold; genus 2);
* ``slotted_block`` -- a block cut by three deep slots 2.5 units wide (narrow concavities; genus 0);
* ``hollow_ball`` -- a spherical shell 4 units thick with a round opening (a cavity behind a
  wide hole; genus 0);
* ``rod`` -- a cylinder 120 long and 4 across (aspect 30:1; genus 0);
* ``twins`` -- two separate balls, 12 units apart (two pieces: nothing may join them).

Each is the zero level of its signed distance (negative inside) on a grid of ``--resolution``
cells per longest side, meshed by marching cubes (scikit-image), and written as STL in the
shape's units (about 100 across). Use them as ``--mesh`` shapes of :mod:`bench.quality_suite`:

    .venv/bin/python -m bench.heldout_shapes -o /tmp/heldout
    .venv/bin/python -m bench.quality_suite --mesh /tmp/heldout/dumbbell.stl --mesh ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import trimesh

Sdf = Callable[[np.ndarray], np.ndarray]
"""(N, 3) points -> (N,) signed distances, negative inside."""


def ball(center, radius: float) -> Sdf:
    c = np.asarray(center, dtype=np.float64)
    return lambda p: np.linalg.norm(p - c, axis=1) - radius


def box(center, half_sizes) -> Sdf:
    c, h = np.asarray(center, dtype=np.float64), np.asarray(half_sizes, dtype=np.float64)

    def sdf(p: np.ndarray) -> np.ndarray:
        q = np.abs(p - c) - h
        return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)

    return sdf


def cylinder(axis: int, center, radius: float, half_length: float) -> Sdf:
    """A capped cylinder along coordinate ``axis``."""
    c = np.asarray(center, dtype=np.float64)

    def sdf(p: np.ndarray) -> np.ndarray:
        q = p - c
        radial = np.linalg.norm(np.delete(q, axis, axis=1), axis=1) - radius
        along = np.abs(q[:, axis]) - half_length
        d = np.stack([radial, along], axis=1)
        return np.linalg.norm(np.maximum(d, 0.0), axis=1) + np.minimum(d.max(axis=1), 0.0)

    return sdf


def cone_z(base_z: float, top_z: float, base_radius: float, top_radius: float) -> Sdf:
    """A capped truncated cone along z (exact distance of the 2D trapezoid profile, revolved)."""
    corners = np.array([[0.0, base_z], [base_radius, base_z], [top_radius, top_z], [0.0, top_z]])

    def sdf(p: np.ndarray) -> np.ndarray:
        q = np.stack([np.linalg.norm(p[:, :2], axis=1), p[:, 2]], axis=1)
        dist = np.full(len(q), np.inf)
        for a, b in zip(corners[:-1], corners[1:]):  # the fourth edge lies on the axis: no surface there
            ab = b - a
            t = np.clip(((q - a) @ ab) / (ab @ ab), 0.0, 1.0)
            dist = np.minimum(dist, np.linalg.norm(q - (a + t[:, None] * ab), axis=1))
        r_at = base_radius + (top_radius - base_radius) * (q[:, 1] - base_z) / (top_z - base_z)
        inside = (q[:, 1] > base_z) & (q[:, 1] < top_z) & (q[:, 0] < r_at)
        return np.where(inside, -dist, dist)

    return sdf


def union(*parts: Sdf) -> Sdf:
    return lambda p: np.min([f(p) for f in parts], axis=0)


def smooth_union(a: Sdf, b: Sdf, k: float) -> Sdf:
    """Polynomial smooth minimum (blend radius about ``k``)."""

    def sdf(p: np.ndarray) -> np.ndarray:
        da, db = a(p), b(p)
        h = np.clip(0.5 + 0.5 * (db - da) / k, 0.0, 1.0)
        return db * (1 - h) + da * h - k * h * (1 - h)

    return sdf


def subtract(a: Sdf, *cuts: Sdf) -> Sdf:
    return lambda p: np.max([a(p)] + [-c(p) for c in cuts], axis=0)


def dumbbell() -> tuple[Sdf, tuple]:
    bar = cylinder(0, (0, 0, 0), 7.0, 40.0)
    return smooth_union(union(ball((-40, 0, 0), 20), ball((40, 0, 0), 20)), bar, 6.0), ((-62, -22, -22), (62, 22, 22))


def pawn() -> tuple[Sdf, tuple]:
    base = cylinder(2, (0, 0, 4), 24.0, 4.0)
    body = cone_z(8.0, 56.0, 17.0, 6.0)
    collar = cylinder(2, (0, 0, 56), 11.0, 2.0)
    head = ball((0, 0, 68), 12.0)
    return union(base, smooth_union(body, head, 4.0), collar), ((-26, -26, -2), (26, 26, 82))


def window_box() -> tuple[Sdf, tuple]:
    outer = box((0, 0, 0), (40, 28, 20))
    inner = box((0, 0, 0), (37, 25, 17))
    window = box((0, 0, 0), (20, 40, 9))  # through both long faces
    return subtract(outer, inner, window), ((-42, -30, -22), (42, 30, 22))


def perforated_plate() -> tuple[Sdf, tuple]:
    plate = box((0, 0, 0), (45, 45, 3))
    holes = [cylinder(2, (x, y, 0), 6.0, 10.0) for x in (-25, 0, 25) for y in (-25, 0, 25)]
    return subtract(plate, *holes), ((-47, -47, -5), (47, 47, 5))


def blobby() -> tuple[Sdf, tuple]:
    rng = np.random.default_rng(21)
    centers = rng.uniform(-25, 25, size=(7, 3))
    widths = rng.uniform(10, 18, size=7)

    def sdf(p: np.ndarray) -> np.ndarray:
        density = sum(np.exp(-np.sum((p - c) ** 2, axis=1) / (2 * w * w)) for c, w in zip(centers, widths))
        return 0.5 - density  # an iso-surface, not a true distance: marching cubes needs only the sign change

    return sdf, ((-60, -60, -60), (60, 60, 60))


def torus_knot() -> tuple[Sdf, tuple]:
    from scipy.spatial import cKDTree

    t = np.linspace(0, 2 * np.pi, 40_000, endpoint=False)
    p_, q_ = 2, 3
    r = 30 + 12 * np.cos(q_ * t)
    curve = np.stack([r * np.cos(p_ * t), r * np.sin(p_ * t), -12 * np.sin(q_ * t)], axis=1)
    tree = cKDTree(curve)  # the curve sampled every 0.01 units: nearest sample ~ nearest curve point
    return (lambda p: tree.query(p, workers=-1)[0] - 4.0), ((-48, -48, -18), (48, 48, 18))


def torus_y(center, major: float, minor: float) -> Sdf:
    """A torus whose axis is y (its ring lies in the xz plane)."""
    c = np.asarray(center, dtype=np.float64)

    def sdf(p: np.ndarray) -> np.ndarray:
        q = p - c
        ring = np.linalg.norm(q[:, [0, 2]], axis=1) - major
        return np.hypot(ring, q[:, 1]) - minor

    return sdf


def mug() -> tuple[Sdf, tuple]:
    body = cylinder(2, (0, 0, 35), 30.0, 35.0)
    cavity = cylinder(2, (0, 0, 42), 26.0, 38.0)  # floor 4 units thick, open above z = 70
    handle = subtract(torus_y((36, 0, 35), 16.0, 4.0), cylinder(2, (0, 0, 35), 28.0, 40.0))
    return subtract(union(body, handle), cavity), ((-32, -32, -2), (58, 32, 72))


def bowl() -> tuple[Sdf, tuple]:
    shell = subtract(ball((0, 0, 40), 40.0), ball((0, 0, 40), 36.0), box((0, 0, 60), (50, 50, 16)))
    foot = subtract(cylinder(2, (0, 0, 3), 18.0, 3.0), cylinder(2, (0, 0, 3), 14.0, 4.0))
    return union(shell, foot), ((-42, -42, -2), (42, 42, 46))


def stool() -> tuple[Sdf, tuple]:
    seat = cylinder(2, (0, 0, 47), 25.0, 2.5)
    legs = [cylinder(2, (18 * np.cos(a), 18 * np.sin(a), 22.5), 2.5, 22.5) for a in np.radians([90, 210, 330])]
    return union(seat, *legs), ((-27, -27, -2), (27, 27, 52))


def vase() -> tuple[Sdf, tuple]:
    outer = smooth_union(ball((0, 0, 28), 26.0), cylinder(2, (0, 0, 62), 9.0, 14.0), 6.0)
    inner = union(ball((0, 0, 28), 23.0), cylinder(2, (0, 0, 62), 6.0, 20.0))  # the neck opens at z = 76
    return subtract(outer, inner), ((-28, -28, 0), (28, 28, 78))


def chair() -> tuple[Sdf, tuple]:
    seat = box((0, 0, 42), (20, 20, 2))
    legs = [box((x, y, 20), (2, 2, 20)) for x in (-17, 17) for y in (-17, 17)]
    posts = [box((x, 18, 65), (2, 2, 21)) for x in (-17, 17)]
    slats = [box((0, 18, z), (17, 1.5, 2.5)) for z in (58, 70, 82)]
    return union(seat, *legs, *posts, *slats), ((-22, -22, -2), (22, 22, 88))


def spring() -> tuple[Sdf, tuple]:
    from scipy.spatial import cKDTree

    t = np.linspace(0, 8 * np.pi, 40_000)
    curve = np.stack([20 * np.cos(t), 20 * np.sin(t), 12 * t / (2 * np.pi) - 24], axis=1)
    tree = cKDTree(curve)  # the coil sampled every 0.013 units; the ends are capped by the distance itself
    return (lambda p: tree.query(p, workers=-1)[0] - 3.0), ((-25, -25, -29), (25, 25, 29))


def bracket() -> tuple[Sdf, tuple]:
    base = subtract(box((0, 0, 1), (30, 20, 1)), cylinder(2, (10, 0, 1), 6.0, 3.0))
    wall = subtract(box((-29, 0, 21), (1, 20, 21)), cylinder(0, (-29, 0, 24), 6.0, 3.0))
    return union(base, wall), ((-32, -22, -2), (32, 22, 44))


def slotted_block() -> tuple[Sdf, tuple]:
    block = box((0, 0, 0), (30, 20, 20))
    slots = [box((x, 0, 8), (1.25, 25, 15)) for x in (-12, 0, 12)]  # 28 deep from the top face
    return subtract(block, *slots), ((-32, -22, -22), (32, 22, 22))


def hollow_ball() -> tuple[Sdf, tuple]:
    return subtract(ball((0, 0, 0), 40.0), ball((0, 0, 0), 36.0), cylinder(2, (0, 0, 40), 14.0, 10.0)), \
        ((-42, -42, -42), (42, 42, 42))


def rod() -> tuple[Sdf, tuple]:
    return cylinder(0, (0, 0, 0), 2.0, 60.0), ((-62, -4, -4), (62, 4, 4))


def twins() -> tuple[Sdf, tuple]:
    return union(ball((-26, 0, 0), 20.0), ball((26, 0, 0), 20.0)), ((-48, -22, -22), (48, 22, 22))


SHAPES: dict[str, Callable[[], tuple[Sdf, tuple]]] = {
    "dumbbell": dumbbell, "pawn": pawn, "window_box": window_box,
    "perforated_plate": perforated_plate, "blobby": blobby, "torus_knot": torus_knot,
    "mug": mug, "bowl": bowl, "stool": stool, "vase": vase, "chair": chair, "spring": spring,
    "bracket": bracket, "slotted_block": slotted_block, "hollow_ball": hollow_ball, "rod": rod, "twins": twins,
}


def mesh_of(sdf: Sdf, bounds: tuple, resolution: int) -> trimesh.Trimesh:
    """Marching cubes of ``sdf`` on a grid with ``resolution`` cells along the longest side."""
    from skimage.measure import marching_cubes

    low, high = np.asarray(bounds[0], dtype=np.float64), np.asarray(bounds[1], dtype=np.float64)
    step = float((high - low).max()) / resolution
    # keep the surface off the grid's boundary, and grid points off the flat faces (an exact zero
    # at a grid point gives marching cubes degenerate triangles)
    low, high = low - 2.0 * step - 0.1234 * step, high + 2.0 * step
    axes = [np.arange(lo, hi + step / 2, step) for lo, hi in zip(low, high)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    values = np.concatenate([sdf(block) for block in np.array_split(grid, max(1, len(grid) // 500_000))])
    verts, faces, _, _ = marching_cubes(values.reshape([len(a) for a in axes]), level=0.0, spacing=(step,) * 3)
    # STL keeps float32 coordinates: round first, so that vertices that float32 cannot tell
    # apart are merged here (and their collapsed faces dropped below), not on reading the file
    # (the spring's file had read back as two pieces, not watertight)
    mesh = trimesh.Trimesh((verts + low).astype(np.float32).astype(np.float64), faces, process=True)
    # marching cubes can leave zero-area slivers (a face and its twin) that split off as pieces
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    if mesh.volume < 0:  # the winding depends on the field's sign convention: make normals point out
        mesh.invert()
    return mesh


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", required=True, help="folder for the STL files")
    parser.add_argument("--resolution", type=int, default=256, help="grid cells along the longest side")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated shape names")
    args = parser.parse_args(argv)
    names = args.shapes.split(",")
    unknown = [name for name in names if name not in SHAPES]
    if unknown:
        print(f"error: --shapes: unknown shape {unknown[0]!r} (known: {', '.join(SHAPES)})", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        sdf, bounds = SHAPES[name]()
        mesh = mesh_of(sdf, bounds, args.resolution)
        parts = mesh.split(only_watertight=False)
        mesh.export(out / f"{name}.stl")
        print(f"{name}: {len(mesh.vertices)} vertices, {len(parts)} piece(s), watertight {mesh.is_watertight}, "
              f"genus {int(round(1 - mesh.euler_number / 2)) if mesh.is_watertight and len(parts) == 1 else '-'}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
