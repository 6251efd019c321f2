"""Velocity fields ``v(x, t)`` that deform a surface through the level-set equation.

A field maps positions ``x`` (N, 3) in the evolution's unit frame (the shape's
bounding box fills about [-1, 1]^3) and times ``t`` (N, 1) to velocities (N, 3),
unit-frame lengths per unit of evolution time. Built-ins are chosen by name
(``VECTOR_FIELDS``); ``file`` loads ``v(x, t)`` from a user's Python file.

``twist`` and ``bend`` are divergence-free, so they keep the enclosed volume.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import torch

from sdfrecon.base.configtools import ComponentConfig
from sdfrecon.base.errors import ConfigError, InputError
from sdfrecon.base.registry import Registry

VECTOR_FIELDS: Registry = Registry("vector field", providers="sdfrecon.sdf")

VectorField = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``v(x: (N, 3), t: (N, 1)) -> (N, 3)``."""


@dataclass
class VectorFieldConfig(ComponentConfig):
    """Base of velocity-field configs (chosen by ``name``)."""

    name: str = "twist"
    registry: ClassVar[Registry] = VECTOR_FIELDS


def _unit(vector: tuple[float, float, float] | list[float], path: str) -> torch.Tensor:
    v = torch.tensor([float(c) for c in vector], dtype=torch.float32)
    if v.shape != (3,) or not float(v.norm()) > 0:
        raise ConfigError(f"{path}: needs three numbers, not all zero; got {list(vector)}")
    return v / v.norm()


@dataclass
class TranslateFieldConfig(VectorFieldConfig):
    """A constant velocity: the surface moves rigidly by ``velocity * t``."""

    name: str = "translate"
    velocity: list[float] = field(default_factory=lambda: [0.5, 0.0, 0.0])
    """Velocity (vx, vy, vz), unit-frame lengths per unit time."""

    def validate(self, path: str) -> None:
        if len(self.velocity) != 3:
            raise ConfigError(f"{path}.velocity: needs three numbers, got {self.velocity}")


