"""Find and repair digitisation defects of the contours on one plane.

Hand-traced and marching-squares contours are rarely perfect: a contour touches
itself (a pinch, a vertex repeated later in the loop), crosses itself in a tiny
loop where two edges run 0.01 apart, or two contours of the same label overlap
by a sliver. OReX reads such files; so do we, by one documented rule:

**The inside of a plane (per label) is the even-odd fill of that label's
contours**: a point is inside when an odd number of the label's contours
encloses it, each contour being filled by the even-odd rule on its own (a
self-crossing contour bounds the lobes it forms). This is the rule sdfrecon's
samplers label points with anyway (:func:`sdfrecon.datasets.slices.points_inside`);
repairing only rewrites the defective contours as the simple, disjoint boundary
rings of that same region (outer rings counter-clockwise, holes clockwise,
with their parents), computed exactly by GEOS through shapely
(``make_valid`` on each contour, symmetric difference across contours).

A contour whose two windings nearly cancel (a bow-tie: as much area turns one
way as the other) has no inside/outside orientation the ``.csl`` format can
mean -- that is a scrambled vertex order, not a digitisation defect, and
stays an error (:data:`MIN_WINDING_RATIO`).

Contours of different labels (adjacent organs sharing a boundary) are never
compared: each label is reconstructed on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

MIN_WINDING_RATIO = 0.5
"""A self-crossing contour is repaired when ``|signed area| >= MIN_WINDING_RATIO x
even-odd area`` (its lobes mostly turn one way); below, its orientation is ambiguous
and the file is refused."""

RELATIVE_AREA_TOLERANCE = 1e-9
"""Area differences below this fraction count as equal (touching, not crossing)."""


@dataclass(frozen=True)
class Defect:
    """One defect found on a plane.

    Attributes
    ----------
    contour : int
        0-based index of the contour.
    other : int or None
        The other contour's index for a defect between two contours, else None.
    kind : str
        ``"crosses"`` or ``"touches"`` (a pair only ever ``"crosses"``: touching
        contours of one label change nothing under the even-odd rule and are left alone).
    area_change : float
        Area the repair adds or removes, as a fraction of the contour's area
        (of the smaller contour's for a pair).
    """

    contour: int
    other: int | None
    kind: str
    area_change: float

    def describe(self) -> str:
        """``contour 3 crosses itself`` / ``contours 2 and 5 cross`` plus the area change."""
        if self.other is None:
            what = f"contour {self.contour + 1} {self.kind} itself"
        else:
            what = f"contours {self.contour + 1} and {self.other + 1} overlap"
        if self.kind == "touches":
            return f"{what}; split into simple contours (even-odd rule, same area)"
        return f"{what}; repaired by the even-odd rule (area changed by {100.0 * self.area_change:.3g}%)"


@dataclass(frozen=True)
class AmbiguousContour:
    """A contour whose self-crossing lobes turn both ways about equally (not repairable)."""

    contour: int
    winding_ratio: float
    """``|signed area| / even-odd area`` of the contour (1 for a simple contour)."""


def _shapely():
    import shapely

    return shapely


def _polygonal(geometry):
    """The polygons (list) of a shapely geometry, dropping points and lines (spikes)."""
    shapely = _shapely()
    parts = shapely.get_parts(geometry)
    out = []
    for part in parts:
        kind = shapely.get_type_id(part)
        if kind == 3:  # Polygon
            if part.area > 0:
                out.append(part)
        elif kind in (6, 7):  # MultiPolygon, GeometryCollection
            out.extend(_polygonal(part))
    return out


def _filled(loop: np.ndarray):
    """Even-odd fill of one closed 2D loop as a (valid) shapely geometry."""
    shapely = _shapely()
    polygon = shapely.Polygon(loop)
    if polygon.is_valid:
        return polygon
    # The 'linework' method nodes the ring and assigns faces alternately: the even-odd rule.
    return shapely.union_all(_polygonal(shapely.make_valid(polygon))) if len(loop) >= 3 else shapely.Polygon()


def signed_loop_area(loop: np.ndarray) -> float:
    """Shoelace area of a closed 2D loop (M, 2); positive when counter-clockwise."""
    x, y = loop[:, 0], loop[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


@dataclass
class PlaneDiagnosis:
    """What :func:`diagnose` found on one plane.

    Attributes
    ----------
    areas : (K,) ndarray
        Even-odd area of each contour (0 for a degenerate one).
    defects : list of Defect
        Repairable defects, per contour or pair.
    ambiguous : list of AmbiguousContour
        Self-crossing contours without an orientation (errors).
    """

    areas: np.ndarray
    defects: list[Defect]
    ambiguous: list[AmbiguousContour]


def diagnose(loops: Sequence[np.ndarray], groups: Sequence[int]) -> PlaneDiagnosis:
    """Find self-crossing and self-touching contours, and overlapping pairs within a group.

    Parameters
    ----------
    loops : sequence of (M_k, 2) ndarray
        Closed contours in the plane's 2D frame.
    groups : sequence of int
        Per contour, the label whose region it bounds; pairs are only compared within a group.

    Returns
    -------
    PlaneDiagnosis
    """
    shapely = _shapely()
    polygons = [shapely.Polygon(lp) if len(lp) >= 3 else shapely.Polygon() for lp in loops]
    valid = np.asarray(shapely.is_valid(polygons), dtype=bool) if polygons else np.zeros(0, bool)
    fills, areas, defects, ambiguous = [], [], [], []
    for k, (loop, polygon) in enumerate(zip(loops, polygons)):
        if valid[k]:
            fills.append(polygon)
            areas.append(polygon.area)
            continue
        filled = _filled(loop)
        fills.append(filled)
        area = float(filled.area)
        areas.append(area)
        if area <= 0:
            continue  # degenerate: the caller reports zero area
        signed = abs(signed_loop_area(loop))
        ratio = signed / area
        if ratio < MIN_WINDING_RATIO:
            ambiguous.append(AmbiguousContour(k, ratio))
        else:
            change = abs(area - signed) / area
            kind = "crosses" if change > RELATIVE_AREA_TOLERANCE else "touches"
            defects.append(Defect(k, None, kind, change))
    areas_arr = np.asarray(areas, dtype=np.float64)
    defects += _pair_defects(loops, groups, fills, areas_arr)
    return PlaneDiagnosis(areas=areas_arr, defects=defects, ambiguous=ambiguous)


def _pair_defects(loops, groups, fills, areas) -> list[Defect]:
    """Contours of one group that overlap partly (their boundaries cross)."""
    shapely = _shapely()
    usable = [k for k, lp in enumerate(loops) if len(lp) >= 3 and areas[k] > 0]
    if len(usable) < 2:
        return []
    rings = [shapely.LineString(np.vstack([loops[k], loops[k][:1]])) for k in usable]
    tree = shapely.STRtree(rings)
    left, right = tree.query(rings, predicate="intersects")
    out = []
    for a, b in zip(left.tolist(), right.tolist()):
        i, j = usable[a], usable[b]
        if i >= j or groups[i] != groups[j]:
            continue
        overlap = float(shapely.intersection(fills[i], fills[j]).area)
        smaller = min(areas[i], areas[j])
        nested = overlap >= smaller * (1.0 - RELATIVE_AREA_TOLERANCE)  # one inside the other, boundaries touching
        partial = overlap > smaller * RELATIVE_AREA_TOLERANCE and not nested
        if partial:  # boundaries that only touch change nothing under the even-odd rule: left as they are
            out.append(Defect(i, j, "crosses", overlap / smaller))
    return out


def repair_group(loops: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """The simple boundary rings of the even-odd fill of ``loops`` (see module doc).

    Parameters
    ----------
    loops : sequence of (M_k, 2) ndarray
        Closed 2D contours bounding one label's region.

    Returns
    -------
    rings : list of (M, 2) ndarray
        Outer rings counter-clockwise, holes clockwise, without a repeated closing vertex.
    parents : list of int
        Per ring: -1 for an outer ring, else the index (into ``rings``) of the ring it is a hole of.
    """
    shapely = _shapely()
    from shapely.geometry.polygon import orient

    region = shapely.Polygon()
    for loop in loops:
        region = shapely.symmetric_difference(region, _filled(loop))
    rings: list[np.ndarray] = []
    parents: list[int] = []
    for polygon in _polygonal(region):
        polygon = orient(polygon, sign=1.0)
        outer = len(rings)
        rings.append(np.asarray(polygon.exterior.coords, dtype=np.float64)[:-1, :2])
        parents.append(-1)
        for interior in polygon.interiors:
            rings.append(np.asarray(interior.coords, dtype=np.float64)[:-1, :2])
            parents.append(outer)
    return rings, parents
