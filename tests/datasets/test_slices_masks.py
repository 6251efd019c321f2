"""Mask stacks: PNG folders and .npy/.npz volumes -> slices, world mapping, input dispatch, errors."""

import numpy as np
import pytest
from PIL import Image

from sdfrecon.datasets.inputs import input_kind, read_input
from sdfrecon.datasets.masks import MaskOptions, read_mask_stack
from sdfrecon.base.errors import ConfigError, InputError


def _disc_volume(slices=6, size=32, radius=9.0):
    """(slices, size, size) stack; slice k holds a disc centred at (row 12, col 20), empty ends."""
    rows, cols = np.mgrid[0:size, 0:size]
    vol = np.zeros((slices, size, size), dtype=np.uint8)
    for k in range(1, slices - 1):
        vol[k] = ((rows - 12.0) ** 2 + (cols - 20.0) ** 2 <= radius**2).astype(np.uint8)
    return vol


def test_volume_world_coordinates(tmp_path):
    path = tmp_path / "vol.npy"
    np.save(path, _disc_volume())
    opts = MaskOptions(spacing=(0.5, 2.0, 3.0), origin=(10.0, -5.0, 1.0))
    slices = read_mask_stack(path, opts)
    assert len(slices.planes) == 6
    assert slices.planes[0].is_empty and slices.planes[-1].is_empty
    heights = [-p.offset for p in slices.planes]
    np.testing.assert_allclose(heights, 1.0 + 3.0 * np.arange(6))
    verts = slices.planes[2].vertices()
    centre = verts.mean(axis=0)
    np.testing.assert_allclose(centre[:2], [10.0 + 20 * 0.5, -5.0 + 12 * 2.0], atol=0.2)
    # the 0.5-level contour of a radius-9 disc reaches ~9.5 pixels from the centre column
    assert (verts[:, 0].max() - verts[:, 0].min()) / 0.5 == pytest.approx(19.0, abs=1.0)
    assert slices.cap == pytest.approx(1.5)
    assert slices.summary()["spacing"] == [0.5, 2.0, 3.0]


def test_axis_option_picks_the_slice_axis(tmp_path):
    vol = _disc_volume()
    path = tmp_path / "vol.npz"
    np.savez(path, masks=np.moveaxis(vol, 0, 2))
    slices = read_mask_stack(path, MaskOptions(axis=2))
    reference = read_mask_stack(_save(tmp_path / "ref.npy", vol))
    for a, b in zip(slices.planes, reference.planes):
        np.testing.assert_allclose(a.vertices(), b.vertices())


def _save(path, array):
    np.save(path, array)
    return path


def test_png_folder_natural_order(tmp_path):
    vol = _disc_volume(slices=4)
    vol[2] = 0
    vol[2, 0:5, 0:5] = 255  # a small square marks slice 2
    folder = tmp_path / "masks"
    folder.mkdir()
    for k, mask in enumerate(vol):  # names sort wrongly as text: s10 < s2
        Image.fromarray(mask * 255 if mask.max() == 1 else mask).save(folder / f"s{k * 10 if k else 2}.png")
    (folder / "notes.txt").write_text("ignored")
    slices = read_input(folder)
    assert slices.kind == "slices" and len(slices.planes) == 4
    # natural order: s2 (slice 0, empty), s10, s20 (the square), s30
    assert slices.planes[0].is_empty and slices.planes[-1].is_empty
    square = slices.planes[2].vertices()
    assert square[:, 0].max() < 5 and -slices.planes[2].offset == pytest.approx(2.0)


def test_rgb_and_alpha_pngs(tmp_path):
    folder = tmp_path / "rgb"
    folder.mkdir()
    for k in range(3):
        img = np.zeros((16, 16, 4), dtype=np.uint8)
        img[..., 3] = 255  # opaque everywhere: alpha must not count as inside
        img[4:10, 4:10, 0] = 200
        Image.fromarray(img).save(folder / f"{k}.png")
    slices = read_mask_stack(folder)
    verts = slices.planes[1].vertices()
    assert verts[:, 0].min() == pytest.approx(3.5) and verts[:, 0].max() == pytest.approx(9.5)


def test_input_kind_dispatch(tmp_path):
    vol = _save(tmp_path / "v.npy", _disc_volume())
    pts = _save(tmp_path / "p.npy", np.random.default_rng(0).normal(size=(100, 3)))
    assert input_kind(vol) == "slices" and input_kind(pts) == "points"
    assert input_kind(tmp_path) == "slices" and input_kind(tmp_path / "x.csl") == "slices"
    assert read_input(pts).kind == "points"
    with pytest.raises(ConfigError, match="apply to mask"):
        read_input(pts, mask_options=MaskOptions(spacing=(1.0, 1.0, 2.0)))


@pytest.mark.parametrize("case, expected", [
    ("all_empty", "all 6 masks are empty"),
    ("no_png", "holds no .png masks"),
    ("sizes", "all masks must have the same size"),
    ("not_image", "cannot be read as an image"),
    ("one_slice", "at least 2 are needed"),
])
def test_bad_mask_stacks(tmp_path, case, expected):
    folder = tmp_path / "m"
    folder.mkdir()
    if case == "all_empty":
        path = _save(tmp_path / "e.npy", np.zeros((6, 8, 8)))
    elif case == "no_png":
        path = folder
    elif case == "sizes":
        Image.fromarray(np.ones((8, 8), np.uint8)).save(folder / "a.png")
        Image.fromarray(np.ones((8, 9), np.uint8)).save(folder / "b.png")
        path = folder
    elif case == "not_image":
        (folder / "a.png").write_text("not a png")
        path = folder
    else:
        path = _save(tmp_path / "one.npy", np.ones((1, 8, 8)))
    with pytest.raises(InputError, match=expected) as info:
        read_mask_stack(path)
    assert "\n" not in str(info.value)


def test_bad_options():
    with pytest.raises(ConfigError, match="--spacing"):
        MaskOptions(spacing=(1.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="--axis"):
        MaskOptions(axis=3)
