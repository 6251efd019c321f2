"""Rendering never hangs: a stuck or crashing backend ends in a one-line error within its
time limit, ``auto`` falls back to the other backend, and SIGTERM stops ``render`` and
``benchmark`` at once (exit 130, no output, no worker or Xvfb left behind).

A stuck driver is acted out by the worker itself (``SDFRECON_RENDER_FAULT``, see
viewer/render_worker.py): it sleeps before its first frame, as a driver spinning in
native code would, and the parent has to kill it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import W, H, foreground, sphere_mesh

from sdfrecon.viewer import backend_choice
from sdfrecon.viewer import render as render_mod
from sdfrecon.viewer.camera import preset_camera
from sdfrecon.viewer.render import RenderError, RenderTimeout, render_scene
from sdfrecon.viewer.scene import build_scene

STOP_SECONDS = 10.0
"""How soon a signalled command must be gone (about 1 s on a quiet machine; 5 s was seen with 30 runnable
processes on 2 cores, most of it the interpreter's own shutdown)."""
SDFRECON = [sys.executable, "-c", "import sys; from sdfrecon.cli import main; sys.exit(main())"]


def _scene_and_camera():
    scene = build_scene(sphere_mesh())
    return scene, preset_camera("front", scene.center, scene.radius, aspect=W / H)


def _processes_with(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (entry / "stat").read_text().split()[2]
            except OSError:
                continue
            if text in cmd and state != "Z":
                found.append(int(entry.name))
    return found


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def fault(monkeypatch):
    """``fault("hang")``: workers started from now on act out that fault; fresh workers before and after."""
    render_mod.close_workers()

    def set_fault(spec: str) -> None:
        monkeypatch.setenv("SDFRECON_RENDER_FAULT", spec)

    yield set_fault
    monkeypatch.delenv("SDFRECON_RENDER_FAULT", raising=False)
    render_mod.close_workers()


def _fault_of(pid: int) -> str | None:
    try:
        env = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"SDFRECON_RENDER_FAULT="):
            return item.split(b"=", 1)[1].decode()
    return None


def test_a_crashing_backend_is_a_one_line_error(fault):
    scene, cam = _scene_and_camera()
    fault("crash")
    with pytest.raises(RenderError) as info:
        render_scene(scene, cam, W, H, backend="legacy", frame_timeout=30)
    assert not isinstance(info.value, RenderTimeout)
    assert str(info.value).startswith("cannot render: legacy renderer: the worker process crashed (signal SIGABRT)")
    assert "\n" not in str(info.value)


def test_auto_falls_back_when_the_remembered_backend_hangs_and_forgets_it(fault, tmp_path, monkeypatch):
    # Remember "offscreen" as this machine's choice, then make it hang: auto must give up on it
    # after the frame limit, draw the picture with the legacy backend, and forget the choice.
    monkeypatch.setenv("SDFRECON_CACHE_DIR", str(tmp_path))
    backend_choice._save({backend_choice.machine_key(): {"backend": "offscreen", "seconds": {"offscreen": 0.1}}})
    assert backend_choice.backend_order()[0] == "offscreen"
    fault("hang:offscreen")
    scene, cam = _scene_and_camera()
    image = render_scene(scene, cam, W, H, frame_timeout=2.0)
    assert foreground(image).mean() > 0.05
    assert backend_choice.remembered() is None


def test_the_probe_picks_a_fast_backend_and_remembers_it(fault, tmp_path, monkeypatch):
    monkeypatch.setenv("SDFRECON_CACHE_DIR", str(tmp_path))
    order = backend_choice.backend_order()
    entry = backend_choice.remembered()
    assert entry is not None and order[0] == entry["backend"]
    assert entry["seconds"][entry["backend"]] < backend_choice.PROBE_TIMEOUT
    assert (tmp_path / backend_choice.CACHE_FILE).exists()
    # the second call reads the cache instead of probing
    monkeypatch.setattr(backend_choice, "probe", lambda available: pytest.fail("probed again"))
    assert backend_choice.backend_order() == order


def test_render_cli_stuck_backend_exits_2_with_one_line_and_no_file(tmp_path, sphere_ply):
    out = tmp_path / "shot.png"
    env = {**os.environ, "SDFRECON_RENDER_FAULT": "hang"}
    start = time.monotonic()
    proc = subprocess.run(SDFRECON + ["render", str(sphere_ply), "-o", str(out), "--backend", "legacy",
                                      "--frame-timeout", "2"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: cannot render: legacy renderer: frame 1")
    assert time.monotonic() - start < 60
    assert "--frame-timeout" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob("*.png")) and not list(tmp_path.glob(".*tmp"))
    # the stuck worker was killed, not left spinning
    assert not [p for p in _processes_with("sdfrecon.viewer.render_worker") if _fault_of(p) == "hang"]


def _wait_for_worker(parent: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = [p for p in _children(parent) if p in _processes_with("sdfrecon.viewer.render_worker")]
        if workers:
            return workers[0]
        time.sleep(0.2)
    raise AssertionError("no render worker appeared")


def test_render_cli_stops_at_once_on_sigterm_while_native_code_runs(tmp_path, sphere_ply):
    out = tmp_path / "shot.png"
    env = {**os.environ, "SDFRECON_RENDER_FAULT": "hang"}
    proc = subprocess.Popen(SDFRECON + ["render", str(sphere_ply), "-o", str(out), "--backend", "legacy"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = _wait_for_worker(proc.pid)
    time.sleep(1.0)  # let it get stuck in the "driver"
    xvfb = _children(worker)
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < STOP_SECONDS
    assert proc.returncode == 130 and err.strip() == "error: interrupted"
    assert not out.exists() and not list(tmp_path.glob("*.png"))
    time.sleep(0.3)
    assert not _alive(worker) and not any(_alive(p) for p in xvfb)


def test_benchmark_stops_at_once_on_sigterm_during_its_contact_sheet(tmp_path):
    import trimesh

    suite = tmp_path / "suite"
    suite.mkdir()
    trimesh.creation.icosphere(subdivisions=2, radius=1.0).export(suite / "ball.ply")
    out = tmp_path / "results"
    env = {**os.environ, "SDFRECON_RENDER_FAULT": "hang"}
    proc = subprocess.Popen(SDFRECON + ["benchmark", "--suite", str(suite), "--methods", "poisson", "--quiet",
                                        "--samples", "1000", "--iou-samples", "1000", "--scan-points", "800",
                                        "--contact-sheet", "-o", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = _wait_for_worker(proc.pid, timeout=120)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < STOP_SECONDS
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted"
    assert (out / "results.csv").exists() and not (out / "contact_sheet.png").exists()
    time.sleep(0.3)
    assert not _alive(worker)
