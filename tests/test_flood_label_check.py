"""bench.flood_label_check: the flood fill's labels against a known solid, and bad arguments."""

import numpy as np
import trimesh

from bench.flood_label_check import MeshSolid, VoxelSolid, check_labels, main


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
    outside, wrong, _, _, note = check_labels(cloud, MeshSolid(table), resolve_config("default"))
    assert outside > 1000 and wrong == 0, note
    # The same labels against a table moved off its points: many now lie inside it.
    moved = table.copy().apply_translation((0.0, 0.0, -0.6))
    assert check_labels(cloud, MeshSolid(moved), resolve_config("default"))[1] > 100


def test_an_unknown_shape_or_condition_is_one_line_of_error(capsys):
    assert main(["--shapes", "bunny,teapot"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --shapes: unknown shape 'teapot'"
    assert main(["--conditions", "sideways"]) == 2
    assert capsys.readouterr().err.strip() == "error: --conditions: unknown condition 'sideways'"
    assert main(["--mesh", "no/such/part.stl"]) == 2
    assert capsys.readouterr().err.strip().endswith("no/such/part.stl: no such file")


def test_a_soup_encloses_its_closed_parts_but_not_an_open_box():
    """The voxel ground truth of a triangle soup: a closed box's inside is filled, the inside
    of a box without its top is reached from outside and stays empty."""
    closed = trimesh.creation.box(extents=(0.4, 0.4, 0.4)).apply_translation((-0.5, 0.0, 0.0))
    open_box = trimesh.creation.box(extents=(0.4, 0.4, 0.4)).apply_translation((0.5, 0.0, 0.0))
    open_box.update_faces(open_box.face_normals[:, 2] < 0.9)  # drop the top's two triangles
    solid = VoxelSolid.enclosed_by(trimesh.util.concatenate([closed, open_box]), 0.02)
    inside, deep = solid.occupancy(np.array([[-0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0],
                                             [-0.5, 0.0, 0.195], [5.0, 5.0, 5.0]]), 0.01)
    assert inside.tolist() == [True, False, False, True, False]
    assert deep.tolist() == [True, True, True, False, True]


def test_the_onet_points_lie_on_their_shapenet_solid_and_a_mirror_does_not():
    """The ShapeNet mesh mapped into the ONet frame (the shared README's rotation): none of
    the bench's 100,000 points lies more than two voxels outside the solid; mirrored along x,
    half of them do."""
    from tests.conftest import shared_data

    npz = shared_data("extra", "shapenet", "02828884_1a55e418c61e9dab6f4a86fe50d4c8f0_pointcloud.npz")
    solid = VoxelSolid.from_onet(npz, shared_data("extra", "shapenet",
                                                  "02828884_1a55e418c61e9dab6f4a86fe50d4c8f0_model_normalized.obj"),
                                 voxels=128)
    points = np.load(npz)["points"].astype(np.float64)

    def far_outside(at: np.ndarray) -> float:
        cells, within = solid.index(at)
        outside = ~(within & solid.filled[tuple(cells.T)])
        return float(np.mean(outside & (solid.depth[tuple(cells.T)] > 2)))

    assert far_outside(points) < 0.001
    assert far_outside(points * np.array([-1.0, 1.0, 1.0])) > 0.3
