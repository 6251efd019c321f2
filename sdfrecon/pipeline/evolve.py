"""Trained SDF(s) -> space-time field ``f(x, t)`` -> meshes at chosen times, as library calls.

:func:`evolve` trains the evolution of in-memory shapes (:class:`EvolveShape`:
an SDF in the evolution's unit frame, possibly the trained field it came from);
:func:`mesh_times` meshes it. :func:`evolve_checkpoints` is what ``sdfrecon
evolve`` does: read reconstruction checkpoints, train with a checkpoint of its
own (resumable, Ctrl-C/SIGTERM safe), write the meshes, the config and a JSON
run record atomically (see :class:`EvolveFiles`).

Frames: the evolution lives in the unit frame of the first shape; other shapes'
SDFs are mapped into it (world units scaled accordingly). Times are in
evolution units: for mean-curvature flow a feature of radius ``rho`` (unit
frame, where the shape's longest half side is 1) shrinks away at about
``t = rho^2 / 4``; morphs run from 0 (first shape) to 1 (second shape).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import trimesh

from sdfrecon import __version__
from sdfrecon.base.atomic import atomic_write_text
from sdfrecon.base.checkpoint import load_checkpoint, load_for_resume
from sdfrecon.base.configtools import merge_all, to_dict
from sdfrecon.base.device import resolve_device
from sdfrecon.base.errors import ConfigError, InputError, NoSurfaceError, OutputExistsError
from sdfrecon.base.run_files import RunFiles, write_json
from sdfrecon.datasets.normalize import Normalization
from sdfrecon.meshing.extract import MeshConfig, extract_mesh
from sdfrecon.meshing.io import check_mesh_path, write_mesh
from sdfrecon.pipeline.evolve_config import (EvolveConfig, default_evolve_preset, dump_evolve_config,
                                             evolve_config_from_dict, resolve_evolve_config)
from sdfrecon.pipeline.reconstruct import load_trained_field
from sdfrecon.sdf.evolution import SPEEDS, EvolutionLoss, data_group
from sdfrecon.sdf.evolution_sampler import InitialCondition, SpaceTimeSampler
from sdfrecon.sdf.fields import FieldConfig, NeuralField
from sdfrecon.sdf.spacetime import SpaceTimeField, build_space_time_field, extend_with_time
from sdfrecon.sdf.training import Trainer

log = logging.getLogger(__name__)

MODES = ("smooth", "deform", "morph")
"""``sdfrecon evolve`` modes and the speeds they use."""
MODE_FLOW = {"smooth": "mean_curvature", "deform": "vector_field", "morph": "morph"}


# ------------------------------------------------------------------- shapes


@dataclass
class EvolveShape:
    """One given shape of an evolution (an initial condition).

    Attributes
    ----------
    sdf : callable
        ``(N, 3) -> (N,)`` signed distance in the evolution's unit frame (negative
        inside), on the training device.
    time : float
        The time the evolution passes through this shape.
    lo, hi : (3,) ndarray
        Bounding box of the shape, evolution unit frame.
    field : NeuralField, optional
        The trained field ``sdf`` evaluates (in the same frame), for the paper's
        initialisation; None for analytic shapes.
    field_cfg : FieldConfig, optional
        The config ``field`` was built from.
    state : dict, optional
        A checkpoint-like dict holding the trained field (stored in the evolution's
        checkpoint so that it resumes without the original files).
    source : str
        Where the shape came from (record).
    """

    sdf: Callable[[torch.Tensor], torch.Tensor]
    time: float
    lo: np.ndarray
    hi: np.ndarray
    field: NeuralField | None = None
    field_cfg: FieldConfig | None = None
    state: dict[str, Any] | None = None
    source: str = ""


class _FrameMappedSDF(torch.nn.Module):
    """A field of another unit frame, evaluated in the evolution frame (distances rescaled)."""

    def __init__(self, field: NeuralField, own: Normalization, frame: Normalization):
        super().__init__()
        self.field = field
        ratio = frame.scale / own.scale
        self.register_buffer("ratio", torch.tensor(ratio, dtype=torch.float32))
        offset = (frame.center - own.center) / own.scale
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))
        self.back = own.scale / frame.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.field.sdf(x * self.ratio + self.offset) * self.back


def shape_from_checkpoint(state: dict[str, Any], *, time: float = 0.0, frame: Normalization | None = None,
                          device: torch.device | str = "cpu", source: str = "") -> tuple[EvolveShape, Normalization]:
    """An :class:`EvolveShape` from a reconstruction checkpoint.

    Parameters
    ----------
    state : dict
        From :func:`sdfrecon.base.checkpoint.load_checkpoint`.
    time : float
    frame : Normalization, optional
        World <-> evolution unit frame; None uses the checkpoint's own (the first shape).
    device : torch.device or str
    source : str

    Returns
    -------
    (EvolveShape, Normalization)
        The shape and the frame it was expressed in.

    Raises
    ------
    InputError
        Not a trained-field checkpoint, or a field meshed from its occupancy channel.
    """
    field, own, cfg = load_trained_field(state, device)
    if cfg.field.surface != "sdf":
        raise InputError("its field is meshed from an occupancy channel; evolve needs an SDF surface")
    for p in field.parameters():
        p.requires_grad_(False)
    frame = frame or own
    extent = state.get("extent")
    if extent is None:
        raise InputError("checkpoint has no extent (not written by sdfrecon reconstruct)")
    corners = own.to_world(np.asarray(extent, dtype=np.float64))
    lo, hi = frame.to_unit(corners)
    same = np.allclose(frame.center, own.center) and math.isclose(frame.scale, own.scale)
    sdf = field.sdf if same else _FrameMappedSDF(field, own, frame).to(device)
    minimal = {"config": state["config"], "normalization": state["normalization"], "extent": extent,
               "input": state.get("input"), "trainer": {"model": field.state_dict()}}
    shape = EvolveShape(sdf=sdf, time=time, lo=np.minimum(lo, hi), hi=np.maximum(lo, hi),
                        field=field if same else None, field_cfg=cfg.field if same else None,
                        state=minimal, source=source)
    return shape, frame


# ------------------------------------------------------------------ evolution


@dataclass
class Evolution:
    """A trained space-time field.

    Attributes
    ----------
    field : SpaceTimeField
        ``f(x, t)`` in the evolution's unit frame, eval mode.
    normalization : Normalization
        World <-> evolution unit frame.
    box : ((3,), (3,)) ndarray
        Region sampled and meshed, unit frame.
    duration : float
        Trained time range is ``[0, duration]``.
    record : dict
        JSON-ready: config, device, seconds, final losses.
    """

    field: SpaceTimeField
    normalization: Normalization
    box: tuple[np.ndarray, np.ndarray]
    duration: float
    record: dict[str, Any] = dataclasses.field(default_factory=dict)


def _surface_pool(shape: EvolveShape, cfg: EvolveConfig, device: torch.device) -> torch.Tensor:
    """Points on the shape's zero level set (meshed once, sampled area-uniformly, seeded)."""
    mesh_cfg = MeshConfig(resolution=cfg.sampler.surface_resolution, padding=cfg.margin,
                          min_component_fraction=0.0)
    try:
        mesh = extract_mesh(shape.sdf, shape.lo, shape.hi, mesh_cfg, device=device).mesh
    except NoSurfaceError:
        mesh = trimesh.Trimesh()
    if len(mesh.faces) == 0:
        raise InputError("the field has no surface to evolve", shape.source or None)
    points, _ = trimesh.sample.sample_surface(mesh, cfg.sampler.surface_samples, seed=cfg.seed)
    return torch.as_tensor(np.asarray(points, dtype=np.float32), device=device)


