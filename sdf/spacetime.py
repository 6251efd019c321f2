"""A space-time neural field ``f(x, t)`` and its initialisation from a trained SDF.

``SpaceTimeField(xt: (N, 4)) -> (N, C)``: columns 0-2 of ``xt`` are the position
(unit frame), column 3 the evolution time ``t``. The position goes through the
spatial encoding; the time, divided by ``time_scale`` so that the trained range
maps to about [0, 1], is appended as one more network input. Channel 0 is the
signed distance (negative inside) at time ``t``.

Initialisation from a trained field (Novello et al., "Neural Implicit Surface
Evolution", ICCV 2023): the network keeps the trained weights and gets one extra
input column, for time, whose weights start at zero -- so at the start
``f(x, t) = g(x)`` for every ``t`` exactly, and training only has to learn how
the shape changes, not the shape itself.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.encodings import ENCODINGS
from sdfrecon.sdf.fields import FieldConfig, NeuralField
from sdfrecon.sdf.networks import NETWORKS


class SpaceTimeField(nn.Module):
    """Encoding of ``x`` + time column -> network; ``forward(xt: (N, 4)) -> (N, outputs)``.

    Parameters
    ----------
    encoding : nn.Module
        Spatial encoding, ``(N, 3) -> (N, D)``.
    network : nn.Module
        ``(N, D + 1) -> (N, outputs)``; its last input column is the scaled time.
    time_scale : float
        Evolution time that maps to network input 1 (the length of the trained range).
    """

    def __init__(self, encoding: nn.Module, network: nn.Module, time_scale: float):
        super().__init__()
        if not time_scale > 0:
            raise ConfigError(f"time scale must be > 0, got {time_scale}")
        self.encoding = encoding
        self.network = network
        self.time_scale = float(time_scale)

    def forward(self, xt: torch.Tensor) -> torch.Tensor:
        features = self.encoding(xt[:, :3])
        return self.network(torch.cat([features, xt[:, 3:4] / self.time_scale], dim=1))

    def sdf(self, xt: torch.Tensor) -> torch.Tensor:
        """Signed distance (channel 0) at the space-time points ``xt`` (N, 4), (N,)."""
        return self.forward(xt)[:, 0]

    def at_time(self, t: float) -> Callable[[torch.Tensor], torch.Tensor]:
        """The spatial field ``x (N, 3) -> f(x, t) (N,)`` at time ``t`` (for meshing)."""

        def field_at(x: torch.Tensor) -> torch.Tensor:
            column = torch.full((len(x), 1), float(t), dtype=x.dtype, device=x.device)
            return self.forward(torch.cat([x, column], dim=1))[:, 0]

        return field_at


def _frozen_encoding(encoding: nn.Module) -> nn.Module:
    """A copy of a trained encoding with any coarse-to-fine schedule switched off
    (all octaves on), so the trainer's progress hooks cannot fade features out again."""
    encoding = copy.deepcopy(encoding)
    for module in encoding.modules():
        if hasattr(module, "anneal_until"):
            module.anneal_until = 0.0
        window = getattr(module, "window", None)
        if isinstance(window, torch.Tensor):
            with torch.no_grad():
                window.fill_(1.0)
    return encoding


def extend_with_time(trained: NeuralField, field_cfg: FieldConfig, time_scale: float) -> SpaceTimeField:
    """A space-time field that equals ``trained`` at every time (the paper's initialisation).

    The network of ``field_cfg`` is rebuilt with one more input; every weight matrix
    that reads the network input (the first layer, and skip layers, which append the
    input after their hidden features) gets the trained values plus a zero column for
    time. Any network whose layers read the input that way works (``mlp``,
    ``siren``, ``quadratic``).

    Parameters
    ----------
    trained : NeuralField
        The trained spatial field (its weights are copied, not shared).
    field_cfg : FieldConfig
        The config ``trained`` was built from.
    time_scale : float
        See :class:`SpaceTimeField`.

    Returns
    -------
    SpaceTimeField
        On the device of ``trained``.

    Raises
    ------
    ConfigError
        The network's parameters do not map one-to-one after adding the time input.
    """
    encoding = _frozen_encoding(trained.encoding)
    device = next(trained.parameters()).device
    network = NETWORKS.build(field_cfg.network, in_dim=encoding.out_dim + 1, out_dim=field_cfg.outputs).to(device)
    old = trained.network.state_dict()
    new = network.state_dict()
    if set(old) != set(new):
        raise ConfigError("cannot add a time input to this network: its parameters change names")
    padded = {}
    for name, value in old.items():
        target = new[name]
        if target.shape == value.shape:
            padded[name] = value.clone()
        elif value.ndim == 2 and target.shape == (value.shape[0], value.shape[1] + 1):
            padded[name] = torch.cat([value, torch.zeros_like(value[:, :1])], dim=1)
        else:
            raise ConfigError(f"cannot add a time input to this network: {name} changes from "
                              f"{tuple(value.shape)} to {tuple(target.shape)}")
    network.load_state_dict(padded)
    return SpaceTimeField(encoding, network, time_scale)


def build_space_time_field(field_cfg: FieldConfig, time_scale: float, *, device: torch.device | str = "cpu",
                           seed: int = 0) -> SpaceTimeField:
    """A freshly initialised space-time field of the encoding and network of ``field_cfg``.

    With the geometric initialisations the extra (time) input starts switched off like
    the encoded features, so the field starts as the same sphere at every time.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoding = ENCODINGS.build(field_cfg.encoding, device=torch.device(device), seed=seed)
        network = NETWORKS.build(field_cfg.network, in_dim=encoding.out_dim + 1, out_dim=field_cfg.outputs)
    return SpaceTimeField(encoding, network, time_scale).to(device)
