"""Seconds per frame of headless rendering, per backend and scene (issue: pictures that always come out).

Run:  .venv/bin/python -m bench.render_bench [--backends legacy,offscreen] [--frame-timeout 60]

Scenes: tori of ~2k, ~100k and 1M triangles (lit), the 100k torus with an error
heat-map (and its ground truth beside it, as ``sdfrecon render --heatmap`` draws
it), and the 100k torus cut open by an SDF slice (the torus's analytic SDF on a
256-sample plane with its zero contour). Every frame is 800x600 with 2x
supersampling, the ``sdfrecon render`` default (so 1600x1200 is drawn).

For each backend a fresh worker process is started (its start is reported
apart), then each scene is rendered twice: ``first`` includes uploading the
geometry and, for the first scene, opening the window and compiling shaders;
``warm`` is the same picture again. A frame past ``--frame-timeout`` is stopped
and the larger scenes are not tried on that backend.

Then the end-to-end target: the default ``sdfrecon render MESH --gt GT --heatmap``
of the 100k torus as a fresh process (the backend choice already remembered),
wall and CPU seconds, against ``sdfrecon --help`` measured in the same run as the
baseline cost of starting the command at all.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, SUPERSAMPLE = 800, 600, 2
TORI = {"2k": (40, 29), "100k": (316, 158), "1M": (1000, 500)}
"""(major, minor) sections of trimesh's torus: 2,320 / 99,856 / 1,000,000 triangles."""
MAJOR, MINOR = 1.0, 0.35


def torus(size: str, minor: float = MINOR):
    import trimesh

    major_sections, minor_sections = TORI[size]
    return trimesh.creation.torus(MAJOR, minor, major_sections=major_sections, minor_sections=minor_sections)


def torus_sdf(points: np.ndarray) -> np.ndarray:
    """Exact SDF of :func:`torus` (trimesh's torus lies in the xy plane, around the z axis)."""
    q = np.stack([np.linalg.norm(points[:, :2], axis=1) - MAJOR, points[:, 2]], axis=1)
    return np.linalg.norm(q, axis=1) - MINOR


def scenes() -> dict[str, object]:
    """Scene name -> Scene, built as ``sdfrecon render`` builds them."""
    from sdfrecon.viewer.scene import SceneOptions, build_scene
    from sdfrecon.viewer.sdf_slice import SlicePlane, sample_slice

    built = {}
    for size in TORI:
        built[f"mesh {size}"] = build_scene(torus(size))
    mesh, gt = torus("100k"), torus("100k", minor=MINOR * 1.03)
    # distance to the GT torus, plus a ripple around the ring so the heat-map is not one colour
    v = np.asarray(mesh.vertices)
    errors = np.abs(torus_sdf(v) - MINOR * 0.03) + 0.004 * (1 + np.sin(4 * np.arctan2(v[:, 1], v[:, 0])))
    built["heat-map 100k + GT"] = build_scene(mesh, gt=gt, errors=errors)
    lo, hi = mesh.bounds
    plane = SlicePlane("y", 0.0)
    sdf_slice = sample_slice(torus_sdf, lo, hi, plane, resolution=256)
    built["SDF slice 100k"] = build_scene(mesh, sdf_slice=sdf_slice, options=SceneOptions(clip_side=1))
    return built


def bench_backend(backend: str, built: dict, frame_timeout: float) -> tuple[float | str, dict]:
    from sdfrecon.viewer.camera import preset_camera
    from sdfrecon.viewer.render import RenderError, close_workers, render_views, worker_for

    close_workers()
    t = time.perf_counter()
    try:
        worker_for(backend)
    except Exception as exc:  # noqa: BLE001 - report and go on
        return f"failed: {exc}", {}
    start = time.perf_counter() - t
    results: dict[str, tuple] = {}
    stopped = None
    for name, scene in built.items():
        if stopped:
            results[name] = (f"not tried ({stopped})", "")
            continue
        cam = preset_camera("iso", scene.center, scene.radius, up=scene.up, aspect=WIDTH / HEIGHT)
        times = []
        for _ in range(2):
            t = time.perf_counter()
            try:
                render_views(scene, [cam], WIDTH, HEIGHT, supersample=SUPERSAMPLE, backend=backend,
                             frame_timeout=frame_timeout)
            except RenderError as exc:
                times.append(f"> {frame_timeout:g} (stopped)" if "took more than" in str(exc) else "failed")
                stopped = f"{name} " + ("timed out" if "took more than" in str(exc) else "failed")
                break
            times.append(time.perf_counter() - t)
        results[name] = tuple(times) + ("",) * (2 - len(times))
    close_workers()
    return start, results


def _fmt(x) -> str:
    return f"{x:.2f}" if isinstance(x, float) else str(x)


def end_to_end(repeats: int) -> list[tuple[str, float, float]]:
    """(label, wall s, CPU s of the process tree) of the CLI: --help, then the 100k heat-map render."""
    folder = Path(tempfile.mkdtemp(prefix="render_bench_"))
    torus("100k").export(folder / "torus.ply")
    torus("100k", minor=MINOR * 1.03).export(folder / "gt.ply")
    cli = [sys.executable, "-c", "import sys; from sdfrecon.cli import main; sys.exit(main())"]
    runs = [("sdfrecon --help (baseline)", cli + ["--help"]),
            ("sdfrecon render torus100k --gt --heatmap (800x600, ss 2)",
             cli + ["render", str(folder / "torus.ply"), "--gt", str(folder / "gt.ply"), "--heatmap",
                    "-o", str(folder / "shot.png"), "--overwrite"])]
    subprocess.run(runs[1][1], check=True, capture_output=True)  # remember the backend first (probe)
    rows = []
    for label, argv in runs:
        for _ in range(repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            rows.append((label, wall, cpu))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="legacy,offscreen")
    parser.add_argument("--frame-timeout", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end runs of each command")
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args(argv)
    import open3d

    print(f"# render bench: {WIDTH}x{HEIGHT}, supersample {SUPERSAMPLE}; open3d {open3d.__version__}; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start")
    t = time.perf_counter()
    built = scenes()
    print(f"scenes built in {time.perf_counter() - t:.1f} s")
    table = ["| backend | scene | triangles | first frame s | warm frame s |", "|---|---|---|---|---|"]
    for backend in args.backends.split(","):
        start, results = bench_backend(backend, built, args.frame_timeout)
        table.append(f"| {backend} | (worker start) | | {_fmt(start)} | |")
        for name, (first, warm) in results.items():
            tris = sum(len(it.geometry.triangles) for it in built[name].items if hasattr(it.geometry, "triangles"))
            table.append(f"| {backend} | {name} | {tris:,} | {_fmt(first)} | {_fmt(warm)} |")
        print("\n".join(table[-1 - len(results):]), flush=True)
    print()
    print("\n".join(table))
    if not args.skip_end_to_end:
        rows = end_to_end(args.repeats)
        base = min(w for label, w, _ in rows if "baseline" in label)
        print()
        print("| command | wall s (min / max) | CPU s (min) | wall / --help |")
        print("|---|---|---|---|")
        for label in dict.fromkeys(label for label, _, _ in rows):
            walls = [w for lb, w, _ in rows if lb == label]
            cpus = [c for lb, _, c in rows if lb == label]
            print(f"| {label} | {min(walls):.2f} / {max(walls):.2f} | {min(cpus):.2f} | {min(walls) / base:.1f} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
