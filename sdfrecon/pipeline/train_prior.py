"""Training a learned shape prior (``sdfrecon train-prior``) as one resumable run.

:func:`train_prior` trains a prior model (GridFormer by default) on procedural shapes
and/or benchmark suite folders and writes the *model file* that
``sdfrecon reconstruct --config gridformer --weights FILE`` reads. Files of a run,
for ``-o model.pt``:

* ``model.pt`` -- the model file (config, weights, how inputs were made, training record);
* ``model.training.ckpt`` -- the training checkpoint (``--resume`` continues it);
* ``model.training.json`` -- the training record (data, steps, seconds, hardware, losses).

Under ``torchrun`` every process calls :func:`train_prior` with the same arguments;
they join one DistributedDataParallel job (:func:`sdfrecon.sdf.prior_training.init_distributed`)
and rank 0 writes the files.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from sdfrecon import __version__
from sdfrecon.base.checkpoint import load_checkpoint
from sdfrecon.base.configtools import from_dict, merge_all, to_dict
from sdfrecon.base.errors import ConfigError, OutputExistsError
from sdfrecon.base.run_files import write_json
from sdfrecon.datasets.prior_data import PriorDataConfig, PriorDataset, ProceduralSource, training_shapes
from sdfrecon.sdf.gridformer import GridFormerConfig
from sdfrecon.sdf.prior_model import PriorModelConfig, build_prior_model, save_prior_model
from sdfrecon.sdf.prior_training import (PriorTrainConfig, PriorTrainer, evaluate_prior, init_distributed,
                                         shutdown_distributed)

CHECKPOINT_KIND = "sdfrecon-prior-training"
RESUMABLE_KEYS = {"device", "train.steps"}
"""Config keys ``--resume`` may change: the device, and the length of the run (the cosine
learning-rate schedule follows the new total from the current step on)."""


@dataclass
class PriorTrainingConfig:
    """Everything that defines a prior training run."""

    seed: int = 0
    """Seed of weights, epoch shuffles and samples."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu`` or ``cuda``; under torchrun each process uses cuda:LOCAL_RANK."""
    model: PriorModelConfig = dataclasses.field(default_factory=GridFormerConfig)
    """The prior model (``name: gridformer``, ...)."""
    data: PriorDataConfig = dataclasses.field(default_factory=PriorDataConfig)
    """Training shapes and how samples are drawn."""
    train: PriorTrainConfig = dataclasses.field(default_factory=PriorTrainConfig)
    """Optimisation."""
    validation_shapes: int = 16
    """Held-out procedural shapes (seeds after the training ones) scored at the end; 0 = none."""

    def validate(self, path: str) -> None:
        if self.validation_shapes < 0:
            raise ConfigError(f"{path}.validation_shapes: must be >= 0")


def prior_training_config(overrides: Sequence[dict[str, Any]] = ()) -> PriorTrainingConfig:
    """Defaults with ``overrides`` (nested mappings, e.g. from ``--set``) merged in, validated."""
    return from_dict(PriorTrainingConfig, merge_all([to_dict(PriorTrainingConfig()), *overrides]))


@dataclass(frozen=True)
class PriorTrainingFiles:
    """The files of one training run (see module doc)."""

    model: Path
    checkpoint: Path
    record: Path

    @classmethod
    def for_model(cls, model: str | Path) -> "PriorTrainingFiles":
        model = Path(model)
        stem = model.with_suffix("")
        return cls(model, stem.with_name(stem.name + ".training.ckpt"), stem.with_name(stem.name + ".training.json"))


@dataclass
class PriorTrainingOutcome:
    """What a finished training run wrote (on rank 0; other ranks get the same record)."""

    files: PriorTrainingFiles
    record: dict[str, Any]


