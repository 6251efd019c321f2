"""Rebuild docs/abdomen_labels.png: OReX's Abdomen.csl (real segmented CT slices, one
label per tissue) reconstructed one mesh per label, rendered offscreen.

    python docs/make_abdomen_figure.py [WORK_DIR] [--iterations N] [--resolution N]

Reconstructs with ``sdfrecon reconstruct Abdomen.csl -o WORK_DIR/organs/`` (the ``slices``
preset, shortened for a CPU: about a minute per label on 2 cores; an existing WORK_DIR is
reused and resumed), then draws every label's mesh in its own colour: the organs on the
left, label 1 (the tissue around them, with holes where the organs are) on the right.
Data: ../shared/data/extra/csl/Abdomen.csl, or set SDFRECON_DATA.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PALETTE = [(0.85, 0.75, 0.65), (0.90, 0.30, 0.25), (0.25, 0.55, 0.90), (0.55, 0.35, 0.20), (0.30, 0.75, 0.35),
           (0.95, 0.70, 0.15), (0.65, 0.40, 0.80), (0.20, 0.80, 0.80), (0.95, 0.45, 0.70), (0.60, 0.60, 0.60)]


def reconstruct(csl: Path, work: Path, iterations: int, resolution: int) -> list[Path]:
    from sdfrecon.cli import main

    out = work / "organs"
    args = ["reconstruct", str(csl), "-o", f"{out}/", "--resolution", str(resolution), "--device", "cpu", "--quiet"]
    # a resumed run keeps its checkpoints' training options (--resume refuses train overrides)
    args += ["--resume"] if any(out.glob("*.ckpt")) else ["--iterations", str(iterations)]
    status = main(args)
    if status not in (0, 3):
        raise SystemExit(status)
    return sorted(out.glob("*_label*.ply"), key=lambda p: int(p.stem.rsplit("label", 1)[1]))


def picture(meshes: list[tuple[int, object]], width: int, height: int, up: str) -> np.ndarray:
    from sdfrecon.viewer.pictures import render_pictures, scene_cameras
    from sdfrecon.viewer.scene import Scene, SceneItem, bounding_sphere, triangle_mesh

    items = []
    for label, mesh in meshes:
        colors = np.tile(PALETTE[label % len(PALETTE)], (len(mesh.vertices), 1))
        geometry = triangle_mesh(mesh.vertices, mesh.faces, colors)
        items.append(SceneItem(f"label{label}", geometry, style="lit"))
    center, radius = bounding_sphere([np.asarray(m.vertices) for _, m in meshes])
    scene = Scene(items=items, center=center, radius=radius, up=up)
    cameras = scene_cameras(scene, width, height, view="front")
    return render_pictures(scene, cameras, width, height, supersample=1)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", nargs="?", type=Path, help="folder kept between runs (default: temporary)")
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--resolution", type=int, default=96)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--height", type=int, default=400)
    args = parser.parse_args()
    import trimesh

    from sdfrecon.viewer.annotate import grid, save_png

    data = Path(os.environ.get("SDFRECON_DATA", REPO.parent / "shared" / "data"))
    csl = data / "extra" / "csl" / "Abdomen.csl"
    if not csl.exists():
        print(f"error: {csl} not found (set SDFRECON_DATA to the shared data folder)", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp())
    paths = reconstruct(csl, work, args.iterations, args.resolution)
    meshes = [(int(p.stem.rsplit("label", 1)[1]), trimesh.load(p, force="mesh")) for p in paths]
    organs = [(k, m) for k, m in meshes if k != 1]
    body = [(k, m) for k, m in meshes if k == 1]
    cells = [picture(organs, args.width, args.height, "z")] + ([picture(body, args.width, args.height, "z")]
                                                               if body else [])
    names = ["labels " + ", ".join(str(k) for k, _ in organs)] + (["label 1 (around the organs)"] if body else [])
    out = save_png(grid([cells], col_labels=names), REPO / "docs" / "abdomen_labels.png")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
