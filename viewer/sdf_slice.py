"""A planar slice of a signed distance field: sampled values and the zero contour.

The plane is perpendicular to one axis (x, y or z). Its position is a fraction
of the shown object's bounding box along that axis: -1 at the low face, 0 at
the centre, 1 at the high face. The plane covers the box's other two sides (a
little padded) with a regular grid; the field is evaluated there, and
scikit-image's ``find_contours`` traces the zero level (the surface) to
sub-pixel accuracy.

Everything is in world coordinates. The trained network lives in the unit
frame; :func:`field_function` wraps it so it takes world points and returns
world-unit distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

AXES = ("x", "y", "z")

WorldSdf = Callable[[np.ndarray], np.ndarray]
"""World points (N, 3) -> signed values (N,), negative inside."""


@dataclass(frozen=True)
class SlicePlane:
    """Where to cut: ``axis`` (x, y or z) at ``offset`` in [-1, 1] of the bounding box."""

    axis: str = "z"
    offset: float = 0.0

    def __post_init__(self):
        if self.axis not in AXES:
            raise ValueError(f"slice axis must be one of x, y, z, got {self.axis!r}")
        if not -1.0 <= self.offset <= 1.0:
            raise ValueError(f"slice offset must be in [-1, 1] (fraction of the bounding box), got {self.offset}")

    @property
    def index(self) -> int:
        return AXES.index(self.axis)

    def coordinate(self, lo: np.ndarray, hi: np.ndarray) -> float:
        """World coordinate of the plane along its axis, for the box ``[lo, hi]``."""
        a = self.index
        return float((lo[a] + hi[a]) / 2.0 + self.offset * (hi[a] - lo[a]) / 2.0)

    def moved(self, step: float) -> "SlicePlane":
        """The plane shifted by ``step`` (fraction of the box), kept within [-1, 1]."""
        return SlicePlane(self.axis, float(np.clip(self.offset + step, -1.0, 1.0)))


@dataclass
class SdfSlice:
    """Field values on a plane grid.

    Attributes
    ----------
    axis : int
        Index of the axis the plane is perpendicular to.
    coordinate : float
        Plane position along that axis, world units.
    u_axis, v_axis : int
        The in-plane axes (image columns follow u, rows follow v).
    u : (W,) float64 ndarray
    v : (H,) float64 ndarray
        Grid coordinates along ``u_axis`` / ``v_axis``, world units, increasing.
    values : (H, W) float64 ndarray
        Signed field values, ``values[i, j]`` at ``(u[j], v[i])``; world units for an SDF.
    contours : list of (K, 3) float64 ndarray
        Zero-level polylines in world coordinates.
    title : str
        What the values are, for colour-bar labels.
    """

    axis: int
    coordinate: float
    u_axis: int
    v_axis: int
    u: np.ndarray
    v: np.ndarray
    values: np.ndarray
    contours: list[np.ndarray] = field(default_factory=list)
    title: str = "SDF"

    def grid_points(self) -> np.ndarray:
        """World positions (H*W, 3) of the samples, row-major like ``values``."""
        uu, vv = np.meshgrid(self.u, self.v)
        pts = np.empty((uu.size, 3))
        pts[:, self.axis] = self.coordinate
        pts[:, self.u_axis] = uu.ravel()
        pts[:, self.v_axis] = vv.ravel()
        return pts


def in_plane_axes(axis: int) -> tuple[int, int]:
    """The two axes spanning a plane perpendicular to ``axis``, in cyclic order (u x v = axis)."""
    return (axis + 1) % 3, (axis + 2) % 3


def sample_slice(sdf: WorldSdf, lo, hi, plane: SlicePlane, *, resolution: int = 256, pad: float = 0.08,
                 title: str = "SDF") -> SdfSlice:
    """Evaluate ``sdf`` on a plane through the box ``[lo, hi]`` and trace its zero contour.

    Parameters
    ----------
    sdf : callable
        World points (N, 3) -> values (N,), negative inside.
    lo, hi : (3,) array_like
        Bounding box of the object, world units; the plane spans it in its two
        in-plane axes, enlarged by ``pad`` times the largest side on every edge.
    plane : SlicePlane
    resolution : int
        Samples along the longer in-plane side (the other side keeps square cells).
    pad : float
    title : str
        Name of the values (colour-bar label).

    Returns
    -------
    SdfSlice
    """
    from skimage.measure import find_contours

    if resolution < 4:
        raise ValueError(f"slice resolution must be >= 4, got {resolution}")
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    a = plane.index
    ua, va = in_plane_axes(a)
    margin = pad * float((hi - lo).max())
    span_u = (lo[ua] - margin, hi[ua] + margin)
    span_v = (lo[va] - margin, hi[va] + margin)
    cell = max(span_u[1] - span_u[0], span_v[1] - span_v[0]) / (resolution - 1)
    n_u = max(4, int(round((span_u[1] - span_u[0]) / cell)) + 1)
    n_v = max(4, int(round((span_v[1] - span_v[0]) / cell)) + 1)
    out = SdfSlice(axis=a, coordinate=plane.coordinate(lo, hi), u_axis=ua, v_axis=va,
                   u=np.linspace(*span_u, n_u), v=np.linspace(*span_v, n_v),
                   values=np.zeros((n_v, n_u)), title=title)
    values = np.asarray(sdf(out.grid_points()), dtype=np.float64).reshape(n_v, n_u)
    if not np.isfinite(values).all():
        raise ValueError("the field returned NaN or infinite values on the slice")
    out.values = values
    out.contours = [_to_world(out, c) for c in find_contours(values, 0.0)]
    return out


def _to_world(s: SdfSlice, rc: np.ndarray) -> np.ndarray:
    """(K, 2) fractional (row, col) grid indices -> (K, 3) world points on the plane."""
    pts = np.empty((len(rc), 3))
    pts[:, s.axis] = s.coordinate
    pts[:, s.u_axis] = np.interp(rc[:, 1], np.arange(len(s.u)), s.u)
    pts[:, s.v_axis] = np.interp(rc[:, 0], np.arange(len(s.v)), s.v)
    return pts


def field_function(field, normalization, *, device="cpu", chunk: int = 65536) -> tuple[WorldSdf, str]:
    """Wrap a trained :class:`~sdfrecon.sdf.fields.NeuralField` as a world-frame function.

    Parameters
    ----------
    field : NeuralField
        In eval mode; evaluated with ``surface_value`` (negative inside).
    normalization : Normalization
        World <-> unit frame map of the run.
    device : str or torch.device
    chunk : int
        Points per forward pass (bounds memory).

    Returns
    -------
    (callable, str)
        World points (N, 3) -> values (N,), and their name. For an SDF field the
        values are multiplied by ``normalization.scale`` so they are world-unit
        distances; an occupancy field's surface value (a negated logit) is left
        unscaled.
    """
    import torch

    is_sdf = getattr(field, "surface", "sdf") == "sdf"
    scale = float(normalization.scale) if is_sdf else 1.0

    def evaluate(points: np.ndarray) -> np.ndarray:
        unit = normalization.to_unit(points)
        out = np.empty(len(unit))
        with torch.no_grad():
            for start in range(0, len(unit), chunk):
                x = torch.as_tensor(unit[start:start + chunk], dtype=torch.float32, device=device)
                out[start:start + chunk] = field.surface_value(x).double().cpu().numpy()
        return out * scale

    return evaluate, ("SDF" if is_sdf else "surface value (-occupancy logit)")


def slice_colors(s: SdfSlice, vmin: float, vmax: float) -> np.ndarray:
    """(H, W, 3) colours in [0, 1] of the slice values on the diverging ``sdf`` map."""
    from sdfrecon.viewer.colormap import map_values

    return map_values(s.values.ravel(), vmin, vmax, "sdf").reshape(*s.values.shape, 3)


def slice_image(s: SdfSlice, vmin: float, vmax: float, *, contour_rgb=(0, 0, 0), contour_width: int = 2) -> np.ndarray:
    """A flat picture of the slice: colours with the zero contour drawn on top.

    Returns
    -------
    (H, W, 3) uint8 ndarray
        Row 0 is the largest ``v`` (so +v points up in the picture), column 0 the smallest ``u``.
    """
    from PIL import Image, ImageDraw

    rgb = (slice_colors(s, vmin, vmax) * 255.0 + 0.5).astype(np.uint8)[::-1]
    img = Image.fromarray(np.ascontiguousarray(rgb))
    draw = ImageDraw.Draw(img)
    h = s.values.shape[0]
    du = (s.u[-1] - s.u[0]) / (len(s.u) - 1)
    dv = (s.v[-1] - s.v[0]) / (len(s.v) - 1)
    for c in s.contours:
        cols = (c[:, s.u_axis] - s.u[0]) / du
        rows = (h - 1) - (c[:, s.v_axis] - s.v[0]) / dv
        draw.line(list(zip(cols.tolist(), rows.tolist())), fill=tuple(contour_rgb), width=contour_width)
    return np.asarray(img)


def slice_geometry(s: SdfSlice, vmin: float, vmax: float, *, contour_width: float = 0.01):
    """Open3D geometry of the slice: a coloured plane (both sides) and the zero contour.

    Parameters
    ----------
    s : SdfSlice
    vmin, vmax : float
        Colour range of the values.
    contour_width : float
        Width of the contour ribbon, as a fraction of the plane's diagonal.

    Returns
    -------
    (open3d.geometry.TriangleMesh, open3d.geometry.TriangleMesh)
        The plane with per-vertex colours from :func:`slice_colors`, and the
        contour as a black ribbon of triangles lying on it (on both faces).
        A ribbon rather than a LineSet: it has a width in every renderer
        (the legacy visualizer ignores line widths), and Filament on Mesa's
        software driver was seen to take a minute per frame when a LineSet
        shared the picture with the plane.
    """
    import open3d as o3d

    h, w = s.values.shape
    vertices = s.grid_points()
    idx = np.arange(h * w).reshape(h, w)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    front = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    triangles = np.concatenate([front, front[:, ::-1]])  # both windings: visible from either side
    plane = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices), o3d.utility.Vector3iVector(triangles))
    plane.vertex_colors = o3d.utility.Vector3dVector(slice_colors(s, vmin, vmax).reshape(-1, 3))
    diagonal = float(np.hypot(s.u[-1] - s.u[0], s.v[-1] - s.v[0]))
    ribbon_v, ribbon_f = contour_ribbon(s.contours, s.axis, half_width=contour_width * diagonal / 2.0,
                                        lift=2e-3 * diagonal)
    contour = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(ribbon_v), o3d.utility.Vector3iVector(ribbon_f))
    if len(ribbon_v):
        contour.paint_uniform_color((0.0, 0.0, 0.0))
        contour.compute_vertex_normals()
    return plane, contour


def contour_ribbon(contours: list[np.ndarray], axis: int, *, half_width: float, lift: float) -> tuple[np.ndarray, np.ndarray]:
    """Triangles of flat ribbons along polylines lying in a plane perpendicular to ``axis``.

    Each segment becomes a quad of width ``2 * half_width`` in the plane, drawn
    twice, ``lift`` in front of and behind the plane, with both windings, so the
    depth test never hides it in the plane's own pixels from either side.

    Returns
    -------
    ((V, 3) float64, (F, 3) int64) ndarrays
    """
    normal = np.zeros(3)
    normal[axis] = 1.0
    verts, faces = [], []
    start = 0
    for line in contours:
        if len(line) < 2:
            continue
        p0, p1 = line[:-1], line[1:]
        direction = p1 - p0
        length = np.linalg.norm(direction, axis=1, keepdims=True)
        keep = length[:, 0] > 0
        p0, p1, direction, length = p0[keep], p1[keep], direction[keep], length[keep]
        side = np.cross(normal, direction / length) * half_width
        # extend each quad by half a width along the segment so joints have no gaps
        along = direction / length * half_width
        for offset in (lift * normal, -lift * normal):
            a, b = p0 - along - side + offset, p0 - along + side + offset
            c, d = p1 + along + side + offset, p1 + along - side + offset
            n = len(p0)
            verts.append(np.concatenate([a, b, c, d]))
            i = start + np.arange(n)
            quad = [np.stack([i, i + n, i + 2 * n], 1), np.stack([i, i + 2 * n, i + 3 * n], 1)]
            quad = np.concatenate(quad)
            faces.append(np.concatenate([quad, quad[:, ::-1]]))
            start += 4 * n
    if not verts:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    return np.concatenate(verts), np.concatenate(faces).astype(np.int64)
