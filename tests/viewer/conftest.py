"""Fixtures of the viewer tests: small known meshes, an analytic sphere field, a
checkpoint holding an (untrained) field, and pixel helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

W, H = 160, 120
"""Picture size of the rendering tests (small: software rendering on one thread)."""

RADIUS = 0.5


def sphere_mesh(radius: float = RADIUS, subdivisions: int = 3, center=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    m.apply_translation(center)
    return m


def sphere_sdf(radius: float = RADIUS, center=(0.0, 0.0, 0.0)):
    c = np.asarray(center, dtype=np.float64)
    return lambda p: np.linalg.norm(np.asarray(p) - c, axis=1) - radius


def foreground(image: np.ndarray, background=(255, 255, 255), tol: int = 8) -> np.ndarray:
    """(H, W) bool: pixels that differ from the background colour."""
    return (np.abs(image.astype(int) - np.asarray(background)).max(axis=2) > tol)


@pytest.fixture
def sphere() -> trimesh.Trimesh:
    return sphere_mesh()


@pytest.fixture
def sphere_ply(tmp_path: Path) -> Path:
    path = tmp_path / "sphere.ply"
    sphere_mesh().export(path)
    return path


@pytest.fixture
def field_checkpoint(tmp_path: Path) -> Path:
    """A reconstruction checkpoint (config, normalisation, model weights) of an untrained field.

    The default preset's geometric initialisation makes the field close to the
    SDF of a sphere in the unit frame, so its slice has a zero contour.
    """
    import torch

    from sdfrecon.datasets.normalize import Normalization
    from sdfrecon.base.checkpoint import save_checkpoint
    from sdfrecon.pipeline.config import resolve_config
    from sdfrecon.base.configtools import to_dict
    from sdfrecon.sdf.fields import build_field

    torch.manual_seed(0)
    cfg = resolve_config("default", [{"device": "cpu"}])
    model = build_field(cfg.field, device="cpu")
    norm = Normalization.fit(np.asarray(sphere_mesh().vertices))
    path = tmp_path / "sphere.ckpt"
    save_checkpoint(path, {"config": to_dict(cfg), "normalization": norm.to_dict(),
                           "trainer": {"model": model.state_dict()}})
    return path
