"""Outlines digitised in pieces are joined; closed contours and lone chains are left alone."""

import numpy as np
from shapely import Polygon

from sdfrecon.datasets.contour_repair import join_open_chains


def _arc(start, stop, count=40, radius=1.0, centre=(0.0, 0.0)):
    t = np.linspace(start, stop, count)
    return np.column_stack([centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)])


def _area(loop):
    return Polygon(loop).area


def test_three_pieces_in_any_direction_become_one_loop():
    gap = 0.05  # radians: about one edge of a 40-point third of a circle
    a = _arc(gap, 2 * np.pi / 3 - gap)
    b = _arc(4 * np.pi / 3 - gap, 2 * np.pi / 3 + gap)  # traced backwards
    c = _arc(4 * np.pi / 3 + gap, 2 * np.pi - gap)
    loops, groups, joins = join_open_chains([a, b, c], [1, 1, 1])
    assert len(loops) == 1 and groups == [1]
    assert sorted(joins[0].contours) == [0, 1, 2] and len(joins[0].gaps) == 2
    assert Polygon(loops[0]).is_valid
    assert abs(_area(loops[0]) - np.pi) < 0.02 * np.pi  # the disc, not three chord-cut pieces


def test_closed_contours_and_a_lone_open_chain_are_left_alone():
    closed = [_arc(0, 2 * np.pi, 60, 0.4, (-1, 0))[:-1], _arc(0, 2 * np.pi, 60, 0.4, (0.2, 0))[:-1]]
    lone = _arc(0.3, 2 * np.pi - 0.3, 60, 0.4, (2, 0))  # a C: its closing edge bridges its own gap
    loops, _, joins = join_open_chains(closed + [lone], [1, 1, 1])
    assert joins == [] and len(loops) == 3
    assert all(np.array_equal(x, y) for x, y in zip(loops, closed + [lone]))


def test_pieces_of_different_labels_are_not_joined():
    upper, lower = _arc(0.05, np.pi - 0.05), _arc(np.pi + 0.05, 2 * np.pi - 0.05)
    loops, _, joins = join_open_chains([upper, lower], [1, 2])
    assert joins == [] and len(loops) == 2


def test_two_cad_prongs_across_a_narrow_slot_stay_apart():
    # Two rectangles 0.02 apart, each listed so that its closing edge is the long side facing
    # the slot: a long straight edge, but the rectangles' other long sides are as long.
    left = np.array([[-0.01, 1.0], [-1.0, 1.0], [-1.0, -1.0], [-0.01, -1.0]])
    right = np.array([[0.01, -1.0], [1.0, -1.0], [1.0, 1.0], [0.01, 1.0]])
    loops, _, joins = join_open_chains([left, right], [1, 1])
    assert joins == [] and len(loops) == 2
