"""Flood fill of the free space around a point cloud: a blind bore is outside, a closed
solid's inside is not, an open scan gives no labels at all, and a thin closed part (no
interior once its walls are thickened) still gets them."""

import numpy as np
import pytest
import torch

from sdfrecon.base.errors import ConfigError
from sdfrecon.datasets.free_space import flood_exterior
from sdfrecon.datasets.point_geometry import local_spacing
from sdfrecon.datasets.sampling import SurfaceSampler, SurfaceSamplerConfig


def _surface_points(sdf, count: int, seed: int, n: int) -> np.ndarray:
    """``count`` area-uniform points on the zero set of ``sdf`` (``(x, y, z) -> values`` on an
    ``n^3`` grid over ``[-1, 1]^3``), meshed by marching cubes."""
    import trimesh
    from skimage.measure import marching_cubes

    axis = np.linspace(-1.0, 1.0, n)
    values = sdf(*np.meshgrid(axis, axis, axis, indexing="ij"))
    verts, faces, _, _ = marching_cubes(values, 0.0, spacing=(axis[1] - axis[0],) * 3)
    mesh = trimesh.Trimesh(verts - 1.0, faces)
    return np.asarray(trimesh.sample.sample_surface(mesh, count, seed=seed)[0])


def _cup_points(count: int = 30_000, seed: int = 0, bore_radius: float = 0.35, bore_bottom: float = -0.3,
                n: int = 96) -> np.ndarray:
    """Points on a solid cylinder (radius 0.8, z in [-0.8, 0.8]) with a blind bore
    (``bore_radius``, from the top down to ``bore_bottom``)."""
    def sdf(x, y, z):
        r = np.hypot(x, y)
        solid = np.maximum(r - 0.8, np.abs(z) - 0.8)
        bore = np.maximum(r - bore_radius, bore_bottom - z)  # inside the bore
        return np.maximum(solid, -bore)

    return _surface_points(sdf, count, seed, n)


def _tray_points(count: int = 30_000, seed: int = 0, wall: float = 0.06, n: int = 161) -> np.ndarray:
    """Points on an open tray (1.8 x 1.2 x 0.24) with walls and floor ``wall`` thick."""
    def sdf(x, y, z):
        outer = np.maximum(np.maximum(np.abs(x) - 0.9, np.abs(y) - 0.6), np.abs(z) - 0.12)
        pocket = np.maximum(np.maximum(np.abs(x) - (0.9 - wall), np.abs(y) - (0.6 - wall)), np.abs(z - wall) - 0.12)
        return np.maximum(outer, -pocket)

    return _surface_points(sdf, count, seed, n)


def test_blind_bore_is_outside_and_the_wall_is_not():
    points = _cup_points()
    spacing = float(np.median(local_spacing(points, 8)))
    free = flood_exterior(points, 1.5 * spacing)
    assert free.interior_share > 0.2
    probes = np.array([[0.0, 0.0, 0.2],    # on the bore's axis, 0.35 from its wall: outside
                       [0.0, 0.0, 1.05],   # above the cup
                       [0.58, 0.0, 0.0],   # inside the wall (between bore and mantle)
                       [0.0, 0.0, -0.6]])  # in the solid floor below the bore
    distance = np.array([0.35, 0.25, 0.2, 0.2])
    assert free.outside(probes, distance).tolist() == [True, True, False, False]


def test_a_small_cloud_in_a_corner_floods_the_same():
    """The fill works on the block around the points only; a cup shrunk into a corner of the
    cube still has its bore outside, its wall inside, and everything beyond the block outside."""
    points = 0.4 * _cup_points() + np.array([0.5, -0.5, 0.5])
    spacing = float(np.median(local_spacing(points, 8)))
    free = flood_exterior(points, 1.5 * spacing)
    assert free.exterior.shape[0] < 128 // 2 and free.interior_share > 0.2
    probes = np.array([[0.5, -0.5, 0.58],    # in the bore
                       [0.732, -0.5, 0.5],   # in the wall
                       [-0.9, 0.9, -0.9]])   # the far corner, beyond the block
    assert free.outside(probes, np.array([0.14, 0.08, 1.0])).tolist() == [True, False, True]


