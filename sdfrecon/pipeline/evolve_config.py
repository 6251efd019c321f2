"""The evolution config: typed schema, presets (``configs/evolve/*.yaml``) and overrides.

Resolution order as for reconstructions (later wins): dataclass defaults <- preset
<- ``--set key.path=value`` overrides; unknown keys and wrong types fail with
their dotted path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml

from sdfrecon.base.configtools import deep_merge, from_dict, merge_all, to_dict
from sdfrecon.base.errors import ConfigError
from sdfrecon.meshing.extract import MeshConfig
from sdfrecon.pipeline.config import preset_mapping
from sdfrecon.sdf.evolution import EvolutionLossConfig, MeanCurvatureSpeedConfig, SpeedConfig
from sdfrecon.sdf.evolution_sampler import SpaceTimeSamplerConfig
from sdfrecon.sdf.fields import FieldConfig
from sdfrecon.sdf.training import TrainConfig


def _train_defaults() -> TrainConfig:
    return TrainConfig(iterations=500, lr=2e-4, checkpoint_every=100)


def _mesh_defaults() -> MeshConfig:
    return MeshConfig(resolution=128)


@dataclass
class EvolveConfig:
    """Everything that defines an evolution run."""

    seed: int = 0
    """Seed of sampling (and of a fresh network's weights)."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    flow: SpeedConfig = dataclasses.field(default_factory=MeanCurvatureSpeedConfig)
    """The speed of the level-set equation (``name: mean_curvature | vector_field | morph``)."""
    duration: float = 0.0
    """Length of the trained time range [0, duration]; 0 = the largest requested time
    (morph: always 1, the time of the second shape)."""
    init: Literal["trained", "fresh"] = "trained"
    """``trained``: start from the (first) trained field with a zero-weight time input (the
    paper's initialisation); ``fresh``: a new network of ``field``."""
    field: FieldConfig = dataclasses.field(default_factory=FieldConfig)
    """Encoding and network of a fresh space-time field (``init: fresh``)."""
    margin: float = 0.1
    """Margin around the shapes (and where a velocity field moves them), unit frame: the
    region that is sampled and meshed."""
    sampler: SpaceTimeSamplerConfig = dataclasses.field(default_factory=SpaceTimeSamplerConfig)
    loss: EvolutionLossConfig = dataclasses.field(default_factory=EvolutionLossConfig)
    train: TrainConfig = dataclasses.field(default_factory=_train_defaults)
    mesh: MeshConfig = dataclasses.field(default_factory=_mesh_defaults)

    def validate(self, path: str) -> None:
        if self.duration < 0:
            raise ConfigError(f"{path or 'config'}.duration: must be >= 0, got {self.duration}")
        if self.margin < 0:
            raise ConfigError(f"{path or 'config'}.margin: must be >= 0, got {self.margin}")


def evolve_preset_dir() -> Path:
    """Folder of the bundled evolution presets (package data ``sdfrecon.configs/evolve``)."""
    return Path(str(resources.files("sdfrecon.configs"))) / "evolve"


def available_evolve_presets() -> list[str]:
    folder = evolve_preset_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _preset_path(name_or_path: str) -> str:
    candidate = Path(name_or_path)
    if candidate.suffix.lower() in (".yaml", ".yml") or candidate.exists():
        return name_or_path
    path = evolve_preset_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"--config {name_or_path}: unknown evolution preset; available: "
                          f"{', '.join(available_evolve_presets())} (or give a path to a YAML file)")
    return str(path)


def resolve_evolve_config(preset: str | None = None,
                          overrides: Sequence[dict[str, Any]] = ()) -> EvolveConfig:
    """A validated :class:`EvolveConfig` from a preset name or YAML path and overrides."""
    layers = [to_dict(EvolveConfig())]
    if preset is not None:
        layers.append(preset_mapping(_preset_path(preset)))
    return from_dict(EvolveConfig, merge_all(layers + list(overrides)))


def evolve_config_from_dict(data: dict[str, Any]) -> EvolveConfig:
    """Re-validate a config stored as plain data (e.g. in a checkpoint)."""
    return from_dict(EvolveConfig, deep_merge(to_dict(EvolveConfig()), data))


def dump_evolve_config(cfg: EvolveConfig) -> str:
    """The config as YAML text a user can edit and pass to ``--config``."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=False, width=100)


def default_evolve_preset(device_name: str | None) -> str:
    """``gpu`` when training will run on CUDA, else the small ``cpu`` preset."""
    import torch

    wants_cuda = device_name not in (None, "auto") and str(device_name).startswith("cuda")
    on_cuda = wants_cuda or (device_name in (None, "auto") and torch.cuda.is_available())
    return "gpu" if on_cuda else "cpu"
