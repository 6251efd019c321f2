"""Metrics on analytic cases with known answers, and invariance to point order."""

import math

import numpy as np
import pytest
import trimesh

from sdfrecon.datasets.synthetic import sphere_points
from sdfrecon.evaluation.iou import iou_at_points, volumetric_iou
from sdfrecon.evaluation.metrics import MetricOptions, compare_point_sets, is_closed, scan_distances
from sdfrecon.evaluation.scoring import evaluate
from sdfrecon.base.errors import ConfigError

R1, R2 = 1.0, 1.5
GAP = R2 - R1


@pytest.fixture(scope="module")
def sphere_samples():
    inner = sphere_points(20_000, radius=R1, seed=1)
    outer = sphere_points(20_000, radius=R2, seed=2)
    return inner, outer


def test_concentric_sphere_samples_give_the_radius_gap(sphere_samples):
    (pi, ni), (po, no) = sphere_samples
    m = compare_point_sets(pi, po, threshold=0.1, rec_normals=ni, gt_normals=no)
    # Every nearest neighbour is at least GAP away radially; the tangential spacing
    # of 20k samples adds well under 1 % of the gap.
    assert m.chamfer_l1 == pytest.approx(GAP, rel=2e-3) and m.chamfer_l1 >= GAP
    assert m.accuracy == pytest.approx(GAP, rel=2e-3) and m.completeness == pytest.approx(GAP, rel=2e-3)
    assert m.chamfer_l2 == pytest.approx(2 * GAP**2, rel=4e-3)  # ShapeNet: two squared means, summed
    assert m.hausdorff == pytest.approx(GAP, rel=2e-2) and m.hausdorff >= GAP
    assert m.normal_consistency == pytest.approx(1.0, abs=1e-3)  # radial normals are parallel
    below = compare_point_sets(pi, po, threshold=0.98 * GAP)
    above = compare_point_sets(pi, po, threshold=1.05 * GAP)
    assert below.fscore == 0.0 and below.precision == 0.0 and below.recall == 0.0
    assert above.fscore == 1.0


def test_concentric_sphere_meshes_chamfer_hausdorff_fscore_iou():
    inner = trimesh.creation.icosphere(subdivisions=5, radius=R1)
    outer = trimesh.creation.icosphere(subdivisions=5, radius=R2)
    # Absolute thresholds around the gap: nothing within 0.95 gap, everything within 1.05 gap.
    lo = evaluate(inner, gt_mesh=outer, options=MetricOptions(samples=15_000, fscore_threshold=0.95 * GAP,
                                                            iou_samples=100_000))
    hi = evaluate(inner, gt_mesh=outer, options=MetricOptions(samples=15_000, fscore_threshold=1.05 * GAP,
                                                            iou_samples=0))
    # Faceting moves the icosphere surfaces inward by < 0.1 % of the radius.
    assert lo.surface.chamfer_l1 == pytest.approx(GAP, rel=1e-2)
    assert lo.surface.hausdorff == pytest.approx(GAP, rel=2e-2)
    assert lo.surface.fscore == 0.0 and hi.surface.fscore == 1.0
    # Scaled copies: the volume ratio is exactly (r1/r2)^3; Monte-Carlo error ~ 1e-3.
    assert lo.iou == pytest.approx((R1 / R2) ** 3, abs=6e-3)
    assert math.isnan(hi.iou) and hi.iou_note == "IoU switched off"
    assert lo.watertight and lo.gt_diagonal == pytest.approx(2 * R2 * math.sqrt(3), rel=1e-3)


def test_surface_chamfer_has_no_sampling_floor():
    # A mesh against itself: the sample Chamfer stays at about half the sample spacing,
    # the surface Chamfer (distances to the triangles) is zero; concentric spheres give the gap.
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=R2)
    same = evaluate(sphere, gt_mesh=sphere, options=MetricOptions(samples=20_000, iou_samples=0))
    assert same.surface.chamfer_l1 > 0.003 * R2  # the floor of 20k samples
    assert same.chamfer_l1_surface < 1e-6 * R2
    inner = trimesh.creation.icosphere(subdivisions=5, radius=R1)
    gap = evaluate(inner, gt_mesh=sphere, options=MetricOptions(samples=20_000, iou_samples=0))
    assert gap.chamfer_l1_surface == pytest.approx(GAP, rel=1e-2)
    assert gap.as_dict()["chamfer_l1_surface_rel"] == pytest.approx(gap.chamfer_l1_surface / gap.gt_diagonal)
    # ground truth given as points only: the reconstruction's samples go to the nearest point
    points, normals = sphere_points(200_000, radius=R2, seed=3)
    by_points = evaluate(inner, gt_points=points, gt_normals=normals,
                         options=MetricOptions(samples=20_000, iou_samples=0))
    assert by_points.chamfer_l1_surface == pytest.approx(GAP, rel=5e-2)


