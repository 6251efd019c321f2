"""VI3NR initialisation and FKAN networks against what we have (issue: INR building blocks).

Run:  .venv/bin/python -m bench.inr_blocks [--shapes srb_dc,fandisk,bunny] [--iterations 600]
          [--resolution 128] [--methods default,siren,...] [--refine] [-o DIR]
A reduced run for a busy 2-core machine (one shape, fewer steps):
      OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python -m bench.inr_blocks --shapes fandisk \
          --iterations 300 --resolution 96 --samples 30000 --curve-every 25

Every method trains on the same inputs, with the same seed (0), steps, sampler and loss
terms (the default preset's: surface, off-surface, eikonal, clearance, distance when the
normals are trusted, normal alignment), then is meshed at the same resolution; only the
field and the learning rate differ:

* ``siren`` / ``siren_vi3nr``: a 4x128 sine network with SIREN's init / with VI3NR (lr 5e-4);
* ``gauss`` / ``gauss_vi3nr``: the same network with the Gaussian activation
  exp(-z^2 / (2 0.05^2)), PyTorch's default init / VI3NR (lr 5e-4);
* ``fkan``: the ``fkan`` preset (Fourier-KAN layer, K = 8, + 3x128 MLP; lr 1e-3);
* ``default``: the default preset (4x64 softplus MLP on a Fourier encoding; lr 3e-3).

The default preset's projection of mesh vertices onto the input points (``mesh.refine``)
is off unless ``--refine``: it moves every method's surface onto the same points and so
hides differences between the fields, which is what is compared here.

Loss curves: every ``--curve-every`` steps the configured loss is evaluated on one fixed
held-out batch (same for all methods, drawn with seed 1); that time is not counted in the
training seconds. Output in DIR (default bench/results/inr_blocks): ``results.json``
(resumable: finished pairs are skipped), ``results.md`` and ``loss_curves.png``.
First a table of per-layer pre-activation variances of 10-layer random networks
(VI3NR vs each activation's default init) is printed. Chamfer-L1 and normal
consistency are against the ground-truth mesh, world units, ``--samples`` points.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from bench.shapes import available_shapes, load_shape
from sdfrecon.base.atomic import atomic_write_bytes, atomic_write_text
from sdfrecon.datasets.normalize import Normalization
from sdfrecon.datasets.sampling import SAMPLERS
from sdfrecon.evaluation.metrics import compare_meshes
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.pipeline.reconstruct import build_field_seeded, reconstruct
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.losses import LossSet
from sdfrecon.sdf.vi3nr import default_sigma_p, preactivation_variances

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "inr_blocks"
SINE_NET = {"name": "siren", "hidden_dim": 128, "num_layers": 4}


def _net(network: dict, lr: float) -> list[dict]:
    return [{"field": {"encoding": {"name": "none"}, "network": network}, "train": {"lr": lr}}]


# method -> (preset, overrides on top of it)
METHODS: dict[str, tuple[str, list[dict]]] = {
    "siren": ("default", _net({**SINE_NET, "activation": "sine", "init": "siren"}, 5e-4)),
    "siren_vi3nr": ("default", _net({**SINE_NET, "activation": "sine", "init": "vi3nr"}, 5e-4)),
    "gauss": ("default", _net({**SINE_NET, "activation": "gaussian", "init": "pytorch"}, 5e-4)),
    "gauss_vi3nr": ("default", _net({**SINE_NET, "activation": "gaussian", "init": "vi3nr"}, 5e-4)),
    "fkan": ("fkan", []),
    "default": ("default", []),
}
COLOURS = {"siren": (214, 39, 40), "siren_vi3nr": (255, 152, 150), "gauss": (31, 119, 180),
           "gauss_vi3nr": (158, 218, 229), "fkan": (44, 160, 44), "default": (60, 60, 60)}


def variance_table(depth: int = 10, width: int = 256, seeds: int = 8) -> str:
    """Markdown: per-layer pre-activation variance / target of random deep networks, mean over seeds."""
    x = torch.rand(1024, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cases = [("sine", "siren", [{"init": "siren"}]), ("gaussian", "siren", [{"init": "pytorch"}]),
             ("softplus", "mlp", [{}]), ("relu", "mlp", [{}, {"geometric_init": False}])]
    lines = [f"| activation | init | var / target at hidden layers 1..{depth} (mean of {seeds} nets, width {width}) |",
             "|---|---|---|"]
    for activation, name, baselines in cases:
        net = {"name": name, "hidden_dim": width, "num_layers": depth, "activation": activation}
        for label, extra in [("vi3nr", {"init": "vi3nr"})] + [(_label(name, b), b) for b in baselines]:
            rows = []
            for seed in range(seeds):
                field = build_field_seeded(resolve_config(None, [{"seed": seed, "field": {"network": {**net, **extra}}}]))
                rows.append(preactivation_variances(field.network.layers, field, x)[:-1])
            mean = np.mean(rows, axis=0)
            # VI3NR against sigma_p^2; the others against their own first layer.
            ref = default_sigma_p(field.network.activation) ** 2 if label == "vi3nr" else mean[0]
            lines.append(f"| {activation} | {label} | " + " ".join(f"{v / ref:.2f}" for v in mean) + " |")
    return "\n".join(lines)


def _label(name: str, baseline: dict) -> str:
    if name == "mlp":
        return "pytorch" if baseline.get("geometric_init") is False else "geometric (He)"
    return baseline["init"]


def held_out_loss(cfg, cloud, every: int):
    """A step callback recording the configured loss on one fixed batch every ``every`` steps."""
    unit = cloud.transformed(Normalization.fit(cloud.extent_points()))
    batch = SAMPLERS.build(cfg.sampler, data=unit, device="cpu", seed=1).sample()
    losses = LossSet(cfg.loss, cfg.train.iterations)
    curve: list[tuple[int, float]] = []
    spent = [0.0, 0.0]  # wall, CPU seconds inside the callback

    def callback(step: int, model: torch.nn.Module) -> None:
        if step % every and step != cfg.train.iterations:
            return
        t, c = time.perf_counter(), time.process_time()
        probe = FieldProbe(model, batch, differentiable_inputs=True)
        curve.append((step, float(losses(probe, step).total.detach())))
        spent[0] += time.perf_counter() - t
        spent[1] += time.process_time() - c

    return callback, curve, spent


def run_one(shape, method: str, args) -> dict:
    cloud, gt = load_shape(shape)
    preset, overrides = METHODS[method]
    common = {"device": "cpu", "seed": 0, "train": {"iterations": args.iterations, "checkpoint_every": 0},
              "mesh": {"resolution": args.resolution, "refine": {"enabled": args.refine}}}
    cfg = resolve_config(preset, [common, *overrides, common])
    callback, curve, spent = held_out_loss(cfg, cloud, args.curve_every)
    t, c = time.perf_counter(), time.process_time()
    result = reconstruct(cloud, cfg, progress=False, step_callback=callback)
    wall = time.perf_counter() - t - spent[0]
    # CPU seconds (one thread): on a shared machine wall time mostly measures the neighbours.
    seconds = time.process_time() - c - spent[1]
    row = {"shape": shape.name, "method": method, "seconds": seconds, "wall_seconds": wall, "curve": curve,
           "recoveries": len(result.record["train"]["recoveries"]), "faces": len(result.mesh.faces)}
    if len(result.mesh.faces) == 0:
        return {**row, "chamfer": math.nan, "normal_consistency": math.nan}
    m = compare_meshes(result.mesh, gt, samples=args.samples)
    return {**row, "chamfer": m.chamfer_l1, "normal_consistency": m.normal_consistency}


def plot_curves(rows: list[dict], path: Path) -> None:
    """Loss curves, one log-scale panel per shape, drawn with Pillow."""
    shapes = list(dict.fromkeys(r["shape"] for r in rows))
    w, h, pad = 420, 320, 48
    per_row = max(1, w * len(shapes) // 140)  # legend entries per line, so none is clipped
    legend_rows = math.ceil(len(COLOURS) / per_row)
    img = Image.new("RGB", (w * len(shapes), h + 20 + 24 * legend_rows), "white")
    draw = ImageDraw.Draw(img)
    for col, shape in enumerate(shapes):
        mine = [r for r in rows if r["shape"] == shape and r["curve"]]
        values = [v for r in mine for _, v in r["curve"] if v > 0 and math.isfinite(v)]
        if not values:
            continue
        lo, hi = math.log10(min(values)), math.log10(max(values))
        hi = hi if hi > lo else lo + 1
        steps = max(s for r in mine for s, _ in r["curve"])
        x0, y0, x1, y1 = col * w + pad, 24, col * w + w - 12, h - 28
        draw.rectangle([x0, y0, x1, y1], outline=(0, 0, 0))
        draw.text((x0, 6), f"{shape}: held-out loss (log) vs step", fill=(0, 0, 0))
        for e in range(math.floor(lo), math.ceil(hi) + 1):
            y = y1 - (e - lo) / (hi - lo) * (y1 - y0)
            if y0 <= y <= y1:
                draw.line([x0 - 4, y, x0, y], fill=(0, 0, 0))
                draw.text((x0 - 40, y - 6), f"1e{e}", fill=(0, 0, 0))
        draw.text((x0, y1 + 4), "0", fill=(0, 0, 0))
        draw.text((x1 - 24, y1 + 4), str(steps), fill=(0, 0, 0))
        for r in mine:
            pts = [(x0 + s / steps * (x1 - x0), y1 - (math.log10(v) - lo) / (hi - lo) * (y1 - y0))
                   for s, v in r["curve"] if v > 0 and math.isfinite(v)]
            if len(pts) > 1:
                draw.line(pts, fill=COLOURS.get(r["method"], (0, 0, 0)), width=2)
    for i, (method, colour) in enumerate(COLOURS.items()):
        x, y = 12 + (i % per_row) * 140, h + 8 + (i // per_row) * 24
        draw.line([x, y + 6, x + 24, y + 6], fill=colour, width=3)
        draw.text((x + 30, y), method, fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def table(rows: list[dict], methods: list[str]) -> str:
    shapes = list(dict.fromkeys(r["shape"] for r in rows))
    by = {(r["shape"], r["method"]): r for r in rows}
    head = "| shape | " + " | ".join(methods) + " |"
    lines = [head, "|---|" + "---|" * len(methods)]
    for shape in shapes:
        cells = []
        for m in methods:
            r = by.get((shape, m))
            cells.append("--" if r is None else
                         f"{r['chamfer']:.4g} / {r['normal_consistency']:.3f} / {r['seconds']:.0f}")
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    done = [m for m in methods if all((s, m) in by for s in shapes)]
    if shapes and "default" in done:
        ratios = []
        for m in done:
            cd = np.exp(np.mean([np.log(by[(s, m)]["chamfer"] / by[(s, "default")]["chamfer"]) for s in shapes]))
            sec = np.exp(np.mean([np.log(by[(s, m)]["seconds"] / by[(s, "default")]["seconds"]) for s in shapes]))
            ratios.append(f"{cd:.2f}x CD, {sec:.2f}x s")
        lines.append("| geo. mean vs default | " + " | ".join(
            ratios[done.index(m)] if m in done else "--" for m in methods) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="srb_dc,fandisk,bunny")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--curve-every", type=int, default=20)
    parser.add_argument("--skip-variance", action="store_true")
    parser.add_argument("--refine", action="store_true", help="project mesh vertices onto the input points")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise SystemExit(f"error: unknown methods {', '.join(unknown)}; valid: {', '.join(METHODS)}")
    shapes = available_shapes(args.shapes.split(","))
    if not shapes:
        raise SystemExit("error: none of the shapes is in ../shared/data")
    if not args.skip_variance:
        print(variance_table(), flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    store = args.output / "results.json"
    rows: list[dict] = json.loads(store.read_text()) if store.exists() else []
    settings = {"iterations": args.iterations, "resolution": args.resolution, "samples": args.samples,
                "refine": args.refine}
    rows = [r for r in rows if r.get("settings") == settings]
    for shape in shapes:
        for method in methods:
            if any(r["shape"] == shape.name and r["method"] == method for r in rows):
                continue
            row = {**run_one(shape, method, args), "settings": settings}
            rows.append(row)
            atomic_write_text(store, json.dumps(rows, indent=1))
            print(f"{shape.name} {method}: CD {row['chamfer']:.4g} NC {row['normal_consistency']:.3f} "
                  f"in {row['seconds']:.0f} s", file=sys.stderr, flush=True)
    rows = [r for r in rows if r["method"] in methods and r["shape"] in {s.name for s in shapes}]
    md = (f"Same seed (0), {args.iterations} steps, default sampler and loss terms, mesh {args.resolution}^3 "
          f"(projection onto the points: {'on' if args.refine else 'off'}); "
          f"cells: Chamfer-L1 (world units) / normal consistency / CPU seconds (train + mesh, "
          f"torch threads: {torch.get_num_threads()})\n\n"
          + table(rows, methods) + "\n")
    atomic_write_text(args.output / "results.md", md)
    plot_curves(rows, args.output / "loss_curves.png")
    print("\n" + md + f"\nloss curves: {args.output / 'loss_curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
