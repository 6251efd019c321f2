"""bench.flood_label_check: the flood fill's labels against a known solid, and bad arguments."""

import numpy as np
import trimesh

from bench.flood_label_check import check_labels, main


def _table() -> trimesh.Trimesh:
    """A closed table: a 1.6 x 1.6 x 0.06 top on four 0.06-wide legs (disjoint closed boxes)."""
    parts = [trimesh.creation.box(extents=(1.6, 1.6, 0.06)).apply_translation((0, 0, 0.5))]
    parts += [trimesh.creation.box(extents=(0.06, 0.06, 0.96)).apply_translation((x, y, -0.02))
              for x in (-0.75, 0.75) for y in (-0.75, 0.75)]
    return trimesh.util.concatenate(parts)


def test_the_labels_of_a_sparse_table_agree_with_it_and_a_wrong_truth_is_caught():
    from sdfrecon.datasets.pointcloud import make_point_cloud
    from sdfrecon.pipeline.config import resolve_config

    table = _table()
    points = np.asarray(trimesh.sample.sample_surface(table, 1000, seed=0)[0])
    cloud = make_point_cloud(points, None, source="table")
    outside, wrong, _, _, note = check_labels(cloud, table, resolve_config("default"))
    assert outside > 1000 and wrong == 0, note
    # The same labels against a table moved off its points: many now lie inside it.
    moved = table.copy().apply_translation((0.0, 0.0, -0.6))
    assert check_labels(cloud, moved, resolve_config("default"))[1] > 100


def test_an_unknown_shape_or_condition_is_one_line_of_error(capsys):
    assert main(["--shapes", "bunny,teapot"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --shapes: unknown shape 'teapot'"
    assert main(["--conditions", "sideways"]) == 2
    assert capsys.readouterr().err.strip() == "error: --conditions: unknown condition 'sideways'"
