"""Procedural solids: random CSG of primitives, superquadrics, swept tubes and thin parts.

Training data for a learned shape prior that we may redistribute freely: every
shape is drawn from a seed, so ``procedural_shape(seed)`` always gives the same
solid and a training set of any size is a range of seeds.

A shape is an implicit function ``value(points) -> (N,)``, negative inside. Its
*sign* is exact (it is what occupancy labels are made from); its magnitude is a
distance for spheres, boxes, capsules and tori and only distance-like for
superquadrics and CSG results (max/min of distances is a bound, not a distance).
Surface samples come from a marching-cubes mesh of the function, each vertex
projected onto the zero set by Newton steps, so they lie on the surface the labels
describe to ~1e-4 of its size.

Shapes live in about ``[-0.9, 0.9]^3``; any frame works downstream because
training inputs are normalised by their own bounding box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import trimesh

ImplicitFn = Callable[[np.ndarray], np.ndarray]
"""``(N, 3) float64 points -> (N,) values``, negative inside."""

DOMAIN = 1.2
"""Half side of the cube every procedural shape fits in (with margin)."""

FAMILIES = ("csg", "superquadric", "swept", "thin", "mixed")
"""Shape families, drawn with :data:`FAMILY_WEIGHTS`."""
FAMILY_WEIGHTS = (0.3, 0.15, 0.15, 0.2, 0.2)


# ----------------------------------------------------------------- primitives


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation matrix."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _local(points: np.ndarray, center: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """World points (N, 3) in a primitive's frame (centre at origin, axes = rotation columns)."""
    return (points - center) @ rotation


def sphere(center: np.ndarray, radius: float) -> ImplicitFn:
    return lambda p: np.linalg.norm(p - center, axis=1) - radius


def box(center: np.ndarray, half: np.ndarray, rotation: np.ndarray, rounding: float = 0.0) -> ImplicitFn:
    """Box of half sizes ``half`` with edges rounded by ``rounding`` (within the half sizes)."""
    inner = np.maximum(half - rounding, 1e-3)

    def value(p: np.ndarray) -> np.ndarray:
        q = np.abs(_local(p, center, rotation)) - inner
        return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0) - rounding

    return value


def cylinder(center: np.ndarray, radius: float, half_height: float, rotation: np.ndarray) -> ImplicitFn:
    """Capped cylinder along the local z axis."""

    def value(p: np.ndarray) -> np.ndarray:
        q = _local(p, center, rotation)
        d = np.stack([np.linalg.norm(q[:, :2], axis=1) - radius, np.abs(q[:, 2]) - half_height], axis=1)
        return np.linalg.norm(np.maximum(d, 0.0), axis=1) + np.minimum(d.max(axis=1), 0.0)

    return value


