"""Loss terms and their weighted combination.

Each term is a small function ``term(cfg, probe) -> scalar`` returning an
*unweighted* value, registered by name with its config dataclass. A config's
``loss.terms`` maps a key to a term config; the key is the term's name unless
the entry gives ``name:`` (so one term type can appear twice, on different
groups). A weight is a number or a :class:`~sdfrecon.sdf.schedules.Schedule`; a term
whose weight is 0 at a step is not evaluated at that step.

Groups (``surface``, ``uniform``, ``near``, ...) are the sampler's; see
:mod:`sdfrecon.datasets.sampling`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch

from sdfrecon.base.configtools import ComponentConfig
from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.base.registry import Registry
from sdfrecon.sdf.schedules import Schedule, is_always_zero, weight_at

LOSS_TERMS: Registry = Registry("loss term", providers="sdfrecon.sdf")

OFF_SURFACE = ["uniform", "near"]
ALL_POINTS = ["surface", "uniform", "near"]


@dataclass
class LossTermConfig(ComponentConfig):
    """Base of loss-term configs: a weight and the sample groups it applies to."""

    name: str = ""
    weight: float | Schedule = 1.0
    """Multiplier, constant or scheduled over the fraction of training done."""
    groups: list[str] = field(default_factory=lambda: list(ALL_POINTS))
    """Sample groups the term is averaged over."""

    registry: ClassVar[Registry] = LOSS_TERMS
    needs_gradient: ClassVar[bool] = False
    """Whether the term differentiates the field with respect to its input."""
    needs_input_graph: ClassVar[bool] = False
    """Whether it needs autograd w.r.t. the input beyond the SDF gradient (second
    derivatives, gradients of other channels)."""


# ----------------------------------------------------------------------- terms


@dataclass
class SurfaceTermConfig(LossTermConfig):
    """``mean |f(x)|`` on surface samples: the surface passes through the input."""

    name: str = "surface"
    groups: list[str] = field(default_factory=lambda: ["surface"])


@LOSS_TERMS.register("surface", config_cls=SurfaceTermConfig)
def surface_term(cfg: SurfaceTermConfig, probe: FieldProbe) -> torch.Tensor:
    return probe.sdf(cfg.groups).abs().mean()


@dataclass
class OffSurfaceTermConfig(LossTermConfig):
    """``mean exp(-alpha |f(x)|)``: no spurious zero level set away from the data."""

    name: str = "offsurface"
    groups: list[str] = field(default_factory=lambda: ["uniform"])
    alpha: float = 100.0
    """Decay rate, 1/unit-frame length (SIREN/StEik use 100)."""
    known_sign: bool = True
    """Where the sampler knows a sample's side (``sampler.flood_fill`` outside,
    ``flood_inside`` inside), push away from zero on that side only: ``exp(-alpha
    max(s f, 0))`` with s = +1 outside, -1 inside. A sample on the wrong side then sits at
    the term's maximum with no gradient, and ``clearance`` pulls it across. The two-sided
    barrier held it there instead: at f = -0.03 its push away from zero equals clearance's
    pull (the default's weights), and a hollow box seen through a window kept its cavity
    solid and its walls hollow. Samples on their side, and unlabelled ones, get the same
    value as with ``false``."""


def known_sign(batch, groups: list[str]) -> torch.Tensor | None:
    """(N,) +1 where the sampler labelled a sample of ``groups`` outside, -1 inside, 0
    unknown, in the order of ``torch.cat`` over ``groups``; None when it labelled none."""
    if not any(g in batch.outside or g in batch.inside for g in groups):
        return None
    signs = []
    for g in groups:
        sign = torch.zeros(batch.points[g].shape[0], device=batch.points[g].device)
        if g in batch.outside:
            sign = torch.where(batch.outside[g], torch.ones_like(sign), sign)
        if g in batch.inside:
            sign = torch.where(batch.inside[g] > 0, -torch.ones_like(sign), sign)
        signs.append(sign)
    return torch.cat(signs)


@LOSS_TERMS.register("offsurface", config_cls=OffSurfaceTermConfig)
def offsurface_term(cfg: OffSurfaceTermConfig, probe: FieldProbe) -> torch.Tensor:
    value = probe.sdf(cfg.groups)
    away = value.abs()
    sign = known_sign(probe.batch, cfg.groups) if cfg.known_sign else None
    if sign is not None:
        away = torch.where(sign != 0, (sign * value).clamp_min(0.0), away)
    return torch.exp(-cfg.alpha * away).mean()


@dataclass
class EikonalTermConfig(LossTermConfig):
    """Unit gradient norm: ``mean (|grad f| - 1)^p``, p = 2 (``l2``) or 1 (``l1``)."""

    name: str = "eikonal"
    norm: Literal["l1", "l2"] = "l2"
    """Penalty on the norm deviation (StEik/DiGS use l1, IGR l2)."""

    needs_gradient: ClassVar[bool] = True


@LOSS_TERMS.register("eikonal", config_cls=EikonalTermConfig)
def eikonal_term(cfg: EikonalTermConfig, probe: FieldProbe) -> torch.Tensor:
    deviation = probe.gradient(cfg.groups).norm(dim=1) - 1.0
    return deviation.abs().mean() if cfg.norm == "l1" else deviation.pow(2).mean()


@dataclass
class NormalTermConfig(LossTermConfig):
    """Gradient alignment with input normals where the input has them."""

    name: str = "normal"
    groups: list[str] = field(default_factory=lambda: ["surface"])
    mode: Literal["oriented", "unoriented", "difference", "auto"] = "oriented"
    """``oriented``: 1 - cos; ``unoriented``: 1 - |cos| (normals of unknown sign);
    ``difference``: |grad f - n| (IGR); ``auto``: oriented when the sampler trusts
    the normals' signs, else unoriented."""

    needs_gradient: ClassVar[bool] = True


@LOSS_TERMS.register("normal", config_cls=NormalTermConfig)
def normal_term(cfg: NormalTermConfig, probe: FieldProbe) -> torch.Tensor | None:
    groups = [g for g in cfg.groups if g in probe.batch.normals]
    if not groups:
        return None  # the input has no normals
    target = torch.cat([probe.batch.normals[g] for g in groups])
    grad = probe.gradient(groups)
    if cfg.mode == "difference":
        return (grad - target).norm(dim=1).mean()
    cos = torch.nn.functional.cosine_similarity(grad, target, dim=1, eps=1e-8)
    unoriented = cfg.mode == "unoriented" or (cfg.mode == "auto" and not probe.batch.oriented)
    return (1.0 - (cos.abs() if unoriented else cos)).mean()


@dataclass
class DistanceTermConfig(LossTermConfig):
    """Regression on precomputed distances to the input surface (the sampler's
    ``distance_targets``): ``mean |f - d|`` when the distances are signed (trusted
    normals on a dense enough cloud, ``sampler.distance_max_spacing``), and with
    ``unsigned: true`` ``mean ||f| - d|`` when not (SAL's sign-agnostic loss).
    First-order, so cheap; it fits the shape in few steps."""

    name: str = "distance"
    groups: list[str] = field(default_factory=lambda: ["near", "uniform"])
    unsigned: bool = False
    """Also train on unsigned distances when the normals' signs are unknown. Off by
    default: a sign-agnostic fit from a sphere can settle on |f| = d with f >= 0
    around handles and thin parts (measured: genus-4 fertility lost its holes)."""
    clamp: float = 0.1
    """Targets are clamped to +-this, unit frame: farther from the data the target is
    only a bound (a value beyond it on the same side costs nothing), and the eikonal
    term shapes the field there."""


@LOSS_TERMS.register("distance", config_cls=DistanceTermConfig)
def distance_term(cfg: DistanceTermConfig, probe: FieldProbe) -> torch.Tensor | None:
    groups = [g for g in cfg.groups if g in probe.batch.distances]
    if not groups:
        return None
    signed = probe.batch.oriented and probe.batch.signed_distances
    if not signed and not cfg.unsigned:
        return None
    distance = torch.cat([probe.batch.distances[g] for g in groups])
    value = probe.sdf(groups)
    if not signed:
        value, distance = value.abs(), distance.abs()
    target = distance.clamp(-cfg.clamp, cfg.clamp)
    # Beyond the clamp the target is a bound: a value past it on the same side costs nothing.
    satisfied = (distance.abs() >= cfg.clamp) & (value * torch.sign(target) >= cfg.clamp)
    return torch.where(satisfied, torch.zeros_like(value), (value - target).abs()).mean()


@dataclass
class ClearanceTermConfig(LossTermConfig):
    """No surface where there are no data: ``mean relu(c - |f|)`` with the clearance
    ``c = |d| - margin * s``, the sample's distance ``d`` to the input surface less
    ``margin`` times the local point spacing ``s`` (the sampler's ``distance_targets``).
    Sign-agnostic, so it holds for any input; it stops membranes across gaps, under
    tables and through handles that surface and eikonal terms alone tolerate, and
    leaves the band near the data (where the spacing says a surface may pass) free.
    Samples the sampler knows to be outside (``sampler.flood_fill``) want ``f >= c``
    instead of ``|f| >= c``; samples it knows to lie at least ``depth`` inside
    (``sampler.flood_inside``) want ``f <= -max(c, depth)``."""

    name: str = "clearance"
    groups: list[str] = field(default_factory=lambda: ["near", "uniform"])
    margin: float = 2.0
    """Free band around the data, in units of the local point spacing."""


@LOSS_TERMS.register("clearance", config_cls=ClearanceTermConfig)
def clearance_term(cfg: ClearanceTermConfig, probe: FieldProbe) -> torch.Tensor | None:
    groups = [g for g in cfg.groups if g in probe.batch.distances]
    if not groups:
        return None
    distance = torch.cat([probe.batch.distances[g] for g in groups]).abs()
    spacing = torch.cat([probe.batch.spacing[g] for g in groups])
    clearance = (distance - cfg.margin * spacing).clamp_min(0.0)
    value = probe.sdf(groups)
    signed = value.abs()
    sign = known_sign(probe.batch, groups)
    if sign is not None:
        # Known outside (flood fill): positive, not just away from zero; known inside: negative.
        signed = torch.where(sign != 0, sign * value, signed)
    if any(g in probe.batch.inside for g in groups):
        # Known inside, at least ``depth`` behind the surface: by at least that much.
        depth = torch.cat([probe.batch.inside[g] if g in probe.batch.inside else
                           torch.zeros_like(probe.batch.distances[g]) for g in groups])
        clearance = torch.where(depth > 0, torch.maximum(clearance, depth), clearance)
    return torch.relu(clearance - signed).mean()


@dataclass
class DirectionalDivergenceTermConfig(LossTermConfig):
    """StEik: the second derivative of f along its own gradient direction,
    ``div = g.(H g) / (|g|^2 + 1e-5)`` with ``g = grad f``; ``mean |div|`` (l1)
    or ``mean div^2`` (l2). Penalises curvature of the level sets' normal field
    only along the normal, which stabilises eikonal training without smoothing
    the surface itself. One Hessian-vector product per point, no full Hessian."""

    name: str = "steik"
    groups: list[str] = field(default_factory=lambda: ["uniform"])
    norm: Literal["l1", "l2"] = "l1"
    """StEik's SRB scripts use ``dir_l1``."""

    needs_gradient: ClassVar[bool] = True
    needs_input_graph: ClassVar[bool] = True


@LOSS_TERMS.register("steik", config_cls=DirectionalDivergenceTermConfig)
def directional_divergence_term(cfg: DirectionalDivergenceTermConfig, probe: FieldProbe) -> torch.Tensor:
    grad = probe.gradient(cfg.groups)
    hg = probe.hessian_gradient(cfg.groups)
    div = (grad * hg).sum(dim=1) / (grad.pow(2).sum(dim=1) + 1e-5)
    return div.abs().mean() if cfg.norm == "l1" else div.pow(2).mean()


@dataclass
class LaplacianDivergenceTermConfig(LossTermConfig):
    """DiGS: divergence of the gradient (the Laplacian of f), clamped:
    ``mean clamp(|lap f|, 0.1, 50)`` (l1) or ``mean clamp(lap f^2, 0.1, 50)`` (l2);
    non-finite values count as 0, as in the reference code."""

    name: str = "divergence"
    groups: list[str] = field(default_factory=lambda: ["uniform"])
    norm: Literal["l1", "l2"] = "l1"
    clamp_min: float = 0.1
    clamp_max: float = 50.0

    needs_gradient: ClassVar[bool] = True
    needs_input_graph: ClassVar[bool] = True


@LOSS_TERMS.register("divergence", config_cls=LaplacianDivergenceTermConfig)
def laplacian_divergence_term(cfg: LaplacianDivergenceTermConfig, probe: FieldProbe) -> torch.Tensor:
    lap = torch.nan_to_num(probe.laplacian(cfg.groups), nan=0.0, posinf=0.0, neginf=0.0)
    value = lap.abs() if cfg.norm == "l1" else lap.pow(2)
    return value.clamp(cfg.clamp_min, cfg.clamp_max).mean()


# -------------------------------------------------------------------- combiner


def default_terms() -> dict[str, LossTermConfig]:
    """SIREN-style weights: surface 3000, off-surface 100, eikonal 50, normal 100."""
    return {
        "surface": SurfaceTermConfig(weight=3000.0),
        "offsurface": OffSurfaceTermConfig(weight=100.0),
        "eikonal": EikonalTermConfig(weight=50.0),
        "normal": NormalTermConfig(weight=100.0),
    }


@dataclass
class LossConfig:
    """The loss: a weighted sum of named terms."""

    terms: dict[str, LossTermConfig] = field(default_factory=default_terms)
    """Term key -> term config; the key is the term name unless ``name`` is set."""

    def validate(self, path: str) -> None:
        if all(is_always_zero(t.weight) for t in self.terms.values()):
            raise ConfigError(f"{path}.terms: every term has weight 0; nothing would be trained")


@dataclass
class LossValues:
    """One step's loss: the total to minimise, and each term before/after weighting."""

    total: torch.Tensor
    unweighted: dict[str, torch.Tensor]
    weighted: dict[str, torch.Tensor]

    def as_floats(self) -> dict[str, float]:
        """``loss/<key>``, ``weighted/<key>`` and ``loss/total`` as Python floats."""
        out = {"loss/total": float(self.total.detach())}
        out.update({f"loss/{k}": float(v.detach()) for k, v in self.unweighted.items()})
        out.update({f"weighted/{k}": float(v.detach()) for k, v in self.weighted.items()})
        return out


class LossSet:
    """Evaluates the configured terms at a training step and sums them.

    Parameters
    ----------
    cfg : LossConfig
    total_steps : int
        Training length, to evaluate scheduled weights.
    """

    def __init__(self, cfg: LossConfig, total_steps: int):
        self.terms = {k: t for k, t in cfg.terms.items() if not is_always_zero(t.weight)}
        self.total_steps = total_steps
        self._fns = {k: LOSS_TERMS.get(t.name).builder for k, t in self.terms.items()}

    @property
    def needs_gradient(self) -> bool:
        """Whether any active term differentiates the field w.r.t. its input."""
        return any(type(t).needs_gradient for t in self.terms.values())

    @property
    def needs_input_graph(self) -> bool:
        """Whether any active term needs autograd w.r.t. the input beyond grad f."""
        return any(type(t).needs_input_graph for t in self.terms.values())

    def weights_at(self, step: int) -> dict[str, float]:
        return {k: weight_at(t.weight, step, self.total_steps) for k, t in self.terms.items()}

    def __call__(self, probe: FieldProbe, step: int) -> LossValues:
        unweighted: dict[str, torch.Tensor] = {}
        weighted: dict[str, torch.Tensor] = {}
        for key, w in self.weights_at(step).items():
            if w == 0:
                continue
            value = self._fns[key](self.terms[key], probe)
            if value is None:
                continue
            unweighted[key] = value
            weighted[key] = w * value
        if not weighted:
            raise ConfigError("loss.terms: no term applies to this input at this step")
        total = torch.stack(list(weighted.values())).sum()
        return LossValues(total, unweighted, weighted)
