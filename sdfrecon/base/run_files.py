"""Where a run's files go: the mesh and its sidecars share one stem.

``out.ply`` -> ``out.json`` (run record), ``out.ckpt`` (checkpoint, for
``--resume`` and the viewer's SDF slice), ``out.config.yaml`` (resolved config,
reusable with ``--config``), ``out.snapshots/`` (meshes during training, if asked).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdfrecon.base.atomic import atomic_write_text
from sdfrecon.base.errors import OutputExistsError


@dataclass(frozen=True)
class RunFiles:
    """Paths of one run's outputs."""

    mesh: Path
    record: Path
    checkpoint: Path
    config: Path
    snapshots: Path

    @classmethod
    def for_mesh(cls, mesh: str | Path) -> "RunFiles":
        mesh = Path(mesh)
        stem = mesh.with_suffix("")
        return cls(
            mesh=mesh,
            record=stem.with_name(stem.name + ".json"),
            checkpoint=stem.with_name(stem.name + ".ckpt"),
            config=stem.with_name(stem.name + ".config.yaml"),
            snapshots=stem.with_name(stem.name + ".snapshots"),
        )

    def check_writable(self, *, overwrite: bool, resume: bool) -> None:
        """Refuse to clobber an earlier run unless asked to.

        Raises
        ------
        OutputExistsError
            Without ``overwrite`` or ``resume``: the mesh, its checkpoint, run
            record, config or snapshot folder exists. (``resume`` continues that
            run and rewrites its files.)
        """
        if overwrite or resume:
            return
        if self.mesh.exists():
            raise OutputExistsError(f"{self.mesh}: already exists; pass --overwrite to replace it")
        if self.checkpoint.exists():
            raise OutputExistsError(
                f"{self.checkpoint}: a checkpoint of an earlier run exists; "
                "pass --resume to continue it or --overwrite to start over"
            )
        for sidecar in (self.record, self.config, self.snapshots):
            if sidecar.exists():
                raise OutputExistsError(f"{sidecar}: already exists (from an earlier run); "
                                        "pass --overwrite to replace it")


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
