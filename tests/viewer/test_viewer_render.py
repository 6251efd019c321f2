"""Headless rendering of known meshes: the picture is not blank, the object is
where the camera puts it, and heat-map / SDF colours are the colour map's.

These tests do not skip: when no offscreen renderer can start, render_scene
raises RenderError and the test fails with its message (scripts/setup.sh
installs the Vulkan driver it needs)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import RADIUS, H, W, foreground, sphere_mesh, sphere_sdf

from sdfrecon.viewer.annotate import BAR_PANEL_WIDTH, colorbar_rows
from sdfrecon.viewer.camera import preset_camera, turntable_cameras
from sdfrecon.viewer.colormap import colormap, map_values
from sdfrecon.viewer.pictures import render_pictures, scene_cameras
from sdfrecon.viewer.render import render_scene, render_views
from sdfrecon.viewer.scene import SceneOptions, build_scene
from sdfrecon.viewer.sdf_slice import SlicePlane, sample_slice


def _focal(cam, height: int) -> float:
    return (height / 2.0) / np.tan(np.radians(cam.fov) / 2.0)


def _sphere_hit(cam, col: float, row: float, width: int, height: int, radius: float = RADIUS):
    """World point where the ray through pixel centre (col, row) meets the sphere at the origin, or None."""
    f = _focal(cam, height)
    forward = (cam.center - cam.eye) / np.linalg.norm(cam.center - cam.eye)
    right = np.cross(forward, cam.up)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    d = forward + right * (col + 0.5 - width / 2) / f - up * (row + 0.5 - height / 2) / f
    d /= np.linalg.norm(d)
    b = cam.eye @ d
    disc = b * b - (cam.eye @ cam.eye - radius ** 2)
    return None if disc < 0 else cam.eye + (-b - np.sqrt(disc)) * d


def _first_hit(mesh, origin, direction):
    """Index and barycentric coordinates (3,) of the first triangle a ray meets (Moller-Trumbore)."""
    a, b, c = (mesh.vertices[mesh.faces[:, k]] for k in range(3))
    e1, e2 = b - a, c - a
    p = np.cross(direction, e2)
    det = np.einsum("ij,ij->i", e1, p)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = origin - a
    u = np.einsum("ij,ij->i", s, p) * inv
    q = np.cross(s, e1)
    v = (q @ direction) * inv
    t = np.einsum("ij,ij->i", e2, q) * inv
    valid = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    i = int(np.argmin(np.where(valid, t, np.inf)))
    assert valid[i]
    return i, np.array([1.0 - u[i] - v[i], u[i], v[i]])


def test_sphere_is_drawn_centred_with_the_expected_size():
    scene = build_scene(sphere_mesh(), options=SceneOptions(shading="unlit"))
    cam = preset_camera("front", scene.center, scene.radius, aspect=W / H)
    image = render_scene(scene, cam, W, H)
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    fg = foreground(image)
    assert 0.05 < fg.mean() < 0.9, "picture is blank or flooded"
    ys, xs = np.nonzero(fg)
    assert abs(xs.mean() - (W - 1) / 2) < 1.5 and abs(ys.mean() - (H - 1) / 2) < 1.5
    # Silhouette of a sphere at distance d: radius f * r / sqrt(d^2 - r^2) pixels.
    d = np.linalg.norm(cam.eye - cam.center)
    expected = _focal(cam, H) * RADIUS / np.sqrt(d * d - RADIUS ** 2)
    assert abs((xs.max() - xs.min() + 1) / 2 - expected) < 2.0
    assert abs((ys.max() - ys.min() + 1) / 2 - expected) < 2.0
    # Corners are background, centre is object.
    assert not fg[:5, :5].any() and not fg[-5:, -5:].any() and fg[H // 2, W // 2]


def test_offset_object_lands_where_the_camera_projects_it():
    # Two spheres; a camera framing only the origin: the other one is off to the right.
    left, right = sphere_mesh(0.2), sphere_mesh(0.2, center=(0.6, 0.0, 0.0))
    scene = build_scene(left, gt=right, options=SceneOptions(shading="unlit", gt_layout="overlay"))
    cam = preset_camera("front", np.zeros(3), 1.0, aspect=W / H)
    fg = foreground(render_scene(scene, cam, W, H))
    f = _focal(cam, H)
    d = np.linalg.norm(cam.eye)
    col = W / 2 + f * 0.6 / d - 0.5  # projection of (0.6, 0, 0)
    ys, xs = np.nonzero(fg[:, int(W / 2 + f * 0.4 / d):])
    assert abs(xs.mean() + int(W / 2 + f * 0.4 / d) - col) < 2.0
    assert fg[H // 2, W // 2]


def test_lit_rendering_shades_the_sphere():
    scene = build_scene(sphere_mesh(), options=SceneOptions(shading="lit"))
    cam = preset_camera("front", scene.center, scene.radius, aspect=W / H)
    image = render_scene(scene, cam, W, H)
    fg = foreground(image)
    grey = image[fg].astype(float).mean(axis=1)
    assert fg.mean() > 0.05 and grey.std() > 3.0, "lit sphere should not be one flat colour"


def test_heatmap_colours_on_the_picture_match_the_vertex_errors():
    mesh = sphere_mesh()
    errors = mesh.vertices[:, 0] + RADIUS  # 0 at the left pole, 1 at the right
    scene = build_scene(mesh, errors=errors, options=SceneOptions(shading="unlit", error_max=2 * RADIUS))
    assert [b.colormap for b in scene.colorbars] == ["error"]
    assert scene.colorbars[0].vmin == 0 and scene.colorbars[0].vmax == pytest.approx(2 * RADIUS)
    cam = preset_camera("front", scene.center, scene.radius, aspect=W / H)
    image = render_scene(scene, cam, W, H)
    # The rasteriser interpolates vertex colours across each triangle: expect the
    # barycentric mix of the colour map at the three corners of the triangle each pixel sees.
    vertex_rgb = map_values(errors, 0.0, 2 * RADIUS, "error") * 255
    checked = 0
    for row in (H // 2 - 20, H // 2, H // 2 + 15):
        for col in range(30, W - 30, 7):
            p = _sphere_hit(cam, col, row, W, H)
            if p is None or abs(np.linalg.norm(p[:2])) > 0.9 * RADIUS:  # skip the silhouette
                continue
            direction = (p - cam.eye) / np.linalg.norm(p - cam.eye)
            tri, bary = _first_hit(mesh, cam.eye, direction)
            expected = bary @ vertex_rgb[mesh.faces[tri]]
            hit = bary @ mesh.vertices[mesh.faces[tri]]
            assert np.abs(image[row, col].astype(float) - expected).max() < 6, (row, col, image[row, col], expected)
            # and it is the colour map's colour of the error there, up to the interpolation
            exact = map_values(np.array([hit[0] + RADIUS]), 0.0, 2 * RADIUS, "error")[0] * 255
            assert np.abs(image[row, col].astype(float) - exact).max() < 16
            checked += 1
    assert checked > 20
    # Left is blue-ish (low error), right is red-ish (high error).
    assert image[H // 2, W // 2 - 45, 2] > image[H // 2, W // 2 - 45, 0]
    assert image[H // 2, W // 2 + 45, 0] > image[H // 2, W // 2 + 45, 2]


def test_picture_with_colour_bar_panel_shows_the_map():
    mesh = sphere_mesh()
    scene = build_scene(mesh, errors=np.abs(mesh.vertices[:, 1]), options=SceneOptions(shading="unlit"))
    width = W + BAR_PANEL_WIDTH
    (picture,) = render_pictures(scene, scene_cameras(scene, width, H, view="front"), width, H, supersample=1)
    assert picture.shape == (H, width, 3)
    top, bottom = colorbar_rows(scene.colorbars[0], H)
    assert bottom - top > 40
    bar = picture[top:bottom + 1, W + 12:W + 32].astype(float).mean(axis=1)
    expected = colormap((bottom - np.arange(top, bottom + 1)) / (bottom - top), "error") * 255
    assert np.abs(bar - expected).max() < 2.0
    assert foreground(picture[:, :W]).mean() > 0.05


def test_sdf_slice_colours_and_zero_contour_on_the_picture():
    # A slice through the centre of a sphere field, seen from the top (+y): inside is blue, outside red,
    # and the black contour is a circle of the sphere's radius.
    mesh = sphere_mesh()
    lo, hi = mesh.bounds
    s = sample_slice(sphere_sdf(), lo, hi, SlicePlane("y", 0.0), resolution=96)
    scene = build_scene(mesh, sdf_slice=s, options=SceneOptions(shading="unlit", clip_side=1, sdf_limit=0.5))
    cam = preset_camera("top", scene.center, scene.radius, aspect=W / H)
    image = render_scene(scene, cam, W, H)
    f = _focal(cam, H)
    d = np.linalg.norm(cam.eye - cam.center)
    centre = image[H // 2, W // 2].astype(float)
    np.testing.assert_allclose(centre, map_values(np.array([-RADIUS]), -0.5, 0.5, "sdf")[0] * 255, atol=8)
    r_px = f * RADIUS / d  # the contour lies in the plane y = 0, at distance d from the camera
    dark = image.max(axis=2) < 110
    ring = [(H // 2, int(round(W / 2 - 0.5 + r_px))), (H // 2, int(round(W / 2 - 0.5 - r_px))),
            (int(round(H / 2 - 0.5 + r_px)), W // 2), (int(round(H / 2 - 0.5 - r_px)), W // 2)]
    for row, col in ring:
        assert dark[row - 2:row + 3, col - 2:col + 3].any(), f"no contour near pixel {(row, col)}"
    # Between the contour and the slice's edge: outside, reddish.
    outside = image[H // 2, int(W / 2 + r_px * 1.15)].astype(int)
    assert outside[0] > outside[2] + 20


def test_turntable_frames_differ_and_keep_the_object_in_view():
    mesh = sphere_mesh()
    mesh.vertices[:, 0] *= 1.8  # an ellipsoid: its width changes as it turns
    scene = build_scene(mesh, options=SceneOptions(shading="unlit"))
    cams = turntable_cameras(4, scene.center, scene.radius, elevation=0.0, aspect=W / H)
    frames = render_views(scene, cams, W, H)
    assert len(frames) == 4
    widths = []
    for frame in frames:
        fg = foreground(frame)
        assert fg[H // 2, W // 2]
        xs = np.nonzero(fg[H // 2])[0]
        widths.append(xs.max() - xs.min())
    assert widths[1] < widths[0] - 10 and widths[3] < widths[2] - 10  # side-on (x wide) vs end-on


def test_supersampling_keeps_size_and_smooths_edges():
    scene = build_scene(sphere_mesh(), options=SceneOptions(shading="unlit"))
    cam = preset_camera("front", scene.center, scene.radius, aspect=W / H)
    sharp = render_scene(scene, cam, W, H, supersample=1)
    smooth = render_scene(scene, cam, W, H, supersample=2)
    assert smooth.shape == sharp.shape
    levels = lambda img: len(np.unique(img[H // 2, :, 1]))  # noqa: E731
    assert np.abs(foreground(sharp).mean() - foreground(smooth).mean()) < 0.02
    assert levels(smooth) >= levels(sharp)


def test_bad_sizes_are_rejected():
    scene = build_scene(sphere_mesh())
    cam = preset_camera("front", scene.center, scene.radius)
    with pytest.raises(ValueError, match="at least 8x8"):
        render_scene(scene, cam, 4, 4)
    with pytest.raises(ValueError, match="backend"):
        render_scene(scene, cam, W, H, backend="vulkan")
