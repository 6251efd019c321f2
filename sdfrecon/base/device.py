"""Choosing the compute device."""

from __future__ import annotations

import torch

from sdfrecon.base.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA if available else CPU; ``cpu``/``cuda``/``cuda:N`` checked.

    Raises
    ------
    ConfigError
        Unknown device name, or CUDA asked for but not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device: unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {name!r} requested but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device: {name!r} requested but only {torch.cuda.device_count()} GPU(s) exist")
    elif device.type != "cpu":
        raise ConfigError(f"device: unsupported device type {device.type!r}; use auto, cpu, cuda or cuda:N")
    return device
