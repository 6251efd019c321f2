"""Scene building, SDF slices and the window's key logic: all without a display or renderer."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import RADIUS, sphere_mesh, sphere_sdf

from sdfrecon.viewer.colormap import map_values
from sdfrecon.viewer.inputs import ViewInputs, parse_slice_spec
from sdfrecon.viewer.interactive import KEYS, QUIT, REDRAW, RESET, SCREENSHOT, ViewerState, next_screenshot_path
from sdfrecon.viewer.scene import GT_RGB, SceneOptions, build_scene
from sdfrecon.viewer.sdf_slice import SlicePlane, sample_slice
from sdfrecon.base.errors import InputError


def test_viewer_imports_and_builds_its_scene_without_a_display():
    code = ("import numpy as np, trimesh, sdfrecon.viewer, sdfrecon.viewer.interactive, sdfrecon.viewer.render\n"
            "from sdfrecon.viewer.inputs import ViewInputs\n"
            "from sdfrecon.viewer.interactive import ViewerState\n"
            "m = trimesh.creation.icosphere(2)\n"
            "f = lambda p: np.linalg.norm(p, axis=1) - 1.0\n"
            "state = ViewerState(ViewInputs(m, gt=m.copy(), errors=np.zeros(len(m.vertices)), field=f),"
            " plane=sdfrecon.viewer.sdf_slice.SlicePlane('z', 0.0))\n"
            "print(sorted(state.scene().names()))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['contour', 'gt', 'mesh', 'slice']"


def test_scene_items_colours_and_bounds():
    mesh = sphere_mesh()
    errors = np.linspace(0.0, 1.0, len(mesh.vertices))
    pts = np.asarray(mesh.vertices)[:50] * 1.01
    scene = build_scene(mesh, points=pts, gt=sphere_mesh(), errors=errors, options=SceneOptions(error_max=1.0))
    assert scene.names() == ["mesh", "points", "gt"]
    colours = np.asarray(scene.item("mesh").geometry.vertex_colors)
    np.testing.assert_allclose(colours, map_values(errors, 0.0, 1.0, "error"))
    assert scene.item("mesh").geometry.has_vertex_normals()
    np.testing.assert_allclose(np.asarray(scene.item("gt").geometry.vertex_colors)[0], GT_RGB)
    gt_v = np.asarray(scene.item("gt").geometry.vertices)
    assert gt_v[:, 0].min() > np.asarray(mesh.vertices)[:, 0].max()  # beside, to the right (up = y)
    assert scene.colorbars[0].describe().startswith("error (distance to GT): 0 (dark blue) .. 1")
    overlay = build_scene(mesh, gt=sphere_mesh(), options=SceneOptions(gt_layout="overlay"))
    np.testing.assert_allclose(np.asarray(overlay.item("gt").geometry.vertices), mesh.vertices)
    assert overlay.radius == pytest.approx(RADIUS, rel=0.01) and scene.radius > 2 * RADIUS


def test_scene_rejects_bad_inputs():
    mesh = sphere_mesh()
    with pytest.raises(ValueError, match="errors must be"):
        build_scene(mesh, errors=np.zeros(3))
    with pytest.raises(ValueError, match="gt_layout"):
        build_scene(mesh, options=SceneOptions(gt_layout="stacked"))


@pytest.mark.parametrize("offset", [0.0, 0.5, -0.6])
def test_slice_of_an_analytic_sphere_has_its_zero_contour_at_the_radius(offset):
    mesh = sphere_mesh()
    lo, hi = mesh.bounds
    s = sample_slice(sphere_sdf(), lo, hi, SlicePlane("z", offset), resolution=128)
    z = s.coordinate
    assert z == pytest.approx(offset * (hi[2] - lo[2]) / 2 + (hi[2] + lo[2]) / 2)
    assert len(s.contours) == 1
    ring = s.contours[0]
    np.testing.assert_allclose(ring[:, 2], z)
    expected = np.sqrt(RADIUS ** 2 - z ** 2)
    np.testing.assert_allclose(np.linalg.norm(ring[:, :2], axis=1), expected, atol=2e-3)
    # values: negative inside, the exact distance at the grid points
    np.testing.assert_allclose(s.values.ravel(), sphere_sdf()(s.grid_points()))


def test_slice_geometry_and_clipping():
    mesh = sphere_mesh()
    lo, hi = mesh.bounds
    s = sample_slice(sphere_sdf(), lo, hi, SlicePlane("x", 0.0), resolution=40)
    scene = build_scene(mesh, sdf_slice=s, options=SceneOptions(clip_side=1, sdf_limit=0.5))
    assert scene.names() == ["mesh", "slice", "contour"]
    assert [b.colormap for b in scene.colorbars] == ["sdf"] and scene.colorbars[0].vmin == -0.5
    kept = np.asarray(scene.item("mesh").geometry.triangles)
    centroid_x = np.asarray(mesh.vertices)[kept][:, :, 0].mean(axis=1)
    assert (centroid_x <= 0).all() and len(kept) < 0.6 * len(mesh.faces)
    contour_v = np.asarray(scene.item("contour").geometry.vertices)
    assert len(contour_v) and np.abs(contour_v[:, 0]).max() < 0.01  # lies on the plane x = 0
    r = np.linalg.norm(contour_v[:, 1:], axis=1)
    assert abs(np.median(r) - RADIUS) < 0.01


@pytest.mark.parametrize("spec, axis, offset", [("z", "z", 0.0), ("X=0.25", "x", 0.25), ("y=-1", "y", -1.0),
                                                 (" z = .5 ", "z", 0.5)])
def test_slice_spec(spec, axis, offset):
    plane = parse_slice_spec(spec)
    assert (plane.axis, plane.offset) == (axis, offset)


@pytest.mark.parametrize("spec", ["w", "z=2", "z=", "zz", "z=abc", ""])
def test_bad_slice_spec_is_an_input_error(spec):
    with pytest.raises(InputError, match="--slice"):
        parse_slice_spec(spec)


def _state(**kw):
    mesh = sphere_mesh()
    inputs = ViewInputs(mesh, points=np.asarray(mesh.vertices)[:20], gt=sphere_mesh(),
                        errors=np.abs(mesh.vertices[:, 0]), field=sphere_sdf())
    return ViewerState(inputs, SceneOptions(), slice_resolution=32, **kw)


def test_key_presses_change_what_the_scene_holds():
    state = _state()
    assert state.scene().names() == ["mesh", "points", "gt"] and state.scene().colorbars
    assert state.press("p") == REDRAW and "points" not in state.scene().names()
    assert state.press("G") == REDRAW and "gt" not in state.scene().names()
    state.press("o")  # overlay brings the ground truth back, in place
    assert state.options.gt_layout == "overlay" and "gt" in state.scene().names()
    assert state.press("e") == REDRAW and not state.scene().colorbars
    assert state.press("v") == REDRAW
    scene = state.scene()
    assert {"slice", "contour"} <= set(scene.names()) and scene.colorbars[0].colormap == "sdf"
    assert state.messages and "slice z" in state.messages[0]


def test_slice_keys_move_and_turn_the_plane():
    state = _state(plane=SlicePlane("z", 0.0))
    z0 = state.scene().item("contour").geometry.get_center()[2]
    for _ in range(4):
        state.press("]")
    assert state.plane.offset == pytest.approx(0.2)
    ring = np.asarray(state.scene().item("contour").geometry.vertices)
    assert ring[:, 2].mean() == pytest.approx(z0 + 0.2 * RADIUS, abs=0.01)
    state.press("[")
    assert state.plane.offset == pytest.approx(0.15)
    for _ in range(40):
        state.press("]")
    assert state.plane.offset == 1.0  # stays inside the box
    state.press("x")
    assert (state.plane.axis, state.plane.offset) == ("x", 0.0)
    assert np.abs(np.asarray(state.scene().item("slice").geometry.vertices)[:, 0]).max() < 1e-12
    sides = [state.options.clip_side]
    for _ in range(3):
        state.press("c")
        sides.append(state.options.clip_side)
    assert sides == [1, -1, 0, 1]
    # one colour scale for every position: moving the plane keeps it
    before = state.scene().colorbars[-1].vmax
    state.press("[")
    state.press("[")
    assert state.scene().colorbars[-1].vmax == before


def test_window_actions_and_help():
    state = _state()
    assert state.press("r") == RESET and state.press("s") == SCREENSHOT and state.press("q") == QUIT
    assert state.press("k") is None
    text = state.help_text()
    for k in KEYS:
        assert k.help in text
    bare = ViewerState(ViewInputs(sphere_mesh()))
    assert bare.press("p") is None and bare.press("]") is None  # nothing loaded: keys do nothing
    assert "input points" not in bare.help_text() and "reset the view" in bare.help_text()
    assert bare.colorbar_lines() == []
    with pytest.raises(ValueError, match="field"):
        ViewerState(ViewInputs(sphere_mesh()), plane=SlicePlane("z", 0.0))


def test_screenshot_names_never_overwrite(tmp_path):
    first = next_screenshot_path(tmp_path)
    assert first.name == "sdfrecon_view_000.png"
    first.write_bytes(b"x")
    assert next_screenshot_path(tmp_path).name == "sdfrecon_view_001.png"
