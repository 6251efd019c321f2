"""GridFormer: a point-grid transformer that predicts occupancy from a point cloud.

After Li et al., "GridFormer: Point-Grid Transformer for Surface Reconstruction"
(AAAI 2024), sized for CPUs. The input points are encoded into a regular grid of
features; a 3D U-Net processes the grid, and at its finer levels a *point-grid
attention* block lets every grid cell attend to the points inside it and every point
read the grid back. An implicit decoder predicts occupancy at query points from
trilinearly interpolated grid features.

Pipeline, for points ``p`` (B, N, 3) in the unit frame, grid over
``[-1 - padding, 1 + padding]^3``:

1. *Local PointNet*: per-point MLP on ``(p, offset in its cell)``, then a round of
   max pooling per cell and back (ConvONet's local pooling) -> point features.
2. The point features, averaged per cell, make the level-0 grid (``grid_resolution``^3).
3. *U-Net*: level ``l`` has resolution ``grid_resolution / 2^l`` and ``channels[l]``
   channels (conv blocks, max pooling down, nearest upsampling + skip concatenation up).
4. *Point-grid attention* at the first ``attention_levels`` encoder levels (the
   paper's encoder blocks): cell query ``q`` (1x1 conv of the grid), point key
   ``k`` and value ``v`` (MLPs of the point features) and a position encoding
   ``e`` of the point's offset in its cell give vector-attention weights
   ``w = MLP(k - q + e)`` (one weight per group of ``channels / attention_groups``
   channels), normalised by a softmax over the points of each cell; the cell's
   new feature is ``sum softmax(w) (v + e)``, then a 3x3x3 convolution and a
   residual connection. The points then read the updated grid back
   (``v + trilinear(grid, p)``) and carry these features to the next level.
5. *Decoder* (ConvONet's ``LocalDecoder``): features of the decoder's output grids
   at the finest two levels, trilinearly interpolated at each query, condition a
   residual MLP on the query position; output one occupancy logit.

Differences from the paper, for a 2-core CPU: one 3D grid (the paper also has
tri-plane variants) of 32^3 instead of 64^3, narrower channels, attention in the
encoder only, GroupNorm instead of BatchNorm (batches of a few shapes). Training
(:mod:`sdfrecon.sdf.prior_training`) uses the paper's BCE loss with its optional
boundary margin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.prior_model import PRIORS, PriorModelConfig


@dataclass
class GridFormerConfig(PriorModelConfig):
    """A GridFormer occupancy network (see module doc)."""

    name: str = "gridformer"
    grid_resolution: int = 32
    """Cells per side of the finest feature grid."""
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    """Feature channels of each U-Net level, finest first (level l: grid_resolution / 2^l cells per side)."""
    point_features: int = 32
    """Width of the per-point features of the local PointNet."""
    attention_levels: int = 2
    """Point-grid attention blocks, at the finest encoder levels (0 = plain convolutional U-Net)."""
    attention_groups: int = 4
    """Attention weights per cell and point (each shared by channels / groups channels)."""
    decoder_hidden: int = 64
    """Width of the decoder MLP."""
    decoder_blocks: int = 3
    """Residual blocks of the decoder MLP."""
    padding: float = 0.1
    """The grid covers [-1 - padding, 1 + padding]^3 of the unit frame."""

    def validate(self, path: str) -> None:
        levels = len(self.channels)
        if levels < 2 or min(self.channels) < 1:
            raise ConfigError(f"{path}.channels: need at least 2 levels with >= 1 channel, got {self.channels}")
        if self.grid_resolution % (2 ** (levels - 1)) or self.grid_resolution < 2 ** levels:
            raise ConfigError(f"{path}.grid_resolution: must be divisible by 2^(levels-1) = {2 ** (levels - 1)} "
                              f"and >= {2 ** levels}, got {self.grid_resolution}")
        if not 0 <= self.attention_levels < levels:
            raise ConfigError(f"{path}.attention_levels: must lie in 0..{levels - 1}, got {self.attention_levels}")
        bad = [c for c in self.channels[: self.attention_levels] if c % self.attention_groups]
        if self.attention_groups < 1 or bad:
            raise ConfigError(f"{path}.attention_groups: must divide the channels of attention levels, got "
                              f"{self.attention_groups} for {self.channels[: self.attention_levels]}")
        if self.point_features < 1 or self.decoder_hidden < 1 or self.decoder_blocks < 1 or self.padding < 0:
            raise ConfigError(f"{path}: point_features, decoder_hidden, decoder_blocks >= 1 and padding >= 0")


# ------------------------------------------------------------------ helpers


class CellIndex:
    """Where points fall in a grid of ``resolution``^3 cells over ``[-extent, extent]^3``.

    Attributes
    ----------
    flat : (B*N,) int64 Tensor
        Cell of each point, flattened over the batch: ``((b*r + z)*r + y)*r + x``, the
        memory order of a ``(B, C, r, r, r)`` grid read as ``(B, z, y, x, C)``.
    offset : (B, N, 3) Tensor
        Position inside the cell, in [-0.5, 0.5) cell units.
    cells : int
        ``B * r^3``.
    """

    def __init__(self, points: torch.Tensor, resolution: int, extent: float):
        b, n, _ = points.shape
        u = ((points + extent) / (2 * extent)).clamp(0.0, 1.0 - 1e-6) * resolution
        cell = u.floor()
        self.offset = u - cell - 0.5
        ijk = cell.long()
        batch = torch.arange(b, device=points.device).repeat_interleave(n)
        x, y, z = ijk[..., 0].reshape(-1), ijk[..., 1].reshape(-1), ijk[..., 2].reshape(-1)
        self.flat = ((batch * resolution + z) * resolution + y) * resolution + x
        self.cells = b * resolution**3
        self.resolution = resolution


def scatter_mean(values: torch.Tensor, index: CellIndex) -> torch.Tensor:
    """Mean of (B*N, C) point values per cell -> (cells, C); empty cells are 0."""
    total = values.new_zeros(index.cells, values.shape[1]).index_add_(0, index.flat, values)
    count = values.new_zeros(index.cells).index_add_(0, index.flat, values.new_ones(len(values)))
    return total / count.clamp(min=1.0)[:, None]


def scatter_max(values: torch.Tensor, index: CellIndex) -> torch.Tensor:
    """Max of (B*N, C) point values per cell -> (cells, C); empty cells are 0."""
    out = values.new_zeros(index.cells, values.shape[1])
    return out.scatter_reduce(0, index.flat[:, None].expand_as(values), values, reduce="amax", include_self=False)


def scatter_softmax(logits: torch.Tensor, index: CellIndex) -> torch.Tensor:
    """Softmax of (B*N, G) logits over the points of each cell, per column; (B*N, G)."""
    flat = index.flat[:, None].expand_as(logits)
    # The per-cell max only stabilises exp(); softmax does not depend on it, so no gradient.
    peak = logits.new_full((index.cells, logits.shape[1]), -torch.inf)
    peak = peak.scatter_reduce(0, flat, logits.detach(), reduce="amax", include_self=True)
    e = torch.exp(logits - peak.gather(0, flat))
    total = e.new_zeros(index.cells, logits.shape[1]).index_add_(0, index.flat, e)
    return e / total.gather(0, flat)


def cells_to_grid(values: torch.Tensor, batch: int, resolution: int) -> torch.Tensor:
    """(B*r^3, C) per-cell rows -> (B, C, r, r, r) grid (axes z, y, x)."""
    r = resolution
    return values.view(batch, r, r, r, -1).permute(0, 4, 1, 2, 3).contiguous()


def grid_to_cells(grid: torch.Tensor) -> torch.Tensor:
    """(B, C, r, r, r) grid -> (B*r^3, C) per-cell rows (inverse of :func:`cells_to_grid`)."""
    return grid.permute(0, 2, 3, 4, 1).reshape(-1, grid.shape[1])


def sample_grid(grid: torch.Tensor, points: torch.Tensor, extent: float) -> torch.Tensor:
    """Trilinear interpolation of a (B, C, r, r, r) grid at (B, M, 3) unit-frame points -> (B, M, C).

    Cell centres sit at ``-extent + (i + 0.5) 2 extent / r`` (``align_corners=False``),
    matching :class:`CellIndex`; outside the grid the border value is used.
    """
    coords = (points / extent).view(points.shape[0], -1, 1, 1, 3)
    out = F.grid_sample(grid, coords, mode="bilinear", padding_mode="border", align_corners=False)
    return out.view(grid.shape[0], grid.shape[1], -1).transpose(1, 2)


def mlp(*widths: int) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(4, channels) if channels % min(4, channels) == 0 else 1, channels)


class ConvBlock(nn.Sequential):
    """Two (3x3x3 convolution, GroupNorm, ReLU) layers."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv3d(in_channels, out_channels, 3, padding=1), _norm(out_channels), nn.ReLU(),
            nn.Conv3d(out_channels, out_channels, 3, padding=1), _norm(out_channels), nn.ReLU(),
        )


