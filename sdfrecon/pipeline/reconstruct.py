"""Point cloud -> trained field -> mesh, as one library call.

This is the spine the CLI, benchmarks and examples use. It never touches the
file system except for the optional checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import trimesh

from sdfrecon.datasets.normalize import Normalization
from sdfrecon.datasets.inputs import TrainingData
from sdfrecon.datasets.outliers import stray_points
from sdfrecon.datasets.sampling import SAMPLERS
from sdfrecon.datasets.point_geometry import local_spacing, prepare_normals
from sdfrecon.meshing.extract import extract_mesh
from sdfrecon.meshing.refine import project_to_points
from sdfrecon.meshing.memory import peak_memory_mb
from sdfrecon import __version__
from sdfrecon.pipeline.config import ReconConfig, config_from_dict
from sdfrecon.base.configtools import to_dict
from sdfrecon.base.device import resolve_device
from sdfrecon.base.errors import ConfigError, InputError, NoSurfaceError
from sdfrecon.sdf.fields import NeuralField, build_field
from sdfrecon.sdf.losses import LossSet
from sdfrecon.sdf.schedules import is_always_zero
from sdfrecon.pipeline.snapshots import SnapshotWriter
from sdfrecon.sdf.training import Trainer

log = logging.getLogger(__name__)


@dataclass
class Reconstruction:
    """Result of :func:`reconstruct`.

    Attributes
    ----------
    mesh : trimesh.Trimesh
        Closed, outward-oriented mesh in the input's world coordinates; empty
        (with a logged warning naming the likely cause, and ``record["mesh"]
        ["warning"]``) when the trained field has no zero level set in the box.
    field : NeuralField
        The trained field (unit frame), in eval mode.
    normalization : Normalization
        World <-> unit frame transform used.
    record : dict
        JSON-ready run record: config, device, seconds per phase, final losses.
    config : ReconConfig, optional
        The config the field was trained with: the one given, fitted to the input
        (e.g. the Fourier octaves a sparse cloud supports).
    """

    mesh: trimesh.Trimesh
    field: NeuralField
    normalization: Normalization
    record: dict[str, Any] = dataclasses.field(default_factory=dict)
    config: ReconConfig | None = None


def build_field_seeded(cfg: ReconConfig, device: torch.device | str = "cpu") -> NeuralField:
    """The field of ``cfg`` with weights drawn from ``cfg.seed``, leaving the
    global RNG untouched; on ``device``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return build_field(cfg.field, device=device, seed=cfg.seed).to(device)