@VECTOR_FIELDS.register("translate", config_cls=TranslateFieldConfig)
def build_translate(cfg: TranslateFieldConfig) -> VectorField:
    velocity = torch.tensor(cfg.velocity, dtype=torch.float32)

    def translate(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return velocity.to(x).expand(len(x), 3)

    return translate


@dataclass
class TwistFieldConfig(VectorFieldConfig):
    """Rotation about ``axis`` whose angular speed grows linearly along it:
    ``v = rate * (a.x - base) * (a x x)``, so slices across the axis turn by
    ``rate * (height - base) * t`` radians (the paper's twist: ``rate 2``, ``base -1``, axis y)."""

    name: str = "twist"
    axis: list[float] = field(default_factory=lambda: [0.0, 1.0, 0.0])
    """Twist axis through the origin (normalised)."""
    rate: float = math.pi / 2
    """Radians per unit time per unit height above ``base``."""
    base: float = -1.0
    """Height along the axis that does not turn (the bottom of the shape by default)."""

    def validate(self, path: str) -> None:
        _unit(self.axis, f"{path}.axis")


@VECTOR_FIELDS.register("twist", config_cls=TwistFieldConfig)
def build_twist(cfg: TwistFieldConfig) -> VectorField:
    axis = _unit(cfg.axis, "twist.axis")

    def twist(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = axis.to(x)
        height = x @ a - cfg.base
        return cfg.rate * height[:, None] * torch.linalg.cross(a.expand_as(x), x, dim=1)

    return twist


@dataclass
class BendFieldConfig(VectorFieldConfig):
    """Bend a shape lying along ``axis`` towards ``direction``: ``v = rate * (a.x)^2 * d``,
    a parabolic bend whose ends move ``rate * t`` per unit squared distance from the middle."""

    name: str = "bend"
    axis: list[float] = field(default_factory=lambda: [1.0, 0.0, 0.0])
    """The shape's long axis (normalised)."""
    direction: list[float] = field(default_factory=lambda: [0.0, 1.0, 0.0])
    """Bending direction (normalised; its part along ``axis`` is removed)."""
    rate: float = 0.5
    """Displacement speed at unit distance along ``axis`` from the middle."""

    def validate(self, path: str) -> None:
        a = _unit(self.axis, f"{path}.axis")
        d = _unit(self.direction, f"{path}.direction")
        if float((d - (d @ a) * a).norm()) < 1e-6:
            raise ConfigError(f"{path}.direction: must not be parallel to axis")


@VECTOR_FIELDS.register("bend", config_cls=BendFieldConfig)
def build_bend(cfg: BendFieldConfig) -> VectorField:
    axis = _unit(cfg.axis, "bend.axis")
    direction = _unit(cfg.direction, "bend.direction")
    direction = direction - (direction @ axis) * axis
    direction = direction / direction.norm()  # perpendicular: v does not depend on its own coordinate

    def bend(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        along = x @ axis.to(x)
        return cfg.rate * along.pow(2)[:, None] * direction.to(x)

    return bend


@dataclass
class FileFieldConfig(VectorFieldConfig):
    """``v(x, t)`` defined in a Python file: ``def v(x, t)`` taking torch tensors
    ``x`` (N, 3) and ``t`` (N, 1) (unit frame) and returning (N, 3) velocities."""

    name: str = "file"
    path: str = ""
    """The Python file defining ``v``."""
    function: str = "v"
    """Name of the function in that file."""

    def validate(self, path: str) -> None:
        if not self.path:
            raise ConfigError(f"{path}.path: name the Python file that defines {self.function}(x, t)")


@VECTOR_FIELDS.register("file", config_cls=FileFieldConfig)
def build_file_field(cfg: FileFieldConfig) -> VectorField:
    fn = load_vector_field_file(cfg.path, cfg.function)
    return fn


def load_vector_field_file(path: str | Path, function: str = "v") -> VectorField:
    """Import ``function`` from the Python file ``path`` and check it on a few points.

    Raises
    ------
    InputError
        Missing file, an error while importing it, no such function, or a function
        that does not return finite (N, 3) velocities for (N, 3) positions and (N, 1) times.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such vector-field file", path)
    if path.suffix != ".py":
        raise InputError("a vector-field file must be a Python file (.py) defining v(x, t)", path)
    spec = importlib.util.spec_from_file_location(f"sdfrecon_user_field_{abs(hash(str(path.resolve())))}", path)
    if spec is None or spec.loader is None:
        raise InputError("cannot be imported as a Python module", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code may raise anything
        raise InputError(f"raised {type(exc).__name__} while importing: {exc}", path) from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise InputError(f"defines no function {function}(x, t)", path)
    probe_x = torch.tensor([[0.0, 0.0, 0.0], [0.5, -0.25, 0.125], [-0.5, 0.5, -0.75]])
    probe_t = torch.tensor([[0.0], [0.5], [1.0]])
    try:
        out = fn(probe_x, probe_t)
    except Exception as exc:
        raise InputError(f"{function}(x, t) raised {type(exc).__name__}: {exc}", path) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (3, 3):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(f"{function}(x, t) must return a torch tensor of shape (N, 3) for x (N, 3), t (N, 1); "
                         f"got {shape} for N = 3", path)
    if not bool(torch.isfinite(out).all()):
        raise InputError(f"{function}(x, t) returned non-finite velocities", path)
    return fn


def advect(points: torch.Tensor, times: torch.Tensor, velocity: VectorField, steps: int = 8) -> torch.Tensor:
    """Move ``points`` (N, 3) along ``velocity`` from time 0 to ``times`` (N, 1) (midpoint rule).

    Used to place training samples near where the surface will be at later times.
    """
    x = points
    dt = times / steps
    for k in range(steps):
        t = dt * k
        half = x + 0.5 * dt * velocity(x, t)
        x = x + dt * velocity(half, t + 0.5 * dt)
    return x
