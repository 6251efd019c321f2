"""Stray points (sdfrecon.datasets.outliers): points isolated in empty space are found, the
surface's own points are kept, also where the surface is sampled more thinly."""

import numpy as np
import pytest

from sdfrecon.base.errors import ConfigError
from sdfrecon.datasets.outliers import OutlierConfig, stray_points
from sdfrecon.datasets.synthetic import sphere_points, torus_points

ON = OutlierConfig(max_ratio=4)


def _strays_off_the_sphere(count: int, seed: int) -> np.ndarray:
    """``count`` uniform points in [-1.6, 1.6]^3, each at least 0.4 off the unit sphere: 5x the
    median 8th-neighbour distance of 5,000 points on it (0.08)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        p = rng.uniform(-1.6, 1.6, size=3)
        if abs(np.linalg.norm(p) - 1.0) > 0.4:
            out.append(p)
    return np.array(out)


def test_strays_in_the_box_are_found_and_the_surface_kept():
    surface, _ = sphere_points(5000, seed=0)
    strays = _strays_off_the_sphere(50, seed=1)
    found = stray_points(np.concatenate([surface, strays]), ON)
    assert not found[:5000].any()
    assert found[5000:].all()


def test_the_test_is_scale_free_and_off_by_default():
    surface, _ = sphere_points(3000, seed=0)
    cloud = np.concatenate([surface, _strays_off_the_sphere(20, seed=2)])
    assert np.array_equal(stray_points(cloud, ON), stray_points(cloud * 1e3 + 7.0, ON))
    assert not stray_points(cloud, OutlierConfig()).any()
    assert not stray_points(cloud[:8], ON).any()  # no 8th neighbour to measure


def test_a_thinly_sampled_part_of_the_surface_is_not_taken_for_strays():
    # Half the torus carries 2x the point spacing (4x fewer points per area), as a scan
    # seen from farther away: the test is against the cloud's median, so it must allow this.
    points, _ = torus_points(40_000, seed=0)
    far_side = points[:, 0] < 0
    keep = ~far_side | (np.random.default_rng(3).random(len(points)) < 0.25)
    assert not stray_points(points[keep], ON).any()


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="max_ratio"):
        OutlierConfig(max_ratio=0.5).validate("data.outliers")
    with pytest.raises(ConfigError, match="neighbours"):
        OutlierConfig(max_ratio=4, neighbours=0).validate("data.outliers")
