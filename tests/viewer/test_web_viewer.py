"""``sdfrecon view --web``: served on a free loopback port, loaded in a real headless browser
that draws the mesh with its heat-map and the ground truth; the controls (slice axis and
position, heat-map, snapshots timeline) change what is sent; SIGTERM stops the server (exit 130)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from browser import Browser, chromium, hue_pixels
from conftest import sphere_mesh

pytest.importorskip("viser", reason="the web viewer needs viser (pip install 'sdfrecon[web]')")

from sdfrecon.viewer.web import WebViewer, access_lines, free_port  # noqa: E402

SDFRECON = [sys.executable, "-c", "import sys; from sdfrecon.cli import main; sys.exit(main())"]


def _read_until(proc: subprocess.Popen, marker: str, timeout: float) -> str:
    """stdout of ``proc`` up to the first line containing ``marker`` (raw reads: select and text buffers don't mix)."""
    seen = b""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
            text = seen.decode(errors="replace")
            if marker in text and text.rstrip(" ").endswith("\n"):
                return text
    proc.kill()
    raise AssertionError(f"no {marker!r} from the viewer; stdout: {seen!r}; stderr: {proc.stderr.read()[-2000:]}")


@pytest.mark.slow
def test_web_viewer_page_draws_the_scene_in_a_headless_browser(tmp_path, sphere_ply):
    chromium()  # skip early (with the reason) when there is no browser
    gt = tmp_path / "gt.ply"
    sphere_mesh(0.45).export(gt)
    port = free_port()
    proc = subprocess.Popen(SDFRECON + ["view", str(sphere_ply), "--gt", str(gt), "--heatmap", "--web",
                                        "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = _read_until(proc, "ssh -N -L", timeout=240)  # generous: a busy 2-core machine
        assert f"web viewer: http://127.0.0.1:{port}" in out
        assert f"ssh -N -L {port}:127.0.0.1:{port} " in out
        # Every vertex is 0.05 from the GT: the mesh is the top of the heat-map (dark red); the GT is
        # green. Look at the 3D view only, clear of the control panel (right, with its colour bar) and of
        # the software-WebGL notice (top left). (The slice's placement is checked without a browser below.)
        counts = lambda img: {h: int(hue_pixels(img[190:, :640], h).sum()) for h in ("red", "green")}  # noqa: E731
        drawn = lambda img: all(n > 300 for n in counts(img).values())  # noqa: E731
        with Browser(size=(1000, 700)) as browser:
            browser.goto(f"http://127.0.0.1:{port}/")
            image = browser.wait_for(drawn, timeout=180)
        assert drawn(image), f"scene not drawn: pixels per hue {counts(image)}"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_web_controls_resend_only_what_changes(tmp_path, sphere_ply, field_checkpoint):
    from sdfrecon.viewer.inputs import load_view_inputs
    from sdfrecon.viewer.interactive import ViewerState
    from sdfrecon.viewer.sdf_slice import SlicePlane

    gt = tmp_path / "gt.ply"
    sphere_mesh(0.45).export(gt)
    inputs = load_view_inputs(sphere_ply, gt=gt, heatmap=True, checkpoint=field_checkpoint, field="required")
    snaps = [(10, sphere_mesh(0.3, subdivisions=2)), (20, sphere_mesh(0.4, subdivisions=2))]
    viewer = WebViewer(ViewerState(inputs, plane=SlicePlane("z", 0.0)), port=free_port(), snapshots=snaps)
    try:
        assert viewer.host == "127.0.0.1"  # loopback unless asked
        h = dict(viewer._handles)
        assert {"mesh", "gt", "slice", "snapshot0", "snapshot1"} <= set(h)
        viewer._change_heatmap(False)
        assert viewer._handles["mesh"] is not h["mesh"] and not viewer._bars["error"].visible
        assert viewer._handles["gt"] is h["gt"]  # untouched
        viewer._toggle(lambda: setattr(viewer.state, "show_gt", False))
        assert viewer._handles["gt"].visible is False
        before = viewer._handles["slice"]
        viewer._change_slice(axis="x", offset=0.5)
        assert viewer._handles["slice"] is not before and viewer.state.plane == SlicePlane("x", 0.5)
        # the slice picture sits on its plane: x = centre + half the box along x
        lo, hi = inputs.bounds
        assert viewer._handles["slice"].position[0] == pytest.approx(0.5 * (lo[0] + hi[0]) + 0.25 * (hi[0] - lo[0]))
        viewer._show_snapshot(0)
        assert viewer._handles["snapshot0"].visible and not viewer._handles["mesh"].visible
        viewer._show_snapshot(2)
        assert viewer._handles["mesh"].visible and not viewer._handles["snapshot1"].visible
    finally:
        viewer.stop()


def test_access_lines_say_how_to_reach_the_page():
    local = access_lines("127.0.0.1", 8123)
    assert local[0].startswith("web viewer: http://127.0.0.1:8123")
    assert "ssh -N -L 8123:127.0.0.1:8123 " in local[1]
    public = access_lines("0.0.0.0", 8123)
    assert "warning" in public[1] and "127.0.0.1" in public[1]


def test_web_options_are_checked(sphere_ply, capsys):
    from sdfrecon.cli import main

    assert main(["view", str(sphere_ply), "--snapshots", "x"]) == 2
    assert "add --web" in capsys.readouterr().err
    assert main(["view", str(sphere_ply), "--web", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
