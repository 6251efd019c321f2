"""Local geometry of a point cloud: spacing, PCA normals, orientation checks, distances.

Everything here is classical and cheap (k-d tree queries and 3x3 eigenproblems);
it prepares what the neural field is trained on:

* :func:`pca_normals` -- unit normals of unknown sign, from the local covariance;
* :func:`sign_disagreement` -- how often neighbouring normals on the same sheet
  point opposite ways: about 0 for consistently oriented normals, about 0.5 for
  normals of random sign (e.g. estimated by a tool that does not orient them);
* :func:`prepare_normals` -- the input normals the trainer should use, and
  whether their sign can be trusted;
* :func:`two_sided_share` -- how many points see a second, parallel sheet of
  points just behind them: about 1 for a thin closed part (both faces of every
  wall scanned), about 0 for a single open sheet (one view) or a thick solid;
* :func:`splat_distance` -- distance from query points to the surface of the
  points, each point standing for a small disc ("splat") in its tangent plane;
  signed (negative inside) when the normals are oriented.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

log = logging.getLogger(__name__)

NormalsMode = Literal["auto", "given", "estimate", "none"]

SIGN_DISAGREEMENT_LIMIT = 0.1
"""Given normals whose neighbours on the same sheet disagree in sign more often than
this are treated as unoriented (their direction is used, their sign is not)."""


def _tree(points: np.ndarray):
    from sdfrecon.base.kdtree import point_tree

    return point_tree(points)


def local_spacing(points: np.ndarray, k: int = 8, tree=None) -> np.ndarray:
    """Distance from each of the (N, 3) points to its ``k``-th nearest other point, (N,)."""
    k = min(k, len(points) - 1)
    tree = tree or _tree(points)
    return tree.query(points, k=k + 1, workers=-1)[0][:, -1]


def pca_normals(points: np.ndarray, k: int = 16, tree=None) -> np.ndarray:
    """Unit normals (N, 3) of the (N, 3) points: the least-variance direction of each
    point's ``k`` nearest points. Their sign is arbitrary."""
    k = min(k, len(points))
    tree = tree or _tree(points)
    _, idx = tree.query(points, k=k, workers=-1)
    local = points[idx] - points[idx].mean(axis=1, keepdims=True)
    _, vectors = np.linalg.eigh(np.einsum("nki,nkj->nij", local, local))
    return np.ascontiguousarray(vectors[:, :, 0])


def sign_disagreement(points: np.ndarray, normals: np.ndarray, k: int = 8, tree=None) -> float:
    """Share of neighbour pairs on the same sheet whose normals point opposite ways.

    A pair counts when the neighbour lies near the point's tangent plane (so the
    two sides of a thin wall, which legitimately face away from each other, are
    not compared) and the two normals are nearly parallel or anti-parallel (so
    sharp edges, where normals turn by design, are not compared either).

    Returns
    -------
    float
        In [0, 1]: about 0 for consistently oriented normals, about 0.5 for random
        signs; NaN when no pair qualifies.
    """
    k = min(k, len(points) - 1)
    tree = tree or _tree(points)
    _, idx = tree.query(points, k=k + 1, workers=-1)
    idx = idx[:, 1:]
    offset = points[idx] - points[:, None, :]
    length = np.linalg.norm(offset, axis=2)
    along = np.abs(np.einsum("nkd,nd->nk", offset, normals))
    cos = np.einsum("nkd,nd->nk", normals[idx], normals)
    same_sheet = (along < 0.3 * length) & (np.abs(cos) > 0.9)
    count = int(same_sheet.sum())
    return float((cos[same_sheet] < 0).sum() / count) if count else float("nan")


def two_sided_share(points: np.ndarray, normals: np.ndarray, spacing: np.ndarray, reach: float, *,
                    tree=None, samples: int = 4000, k: int = 192, min_gap: float = 0.5,
                    gap_to_scatter: float = 3.0, seed: int = 0) -> float:
    """Share of points that have a second sheet of points behind them within ``reach``.

    For each of ``samples`` random points, its neighbours within ``reach`` that lie in a
    cylinder along its normal (radius: its spacing) are sorted by their offset along the
    normal. The point is *two-sided* when the widest gap between consecutive offsets is
    at least ``min_gap`` spacings and ``gap_to_scatter`` times the scatter of the point's
    own side, with at least three points on each side: the two faces of a thin wall.
    Noise spreads one sheet's offsets without a clear gap, and a curved single sheet
    leaves the cylinder before it bends back, so neither counts. ``k`` neighbours must
    reach across the wall: a face holds about ``8 (reach / spacing)^2`` of them within
    ``reach``.

    Parameters
    ----------
    points, normals : (N, 3) ndarray
        Points and unit normals (any sign), same frame.
    spacing : (N,) ndarray
        Each point's local spacing (distance to its 8th neighbour), same units.
    reach : float
        Farthest the second sheet may be, same units.

    Returns
    -------
    float
        Share of the sampled points that are two-sided, in [0, 1]: about 1 for a thin
        closed part, 0 for one open sheet or a thick solid.
    """
    tree = tree or _tree(points)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(points), size=min(samples, len(points)), replace=False)
    k = min(k, len(points))
    dist, idx = tree.query(points[pick], k=k, distance_upper_bound=reach, workers=-1)
    dist, idx = dist.reshape(len(pick), k), idx.reshape(len(pick), k)
    found = np.isfinite(dist)
    normal = normals[pick]
    offsets = points[np.where(found, idx, 0)] - points[pick, None]
    along = np.einsum("nkd,nd->nk", offsets, normal)
    lateral = np.linalg.norm(offsets - along[..., None] * normal[:, None], axis=2)
    in_cylinder = found & (lateral < spacing[pick, None])
    ordered = np.sort(np.where(in_cylinder, along, np.inf), axis=1)  # the cylinder's offsets first
    count = in_cylinder.sum(axis=1)
    slot = np.arange(k)[None]
    valid = slot < count[:, None]
    gaps = np.where(valid[:, 1:], np.diff(np.where(valid, ordered, 0.0), axis=1), -np.inf)
    widest = np.argmax(gaps, axis=1)  # the gap lies between slots widest and widest + 1
    gap = gaps[np.arange(len(pick)), widest]
    own = np.sum(valid & (ordered < 0), axis=1)  # the slot of the point itself (offset 0)
    lower_side = (slot <= widest[:, None]) & valid
    mine = np.where((own <= widest)[:, None], lower_side, valid & ~lower_side)
    mine_count = mine.sum(axis=1)
    far_count = count - mine_count
    mean = np.sum(np.where(mine, ordered, 0.0), axis=1) / np.maximum(mine_count, 1)
    scatter = np.sqrt(np.sum(np.where(mine, (ordered - mean[:, None]) ** 2, 0.0), axis=1) / np.maximum(mine_count, 1))
    two_sided = ((mine_count >= 3) & (far_count >= 3) & (gap >= min_gap * spacing[pick])
                 & (gap >= gap_to_scatter * scatter))
    return float(two_sided.mean())


