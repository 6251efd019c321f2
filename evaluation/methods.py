"""Reconstruction methods a benchmark can run, looked up by name.

Two kinds share one interface, ``method.run(cloud) -> mesh``:

* **classical** -- the entries of :data:`CLASSICAL` (Open3D screened Poisson,
  ball pivoting; :mod:`evaluation.baselines`);
* **neural** -- any config preset in ``configs/`` (``default``, ``steik``, ...),
  trained with :func:`sdf.reconstruct.reconstruct`.

:func:`get_method` resolves a name (classical names first) and raises a
:class:`ConfigError` listing every valid name for an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import trimesh

from datasets.pointcloud import PointCloud
from sdf.errors import ConfigError


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
        out: list[dict[str, Any]] = [{"seed": self.seed}]
        if self.device is not None:
            out.append({"device": self.device})
        if self.iterations is not None:
            out.append({"train": {"iterations": self.iterations}})
        if self.resolution is not None:
            out.append({"mesh": {"resolution": self.resolution}})
        return out + list(self.overrides)


class Method(Protocol):
    """A named way to turn a point cloud into a mesh."""

    name: str
    kind: str
    """``"neural"`` or ``"classical"``."""

    def run(self, cloud: PointCloud) -> trimesh.Trimesh:
        """Reconstruct ``cloud``; the mesh is in the cloud's world coordinates."""
        ...


@dataclass(frozen=True)
class ClassicalMethod:
    """A classical baseline: a function ``cloud -> mesh``."""

    name: str
    fn: Callable[[PointCloud], trimesh.Trimesh]
    kind: str = "classical"

    def run(self, cloud: PointCloud) -> trimesh.Trimesh:
        return self.fn(cloud)


@dataclass(frozen=True)
class NeuralMethod:
    """A config preset trained by the reconstruct pipeline."""

    name: str
    config: Any
    """The resolved :class:`sdf.config.ReconConfig`."""
    kind: str = "neural"

    def run(self, cloud: PointCloud) -> trimesh.Trimesh:
        from sdf.reconstruct import reconstruct

        # Training by checkpoint-free call: the benchmark resumes per (shape, method) pair instead.
        return reconstruct(cloud, self.config, progress=False).mesh


def _poisson(cloud: PointCloud) -> trimesh.Trimesh:
    from evaluation.baselines import poisson

    return poisson(cloud)


def _ball_pivoting(cloud: PointCloud) -> trimesh.Trimesh:
    from evaluation.baselines import ball_pivoting

    return ball_pivoting(cloud)


CLASSICAL: dict[str, Callable[[PointCloud], trimesh.Trimesh]] = {
    "poisson": _poisson,
    "ball_pivoting": _ball_pivoting,
}
"""Classical methods by name; add an entry to add one."""


def method_names() -> list[str]:
    """Every valid method name: classical ones, then the config presets."""
    from sdf.config import available_presets

    return list(CLASSICAL) + [p for p in available_presets() if p not in CLASSICAL]


def get_method(name: str, settings: MethodSettings | None = None) -> Method:
    """The method called ``name``, configured by ``settings``.

    Neural presets are resolved (and validated) here, before anything runs.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the valid ones) or a bad override.
    """
    from sdf.config import available_presets, resolve_config

    settings = settings or MethodSettings()
    if name in CLASSICAL:
        return ClassicalMethod(name, CLASSICAL[name])
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
