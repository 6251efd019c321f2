"""Coarse-to-fine (octree) evaluation of a field near its level set.

Dense evaluation costs ``resolution^3`` network queries. Here the field is
evaluated densely only on a coarse grid; a cell can contain the surface only if
``|f - level|`` at one of its corners is at most ``safety * cell_diagonal`` (an
SDF changes by at most its Lipschitz constant times the distance, and trained
SDFs have ``|grad f|`` close to 1, so ``safety = 2`` leaves a wide margin) or its
corners disagree in sign (or it lies on the grid boundary with a corner inside,
where the surface gets capped). Such *active* cells are split into 8 children, whose
corners are evaluated (re-using the values already known at coarser levels), and
so on down to the target resolution. Everything else keeps the sign of the
finest inactive cell that contains it -- inactive cells are sign-uniform under
the same Lipschitz argument -- which is all marching cubes needs there.

The fine grid is the one :meth:`Grid.covering` gives for the same box and
resolution, with its cell counts rounded up to a multiple of ``2^levels`` so the
hierarchy nests exactly.

With ``half=True`` (``mesh.classify_precision: float16``) the coarse levels, which
only decide which cells to refine, are evaluated under ``torch.autocast`` in
float16, and their test widens by :data:`HALF_MARGIN`; every node of the fine
level (the values marching cubes reads) is evaluated in float32, none reused from
a half-precision level, so the mesh is the float32 one wherever the field's
half-precision error stays below the margin.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from sdfrecon.meshing.grid import FieldFn, Grid

HALF_MARGIN = 2.0**-8
"""Added to the near-surface test of cells classified from float16 values (field units,
about 8x float16's rounding error at |f| = 1, room for the network's own half-precision error)."""

CORNERS = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=np.int64)


@dataclass
class LevelCells:
    """Cells examined at one level of the hierarchy.

    Attributes
    ----------
    cells : (M,) int64 ndarray
        Sorted flat ids of the candidate cells at this level.
    sign : (M,) int8 ndarray
        For inactive cells the sign (+1/-1) shared by all their corners; 0 for
        active cells (those split further).
    shape : tuple of 3 int
        Cells per axis at this level.
    """

    cells: np.ndarray
    sign: np.ndarray
    shape: tuple[int, int, int]


@dataclass
class NarrowBand:
    """Field values near the level set on a fine grid, plus sign information elsewhere.

    Attributes
    ----------
    grid : Grid
        The fine grid (node counts = cells + 1 per axis).
    nodes : (M,) int64 ndarray
        Sorted flat ids of the fine nodes that were evaluated.
    values : (M,) float32 ndarray
        Field values at ``nodes``.
    levels : list of LevelCells
        Index 0 = fine level, last = coarsest (dense) level.
    queries : int
        Network evaluations spent (all levels).
    field_min, field_max : float
        Range of the field over every node evaluated, the dense coarse grid and the
        fine band (whether it crosses the level at all; error messages). The coarse
        grid alone misses parts thinner than a coarse cell: a 3 mm washer on a 100 mm
        box is negative only between its coarse nodes.
    """

    grid: Grid
    nodes: np.ndarray
    values: np.ndarray
    levels: list[LevelCells]
    queries: int
    field_min: float
    field_max: float

    @property
    def active_cells(self) -> np.ndarray:
        """Flat ids (fine level) of cells that may contain the surface."""
        fine = self.levels[0]
        return fine.cells[fine.sign == 0]


def nested_grid(lo: np.ndarray, hi: np.ndarray, resolution: int, levels: int) -> Grid:
    """The grid :meth:`Grid.covering` gives, with cell counts rounded up to a multiple
    of ``2**levels`` (the box stays centred)."""
    base = Grid.covering(lo, hi, resolution)
    step = 2**levels
    cells = [-(-(s - 1) // step) * step for s in base.shape]
    centre = base.origin + (np.array(base.shape) - 1) * base.spacing / 2.0
    origin = centre - np.array(cells) * base.spacing / 2.0
    return Grid(origin=origin, spacing=base.spacing, shape=tuple(c + 1 for c in cells))


def levels_for(resolution: int, coarse_resolution: int) -> int:
    """Number of halvings from ``resolution`` down to about ``coarse_resolution``."""
    return max(0, int(math.floor(math.log2(max(resolution, 1) / max(coarse_resolution, 1)))))


def _flat(ijk: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    return (ijk[:, 0] * shape[1] + ijk[:, 1]) * shape[2] + ijk[:, 2]


def _unflat(flat: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    return np.stack([flat // (shape[1] * shape[2]), (flat // shape[2]) % shape[1], flat % shape[2]], axis=1)


MASK_UNIQUE_LIMIT = 1 << 26
"""Grids with at most this many ids take their unique ids from a boolean mask (64 MB at most)."""


def _unique_ids(ids: np.ndarray, size: int) -> np.ndarray:
    """Sorted unique values of ``ids`` (int64, all in [0, size)): the same as ``np.unique``.

    A mask over the grid is linear in its size; np.unique sorts or hashes and took ~2.5 s
    of a 930k-face narrow band at 128 cells (joint).
    """
    if size > MASK_UNIQUE_LIMIT:
        return np.unique(ids)
    mask = np.zeros(size, dtype=bool)
    mask[ids] = True
    return np.flatnonzero(mask)


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` in ``sorted_keys`` and whether each was found."""
    pos = np.searchsorted(sorted_keys, keys)
    pos_clipped = np.minimum(pos, max(len(sorted_keys) - 1, 0))
    found = (pos < len(sorted_keys)) & (sorted_keys[pos_clipped] == keys) if len(sorted_keys) else np.zeros(len(keys), bool)
    return pos_clipped, found