def test_open_scan_gives_no_outside_labels():
    """Half a sphere: the flood reaches everything, no interior is enclosed, and the
    sampler gives no labels (the clearance term stays sign-agnostic)."""
    rng = np.random.default_rng(0)
    d = rng.normal(size=(20_000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    half = 0.8 * d[d[:, 2] > 0]
    assert flood_exterior(half, 1.5 * float(np.median(local_spacing(half, 8)))).interior_share < 0.01
    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=4096, flood_fill=True)
    sampler = SurfaceSampler(cfg, half, d[d[:, 2] > 0], torch.device("cpu"), seed=0, oriented=False)
    assert sampler.outside == {} and "no enclosed interior" in sampler.flood_note


def test_sampler_labels_pool_samples_of_a_closed_cup():
    points = _cup_points(20_000)
    from sdfrecon.datasets.point_geometry import pca_normals

    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=8192, flood_fill=True)
    sampler = SurfaceSampler(cfg, points, pca_normals(points), torch.device("cpu"), seed=0, oriented=False)
    assert set(sampler.outside) == {"near", "uniform"}
    at = sampler.pools["uniform"][0]
    labelled = at[sampler.outside["uniform"]]
    radius = labelled[:, :2].norm(dim=1)
    in_bore = (radius < 0.3) & (labelled[:, 2] > -0.2) & (labelled[:, 2] < 0.75)
    in_solid = (radius > 0.45) & (radius < 0.7) & (labelled[:, 2].abs() < 0.7)
    assert in_bore.sum() > 20 and in_solid.sum() == 0
    batch = sampler.sample()
    assert batch.outside["uniform"].dtype == torch.bool and len(batch.outside["uniform"]) == cfg.uniform_points
    with pytest.raises(Exception):
        SurfaceSamplerConfig(flood_radius=0).validate("sampler")
    for bad in ({"flood_open_directions": 27}, {"flood_open_directions": -1}, {"flood_inside_confirm": -0.5}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            SurfaceSamplerConfig(**bad).validate("sampler")
    SurfaceSamplerConfig(flood_open_directions=26, flood_inside_confirm=0).validate("sampler")


def test_a_thin_closed_tray_gets_labels_and_its_pocket_is_outside():
    """The tray's walls are thinner than the thickened points, so the fill encloses no
    interior; but both faces of every wall are there, so the pocket is labelled outside
    (no membrane across it) and nothing inside the walls is."""
    from sdfrecon.datasets.point_geometry import pca_normals

    points = _tray_points()
    assert flood_exterior(points, 1.5 * float(np.median(local_spacing(points, 8)))).interior_share < 0.01
    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=16384, flood_fill=True)
    sampler = SurfaceSampler(cfg, points, pca_normals(points), torch.device("cpu"), seed=0, oriented=False)
    assert set(sampler.outside) == {"near", "uniform"}, sampler.flood_note
    assert "other face" in sampler.flood_note
    at = sampler.pools["uniform"][0]
    labelled = at[sampler.outside["uniform"]]
    in_pocket = (labelled[:, 0].abs() < 0.7) & (labelled[:, 1].abs() < 0.4) & (labelled[:, 2] > 0.0) & (
        labelled[:, 2] < 0.12)
    in_floor = (labelled[:, 0].abs() < 0.8) & (labelled[:, 1].abs() < 0.5) & ((labelled[:, 2] + 0.09).abs() < 0.02)
    assert in_pocket.sum() > 20 and in_floor.sum() == 0
    # never: the test can be switched off
    never = SurfaceSamplerConfig(distance_targets=True, pool_points=4096, flood_fill=True, flood_min_two_sided=1.0)
    assert SurfaceSampler(never, points, pca_normals(points), torch.device("cpu"), seed=0,
                          oriented=False).outside == {}


