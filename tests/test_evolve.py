"""Neural surface evolution against exact answers: a sphere under mean-curvature flow, a
translated sphere, and a morph between two genus-0 shapes (analytic initial SDFs, small
networks, a few hundred steps on the CPU)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh

from sdfrecon.meshing.extract import MeshConfig
from sdfrecon.pipeline.evolve import EvolveShape, evolve, mesh_times
from sdfrecon.pipeline.evolve_config import resolve_evolve_config


def _config(flow: dict, *, steps: int, radius: float, duration: float = 0.0, seed: int = 0, **extra):
    layer = {"device": "cpu", "seed": seed, "init": "fresh", "duration": duration, "flow": flow,
             "field": {"network": {"name": "mlp", "hidden_dim": 64, "num_layers": 3, "init_radius": radius}},
             "sampler": {"data_points": 512, "flow_points": 1024, "surface_resolution": 32, "surface_samples": 4000},
             "train": {"iterations": steps, "lr": 1e-3, "checkpoint_every": 0}}
    return resolve_evolve_config(None, [layer, extra])


def _sphere(radius: float, center=(0.0, 0.0, 0.0)) -> EvolveShape:
    c = torch.tensor(center, dtype=torch.float32)
    return EvolveShape(sdf=lambda x: (x - c.to(x)).norm(dim=1) - radius, time=0.0,
                       lo=np.asarray(center) - radius, hi=np.asarray(center) + radius, source="sphere")


def _radii(field_at, directions: torch.Tensor, lo: float = 0.02, hi: float = 1.0) -> np.ndarray:
    """Distance from the origin to the zero level set along each unit direction (bisection)."""
    lo_r = torch.full((len(directions),), lo)
    hi_r = torch.full((len(directions),), hi)
    with torch.no_grad():
        assert bool((field_at(directions * lo) < 0).all() and (field_at(directions * hi) > 0).all())
        for _ in range(30):
            mid = (lo_r + hi_r) / 2
            inside = field_at(directions * mid[:, None]) < 0
            lo_r = torch.where(inside, mid, lo_r)
            hi_r = torch.where(inside, hi_r, mid)
    return ((lo_r + hi_r) / 2).numpy()


@pytest.mark.slow
def test_sphere_under_mean_curvature_flow_shrinks_as_sqrt_r0_squared_minus_4t():
    r0, duration = 0.6, 0.06  # collapse at r0^2 / 4 = 0.09
    cfg = _config({"name": "mean_curvature"}, steps=250, radius=r0, duration=duration)
    evolution = evolve([_sphere(r0)], cfg, progress=False)
    u = torch.randn(400, 3, generator=torch.Generator().manual_seed(1))
    u = u / u.norm(dim=1, keepdim=True)
    report = []
    for t in (0.0, 0.015, 0.03, 0.045, 0.06):
        r = _radii(evolution.field.at_time(t), u)
        expected = math.sqrt(r0 ** 2 - 4 * t)
        report.append((t, float(r.mean()), expected, float(np.abs(r - expected).max())))
    for t, mean, expected, worst in report:
        assert abs(mean - expected) < 0.03 * r0, report
        assert worst < 0.06 * r0, report  # round: no direction strays far
    # it moved: the last radius is far from r0 (a frozen field would pass the t = 0 check only)
    assert report[-1][1] < r0 - 0.2


@pytest.mark.slow
def test_translation_field_moves_the_surface_by_v_t():
    r0, v, duration = 0.5, np.array([0.6, 0.0, 0.0]), 0.5
    cfg = _config({"name": "vector_field", "field": {"name": "translate", "velocity": v.tolist()}},
                  steps=200, radius=r0, duration=duration)
    evolution = evolve([_sphere(r0)], cfg, progress=False)
    diagonal = 2 * r0 * math.sqrt(3)  # of the shape's bounding box
    for item in mesh_times(evolution, [0.0, duration / 2, duration], MeshConfig(resolution=64)):
        vertices = np.asarray(item.mesh.vertices)
        center = v * item.time
        gap = np.abs(np.linalg.norm(vertices - center, axis=1) - r0)  # distance to the moved sphere
        assert gap.mean() < 0.01 * diagonal, (item.time, gap.mean() / diagonal)
        assert np.linalg.norm(vertices.mean(axis=0) - center) < 0.01 * diagonal, item.time
        assert item.mesh.is_watertight


def _box_sdf(half: torch.Tensor):
    def sdf(x: torch.Tensor) -> torch.Tensor:
        q = x.abs() - half.to(x)
        return q.clamp_min(0).norm(dim=1) + q.max(dim=1).values.clamp_max(0)

    return sdf


def _chamfer(mesh: trimesh.Trimesh, sdf, gt_points: np.ndarray) -> float:
    """Two-sided: mesh samples to the exact surface (|sdf|), exact samples to the mesh samples."""
    from scipy.spatial import cKDTree

    from sdfrecon.evaluation.metrics import sample_surface

    pred, _ = sample_surface(mesh, 30_000, seed=1)
    with torch.no_grad():
        to_true = sdf(torch.as_tensor(pred, dtype=torch.float32)).abs().mean().item()
    return (to_true + cKDTree(pred).query(gt_points)[0].mean()) / 2.0


@pytest.mark.slow
def test_morph_reproduces_both_shapes_and_stays_one_closed_piece():
    half = torch.tensor([0.7, 0.35, 0.35])
    sphere = _sphere(0.5, center=(0.0, 0.2, 0.0))
    box = EvolveShape(sdf=_box_sdf(half), time=1.0, lo=-half.numpy(), hi=half.numpy(), source="box")
    cfg = _config({"name": "morph"}, steps=300, radius=0.5, **{"sampler": {"surface_resolution": 48}})
    evolution = evolve([sphere, box], cfg, progress=False)
    lo = np.minimum(sphere.lo, box.lo)
    hi = np.maximum(sphere.hi, box.hi)
    diagonal = float(np.linalg.norm(hi - lo))
    gt_sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    gt_sphere.vertices += [0.0, 0.2, 0.0]
    gt_box = trimesh.creation.box(extents=(2 * half).numpy())
    meshes = mesh_times(evolution, [0.0, 0.25, 0.5, 0.75, 1.0], MeshConfig(resolution=64))
    sphere_points = trimesh.sample.sample_surface(gt_sphere, 30_000, seed=2)[0]
    box_points = trimesh.sample.sample_surface(gt_box, 30_000, seed=2)[0]
    start = _chamfer(meshes[0].mesh, sphere.sdf, sphere_points)
    end = _chamfer(meshes[-1].mesh, box.sdf, box_points)
    assert start < 0.01 * diagonal, start / diagonal
    assert end < 0.01 * diagonal, end / diagonal
    # the end shapes differ by far more than that, so the test tells them apart
    assert _chamfer(meshes[0].mesh, box.sdf, box_points) > 0.03 * diagonal
    volumes = []
    for item in meshes:
        assert item.mesh.is_watertight, item.time
        assert item.mesh.body_count == 1, item.time
        volumes.append(item.mesh.volume)
    # in between: neither end shape (the volume passes from the sphere's towards the box's)
    assert volumes[0] < volumes[2] and abs(volumes[0] - 4 / 3 * math.pi * 0.125) < 0.03