def capsules(points: np.ndarray, radii: np.ndarray) -> ImplicitFn:
    """Union of capsules along the polyline ``points`` (K, 3) with per-vertex radii (K,):
    a tube swept along the polyline (radius interpolated linearly per segment)."""
    a, b = points[:-1], points[1:]
    ra, rb = radii[:-1], radii[1:]

    def value(p: np.ndarray) -> np.ndarray:
        out = np.full(len(p), np.inf)
        for i in range(len(a)):
            ab = b[i] - a[i]
            t = np.clip(((p - a[i]) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
            d = np.linalg.norm(p - (a[i] + t[:, None] * ab), axis=1) - (ra[i] + t * (rb[i] - ra[i]))
            out = np.minimum(out, d)
        return out

    return value


def torus(center: np.ndarray, major: float, minor: float, rotation: np.ndarray) -> ImplicitFn:
    def value(p: np.ndarray) -> np.ndarray:
        q = _local(p, center, rotation)
        ring = np.linalg.norm(q[:, :2], axis=1) - major
        return np.sqrt(ring**2 + q[:, 2] ** 2) - minor

    return value


def superquadric(center: np.ndarray, scale: np.ndarray, e1: float, e2: float, rotation: np.ndarray) -> ImplicitFn:
    """Superellipsoid ``((|x/a|^(2/e2) + |y/b|^(2/e2))^(e2/e1) + |z/c|^(2/e1)) = 1``.

    ``e1, e2`` near 0.1 give boxes, 1 ellipsoids, 2 octahedra. The value is the
    inside-outside function mapped to a distance-like scale:
    ``(F^(e1/2) - 1) * min(scale)`` (exact sign, radial distance for e1 = e2 = 1).
    """

    def value(p: np.ndarray) -> np.ndarray:
        q = np.abs(_local(p, center, rotation)) / scale + 1e-9
        xy = (q[:, 0] ** (2 / e2) + q[:, 1] ** (2 / e2)) ** (e2 / e1)
        f = xy + q[:, 2] ** (2 / e1)
        return (f ** (e1 / 2) - 1.0) * float(scale.min())

    return value


def union(*fns: ImplicitFn) -> ImplicitFn:
    return lambda p: np.min(np.stack([f(p) for f in fns]), axis=0)


def intersection(*fns: ImplicitFn) -> ImplicitFn:
    return lambda p: np.max(np.stack([f(p) for f in fns]), axis=0)


def difference(a: ImplicitFn, b: ImplicitFn) -> ImplicitFn:
    return lambda p: np.maximum(a(p), -b(p))


# ----------------------------------------------------------------- families


def _random_primitive(rng: np.random.Generator, size: float = 0.5) -> ImplicitFn:
    """One primitive of about ``size`` half extent, somewhere in the unit-ish ball."""
    center = rng.uniform(-0.45, 0.45, 3)
    rot = _rotation(rng)
    kind = rng.choice(["sphere", "box", "cylinder", "capsule", "torus", "superquadric"])
    s = size * rng.uniform(0.5, 1.0)
    if kind == "sphere":
        return sphere(center, s)
    if kind == "box":
        half = s * rng.uniform(0.35, 1.0, 3)
        return box(center, half, rot, rounding=float(rng.uniform(0, 0.3)) * float(half.min()))
    if kind == "cylinder":
        return cylinder(center, s * rng.uniform(0.3, 0.8), s * rng.uniform(0.4, 1.0), rot)
    if kind == "capsule":
        d = rot[:, 2] * s * rng.uniform(0.3, 0.9)
        r = s * rng.uniform(0.2, 0.5)
        return capsules(np.stack([center - d, center + d]), np.array([r, r]))
    if kind == "torus":
        major = s * rng.uniform(0.5, 0.9)
        return torus(center, major, major * rng.uniform(0.2, 0.45), rot)
    return superquadric(center, s * rng.uniform(0.4, 1.0, 3), *rng.uniform(0.15, 1.6, 2), rot)


def _csg(rng: np.random.Generator) -> ImplicitFn:
    """2-5 primitives joined; some cut away or intersected."""
    shape = _random_primitive(rng, 0.6)
    for _ in range(int(rng.integers(1, 5))):
        other = _random_primitive(rng, 0.45)
        op = rng.choice(["union", "difference", "intersection"], p=[0.6, 0.3, 0.1])
        if op == "union":
            shape = union(shape, other)
        elif op == "difference":
            shape = difference(shape, other)
        else:
            # Intersect with a grown version so the result rarely vanishes.
            grown = other
            shape = intersection(shape, lambda p, g=grown: g(p) - 0.25)
    return shape


def _superquadric_shape(rng: np.random.Generator) -> ImplicitFn:
    shapes = [superquadric(rng.uniform(-0.2, 0.2, 3), rng.uniform(0.3, 0.8, 3), *rng.uniform(0.1, 1.8, 2),
                           _rotation(rng))]
    if rng.random() < 0.4:
        shapes.append(superquadric(rng.uniform(-0.4, 0.4, 3), rng.uniform(0.2, 0.5, 3),
                                   *rng.uniform(0.1, 1.8, 2), _rotation(rng)))
    return union(*shapes)


def _random_curve(rng: np.random.Generator, knots: int, samples: int) -> np.ndarray:
    """A smooth random curve (samples, 3) through ``knots`` random points (Catmull-Rom)."""
    control = rng.uniform(-0.7, 0.7, size=(knots, 3))
    padded = np.concatenate([control[:1], control, control[-1:]])
    pts = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1 : i + 3]
        for t in np.linspace(0, 1, samples // (knots - 1), endpoint=False):
            t2, t3 = t * t, t * t * t
            pts.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                              + (-p0 + 3 * p1 - 3 * p2 + p3) * t3))
    pts.append(control[-1])
    return np.asarray(pts)


def _swept(rng: np.random.Generator) -> ImplicitFn:
    """Tubes of varying radius swept along smooth random curves (handles, pipes, limbs)."""
    tubes = []
    for _ in range(int(rng.integers(1, 3))):
        curve = _random_curve(rng, int(rng.integers(3, 6)), 12)
        r0, r1 = rng.uniform(0.05, 0.2, 2)
        tubes.append(capsules(curve, np.linspace(r0, r1, len(curve))))
    if rng.random() < 0.4:
        tubes.append(_random_primitive(rng, 0.35))
    return union(*tubes)


