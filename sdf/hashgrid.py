"""Multiresolution hash encoding (Instant-NGP) in pure PyTorch, with tiny-cuda-nn as
an optional drop-in.

Level ``l`` is a grid of resolution ``ceil(s_l) + 1`` per axis with
``s_l = N_min * b^l - 1`` and ``b`` chosen so the finest level reaches
``finest_resolution``. Its feature table has ``min(res^3, T)`` entries (rounded
up to a multiple of 8), indexed densely while the grid fits and by the spatial
hash ``(x * 1) ^ (y * 2654435761) ^ (z * 805459861) mod T`` once it does not.
A point's feature at a level is the interpolation of its cell's 8 corner
entries; the encoding is ``[xyz, level_0, ..., level_{L-1}]``.

Layout, hash, positions (``p = s_l * u + 0.5`` for ``u`` in [0, 1]^3) and the
smoothstep option follow tiny-cuda-nn exactly, and the parameters are one flat
``params`` vector in tiny-cuda-nn's order, so a checkpoint trained with either
backend loads into the other.

Interpolation and second derivatives
------------------------------------
``linear`` (trilinear) is what Instant-NGP uses: the field is continuous but its
gradient jumps across cell faces and its pure second derivatives are zero inside
cells, so Hessian-based losses (StEik, DiGS) see nothing. ``smoothstep`` applies
``t^2 (3 - 2t)`` to each cell coordinate: the field becomes C1 (gradients are
continuous across cell faces) and has non-zero second derivatives, which is what
eikonal-family losses differentiate. Its per-level gradient vanishes on cell
faces, but levels sit at non-nested resolutions and the network also sees
``xyz`` directly, so the total gradient does not. Use ``smoothstep`` whenever a
loss differentiates the gradient; ``linear`` is slightly faster otherwise.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sdfrecon.sdf.encodings import ENCODINGS, EncodingConfig
from sdfrecon.base.errors import ConfigError

log = logging.getLogger(__name__)

PRIMES = (1, 2654435761, 805459861)
"""tiny-cuda-nn's coherent-prime hash factors for x, y, z."""


@dataclass
class HashGridConfig(EncodingConfig):
    """Multiresolution hash grid (Instant-NGP)."""

    name: str = "hashgrid"
    num_levels: int = 16
    """Resolution levels L."""
    features_per_level: int = 2
    """Features per level F (1, 2, 4 or 8 for tiny-cuda-nn)."""
    log2_table_size: int = 19
    """log2 of the per-level table size T."""
    base_resolution: int = 16
    """Coarsest grid resolution N_min."""
    finest_resolution: int = 2048
    """Finest grid resolution N_max over the encoded cube; sets the per-level scale."""
    interpolation: Literal["linear", "smoothstep"] = "smoothstep"
    """Cell interpolation; smoothstep is C1 (see module docs)."""
    domain: float = 1.1
    """Half side of the unit-frame cube mapped onto the grid ([-domain, domain]^3)."""
    init_scale: float = 1e-4
    """Table entries start uniform in [-init_scale, init_scale]."""
    coarse_to_fine: bool = False
    """Switch levels on progressively during training, coarse ones first."""
    coarse_to_fine_start: int = 0
    """Levels active at the start (0 = the network first sees xyz only, as a plain MLP)."""
    coarse_to_fine_until: float = 0.5
    """Fraction of training by which every level is active."""
    backend: Literal["auto", "torch", "tcnn"] = "auto"
    """``torch`` (ours), ``tcnn`` (tiny-cuda-nn, CUDA only) or ``auto`` (tcnn when it
    imports and training runs on CUDA, else torch)."""

    @property
    def per_level_scale(self) -> float:
        """Growth factor b between levels."""
        if self.num_levels == 1:
            return 1.0
        return math.exp(math.log(self.finest_resolution / self.base_resolution) / (self.num_levels - 1))

    def validate(self, path: str) -> None:
        if not 1 <= self.num_levels <= 32:
            raise ConfigError(f"{path}.num_levels: must be in 1..32, got {self.num_levels}")
        if self.features_per_level not in (1, 2, 4, 8):
            raise ConfigError(f"{path}.features_per_level: must be 1, 2, 4 or 8, got {self.features_per_level}")
        if not 8 <= self.log2_table_size <= 26:
            raise ConfigError(f"{path}.log2_table_size: must be in 8..26, got {self.log2_table_size}")
        if not 2 <= self.base_resolution <= self.finest_resolution:
            raise ConfigError(f"{path}: need 2 <= base_resolution <= finest_resolution")
        if self.domain <= 1.0:
            raise ConfigError(f"{path}.domain: must exceed 1.0 (inputs fill [-1, 1]), got {self.domain}")
        if not 0 <= self.coarse_to_fine_start <= self.num_levels:
            raise ConfigError(f"{path}.coarse_to_fine_start: must be in 0..num_levels")


