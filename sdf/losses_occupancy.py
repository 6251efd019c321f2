"""Loss terms on inside/outside labels: occupancy BCE (one output or every refinement loop) and the
logit-gradient hinge.

The labelled groups of a sampler (``probe.batch.labels[group]``, occupancy in
[0, 1]: 1 inside, 0 outside, 0.5 on the surface) supervise an occupancy logit,
positive inside. Where the logit comes from is the term's ``source``:

* ``logit`` -- output channel ``channel`` (1 by default) of a two-headed field
  (``field.outputs: 2``), times ``logit_scale``. A scale of ~100 lets a head that
  starts SDF-like (values ~0.1 in the unit frame) reach confident logits without
  first growing its weights a hundredfold; the meshed zero set is unchanged;
* ``sdf`` -- the signed distance (channel 0) read as a logit ``-f / temperature``,
  so occupancy is ``sigmoid(-f / T)``: the term then ties the SDF's sign to the
  labels (and works on any plain SDF network, e.g. for point clouds with
  inside/outside hints);
* ``auto`` -- ``logit`` when the field has a channel ``channel``, else ``sdf``.

The Occ-SDF hybrid for slices uses both: BCE on the logit head, and the same
term with ``source: sdf`` to keep the eikonal SDF head consistent with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch

from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.losses import LOSS_TERMS, LossTermConfig

LABELLED = ["plane", "band", "contour", "exterior"]


def _labelled_groups(probe: FieldProbe, groups: list[str]) -> list[str]:
    return [g for g in groups if g in probe.batch.labels and probe.has(g)]


def _use_sdf(source: str, channel: int, probe: FieldProbe) -> bool:
    if source == "auto":
        return probe.outputs.shape[1] <= channel
    if source == "logit" and probe.outputs.shape[1] <= channel:
        raise ConfigError(f"loss term source 'logit' reads output channel {channel}, but the field has "
                          f"{probe.outputs.shape[1]}; set field.outputs: {channel + 1} or source: sdf")
    return source == "sdf"


def occupancy_logit(probe: FieldProbe, groups: list[str], *, source: str = "auto", channel: int = 1,
                    temperature: float = 0.01, logit_scale: float = 1.0) -> torch.Tensor:
    """Occupancy logit (n,), positive inside, at the points of ``groups`` (see module doc)."""
    if _use_sdf(source, channel, probe):
        return -probe.sdf(groups) / temperature
    return logit_scale * probe.channel(channel, groups)


@dataclass
class OccupancyTermConfig(LossTermConfig):
    """Binary cross-entropy between the occupancy ``sigmoid(logit)`` and the labels."""

    name: str = "occupancy"
    groups: list[str] = field(default_factory=lambda: list(LABELLED))
    source: Literal["auto", "logit", "sdf"] = "auto"
    """Logit from output ``channel``, from the SDF as ``-f / temperature``, or ``auto``."""
    channel: int = 1
    """Output channel holding the logit."""
    temperature: float = 0.01
    """Length scale (unit frame) of ``sigmoid(-f / T)`` when the source is the SDF."""
    logit_scale: float = 1.0
    """Factor on the logit channel when the source is ``logit``."""

    def validate(self, path: str) -> None:
        if self.channel < 1:
            raise ConfigError(f"{path}.channel: the logit channel must be >= 1 (channel 0 is the SDF)")
        if not (self.temperature > 0 and self.logit_scale > 0):
            raise ConfigError(f"{path}: temperature and logit_scale must be > 0")


@LOSS_TERMS.register("occupancy", config_cls=OccupancyTermConfig)
def occupancy_term(cfg: OccupancyTermConfig, probe: FieldProbe) -> torch.Tensor | None:
    """``mean BCE(sigmoid(logit), label)`` over the labelled points of ``cfg.groups``; () tensor."""
    groups = _labelled_groups(probe, cfg.groups)
    if not groups:
        return None
    logit = occupancy_logit(probe, groups, source=cfg.source, channel=cfg.channel, temperature=cfg.temperature,
                            logit_scale=cfg.logit_scale)
    target = torch.cat([probe.batch.labels[g] for g in groups])
    return torch.nn.functional.binary_cross_entropy_with_logits(logit, target)


@dataclass
class LogitGradientTermConfig(LossTermConfig):
    """OReX's gradient hinge ``mean max(|grad logit| - max_slope, 0)``: bounds how steep the
    occupancy logit may get, so its zero set stays smooth (no marching-cubes ripples)."""

    name: str = "logit_gradient"
    groups: list[str] = field(default_factory=lambda: ["plane", "band", "uniform", "near"])
    source: Literal["auto", "logit", "sdf"] = "auto"
    """As for ``occupancy``."""
    channel: int = 1
    temperature: float = 0.01
    logit_scale: float = 1.0
    max_slope: float = 100.0
    """Allowed logit change per unit length (unit frame) before the hinge acts."""

    needs_gradient: ClassVar[bool] = True

    def validate(self, path: str) -> None:
        if self.channel < 1 or not (self.temperature > 0 and self.logit_scale > 0) or self.max_slope < 0:
            raise ConfigError(f"{path}: channel >= 1, temperature > 0, logit_scale > 0 and max_slope >= 0")


@LOSS_TERMS.register("logit_gradient", config_cls=LogitGradientTermConfig)
def logit_gradient_term(cfg: LogitGradientTermConfig, probe: FieldProbe) -> torch.Tensor | None:
    """``mean relu(|grad logit| - max_slope)`` over ``cfg.groups``; () tensor."""
    groups = [g for g in cfg.groups if probe.has(g)]
    if not groups:
        return None
    if _use_sdf(cfg.source, cfg.channel, probe):
        slope = probe.gradient(groups).norm(dim=1) / cfg.temperature
    else:
        slope = cfg.logit_scale * probe.channel_gradient(cfg.channel, groups).norm(dim=1)
    return torch.relu(slope - cfg.max_slope).mean()


@dataclass
class LoopOccupancyTermConfig(LossTermConfig):
    """OReX's loss on every refinement loop: the mean over output channels of
    ``BCE(sigmoid(-channel / temperature), label)``, each channel being one loop's
    logit scaled like an SDF (negative inside; see :mod:`sdfrecon.sdf.orex_network`)."""

    name: str = "loop_occupancy"
    groups: list[str] = field(default_factory=lambda: list(LABELLED))
    channels: list[int] = field(default_factory=list)
    """Output channels averaged over; empty = every channel the field has."""
    temperature: float = 0.01
    """Scale turning a channel back into a logit (the network's ``output_scale``)."""

    def validate(self, path: str) -> None:
        if not self.temperature > 0:
            raise ConfigError(f"{path}.temperature: must be > 0")
        if any(c < 0 for c in self.channels):
            raise ConfigError(f"{path}.channels: indices must be >= 0")


@LOSS_TERMS.register("loop_occupancy", config_cls=LoopOccupancyTermConfig)
def loop_occupancy_term(cfg: LoopOccupancyTermConfig, probe: FieldProbe) -> torch.Tensor | None:
    """``mean_c mean BCE(sigmoid(-f_c / T), label)`` over the labelled points of ``cfg.groups``; () tensor."""
    groups = _labelled_groups(probe, cfg.groups)
    if not groups:
        return None
    available = probe.outputs.shape[1]
    channels = cfg.channels or list(range(available))
    if max(channels) >= available:
        raise ConfigError(f"loss term loop_occupancy reads channel {max(channels)}, but the field has {available} "
                          "outputs (set field.outputs to the network's loops)")
    target = torch.cat([probe.batch.labels[g] for g in groups])
    losses = [torch.nn.functional.binary_cross_entropy_with_logits(-probe.channel(c, groups) / cfg.temperature,
                                                                   target) for c in channels]
    return torch.stack(losses).mean()
