"""The shared KD-tree answers exactly what scipy's default tree answers, far from the points too."""

import numpy as np
from scipy.spatial import cKDTree

from sdfrecon.base.kdtree import point_tree


def test_same_neighbours_as_the_default_tree_near_and_far():
    rng = np.random.default_rng(3)
    # A flat sheet with a bump, like a depth frame: the case the tree's build options are for.
    xy = rng.uniform(-1, 1, size=(20_000, 2))
    points = np.column_stack([xy, 0.1 * np.exp(-8 * (xy**2).sum(axis=1))])
    queries = np.concatenate([rng.uniform(-1.1, 1.1, size=(3_000, 3)),
                              points[:3_000] + rng.normal(scale=0.01, size=(3_000, 3))])
    got_d, got_i = point_tree(points).query(queries, k=8)
    want_d, want_i = cKDTree(points).query(queries, k=8)
    np.testing.assert_array_equal(got_d, want_d)
    np.testing.assert_array_equal(got_i, want_i)
