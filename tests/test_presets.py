"""Every bundled preset trains two steps and meshes at 16^3 on a tiny input, so none can rot
unnoticed: there is no skip list, a new ``configs/*.yaml`` is picked up automatically."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from sdfrecon.datasets.pointcloud import make_point_cloud
from sdfrecon.datasets.slicing import parallel_planes, slice_mesh
from sdfrecon.pipeline.config import available_presets, resolve_config
from sdfrecon.pipeline.reconstruct import reconstruct
from tests.conftest import TEST_DEVICE

# two steps whatever the density (the default gives sparse clouds more: train.sparse_factor)
TINY = {"device": TEST_DEVICE, "train": {"iterations": 2, "checkpoint_every": 0, "sparse_factor": 1.0},
        "mesh": {"resolution": 16}}
# Batch sizes capped for the same reason: the wiring is under test, not the presets' batch sizes
# (igr's 16k surface + 16k near points double-backward through 8 x 512 took ~15 s a step).
BATCH_FIELDS = ("surface_points", "uniform_points", "near_points", "exterior_points")
TINY_BATCH = 512


def _tiny_config(preset: str):
    sampler = resolve_config(preset, [TINY]).sampler
    caps = {f: min(getattr(sampler, f), TINY_BATCH) for f in BATCH_FIELDS if hasattr(sampler, f)}
    return resolve_config(preset, [TINY, {"sampler": caps}])


def _tiny_input(kind: str):
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.8)
    if kind == "slices":
        return slice_mesh(sphere, parallel_planes(sphere, 4), source="sphere")
    points, faces = trimesh.sample.sample_surface(sphere, 400, seed=0)
    return make_point_cloud(points, sphere.face_normals[faces], source="sphere")


def test_presets_are_found():
    assert {"default", "steik", "slices", "hashgrid", "orex"} <= set(available_presets())


@pytest.mark.parametrize("preset", available_presets())
def test_preset_trains_two_steps_and_meshes(preset):
    cfg = _tiny_config(preset)
    data = _tiny_input(getattr(type(cfg.sampler), "input_kind", "points"))  # slice samplers say so
    result = reconstruct(data, cfg, progress=False)
    record = result.record
    assert record["train"]["steps"] == 2
    assert all(np.isfinite(v) for v in record["train"]["final_losses"].values()), record["train"]
    if cfg.mesh.grid == "steik":  # the official StEik grid: 16 samples along the SHORTEST side
        assert record["mesh"]["grid"] and min(record["mesh"]["grid"]) == 16
    else:
        assert record["mesh"]["grid"] and max(record["mesh"]["grid"]) <= 17  # 16 cells (+1 node)
    assert np.isfinite(result.mesh.vertices).all()
