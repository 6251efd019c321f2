"""Learned shape priors: the model family, and the model files ``train-prior`` writes.

A *prior model* maps an input point cloud to an occupancy field in one forward
pass (no per-shape optimisation). Every prior model follows one interface:

* ``encode(points: (B, N, 3)) -> list of feature grids`` (a latent code of the shape);
* ``decode(grids, queries: (B, M, 3)) -> (B, M)`` occupancy logits, positive inside;
* ``forward(points, queries) = decode(encode(points), queries)``.

Coordinates are in the unit frame of :class:`sdfrecon.datasets.normalize.Normalization`
(the input's bounding box mapped to ``[-1, 1]`` along its longest side).

Models register in :data:`PRIORS` with their config dataclass (``GridFormer`` in
:mod:`sdfrecon.sdf.gridformer`). A *model file* is one atomic ``torch.save``
dictionary: the model's config, its weights, how its inputs were made in training
(point count, noise) and a free-form training record. It is written by
:func:`save_prior_model` and read by :func:`load_prior_model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from sdfrecon.base.checkpoint import load_checkpoint, save_checkpoint
from sdfrecon.base.configtools import ComponentConfig, from_dict, to_dict
from sdfrecon.base.errors import ConfigError, InputError
from sdfrecon.base.registry import Registry

PRIORS: Registry = Registry("prior model", providers="sdfrecon.sdf")
"""Prior model builders by name: ``build(cfg) -> nn.Module`` with ``encode``/``decode``."""

MODEL_FILE_KIND = "sdfrecon-prior-model"
"""The ``kind`` entry that tells a prior model file from a run checkpoint."""


@dataclass
class PriorModelConfig(ComponentConfig):
    """Base of prior-model configs (chosen by ``name``)."""

    name: str = "gridformer"
    registry: ClassVar[Registry] = PRIORS


def build_prior_model(cfg: PriorModelConfig) -> nn.Module:
    """The (untrained) prior model ``cfg`` describes."""
    return PRIORS.build(cfg)


def parse_prior_config(data: dict[str, Any], path: str = "model") -> PriorModelConfig:
    """A prior-model config from plain data (``{name: gridformer, ...}``), checked strictly."""
    return from_dict(PriorModelConfig, data, path)


def save_prior_model(path: str | Path, model: nn.Module, cfg: PriorModelConfig, *,
                     inputs: dict[str, Any], training: dict[str, Any] | None = None) -> Path:
    """Write a prior model file atomically.

    Parameters
    ----------
    path : str or Path
        Output file (``.pt``).
    model : nn.Module
        The trained model (its ``state_dict`` is stored, on the CPU).
    cfg : PriorModelConfig
        Its config.
    inputs : dict
        How training inputs were made: ``points`` (input points per shape) and
        ``noise`` (Gaussian sigma range, unit frame); inference follows them.
    training : dict, optional
        JSON-ready record of how the model was trained (data, steps, seconds, hardware).
    """
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    save_checkpoint(path, {"kind": MODEL_FILE_KIND, "model": to_dict(cfg), "state_dict": state,
                           "inputs": dict(inputs), "training": dict(training or {})})
    return Path(path)


@dataclass
class PriorModelFile:
    """A loaded prior model file.

    Attributes
    ----------
    model : nn.Module
        The model in eval mode, on the requested device.
    config : PriorModelConfig
    inputs : dict
        ``points`` and ``noise`` of the training inputs.
    training : dict
        The training record.
    path : Path
    """

    model: nn.Module
    config: PriorModelConfig
    inputs: dict[str, Any]
    training: dict[str, Any]
    path: Path


def load_prior_model(path: str | Path, device: torch.device | str = "cpu") -> PriorModelFile:
    """Read a prior model file written by :func:`save_prior_model`.

    Raises
    ------
    InputError
        Missing or unreadable file, not a prior model file, or weights that do
        not fit the stored config.
    """
    path = Path(path)
    state = load_checkpoint(path)
    if state.get("kind") != MODEL_FILE_KIND:
        raise InputError("is not an sdfrecon prior model file (train one with 'sdfrecon train-prior')", path)
    try:
        cfg = parse_prior_config(state["model"])
        model = build_prior_model(cfg)
        model.load_state_dict(state["state_dict"])
    except (KeyError, RuntimeError, ConfigError) as exc:
        raise InputError(f"holds a prior model that cannot be rebuilt ({' '.join(str(exc).split())[:200]})",
                         path) from None
    return PriorModelFile(model.to(device).eval(), cfg, dict(state.get("inputs", {})),
                          dict(state.get("training", {})), path)
