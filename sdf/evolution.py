"""Level-set evolution losses: train ``f(x, t)`` so its level sets move with speed ``V``.

The level-set equation (LSE) ``f_t + V |grad f| = 0`` moves every level set of
``f`` along its normal ``n = grad f / |grad f|`` with speed ``V`` (Novello et al.,
"Neural Implicit Surface Evolution", ICCV 2023). Training needs no shapes at
intermediate times: a data term pins ``f(., t_k)`` to the given SDFs at the times
of the initial conditions, and the LSE residual is penalised at sampled
space-time points. The speed chooses the operation (``SPEEDS``):

``mean_curvature``
    ``V = -scale * kappa`` with ``kappa = div n``, the *sum* of the principal
    curvatures (2/r on a sphere of radius r; negative inside convention, n
    outward). A sphere then shrinks as ``r(t)^2 = r0^2 - 4 scale t``. Smooths;
    ``reverse`` runs it backwards (sharpening; only stable for short times).
``vector_field``
    ``V = <v, n>`` for a velocity field ``v(x, t)``: the LSE becomes the transport
    equation ``f_t + v . grad f = 0`` (twist, bend, translate, a user's file).
``morph``
    ``V = -scale * (g(x) - f) * exp(-(f / width)^2)``, pulling ``f`` towards the
    target SDF ``g`` near the surface (the paper's interpolation speed); the data
    term fixes both end shapes.

Curvature uses the tested helpers of :mod:`sdfrecon.sdf.derivatives`:
``|grad f| kappa = lap f - g.(H g) / |g|^2`` with ``g`` the spatial gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import torch

from sdfrecon.base.configtools import ComponentConfig
from sdfrecon.base.errors import ConfigError
from sdfrecon.base.registry import Registry
from sdfrecon.sdf.derivatives import hessian_gradient_product, laplacian
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.losses import LossValues
from sdfrecon.sdf.schedules import Schedule, is_always_zero, weight_at
from sdfrecon.sdf.vector_fields import VECTOR_FIELDS, TwistFieldConfig, VectorFieldConfig, advect

SPEEDS: Registry = Registry("speed", providers="sdfrecon.sdf")

FLOW_GROUP = "flow"
"""Sample group of the space-time points where the LSE is enforced."""

_EPS = 1e-8


def data_group(k: int) -> str:
    """Sample group of initial condition ``k`` (points at its time, labelled with its SDF)."""
    return f"data{k}"


# ------------------------------------------------------------------ flow points


class FlowPoints:
    """The LSE points of one step: values and derivatives a speed may ask for.

    Parameters
    ----------
    probe : FieldProbe
        The step's field evaluation on space-time inputs ``(x, y, z, t)``.
    target : (n,) Tensor, optional
        Target SDF at the flow points (morph).
    """

    def __init__(self, probe: FieldProbe, target: torch.Tensor | None = None):
        self.probe = probe
        self.f = probe.sdf([FLOW_GROUP])
        grad4 = probe.gradient([FLOW_GROUP])
        self.grad = grad4[:, :3]
        """Spatial gradient, (n, 3)."""
        self.f_t = grad4[:, 3]
        """Time derivative, (n,)."""
        self.xt = probe.rows(probe.x, [FLOW_GROUP])
        self.target = target

    @property
    def x(self) -> torch.Tensor:
        """Positions (n, 3), unit frame."""
        return self.xt[:, :3].detach()

    @property
    def t(self) -> torch.Tensor:
        """Times (n, 1)."""
        return self.xt[:, 3:4].detach()

    def grad_norm(self) -> torch.Tensor:
        return self.grad.norm(dim=1)

    def curvature_times_norm(self) -> torch.Tensor:
        """``|grad f| * div(grad f / |grad f|) = lap f - g.(H g) / |g|^2``, (n,).

        Spatial derivatives only (the time column is left out); the derivative
        passes run over the whole batch (rows are independent, so the other
        groups' rows are simply discarded).
        """
        probe = self.probe
        spatial = probe.all_gradients()[:, :3]
        lap = probe.rows(laplacian(spatial, probe.x), [FLOW_GROUP])
        hg = probe.rows(hessian_gradient_product(spatial, probe.x)[:, :3], [FLOW_GROUP])
        g = self.grad
        return lap - (g * hg).sum(dim=1) / (g.pow(2).sum(dim=1) + _EPS)


def mean_curvature(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean curvature ``div(grad f / |grad f|)`` (sum of principal curvatures), (N,).

    Parameters
    ----------
    grad : (N, k >= 3) Tensor
        Gradient of ``f`` with respect to ``x`` built with ``create_graph=True``;
        the first three columns are spatial.
    x : (N, d) Tensor
        The input it was taken with respect to.
    """
    g = grad[:, :3]
    lap = laplacian(g, x)
    hg = hessian_gradient_product(g, x)[:, :3]
    norm2 = g.pow(2).sum(dim=1) + _EPS
    return (lap - (g * hg).sum(dim=1) / norm2) / norm2.sqrt()


# ----------------------------------------------------------------------- speeds


@dataclass
class SpeedConfig(ComponentConfig):
    """Base of speed configs (chosen by ``name``)."""

    name: str = "mean_curvature"
    weight: float | Schedule = 1000.0
    """Weight of the level-set residual in the loss (``loss.data`` weighs the shapes). The
    residual is measured per unit of *network* time (the trained range maps to [0, 1]), so
    the weight does not depend on the duration."""
    registry: ClassVar[Registry] = SPEEDS


class Speed:
    """A normal speed ``V``: the LSE residual ``f_t + V |grad f|`` at the flow points."""

    needs_target: bool = False
    """Whether :meth:`residual` needs the target SDF at the flow points (``FlowPoints.target``)."""
    needs_curvature: bool = False

    def residual(self, points: FlowPoints) -> torch.Tensor:
        raise NotImplementedError

    def advect(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Where surface points ``x`` (n, 3) at time 0 are at times ``t`` (n, 1), roughly
        (to place samples near the moving surface); default: where they were."""
        return x


@dataclass
class MeanCurvatureSpeedConfig(SpeedConfig):
    """Mean-curvature flow, ``V = -scale * kappa``: smoothing (``reverse``: sharpening)."""

    name: str = "mean_curvature"
    scale: float = 1.0
    """Flow rate; a sphere of radius r0 has radius sqrt(r0^2 - 4 scale t) at time t (unit frame)."""
    reverse: bool = False
    """Run the flow backwards in time (``V = +scale * kappa``): sharpens features; ill-posed,
    so keep the times short."""

    def validate(self, path: str) -> None:
        if not self.scale > 0:
            raise ConfigError(f"{path}.scale: must be > 0, got {self.scale}")


class MeanCurvatureSpeed(Speed):
    needs_curvature = True

    def __init__(self, cfg: MeanCurvatureSpeedConfig):
        self.rate = -cfg.scale if cfg.reverse else cfg.scale

    def residual(self, points: FlowPoints) -> torch.Tensor:
        # f_t + V |g| with V = -rate * kappa and |g| kappa from the Laplacian and H g.
        return points.f_t - self.rate * points.curvature_times_norm()


@SPEEDS.register("mean_curvature", config_cls=MeanCurvatureSpeedConfig)
def build_mean_curvature(cfg: MeanCurvatureSpeedConfig) -> MeanCurvatureSpeed:
    return MeanCurvatureSpeed(cfg)


@dataclass
class VectorFieldSpeedConfig(SpeedConfig):
    """Transport by a velocity field, ``V = <v, n>``."""

    name: str = "vector_field"
    field: VectorFieldConfig = field(default_factory=TwistFieldConfig)
    """The velocity field (``name: twist | bend | translate | file``)."""


class VectorFieldSpeed(Speed):
    def __init__(self, cfg: VectorFieldSpeedConfig):
        self.velocity = VECTOR_FIELDS.build(cfg.field)

    def residual(self, points: FlowPoints) -> torch.Tensor:
        v = self.velocity(points.x, points.t)
        return points.f_t + (v * points.grad).sum(dim=1)

    def advect(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return advect(x, t, self.velocity)


@SPEEDS.register("vector_field", config_cls=VectorFieldSpeedConfig)
def build_vector_field_speed(cfg: VectorFieldSpeedConfig) -> VectorFieldSpeed:
    return VectorFieldSpeed(cfg)


@dataclass
class MorphSpeedConfig(SpeedConfig):
    """Interpolation towards the last initial condition ``g``:
    ``V = -scale * (g - f) * exp(-(f / width)^2)``."""

    name: str = "morph"
    weight: float | Schedule = 1.0
    """Weight of the level-set residual: small, as in the paper (data 1e4, LSE 1e1) -- both ends
    are fixed by data and this speed only shapes the path between them."""
    scale: float = 1.0
    """How fast ``f`` is pulled towards the target, per unit time."""
    width: float = 1.0
    """Distance (unit frame) over which the pull fades away from the surface (paper: 1)."""

    def validate(self, path: str) -> None:
        if not self.scale > 0 or not self.width > 0:
            raise ConfigError(f"{path}: scale and width must be > 0")


class MorphSpeed(Speed):
    needs_target = True

    def __init__(self, cfg: MorphSpeedConfig):
        self.cfg = cfg

    def residual(self, points: FlowPoints) -> torch.Tensor:
        assert points.target is not None
        pull = (points.target - points.f) * torch.exp(-(points.f / self.cfg.width).pow(2))
        return points.f_t - self.cfg.scale * pull * points.grad_norm()


@SPEEDS.register("morph", config_cls=MorphSpeedConfig)
def build_morph(cfg: MorphSpeedConfig) -> MorphSpeed:
    return MorphSpeed(cfg)


# ------------------------------------------------------------------------- loss


@dataclass
class EvolutionLossConfig:
    """Weights of the evolution loss (each a number or a schedule)."""

    data: float | Schedule = 2000.0
    """``mean (f(x, t_k) - g_k(x))^2`` at the initial conditions' samples."""
    normal: float | Schedule = 10.0
    """``mean 1 - cos(grad f(x, t_k), grad g_k(x))`` at the same samples."""
    eikonal: float | Schedule = 0.0
    """``mean (|grad f| - 1)^2`` at the flow samples (keeps ``f`` distance-like; off by default)."""
    band: float = 0.1
    """LSE weight ``w = exp(-(f / band)^2)``: the zero level set matters most, and far level
    sets may collapse (a sphere's inner ones under curvature flow); 0 weighs all alike."""

    def validate(self, path: str) -> None:
        if self.band < 0:
            raise ConfigError(f"{path}.band: must be >= 0, got {self.band}")
        if is_always_zero(self.data):
            raise ConfigError(f"{path}.data: the data term is what ties f to the given shapes; it must not be 0")


class EvolutionLoss:
    """The evolution loss, evaluated like a :class:`~sdfrecon.sdf.losses.LossSet` by the trainer.

    Terms: ``data`` and ``normal`` (see :class:`EvolutionLossConfig`), ``level_set`` =
    ``mean w (T (f_t + V |grad f|))^2`` at the flow samples with ``T`` the time scale
    (the residual per unit of network time) and ``w`` the band weight, and ``eikonal``.

    Parameters
    ----------
    cfg : EvolutionLossConfig
    speed : Speed
    level_set_weight : float or Schedule
        Weight of the level-set term (the speed config's ``weight``).
    time_scale : float
        Evolution time per unit of network time (the trained duration).
    total_steps : int
        Training length (scheduled weights).
    data_groups : sequence of str
        The initial conditions' sample groups (see :func:`data_group`).
    """

    needs_gradient = False  # the trainer's analytic-gradient path is for spatial fields
    needs_input_graph = True

    def __init__(self, cfg: EvolutionLossConfig, speed: Speed, *, level_set_weight: float | Schedule,
                 time_scale: float, total_steps: int, data_groups: Sequence[str]):
        self.cfg = cfg
        self.speed = speed
        self.level_set_weight = level_set_weight
        self.time_scale = float(time_scale)
        self.total_steps = total_steps
        self.data_groups = list(data_groups)

    def __call__(self, probe: FieldProbe, step: int) -> LossValues:
        cfg = self.cfg
        weights = {k: weight_at(getattr(cfg, k), step, self.total_steps) for k in ("data", "normal", "eikonal")}
        weights["level_set"] = weight_at(self.level_set_weight, step, self.total_steps)
        unweighted: dict[str, torch.Tensor] = {}
        groups = self.data_groups
        batch = probe.batch
        if weights["data"]:
            target = torch.cat([batch.labels[g] for g in groups])
            unweighted["data"] = (probe.sdf(groups) - target).pow(2).mean()
        if weights["normal"]:
            target_n = torch.cat([batch.normals[g] for g in groups])
            grad = probe.gradient(groups)[:, :3]
            cos = torch.nn.functional.cosine_similarity(grad, target_n, dim=1, eps=1e-8)
            unweighted["normal"] = (1.0 - cos).mean()
        if (weights["level_set"] or weights["eikonal"]) and probe.has(FLOW_GROUP):
            points = FlowPoints(probe, batch.labels.get(FLOW_GROUP))
            if weights["level_set"]:
                residual = self.time_scale * self.speed.residual(points)
                if cfg.band > 0:
                    w = torch.exp(-(points.f.detach() / cfg.band).pow(2))
                    unweighted["level_set"] = (w * residual.pow(2)).mean()
                else:
                    unweighted["level_set"] = residual.pow(2).mean()
            if weights["eikonal"]:
                unweighted["eikonal"] = (points.grad_norm() - 1.0).pow(2).mean()
        weighted = {k: weights[k] * v for k, v in unweighted.items()}
        total = torch.stack(list(weighted.values())).sum()
        return LossValues(total, unweighted, weighted)