# ------------------------------------------------------------------ blocks


class LocalPointNet(nn.Module):
    """Per-point features from position and in-cell offset, with one round of per-cell max pooling."""

    def __init__(self, width: int):
        super().__init__()
        self.point = mlp(6, width, width)
        self.pooled = mlp(2 * width, width, width)

    def forward(self, points: torch.Tensor, index: CellIndex) -> torch.Tensor:
        """(B, N, 3) points -> (B*N, width) features."""
        feats = self.point(torch.cat([points, index.offset], dim=-1)).reshape(-1, self.point[-1].out_features)
        pooled = scatter_max(feats, index)[index.flat]
        return feats + self.pooled(torch.relu(torch.cat([feats, pooled], dim=1)))


class PointGridAttention(nn.Module):
    """Grid cells attend to their points (vector attention); points read the grid back.

    Parameters
    ----------
    point_dim : int
        Width of the incoming point features.
    channels : int
        Grid channels at this level (also the width of the outgoing point features).
    groups : int
        Attention weights per point and cell; each weighs ``channels / groups`` channels.
    """

    def __init__(self, point_dim: int, channels: int, groups: int):
        super().__init__()
        self.groups = groups
        self.to_q = nn.Conv3d(channels, channels, 1)
        self.to_k = nn.Linear(point_dim, channels)
        self.to_v = mlp(point_dim, channels, channels)
        self.position = mlp(3, channels, channels)
        self.weight = mlp(channels, channels, groups)
        self.mix = nn.Conv3d(channels, channels, 3, padding=1)
        self.norm = _norm(channels)

    def forward(self, grid: torch.Tensor, feats: torch.Tensor, points: torch.Tensor, index: CellIndex,
                extent: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``grid`` (B, C, r, r, r), point ``feats`` (B*N, P) -> new grid and (B*N, C) point features."""
        b, c = grid.shape[:2]
        q = grid_to_cells(self.to_q(grid))[index.flat]               # (B*N, C): query of each point's cell
        k, v = self.to_k(feats), self.to_v(feats)
        e = self.position(index.offset.reshape(-1, 3))
        attn = scatter_softmax(self.weight(k - q + e), index)         # (B*N, G), sums to 1 per cell
        weighted = ((v + e).view(-1, self.groups, c // self.groups) * attn[:, :, None]).view(-1, c)
        cells = weighted.new_zeros(index.cells, c).index_add_(0, index.flat, weighted)
        attended = cells_to_grid(cells, b, index.resolution)
        out = torch.relu(self.norm(self.mix(attended) + grid))
        back = sample_grid(out, points, extent).reshape(-1, c)
        return out, v + back


class GridFormer(nn.Module):
    """GridFormer occupancy network; see the module doc and :class:`GridFormerConfig`."""

    def __init__(self, cfg: GridFormerConfig):
        super().__init__()
        self.cfg = cfg
        self.extent = 1.0 + cfg.padding
        ch = list(cfg.channels)
        self.resolutions = [cfg.grid_resolution // 2**level for level in range(len(ch))]
        self.pointnet = LocalPointNet(cfg.point_features)
        self.to_grid = nn.Linear(cfg.point_features, ch[0])
        self.down = nn.ModuleList([ConvBlock(ch[0], ch[0])] + [ConvBlock(ch[i - 1], ch[i]) for i in range(1, len(ch))])
        point_dims = [cfg.point_features] + ch
        self.attention = nn.ModuleList(
            [PointGridAttention(point_dims[i], ch[i], cfg.attention_groups) for i in range(cfg.attention_levels)])
        self.up = nn.ModuleList([ConvBlock(ch[i + 1] + ch[i], ch[i]) for i in range(len(ch) - 1)])
        # The decoder reads the two finest output grids.
        self.decoded_levels = 2
        feature_dim = sum(ch[: self.decoded_levels])
        h = cfg.decoder_hidden
        self.fc_p = nn.Linear(3, h)
        self.fc_c = nn.ModuleList([nn.Linear(feature_dim, h) for _ in range(cfg.decoder_blocks)])
        self.blocks = nn.ModuleList([mlp(h, h, h) for _ in range(cfg.decoder_blocks)])
        self.fc_out = nn.Linear(h, 1)

    def grid_shapes(self) -> list[tuple[int, int, int, int]]:
        """Shapes ``(C, r, r, r)`` of the grids :meth:`encode` returns (per batch item)."""
        return [(self.cfg.channels[i], *(self.resolutions[i],) * 3) for i in range(self.decoded_levels)]

    def encode(self, points: torch.Tensor) -> list[torch.Tensor]:
        """(B, N, 3) unit-frame points -> feature grids [(B, C0, r0, r0, r0), (B, C1, r1, r1, r1)]."""
        b = points.shape[0]
        index = CellIndex(points, self.resolutions[0], self.extent)
        feats = self.pointnet(points, index)
        grid = cells_to_grid(scatter_mean(self.to_grid(feats), index), b, self.resolutions[0])
        skips = []
        for level, block in enumerate(self.down):
            if level > 0:
                grid = F.max_pool3d(grid, 2)
                index = CellIndex(points, self.resolutions[level], self.extent)
            grid = block(grid)
            if level < len(self.attention):
                grid, feats = self.attention[level](grid, feats, points, index, self.extent)
            skips.append(grid)
        outputs = [grid]  # per level, coarsest first: the bottleneck, then each up block
        for level in reversed(range(len(self.up))):
            grid = F.interpolate(grid, scale_factor=2, mode="nearest")
            grid = self.up[level](torch.cat([grid, skips[level]], dim=1))
            outputs.append(grid)
        return outputs[::-1][: self.decoded_levels]

    def decode(self, grids: list[torch.Tensor], queries: torch.Tensor) -> torch.Tensor:
        """Occupancy logits (B, M), positive inside, at (B, M, 3) unit-frame queries."""
        c = torch.cat([sample_grid(g, queries, self.extent) for g in grids], dim=-1)
        h = self.fc_p(queries)
        for fc_c, block in zip(self.fc_c, self.blocks):
            h = h + fc_c(c)
            h = h + block(torch.relu(h))
        return self.fc_out(torch.relu(h)).squeeze(-1)

    def forward(self, points: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """Occupancy logits (B, M) at ``queries`` (B, M, 3) given input ``points`` (B, N, 3)."""
        return self.decode(self.encode(points), queries)


@PRIORS.register("gridformer", config_cls=GridFormerConfig)
def build_gridformer(cfg: GridFormerConfig) -> GridFormer:
    return GridFormer(cfg)
