"""Training a prior model: occupancy loss, the loop, checkpoints, distributed data parallel.

The loop trains any :data:`~sdfrecon.sdf.prior_model.PRIORS` model on a
:class:`~sdfrecon.datasets.prior_data.PriorDataset` with the GridFormer loss: binary
cross-entropy of the predicted occupancy logits against the labels, optionally with
the paper's margin ``m`` (logits shifted by ``-m`` inside and ``+m`` outside, so a
point counts as right only when it is confidently right; the paper's second stage
uses it). Adam with a cosine learning-rate decay; gradient-norm clipping; a step
whose gradient is not finite is skipped.

Multi-GPU and multi-node runs use PyTorch's DistributedDataParallel under
``torchrun``: :func:`init_distributed` joins the process group when the launcher's
environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``...) is set;
each process draws its share of every epoch through a ``DistributedSampler``;
rank 0 writes checkpoints. Without those variables the same code runs as one
process.

Stopping: Ctrl-C / SIGTERM finish the current step, rank 0 checkpoints and
:class:`~sdfrecon.base.errors.TrainingInterrupted` is raised; the checkpoint
continues the run exactly (model, optimiser, step, epoch and position in it).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sdfrecon.base.checkpoint import save_checkpoint
from sdfrecon.base.errors import ConfigError, TrainingDivergedError, TrainingInterrupted
from sdfrecon.datasets.prior_data import PriorDataset
from sdfrecon.sdf.training import _DeferredStop

log = logging.getLogger(__name__)


@dataclass
class PriorTrainConfig:
    """Optimisation settings of prior training."""

    steps: int = 3000
    """Optimiser steps."""
    batch_size: int = 4
    """Shapes per step and process (the global batch is batch_size x processes)."""
    lr: float = 1e-3
    """Adam learning rate at the start."""
    lr_final: float = 0.05
    """Cosine decay to lr x lr_final at the last step."""
    warmup_steps: int = 50
    """Linear learning-rate warm-up steps."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value; 0 disables."""
    margin: float = 0.0
    """BCE margin m (GridFormer's second stage uses 2); 0 = plain BCE."""
    margin_from: float = 1.0
    """Fraction of training after which the margin applies."""
    checkpoint_every: int = 100
    """Steps between checkpoints (also written at the end and on interrupt)."""
    workers: int = 0
    """Data-loader worker processes per training process (0 = load in the training process)."""

    def validate(self, path: str) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(f"{path}: steps and batch_size must be >= 1")
        if not self.lr > 0 or not 0 < self.lr_final <= 1:
            raise ConfigError(f"{path}: lr > 0 and 0 < lr_final <= 1")
        if self.warmup_steps < 0 or self.grad_clip < 0 or self.margin < 0 or self.checkpoint_every < 0:
            raise ConfigError(f"{path}: warmup_steps, grad_clip, margin and checkpoint_every must be >= 0")
        if not 0 <= self.margin_from <= 1 or self.workers < 0:
            raise ConfigError(f"{path}: margin_from in [0, 1] and workers >= 0")


def occupancy_loss(logits: torch.Tensor, labels: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Mean BCE of ``logits`` (any shape) against 0/1 ``labels``, with GridFormer's margin:
    the logit is moved by ``-margin`` for inside labels and ``+margin`` for outside ones."""
    if margin:
        logits = logits - margin * (2.0 * labels - 1.0)
    return F.binary_cross_entropy_with_logits(logits, labels)


def occupancy_iou(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """IoU of ``logits > 0`` against ``labels > 0.5`` per row of (B, M) tensors -> (B,)."""
    pred, true = logits > 0, labels > 0.5
    union = (pred | true).sum(dim=-1).clamp(min=1)
    return (pred & true).sum(dim=-1) / union


# ------------------------------------------------------------------ distributed


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a (possibly one-process) training job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    initialized: bool = False
    """Whether this process joined a torch.distributed process group."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> DistContext:
    """Join the ``torchrun`` process group described by the environment, if any.

    ``WORLD_SIZE`` and ``RANK`` set (as ``torchrun`` does, also for one process):
    ``init_process_group`` with NCCL on CUDA, else Gloo; the device is
    ``cuda:LOCAL_RANK`` when CUDA is used. Otherwise a one-process context on
    ``device`` (``auto`` = CUDA when available).
    """
    wants_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} requested but CUDA is not available on this machine")
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return DistContext(device=torch.device(device if device != "auto" else ("cuda" if wants_cuda else "cpu")))
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if wants_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if wants_cuda else "gloo")
    return DistContext(rank, world, local_rank, dev, True)