def _precision(device: torch.device, half: bool):
    """``torch.autocast`` to float16 on ``device`` when ``half``, else nothing."""
    return torch.autocast(device_type=device.type, dtype=torch.float16) if half else contextlib.nullcontext()


@torch.no_grad()
def _evaluate(field: FieldFn, grid: Grid, node_ijk: np.ndarray, scale: int, device, chunk: int,
              half: bool = False) -> np.ndarray:
    """Field at level nodes ``node_ijk * scale`` of the fine grid, (M,) float32
    (computed under float16 autocast when ``half``)."""
    out = np.empty(len(node_ijk), dtype=np.float32)
    with _precision(torch.device(device), half):
        for start in range(0, len(node_ijk), chunk):
            idx = torch.as_tensor(node_ijk[start : start + chunk] * scale, device=device)
            out[start : start + len(idx)] = field(grid.coordinates(idx)).float().cpu().numpy().reshape(-1)
    return out


def evaluate_narrow_band(
    field: FieldFn,
    grid: Grid,
    levels: int,
    *,
    level: float = 0.0,
    safety: float = 2.0,
    device: torch.device | str = "cpu",
    chunk_points: int = 262_144,
    half: bool = False,
) -> NarrowBand:
    """Evaluate ``field`` coarse-to-fine on ``grid`` (from :func:`nested_grid`).

    Parameters
    ----------
    field : callable
        ``(N, 3) -> (N,)``, called without autograd.
    grid : Grid
        Fine grid whose cell counts are multiples of ``2**levels``.
    levels : int
        Halvings between the coarse (dense) grid and ``grid``.
    level : float
        Iso-value of interest.
    safety : float
        Assumed Lipschitz bound of the field (2 = twice a true SDF's).
    device, chunk_points
        Where and in what batch sizes the field runs.
    half : bool
        Classify the coarse levels from float16 (autocast) values; the fine level is
        always float32 (see the module doc).

    Returns
    -------
    NarrowBand
    """
    device = torch.device(device)
    step = 2**levels
    fine_cells = tuple(s - 1 for s in grid.shape)
    if any(c % step for c in fine_cells):
        raise ValueError(f"grid cells {fine_cells} are not multiples of 2^{levels}")
    queries = 0
    level_cells: list[LevelCells] = []

    # Coarsest level: every cell is a candidate, every node evaluated.
    shape = tuple(c // step for c in fine_cells)
    node_shape = tuple(c + 1 for c in shape)
    node_ijk = _unflat(np.arange(np.prod(node_shape), dtype=np.int64), node_shape)
    known_nodes = np.arange(len(node_ijk), dtype=np.int64)  # flat ids at this level, sorted
    known_values = _evaluate(field, grid, node_ijk, step, device, chunk_points, half=half and levels > 0)
    queries += len(known_values)
    field_min, field_max = float(known_values.min()), float(known_values.max())
    cand = np.arange(np.prod(shape), dtype=np.int64)

    for lvl in range(levels, -1, -1):
        scale = 2**lvl
        shape = tuple(c // scale for c in fine_cells)
        node_shape = tuple(c + 1 for c in shape)
        cell_ijk = _unflat(cand, shape)
        corner_ids = _flat((cell_ijk[:, None, :] + CORNERS[None]).reshape(-1, 3), node_shape)
        pos, found = _lookup(known_nodes, corner_ids)
        if not found.all():
            raise AssertionError("narrow band: a candidate corner was not evaluated")
        corner_values = known_values[pos].reshape(-1, 8) - level
        diag = math.sqrt(3.0) * grid.spacing * scale
        margin = HALF_MARGIN if half and lvl > 0 else 0.0  # level 0 is always float32
        near = np.abs(corner_values).min(axis=1) <= safety * diag + margin
        mixed = (corner_values.min(axis=1) <= 0) & (corner_values.max(axis=1) > 0)
        # Inside cells on the grid boundary are where marching cubes caps the surface:
        # refine them too, so the cap is built from real values as on a dense grid.
        on_boundary = ((cell_ijk == 0) | (cell_ijk == np.array(shape) - 1)).any(axis=1)
        capped = on_boundary & (corner_values.min(axis=1) <= 0)
        active = near | mixed | capped
        sign = np.where(active, 0, np.where(corner_values[:, 0] > 0, 1, -1)).astype(np.int8)
        level_cells.append(LevelCells(cells=cand, sign=sign, shape=shape))
        if lvl == 0:
            break
        # Children of active cells become the next level's candidates.
        child_shape = tuple(c * 2 for c in shape)
        child_node_shape = tuple(c + 1 for c in child_shape)
        parents = cell_ijk[active]
        children = (parents[:, None, :] * 2 + CORNERS[None]).reshape(-1, 3)
        cand = _unique_ids(_flat(children, child_shape), math.prod(child_shape))
        child_ijk = _unflat(cand, child_shape)
        needed = _unique_ids(_flat((child_ijk[:, None, :] + CORNERS[None]).reshape(-1, 3), child_node_shape),
                             math.prod(child_node_shape))
        # Nodes with even coordinates existed at the coarser level: reuse their values.
        needed_ijk = _unflat(needed, child_node_shape)
        even = (needed_ijk % 2 == 0).all(axis=1)
        reuse_pos, reuse_found = _lookup(known_nodes, _flat(needed_ijk[even] // 2, node_shape))
        values = np.empty(len(needed), dtype=np.float32)
        have = np.zeros(len(needed), dtype=bool)
        fine_next = scale // 2 == 1
        if not (half and fine_next):  # float16 values are never read by marching cubes
            even_idx = np.flatnonzero(even)
            values[even_idx[reuse_found]] = known_values[reuse_pos[reuse_found]]
            have[even_idx[reuse_found]] = True
        todo = np.flatnonzero(~have)
        values[todo] = _evaluate(field, grid, needed_ijk[todo], scale // 2, device, chunk_points,
                                 half=half and not fine_next)
        queries += len(todo)
        known_nodes, known_values = needed, values
        if len(values):
            field_min, field_max = min(field_min, float(values.min())), max(field_max, float(values.max()))

    level_cells.reverse()  # index 0 = fine level
    return NarrowBand(grid=grid, nodes=known_nodes, values=known_values, levels=level_cells, queries=queries,
                      field_min=field_min, field_max=field_max)


def node_signs(band: NarrowBand, node_ijk: np.ndarray) -> np.ndarray:
    """Sign (+1/-1, int8) of the field at fine nodes that were not evaluated.

    A node takes the sign of the finest inactive candidate cell containing it;
    the coarsest level covers everything, so every node gets one.
    """
    fine_cells = tuple(s - 1 for s in band.grid.shape)
    result = np.zeros(len(node_ijk), dtype=np.int8)
    undecided = np.ones(len(node_ijk), dtype=bool)
    for lvl, cells in enumerate(band.levels):
        if not undecided.any():
            break
        idx = np.flatnonzero(undecided)
        scale = 2**lvl
        cell = np.minimum(node_ijk[idx] // scale, np.array(cells.shape) - 1)
        pos, found = _lookup(cells.cells, _flat(cell, cells.shape))
        sign = np.where(found, cells.sign[pos], 0)
        decided = sign != 0
        result[idx[decided]] = sign[decided]
        undecided[idx[decided]] = False
    if undecided.any():  # nodes of active fine cells are evaluated, so this cannot happen
        raise AssertionError(f"narrow band: {int(undecided.sum())} nodes without a sign ({fine_cells})")
    return result
