"""Hash-grid encoding: layout, lookup against a naive reference, derivatives, schedule, backends."""

import math

import numpy as np
import pytest
import torch

from sdfrecon.pipeline.config import resolve_config
from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.hashgrid import PRIMES, HashGridConfig, TorchHashGrid, build_hashgrid, level_layout, tcnn_available


def grid_cfg(**kw) -> HashGridConfig:
    base = dict(num_levels=6, features_per_level=2, log2_table_size=10, base_resolution=4, finest_resolution=64)
    base.update(kw)
    return HashGridConfig(**base)


def naive_lookup(grid: TorchHashGrid, u: np.ndarray, smooth: bool) -> np.ndarray:
    """Straightforward per-point, per-level, per-corner evaluation (the reference)."""
    layout, table = grid.layout, grid.params.detach().double().numpy().reshape(-1, grid.features)
    out = []
    for p in u:
        feats = []
        for lvl in range(len(layout.sizes)):
            pos = p * np.float32(layout.scales[lvl]) + 0.5
            cell = np.floor(pos).astype(np.int64)
            t = pos - cell
            if smooth:
                t = t * t * (3 - 2 * t)
            acc = np.zeros(grid.features)
            for corner in range(8):
                bits = [(corner >> d) & 1 for d in range(3)]
                c = cell + bits
                if layout.hashed[lvl]:
                    h = 0
                    for d in range(3):
                        h ^= (int(c[d]) * PRIMES[d]) & 0xFFFFFFFF
                    idx = h % layout.sizes[lvl]
                else:
                    r = layout.resolutions[lvl]
                    idx = (int(c[0]) + int(c[1]) * r + int(c[2]) * r * r) % layout.sizes[lvl]
                w = np.prod([t[d] if bits[d] else 1 - t[d] for d in range(3)])
                acc += w * table[layout.offsets[lvl] + idx]
            feats.append(acc)
        out.append(np.concatenate(feats))
    return np.array(out)


def test_layout_follows_tiny_cuda_nn_rules():
    cfg = HashGridConfig(num_levels=16, base_resolution=16, finest_resolution=2048, log2_table_size=19)
    layout = level_layout(cfg)
    assert cfg.per_level_scale == pytest.approx(2 ** (7 / 15))
    assert layout.resolutions[0] == 16  # scale 15 -> ceil(15) + 1
    for res, size, hashed in zip(layout.resolutions, layout.sizes, layout.hashed):
        assert size % 8 == 0 and size <= 2**19
        assert hashed == (res**3 > size)
        if not hashed:
            assert size == math.ceil(res**3 / 8) * 8
    assert layout.offsets[1] == layout.sizes[0]
    assert layout.resolutions[-1] in (2048, 2049)


@pytest.mark.parametrize("interpolation", ["linear", "smoothstep"])
def test_lookup_matches_naive_reference(interpolation):
    cfg = grid_cfg(interpolation=interpolation, init_scale=1.0)
    grid = TorchHashGrid(cfg, torch.Generator().manual_seed(3))
    assert any(grid.layout.hashed) and not all(grid.layout.hashed)  # both code paths exercised
    u = torch.rand(40, 3, generator=torch.Generator().manual_seed(4))
    ours = grid(u).detach().double().numpy()
    ref = naive_lookup(grid, u.numpy(), smooth=interpolation == "smoothstep")
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_encoding_shape_prefix_and_determinism():
    enc = build_hashgrid(grid_cfg(), seed=7)
    x = torch.rand(100, 3) * 2 - 1
    y = enc(x)
    assert y.shape == (100, 3 + 6 * 2)
    assert torch.equal(y[:, :3], x)
    again = build_hashgrid(grid_cfg(), seed=7)
    assert torch.equal(again(x), y)
    other = build_hashgrid(grid_cfg(), seed=8)
    assert not torch.equal(other(x), y)
    assert set(enc.state_dict()) == {"grid.params", "level_window"}  # same keys as the tcnn backend


def test_gradient_matches_finite_differences():
    enc = build_hashgrid(grid_cfg(init_scale=1.0), seed=1).double()
    x = (torch.rand(30, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8)
    w = torch.randn(enc.out_dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def f(p):
        return enc(p) @ w

    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(xg).sum(), xg)
    eps = 1e-6
    fd = torch.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in torch.eye(3, dtype=torch.float64)], 1)
    torch.testing.assert_close(grad, fd, rtol=1e-4, atol=1e-6)