def _thin(rng: np.random.Generator) -> ImplicitFn:
    """Thin plates and rods: shelves, tables, frames, fins (thickness 0.05-0.12)."""
    parts = []
    kind = rng.choice(["table", "frame", "fins"])
    if kind == "table":
        top_half = np.array([rng.uniform(0.4, 0.8), rng.uniform(0.3, 0.7), rng.uniform(0.025, 0.06)])
        height = rng.uniform(0.3, 0.7)
        parts.append(box(np.array([0.0, 0.0, height]), top_half, np.eye(3), rounding=0.01))
        leg_r = rng.uniform(0.03, 0.07)
        for sx in (-1, 1):
            for sy in (-1, 1):
                c = np.array([sx * (top_half[0] - 2 * leg_r), sy * (top_half[1] - 2 * leg_r), 0.0])
                parts.append(cylinder(c, leg_r, height, np.eye(3)))
    elif kind == "frame":
        corners = rng.uniform(-0.7, 0.7, size=(int(rng.integers(3, 6)), 3))
        closed = np.concatenate([corners, corners[:1]])
        r = rng.uniform(0.03, 0.07)
        parts.append(capsules(closed, np.full(len(closed), r)))
        if rng.random() < 0.5:
            parts.append(box(corners.mean(axis=0), np.array([0.35, 0.35, rng.uniform(0.025, 0.06)]),
                             _rotation(rng)))
    else:
        parts.append(cylinder(np.zeros(3), rng.uniform(0.12, 0.3), rng.uniform(0.4, 0.8), np.eye(3)))
        for k in range(int(rng.integers(2, 6))):
            angle = 2 * np.pi * k / 5 + rng.uniform(-0.2, 0.2)
            rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
            half = np.array([rng.uniform(0.25, 0.5), rng.uniform(0.025, 0.05), rng.uniform(0.2, 0.6)])
            parts.append(box(rot @ np.array([half[0], 0.0, 0.0]), half, rot))
    rotation = _rotation(rng)
    shape = union(*parts)
    return lambda p: shape(p @ rotation)


def _mixed(rng: np.random.Generator) -> ImplicitFn:
    """A CSG body with a swept or thin part attached (or cut)."""
    body = _csg(rng)
    extra = _swept(rng) if rng.random() < 0.5 else _thin(rng)
    return union(body, extra) if rng.random() < 0.75 else difference(body, extra)


_BUILDERS: dict[str, Callable[[np.random.Generator], ImplicitFn]] = {
    "csg": _csg, "superquadric": _superquadric_shape, "swept": _swept, "thin": _thin, "mixed": _mixed,
}


# ----------------------------------------------------------------- shapes


