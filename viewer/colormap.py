"""Colour maps for per-vertex errors and signed distances, as plain NumPy.

Two maps, each a list of anchor colours interpolated linearly in RGB:

* ``error`` -- sequential, dark blue (0) through light blue, yellow and orange
  to dark red (1); for unsigned distances to the ground truth.
* ``sdf`` -- diverging, blue (negative, inside) through white (0) to red
  (positive, outside); for signed distance values.

Colours are floats in [0, 1] (what Open3D takes for vertex colours); multiply
by 255 for 8-bit images.
"""

from __future__ import annotations

import numpy as np

COLORMAPS: dict[str, tuple[tuple[float, tuple[float, float, float]], ...]] = {
    "error": (
        (0.00, (0.17, 0.25, 0.60)),
        (0.30, (0.30, 0.65, 0.85)),
        (0.60, (0.98, 0.85, 0.35)),
        (0.80, (0.95, 0.45, 0.15)),
        (1.00, (0.70, 0.05, 0.10)),
    ),
    "sdf": (
        (0.00, (0.13, 0.30, 0.65)),
        (0.25, (0.45, 0.65, 0.88)),
        (0.50, (0.97, 0.97, 0.97)),
        (0.75, (0.93, 0.55, 0.42)),
        (1.00, (0.70, 0.10, 0.12)),
    ),
}
"""Anchor points ``(position in [0, 1], (r, g, b))`` of each named map."""


def colormap_names() -> list[str]:
    """Names accepted by :func:`colormap`."""
    return sorted(COLORMAPS)


def colormap(t: np.ndarray, name: str = "error") -> np.ndarray:
    """Colours of positions ``t`` in [0, 1] on the map ``name``.

    Parameters
    ----------
    t : (N,) array_like
        Positions on the map; values outside [0, 1] are clipped, NaN maps to 0.
    name : str
        One of :func:`colormap_names`.

    Returns
    -------
    (N, 3) float64 ndarray
        RGB colours in [0, 1].
    """
    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; valid: {', '.join(colormap_names())}")
    anchors = COLORMAPS[name]
    where = np.array([a[0] for a in anchors])
    rgb = np.array([a[1] for a in anchors])
    t = np.clip(np.nan_to_num(np.asarray(t, dtype=np.float64).reshape(-1), nan=0.0), 0.0, 1.0)
    return np.stack([np.interp(t, where, rgb[:, c]) for c in range(3)], axis=1)


def map_values(values: np.ndarray, vmin: float, vmax: float, name: str = "error") -> np.ndarray:
    """Colours (N, 3) in [0, 1] of ``values`` (N,) scaled so ``vmin`` -> 0 and ``vmax`` -> 1.

    Values beyond the range get the end colours. ``vmax`` must exceed ``vmin``.
    """
    if not vmax > vmin:
        raise ValueError(f"colour range must have vmax > vmin, got [{vmin}, {vmax}]")
    values = np.asarray(values, dtype=np.float64)
    return colormap((values - vmin) / (vmax - vmin), name)


def error_range(errors: np.ndarray, upper: float | None = None, percentile: float = 99.0) -> tuple[float, float]:
    """Colour range ``(0, vmax)`` of unsigned per-vertex errors.

    ``vmax`` is ``upper`` when given, else the ``percentile`` of the errors, so a
    few outliers do not wash the rest of the map into one colour. When every
    error is 0 the range is ``(0, 1)``.
    """
    if upper is not None:
        if not upper > 0:
            raise ValueError(f"error colour maximum must be > 0, got {upper}")
        return 0.0, float(upper)
    errors = np.asarray(errors, dtype=np.float64)
    top = float(np.percentile(errors, percentile)) if errors.size else 0.0
    return 0.0, top if top > 0 else 1.0


def symmetric_range(values: np.ndarray, percentile: float = 99.0) -> tuple[float, float]:
    """Colour range ``(-L, L)`` of signed values, ``L`` the ``percentile`` of ``|values|`` (1 if 0)."""
    values = np.abs(np.asarray(values, dtype=np.float64))
    limit = float(np.percentile(values, percentile)) if values.size else 0.0
    limit = limit if limit > 0 else 1.0
    return -limit, limit
