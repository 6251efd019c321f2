"""Atomic checkpoint files.

A checkpoint is one ``torch.save`` dictionary: model, optimiser, scheduler and
sampler-generator state, the step counter, the resolved config and the
world<->unit normalisation. It is written to a temporary file in the target
directory and renamed over the old one, so a crash mid-write never leaves a
half-written checkpoint behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from sdfrecon.base.atomic import atomic_write
from sdfrecon.base.errors import ConfigError, InputError

FORMAT_VERSION = 1

RESUMABLE_KEYS = ("mesh", "device")
"""Top-level config keys that may change when a run is resumed (the rest is the checkpoint's)."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temp file + rename)."""
    atomic_write(path, lambda fh: torch.save({"format_version": FORMAT_VERSION, **state}, fh))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    InputError
        Missing, unreadable or not a checkpoint of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such checkpoint file", path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise InputError(f"is not a readable checkpoint ({type(exc).__name__})", path) from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise InputError(f"is not an sdfrecon checkpoint (format version {FORMAT_VERSION})", path)
    return state


def load_for_resume(path: str | Path, overrides: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The checkpoint at ``path``, for ``--resume``, after checking ``overrides`` change only
    :data:`RESUMABLE_KEYS`.

    Raises
    ------
    ConfigError
        No checkpoint there, or ``overrides`` change more than mesh and device options.
    InputError
        Not a readable checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"--resume: no checkpoint {path} to continue")
    changed = sorted(k for o in overrides for k in o if k not in RESUMABLE_KEYS)
    if changed:
        raise ConfigError(f"--resume: only mesh and device options may change, not {', '.join(changed)}")
    return load_checkpoint(path)