def reconstruct(
    data: TrainingData,
    cfg: ReconConfig,
    *,
    checkpoint_path: Path | None = None,
    snapshot_dir: Path | None = None,
    resume: dict[str, Any] | None = None,
    progress: bool = True,
    step_callback: Callable[[int, torch.nn.Module], None] | None = None,
) -> Reconstruction:
    """Fit a neural SDF to ``data`` and extract its zero level set.

    Parameters
    ----------
    data : TrainingData
        Input in world coordinates (a point cloud, or slices).
    cfg : ReconConfig
        Resolved config (see :func:`sdfrecon.pipeline.config.resolve_config`).
    checkpoint_path : Path, optional
        Where to write checkpoints during training.
    snapshot_dir : Path, optional
        Where to write meshes every ``cfg.mesh.snapshot_every`` steps.
    resume : dict, optional
        A checkpoint (from :func:`sdfrecon.base.checkpoint.load_checkpoint`) to continue.
    progress : bool
        Show progress bars.
    step_callback : callable, optional
        Called as ``fn(step, model)`` after every step (snapshots, logging).

    Returns
    -------
    Reconstruction
    """
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    given = data
    prepared = prepare_input(data, cfg, None if resume is None else Normalization.from_dict(resume["normalization"]))
    data, unit, normalization, cfg = prepared.data, prepared.unit, prepared.normalization, prepared.config
    strays, normals_note = prepared.strays, prepared.normals_note
    extent = unit.extent_points()
    lo, hi = extent.min(axis=0), extent.max(axis=0)
    callbacks = [step_callback] if step_callback is not None else []
    if snapshot_dir is not None and cfg.mesh.snapshot_every > 0:
        callbacks.append(SnapshotWriter(snapshot_dir, cfg.mesh.snapshot_every, lo, hi, normalization,
                                        cfg.mesh, cfg.mesh.snapshot_resolution, device))
    model = build_field_seeded(cfg, device)
    prior_record = None
    if cfg.prior.mode != "none":
        from sdfrecon.pipeline.prior import apply_prior

        model, prior_record = apply_prior(model, unit, cfg, device, lo, hi, fit=resume is None)
    sampler = SAMPLERS.build(cfg.sampler, data=unit, device=device, seed=cfg.seed)
    flood_note = getattr(sampler, "flood_note", "")
    if flood_note:
        log.info("%s", flood_note)
    losses = LossSet(cfg.loss, cfg.train.iterations)
    _check_groups(cfg, sampler.groups)
    trainer = Trainer(
        model, sampler, losses, cfg.train, device=device, checkpoint_path=checkpoint_path,
        checkpoint_extra={"config": to_dict(cfg), "normalization": normalization.to_dict(),
                          "input": data.source, "extent": [lo.tolist(), hi.tolist()]},
        progress=progress, step_callback=_chain(callbacks),
    )
    if resume is not None:
        trainer.load_state_dict(resume["trainer"])
    t_setup = time.perf_counter()
    result = trainer.fit()
    t_train = time.perf_counter()
    model.eval()
    no_surface = None
    try:
        meshed = extract_mesh(model.surface_value, lo, hi, cfg.mesh, device=device)
        mesh, grid_shape, queries = meshed.mesh, list(meshed.grid.shape), meshed.queries
        if len(mesh.faces) == 0:
            raise NoSurfaceError("marching cubes produced no triangles")
        mesh, refined = _refine(mesh, unit, meshed.grid.spacing, cfg)
    except NoSurfaceError as exc:
        no_surface = f"the extracted mesh is empty: {exc}"
        log.warning("%s", no_surface)
        mesh, grid_shape, queries, refined = trimesh.Trimesh(), [], 0, None
    mesh.vertices = normalization.to_world(mesh.vertices)
    t_mesh = time.perf_counter()
    record = {
        "sdfrecon": __version__,
        "input": {**given.summary(), **({"normals_used": normals_note} if normals_note else {}),
                  **({"flood_fill": flood_note} if flood_note else {}),
                  **({"strays_dropped": strays} if strays else {}),
                  **({"points_used": len(unit.points)} if unit.kind == "points" and len(unit.points) < len(given.points) else {})},
        "device": str(device),
        "host": {"torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version()},
        "seconds": {
            "setup": round(t_setup - t0, 3),
            "train": round(t_train - t_setup, 3),
            "train_total_including_resumed": round(result.seconds, 3),
            "mesh": round(t_mesh - t_train, 3),
        },
        "train": {"steps": result.steps, "final_losses": result.final_losses, "recoveries": result.recoveries},
        "mesh": {
            "vertices": len(mesh.vertices), "faces": len(mesh.faces), "watertight": bool(mesh.is_watertight),
            "grid": grid_shape, "queries": queries, "empty": no_surface is not None,
            **({"refine": refined} if refined else {}),
            "peak_memory_mb": peak_memory_mb(device),
            **({"warning": no_surface} if no_surface is not None else {}),
        },
        "normalization": normalization.to_dict(),
        "config": to_dict(cfg),
    }
    if prior_record is not None:
        record["prior"] = prior_record
    return Reconstruction(mesh=mesh, field=model, normalization=normalization, record=record, config=cfg)


@dataclass
class PreparedInput:
    """What :func:`reconstruct` trains on, before any field or sampler exists.

    Attributes
    ----------
    data : TrainingData
        The input without its stray points, world frame.
    unit : TrainingData
        The same in the unit frame, at most ``data.max_points`` points, with the normals
        to train with.
    normalization : Normalization
        World <-> unit frame transform.
    config : ReconConfig
        The config fitted to the point spacing (Fourier octaves, steps).
    strays : int
        Stray points dropped.
    normals_note : str
        Which normals were used, for the record ("" for slices).
    """

    data: TrainingData
    unit: TrainingData
    normalization: Normalization
    config: ReconConfig
    strays: int
    normals_note: str


def prepare_input(data: TrainingData, cfg: ReconConfig, normalization: Normalization | None = None) -> PreparedInput:
    """The steps of :func:`reconstruct` before its field and sampler: stray points dropped,
    the unit frame fitted (or ``normalization``, a resumed run's), a random subset above
    ``data.max_points``, the normals to train with, and ``cfg`` fitted to the point
    spacing. Benchmarks that look at the sampler's labels start from the same."""
    data, strays = _drop_strays(data, cfg)
    if normalization is None:
        normalization = Normalization.fit_mode(data.extent_points(), cfg.data.normalize)
    unit = data.transformed(normalization)
    if unit.kind == "points" and cfg.data.max_points and len(unit.points) > cfg.data.max_points:
        log.info("training on %d of the %d points (data.max_points)", cfg.data.max_points, len(unit.points))
        unit = unit.subset(cfg.data.max_points, seed=cfg.seed)
    unit, normals_note = _prepare_normals(unit, cfg)
    return PreparedInput(data, unit, normalization, _fit_to_spacing(cfg, unit), strays, normals_note)


def _drop_strays(data: TrainingData, cfg: ReconConfig) -> tuple[TrainingData, int]:
    """Point clouds without their stray points (``data.outliers``), and how many were dropped.
    Done before the unit frame is fitted: a stray far out would otherwise shrink the shape in it."""
    if data.kind != "points" or not cfg.data.outliers.enabled:
        return data, 0
    strays = stray_points(data.points, cfg.data.outliers)
    count = int(strays.sum())
    if count == 0:
        return data, 0
    log.info("dropped %d stray points of %d (data.outliers)", count, len(data.points))
    return data.without(strays), count


def _prepare_normals(unit: TrainingData, cfg: ReconConfig) -> tuple[TrainingData, str]:
    """Point clouds: the normals to train with (``data.normals``) and a note for the record."""
    if unit.kind != "points":
        return unit, ""
    normals, oriented, note = prepare_normals(unit.points, unit.normals, cfg.data.normals)
    return dataclasses.replace(unit, normals=normals, normals_oriented=oriented), note


def _fit_to_spacing(cfg: ReconConfig, unit: TrainingData) -> ReconConfig:
    """``cfg`` fitted to the point spacing of ``unit`` (point clouds): the Fourier octaves a
    sparse cloud can support, and the steps it gets (``train.sparse_spacing``); the record
    and checkpoint keep the fitted config, so a resumed run rebuilds the same network."""
    if unit.kind != "points" or len(unit.points) < 2 or not (cfg.field.encoding.uses_spacing or cfg.train.uses_spacing):
        return cfg  # the kNN query below is skipped where nothing depends on it
    spacing = float(np.median(local_spacing(unit.points, 8)))
    encoding = cfg.field.encoding.fitted_to_spacing(spacing)
    train = cfg.train.fitted_to_spacing(spacing)
    if encoding == cfg.field.encoding and train == cfg.train:
        return cfg
    log.info("point spacing %.4g (unit frame): encoding %s, %d steps", spacing, encoding, train.iterations)
    return dataclasses.replace(cfg, field=dataclasses.replace(cfg.field, encoding=encoding), train=train)


def _refine(mesh: trimesh.Trimesh, unit: TrainingData, cell: float, cfg: ReconConfig):
    """Project the vertices onto the input points when ``mesh.refine`` asks (point clouds
    with normals of any sign); returns the mesh and the projection's statistics."""
    if not cfg.mesh.refine.enabled or unit.kind != "points" or unit.normals is None:
        return mesh, None
    mesh, stats = project_to_points(mesh, unit.points, unit.normals, cell, cfg.mesh.refine)
    return mesh, {key: round(value, 4) for key, value in stats.items()}


def _chain(callbacks: list[Callable[[int, torch.nn.Module], None]]) -> Callable[[int, torch.nn.Module], None] | None:
    """One step callback calling each of ``callbacks`` in order (None if there are none)."""
    if not callbacks:
        return None

    def call_all(step: int, model: torch.nn.Module) -> None:
        for callback in callbacks:
            callback(step, model)

    return call_all


def _check_groups(cfg: ReconConfig, sampler_groups: tuple[str, ...]) -> None:
    """Every active loss term must apply to at least one group the sampler makes."""
    for key, term in cfg.loss.terms.items():
        if is_always_zero(term.weight):
            continue
        if not any(g in sampler_groups for g in term.groups):
            raise ConfigError(
                f"loss.terms.{key}.groups: none of {term.groups} is produced by sampler "
                f"{cfg.sampler.name!r} (it makes {', '.join(sampler_groups)})"
            )


def load_trained_field(checkpoint: dict[str, Any], device: torch.device | str = "cpu") -> tuple[NeuralField, Normalization, ReconConfig]:
    """Rebuild the trained field stored in a checkpoint (for viewing, re-meshing).

    Returns
    -------
    (NeuralField in eval mode on ``device``, Normalization, ReconConfig)
    """
    try:
        cfg = config_from_dict(checkpoint["config"])
        if cfg.prior.mode == "feedforward":  # the field is the prior's prediction
            from sdfrecon.pipeline.prior import prior_field_skeleton

            model = prior_field_skeleton(cfg, device)
        else:
            model = build_field(cfg.field, device=device)
        model.load_state_dict(checkpoint["trainer"]["model"])
        normalization = Normalization.from_dict(checkpoint["normalization"])
    except (KeyError, RuntimeError) as exc:
        raise InputError(f"checkpoint does not hold a trained field ({type(exc).__name__}: {exc})") from None
    return model.to(device).eval(), normalization, cfg