def _sparse_rod(count: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` area-uniform points on a 0.23 x 0.23 x 2 box (the corpus' 3 x 3 x 26 rod in the
    unit frame) and their outward normals."""
    import trimesh

    rod = trimesh.creation.box(extents=(0.23, 0.23, 2.0))
    points, faces = trimesh.sample.sample_surface(rod, count, seed=seed)
    return np.asarray(points), np.asarray(rod.face_normals[faces])


def _rod_depth(at: torch.Tensor) -> torch.Tensor:
    """(P,) depth of each (P, 3) position behind the rod's surface (negative outside)."""
    return torch.minimum(0.115 - at[:, :2].abs().amax(dim=1), 1.0 - at[:, 2].abs())


def test_the_core_of_a_thin_sparse_rod_is_labelled_inside_by_a_lower_bound():
    """1,000 points on a rod thinner than four point spacings: the fill encloses too little to
    trust its outside labels (2 % of the hull), but the thread of free voxels along the rod's
    core is labelled inside, only samples truly inside, each by no more than its true depth."""
    from sdfrecon.datasets.point_geometry import pca_normals

    points, _ = _sparse_rod()
    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=16384, flood_fill=True, flood_inside=True,
                               normals_max_spacing=0.05)
    sampler = SurfaceSampler(cfg, points, pca_normals(points), torch.device("cpu"), seed=0, oriented=False)
    assert sampler.sparse and sampler.outside == {} and "labelled inside" in sampler.flood_note
    for group in ("near", "uniform"):
        at, depth = sampler.pools[group][0], sampler.inside[group]
        known = depth > 0
        assert known.any(), group
        true_depth = _rod_depth(at[known])
        assert (true_depth > 0).all(), group  # never a sample outside the rod
        assert (depth[known] <= true_depth + 0.01).all(), group  # a lower bound, to a raster's rounding
    assert int((sampler.inside["near"] > 0).sum()) > 20  # about 0.3 % of the pool: the rod's core
    batch = sampler.sample()
    assert batch.inside["near"].dtype == torch.float32 and len(batch.inside["near"]) == cfg.near_points
    # Off by default, and for dense clouds (there clearance already holds a part's core).
    off = SurfaceSamplerConfig(distance_targets=True, pool_points=4096, flood_fill=True, normals_max_spacing=0.05)
    assert SurfaceSampler(off, points, pca_normals(points), torch.device("cpu"), seed=0, oriented=False).inside == {}
    dense, _ = _sparse_rod(20_000)
    assert SurfaceSampler(cfg, dense, pca_normals(dense), torch.device("cpu"), seed=0, oriented=False).inside == {}


def test_an_open_sparse_scan_has_nothing_labelled_inside():
    """Half a sphere in 1,000 points: the exterior reaches both faces, so no sample lies
    deeper below it than the thickening."""
    from sdfrecon.datasets.point_geometry import pca_normals

    rng = np.random.default_rng(1)
    d = rng.normal(size=(2000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    half = 0.8 * d[d[:, 2] > 0][:1000]
    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=16384, flood_fill=True, flood_inside=True,
                               normals_max_spacing=0.05)
    sampler = SurfaceSampler(cfg, half, pca_normals(half), torch.device("cpu"), seed=0, oriented=False)
    assert sampler.sparse
    assert all(int((depth > 0).sum()) == 0 for depth in sampler.inside.values()), sampler.flood_note


def test_a_narrow_gap_between_two_parts_is_never_labelled_inside():
    """Two thick slabs 0.1 apart: the thickened points block the gap, and deep along it it
    lies far from the exterior, but it is not enclosed free space. Only the slabs' cores are
    labelled (labelling blocked voxels by their depth closed fertility's gaps)."""
    import trimesh
    from sdfrecon.datasets.point_geometry import pca_normals

    slabs = trimesh.util.concatenate([trimesh.creation.box(extents=(1.6, 1.6, 0.8)).apply_translation((0, 0, z))
                                      for z in (0.45, -0.45)])
    points = np.asarray(trimesh.sample.sample_surface(slabs, 3000, seed=0)[0])
    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=32768, flood_fill=True, flood_inside=True,
                               normals_max_spacing=0.05)
    sampler = SurfaceSampler(cfg, points, pca_normals(points), torch.device("cpu"), seed=0, oriented=False)
    assert sampler.sparse
    at, depth = sampler.pools["uniform"][0], sampler.inside["uniform"]
    in_gap = (at[:, 2].abs() < 0.05) & (at[:, :2].abs().amax(dim=1) < 0.7)
    in_core = ((at[:, 2].abs() - 0.45).abs() < 0.1) & (at[:, :2].abs().amax(dim=1) < 0.5)
    assert in_gap.sum() > 50 and int((depth[in_gap] > 0).sum()) == 0
    assert (depth[in_core] > 0).float().mean() > 0.5, sampler.flood_note


def test_open_direction_count_matches_marching_every_ray():
    """The sweeps agree with walking each of the 26 lattice rays voxel by voxel."""
    import itertools

    from sdfrecon.datasets.free_space import open_direction_count

    free = np.random.default_rng(3).random((9, 7, 8)) > 0.3
    steps = [np.array(s) for s in itertools.product((-1, 0, 1), repeat=3) if any(s)]
    expected = np.zeros(free.shape, dtype=int)
    for voxel in np.ndindex(free.shape):
        for step in steps:
            at = np.array(voxel) + step
            while np.all(at >= 0) and np.all(at < free.shape) and free[tuple(at)]:
                at = at + step
            expected[voxel] += not (np.all(at >= 0) and np.all(at < free.shape))
    assert np.array_equal(open_direction_count(free), expected)
    assert 0 < expected.mean() < 26  # neither all open nor all shut: the check can tell


def _sparse_table(count: int = 1000, seed: int = 0) -> np.ndarray:
    """``count`` points on a table: a 1.6 x 1.6 x 0.06 top at z = 0.5 on four 0.06-wide legs."""
    import trimesh

    parts = [trimesh.creation.box(extents=(1.6, 1.6, 0.06)).apply_translation((0, 0, 0.5))]
    parts += [trimesh.creation.box(extents=(0.06, 0.06, 0.97)).apply_translation((x, y, -0.015))
              for x in (-0.75, 0.75) for y in (-0.75, 0.75)]
    return np.asarray(trimesh.sample.sample_surface(trimesh.util.concatenate(parts), count, seed=seed)[0])


def test_a_sparse_table_is_labelled_outside_under_its_top_but_not_inside_an_open_scan():
    """1,000 points on a thin table enclose no interior, and no test says they are closed;
    the space under the top sees more than a half-space open and is labelled outside. The
    inside of a sphere scanned without its bottom cap is flooded too, but sees only the
    directions through the opening, and stays unlabelled at 13 of 26 (not at 1)."""
    from sdfrecon.datasets.point_geometry import pca_normals

    def sampler(points, min_open):
        cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=16384, flood_fill=True,
                                   normals_max_spacing=0.05, flood_open_directions=min_open)
        return SurfaceSampler(cfg, points, pca_normals(points), torch.device("cpu"), seed=0, oriented=False)

    table = sampler(_sparse_table(), 13)
    assert table.sparse and "no enclosed interior" in table.flood_note, table.flood_note
    at, outside = table.pools["uniform"][0], table.outside["uniform"]
    under_top = (at[:, :2].abs().amax(dim=1) < 0.5) & (at[:, 2].abs() < 0.2)
    assert under_top.sum() > 50 and outside[under_top].float().mean() > 0.9
    in_part = ((at[:, :2].abs().amax(dim=1) < 0.8) & ((at[:, 2] - 0.5).abs() < 0.03)) | (
        ((at[:, :2].abs() - 0.75).abs().amax(dim=1) < 0.03) & (at[:, 2] < 0.47) & (at[:, 2] > -0.5))
    assert in_part.sum() > 20 and int(outside[in_part].sum()) == 0
    assert sampler(_sparse_table(), 0).outside == {}  # off: no labels without an interior

    rng = np.random.default_rng(2)
    d = rng.normal(size=(4000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    scan = 0.8 * d[d[:, 2] > -0.6][:1000]  # open below z = -0.48
    for min_open, labelled_inside in ((13, False), (1, True)):
        opened = sampler(scan, min_open)
        at, outside = opened.pools["uniform"][0], opened.outside["uniform"]
        inside = at.norm(dim=1) < 0.55
        assert inside.sum() > 50
        assert bool(outside[inside].any()) == labelled_inside, (min_open, opened.flood_note)


def _slab_with_cavity(channel: float = 0.14, count: int = 3000) -> np.ndarray:
    """``count`` points on a 1.6 x 1.6 x 0.8 slab with a hollow ball (radius 0.3) at its centre,
    open to both faces by channels of radius ``channel``: the cavity is outside the part."""
    def sdf(x, y, z):
        slab = np.maximum(np.maximum(np.abs(x) - 0.8, np.abs(y) - 0.8), np.abs(z) - 0.4)
        hollow = np.minimum(np.sqrt(x ** 2 + y ** 2 + z ** 2) - 0.3, np.maximum(np.hypot(x, y) - channel, np.abs(z) - 0.5))
        return np.maximum(slab, -hollow)

    return _surface_points(sdf, count, 0, 161)


def test_a_cavity_whose_channels_the_thickening_bridges_is_not_labelled_inside():
    """3,000 points, channels 1.5 point spacings wide: the fill thickened by 1.5 spacings closes
    them and encloses the (outside) cavity; the confirming fill, thickened by 1.25, reaches it.
    Only the slab's solid parts keep inside labels (fertility had 199 such labels in a hole)."""
    from sdfrecon.datasets.point_geometry import pca_normals

    points = _slab_with_cavity()

    def inside(confirm: float):
        cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=32768, flood_fill=True, flood_inside=True,
                                   normals_max_spacing=0.05, flood_inside_confirm=confirm)
        sampler = SurfaceSampler(cfg, points, pca_normals(points), torch.device("cpu"), seed=0, oriented=False)
        assert sampler.sparse
        return sampler.pools["uniform"][0], sampler.inside["uniform"]

    at, unconfirmed = inside(0.0)
    in_cavity = at.norm(dim=1) < 0.2
    in_solid = (at[:, :2].abs().amax(dim=1) > 0.45) & (at[:, :2].abs().amax(dim=1) < 0.7) & (at[:, 2].abs() < 0.2)
    assert in_cavity.sum() > 20 and int((unconfirmed[in_cavity] > 0).sum()) > 0  # the thick fill alone errs
    at, confirmed = inside(1.25)
    assert int((confirmed[in_cavity] > 0).sum()) == 0
    assert (confirmed[in_solid] > 0).float().mean() > 0.5


def test_a_dense_open_scan_is_labelled_only_where_more_than_a_half_space_is_open():
    """20,000 points on half a sphere (open below), normals of unknown sign: the flood fill
    encloses nothing and the two-sided test calls it open, so without the rule there are no
    labels; with it the space above the dome is outside and its inside (seen through the
    opening only) is not."""
    from sdfrecon.datasets.point_geometry import pca_normals

    rng = np.random.default_rng(4)
    d = rng.normal(size=(40_000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    dome = 0.8 * d[d[:, 2] > 0][:20_000]
    cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=16384, flood_fill=True, flood_open_directions=13)
    sampler = SurfaceSampler(cfg, dome, pca_normals(dome), torch.device("cpu"), seed=0, oriented=False)
    assert not sampler.sparse and "directions open" in sampler.flood_note, sampler.flood_note
    at, outside = sampler.pools["uniform"][0], sampler.outside["uniform"]
    above = (at.norm(dim=1) > 0.95) & (at[:, 2] > 0.3)
    under = (at.norm(dim=1) < 0.6) & (at[:, 2] > 0.1)
    assert above.sum() > 50 and outside[above].float().mean() > 0.9
    assert under.sum() > 50 and int(outside[under].sum()) == 0


def _table_with_box_legs(count: int = 40_000, seed: int = 0) -> np.ndarray:
    """``count`` points on a thin table top (1.6 x 1.6 x 0.06 at z = 0.45) on four closed box
    legs 0.24 wide: solid parts about ten point spacings across."""
    import trimesh

    parts = [trimesh.creation.box(extents=(1.6, 1.6, 0.06)).apply_translation((0, 0, 0.45))]
    parts += [trimesh.creation.box(extents=(0.24, 0.24, 0.84)).apply_translation((x, y, 0.0))
              for x in (-0.6, 0.6) for y in (-0.6, 0.6)]
    return np.asarray(trimesh.sample.sample_surface(trimesh.util.concatenate(parts), count, seed=seed)[0])


def test_the_thin_fill_does_not_label_the_cores_of_solid_legs_through_pinholes():
    """40,000 points on a table with a thin top and box legs take the thin-part path (finer
    fill). Random sampling leaves pinholes in the legs' faces that the finer fill (1 spacing)
    slips through: without the confirming fill thousands of samples in the legs' cores are
    labelled outside (a ShapeNet table had 1,822). With it none are, and the labels just
    under the top, 1.3-2 spacings from it, which only the finer fill gives, all stay."""
    from sdfrecon.datasets.point_geometry import pca_normals

    points = _table_with_box_legs()
    spacing = float(np.median(local_spacing(points, 8)))

    def labelled(confirm: float) -> tuple[int, int]:
        cfg = SurfaceSamplerConfig(distance_targets=True, pool_points=65536, flood_fill=True,
                                   flood_thin_confirm=confirm)
        sampler = SurfaceSampler(cfg, points, pca_normals(points), torch.device("cpu"), seed=0, oriented=False)
        assert "other face" in sampler.flood_note, sampler.flood_note
        core = under_top = 0
        for group, outside in sampler.outside.items():
            at = sampler.pools[group][0][outside]
            for x in (-0.6, 0.6):
                for y in (-0.6, 0.6):
                    core += int(((at[:, 0] - x).abs().lt(0.12 - spacing) & (at[:, 1] - y).abs().lt(0.12 - spacing)
                                 & at[:, 2].abs().lt(0.42 - spacing)).sum())
            under_top += int((at[:, :2].abs().amax(dim=1).lt(0.4) & (at[:, 2] - 0.375).abs().lt(0.015)).sum())
        return core, under_top

    core_off, under_off = labelled(0.0)
    core_on, under_on = labelled(1.5)
    assert core_off > 500 and core_on == 0
    assert under_off > 200 and under_on == under_off
    with pytest.raises(ConfigError, match="flood_thin_confirm"):
        SurfaceSamplerConfig(flood_thin_confirm=1.0).validate("sampler")  # not above flood_thin_radius


def _bowl_points(count: int = 40_000, seed: int = 0, wall: float = 0.1, n: int = 161) -> np.ndarray:
    """Points on a bowl: a spherical shell (outer radius 0.8, ``wall`` thick) below z = 0.1."""
    def sdf(x, y, z):
        r = np.sqrt(x * x + y * y + z * z)
        return np.maximum(np.maximum(r - 0.8, (0.8 - wall) - r), z - 0.1)

    return _surface_points(sdf, count, seed, n)


def test_a_shell_thicker_than_the_two_sided_reach_gets_labels_from_its_interior_contact():
    """A bowl whose walls are thicker than the two-sided test reaches across, but whose
    enclosed shell of interior is a small share of the hull (here: below a raised
    ``flood_min_interior``, as a wide bowl's is below 0.05). The interior lies right behind
    every point, so the part is closed: the pocket is labelled outside and the wall's core
    is not. Without the contact rule the pocket goes unlabelled (an open scan's rule)."""
    from sdfrecon.datasets.point_geometry import pca_normals

    points = _bowl_points()
    free = flood_exterior(points, 1.5 * float(np.median(local_spacing(points, 8))))
    assert 0.0 < free.interior_share < 0.2 and free.interior_contact(points) > 0.9
    base = dict(distance_targets=True, pool_points=16384, flood_fill=True, flood_min_interior=0.2,
                flood_open_directions=13)
    sampler = SurfaceSampler(SurfaceSamplerConfig(**base, flood_min_contact=0.3), points, pca_normals(points),
                             torch.device("cpu"), seed=0, oriented=False)
    assert "behind 1.00 of the points" in sampler.flood_note, sampler.flood_note
    at, outside = sampler.pools["uniform"][0], sampler.outside["uniform"]
    radius = at.norm(dim=1)
    pocket = (radius < 0.6) & (at[:, 2] < -0.1)
    core = ((radius - 0.75).abs() < 0.01) & (at[:, 2] < 0.0)
    assert pocket.sum() > 50 and outside[pocket].float().mean() > 0.95
    assert core.sum() > 5 and int(outside[core].sum()) == 0
    without = SurfaceSampler(SurfaceSamplerConfig(**base), points, pca_normals(points), torch.device("cpu"),
                             seed=0, oriented=False)
    assert "directions open" in without.flood_note
    assert without.outside["uniform"][pocket].float().mean() < 0.2


def test_only_the_points_an_interior_backs_count_as_contact():
    """Half a sphere (open below: no interior at all) beside a small closed ball, the kind
    of bubble an open scan's crease encloses: only the ball's points have interior behind
    them, so the share is the ball's share of the points, far below a closed part's 1."""
    rng = np.random.default_rng(0)
    d = rng.normal(size=(40_000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    dome = 0.7 * d[d[:, 2] > 0][:20_000]
    ball = 0.12 * d[:1500] + np.array([0.0, 0.0, -0.6])
    points = np.concatenate([dome, ball])
    free = flood_exterior(points, 1.5 * float(np.median(local_spacing(points, 8))))
    assert free.interior.any()
    assert free.interior_contact(points) == pytest.approx(len(ball) / len(points), abs=0.01)
    assert free.interior_contact(dome) == 0.0
    with pytest.raises(ConfigError, match="flood_min_contact"):
        SurfaceSamplerConfig(flood_min_contact=1.5).validate("sampler")


def test_fills_of_several_thickenings_at_once_are_the_fills_one_at_a_time():
    """flood_exteriors shares one distance transform of the points between thickenings; its
    block is the widest one's, so compare what the fills say at positions, not their arrays.
    near_exterior (a tree of the exterior's rim) answers as the block's distance transform."""
    from sdfrecon.datasets.free_space import flood_exteriors

    points = _tray_points(20_000)
    spacing = float(np.median(local_spacing(points, 8)))
    together = flood_exteriors(points, [1.0 * spacing, 1.5 * spacing], resolution=256)
    at = np.random.default_rng(3).uniform(-1.0, 1.0, size=(50_000, 3))
    distance = np.full(len(at), 1.0)
    for fill, radius in zip(together, (1.0, 1.5)):
        alone = flood_exterior(points, radius * spacing, resolution=256)
        assert fill.interior_share == alone.interior_share and fill.radius == alone.radius
        assert np.array_equal(fill.outside(at, distance), alone.outside(at, distance))
        assert np.array_equal(fill.enclosed(at), alone.enclosed(at))
        clipped, inside_block = alone._voxels(at)
        by_transform = alone._exterior_distance()[clipped[:, 0], clipped[:, 1], clipped[:, 2]]
        for within in (0.5 * spacing, 1.5 * spacing, 4.0 * spacing):
            expected = ~inside_block | (by_transform <= within)
            assert np.array_equal(alone.near_exterior(at, within), expected)
            assert np.array_equal(fill.near_exterior(at, within), expected)
            if within < spacing:  # the answer is not the same everywhere
                assert (~expected).sum() > 20
