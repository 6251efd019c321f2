"""Schedules as data: loss weights (and other scalars) that change over training.

A weight in a config is either a number or a piecewise-linear schedule whose
knots are ``[fraction_of_training, value]`` pairs, e.g. StEik's divergence
annealing::

    div: {weight: {knots: [[0, 100], [0.2, 100], [0.4, 0]]}}

Before the first knot the first value holds, after the last knot the last
value holds. Evaluation is side-effect free.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdfrecon.base.errors import ConfigError


@dataclass(frozen=True)
class Schedule:
    """Piecewise-linear schedule over the fraction of training done."""

    knots: list[tuple[float, float]]
    """``[fraction, value]`` pairs, fractions in [0, 1], non-decreasing."""

    def validate(self, path: str) -> None:
        if not self.knots:
            raise ConfigError(f"{path}.knots: needs at least one [fraction, value] pair")
        fractions = [k[0] for k in self.knots]
        if any(not 0.0 <= f <= 1.0 for f in fractions):
            raise ConfigError(f"{path}.knots: fractions must lie in [0, 1], got {fractions}")
        if any(b < a for a, b in zip(fractions, fractions[1:])):
            raise ConfigError(f"{path}.knots: fractions must not decrease, got {fractions}")

    def value_at(self, fraction: float) -> float:
        """Value at ``fraction`` (0 = start, 1 = end of training)."""
        knots = self.knots
        if fraction <= knots[0][0]:
            return float(knots[0][1])
        for (f0, v0), (f1, v1) in zip(knots, knots[1:]):
            if fraction <= f1:
                if f1 == f0:
                    return float(v1)
                t = (fraction - f0) / (f1 - f0)
                return float(v0 + t * (v1 - v0))
        return float(knots[-1][1])


Weight = float | Schedule
"""A constant or a schedule; see :func:`weight_at`."""


def weight_at(weight: Weight, step: int, total_steps: int) -> float:
    """Value of ``weight`` at iteration ``step`` of ``total_steps``."""
    if isinstance(weight, Schedule):
        return weight.value_at(step / max(total_steps, 1))
    return float(weight)


def is_always_zero(weight: Weight) -> bool:
    """True when the weight is 0 throughout training (its term can be skipped)."""
    if isinstance(weight, Schedule):
        return all(v == 0 for _, v in weight.knots)
    return weight == 0
