"""The reconstruction config: typed schema, YAML presets and overrides.

Resolution order (later wins): dataclass defaults <- preset chain (a preset may
``inherit:`` another) <- user YAML <- command-line ``key.path=value`` overrides.
The result is validated into :class:`ReconConfig`; unknown keys and wrong
types fail with the dotted path. Presets live in ``configs/*.yaml``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml

from sdfrecon.datasets.outliers import OutlierConfig
from sdfrecon.datasets.sampling import SamplerConfig, SurfaceSamplerConfig
from sdfrecon.meshing.extract import MeshConfig
from sdfrecon.base.configtools import deep_merge, from_dict, merge_all, parse_override, to_dict
from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.fields import FieldConfig
from sdfrecon.sdf.losses import LossConfig
from sdfrecon.sdf.training import TrainConfig
from sdfrecon.pipeline.prior import PriorConfig


@dataclass
class DataConfig:
    """How inputs are read."""

    mesh_samples: int = 100_000
    """Surface samples drawn when the input file is a mesh."""
    normalize: Literal["bbox", "centroid"] = "bbox"
    """Unit frame: ``bbox`` centres the bounding box and scales its longest half side to 1;
    ``centroid`` subtracts the mean point and divides by the largest absolute coordinate
    (the official StEik/DiGS scripts; see ``configs/steik_paper.yaml``)."""
    normals: Literal["auto", "given", "estimate", "none"] = "given"
    """Point-cloud normals to train with: ``given`` (the input's, trusted as outward),
    ``auto`` (the input's when their signs are consistent, their directions only when
    not, PCA estimates of unknown sign when there are none), ``estimate`` (PCA,
    unknown sign), ``none`` (see sdfrecon.datasets.point_geometry)."""

    max_points: int = 0
    """Point clouds with more points than this train (and are projected onto) a random,
    seeded subset of this many; 0 = all. The setup (normals, nearest neighbours, the
    distance pools) grows with the count, the detail a 128-cell mesh can show does not."""
    outliers: OutlierConfig = dataclasses.field(default_factory=OutlierConfig)
    """Stray points of a point cloud dropped before the unit frame is fitted
    (sdfrecon.datasets.outliers); off unless ``max_ratio`` > 0."""

    def validate(self, path: str) -> None:
        if self.mesh_samples < 10:
            raise ConfigError(f"{path}.mesh_samples: must be >= 10, got {self.mesh_samples}")
        if self.max_points < 0 or 0 < self.max_points < 1000:
            raise ConfigError(f"{path}.max_points: must be 0 (all) or >= 1000, got {self.max_points}")


@dataclass
class ReconConfig:
    """Everything that defines a reconstruction run."""

    seed: int = 0
    """Seed of weights init and sampling; same seed + same device = same result."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    field: FieldConfig = dataclasses.field(default_factory=FieldConfig)
    sampler: SamplerConfig = dataclasses.field(default_factory=SurfaceSamplerConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    mesh: MeshConfig = dataclasses.field(default_factory=MeshConfig)
    prior: PriorConfig = dataclasses.field(default_factory=PriorConfig)
    """Learned shape prior (``sdfrecon train-prior``): none, feed-forward, or warm start."""


# ---------------------------------------------------------------- presets


def preset_dirs() -> list[Path]:
    """Folders searched for ``<name>.yaml`` presets: the ``sdfrecon.configs`` package
    data, wherever the package is installed (wheel, ``--user``, editable)."""
    return [Path(str(resources.files("sdfrecon.configs")))]


def available_presets() -> list[str]:
    """Names of the bundled presets."""
    names: set[str] = set()
    for folder in preset_dirs():
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def find_preset(name_or_path: str) -> Path:
    """Path of a preset given by name (``steik``) or as a YAML file path."""
    candidate = Path(name_or_path)
    if candidate.suffix.lower() in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"--config {name_or_path}: no such file")
        return candidate
    for folder in preset_dirs():
        path = folder / f"{name_or_path}.yaml"
        if path.is_file():
            return path
    raise ConfigError(
        f"--config {name_or_path}: unknown preset; available: {', '.join(available_presets())} "
        "(or give a path to a YAML file)"
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping, got {type(data).__name__}")
    return data


def preset_mapping(name_or_path: str, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The plain mapping of a preset with its ``inherit:`` chain merged in."""
    path = find_preset(name_or_path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: 'inherit' loops back to itself")
    data = _read_yaml(path)
    parent = data.pop("inherit", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: inherit must name one preset, got {parent!r}")
    return deep_merge(preset_mapping(parent, _seen + (path,)), data)


def resolve_config(preset: str | None = None, overrides: list[dict[str, Any]] | None = None) -> ReconConfig:
    """Build a validated :class:`ReconConfig`.

    Parameters
    ----------
    preset : str, optional
        Preset name or YAML path; None uses the dataclass defaults only.
    overrides : list of dict, optional
        Nested mappings merged in order after the preset (see
        :func:`sdfrecon.base.configtools.parse_override`).

    Returns
    -------
    ReconConfig
    """
    layers = [to_dict(ReconConfig())]
    if preset is not None:
        layers.append(preset_mapping(preset))
    return from_dict(ReconConfig, merge_all(layers + list(overrides or [])))


def config_from_dict(data: dict[str, Any]) -> ReconConfig:
    """Re-validate a config stored as plain data (e.g. in a checkpoint)."""
    return from_dict(ReconConfig, deep_merge(to_dict(ReconConfig()), data))


def dump_config(cfg: ReconConfig) -> str:
    """The config as YAML text a user can copy, edit and pass to ``--config``."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=False, width=100)


def config_overrides(*, device: str | None = None, iterations: int | None = None,
                     resolution: int | None = None, seed: int | None = None,
                     sets: Sequence[str | dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Config overrides from the shortcut options every training command shares.

    Parameters
    ----------
    device, iterations, resolution, seed : optional
        ``device``, ``train.iterations``, ``mesh.resolution`` and ``seed``; None
        keeps the preset's value. ``iterations`` is the exact step count, also on sparse
        clouds (it sets ``train.sparse_factor`` to 1; ``--set train.iterations=N`` keeps it).
    sets : sequence of str or dict
        ``key.path=value`` texts (``--set``) or already parsed mappings, applied last.

    Returns
    -------
    list of dict
        Nested mappings for :func:`resolve_config`, in order.
    """
    out: list[dict[str, Any]] = []
    if device is not None:
        out.append({"device": device})
    if iterations is not None:
        out.append({"train": {"iterations": iterations, "sparse_factor": 1.0}})
    if resolution is not None:
        out.append({"mesh": {"resolution": resolution}})
    if seed is not None:
        out.append({"seed": seed})
    out.extend(parse_override(s) if isinstance(s, str) else s for s in sets)
    return out


def default_preset(device_name: str | None, input_kind: str = "points") -> str:
    """Preset used when none is named.

    Slices get the ``slices`` preset. Point clouds get ``steik`` (the paper's
    setting) when training will run on CUDA, else the CPU-sized ``default``.
    """
    import torch

    presets = available_presets()
    if input_kind == "slices" and "slices" in presets:
        return "slices"
    wants_cuda = device_name not in (None, "auto") and device_name.startswith("cuda")
    on_cuda = wants_cuda or (device_name in (None, "auto") and torch.cuda.is_available())
    if on_cuda and "steik" in presets:
        return "steik"
    return "default"