def test_relative_fscore_threshold_is_a_fraction_of_the_gt_diagonal():
    outer = trimesh.creation.icosphere(subdivisions=3, radius=R2)
    inner = trimesh.creation.icosphere(subdivisions=3, radius=R1)
    ev = evaluate(inner, gt_mesh=outer, options=MetricOptions(samples=2000, fscore_relative=0.05, iou_samples=0))
    assert ev.surface.threshold == pytest.approx(0.05 * ev.gt_diagonal)
    assert MetricOptions(fscore_threshold=0.3).threshold_for(100.0) == 0.3
    with pytest.raises(ConfigError, match="fscore_relative"):
        MetricOptions(fscore_relative=0)


@pytest.mark.parametrize("shift", [0.0, 0.25, 0.6])
def test_cube_against_shifted_cube_iou(shift):
    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    moved = cube.copy().apply_translation([shift, 0.0, 0.0])
    # overlap (1 - d) / union (1 + d), estimated from 100k uniform points
    assert volumetric_iou(moved, cube, samples=100_000, seed=3) == pytest.approx((1 - shift) / (1 + shift), abs=5e-3)


def test_iou_at_labelled_points_matches_the_analytic_ratio():
    rng = np.random.default_rng(0)
    points = rng.uniform(-R2, R2, size=(100_000, 3))
    labels = np.linalg.norm(points, axis=1) < R2
    inner = trimesh.creation.icosphere(subdivisions=5, radius=R1)
    assert iou_at_points(inner, points, labels) == pytest.approx((R1 / R2) ** 3, abs=6e-3)


def test_one_sided_scan_distances():
    rec = trimesh.creation.icosphere(subdivisions=5, radius=1.0)
    scan, _ = sphere_points(5000, radius=1.2, seed=4)
    d = scan_distances(scan, rec)
    assert d.mean == pytest.approx(0.2, abs=1e-3) and d.max == pytest.approx(0.2, abs=1e-3)
    ev = evaluate(rec, gt_mesh=rec, scan_points=scan, options=MetricOptions(samples=5000, iou_samples=1000))
    assert ev.scan_chamfer == pytest.approx(d.mean) and ev.scan_hausdorff == pytest.approx(d.max)
    assert ev.surface.chamfer_l1 < 0.05 and ev.iou == 1.0


def test_metrics_do_not_depend_on_point_or_face_order():
    rng = np.random.default_rng(5)
    (pi, ni), (po, no) = sphere_points(3000, radius=R1, seed=6), sphere_points(4000, radius=R2, seed=7)
    pa, pb = rng.permutation(len(pi)), rng.permutation(len(po))
    a = compare_point_sets(pi, po, threshold=0.51, rec_normals=ni, gt_normals=no).as_dict()
    b = compare_point_sets(pi[pa], po[pb], threshold=0.51, rec_normals=ni[pa], gt_normals=no[pb]).as_dict()
    for key in a:
        assert b[key] == pytest.approx(a[key], rel=1e-12, abs=1e-15), key
    # meshes with their faces shuffled: same IoU (same query points), same scan distances
    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    moved = cube.copy().apply_translation([0.3, 0.1, 0.0])
    shuffled = trimesh.Trimesh(moved.vertices, moved.faces[rng.permutation(len(moved.faces))], process=False)
    assert volumetric_iou(shuffled, cube, samples=20_000) == volumetric_iou(moved, cube, samples=20_000)
    scan = rng.uniform(-1, 1, size=(500, 3))
    assert scan_distances(scan[rng.permutation(500)], moved).mean == pytest.approx(scan_distances(scan, moved).mean)


def test_open_reconstruction_has_no_iou_and_empty_one_is_an_error():
    gt = trimesh.creation.icosphere(subdivisions=3)
    open_mesh = trimesh.Trimesh(gt.vertices, gt.faces[:-10], process=False)
    assert not is_closed(open_mesh) and is_closed(gt)
    ev = evaluate(open_mesh, gt_mesh=gt, options=MetricOptions(samples=2000, iou_samples=1000))
    assert math.isnan(ev.iou) and ev.iou_note == "reconstruction not watertight"
    from sdfrecon.base.errors import InputError
    with pytest.raises(InputError, match="empty mesh"):
        evaluate(trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=int)), gt_mesh=gt)


def test_stl_style_unmerged_mesh_counts_as_closed():
    box = trimesh.creation.box()
    soup = trimesh.Trimesh(box.triangles.reshape(-1, 3), np.arange(len(box.faces) * 3).reshape(-1, 3),
                           process=False)
    assert not soup.is_watertight and is_closed(soup)
