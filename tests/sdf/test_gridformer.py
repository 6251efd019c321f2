"""GridFormer: shapes, the scatter/grid plumbing, training that learns, model files, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sdfrecon.base.checkpoint import save_checkpoint
from sdfrecon.base.errors import InputError, TrainingInterrupted
from sdfrecon.datasets.prior_data import PriorDataset, ProceduralSource, SampleOptions
from sdfrecon.datasets.synthetic import sphere_points
from sdfrecon.sdf.gridformer import (CellIndex, GridFormer, GridFormerConfig, cells_to_grid, sample_grid,
                                     scatter_softmax)
from sdfrecon.sdf.prior_model import load_prior_model, save_prior_model
from sdfrecon.sdf.prior_training import PriorTrainConfig, PriorTrainer, occupancy_iou

TINY = GridFormerConfig(grid_resolution=8, channels=[8, 16], point_features=16, attention_levels=1,
                        decoder_hidden=32, decoder_blocks=2)
SMALL_SAMPLES = SampleOptions(input_points=512, query_points=512)


def _tiny_model(seed: int = 0) -> GridFormer:
    torch.manual_seed(seed)
    return GridFormer(TINY)


def _dataset(count: int, seed: int = 0, families=("superquadric",)) -> PriorDataset:
    return PriorDataset([ProceduralSource(1000 + i, pool=2000, families=families) for i in range(count)],
                        SMALL_SAMPLES, seed=seed)


def test_output_and_grid_shapes():
    model = _tiny_model()
    points = torch.rand(2, 300, 3) * 2 - 1
    queries = torch.rand(2, 50, 3) * 2.2 - 1.1
    grids = model.encode(points)
    assert [tuple(g.shape[1:]) for g in grids] == model.grid_shapes() == [(8, 8, 8, 8), (16, 4, 4, 4)]
    assert all(g.shape[0] == 2 for g in grids)
    logits = model(points, queries)
    assert logits.shape == (2, 50) and torch.isfinite(logits).all()
    # Each batch item is encoded on its own: permuting the batch permutes the output.
    swapped = model(points.flip(0), queries.flip(0))
    assert torch.allclose(swapped.flip(0), logits, atol=1e-5)


def test_cell_layout_matches_trilinear_sampling():
    # A grid whose value is the cell's own flat index, sampled at each cell centre, gives the index
    # CellIndex assigns to that centre: scatter (points -> cells) and gather (grid -> points) agree.
    r, extent = 4, 1.1
    ids = torch.arange(r**3, dtype=torch.float32)[:, None]
    grid = cells_to_grid(ids, 1, r)
    centres = (torch.stack(torch.meshgrid(*[torch.arange(r)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5)
    points = (centres / r * 2 - 1) * extent
    index = CellIndex(points[None], r, extent)
    sampled = sample_grid(grid, points[None], extent)[0, :, 0]
    assert torch.equal(sampled.round().long(), index.flat)
    assert index.offset.abs().max() < 1e-5


def test_scatter_softmax_sums_to_one_per_cell():
    points = torch.rand(1, 200, 3) * 2 - 1
    index = CellIndex(points, 2, 1.1)
    logits = torch.randn(200, 3) * 5
    weights = scatter_softmax(logits, index)
    sums = torch.zeros(index.cells, 3).index_add_(0, index.flat, weights)
    occupied = torch.unique(index.flat)
    assert torch.allclose(sums[occupied], torch.ones(len(occupied), 3), atol=1e-5)
    # Within a cell it is the ordinary softmax.
    first = index.flat == index.flat[0]
    assert torch.allclose(weights[first], torch.softmax(logits[first], dim=0), atol=1e-6)


def test_training_lowers_the_loss():
    dataset = _dataset(6)
    model = _tiny_model()
    cfg = PriorTrainConfig(steps=40, batch_size=2, lr=3e-3, warmup_steps=0, checkpoint_every=0)
    result = PriorTrainer(model, dataset, cfg, progress=False).fit()
    first, last = result.losses[0][1], result.losses[-1][1]
    assert result.steps == 40 and result.skipped_steps == 0
    assert last < 0.8 * first, result.losses


@pytest.mark.slow
def test_a_few_hundred_steps_on_analytic_shapes_predict_a_sphere():
    # Superquadrics (boxes, ellipsoids, octahedra, cylinders) only; the sphere itself is not among them.
    dataset = _dataset(24, families=("superquadric",))
    torch.manual_seed(0)
    model = GridFormer(GridFormerConfig(grid_resolution=16, channels=[8, 16], point_features=16, attention_levels=1,
                                        decoder_hidden=32, decoder_blocks=2))
    cfg = PriorTrainConfig(steps=300, batch_size=2, lr=3e-3, warmup_steps=10, checkpoint_every=0)
    PriorTrainer(model, dataset, cfg, progress=False).fit()
    points, _ = sphere_points(512, radius=1.0, seed=3)
    points += np.random.default_rng(0).normal(scale=0.005, size=points.shape)
    queries = np.random.default_rng(1).uniform(-1.1, 1.1, size=(20000, 3))
    inside = np.linalg.norm(queries, axis=1) < 1.0
    with torch.no_grad():
        logits = model(torch.as_tensor(points, dtype=torch.float32)[None], torch.as_tensor(queries, dtype=torch.float32)[None])
    iou = float(occupancy_iou(logits, torch.as_tensor(inside, dtype=torch.float32)[None])[0])
    assert iou > 0.9, iou


def test_model_file_round_trip(tmp_path):
    model = _tiny_model(seed=3)
    path = save_prior_model(tmp_path / "m.pt", model, TINY, inputs={"points": 512, "noise": [0, 0.01]},
                            training={"steps": 0})
    loaded = load_prior_model(path)
    assert loaded.config == TINY and loaded.inputs["points"] == 512 and loaded.training == {"steps": 0}
    points, queries = torch.rand(1, 100, 3) * 2 - 1, torch.rand(1, 40, 3) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(points, queries), loaded.model(points, queries))


def test_model_file_errors(tmp_path):
    with pytest.raises(InputError, match="no such checkpoint"):
        load_prior_model(tmp_path / "missing.pt")
    save_checkpoint(tmp_path / "run.ckpt", {"trainer": {}})
    with pytest.raises(InputError, match="not an sdfrecon prior model file"):
        load_prior_model(tmp_path / "run.ckpt")
    path = save_prior_model(tmp_path / "m.pt", _tiny_model(), TINY, inputs={"points": 512})
    state = torch.load(path, weights_only=True)
    state["model"]["channels"] = [4, 8]  # weights no longer fit the config
    torch.save(state, path)
    with pytest.raises(InputError, match="cannot be rebuilt"):
        load_prior_model(path)


def test_resume_continues_exactly(tmp_path):
    cfg = PriorTrainConfig(steps=6, batch_size=2, lr=3e-3, warmup_steps=2, checkpoint_every=0)
    dataset = _dataset(3)
    straight = _tiny_model()
    PriorTrainer(straight, dataset, cfg, progress=False).fit()

    ckpt = tmp_path / "t.ckpt"
    first = PriorTrainer(_tiny_model(), dataset, cfg, checkpoint_path=ckpt, progress=False)
    real_step = first.train_step

    def stop_after_four(batch):  # Ctrl-C arriving after step 4, between steps (crosses an epoch)
        if first.step == 4:
            raise KeyboardInterrupt
        return real_step(batch)

    first.train_step = stop_after_four
    with pytest.raises(TrainingInterrupted):
        first.fit()
    resumed = PriorTrainer(_tiny_model(seed=9), dataset, cfg, progress=False)
    resumed.load_state_dict(torch.load(ckpt, weights_only=True)["trainer"])
    assert resumed.step == 4
    resumed.fit()
    for a, b in zip(straight.parameters(), resumed.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