def prepare_normals(points: np.ndarray, normals: np.ndarray | None, mode: NormalsMode,
                    *, k: int = 16) -> tuple[np.ndarray | None, bool, str]:
    """The normals to train with, whether their sign is trusted, and why.

    Parameters
    ----------
    points : (N, 3) ndarray
    normals : (N, 3) ndarray or None
        The input's normals.
    mode : str
        ``given``: use the input's normals as oriented (None stays None);
        ``none``: no normals; ``estimate``: PCA normals, unoriented, whatever the
        input has; ``auto``: the input's normals when their signs are consistent
        (:func:`sign_disagreement` below :data:`SIGN_DISAGREEMENT_LIMIT`), their
        directions only when not, and PCA normals (unoriented) when there are none.

    Returns
    -------
    (normals or None, oriented, note)
        ``note`` says what was decided, for the run record.
    """
    if mode == "none":
        return None, False, "normals not used"
    if mode == "given":
        return normals, normals is not None, "input normals" if normals is not None else "no normals"
    if mode == "estimate" or normals is None:
        return pca_normals(points, k), False, "normals estimated (PCA, unoriented)"
    disagreement = sign_disagreement(points, normals)
    if disagreement > SIGN_DISAGREEMENT_LIMIT:
        log.warning("the input normals point opposite ways on %.0f %% of neighbouring points; "
                    "using their directions but not their signs", 100 * disagreement)
        return normals, False, f"input normals, inconsistent signs ({disagreement:.2f}): used unoriented"
    return normals, True, f"input normals (sign disagreement {disagreement:.3f})"


def splat_distance(queries: np.ndarray, points: np.ndarray, normals: np.ndarray, radius: np.ndarray,
                   *, oriented: bool, k: int = 8, tree=None, return_nearest: bool = False
                   ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Distance from queries to the splats of the points, signed when ``oriented``.

    Each input point ``p`` with normal ``n`` stands for a disc of radius ``r`` in
    its tangent plane. A query's distance is that to the nearest point's disc:
    the plane distance ``|(q - p).n|`` while its foot lies within the disc, the
    distance to the disc's rim beyond -- continuous, and below the point spacing
    much closer to the surface than the distance to the nearest point. With
    oriented normals the sign is the inverse-square-distance-weighted vote of the
    ``k`` nearest points' planes (negative inside).

    Parameters
    ----------
    queries : (M, 3) ndarray
    points, normals : (N, 3) ndarrays
    radius : (N,) ndarray
        Splat radii (e.g. the local spacing).
    oriented : bool
    k : int
        Neighbours voting on the sign (only the nearest is looked up when not ``oriented``).
    return_nearest : bool
        Also return each query's nearest point (its index), which callers would
        otherwise look up again.

    Returns
    -------
    (M,) float32 ndarray, and with ``return_nearest`` the (M,) int indices too
    """
    tree = tree or _tree(points)
    # Without a sign vote only the nearest point matters: a 1-neighbour query is ~2x cheaper.
    k = min(k, len(points)) if oriented else 1
    dist, idx = tree.query(queries, k=k, workers=-1)
    dist, idx = dist.reshape(len(queries), k), idx.reshape(len(queries), k)
    nearest = idx[:, 0]
    offset = queries - points[nearest]
    along = np.einsum("md,md->m", offset, normals[nearest])
    across = np.sqrt(np.maximum(dist[:, 0] ** 2 - along**2, 0.0))
    beyond = np.maximum(across - radius[nearest], 0.0)
    unsigned = np.sqrt(along**2 + beyond**2)
    if oriented:
        votes = np.einsum("mkd,mkd->mk", queries[:, None, :] - points[idx], normals[idx])
        weights = 1.0 / np.maximum(dist, 1e-9) ** 2
        sign = np.where((weights * np.sign(votes)).sum(axis=1) < 0, -1.0, 1.0)
        unsigned = sign * unsigned
    distance = unsigned.astype(np.float32)
    return (distance, nearest) if return_nearest else distance
