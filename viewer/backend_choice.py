"""Which rendering backend ``auto`` uses here: probed once, then remembered.

The probe renders a small sphere twice with each backend that can start here
(in :data:`sdfrecon.viewer.backends.BACKENDS` order, each in its own worker
with a time limit per frame), times the second (warm) frame, and stops at the
first backend that is fast enough; otherwise the fastest wins. The answer is kept in ``render_backend.json`` in the user cache
folder (``$SDFRECON_CACHE_DIR``, else ``$XDG_CACHE_HOME/sdfrecon``, else
``~/.cache/sdfrecon``), keyed by what decides it: host, Python, Open3D, the X
display / Xvfb and the Vulkan drivers. A backend that later fails is
forgotten, so the next run probes again.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
from pathlib import Path

from sdfrecon.viewer.backends import BACKENDS, backend_problem

log = logging.getLogger(__name__)

CACHE_FILE = "render_backend.json"
PROBE_TIMEOUT = 30.0
"""Seconds each probe frame may take (start not included)."""
FAST_ENOUGH = 1.0
"""A second probe frame faster than this (seconds) ends the search."""
PROBE_SIZE = (640, 480)
"""Probe frame size: large enough to expose per-pixel cost (Filament on lavapipe: ~1 minute;
the legacy visualizer on llvmpipe: ~0.1 s), small enough to be cheap where it is fast."""


def cache_path() -> Path:
    """Where the choice is remembered."""
    root = os.environ.get("SDFRECON_CACHE_DIR")
    if root:
        return Path(root) / CACHE_FILE
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sdfrecon" / CACHE_FILE


def machine_key() -> str:
    """What the choice depends on, as one string."""
    from importlib import metadata

    from sdfrecon.viewer.backends import VULKAN_ICD_DIRS

    try:
        open3d_version = metadata.version("open3d")
    except metadata.PackageNotFoundError:
        open3d_version = "none"
    icds = sorted(p.name for d in VULKAN_ICD_DIRS if os.path.isdir(d) for p in Path(d).glob("*.json"))
    display = "display" if os.environ.get("DISPLAY") else ("xvfb" if shutil.which("Xvfb") else "none")
    return "|".join([platform.node(), platform.python_version(), f"open3d {open3d_version}", display,
                     "vulkan " + ",".join(icds)])


def _load() -> dict:
    try:
        data = json.loads(cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(data: dict) -> None:
    from sdfrecon.base.atomic import atomic_write_text

    try:
        atomic_write_text(cache_path(), json.dumps(data, indent=1, sort_keys=True))
    except OSError as exc:  # a read-only home must not stop a picture
        log.info("cannot remember the render backend in %s: %s", cache_path(), exc)


def remembered() -> dict | None:
    """The remembered probe for this machine: ``backend``, ``seconds`` per backend, ``failed``, ``when``."""
    entry = _load().get(machine_key())
    return entry if isinstance(entry, dict) and entry.get("backend") in BACKENDS else None


def forget() -> None:
    """Drop this machine's remembered choice (the next ``auto`` probes again)."""
    data = _load()
    if data.pop(machine_key(), None) is not None:
        _save(data)


def backend_order() -> list[str]:
    """Backends for ``auto`` to try, best first: the remembered choice, else a fresh probe.

    Raises
    ------
    RenderError
        No backend can start here, or every one failed its probe.
    """
    from sdfrecon.viewer.render import RenderError

    problems = {name: backend_problem(name) for name in BACKENDS}
    available = [name for name in BACKENDS if problems[name] is None]
    if not available:
        raise RenderError("cannot render: " + "; ".join(f"the {n} renderer {p}" for n, p in problems.items()))
    entry = remembered()
    if entry is None or entry["backend"] not in available:
        entry = probe(available)
    chosen = entry["backend"]
    return [chosen] + [n for n in available if n != chosen]


def probe(available: list[str]) -> dict:
    """Time a small frame with each backend in turn; remember and return the result.

    Raises
    ------
    RenderError
        Every backend failed.
    """
    from sdfrecon.viewer.render import RenderError, WorkerFailed, close_worker, worker_for

    seconds: dict[str, float] = {}
    failed: dict[str, str] = {}
    request = probe_request()
    for name in available:
        started = time.perf_counter()
        try:
            worker = worker_for(name)  # kept: the real pictures reuse it
            ready = time.perf_counter()
            worker.render(request, PROBE_TIMEOUT)  # first frame: windows, shaders
            warm = time.perf_counter()
            worker.render(request, PROBE_TIMEOUT)
            seconds[name] = round(time.perf_counter() - warm, 3)
            log.info("render probe: %s %.2f s per frame (start %.2f s, first frame %.2f s)", name, seconds[name],
                     ready - started, warm - ready)
        except WorkerFailed as exc:
            close_worker(name)
            failed[name] = str(exc)
            continue
        if seconds[name] < FAST_ENOUGH:
            break
    if not seconds:
        raise RenderError("cannot render: " + "; ".join(f"{n} renderer: {why}" for n, why in failed.items()))
    entry = {"backend": min(seconds, key=seconds.get), "seconds": seconds, "failed": failed,
             "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    data = _load()
    data[machine_key()] = entry
    _save(data)
    return entry


def probe_request() -> dict:
    """A render request for a lit 5,120-triangle sphere at :data:`PROBE_SIZE`."""
    import dataclasses

    import trimesh

    from sdfrecon.viewer.camera import preset_camera
    from sdfrecon.viewer.packing import pack_scene
    from sdfrecon.viewer.scene import build_scene

    scene = build_scene(trimesh.creation.icosphere(subdivisions=4))
    w, h = PROBE_SIZE
    cam = preset_camera("iso", scene.center, scene.radius, aspect=w / h)
    return {"op": "render", "scene": pack_scene(scene), "cameras": [dataclasses.asdict(cam)], "width": w,
            "height": h, "supersample": 1, "background": (1.0, 1.0, 1.0)}