def hardware_summary(device: torch.device, world_size: int) -> dict[str, Any]:
    """JSON-ready description of where training ran."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    out: dict[str, Any] = {"device": str(device), "processes": world_size, "cpu": cpu,
                           "torch_threads": torch.get_num_threads(), "torch": str(torch.__version__),
                           "python": platform.python_version()}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def train_prior(suites: Sequence[str | Path], output: str | Path, *, overrides: Sequence[dict[str, Any]] = (),
                layout: str = "auto", resume: bool = False, overwrite: bool = False, progress: bool = True,
                command: str | None = None) -> PriorTrainingOutcome:
    """Train a prior model and write its model file, checkpoint and record.

    Parameters
    ----------
    suites : sequence of str or Path
        Benchmark suite folders (``meshes``/``srb``: watertight meshes; ``shapenet``:
        ONet ``points.npz`` labels); may be empty when procedural shapes are used.
    output : str or Path
        The model file to write (``.pt``).
    overrides : sequence of dict
        Config overrides, in order (e.g. ``{"train": {"steps": 500}}``).
    layout : str
        Suite layout (``auto``, ``meshes``, ``srb``, ``shapenet``).
    resume : bool
        Continue the run whose checkpoint is beside ``output`` (its config is reused;
        only ``device`` and ``train.steps`` may be overridden).
    overwrite : bool
        Replace existing outputs and start over.
    progress : bool
        Show a progress bar (rank 0).
    command : str, optional
        The command line, stored in the record for reproducibility.

    Returns
    -------
    PriorTrainingOutcome

    Raises
    ------
    ReconError
        Bad suite, option or output path; training interrupted (checkpoint kept)
        or diverged.
    """
    files = PriorTrainingFiles.for_model(output)
    state = None
    if resume and not overwrite:
        if not files.checkpoint.exists():
            raise ConfigError(f"--resume: no checkpoint {files.checkpoint} to continue")
        changed = sorted({f"{k}.{sub}" if isinstance(v, dict) else k for o in overrides for k, v in o.items()
                          for sub in (v if isinstance(v, dict) else [None])} - RESUMABLE_KEYS)
        if changed:
            raise ConfigError(f"--resume: the checkpoint's config is reused; only {', '.join(sorted(RESUMABLE_KEYS))} "
                              f"may change, not {', '.join(changed)}")
        state = load_checkpoint(files.checkpoint)
        if state.get("kind") != CHECKPOINT_KIND:
            raise ConfigError(f"--resume: {files.checkpoint} is not a prior-training checkpoint")
        cfg = from_dict(PriorTrainingConfig, merge_all([to_dict(PriorTrainingConfig()), state["config"], *overrides]))
    else:
        cfg = prior_training_config(overrides)
        if not overwrite:
            for path in (files.model, files.checkpoint):
                if path.exists():
                    hint = "--resume to continue it or " if path == files.checkpoint else ""
                    raise OutputExistsError(f"{path}: already exists; pass {hint}--overwrite to replace it")
    suite_paths = [str(Path(s).resolve()) for s in suites]
    shapes, repeats = training_shapes(cfg.data, list(suites), layout)
    suite_names = [s.name for s in shapes if not isinstance(s, ProceduralSource)]
    if state is not None and suite_names != state.get("suite_shapes", []):
        raise ConfigError(f"--resume: the run trained on suite shapes {', '.join(state.get('suite_shapes', [])) or 'none'}"
                          f"; pass --suite folders holding the same shapes (got {', '.join(suite_names) or 'none'})")
    # Every command that worked on this run, first to last (a resumed run's history).
    commands = [*(state.get("commands", []) if state is not None else []), command or ""]
    ctx = init_distributed(cfg.device)
    try:
        torch.manual_seed(cfg.seed)
        model = build_prior_model(cfg.model).to(ctx.device)
        dataset = PriorDataset(shapes, cfg.data.samples, seed=cfg.seed, repeats=repeats)
        trainer = PriorTrainer(model, dataset, cfg.train, ctx=ctx, seed=cfg.seed, checkpoint_path=files.checkpoint,
                               checkpoint_extra={"kind": CHECKPOINT_KIND, "config": to_dict(cfg),
                                                 "suites": suite_paths, "suite_shapes": suite_names,
                                                 "commands": commands},
                               progress=progress)
        if state is not None:
            trainer.load_state_dict(state["trainer"])
        t0 = time.perf_counter()
        result = trainer.fit()
        validation: dict[str, Any] = {}
        if cfg.validation_shapes and ctx.is_main:
            first = cfg.data.procedural_seed + cfg.data.procedural + 100_000  # never a training seed
            held_out = PriorDataset([ProceduralSource(first + i, families=cfg.data.families)
                                     for i in range(cfg.validation_shapes)], cfg.data.samples, seed=cfg.seed + 1)
            validation = {"procedural_seeds": [first, first + cfg.validation_shapes - 1],
                          **evaluate_prior(model, held_out, device=ctx.device)}
        record = {
            "sdfrecon": __version__,
            "commands": commands,
            "model": to_dict(cfg.model),
            "parameters": sum(p.numel() for p in model.parameters()),
            "data": {"suites": suite_paths, "suite_shapes": suite_names, "procedural": cfg.data.procedural,
                     "families": list(cfg.data.families), "samples_per_epoch": len(dataset),
                     "samples": to_dict(cfg.data.samples)},
            "train": {**to_dict(cfg.train), "steps_done": result.steps,
                      "epochs": round(result.steps * cfg.train.batch_size * ctx.world_size / len(dataset), 2),
                      "global_batch": cfg.train.batch_size * ctx.world_size, "skipped_steps": result.skipped_steps,
                      "final_loss": result.final_loss, "losses": result.losses},
            "seconds": {"train": round(result.seconds, 1), "this_session": round(time.perf_counter() - t0, 1)},
            "hardware": hardware_summary(ctx.device, ctx.world_size),
            "validation": validation,
            "config": to_dict(cfg),
        }
        if ctx.is_main:
            samples = cfg.data.samples
            save_prior_model(files.model, model, cfg.model,
                             inputs={"points": samples.input_points, "noise": list(samples.noise),
                                     "domain": samples.domain},
                             training=record)
            write_json(files.record, record)
        return PriorTrainingOutcome(files, record)
    finally:
        shutdown_distributed(ctx)
