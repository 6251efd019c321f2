"""Reconstruction methods a benchmark can run, looked up by name.

Two kinds share one interface, ``method.run(cloud, files) -> mesh``:

* **classical** -- functions ``cloud -> mesh`` registered in :data:`METHODS`
  (Open3D screened Poisson and ball pivoting register themselves in
  :mod:`sdfrecon.evaluation.baselines`);
* **neural** -- any config preset in ``configs/`` (``default``, ``steik``, ...),
  trained with :func:`sdfrecon.pipeline.reconstruct.reconstruct`.

:func:`get_method` resolves a name (classical names first) and raises a
:class:`ConfigError` listing every valid name for an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import trimesh

from sdfrecon.datasets.pointcloud import PointCloud
from sdfrecon.base.errors import ConfigError
from sdfrecon.base.registry import Registry
from sdfrecon.base.run_files import RunFiles


METHODS: Registry[Callable[[PointCloud], trimesh.Trimesh]] = Registry(
    "benchmark method", providers="sdfrecon.evaluation")
"""Classical methods by name: ``@METHODS.register("name")`` on a function ``cloud -> mesh``."""


@dataclass(frozen=True)
class MethodSettings:
    """Run settings shared by every method of a benchmark.

    Attributes
    ----------
    iterations, resolution : int or None
        Training steps and marching-cubes resolution of neural methods (None
        keeps the preset's).
    device : str or None
        Training device of neural methods (None keeps the preset's).
    seed : int
        Seed of neural methods (weights, sampling).
    overrides : tuple of dict
        Further config overrides for neural methods (``--set``).
    """

    iterations: int | None = None
    resolution: int | None = None
    device: str | None = None
    seed: int = 0
    overrides: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def config_overrides(self) -> list[dict[str, Any]]:
        """The overrides applied on top of a neural preset, in order."""
        from sdfrecon.pipeline.config import config_overrides

        return config_overrides(device=self.device, iterations=self.iterations, resolution=self.resolution,
                                seed=self.seed, sets=self.overrides)


class Method(Protocol):
    """A named way to turn a point cloud into a mesh file."""

    name: str
    kind: str
    """``"neural"`` or ``"classical"``."""

    def run(self, cloud: PointCloud, files: RunFiles, *, resume: bool = False) -> trimesh.Trimesh:
        """Reconstruct ``cloud`` into ``files.mesh`` (plus any sidecars the method keeps).

        Returns the mesh, in the cloud's world coordinates; an empty mesh is
        returned but not written. ``resume`` lets a method continue its own
        earlier, unfinished work on these files (a neural run's checkpoint).
        """
        ...


@dataclass(frozen=True)
class ClassicalMethod:
    """A classical baseline: a function ``cloud -> mesh``."""

    name: str
    fn: Callable[[PointCloud], trimesh.Trimesh]
    kind: str = "classical"

    def run(self, cloud: PointCloud, files: RunFiles, *, resume: bool = False) -> trimesh.Trimesh:
        from sdfrecon.meshing.io import write_mesh

        mesh = self.fn(cloud)
        if len(mesh.faces):
            write_mesh(mesh, files.mesh)
        return mesh


@dataclass(frozen=True)
class NeuralMethod:
    """A config preset trained by the reconstruct pipeline, as one resumable run."""

    name: str
    config: Any
    """The resolved :class:`sdfrecon.pipeline.config.ReconConfig`."""
    kind: str = "neural"

    def run(self, cloud: PointCloud, files: RunFiles, *, resume: bool = False) -> trimesh.Trimesh:
        from sdfrecon.pipeline.run import resume_config, run_reconstruction

        cfg, state = self.config, None
        if resume and files.checkpoint.exists():  # an interrupted pair continues where it stopped
            cfg, state = resume_config(files)
        return run_reconstruction(cloud, cfg, files, resume_state=state, progress=False).mesh

    def signed_distance(self, files: RunFiles):
        """The trained network of the run in ``files`` as a function of world points.

        Returns
        -------
        callable
            ``(N, 3) world points -> (N,) float32 signed distance`` (unit-frame values,
            negative inside), evaluated on the CPU in chunks; what the official
            ShapeNet script thresholds at 0 for IoU.
        """
        import numpy as np
        import torch

        from sdfrecon.base.checkpoint import load_checkpoint
        from sdfrecon.pipeline.reconstruct import load_trained_field

        model, normalization, _ = load_trained_field(load_checkpoint(files.checkpoint), device="cpu")

        @torch.no_grad()
        def evaluate(points: np.ndarray) -> np.ndarray:
            unit = torch.as_tensor(normalization.to_unit(points), dtype=torch.float32)
            return torch.cat([model.surface_value(chunk).reshape(-1) for chunk in unit.split(65536)]).numpy()

        return evaluate


def method_names() -> list[str]:
    """Every valid method name: classical ones, then the config presets."""
    from sdfrecon.pipeline.config import available_presets

    classical = [entry.name for entry in METHODS.entries()]  # registration order: poisson first
    return classical + [p for p in available_presets() if p not in classical]


def get_method(name: str, settings: MethodSettings | None = None) -> Method:
    """The method called ``name``, configured by ``settings``.

    Neural presets are resolved (and validated) here, before anything runs.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the valid ones) or a bad override.
    """
    from sdfrecon.pipeline.config import available_presets, resolve_config

    settings = settings or MethodSettings()
    if name in METHODS:
        return ClassicalMethod(name, METHODS.get(name).builder)
    if name in available_presets():
        return NeuralMethod(name, resolve_config(name, settings.config_overrides()))
    raise ConfigError(f"--methods: unknown method {name!r}; valid: {', '.join(method_names())}")


def get_methods(names: list[str], settings: MethodSettings | None = None) -> list[Method]:
    """:func:`get_method` for each name; duplicates and an empty list are errors."""
    if not names:
        raise ConfigError("--methods: name at least one method")
    seen = set()
    for n in names:
        if n in seen:
            raise ConfigError(f"--methods: {n!r} is named twice")
        seen.add(n)
    return [get_method(n, settings) for n in names]