def shutdown_distributed(ctx: DistContext) -> None:
    """Leave the process group joined by :func:`init_distributed` (no-op for one process)."""
    if ctx.initialized:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _any_rank(flag: bool, ctx: DistContext) -> bool:
    """True when ``flag`` is true on any process (collective; every rank must call it)."""
    if not ctx.initialized:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def _barrier(ctx: DistContext) -> None:
    if ctx.initialized:
        import torch.distributed as dist

        dist.barrier()


# ------------------------------------------------------------------ trainer


@dataclass
class PriorTrainResult:
    """What a finished training run reports."""

    steps: int
    seconds: float
    final_loss: float
    losses: list[tuple[int, float]]
    """(step, mean loss of the steps since the previous entry), every 10 steps."""
    skipped_steps: int


class PriorTrainer:
    """Trains a prior model on a :class:`PriorDataset` (see module doc).

    Parameters
    ----------
    model : torch.nn.Module
        The prior model, on ``ctx.device``.
    dataset : PriorDataset
    cfg : PriorTrainConfig
    ctx : DistContext
        Process placement; the model is wrapped in DistributedDataParallel when
        ``ctx.initialized``.
    seed : int
        Seed of the epoch shuffles.
    checkpoint_path : Path, optional
        Where rank 0 writes checkpoints; None disables them.
    checkpoint_extra : dict, optional
        Plain data stored in every checkpoint (configs, data description).
    progress : bool
        Show a tqdm bar on rank 0.
    """

    def __init__(self, model: torch.nn.Module, dataset: PriorDataset, cfg: PriorTrainConfig, *,
                 ctx: DistContext | None = None, seed: int = 0, checkpoint_path: Path | None = None,
                 checkpoint_extra: dict[str, Any] | None = None, progress: bool = True):
        self.ctx = ctx or DistContext()
        self.model = model
        self.dataset = dataset
        self.cfg = cfg
        self.seed = seed
        self.checkpoint_path = checkpoint_path
        self.checkpoint_extra = dict(checkpoint_extra or {})
        self.progress = progress and self.ctx.is_main
        if self.ctx.initialized:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
            self.net: torch.nn.Module = DistributedDataParallel(model, device_ids=device_ids)
        else:
            self.net = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.seconds = 0.0
        self.losses: list[tuple[int, float]] = []
        self.skipped = 0
        if len(dataset) < cfg.batch_size * self.ctx.world_size:
            raise ConfigError(f"train.batch_size: {cfg.batch_size} x {self.ctx.world_size} process(es) exceeds the "
                              f"{len(dataset)} training samples per epoch")

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "seconds": self.seconds, "losses": list(self.losses), "skipped": self.skipped,
                "world_size": self.ctx.world_size,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.seconds = float(state["seconds"])
        self.losses = [tuple(x) for x in state["losses"]]
        self.skipped = int(state.get("skipped", 0))
        # Another process count splits epochs differently: continue from the next epoch.
        same_split = int(state.get("world_size", 1)) == self.ctx.world_size
        self.batch_in_epoch = int(state["batch_in_epoch"]) if same_split else 0
        if not same_split and state["batch_in_epoch"]:
            self.epoch += 1

    def save(self) -> None:
        """Checkpoint (rank 0 only; atomic)."""
        if self.checkpoint_path is not None and self.ctx.is_main:
            save_checkpoint(self.checkpoint_path, {**self.checkpoint_extra, "trainer": self.state_dict()})

    # ------------------------------------------------------------ schedule and data

    def lr_at(self, step: int) -> float:
        """Learning rate of ``step``: linear warm-up, then cosine decay to ``lr * lr_final``."""
        cfg = self.cfg
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1)
        return cfg.lr * (cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """This process's batches of dataset indices for ``epoch`` (the DistributedSampler's split)."""
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(self.dataset, num_replicas=self.ctx.world_size, rank=self.ctx.rank,
                                     shuffle=True, seed=self.seed, drop_last=True)
        sampler.set_epoch(epoch)
        indices = list(sampler)
        b = self.cfg.batch_size
        return [indices[i: i + b] for i in range(0, len(indices) - b + 1, b)]

    def _schedule(self):
        """Endless ``(epoch, position after this batch, indices)`` from the current position."""
        epoch, start = self.epoch, self.batch_in_epoch
        while True:
            for position, indices in enumerate(self._epoch_batches(epoch)[start:], start + 1):
                yield epoch, position, indices
            epoch, start = epoch + 1, 0

    def _batches(self):
        """Endless ``((epoch, position, indices), batch)``: one data loader across epochs, so its
        worker processes (and the shapes they have cached) live as long as the run. Items are
        requested as ``(epoch, index)``; the loader returns batches in order, so a second copy of
        the schedule tells where each batch sits."""
        from torch.utils.data import DataLoader

        schedule = self._schedule

        class EpochIndexBatches:
            def __iter__(self):
                return ([(epoch, i) for i in indices] for epoch, _, indices in schedule())

        loader = DataLoader(self.dataset, batch_sampler=EpochIndexBatches(), num_workers=self.cfg.workers)
        return zip(schedule(), loader)

    # ------------------------------------------------------------ loop

    def train_step(self, batch: dict[str, torch.Tensor]) -> float:
        """One optimisation step on a collated batch; returns its loss (nan if the step was skipped)."""
        cfg, dev = self.cfg, self.ctx.device
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        points, queries = batch["points"].to(dev), batch["queries"].to(dev)
        labels = batch["occupancy"].to(dev)
        margin = cfg.margin if self.step >= cfg.margin_from * cfg.steps else 0.0
        loss = occupancy_loss(self.net(points, queries), labels, margin)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # After DDP's all-reduce the gradients (and so this norm) agree on every rank: skipping is collective.
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        self.step += 1
        if not (torch.isfinite(norm) and torch.isfinite(loss)):
            self.skipped += 1
            return math.nan
        self.optimizer.step()
        return float(loss.detach())

    def fit(self) -> PriorTrainResult:
        """Train to ``cfg.steps`` from the current state; checkpoint periodically and at the end."""
        cfg = self.cfg
        self.model.train()
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train-prior", unit="step",
                   disable=not self.progress, dynamic_ncols=True)
        started = time.perf_counter() - self.seconds
        window: list[float] = []
        consecutive_bad = 0
        try:
            with _DeferredStop() as stop:
                batches = self._batches()
                while self.step < cfg.steps:
                    if _any_rank(stop.requested, self.ctx):
                        raise KeyboardInterrupt
                    (epoch, position, _), batch = next(batches)
                    loss = self.train_step(batch)
                    self.epoch, self.batch_in_epoch = epoch, position  # counted once the step is done
                    consecutive_bad = consecutive_bad + 1 if math.isnan(loss) else 0
                    if consecutive_bad >= 10:
                        raise TrainingDivergedError("prior training: 10 steps in a row had non-finite gradients; "
                                                    "lower train.lr")
                    if not math.isnan(loss):
                        window.append(loss)
                    if self.step % 10 == 0 and window:
                        self.losses.append((self.step, sum(window) / len(window)))
                        bar.set_postfix(loss=f"{self.losses[-1][1]:.4f}", refresh=False)
                        window = []
                    bar.update(self.step - bar.n)
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step < cfg.steps:
                        self.seconds = time.perf_counter() - started
                        self.save()
        except KeyboardInterrupt:
            self.seconds = time.perf_counter() - started
            self.save()
            _barrier(self.ctx)
            raise TrainingInterrupted(self.step, self.checkpoint_path if self.ctx.is_main else None) from None
        finally:
            bar.close()
        if window:
            self.losses.append((self.step, sum(window) / len(window)))
        self.seconds = time.perf_counter() - started
        self.save()
        _barrier(self.ctx)
        self.model.eval()
        final = self.losses[-1][1] if self.losses else math.nan
        return PriorTrainResult(self.step, self.seconds, final, list(self.losses), self.skipped)


@torch.no_grad()
def evaluate_prior(model: torch.nn.Module, dataset: PriorDataset, *, batch_size: int = 4,
                   device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean occupancy IoU and BCE of ``model`` over every item of ``dataset`` (e.g. held-out shapes)."""
    model.eval()
    ious, losses = [], []
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for batch in loader:
        logits = model(batch["points"].to(device), batch["queries"].to(device))
        labels = batch["occupancy"].to(device)
        ious.append(occupancy_iou(logits, labels))
        losses.append(F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(dim=-1))
    return {"iou": float(torch.cat(ious).mean()), "bce": float(torch.cat(losses).mean()), "shapes": len(dataset)}
