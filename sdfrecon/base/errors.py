"""Typed errors of the reconstruction library.

Callers (the CLI above all) catch these by type, never by message text. A
:class:`ReconError` reaching the CLI is printed as one line ``error: <msg>``
and the process exits with status 2.
"""

from __future__ import annotations

from pathlib import Path


class ReconError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code: int = 2
    """Process exit status the CLI uses for this error."""


class InputError(ReconError, ValueError):
    """A user input (file, array, option) cannot be used.

    Parameters
    ----------
    problem : str
        What is wrong, phrased to follow the file name (``"has no points"``).
    path : str or Path, optional
        The offending file; when given, the message starts with it.
    """

    def __init__(self, problem: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


class ConfigError(ReconError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range.

    The message starts with the dotted path of the key (``train.lr: ...``).
    """


class NoSurfaceError(ReconError):
    """The trained field has no zero level set inside the meshing box."""


class TrainingDivergedError(ReconError):
    """Training produced non-finite values and could not recover."""


class OutputExistsError(ReconError):
    """An output file exists and overwriting was not allowed."""


class TrainingInterrupted(ReconError):
    """Training stopped by Ctrl-C / SIGTERM after writing a checkpoint."""

    exit_code = 130

    def __init__(self, step: int, checkpoint: Path | None):
        self.step = step
        self.checkpoint = checkpoint
        where = f"; checkpoint saved to {checkpoint} (continue with --resume)" if checkpoint else ""
        super().__init__(f"interrupted at step {step}{where}")
