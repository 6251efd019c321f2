"""Meshes of the field during training, to watch convergence.

Every ``mesh.snapshot_every`` steps the field is meshed at
``mesh.snapshot_resolution`` and written (world coordinates) as
``<folder>/step_<NNNNNN>.ply``. ``sdfrecon render`` can turn the folder into
pictures.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from sdfrecon.datasets.normalize import Normalization
from sdfrecon.meshing.extract import MeshConfig, extract_mesh
from sdfrecon.meshing.io import write_mesh
from sdfrecon.base.errors import NoSurfaceError

log = logging.getLogger(__name__)


class SnapshotWriter:
    """Step callback writing a low-resolution mesh every ``every`` steps.

    Parameters
    ----------
    folder : Path
        Output folder (created on first write).
    every : int
        Steps between snapshots.
    lo, hi : (3,) ndarray
        Meshing box, unit frame.
    normalization : Normalization
        Maps snapshot vertices back to world coordinates.
    mesh_cfg : MeshConfig
        Meshing settings; the resolution is replaced by ``resolution``.
    resolution : int
    device : torch.device
    """

    def __init__(self, folder: Path, every: int, lo: np.ndarray, hi: np.ndarray,
                 normalization: Normalization, mesh_cfg: MeshConfig, resolution: int, device: torch.device):
        self.folder = Path(folder)
        self.every = every
        self.lo, self.hi = lo, hi
        self.normalization = normalization
        self.mesh_cfg = replace(mesh_cfg, resolution=resolution)
        self.device = device
        self.written: list[Path] = []

    def __call__(self, step: int, model: torch.nn.Module) -> None:
        if step % self.every:
            return
        was_training = model.training
        model.eval()
        try:
            mesh = extract_mesh(model.surface_value, self.lo, self.hi, self.mesh_cfg, device=self.device).mesh
        except NoSurfaceError as exc:
            log.info("snapshot at step %d skipped: %s", step, exc)
            return
        finally:
            model.train(was_training)
        mesh.vertices = self.normalization.to_world(mesh.vertices)
        self.written.append(write_mesh(mesh, self.folder / f"step_{step:06d}.ply"))
