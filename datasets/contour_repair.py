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

Before that rule, outlines digitised in pieces are put back together
(:func:`join_open_chains`): a ``.csl`` contour is closed by definition, so two open
chains of one outline stored as two contours would each be closed across the shape,
leaving a slit between their closing edges.
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


# ------------------------------------------------------------------ broken outlines

GAP_EDGE_RATIO = 4.0
"""Gap rule for outlines digitised in pieces: a contour whose closing edge (last vertex
back to the first) is longer than this many times its longest other edge is an *open
chain*; two open chains of one label join where an end of one lies within this many
median edge lengths of an end of the other."""


@dataclass(frozen=True)
class Join:
    """Open chains of one plane joined into one contour.

    Attributes
    ----------
    contours : tuple of int
        0-based indices of the pieces, in the order they were joined.
    gaps : tuple of float
        The bridged gaps (world units), one per join.
    """

    contours: tuple[int, ...]
    gaps: tuple[float, ...]

    def describe(self) -> str:
        names = ", ".join(str(k + 1) for k in self.contours)
        widest = max(self.gaps)
        return (f"contours {names} are pieces of one outline (open, with gaps up to {widest:.3g} between "
                f"their ends); joined into one contour")


def _median_edge(loop: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(np.diff(loop, axis=0), axis=1)))


def _is_open_chain(loop: np.ndarray) -> bool:
    # Against the longest drawn edge, not the median: a CAD section may close on one long
    # straight side, but then its other straight sides are long too.
    drawn = np.linalg.norm(np.diff(loop, axis=0), axis=1)
    return float(np.linalg.norm(loop[-1] - loop[0])) > GAP_EDGE_RATIO * float(drawn.max())


def join_open_chains(loops: Sequence[np.ndarray], groups: Sequence[int]
                     ) -> tuple[list[np.ndarray], list[int], list[Join]]:
    """Join the pieces of outlines that were digitised as several open chains.

    A ``.csl`` contour is closed by definition, so a piece of an outline stored as its own
    contour is closed by a straight edge across the shape (its *closing edge*), and two
    pieces of one outline fill the shape minus the strip between those edges: a slit
    through the plane. The rule: an *open chain* (closing edge longer than
    :data:`GAP_EDGE_RATIO` x its longest other edge) is joined end to end with the open chain of
    the same group whose nearer end is closest, when that gap is at most
    :data:`GAP_EDGE_RATIO` x the longer median edge of the two (either chain reversed as
    the nearest ends need). Joining repeats until no two open chains meet. A lone
    open chain stays as it is: its closing edge bridges its own gap, as the format says.
    Closed contours are never touched.

    Parameters
    ----------
    loops : sequence of (M_i, D) ndarray
        The plane's contours (any dimension D: world or plane coordinates).
    groups : sequence of int
        Per contour, the group (label) it belongs to; only one group's chains are joined.

    Returns
    -------
    (loops, groups, joins)
        The contours with every joined set replaced by one contour (at the place of its
        first piece), their groups, and one :class:`Join` per joined set.
    """
    loops = [np.asarray(lp, dtype=np.float64) for lp in loops]
    chains: dict[int, tuple[np.ndarray, list[int], list[float]]] = {
        k: (lp, [k], []) for k, lp in enumerate(loops) if len(lp) >= 2 and _is_open_chain(lp)}
    while True:
        best = None
        keys = [k for k, (lp, _, _) in chains.items() if _is_open_chain(lp)]
        for n, i in enumerate(keys):
            a = chains[i][0]
            for j in keys[n + 1:]:
                b = chains[j][0]
                if groups[j] != groups[i]:
                    continue
                reach = GAP_EDGE_RATIO * max(_median_edge(a), _median_edge(b))
                # The four ways two chains can meet, each as (gap, chain a as joined, chain b as joined).
                for gap, flip_a, flip_b in ((np.linalg.norm(a[-1] - b[0]), False, False),
                                            (np.linalg.norm(a[-1] - b[-1]), False, True),
                                            (np.linalg.norm(a[0] - b[-1]), True, True),
                                            (np.linalg.norm(a[0] - b[0]), True, False)):
                    if gap <= reach and (best is None or gap < best[0]):
                        best = (float(gap), i, j, flip_a, flip_b)
        if best is None:
            break
        gap, i, j, flip_a, flip_b = best
        a, pieces_a, gaps_a = chains[i]
        b, pieces_b, gaps_b = chains.pop(j)
        chains[i] = (np.concatenate([a[::-1] if flip_a else a, b[::-1] if flip_b else b]),
                     pieces_a + pieces_b, gaps_a + [gap] + gaps_b)
    joined = {i: c for i, c in chains.items() if len(c[1]) > 1}
    absorbed = {k for _, pieces, _ in joined.values() for k in pieces[1:]}
    out_loops, out_groups = [], []
    for k, lp in enumerate(loops):
        if k in absorbed:
            continue
        out_loops.append(joined[k][0] if k in joined else lp)
        out_groups.append(groups[k])
    joins = [Join(tuple(pieces), tuple(gaps)) for _, pieces, gaps in joined.values()]
    return out_loops, out_groups, joins
