"""Conforming split of chosen edges, and the chord (sagitta) estimate that chooses them."""

import numpy as np
import pytest
import trimesh

from sdfrecon.meshing.subdivide import close_selection, edge_sagitta, split_edges


def test_sagitta_matches_the_sphere_and_is_zero_on_a_plane():
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    edges = sphere.edges_unique
    # exact normals of the unit sphere: the vertices themselves
    estimate = edge_sagitta(sphere.vertices, sphere.vertices, edges)
    exact = 1.0 - np.linalg.norm(sphere.vertices[edges].mean(axis=1), axis=1)  # chord midpoint to the sphere
    assert np.all(estimate > 0)  # the surface lies outside the chord, on the normals' side
    assert np.allclose(estimate, exact, rtol=0.05)
    plane = trimesh.creation.box().subdivide()
    top = plane.faces[np.all(plane.vertices[plane.faces][:, :, 2] > 0.49, axis=1)]
    edges = trimesh.Trimesh(plane.vertices, top, process=False).edges_unique
    assert np.allclose(edge_sagitta(plane.vertices, np.tile([0.0, 0.0, 1.0], (len(plane.vertices), 1)), edges), 0.0)


def test_a_partial_split_keeps_the_mesh_closed_and_wound_alike():
    mesh = trimesh.creation.icosphere(subdivisions=2)
    edges, face_edges = mesh.edges_unique, mesh.faces_unique_edges
    chosen = close_selection(face_edges, np.random.default_rng(0).random(len(edges)) < 0.2)
    per_face = chosen[face_edges].sum(axis=1)
    assert set(np.unique(per_face)) <= {0, 1, 3} and 0 < chosen.sum() < len(edges)
    new_vertex = np.full(len(edges), -1)
    new_vertex[chosen] = len(mesh.vertices) + np.arange(chosen.sum())
    midpoints = mesh.vertices[edges[chosen]].mean(axis=1)
    faces = split_edges(mesh.faces, face_edges, new_vertex)
    split = trimesh.Trimesh(np.vstack([mesh.vertices, midpoints]), faces, process=False)
    assert len(faces) == len(mesh.faces) + 3 * np.sum(per_face == 3) + np.sum(per_face == 1)
    assert split.is_watertight and split.is_winding_consistent
    assert np.isclose(split.volume, mesh.volume)  # midpoints on the chords: same solid
    assert np.isclose(split.area, mesh.area)


def test_two_split_edges_on_one_face_are_refused():
    mesh = trimesh.creation.icosphere(subdivisions=0)
    edges, face_edges = mesh.edges_unique, mesh.faces_unique_edges
    new_vertex = np.full(len(edges), -1)
    new_vertex[face_edges[0, :2]] = [len(mesh.vertices), len(mesh.vertices) + 1]
    with pytest.raises(ValueError, match="two split edges"):
        split_edges(mesh.faces, face_edges, new_vertex)