@dataclass(frozen=True)
class LevelLayout:
    """Per-level grid geometry and table placement (tiny-cuda-nn's offset table)."""

    scales: tuple[float, ...]
    resolutions: tuple[int, ...]
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]
    hashed: tuple[bool, ...]

    @property
    def total_entries(self) -> int:
        return self.offsets[-1] + self.sizes[-1]


def level_layout(cfg: HashGridConfig) -> LevelLayout:
    """Compute scales, resolutions, table sizes and offsets as tiny-cuda-nn does."""
    # float32 arithmetic, like the CUDA code, so resolutions match at the edges.
    log2_b = torch.log2(torch.tensor(cfg.per_level_scale, dtype=torch.float32))
    table = 1 << cfg.log2_table_size
    scales, resolutions, sizes, offsets, hashed = [], [], [], [], []
    offset = 0
    for level in range(cfg.num_levels):
        scale = float(torch.exp2(level * log2_b) * cfg.base_resolution - 1.0)
        resolution = int(math.ceil(scale)) + 1
        dense = resolution**3
        size = min(-(-min(dense, 2**31 - 1) // 8) * 8, table)
        scales.append(scale)
        resolutions.append(resolution)
        sizes.append(size)
        offsets.append(offset)
        hashed.append(dense > size)
        offset += size
    return LevelLayout(tuple(scales), tuple(resolutions), tuple(sizes), tuple(offsets), tuple(hashed))


class TorchHashGrid(nn.Module):
    """Pure-PyTorch grid lookup: ``u (N, 3) in [0, 1]^3 -> (N, L * F)``.

    Fully vectorised over points, levels and the 8 cell corners; autograd gives
    first and higher derivatives with respect to both ``u`` and ``params``.
    """

    def __init__(self, cfg: HashGridConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.layout = layout = level_layout(cfg)
        self.features = cfg.features_per_level
        self.smooth = cfg.interpolation == "smoothstep"
        params = torch.empty(layout.total_entries * self.features)
        params.uniform_(-cfg.init_scale, cfg.init_scale, generator=generator)
        self.params = nn.Parameter(params)
        self.register_buffer("scales", torch.tensor(layout.scales, dtype=torch.float32), persistent=False)
        self.register_buffer("resolutions", torch.tensor(layout.resolutions, dtype=torch.int64), persistent=False)
        self.register_buffer("sizes", torch.tensor(layout.sizes, dtype=torch.int64), persistent=False)
        self.register_buffer("offsets", torch.tensor(layout.offsets, dtype=torch.int64), persistent=False)
        # Consecutive runs of dense / hashed levels (tcnn's levels go dense first, then hashed).
        self._groups: list[tuple[range, bool]] = []
        for level, hashed in enumerate(layout.hashed):
            if self._groups and self._groups[-1][1] == hashed:
                self._groups[-1] = (range(self._groups[-1][0].start, level + 1), hashed)
            else:
                self._groups.append((range(level, level + 1), hashed))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        n, levels = len(u), len(self.layout.sizes)
        pos = u[:, None, :] * self.scales[None, :, None] + 0.5  # (N, L, 3)
        cell = torch.floor(pos)
        t = pos - cell  # carries the gradient w.r.t. u
        if self.smooth:
            t = t * t * (3.0 - 2.0 * t)
        index = self._corner_index(cell.detach().to(torch.int64))  # (N, L, 8)
        values = nn.functional.embedding(index, self.params.view(-1, self.features))  # (N, L, 8, F)
        # Corner weights as an outer product of per-axis (1 - t, t) pairs; corner
        # c = bx + 2 by + 4 bz, matching _corner_index's (z, y, x) nesting.
        w = torch.stack([1.0 - t, t], dim=-1)  # (N, L, 3, 2)
        weights = (w[:, :, 2, :, None, None] * w[:, :, 1, None, :, None] * w[:, :, 0, None, None, :]).reshape(
            n, levels, 8
        )
        return (values * weights[..., None]).sum(dim=2).reshape(n, levels * self.features)

    def forward_with_tangents(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, L * F) and their derivatives along each axis of ``u``, (N, 3, L * F).

        The derivative is computed analytically in the same pass (d weight / d u per
        corner), so a loss on it needs only first-order autograd -- no double
        backward through the table lookup.
        """
        n, levels = len(u), len(self.layout.sizes)
        pos = u[:, None, :] * self.scales[None, :, None] + 0.5
        cell = torch.floor(pos)
        t = pos - cell
        if self.smooth:
            s, ds = t * t * (3.0 - 2.0 * t), 6.0 * t * (1.0 - t)
        else:
            s, ds = t, torch.ones_like(t)
        ds = ds * self.scales[None, :, None]  # d t / d u = scale
        index = self._corner_index(cell.detach().to(torch.int64))
        values = nn.functional.embedding(index, self.params.view(-1, self.features))  # (N, L, 8, F)
        w = torch.stack([1.0 - s, s], dim=-1)  # (N, L, 3, 2)
        dw = torch.stack([-ds, ds], dim=-1)

        def corners(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return (c[:, :, :, None, None] * b[:, :, None, :, None] * a[:, :, None, None, :]).reshape(n, levels, 8)

        wx, wy, wz = w[:, :, 0], w[:, :, 1], w[:, :, 2]
        weights = corners(wx, wy, wz)
        features = (values * weights[..., None]).sum(dim=2).reshape(n, levels * self.features)
        tangents = [
            (values * corners(*parts)[..., None]).sum(dim=2).reshape(n, levels * self.features)
            for parts in ((dw[:, :, 0], wy, wz), (wx, dw[:, :, 1], wz), (wx, wy, dw[:, :, 2]))
        ]
        return features, torch.stack(tangents, dim=1)

    def _corner_index(self, cell: torch.Tensor) -> torch.Tensor:
        """Table rows (N, L, 8) of the 8 corners of integer cells (N, L, 3), offsets included.

        Dense levels and hashed levels are computed separately, so each level
        only pays for the indexing it uses.
        """
        c = torch.stack([cell, cell + 1], dim=-1)  # (N, L, 3, 2): per-axis corner coordinates
        cx, cy, cz = c[:, :, 0, None, None, :], c[:, :, 1, None, :, None], c[:, :, 2, :, None, None]
        parts = []
        for levels, hashed in self._groups:
            sl = slice(levels.start, levels.stop)
            if hashed:
                # uint32 arithmetic in int64: products fit; the table size is a power of
                # two, so "mod T" keeps low bits, exactly like the CUDA code.
                idx = (cx[:, sl] * PRIMES[0]) ^ (cy[:, sl] * PRIMES[1]) ^ (cz[:, sl] * PRIMES[2])
                idx = idx & (self.sizes[sl, None, None, None] - 1)
            else:
                res = self.resolutions[sl, None, None, None]
                idx = (cx[:, sl] + cy[:, sl] * res + cz[:, sl] * (res * res)) % self.sizes[sl, None, None, None]
            parts.append(idx + self.offsets[sl, None, None, None])
        index = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return index.reshape(len(cell), -1, 8)


def make_tcnn_grid(cfg: HashGridConfig, seed: int) -> nn.Module:
    """tiny-cuda-nn's fused grid encoding (CUDA only), with our table layout checked.

    Its single parameter is also called ``params`` and has the same length and
    order as :class:`TorchHashGrid`'s, so state dicts are interchangeable.
    """
    import tinycudann as tcnn

    config = {
        "otype": "Grid", "type": "Hash", "n_levels": cfg.num_levels,
        "n_features_per_level": cfg.features_per_level, "log2_hashmap_size": cfg.log2_table_size,
        "base_resolution": cfg.base_resolution, "per_level_scale": cfg.per_level_scale,
        "interpolation": "Smoothstep" if cfg.interpolation == "smoothstep" else "Linear",
    }
    grid = tcnn.Encoding(3, config, seed=seed, dtype=torch.float32)
    expected = level_layout(cfg).total_entries * cfg.features_per_level
    if grid.params.numel() != expected:
        raise RuntimeError(f"tiny-cuda-nn table has {grid.params.numel()} params, expected {expected}")
    return grid


def tcnn_available() -> bool:
    """Whether tiny-cuda-nn imports and a CUDA device exists."""
    if not torch.cuda.is_available():
        return False
    try:
        import tinycudann  # noqa: F401
    except Exception:  # ImportError, or a build for another CUDA version
        return False
    return True


class HashGridEncoding(nn.Module):
    """``x (N, 3)`` unit frame -> ``[x, grid features] (N, 3 + L * F)``.

    Parameters
    ----------
    cfg : HashGridConfig
    backend : nn.Module
        :class:`TorchHashGrid`, or tiny-cuda-nn's encoding from :func:`make_tcnn_grid`.
    """

    def __init__(self, cfg: HashGridConfig, backend: nn.Module):
        super().__init__()
        self.cfg = cfg
        self.grid = backend
        self.out_dim = 3 + cfg.num_levels * cfg.features_per_level
        self.register_buffer("level_window", torch.ones(cfg.num_levels))

    def set_training_progress(self, fraction: float) -> None:
        """Coarse-to-fine: fade levels in over the first ``coarse_to_fine_until`` of training."""
        cfg = self.cfg
        if not cfg.coarse_to_fine:
            return
        ramp = min(fraction / cfg.coarse_to_fine_until, 1.0) if cfg.coarse_to_fine_until > 0 else 1.0
        active = cfg.coarse_to_fine_start + ramp * (cfg.num_levels - cfg.coarse_to_fine_start)
        level = torch.arange(cfg.num_levels, dtype=torch.float32, device=self.level_window.device)
        self.level_window.copy_((active - level).clamp(0.0, 1.0))

    def forward_with_tangents(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoding (N, D) and its derivatives along each axis of ``x``, (N, 3, D)
        (PyTorch backend only)."""
        if not isinstance(self.grid, TorchHashGrid):
            raise TypeError("analytic derivatives need the PyTorch hash-grid backend")
        u = ((x + self.cfg.domain) / (2.0 * self.cfg.domain)).clamp(0.0, 1.0)
        features, tangents = self.grid.forward_with_tangents(u)
        window = self.level_window.repeat_interleave(self.cfg.features_per_level)
        tangents = tangents * (window / (2.0 * self.cfg.domain))  # d u / d x = 1 / (2 domain)
        eye = torch.eye(3, dtype=x.dtype, device=x.device).expand(len(x), 3, 3)
        return torch.cat([x, features * window], dim=1), torch.cat([eye, tangents], dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = ((x + self.cfg.domain) / (2.0 * self.cfg.domain)).clamp(0.0, 1.0)
        features = self.grid(u).to(x.dtype)  # tcnn may hand back half precision
        window = self.level_window.repeat_interleave(self.cfg.features_per_level)
        return torch.cat([x, features * window], dim=1)


@ENCODINGS.register("hashgrid", config_cls=HashGridConfig)
def build_hashgrid(cfg: HashGridConfig, *, device: torch.device | None = None, seed: int = 0) -> HashGridEncoding:
    """Build the encoding with the backend ``cfg.backend`` resolves to on ``device``."""
    on_cuda = device is not None and torch.device(device).type == "cuda"
    use_tcnn = cfg.backend == "tcnn" or (cfg.backend == "auto" and on_cuda and tcnn_available())
    if cfg.backend == "tcnn" and not (on_cuda and tcnn_available()):
        raise ConfigError(
            "field.encoding.backend: 'tcnn' needs CUDA and tiny-cuda-nn (pip install .[tcnn]); "
            "use 'auto' or 'torch'"
        )
    if use_tcnn:
        with torch.cuda.device(device):
            backend: nn.Module = make_tcnn_grid(cfg, seed)
    else:
        if cfg.backend == "auto" and on_cuda:
            log.info("tiny-cuda-nn not available; using the PyTorch hash grid")
        backend = TorchHashGrid(cfg, torch.Generator().manual_seed(seed))
    return HashGridEncoding(cfg, backend)
