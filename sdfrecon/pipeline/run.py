"""One reconstruction *run*: input file -> mesh file, with resume and a run record.

:func:`reconstruct_file` is what ``sdfrecon reconstruct`` does (the command
only parses flags and prints); :func:`run_reconstruction` is its second half,
for data already in memory, which the benchmark's neural methods call so a
benchmark pair resumes from its checkpoint like any run.

Files of a run (:class:`~sdfrecon.base.run_files.RunFiles`): the mesh, its
checkpoint (written during training, for ``resume``), the resolved config and
the JSON run record. All are written atomically; an empty mesh (no surface) is
not written, the checkpoint and record are.

Labelled inputs (``.csl`` files and integer mask volumes with several labels, e.g.
one per organ) make one run per label, each with its own files (see
:func:`label_outputs`), or only the run of a chosen ``label``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import trimesh

from sdfrecon.base.atomic import atomic_write_text
from sdfrecon.base.checkpoint import load_for_resume
from sdfrecon.base.configtools import merge_all, to_dict
from sdfrecon.base.errors import ConfigError
from sdfrecon.base.run_files import RunFiles, write_json
from sdfrecon.datasets.inputs import TrainingData, input_kind, read_input
from sdfrecon.datasets.readers import ReadOptions
from sdfrecon.meshing.io import check_mesh_path, check_mesh_precision, write_mesh
from sdfrecon.pipeline.config import ReconConfig, config_from_dict, default_preset, dump_config, resolve_config
from sdfrecon.pipeline.reconstruct import reconstruct

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
    label: int | None = None
    """The input label this run reconstructed (labelled inputs), else None."""

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
    state = load_for_resume(files.checkpoint, overrides)
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
    cfg = result.config or cfg  # as trained: fitted to the input
    atomic_write_text(files.config, dump_config(cfg))
    record = result.record
    record["seconds"] = {**before, **record["seconds"], "write": round(time.perf_counter() - t_done, 3)}
    record["seconds"]["total"] = round(sum(before.values()) + time.perf_counter() - t0, 3)
    record["output"] = {"mesh": None if empty else str(files.mesh), "checkpoint": str(files.checkpoint),
                        "config": str(files.config)}
    record["mesh"].update(mesh_measures(result.mesh))
    record["config"] = to_dict(cfg)
    write_json(files.record, record)
    return RunOutcome(files=files, mesh=result.mesh, record=record, label=getattr(data, "meta", {}).get("label"))


def mesh_measures(mesh: trimesh.Trimesh) -> dict[str, Any]:
    """``volume`` (world units^3; None unless the mesh is watertight) and ``pieces``
    (connected components) of a mesh, for run records and per-label summaries."""
    if len(mesh.faces) == 0:
        return {"volume": None, "pieces": 0}
    pieces = len(trimesh.graph.connected_components(mesh.face_adjacency, nodes=np.arange(len(mesh.faces)),
                                                    min_len=1))
    volume = float(abs(mesh.volume)) if mesh.is_watertight else None
    return {"volume": volume, "pieces": pieces}


def output_folder(output: str | Path | None) -> Path | None:
    """``output`` as a folder when it names one (an existing directory, a path written
    with a trailing ``/``, or a name without an extension -- a mesh file needs one),
    else None (a mesh file, or the default)."""
    if output is None:
        return None
    text = str(output)
    if text.endswith(("/", os.sep)) or Path(text).is_dir() or not Path(text).suffix:
        return Path(text)
    return None


def label_outputs(input_path: Path, output: str | Path | None, labels: Sequence[int | None]) -> list[Path]:
    """The mesh path of each run.

    * ``labels == [None]`` (one shape): ``output``, or ``<input stem>_mesh.ply`` in the
      current folder or in the folder ``output``;
    * one or more labels: ``<stem>_label<K>.ply`` in the current folder or in the
      folder ``output``; beside a mesh file ``out.ply``: ``out_label<K>.ply`` -- except
      that a single chosen label (``--label K``) is written to ``out.ply`` as asked.
    """
    folder = output_folder(output)
    if labels == [None]:
        if output is None or folder is not None:
            return [(folder or Path()) / f"{input_path.stem}_mesh.ply"]
        return [Path(output)]
    if output is None or folder is not None:
        return [(folder or Path()) / f"{input_path.stem}_label{k}.ply" for k in labels]
    out = Path(output)
    if len(labels) == 1:
        return [out]
    return [out.with_name(f"{out.stem}_label{k}{out.suffix}") for k in labels]


def reconstruct_file(input_path: str | Path, output: str | Path | None = None, *,
                     preset: str | None = None, overrides: Sequence[dict[str, Any]] = (),
                     resume: bool = False, overwrite: bool = False, mask_options: Any = None,
                     progress: bool = True, label: int | None = None) -> list[RunOutcome]:
    """Reconstruct the file ``input_path``: one run, or one run per label of a labelled input.

    Parameters
    ----------
    input_path : str or Path
        A point cloud or mesh, ``.csl`` slices, or a mask stack
        (:func:`sdfrecon.datasets.inputs.read_input`).
    output : str or Path, optional
        Output mesh (``.ply .obj .off .stl .glb``), or a folder (an existing one, a
        path ending in ``/``, or a name without extension); see :func:`label_outputs`
        for the names. Sidecars share
        each mesh's stem.
    preset : str, optional
        Preset name or YAML path; None picks :func:`~sdfrecon.pipeline.config.default_preset`
        for the input kind and device.
    overrides : sequence of dict
        Config overrides, in order (:func:`~sdfrecon.pipeline.config.config_overrides`).
    resume : bool
        Continue the runs whose checkpoints are beside the outputs (their config is
        reused; only mesh and device options may change). Labels of an interrupted
        multi-label reconstruction that had not started yet start with that config.
    overwrite : bool
        Replace existing outputs (and start over even if ``resume``).
    mask_options : MaskOptions, optional
        Spacing, origin and slice axis for mask stacks.
    progress : bool
        Show progress bars.
    label : int, optional
        Reconstruct only this label of a labelled input.

    Returns
    -------
    list of RunOutcome
        One per run, in label order. Every output path is checked before the
        first run trains.

    Raises
    ------
    ReconError
        Bad input, option or output path (nothing is written), or training
        that diverged or was interrupted (the checkpoint is kept).
    """
    t0 = time.perf_counter()
    input_path = Path(input_path)
    kind = input_kind(input_path)
    if label is not None and kind != "slices":
        raise ConfigError("--label chooses a label of labelled slices (.csl, integer mask volumes); "
                          f"{input_path} is a point cloud or mesh")
    fresh_cfg = None  # None: each run continues with its checkpoint's config
    if resume and not overwrite:
        if preset is not None:
            raise ConfigError("--resume continues with the checkpoint's config; do not pass --config")
    else:
        device = next((o["device"] for o in reversed(list(overrides)) if "device" in o), None)
        fresh_cfg = resolve_config(preset or default_preset(device, kind), list(overrides))
        if fresh_cfg.prior.mode == "none" and any("weights" in (o.get("prior") or {}) for o in overrides):
            raise ConfigError("--weights: this preset uses no learned prior (prior.mode: none); "
                              "use --config gridformer or gridformer_refine")
    if kind == "points":  # one run; reading samples meshes with the run's own seed and count
        files = RunFiles.for_mesh(check_mesh_path(label_outputs(input_path, output, [None])[0]))
        cfg, state = (fresh_cfg, None) if fresh_cfg is not None else resume_config(files, overrides)
        files.check_writable(overwrite=overwrite, resume=state is not None)
        data = read_input(input_path, ReadOptions(mesh_samples=cfg.data.mesh_samples, seed=cfg.seed), mask_options)
        check_mesh_precision(files.mesh, data.extent_points())
        return [run_reconstruction(data, cfg, files, resume_state=state, progress=progress,
                                   seconds_before={"read": round(time.perf_counter() - t0, 3)})]
    data = read_input(input_path, None, mask_options)
    labels = data.labels()
    if label is not None:
        runs = [(label, data.for_label(label))]
    elif len(labels) > 1:
        runs = [(k, data.for_label(k)) for k in labels]
    else:
        runs = [(None, data)]
    paths = label_outputs(input_path, output, [k for k, _ in runs])
    plans = []
    for (k, part), path in zip(runs, paths):
        files = RunFiles.for_mesh(check_mesh_path(path))
        state = None
        if fresh_cfg is None and files.checkpoint.exists():
            cfg, state = resume_config(files, overrides)
        else:
            cfg = fresh_cfg
        plans.append([k, part, files, cfg, state])
    if fresh_cfg is None:  # resuming: labels not started yet take the config of those that were
        started = [plan[3] for plan in plans if plan[3] is not None]
        if not started:
            resume_config(plans[0][2], overrides)  # raises: no checkpoint to continue
        for plan in plans:
            plan[3] = plan[3] or started[0]
    for _, part, files, _, state in plans:
        files.check_writable(overwrite=overwrite, resume=state is not None)
        check_mesh_precision(files.mesh, part.extent_points())
    read_seconds = round(time.perf_counter() - t0, 3)
    return [run_reconstruction(part, cfg, files, resume_state=state, progress=progress,
                               seconds_before={"read": read_seconds})
            for _, part, files, cfg, state in plans]
