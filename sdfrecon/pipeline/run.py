"""One reconstruction *run*: input file -> mesh file, with resume and a run record.

:func:`reconstruct_file` is what ``sdfrecon reconstruct`` does (the command
only parses flags and prints); :func:`run_reconstruction` is its second half,
for data already in memory, which the benchmark's neural methods call so a
benchmark pair resumes from its checkpoint like any run.

Files of a run (:class:`~sdfrecon.base.run_files.RunFiles`): the mesh, its
checkpoint (written during training, for ``resume``), the resolved config and
the JSON run record. All are written atomically; an empty mesh (no surface) is
not written, the checkpoint and record are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import trimesh

from sdfrecon.base.atomic import atomic_write_text
from sdfrecon.base.checkpoint import load_checkpoint
from sdfrecon.base.configtools import merge_all, to_dict
from sdfrecon.base.errors import ConfigError
from sdfrecon.base.run_files import RunFiles, write_json
from sdfrecon.datasets.inputs import TrainingData, input_kind, read_input
from sdfrecon.datasets.readers import ReadOptions
from sdfrecon.meshing.io import check_mesh_path, check_mesh_precision, write_mesh
from sdfrecon.pipeline.config import ReconConfig, config_from_dict, default_preset, dump_config, resolve_config
from sdfrecon.pipeline.reconstruct import reconstruct

RESUMABLE_KEYS = ("mesh", "device")
"""Top-level config keys that may change when a run is resumed (the rest is the checkpoint's)."""


@dataclass
class RunOutcome:
    """What a run produced.

    Attributes
    ----------
    files : RunFiles
        Where its outputs are.
    mesh : trimesh.Trimesh
        The mesh in world coordinates (empty when the field has no surface).
    record : dict
        The run record as written to ``files.record``.
    """

    files: RunFiles
    mesh: trimesh.Trimesh
    record: dict[str, Any]

    @property
    def empty(self) -> bool:
        """True when the trained field had no surface to mesh (no mesh file written)."""
        return len(self.mesh.faces) == 0


def resume_config(files: RunFiles, overrides: Sequence[dict[str, Any]] = ()) -> tuple[ReconConfig, dict[str, Any]]:
    """The config and state of the checkpoint ``files.checkpoint``, to continue it.

    Raises
    ------
    ConfigError
        No checkpoint, or ``overrides`` change more than mesh and device options.
    """
    if not files.checkpoint.exists():
        raise ConfigError(f"--resume: no checkpoint {files.checkpoint} to continue")
    changed = sorted(k for o in overrides for k in o if k not in RESUMABLE_KEYS)
    if changed:
        raise ConfigError(f"--resume: only mesh and device options may change, not {', '.join(changed)}")
    state = load_checkpoint(files.checkpoint)
    return config_from_dict(merge_all([state["config"], *overrides])), state


def run_reconstruction(data: TrainingData, cfg: ReconConfig, files: RunFiles, *,
                       resume_state: dict[str, Any] | None = None, progress: bool = True,
                       seconds_before: dict[str, float] | None = None) -> RunOutcome:
    """Train on ``data``, write the mesh, the config and the run record.

    Parameters
    ----------
    data : TrainingData
        Input in world coordinates.
    cfg : ReconConfig
        Resolved config (the checkpoint's when resuming).
    files : RunFiles
        Output paths; the checkpoint is written there during training.
    resume_state : dict, optional
        A checkpoint (from :func:`resume_config`) to continue.
    progress : bool
        Show progress bars.
    seconds_before : dict, optional
        Phases timed by the caller before this call (``{"read": 1.2}``), put
        first in the record's ``seconds``; their sum counts in ``total``.

    Returns
    -------
    RunOutcome
    """
    t0 = time.perf_counter()
    before = dict(seconds_before or {})
    result = reconstruct(data, cfg, checkpoint_path=files.checkpoint, snapshot_dir=files.snapshots,
                         resume=resume_state, progress=progress)
    t_done = time.perf_counter()
    empty = len(result.mesh.faces) == 0
    if not empty:  # an empty mesh file would pass for a result; the warning was logged
        write_mesh(result.mesh, files.mesh)
    atomic_write_text(files.config, dump_config(cfg))
    record = result.record
    record["seconds"] = {**before, **record["seconds"], "write": round(time.perf_counter() - t_done, 3)}
    record["seconds"]["total"] = round(sum(before.values()) + time.perf_counter() - t0, 3)
    record["output"] = {"mesh": None if empty else str(files.mesh), "checkpoint": str(files.checkpoint),
                        "config": str(files.config)}
    record["config"] = to_dict(cfg)
    write_json(files.record, record)
    return RunOutcome(files=files, mesh=result.mesh, record=record)


def reconstruct_file(input_path: str | Path, output: str | Path | None = None, *,
                     preset: str | None = None, overrides: Sequence[dict[str, Any]] = (),
                     resume: bool = False, overwrite: bool = False, mask_options: Any = None,
                     progress: bool = True) -> RunOutcome:
    """Reconstruct the file ``input_path`` into the mesh file ``output``.

    Parameters
    ----------
    input_path : str or Path
        A point cloud or mesh, ``.csl`` slices, or a mask stack
        (:func:`sdfrecon.datasets.inputs.read_input`).
    output : str or Path, optional
        Output mesh (``.ply .obj .off .stl .glb``); default ``<input stem>_mesh.ply``
        in the current folder. Sidecars share its stem.
    preset : str, optional
        Preset name or YAML path; None picks :func:`~sdfrecon.pipeline.config.default_preset`
        for the input kind and device.
    overrides : sequence of dict
        Config overrides, in order (:func:`~sdfrecon.pipeline.config.config_overrides`).
    resume : bool
        Continue the run whose checkpoint is beside ``output`` (its config is
        reused; only mesh and device options may change).
    overwrite : bool
        Replace existing outputs (and start over even if ``resume``).
    mask_options : MaskOptions, optional
        Spacing, origin and slice axis for mask stacks.
    progress : bool
        Show progress bars.

    Returns
    -------
    RunOutcome

    Raises
    ------
    ReconError
        Bad input, option or output path (nothing is written), or training
        that diverged or was interrupted (the checkpoint is kept).
    """
    t0 = time.perf_counter()
    input_path = Path(input_path)
    output = Path(output) if output is not None else Path(f"{input_path.stem}_mesh.ply")
    check_mesh_path(output)
    files = RunFiles.for_mesh(output)
    resume_state = None
    if resume and not overwrite:
        if preset is not None:
            raise ConfigError("--resume continues with the checkpoint's config; do not pass --config")
        cfg, resume_state = resume_config(files, overrides)
    else:
        device = next((o["device"] for o in reversed(list(overrides)) if "device" in o), None)
        cfg = resolve_config(preset or default_preset(device, input_kind(input_path)), list(overrides))
        if cfg.prior.mode == "none" and any("weights" in (o.get("prior") or {}) for o in overrides):
            raise ConfigError("--weights: this preset uses no learned prior (prior.mode: none); "
                              "use --config gridformer or gridformer_refine")
    files.check_writable(overwrite=overwrite, resume=resume_state is not None)
    data = read_input(input_path, ReadOptions(mesh_samples=cfg.data.mesh_samples, seed=cfg.seed), mask_options)
    check_mesh_precision(files.mesh, data.extent_points())
    return run_reconstruction(data, cfg, files, resume_state=resume_state, progress=progress,
                              seconds_before={"read": round(time.perf_counter() - t0, 3)})
