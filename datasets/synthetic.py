"""Analytic shapes: exact signed distances and area-uniform surface samples.

Ground truth for tests and demos. Every SDF here is negative inside and exact
(a true Euclidean distance), so its gradient has unit norm away from the medial
axis.
"""

from __future__ import annotations

import numpy as np


def sphere_sdf(points: np.ndarray, radius: float = 1.0, center=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Signed distance (N,) of (N, 3) points to a sphere."""
    return np.linalg.norm(np.asarray(points) - np.asarray(center), axis=-1) - radius


def torus_sdf(points: np.ndarray, major: float = 1.0, minor: float = 0.35) -> np.ndarray:
    """Signed distance (N,) to a torus around the z axis, centred at the origin."""
    p = np.asarray(points)
    ring = np.linalg.norm(p[..., :2], axis=-1) - major
    return np.sqrt(ring**2 + p[..., 2] ** 2) - minor


def box_sdf(points: np.ndarray, half_sizes=(1.0, 0.6, 0.4)) -> np.ndarray:
    """Signed distance (N,) to an axis-aligned box centred at the origin."""
    q = np.abs(np.asarray(points)) - np.asarray(half_sizes)
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
    inside = np.minimum(q.max(axis=-1), 0.0)
    return outside + inside


def sphere_points(count: int, radius: float = 1.0, center=(0.0, 0.0, 0.0), *, seed: int = 0):
    """Area-uniform samples on a sphere: points (count, 3) and outward normals (count, 3)."""
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(count, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return normals * radius + np.asarray(center, dtype=np.float64), normals


def torus_points(count: int, major: float = 1.0, minor: float = 0.35, *, seed: int = 0):
    """Area-uniform samples on a torus around z: points (count, 3), outward normals (count, 3)."""
    rng = np.random.default_rng(seed)
    u_list, v_list = [], []
    have = 0
    while have < count:
        # The area element is proportional to (major + minor cos v): rejection-sample v.
        u = rng.uniform(0, 2 * np.pi, 2 * count)
        v = rng.uniform(0, 2 * np.pi, 2 * count)
        keep = rng.uniform(0, major + minor, 2 * count) < major + minor * np.cos(v)
        u_list.append(u[keep])
        v_list.append(v[keep])
        have += int(keep.sum())
    u = np.concatenate(u_list)[:count]
    v = np.concatenate(v_list)[:count]
    normals = np.stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), np.sin(v)], axis=1)
    centre_line = np.stack([major * np.cos(u), major * np.sin(u), np.zeros_like(u)], axis=1)
    return centre_line + minor * normals, normals


def box_points(count: int, half_sizes=(1.0, 0.6, 0.4), *, seed: int = 0):
    """Area-uniform samples on an axis-aligned box: points (count, 3), outward face normals (count, 3)."""
    rng = np.random.default_rng(seed)
    h = np.asarray(half_sizes, dtype=np.float64)
    areas = np.array([h[1] * h[2], h[0] * h[2], h[0] * h[1]]).repeat(2)  # faces -x +x -y +y -z +z
    face = rng.choice(6, size=count, p=areas / areas.sum())
    axis, sign = face // 2, np.where(face % 2 == 0, -1.0, 1.0)
    points = rng.uniform(-1.0, 1.0, size=(count, 3)) * h
    points[np.arange(count), axis] = sign * h[axis]
    normals = np.zeros((count, 3))
    normals[np.arange(count), axis] = sign
    return points, normals