@dataclass(frozen=True)
class ProceduralShape:
    """A seeded procedural solid: its implicit function and a surface mesh.

    Attributes
    ----------
    seed : int
        The seed that made it.
    attempt : int
        Which derived draw of the seed was accepted (see :func:`procedural_shape`);
        with ``seed`` it rebuilds ``value`` cheaply (:func:`procedural_implicit`).
    family : str
        One of :data:`FAMILIES`.
    value : callable
        ``(N, 3) -> (N,)``, negative inside.
    mesh : trimesh.Trimesh
        Marching-cubes surface with vertices projected onto the zero set.
    """

    seed: int
    attempt: int
    family: str
    value: ImplicitFn
    mesh: trimesh.Trimesh

    def inside(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: which of the (N, 3) points lie inside."""
        return self.value(np.asarray(points, dtype=np.float64)) < 0

    def surface_points(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` surface samples (count, 3): area-uniform on the mesh, projected onto the zero set."""
        points, _ = trimesh.sample.sample_surface(self.mesh, count, seed=rng)
        return project_to_surface(self.value, np.asarray(points, dtype=np.float64), steps=2)


def project_to_surface(value: ImplicitFn, points: np.ndarray, steps: int = 3, eps: float = 1e-4) -> np.ndarray:
    """Newton steps ``p -= f(p) grad f / |grad f|^2`` (central differences) onto the zero set; (N, 3)."""
    p = np.array(points, dtype=np.float64)
    offsets = np.eye(3) * eps
    for _ in range(steps):
        f = value(p)
        grad = np.stack([(value(p + o) - value(p - o)) / (2 * eps) for o in offsets], axis=1)
        norm2 = np.maximum((grad**2).sum(axis=1, keepdims=True), 1e-8)
        step = f[:, None] * grad / norm2
        # A step longer than a marching-cubes cell means a kink (CSG edge): keep the point there.
        p -= np.where(np.linalg.norm(step, axis=1, keepdims=True) < 0.05, step, 0.0)
    return p


def _grid_values(value: ImplicitFn, resolution: int, domain: float) -> tuple[np.ndarray, float]:
    """Values on the (resolution+1)^3 nodes of ``[-domain, domain]^3`` and the node spacing."""
    axis = np.linspace(-domain, domain, resolution + 1)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    values = value(grid).reshape((resolution + 1,) * 3)
    # Closed surfaces only: the outermost nodes count as outside.
    values[[0, -1], :, :] = values[:, [0, -1], :] = values[:, :, [0, -1]] = np.abs(values).max() + 1.0
    return values, float(axis[1] - axis[0])


def _mesh_from_grid(value: ImplicitFn, values: np.ndarray, spacing: float, domain: float) -> trimesh.Trimesh:
    from skimage.measure import marching_cubes

    vertices, faces, _, _ = marching_cubes(values, level=0.0, spacing=(spacing,) * 3)
    vertices = project_to_surface(value, vertices - domain)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    if mesh.volume < 0:  # outward normals whatever skimage's winding
        mesh.invert()
    return mesh


def mesh_implicit(value: ImplicitFn, resolution: int = 48, domain: float = DOMAIN) -> trimesh.Trimesh | None:
    """Marching-cubes mesh of the zero set of ``value`` in ``[-domain, domain]^3`` (None if empty)."""
    values, spacing = _grid_values(value, resolution, domain)
    if values.min() >= 0:
        return None
    return _mesh_from_grid(value, values, spacing, domain)


def _family_weights(families: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    names = [f for f in FAMILIES if f in families]
    if not names:
        raise ValueError(f"families: none of {families} is one of {FAMILIES}")
    weights = np.array([w for f, w in zip(FAMILIES, FAMILY_WEIGHTS) if f in families], dtype=np.float64)
    return names, weights / weights.sum()


def procedural_implicit(seed: int, attempt: int, families: tuple[str, ...] = FAMILIES) -> tuple[str, ImplicitFn]:
    """The family and implicit function of draw ``attempt`` of ``seed`` (no meshing: cheap)."""
    names, weights = _family_weights(families)
    rng = np.random.default_rng([seed, attempt])
    family = str(rng.choice(names, p=weights))
    return family, _BUILDERS[family](rng)


def _acceptable(inside: np.ndarray, spacing: float) -> bool:
    """A draw is kept if it is not tiny and one connected part holds most of its volume."""
    from scipy import ndimage

    count = int(inside.sum())
    if count < 30:
        return False
    idx = np.argwhere(inside)
    if (idx.max(axis=0) - idx.min(axis=0)).max() * spacing < 0.3:
        return False
    labels, parts = ndimage.label(inside, structure=np.ones((3, 3, 3)))
    if parts > 1:
        sizes = np.bincount(labels.ravel())[1:]
        if sizes.max() < 0.8 * count:
            return False  # scattered fragments: not one object
    return True


def procedural_shape(seed: int, *, resolution: int = 48, families: tuple[str, ...] = FAMILIES) -> ProceduralShape:
    """The procedural shape of ``seed`` (deterministic).

    Draws ``(seed, 0), (seed, 1), ...`` until the shape is a reasonable solid:
    non-empty, not tiny, one main part (checked on the marching-cubes grid).

    Parameters
    ----------
    seed : int
    resolution : int
        Marching-cubes cells per side of ``[-DOMAIN, DOMAIN]^3`` for the surface mesh
        (its vertices, and samples drawn from it, are projected onto the exact zero set).
    families : tuple of str
        Families to draw from (weights renormalised); e.g. ``("superquadric",)``.

    Returns
    -------
    ProceduralShape
    """
    for attempt in range(50):
        family, value = procedural_implicit(seed, attempt, families)
        values, spacing = _grid_values(value, resolution, DOMAIN)
        if not _acceptable(values < 0, spacing):
            continue
        return ProceduralShape(seed, attempt, family, value, _mesh_from_grid(value, values, spacing, DOMAIN))
    raise RuntimeError(f"procedural shape {seed}: no valid draw in 50 attempts")