def _box(shapes: Sequence[EvolveShape], pools: Sequence[torch.Tensor], speed, duration: float,
         margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The shapes' boxes joined with where the speed's velocity carries their surfaces, plus margin."""
    lo = np.min([s.lo for s in shapes], axis=0)
    hi = np.max([s.hi for s in shapes], axis=0)
    with torch.no_grad():
        for pool in pools:
            for k in range(1, 5):
                t = torch.full((len(pool), 1), duration * k / 4, device=pool.device)
                moved = speed.advect(pool, t).cpu().numpy()
                lo = np.minimum(lo, moved.min(axis=0))
                hi = np.maximum(hi, moved.max(axis=0))
    return lo - margin, hi + margin


def evolve_duration(cfg: EvolveConfig, times: Sequence[float] = ()) -> float:
    """The trained time range's length: ``cfg.duration``, else the largest time (morph: 1)."""
    if cfg.flow.name == "morph":
        if cfg.duration not in (0.0, 1.0):
            raise ConfigError("duration: a morph runs from 0 (first shape) to 1 (second shape); leave it 0 or 1")
        return 1.0
    if cfg.duration > 0:
        return cfg.duration
    largest = max((abs(t) for t in times), default=0.0)
    if largest <= 0:
        raise ConfigError("duration: give --times with a time > 0 or set duration")
    return largest


def evolve(shapes: Sequence[EvolveShape], cfg: EvolveConfig, *, normalization: Normalization | None = None,
           times: Sequence[float] = (), checkpoint_path: Path | None = None, resume: dict[str, Any] | None = None,
           progress: bool = True,
           step_callback: Callable[[int, torch.nn.Module], None] | None = None) -> Evolution:
    """Train ``f(x, t)`` through the given shapes under the speed ``cfg.flow``.

    Parameters
    ----------
    shapes : sequence of EvolveShape
        One shape at time 0 (smooth, deform), or two at times 0 and 1 (morph).
    cfg : EvolveConfig
    normalization : Normalization, optional
        World <-> evolution frame, for meshes in world units (default identity).
    times : sequence of float
        Requested times (set the trained range when ``cfg.duration`` is 0).
    checkpoint_path : Path, optional
        Where to checkpoint during training.
    resume : dict, optional
        An evolution checkpoint to continue (its config must be ``cfg``).
    progress : bool
    step_callback : callable, optional
        Called as ``fn(step, model)`` after every training step.

    Returns
    -------
    Evolution

    Raises
    ------
    ConfigError
        Wrong number of shapes for the flow, or no time range.
    TrainingInterrupted, TrainingDivergedError
        From the trainer (the checkpoint is kept).
    """
    t0 = time.perf_counter()
    expected = 2 if cfg.flow.name == "morph" else 1
    if len(shapes) != expected:
        raise ConfigError(f"flow {cfg.flow.name!r} takes {expected} shape(s), got {len(shapes)}")
    device = resolve_device(cfg.device)
    normalization = normalization or Normalization(center=np.zeros(3), scale=1.0)
    duration = float(resume["evolution"]["duration"]) if resume is not None else evolve_duration(cfg, times)
    speed = SPEEDS.build(cfg.flow)
    pools = [_surface_pool(s, cfg, device) for s in shapes]
    initial = [InitialCondition(sdf=s.sdf, time=s.time, surface_points=p) for s, p in zip(shapes, pools)]
    if resume is not None:
        box = tuple(np.asarray(b, dtype=np.float64) for b in resume["evolution"]["box"])
    else:
        box = _box(shapes, pools, speed, duration, cfg.margin)
    model, field_cfg = _space_time_model(shapes[0], cfg, duration, device, resume)
    sampler = SpaceTimeSampler(cfg.sampler, initial, box, (0.0, duration), speed, device=device, seed=cfg.seed)
    losses = EvolutionLoss(cfg.loss, speed, level_set_weight=cfg.flow.weight, time_scale=model.time_scale,
                           total_steps=cfg.train.iterations, data_groups=[data_group(k) for k in range(len(shapes))])
    evolution_info = {"duration": duration, "box": [box[0].tolist(), box[1].tolist()],
                      "field": to_dict(field_cfg), "time_scale": model.time_scale}
    extra = {"evolve_config": to_dict(cfg), "normalization": normalization.to_dict(), "evolution": evolution_info,
             "shapes": [{"time": s.time, "source": s.source, "checkpoint": s.state} for s in shapes]}
    trainer = Trainer(model, sampler, losses, cfg.train, device=device, checkpoint_path=checkpoint_path,
                      checkpoint_extra=extra, progress=progress, step_callback=step_callback)
    if resume is not None:
        trainer.load_state_dict(resume["trainer"])
    t_setup = time.perf_counter()
    result = trainer.fit()
    t_train = time.perf_counter()
    model.eval()
    record = {
        "sdfrecon": __version__,
        "device": str(device),
        "host": {"torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version()},
        "flow": cfg.flow.name,
        "shapes": [{"time": s.time, "source": s.source} for s in shapes],
        "evolution": evolution_info,
        "seconds": {"setup": round(t_setup - t0, 3), "train": round(t_train - t_setup, 3),
                    "train_total_including_resumed": round(result.seconds, 3)},
        "train": {"steps": result.steps, "final_losses": result.final_losses, "recoveries": result.recoveries},
        "normalization": normalization.to_dict(),
        "config": to_dict(cfg),
    }
    return Evolution(field=model, normalization=normalization, box=box, duration=duration, record=record)


def _without_annealing(field_cfg: FieldConfig) -> FieldConfig:
    """``field_cfg`` with a coarse-to-fine encoding schedule switched off (all features on)."""
    encoding = field_cfg.encoding
    if hasattr(encoding, "anneal_until"):
        encoding = dataclasses.replace(encoding, anneal_until=0.0)
    return dataclasses.replace(field_cfg, encoding=encoding)


def _space_time_model(first: EvolveShape, cfg: EvolveConfig, duration: float, device: torch.device,
                      resume: dict[str, Any] | None) -> tuple[SpaceTimeField, FieldConfig]:
    """The space-time field to train: resumed, extended from the trained field, or fresh."""
    from sdfrecon.base.configtools import from_dict

    if resume is not None:
        field_cfg = from_dict(FieldConfig, resume["evolution"]["field"], "evolution.field")
        model = build_space_time_field(field_cfg, resume["evolution"]["time_scale"], device=device, seed=cfg.seed)
        return model, field_cfg
    if cfg.init == "trained":
        if first.field is None or first.field_cfg is None:
            raise ConfigError("init: 'trained' needs a trained field for the first shape; use init: fresh")
        field_cfg = _without_annealing(first.field_cfg)
        return extend_with_time(first.field, field_cfg, duration).to(device), field_cfg
    return build_space_time_field(cfg.field, duration, device=device, seed=cfg.seed), cfg.field


def load_evolution(state: dict[str, Any], device: torch.device | str = "cpu") -> Evolution:
    """The trained space-time field of an evolution checkpoint (for meshing at other times).

    Raises
    ------
    InputError
        Not an evolution checkpoint.
    """
    from sdfrecon.base.configtools import from_dict

    try:
        info = state["evolution"]
        field_cfg = from_dict(FieldConfig, info["field"], "evolution.field")
        model = build_space_time_field(field_cfg, info["time_scale"], device=device)
        model.load_state_dict(state["trainer"]["model"])
        normalization = Normalization.from_dict(state["normalization"])
        box = tuple(np.asarray(b, dtype=np.float64) for b in info["box"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise InputError(f"checkpoint does not hold an evolution ({type(exc).__name__}: {exc})") from None
    return Evolution(field=model.to(device).eval(), normalization=normalization, box=box,
                     duration=float(info["duration"]))


@dataclass
class TimeMesh:
    """The surface at one time (world coordinates); empty when there is none in the box."""

    time: float
    mesh: trimesh.Trimesh
    warning: str | None = None


def mesh_times(evolution: Evolution, times: Sequence[float], mesh_cfg: MeshConfig,
               device: torch.device | str = "cpu") -> list[TimeMesh]:
    """Marching-cubes meshes of ``f(., t) = level`` at each of ``times``, world coordinates."""
    out = []
    lo, hi = evolution.box
    field = evolution.field
    for t in times:
        try:
            with torch.no_grad():
                mesh = extract_mesh(field.at_time(t), lo, hi, mesh_cfg, device=device).mesh
            if len(mesh.faces) == 0:
                raise NoSurfaceError("marching cubes produced no triangles")
            mesh.vertices = evolution.normalization.to_world(mesh.vertices)
            out.append(TimeMesh(float(t), mesh))
        except NoSurfaceError as exc:
            message = f"no surface at t = {t:g} ({exc}); the shape may have collapsed"
            log.warning("%s", message)
            out.append(TimeMesh(float(t), trimesh.Trimesh(), message))
    return out


def mesh_summary(mesh: trimesh.Trimesh) -> dict[str, Any]:
    """Vertices, faces, watertightness and connected pieces of ``mesh`` (record)."""
    if len(mesh.faces) == 0:
        return {"vertices": 0, "faces": 0, "watertight": False, "components": 0}
    return {"vertices": len(mesh.vertices), "faces": len(mesh.faces), "watertight": bool(mesh.is_watertight),
            "components": int(mesh.body_count)}


# ----------------------------------------------------------------- run files


def parse_times(text: str) -> list[float]:
    """``"0,0.1,0.2"`` -> sorted unique finite times >= 0.

    Raises
    ------
    InputError
        Not a comma-separated list of numbers >= 0.
    """
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--times {text!r}: expected comma-separated numbers, e.g. 0,0.1,0.2") from None
    if not values:
        raise InputError(f"--times {text!r}: give at least one time")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise InputError(f"--times {text!r}: times must be finite and >= 0")
    return sorted(set(values))


@dataclass(frozen=True)
class EvolveFiles:
    """Paths of one evolution run: ``out.ply`` names the stem and the mesh format.

    ``out_t<time>.ply`` (one mesh per time), ``out.ckpt`` (space-time checkpoint),
    ``out.json`` (run record), ``out.config.yaml`` (resolved config), ``out.gif``.
    """

    base: Path

    @property
    def stem(self) -> Path:
        return self.base.with_suffix("")

    def mesh_at(self, t: float) -> Path:
        return self.stem.with_name(f"{self.stem.name}_t{t:g}{self.base.suffix}")

    @property
    def checkpoint(self) -> Path:
        return RunFiles.for_mesh(self.base).checkpoint  # the sidecars are named as reconstruct's

    @property
    def record(self) -> Path:
        return RunFiles.for_mesh(self.base).record

    @property
    def config(self) -> Path:
        return RunFiles.for_mesh(self.base).config

    @property
    def gif(self) -> Path:
        return self.stem.with_name(self.stem.name + ".gif")

    def check_writable(self, times: Sequence[float], *, overwrite: bool, resume: bool, gif: bool) -> None:
        """Refuse to clobber an earlier run unless asked to (``resume`` rewrites its files).

        Raises
        ------
        OutputExistsError
        """
        if overwrite or resume:
            return
        if self.checkpoint.exists():
            raise OutputExistsError(f"{self.checkpoint}: a checkpoint of an earlier run exists; "
                                    "pass --resume to continue it or --overwrite to start over")
        for path in [*(self.mesh_at(t) for t in times), self.record, self.config, *([self.gif] if gif else [])]:
            if path.exists():
                raise OutputExistsError(f"{path}: already exists; pass --overwrite to replace it")


@dataclass
class EvolveOutcome:
    """What :func:`evolve_checkpoints` produced."""

    files: EvolveFiles
    meshes: list[TimeMesh]
    record: dict[str, Any]
    evolution: Evolution


def evolve_checkpoints(mode: str, inputs: Sequence[str | Path], output: str | Path, *, times: Sequence[float],
                       preset: str | None = None, overrides: Sequence[dict[str, Any]] = (), resume: bool = False,
                       overwrite: bool = False, progress: bool = True, gif: bool = False,
                       after_meshes: Callable[[EvolveFiles, list[TimeMesh], Evolution], dict[str, Any]] | None = None,
                       step_callback: Callable[[int, torch.nn.Module], None] | None = None) -> EvolveOutcome:
    """Evolve reconstruction checkpoints and write meshes at ``times`` (``sdfrecon evolve``).

    Parameters
    ----------
    mode : {"smooth", "deform", "morph"}
        Sets ``flow.name`` (``mean_curvature``, ``vector_field``, ``morph``); other flow
        options come from ``overrides``.
    inputs : sequence of path
        Reconstruction checkpoints (``OUT.ckpt`` of ``sdfrecon reconstruct``): one, or
        two for ``morph`` (at times 0 and 1).
    output : path
        Names the outputs (:class:`EvolveFiles`), e.g. ``evolved.ply``.
    times : sequence of float
        Times to mesh (>= 0; at most the trained duration).
    preset : str, optional
        Evolution preset name or YAML path; None picks ``cpu`` or ``gpu``.
    overrides : sequence of dict
        Config overrides in order.
    resume : bool
        Continue (or just re-mesh) the run whose checkpoint is beside ``output``; its
        config and stored shapes are used, only mesh and device options may change.
    overwrite : bool
        Replace earlier outputs.
    progress : bool
    gif : bool
        Whether ``after_meshes`` will write ``files.gif`` (checked before training).
    after_meshes : callable, optional
        ``fn(files, meshes, evolution) -> dict`` run after the meshes are written (e.g. a
        GIF); its dict goes into the record.
    step_callback : callable, optional
        Called as ``fn(step, model)`` after every training step.

    Returns
    -------
    EvolveOutcome

    Raises
    ------
    ReconError
        Bad inputs or options (nothing written), or training interrupted/diverged
        (the checkpoint is kept).
    """
    t0 = time.perf_counter()
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    wanted = 2 if mode == "morph" else 1
    if len(inputs) != wanted:
        raise InputError(f"{mode} takes {wanted} checkpoint(s), got {len(inputs)}")
    output = Path(output)
    check_mesh_path(output)
    files = EvolveFiles(output)
    times = list(times)
    if not times:
        raise InputError("--times: give at least one time")
    resume_state = None
    if resume and not overwrite:
        if preset is not None:
            raise ConfigError("--resume continues with the checkpoint's config; do not pass --config")
        cfg, resume_state = _resume_config(files, overrides)
        if MODE_FLOW[mode] != cfg.flow.name:
            raise ConfigError(f"--resume: {files.checkpoint} is a {cfg.flow.name} run, not {mode}")
    else:
        device = next((o["device"] for o in reversed(list(overrides)) if "device" in o), None)
        mode_layer = {"flow": {"name": MODE_FLOW[mode]}}
        cfg = resolve_evolve_config(preset or default_evolve_preset(device), [mode_layer, *overrides])
    files.check_writable(times, overwrite=overwrite, resume=resume_state is not None, gif=gif)
    device = resolve_device(cfg.device)
    shapes, frame = _read_shapes(inputs, resume_state, device)
    duration = (float(resume_state["evolution"]["duration"]) if resume_state else evolve_duration(cfg, times))
    late = [t for t in times if t > duration * (1 + 1e-9)]
    if late:
        raise ConfigError(f"--times {','.join(f'{t:g}' for t in late)}: beyond the trained range [0, {duration:g}]")
    t_read = time.perf_counter()
    evolution = evolve(shapes, cfg, normalization=frame, times=times, checkpoint_path=files.checkpoint,
                       resume=resume_state, progress=progress, step_callback=step_callback)
    t_train = time.perf_counter()
    meshes = mesh_times(evolution, times, cfg.mesh, device=device)
    t_mesh = time.perf_counter()
    written = []
    for item in meshes:
        if len(item.mesh.faces):
            write_mesh(item.mesh, files.mesh_at(item.time))
        written.append({"time": item.time, "path": str(files.mesh_at(item.time)) if len(item.mesh.faces) else None,
                        **mesh_summary(item.mesh), **({"warning": item.warning} if item.warning else {})})
    atomic_write_text(files.config, dump_evolve_config(cfg))
    record = evolution.record
    record["inputs"] = [str(p) for p in inputs]
    record["times"] = times
    record["meshes"] = written
    extra = after_meshes(files, meshes, evolution) if after_meshes is not None else {}
    record.update(extra)
    record["seconds"] = {"read": round(t_read - t0, 3), **record["seconds"], "mesh": round(t_mesh - t_train, 3),
                         **({"after": round(time.perf_counter() - t_mesh, 3)} if after_meshes else {})}
    record["seconds"]["total"] = round(time.perf_counter() - t0, 3)
    record["output"] = {"checkpoint": str(files.checkpoint), "config": str(files.config)}
    write_json(files.record, record)
    return EvolveOutcome(files=files, meshes=meshes, record=record, evolution=evolution)


def _resume_config(files: EvolveFiles, overrides: Sequence[dict[str, Any]]) -> tuple[EvolveConfig, dict[str, Any]]:
    state = load_for_resume(files.checkpoint, overrides)
    if "evolve_config" not in state:
        raise InputError("is not an evolution checkpoint", files.checkpoint)
    return evolve_config_from_dict(merge_all([state["evolve_config"], *overrides])), state


def _read_shapes(inputs: Sequence[str | Path], resume_state: dict[str, Any] | None,
                 device: torch.device) -> tuple[list[EvolveShape], Normalization]:
    """The shapes at times 0 (and 1): from the input checkpoints, or those stored in ``resume_state``."""
    shapes: list[EvolveShape] = []
    frame: Normalization | None = None
    for k, path in enumerate(inputs):
        if resume_state is not None:
            stored = resume_state["shapes"][k]
            state, source = stored["checkpoint"], stored["source"]
        else:
            state, source = load_checkpoint(path), str(path)
            if "evolve_config" in state:
                raise InputError("is an evolution checkpoint; give the reconstruction's checkpoint", path)
        try:
            shape, frame = shape_from_checkpoint(state, time=float(k), frame=frame, device=device, source=source)
        except InputError as exc:
            if exc.path is not None:
                raise
            raise InputError(exc.problem, path) from None
        shapes.append(shape)
    assert frame is not None
    return shapes, frame
