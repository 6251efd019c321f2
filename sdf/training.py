"""The training loop: step counter, optimiser, clipping, guards and checkpoints.

Networks, samplers and loss terms are plugged in; the trainer owns everything
that is about time: which step it is, the learning-rate schedule, scheduled
loss weights, when to checkpoint, and what to do when a step goes non-finite
(roll back to the last good state and halve the learning rate).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal

import torch
from tqdm.auto import tqdm

from sdfrecon.datasets.sampling import Sampler
from sdfrecon.base.checkpoint import save_checkpoint
from sdfrecon.base.errors import ConfigError, TrainingDivergedError, TrainingInterrupted
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.losses import LossSet
from sdfrecon.sdf.optim import Adam
from sdfrecon.sdf.schedules import Schedule

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Optimisation settings."""

    iterations: int = 2000
    """Optimiser steps."""
    sparse_spacing: float = 0.0
    """Point clouds whose median point spacing (distance to the 8th nearest point, unit
    frame) exceeds this train for ``sparse_factor`` times ``iterations`` steps. Where the
    points are that far apart the mesh cannot be projected onto them (``mesh.refine``), so the
    field alone is the surface and it needs the extra steps; a step costs the same at any
    density. 0 never."""
    sparse_factor: float = 1.0
    """Step multiplier for clouds sparser than ``sparse_spacing``."""
    lr: float = 1e-3
    """Adam learning rate at the start."""
    lr_schedule: Schedule | None = None
    """Multiplier on ``lr`` over the fraction of training; None = constant."""
    lr_multipliers: dict[str, float] = field(default_factory=dict)
    """Per-module learning-rate factors by parameter-name prefix, e.g.
    ``{encoding: 10}`` trains hash-grid tables 10x faster than the MLP head."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam betas."""
    weight_decay: float = 0.0
    """Adam (L2) weight decay."""
    grad_clip: float = 10.0
    """Clip the global gradient norm to this value; 0 disables."""
    checkpoint_every: int = 500
    """Steps between checkpoints (also written at the end and on interrupt); 0 = only those."""
    gradient: Literal["autograd", "analytic", "auto"] = "autograd"
    """How grad f reaches eikonal/normal terms: ``autograd`` (double backward, any
    network), ``analytic`` (the MLP's reverse pass written out as ordinary operations,
    so training needs first-order backward only; ``mlp`` on ``none``/``fourier``/
    ``hashgrid`` encodings; see sdfrecon.sdf.analytic_gradient), or ``auto``
    (``analytic`` where the field supports it, else ``autograd``: a copy of a preset
    that swaps the network keeps working)."""
    compile: bool = False
    """torch.compile the analytic field evaluation (needs ``gradient: analytic`` and a
    C++ compiler; falls back to eager with a warning if compiling fails)."""
    guard_every: int = 50
    """Steps between in-memory snapshots used to recover from non-finite steps."""
    max_recoveries: int = 5
    """Give up after this many roll-backs."""

    @property
    def uses_spacing(self) -> bool:
        """Whether :meth:`fitted_to_spacing` can change these settings (as for encodings)."""
        return self.sparse_spacing > 0 and self.sparse_factor != 1.0

    def fitted_to_spacing(self, spacing: float) -> "TrainConfig":
        """These settings for a cloud of median point ``spacing`` (unit frame): the steps
        multiplied once for a sparse cloud (the result has ``sparse_factor`` 1, so fitting
        again changes nothing)."""
        if not (self.uses_spacing and spacing > self.sparse_spacing):
            return self
        return replace(self, iterations=int(round(self.iterations * self.sparse_factor)), sparse_factor=1.0)

    def validate(self, path: str) -> None:
        if self.iterations < 0:
            raise ConfigError(f"{path}.iterations: must be >= 0, got {self.iterations}")
        if not self.lr > 0:
            raise ConfigError(f"{path}.lr: must be > 0, got {self.lr}")
        if not (self.sparse_spacing >= 0 and self.sparse_factor > 0):
            raise ConfigError(f"{path}: sparse_spacing must be >= 0 and sparse_factor > 0, "
                              f"got {self.sparse_spacing} and {self.sparse_factor}")
        if not (len(self.betas) == 2 and all(0.0 <= b < 1.0 for b in self.betas)):
            raise ConfigError(f"{path}.betas: two values in [0, 1), got {list(self.betas)}")
        if self.weight_decay < 0:
            raise ConfigError(f"{path}.weight_decay: must be >= 0, got {self.weight_decay}")
        if self.grad_clip < 0 or self.checkpoint_every < 0 or self.guard_every < 1:
            raise ConfigError(f"{path}: grad_clip/checkpoint_every must be >= 0 and guard_every >= 1")
        if self.compile and self.gradient == "autograd":
            raise ConfigError(f"{path}.compile: needs gradient: analytic (torch.compile cannot double-backward)")


