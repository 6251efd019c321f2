"""Where the seconds of one reconstruction go: read, normals, sampling, forward, backward,
optimiser, meshing, refinement, writing.

Run (from the repository root, on a quiet machine):

    .venv/bin/python -m bench.profile_default [--input examples/lord_quas.ply] [--config default]

The pipeline runs as ``sdfrecon reconstruct`` runs it (``reconstruct_file``); the
trainer's step is split by timing its parts with wall-clock timers around the
sampler, the field's forward pass, ``backward`` and the optimiser step (synchronous
on a CPU, so the split is exact up to timer overhead). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import torch

from sdfrecon.pipeline.run import reconstruct_file
from sdfrecon.sdf import training

SECONDS: dict[str, float] = defaultdict(float)


@contextmanager
def timed(name: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        SECONDS[name] += time.perf_counter() - start


def _instrument() -> None:
    """Wrap the trainer's step parts with timers (this process only)."""
    original_step = training.Trainer.train_step

    def train_step(self):
        sample, forward = self.sampler.sample, training.FieldProbe.__init__
        backward, opt_step = torch.Tensor.backward, self.optimizer.step

        def timed_sample():
            with timed("train: sampling"):
                return sample()

        def timed_probe(probe, *args, **kwargs):
            with timed("train: forward (field)"):
                return forward(probe, *args, **kwargs)

        def timed_backward(tensor, *args, **kwargs):
            with timed("train: backward"):
                return backward(tensor, *args, **kwargs)

        def timed_opt_step(*args, **kwargs):
            with timed("train: optimiser"):
                return opt_step(*args, **kwargs)

        self.sampler.sample, self.optimizer.step = timed_sample, timed_opt_step
        training.FieldProbe.__init__, torch.Tensor.backward = timed_probe, timed_backward
        try:
            with timed("train: step total"):
                return original_step(self)
        finally:
            self.sampler.sample, self.optimizer.step = sample, opt_step
            training.FieldProbe.__init__, torch.Tensor.backward = forward, backward

    training.Trainer.train_step = train_step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=Path("examples/lord_quas.ply"))
    parser.add_argument("--config", default="default")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    from sdfrecon.pipeline.config import config_overrides

    _instrument()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        [outcome] = reconstruct_file(args.input, Path(tmp) / "mesh.ply", preset=args.config,
                                     overrides=config_overrides(sets=args.overrides), progress=False)
        wall = time.perf_counter() - t0
    record = outcome.record["seconds"]
    steps = outcome.record["train"]["steps"]
    inner = sum(v for k, v in SECONDS.items() if k != "train: step total")
    rows = [("read", record["read"]), ("setup (normals, sampler pools, field)", record["setup"])]
    rows += [(k, v) for k, v in sorted(SECONDS.items()) if k != "train: step total"]
    rows += [("train: loss terms (autograd derivatives), schedules", SECONDS["train: step total"] - inner),
             ("train loop overhead (progress, checkpoints)", record["train"] - SECONDS["train: step total"]),
             ("mesh (field evaluation, marching cubes, refinement)", record["mesh"]),
             ("write (mesh, checkpoint, record)", record["write"])]
    print(f"{args.input}, preset {args.config}, {steps} steps, {torch.get_num_threads()} threads; "
          f"reconstruct_file wall time {wall:.2f} s (process start and imports not included)\n")
    print("| phase | seconds | share |\n|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {100 * seconds / wall:.0f} % |")
    print(f"| **total** | **{wall:.2f}** | |")
    if "refine" in outcome.record["mesh"]:
        print(f"\nrefinement: {outcome.record['mesh']['refine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
