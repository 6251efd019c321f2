"""Training data of the learned prior: procedural solids, labelled samples, suite sources."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import trimesh
from scipy.spatial import Delaunay

from sdfrecon.base.errors import ConfigError, InputError
from sdfrecon.datasets.prior_data import (MeshSource, PriorDataConfig, PriorDataset, ProceduralSource,
                                          SampleOptions, make_sample, suite_sources, training_shapes)
from sdfrecon.datasets.procedural import FAMILIES, procedural_shape


def _mesh_inside(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, dtype=np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.uint32)))
    return scene.compute_occupancy(o3d.core.Tensor(points.astype(np.float32)), nsamples=3).numpy() > 0.5


@pytest.mark.parametrize("family", FAMILIES)
def test_procedural_families_make_closed_solids_with_exact_labels(family):
    shape = procedural_shape(11, families=(family,))
    assert shape.family == family
    assert shape.mesh.is_watertight and shape.mesh.volume > 0  # closed, outward normals
    rng = np.random.default_rng(0)
    surface = shape.surface_points(500, rng)
    # Samples sit on the zero set the labels come from (up to CSG kinks).
    assert np.median(np.abs(shape.value(surface))) < 1e-4
    # Labels agree with the mesh's own inside test away from the surface.
    queries = rng.uniform(-1.2, 1.2, size=(3000, 3))
    far = np.abs(shape.value(queries)) > 0.05
    assert far.sum() > 1000
    mesh_inside = _mesh_inside(shape.mesh, queries[far])
    assert np.mean(mesh_inside == shape.inside(queries[far])) > 0.99


def test_procedural_shapes_are_deterministic_per_seed():
    a, b, c = procedural_shape(5), procedural_shape(5), procedural_shape(6)
    assert np.array_equal(a.mesh.vertices, b.mesh.vertices)
    assert not (len(a.mesh.vertices) == len(c.mesh.vertices) and np.allclose(a.mesh.vertices, c.mesh.vertices))


def _hull_agreement(sample) -> float:
    inside_hull = Delaunay(sample["points"]).find_simplex(sample["queries"]) >= 0
    return float(np.mean(inside_hull == (sample["occupancy"] > 0.5)))


def test_samples_of_a_convex_mesh_are_labelled_like_its_hull():
    # An ellipsoid far from the origin, in odd units: after augmentation and normalisation the
    # input fills [-1, 1] and the labels still say which queries are inside the scanned solid.
    mesh = trimesh.creation.icosphere(4, radius=30.0)
    mesh.vertices *= [1.0, 0.6, 0.4]
    mesh.vertices += [100.0, -20.0, 5.0]
    options = SampleOptions(noise=[0.0, 0.0], near_sigmas=[0.05], max_holes=0, input_points=20000)
    sample = make_sample(MeshSource("ellipsoid", mesh), np.random.default_rng(1), options)
    assert sample["points"].shape == (20000, 3) and sample["queries"].shape == (2048, 3)
    assert np.allclose(np.abs(sample["points"]).max(), 1.0) and sample["points"].dtype == np.float32
    assert 0.1 < sample["occupancy"].mean() < 0.9
    assert _hull_agreement(sample) > 0.995


def test_dataset_is_deterministic_and_changes_with_the_epoch():
    ds = PriorDataset([ProceduralSource(3, pool=1000)], SampleOptions(input_points=100, query_points=50), seed=4)
    a, b = ds[0], ds[0]
    ds.set_epoch(1)
    c = ds[0]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["points"], c["points"])


def test_suite_sources_skip_open_meshes(tmp_path, caplog):
    trimesh.creation.box().export(tmp_path / "box.obj")
    open_box = trimesh.creation.box()
    open_box.faces = open_box.faces[:-2]
    open_box.export(tmp_path / "open.obj")
    with caplog.at_level(logging.WARNING):
        sources = suite_sources(tmp_path)
    assert [s.name for s in sources] == ["box"]
    assert "open" in caplog.text
    shapes, repeats = training_shapes(PriorDataConfig(procedural=2, suite_repeats=5), [tmp_path])
    assert [s.name for s in shapes] == ["procedural_0", "procedural_1", "box"] and repeats == [1, 1, 5]


def test_shapenet_layout_trains_from_its_occupancy_labels(tmp_path):
    model = tmp_path / "02691156" / "abc"
    model.mkdir(parents=True)
    rng = np.random.default_rng(0)
    surface = rng.normal(size=(5000, 3))
    surface /= np.linalg.norm(surface, axis=1, keepdims=True) * 2.0  # sphere of radius 0.5
    np.savez(model / "pointcloud.npz", points=surface.astype(np.float16), normals=(2 * surface).astype(np.float16))
    labelled = rng.uniform(-0.55, 0.55, size=(4000, 3))
    inside = np.linalg.norm(labelled, axis=1) < 0.5
    np.savez(model / "points.npz", points=labelled.astype(np.float16), occupancies=np.packbits(inside))
    (source,) = suite_sources(tmp_path)
    sample = make_sample(source, np.random.default_rng(0), SampleOptions(noise=[0.0, 0.0], max_holes=0))
    # Labels travel with their points through augmentation and normalisation.
    assert _hull_agreement(sample) > 0.97


def test_unusable_inputs_fail_with_a_message(tmp_path):
    open_box = trimesh.creation.box()
    open_box.faces = open_box.faces[:-2]
    open_box.export(tmp_path / "open.obj")
    with pytest.raises(InputError, match="no shape with a watertight"):
        suite_sources(tmp_path)
    with pytest.raises(ConfigError, match="nothing to train on"):
        training_shapes(PriorDataConfig(procedural=0), [])
