"""The interactive window of ``sdfrecon view``, seen for real: started under a private Xvfb,
driven with xdotool key presses, photographed from the X server (Pillow's ImageGrab), and
checked to show the heat-map, the ground truth and the SDF slice, and to change when keys
say so; SIGTERM closes it (exit 130)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from browser import hue_pixels
from conftest import sphere_mesh

SDFRECON = [sys.executable, "-c", "import sys; from sdfrecon.cli import main; sys.exit(main())"]
WIDTH, HEIGHT = 640, 480


@pytest.fixture
def xvfb():
    """DISPLAY of a private Xvfb server (skips, saying why, without Xvfb or xdotool)."""
    from sdfrecon.viewer.backends import start_xvfb

    for tool, package in (("Xvfb", "xvfb"), ("xdotool", "xdotool")):
        if shutil.which(tool) is None:
            pytest.skip(f"no {tool} (Debian: apt-get install {package}; scripts/setup.sh installs it as root)")
    proc, display = start_xvfb("1024x768x24")
    yield display
    proc.kill()
    proc.wait()


def _window(display: str, timeout: float = 180.0) -> tuple[str, tuple[int, int, int, int]]:
    """Id and (x, y, w, h) of the viewer's window, once mapped."""
    env = {**os.environ, "DISPLAY": display}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "sdfrecon view"], env=env,
                               capture_output=True, text=True).stdout.split()
        if found:
            geo = subprocess.run(["xdotool", "getwindowgeometry", "--shell", found[0]], env=env,
                                 capture_output=True, text=True).stdout
            g = dict(line.split("=", 1) for line in geo.split())
            return found[0], (int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"]))
        time.sleep(0.3)
    raise AssertionError("the viewer's window did not appear")


def _grab(display: str, box) -> np.ndarray:
    from PIL import ImageGrab

    x, y, w, h = box
    return np.asarray(ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=display).convert("RGB"))


def _wait_for(display, box, check, timeout=60.0) -> np.ndarray:
    deadline = time.monotonic() + timeout
    while True:
        image = _grab(display, box)
        if check(image) or time.monotonic() > deadline:
            return image
        time.sleep(0.3)


def _count(image: np.ndarray) -> dict[str, int]:
    return {h: int(hue_pixels(image, h).sum()) for h in ("red", "green", "blue")}


@pytest.mark.slow
def test_window_shows_heatmap_gt_and_slice_and_answers_keys(xvfb, tmp_path, sphere_ply, field_checkpoint):
    gt = tmp_path / "gt.ply"
    sphere_mesh(0.45).export(gt)
    env = {**os.environ, "DISPLAY": xvfb}
    proc = subprocess.Popen(SDFRECON + ["view", str(sphere_ply), "--gt", str(gt), "--heatmap", "--checkpoint",
                                        str(field_checkpoint), "--slice", "z", "--width", str(WIDTH),
                                        "--height", str(HEIGHT)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        wid, box = _window(xvfb)
        # Start: heat-map (every vertex 0.05 from the GT: the map's top, dark red), the GT (green) and the
        # slice (the sphere field's inside in blue) are all on screen.
        start = _wait_for(xvfb, box, lambda im: all(n > 200 for n in _count(im).values()))
        counts = _count(start)
        assert all(n > 200 for n in counts.values()), f"not all drawn at start: {counts}"

        def press(key: str) -> None:
            subprocess.run(["xdotool", "key", "--window", wid, key], env=env, check=True)

        press("v")  # slice off: its blue inside goes (and the red outside with it)
        hidden = _wait_for(xvfb, box, lambda im: _count(im)["blue"] < counts["blue"] // 10)
        assert _count(hidden)["blue"] < counts["blue"] // 10, f"V did not hide the slice: {_count(hidden)}"
        assert _count(hidden)["red"] > 200  # the heat-map is still on
        press("e")  # heat-map off: the mesh turns grey, nothing red is left
        off = _wait_for(xvfb, box, lambda im: _count(im)["red"] < 50)
        assert _count(off)["red"] < 50, f"E did not switch the heat-map off: {_count(off)}"
        assert _count(off)["green"] > 200
        press("v")
        press("bracketright")  # slice moves up its axis: the picture changes, the slice is back
        moved = _wait_for(xvfb, box, lambda im: _count(im)["blue"] > 200)
        assert _count(moved)["blue"] > 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "heat-map off" in out and "slice off" in out and "offset +0.05" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