def _gradient_jump_across_face(interpolation: str) -> float:
    """|grad f| difference just left/right of a cell face of a one-level grid."""
    cfg = grid_cfg(num_levels=1, base_resolution=9, finest_resolution=9, interpolation=interpolation, init_scale=1.0)
    enc = build_hashgrid(cfg, seed=5).double()
    # A face where the x cell coordinate is an integer: (u * scale + 0.5) integer.
    scale = enc.grid.layout.scales[0]
    u_face = (4.0 - 0.5) / scale
    x_face = u_face * 2 * cfg.domain - cfg.domain
    jumps = []
    for side in (-1e-7, 1e-7):
        x = torch.tensor([[x_face + side, 0.123, -0.271]], dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(enc(x)[:, 3:].sum(), x)
        jumps.append(g)
    return float((jumps[0] - jumps[1]).abs().max())


def test_smoothstep_gradient_is_continuous_across_cells_linear_is_not():
    assert _gradient_jump_across_face("linear") > 1e-2
    assert _gradient_jump_across_face("smoothstep") < 1e-4


def test_smoothstep_has_second_derivatives_linear_does_not():
    x = torch.tensor([[0.1234, -0.3456, 0.5678]], dtype=torch.float64, requires_grad=True)
    for interpolation, nonzero in (("linear", False), ("smoothstep", True)):
        enc = build_hashgrid(grid_cfg(interpolation=interpolation, init_scale=1.0), seed=2).double()
        (g,) = torch.autograd.grad(enc(x)[:, 3:].sum(), x, create_graph=True)
        (h_xx,) = torch.autograd.grad(g[0, 0], x)
        assert (abs(float(h_xx[0, 0])) > 1e-3) == nonzero, interpolation


def test_coarse_to_fine_window():
    enc = build_hashgrid(grid_cfg(coarse_to_fine=True, coarse_to_fine_start=2, coarse_to_fine_until=0.5), seed=0)
    enc.set_training_progress(0.0)
    assert enc.level_window.tolist() == [1, 1, 0, 0, 0, 0]
    enc.set_training_progress(0.25)  # halfway through the ramp: 2 + 0.5 * 4 = 4 levels
    assert enc.level_window.tolist() == [1, 1, 1, 1, 0, 0]
    enc.set_training_progress(1.0)
    assert enc.level_window.tolist() == [1] * 6
    x = torch.rand(5, 3)
    enc.set_training_progress(0.0)
    assert torch.all(enc(x)[:, 3 + 2 * 2 :] == 0)  # inactive levels contribute nothing


def test_tcnn_backend_request_without_cuda_is_a_config_error():
    if tcnn_available():
        pytest.skip("tiny-cuda-nn is available here; the error path does not apply")
    with pytest.raises(ConfigError, match="tcnn.*needs CUDA and tiny-cuda-nn"):
        build_hashgrid(grid_cfg(backend="tcnn"), device=torch.device("cpu"))
    # 'auto' falls back to the PyTorch backend
    assert isinstance(build_hashgrid(grid_cfg(backend="auto"), device=torch.device("cpu")).grid, TorchHashGrid)


@pytest.mark.skipif(not tcnn_available(), reason="tiny-cuda-nn is not importable with CUDA on this machine")
@pytest.mark.parametrize("interpolation", ["linear", "smoothstep"])
def test_tcnn_and_torch_backends_agree(interpolation):
    cfg = grid_cfg(interpolation=interpolation, init_scale=1.0)
    tcnn_enc = build_hashgrid(HashGridConfig(**{**cfg.__dict__, "backend": "tcnn"}), device=torch.device("cuda"))
    torch_enc = build_hashgrid(HashGridConfig(**{**cfg.__dict__, "backend": "torch"})).cuda()
    torch_enc.load_state_dict(tcnn_enc.state_dict())  # same parameter layout
    x = torch.rand(1000, 3, device="cuda") * 2 - 1
    torch.testing.assert_close(tcnn_enc(x), torch_enc(x), rtol=1e-3, atol=1e-5)


def test_config_validation():
    with pytest.raises(ConfigError, match="features_per_level"):
        resolve_config(None, [{"field": {"encoding": {"name": "hashgrid", "features_per_level": 3}}}])
    with pytest.raises(ConfigError, match="domain"):
        resolve_config(None, [{"field": {"encoding": {"name": "hashgrid", "domain": 0.9}}}])
