"""Stage records: one JSON file per stage under ``OUT/stages``, written as a stage goes.

A record is ``{"name", "status", "seconds", "note", "data"}`` with ``status`` one of
:data:`STATUSES`. Measured stages rewrite their record after every item, so a stage
killed by its time box still leaves what it measured; the shell script then marks it
``timeout`` (:func:`mark`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATUSES = ("running", "ok", "failed", "timeout", "skipped", "not_implemented")
TIMEOUT_CODES = (124, 137)
"""Exit statuses of ``timeout`` when it stopped the command (137: after ``--kill-after``)."""


def out_dir() -> Path:
    """``$OUT``, or ``./gpu_check_out`` when unset."""
    return Path(os.environ.get("OUT") or "gpu_check_out").resolve()


def stage_path(out: Path, name: str) -> Path:
    return out / "stages" / f"{name}.json"


def read_stage(out: Path, name: str) -> dict[str, Any] | None:
    """The record of stage ``name``, or None when it has none (or an unreadable one)."""
    try:
        return json.loads(stage_path(out, name).read_text())
    except (OSError, ValueError):
        return None


def write_stage(out: Path, name: str, status: str, *, seconds: float | None = None, note: str = "",
                data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write (atomically) and return the record of stage ``name``."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    record = {"name": name, "status": status, "seconds": None if seconds is None else round(seconds, 2),
              "note": note, "data": data or {}}
    path = stage_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str))
    tmp.replace(path)
    return record


def log_tail(path: Path | None, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def mark(out: Path, name: str, *, rc: int | None, seconds: float, log: Path | None = None,
         skip: str = "", note: str = "") -> dict[str, Any]:
    """Record how a shell-run stage ended, keeping any data the stage wrote itself.

    ``skip`` (a reason) marks it skipped; otherwise ``rc`` decides: 0 keeps the stage's own
    status (``ok`` if it wrote none), a ``timeout`` exit status gives ``timeout``, anything
    else ``failed`` with the log's tail.
    """
    old = read_stage(out, name) or {}
    data = dict(old.get("data") or {})
    notes = [n for n in (old.get("note", ""), note) if n]
    if skip:
        status = "skipped"
        notes.append(skip)
    elif rc == 0:
        status = old.get("status") if old.get("status") not in (None, "running") else "ok"
    elif rc in TIMEOUT_CODES:
        status = "timeout"
        notes.append(f"stopped by its time box after {seconds:.0f} s; its record keeps what it finished")
    else:
        status = "failed"
        notes.append(f"exit status {rc}")
    if status in ("failed", "timeout") and log is not None:
        data["log_tail"] = log_tail(log)
    if log is not None:
        data["log"] = str(log)
    return write_stage(out, name, status, seconds=seconds, note="; ".join(notes), data=data)
