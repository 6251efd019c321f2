"""End-to-end seconds of ``sdfrecon reconstruct`` against Open3D screened Poisson, as processes.

Run (from the repository root, on a quiet machine):

    .venv/bin/python -m bench.speed_vs_poisson [--inputs examples/lord_quas.ply,...] [--repeats 3]
        [--config default] [--threads 2]

Each input is reconstructed by ``sdfrecon reconstruct IN -o OUT`` (process start,
imports, reading, training, meshing and writing: what a user waits for) and by a
Python process that reads the same file with Open3D and runs screened Poisson as
``sdfrecon.evaluation.baselines.poisson`` does (normals estimated and oriented
when the file has none), writing its mesh too. The two alternate, ``--repeats``
times each; the table gives the median seconds and their ratio. Default inputs: the
bundled example and the shared SRB scans and the Points2Surf scan (20k-100k points).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.shapes import SHARED_DATA

DEFAULT_INPUTS = ("examples/lord_quas.ply", str(SHARED_DATA / "srb/scans/dc.ply"),
                  str(SHARED_DATA / "extra/scans/p2s_abc_00011084_pts.xyz.npy"),
                  str(SHARED_DATA / "extra/scans/nksr_spot_points.ply"))

POISSON = """
import sys
from sdfrecon.datasets.readers import read_point_cloud
from sdfrecon.evaluation.baselines import poisson
from sdfrecon.meshing.io import write_mesh
write_mesh(poisson(read_point_cloud(sys.argv[1])), sys.argv[2])
"""


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", default=",".join(DEFAULT_INPUTS), help="comma-separated point files")
    parser.add_argument("--config", default=None, help="preset for sdfrecon (default: the CLI's choice)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS for both")
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    sdfrecon = [str(Path(sys.executable).with_name("sdfrecon"))]
    print(f"| input | points | sdfrecon s (median of {args.repeats}) | Poisson s | ratio |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for path in [p for p in args.inputs.split(",") if p]:
            if not Path(path).exists():
                print(f"| {path} | absent | | | |")
                continue
            from sdfrecon.datasets.readers import read_point_cloud

            points = len(read_point_cloud(path).points)
            ours, theirs = [], []
            for i in range(args.repeats):
                out = Path(tmp) / f"ours{i}.ply"
                config = ["--config", args.config] if args.config else []
                ours.append(_timed(sdfrecon + ["reconstruct", path, "-o", str(out), "--overwrite", "--quiet",
                                               "--device", "cpu", *config], env))
                theirs.append(_timed([sys.executable, "-c", POISSON, path, str(Path(tmp) / f"poisson{i}.ply")], env))
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"| {Path(path).name} | {points} | {a:.1f} (min {min(ours):.1f}) | {b:.1f} | {a / b:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