@dataclass
class TrainResult:
    """What a finished (or resumed-and-finished) training run reports."""

    steps: int
    seconds: float
    final_losses: dict[str, float]
    recoveries: list[dict[str, Any]] = field(default_factory=list)


class CompiledOrEager:
    """``torch.compile(fn)``, falling back to ``fn`` (with one warning) when compiling
    fails -- e.g. no C++ compiler on the machine."""

    def __init__(self, fn: Callable):
        self.eager = fn
        self.compiled: Callable | None = torch.compile(fn, dynamic=False)

    def __call__(self, *args: Any) -> Any:
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as exc:  # inductor/compiler failures have many types
                log.warning("torch.compile failed (%s); continuing without it", type(exc).__name__)
                self.compiled = None
        return self.eager(*args)


def parameter_groups(model: torch.nn.Module, multipliers: dict[str, float]) -> list[dict[str, Any]]:
    """Adam parameter groups: parameters whose name starts with a key of
    ``multipliers`` (longest match wins) get that learning-rate factor, others 1."""
    by_factor: dict[float, list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        matches = [p for p in multipliers if name == p or name.startswith(p + ".")]
        factor = multipliers[max(matches, key=len)] if matches else 1.0
        by_factor.setdefault(factor, []).append(param)
    unused = [p for p in multipliers if not any(n == p or n.startswith(p + ".") for n, _ in model.named_parameters())]
    if unused:
        raise ConfigError(f"train.lr_multipliers: no parameters under {', '.join(unused)}")
    return [{"params": params, "lr_multiplier": factor} for factor, params in by_factor.items()]


class Trainer:
    """Fits a field to samples by minimising a :class:`~sdfrecon.sdf.losses.LossSet`.

    Parameters
    ----------
    model : torch.nn.Module
        The field, already on ``device``.
    sampler : Sampler
        Produces a :class:`~sdfrecon.datasets.sampling.SampleBatch` per step.
    losses : LossSet
    cfg : TrainConfig
    device : torch.device
    checkpoint_path : Path, optional
        Where checkpoints go; None disables checkpointing.
    checkpoint_extra : dict, optional
        Plain data stored in every checkpoint (config, normalisation, ...).
    progress : bool
        Show a tqdm bar.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        sampler: Sampler,
        losses: LossSet,
        cfg: TrainConfig,
        *,
        device: torch.device,
        checkpoint_path: Path | None = None,
        checkpoint_extra: dict[str, Any] | None = None,
        progress: bool = True,
        step_callback: Callable[[int, torch.nn.Module], None] | None = None,
    ):
        self.model = model
        self.sampler = sampler
        self.losses = losses
        self.cfg = cfg
        self.device = device
        self.checkpoint_path = checkpoint_path
        self.checkpoint_extra = dict(checkpoint_extra or {})
        self.progress = progress
        self.step_callback = step_callback
        self.step = 0
        self.lr_scale = 1.0  # lowered by recoveries
        # Our Adam, not torch.optim's: the same updates without a 1-1.6 s import of torch._dynamo.
        self.optimizer = Adam(
            parameter_groups(model, cfg.lr_multipliers), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
        )
        self._with_gradient = self._gradient_function() if losses.needs_gradient else None
        # Autograd w.r.t. the inputs is needed for autograd gradients and higher derivatives.
        self._input_graph = losses.needs_input_graph or (losses.needs_gradient and self._with_gradient is None)
        self.recoveries: list[dict[str, Any]] = []
        self.last_losses: dict[str, float] = {}
        self.seconds = 0.0
        # Checking finiteness forces a device sync; on GPUs do it every few steps.
        self._check_every = 1 if device.type == "cpu" else 16

    def _gradient_function(self) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None:
        """``x -> (outputs, grad f)`` for ``gradient: analytic`` (maybe compiled), and for
        ``auto`` where the field supports it; else None (autograd)."""
        if self.cfg.gradient == "autograd":
            return None
        from sdfrecon.sdf.analytic_gradient import field_with_gradient, supports_analytic_gradient

        supported = supports_analytic_gradient(self.model)
        if self.cfg.gradient == "auto" and not supported and not self.cfg.compile:
            return None
        if not supported:
            raise ConfigError(
                "train.gradient: 'analytic' supports the mlp network on none/fourier/hashgrid (PyTorch) "
                "encodings; use 'autograd'"
            )
        model = self.model

        def with_gradient(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return field_with_gradient(model, x)

        return CompiledOrEager(with_gradient) if self.cfg.compile else with_gradient

    # ------------------------------------------------------------ state

    def _lr_at(self, step: int) -> float:
        sched = self.cfg.lr_schedule
        mult = 1.0 if sched is None else sched.value_at(step / max(self.cfg.iterations, 1))
        return self.cfg.lr * mult * self.lr_scale

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "lr_scale": self.lr_scale,
            "seconds": self.seconds,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "recoveries": list(self.recoveries),
            "last_losses": dict(self.last_losses),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.step = int(state["step"])
        self.lr_scale = float(state["lr_scale"])
        self.seconds = float(state.get("seconds", 0.0))
        self.recoveries = list(state.get("recoveries", []))
        self.last_losses = dict(state.get("last_losses", {}))

    def save(self) -> None:
        if self.checkpoint_path is not None:
            save_checkpoint(self.checkpoint_path, {**self.checkpoint_extra, "trainer": self.state_dict()})

    def _snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(
            {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
             "sampler": self.sampler.state_dict(), "step": self.step}
        )

    def _recover(self, snapshot: dict[str, Any], reason: str) -> None:
        if len(self.recoveries) >= self.cfg.max_recoveries:
            raise TrainingDivergedError(
                f"training diverged ({reason}) {len(self.recoveries) + 1} times; "
                "lower train.lr or the loss weights"
            )
        bad_step = self.step
        self.model.load_state_dict(snapshot["model"])
        self.optimizer.load_state_dict(snapshot["optimizer"])
        self.sampler.load_state_dict(snapshot["sampler"])
        self.step = snapshot["step"]
        self.lr_scale *= 0.5
        # Advance the sampler so the retry does not replay the same batches.
        self.sampler.sample()
        event = {"at_step": bad_step, "rolled_back_to": self.step, "reason": reason, "lr_scale": self.lr_scale}
        self.recoveries.append(event)
        log.warning(
            "non-finite %s at step %d; rolled back to step %d and lowered the learning rate to %.3g",
            reason, bad_step, self.step, self._lr_at(self.step),
        )

    # ------------------------------------------------------------- loop

    def _announce_progress(self, fraction: float) -> None:
        """Tell modules (and the sampler) with coarse-to-fine schedules how far training is
        (0..1); a sampler that adapts to the field (``observe_field``) gets to look at it."""
        for module in (*self.model.modules(), self.sampler):
            hook = getattr(module, "set_training_progress", None)
            if callable(hook):
                hook(fraction)
        observe = getattr(self.sampler, "observe_field", None)
        if callable(observe):
            observe(fraction, self.model)

    def train_step(self) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One optimisation step; returns (loss, gradient norm, unweighted terms), not synced."""
        lr = self._lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_multiplier"]
        self._announce_progress(self.step / max(self.cfg.iterations, 1))
        batch = self.sampler.sample()
        probe = FieldProbe(self.model, batch, differentiable_inputs=self._input_graph,
                           with_gradient=self._with_gradient)
        values = self.losses(probe, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        values.total.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.cfg.grad_clip > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        else:
            grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
        # A non-finite step is caught by fit() and rolled back, so step regardless.
        self.optimizer.step()
        self.step += 1
        return values.total.detach(), grad_norm.detach(), {k: v.detach() for k, v in values.unweighted.items()}

    def fit(self) -> TrainResult:
        """Train from the current step to ``cfg.iterations``; checkpoint as configured.

        Ctrl-C / SIGTERM stop at the next step boundary: the state is checkpointed
        (if finite) and :class:`TrainingInterrupted` raised; ``--resume`` continues
        exactly where it stopped.
        """
        cfg = self.cfg
        if self.step >= cfg.iterations:
            return TrainResult(self.step, self.seconds, self.last_losses, self.recoveries)
        self.model.train()
        bar = tqdm(total=cfg.iterations, initial=self.step, desc="train", unit="it",
                   disable=not self.progress, dynamic_ncols=True, leave=False)
        started = time.perf_counter() - self.seconds
        try:
            with _DeferredStop() as stop:
                self._loop(bar, stop, started)
        except KeyboardInterrupt:
            # Raised at a step boundary (deferred signal, or a step callback): the state is consistent.
            self.seconds = time.perf_counter() - started
            if all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
                self.save()
                raise TrainingInterrupted(self.step, self.checkpoint_path) from None
            log.warning("interrupted with non-finite weights; kept the last periodic checkpoint")
            raise TrainingInterrupted(self.step, None) from None
        finally:
            bar.close()
        self.seconds = time.perf_counter() - started
        self._announce_progress(1.0)
        self.save()
        self.model.eval()
        return TrainResult(self.step, self.seconds, self.last_losses, self.recoveries)

    def _loop(self, bar, stop: "_DeferredStop", started: float) -> None:
        """The steps of :meth:`fit`, with non-finite guards and periodic checkpoints."""
        cfg = self.cfg
        snapshot = self._snapshot()
        while self.step < cfg.iterations:
            if stop.requested:
                raise KeyboardInterrupt
            total, grad_norm, terms = self.train_step()
            if self.step % self._check_every == 0 or self.step == cfg.iterations:
                if not (torch.isfinite(total) and torch.isfinite(grad_norm)):
                    self._recover(snapshot, "loss" if not torch.isfinite(total) else "gradient")
                    bar.n = self.step
                    continue
                if self.step % cfg.guard_every == 0:
                    snapshot = self._snapshot()
            if self.step % 10 == 0 or self.step == cfg.iterations:
                self.last_losses = {"total": float(total), **{k: float(v) for k, v in terms.items()}}
                bar.set_postfix(loss=f"{self.last_losses['total']:.4g}", refresh=False)
            bar.update(self.step - bar.n)
            if self.step_callback is not None:
                self.step_callback(self.step, self.model)
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step < cfg.iterations:
                self.seconds = time.perf_counter() - started
                self.save()


class _DeferredStop:
    """While active (main thread only), SIGINT and SIGTERM set :attr:`requested`
    instead of interrupting mid-step, so the trainer stops -- and checkpoints -- at
    the next step boundary, never with a half-applied optimiser step. A second
    signal interrupts at once (the last periodic checkpoint stays)."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.info("stop requested (signal %d); finishing the current step and checkpointing", signum)

    def __enter__(self) -> "_DeferredStop":
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name, None)
                if number is not None:
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
