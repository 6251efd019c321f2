import numpy as np
import pytest
import trimesh

from sdfrecon.datasets.pointcloud import make_point_cloud
from sdfrecon.datasets.readers import ReadOptions, read_point_cloud, supported_extensions
from sdfrecon.datasets.synthetic import sphere_points
from sdfrecon.base.errors import InputError
from tests.helpers import write_ply


@pytest.fixture
def sphere():
    return sphere_points(200, radius=2.0, center=(1.0, -2.0, 3.0), seed=3)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("with_normals", [True, False])
def test_ply_point_clouds(tmp_path, sphere, binary, with_normals):
    pts, nrm = sphere
    path = write_ply(tmp_path / "c.ply", pts, nrm if with_normals else None, binary=binary)
    cloud = read_point_cloud(path)
    np.testing.assert_allclose(cloud.points, pts, atol=1e-5)
    assert cloud.has_normals == with_normals
    if with_normals:
        np.testing.assert_allclose(cloud.normals, nrm, atol=1e-5)


@pytest.mark.parametrize("ext", [".xyz", ".pts", ".txt"])
def test_text_formats(tmp_path, sphere, ext):
    pts, nrm = sphere
    path = tmp_path / f"c{ext}"
    np.savetxt(path, np.hstack([pts, nrm]))
    cloud = read_point_cloud(path)
    np.testing.assert_allclose(cloud.points, pts, atol=1e-6)
    assert cloud.has_normals
    # x y z only, with a leading point count line (a .pts convention) and a comment
    path.write_text(f"# comment\n{len(pts)}\n" + "".join(f"{x} {y} {z}\n" for x, y, z in pts))
    cloud = read_point_cloud(path)
    assert len(cloud) == len(pts) and not cloud.has_normals


def test_numpy_formats(tmp_path, sphere):
    pts, nrm = sphere
    np.save(tmp_path / "a.npy", pts)
    assert len(read_point_cloud(tmp_path / "a.npy")) == len(pts)
    np.save(tmp_path / "b.npy", np.hstack([pts, nrm]))
    assert read_point_cloud(tmp_path / "b.npy").has_normals
    np.savez(tmp_path / "c.npz", points=pts, normals=nrm)
    cloud = read_point_cloud(tmp_path / "c.npz")
    np.testing.assert_allclose(cloud.normals, nrm, atol=1e-12)
    np.savez(tmp_path / "d.npz", pts)
    assert len(read_point_cloud(tmp_path / "d.npz")) == len(pts)


@pytest.mark.parametrize("ext", [".obj", ".off", ".stl", ".ply"])
def test_meshes_are_sampled_with_outward_normals(tmp_path, ext):
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=1.5)
    path = tmp_path / f"m{ext}"
    if ext == ".ply":
        write_ply(path, mesh.vertices, faces=mesh.faces)
    else:
        mesh.export(path)
    cloud = read_point_cloud(path, ReadOptions(mesh_samples=3000, seed=1))
    assert len(cloud) == 3000 and cloud.has_normals
    radial = np.linalg.norm(cloud.points, axis=1)
    assert np.all(np.abs(radial - 1.5) < 0.05)
    # outward: normal agrees with the radial direction
    assert np.mean(np.sum(cloud.normals * cloud.points, axis=1) > 0) > 0.99
    again = read_point_cloud(path, ReadOptions(mesh_samples=3000, seed=1))
    np.testing.assert_array_equal(cloud.points, again.points)  # seeded


def test_supported_extensions_listed():
    assert {".ply", ".xyz", ".pts", ".txt", ".npy", ".npz", ".obj", ".off", ".stl"} <= set(supported_extensions())


# ------------------------------------------------------------------ bad input


def _expect(path, pattern):
    with pytest.raises(InputError) as info:
        read_point_cloud(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    assert pytest.importorskip("re").search(pattern, message), message


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.ply", "no such file")


def test_unknown_extension(tmp_path):
    p = tmp_path / "scan.abc"
    p.write_text("1 2 3\n")
    _expect(p, "unknown format '.abc'; supported: ")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.xyz"
    p.write_bytes(b"")
    _expect(p, "is empty")


def test_truncated_binary_ply(tmp_path, sphere):
    pts, nrm = sphere
    full = write_ply(tmp_path / "full.ply", pts, nrm).read_bytes()
    p = tmp_path / "trunc.ply"
    p.write_bytes(full[: len(full) // 2])
    _expect(p, "truncated|cannot be read as PLY")


def test_ascii_ply_header_count_lie(tmp_path, sphere):
    pts, _ = sphere
    p = write_ply(tmp_path / "lie.ply", pts, binary=False)
    p.write_bytes(p.read_bytes().replace(f"element vertex {len(pts)}".encode(), f"element vertex {len(pts) + 50}".encode()))
    _expect(p, "declares|cannot be read as PLY")


def test_nan_and_inf(tmp_path, sphere):
    pts, _ = sphere
    for bad in (np.nan, np.inf):
        q = pts.copy()
        q[5, 1] = bad
        p = tmp_path / "bad.xyz"
        np.savetxt(p, q)
        _expect(p, "NaN or infinite")


def test_too_few_points(tmp_path):
    p = tmp_path / "few.xyz"
    np.savetxt(p, np.random.default_rng(0).normal(size=(9, 3)))
    _expect(p, "only 9 points; at least 10")


def test_identical_points(tmp_path):
    p = tmp_path / "same.xyz"
    np.savetxt(p, np.ones((50, 3)))
    _expect(p, "identical")


def test_collinear_and_coplanar(tmp_path):
    t = np.linspace(0, 1, 50)[:, None]
    p = tmp_path / "line.xyz"
    np.savetxt(p, t * [1.0, 2.0, 3.0])
    _expect(p, "one line")
    uv = np.random.default_rng(0).uniform(size=(50, 2))
    p = tmp_path / "plane.xyz"
    np.savetxt(p, np.hstack([uv, np.zeros((50, 1))]))
    _expect(p, "one plane")


def test_wrong_columns_and_garbage(tmp_path):
    p = tmp_path / "cols.xyz"
    np.savetxt(p, np.zeros((20, 4)))
    _expect(p, "3 .* or 6 .* columns, got 4")
    p = tmp_path / "garbage.xyz"
    p.write_text("a b c\n" * 20)
    _expect(p, "cannot be parsed")
    p = tmp_path / "binary.xyz"
    p.write_bytes(bytes(range(256)) * 4)
    _expect(p, "binary content|cannot be parsed")


def test_text_named_ply(tmp_path):
    p = tmp_path / "text.ply"
    p.write_text("1 2 3\n" * 20)
    _expect(p, "not a PLY file")


def test_directory_given(tmp_path):
    d = tmp_path / "dir.ply"
    d.mkdir()
    _expect(d, "is a directory")


def test_obj_faces_past_vertices(tmp_path):
    p = tmp_path / "bad.obj"
    p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n")
    with pytest.raises(InputError, match=str(p)):
        read_point_cloud(p)


def test_zero_length_normals_are_dropped(sphere):
    pts, nrm = sphere
    nrm = nrm.copy()
    nrm[0] = 0
    assert not make_point_cloud(pts, nrm).has_normals


def test_ply_point_cloud_with_an_empty_face_element_of_several_lists(tmp_path):
    # MeshLab/VCG exports of point clouds: an empty face element with vertex_indices, texcoord
    # and colour properties (the shape of extra/scans/nksr_spot_points.ply), which trimesh's
    # parser refuses; the points and normals must still come through.
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 3)).astype("<f4")
    normals = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype("<f4")
    header = ("ply\nformat binary_little_endian 1.0\ncomment VCGLIB generated\nelement vertex 500\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property float nx\nproperty float ny\nproperty float nz\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
              "element face 0\nproperty list uchar int vertex_indices\nproperty list uchar float texcoord\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\nend_header\n")
    record = np.dtype([("p", "<f4", 3), ("n", "<f4", 3), ("c", "u1", 4)])
    body = np.zeros(500, dtype=record)
    body["p"], body["n"], body["c"] = points, normals, 200
    path = tmp_path / "vcg_points.ply"
    path.write_bytes(header.encode() + body.tobytes())
    cloud = read_point_cloud(path)
    np.testing.assert_allclose(cloud.points, points, rtol=1e-6)
    np.testing.assert_allclose(cloud.normals, normals, atol=1e-6)
    truncated = tmp_path / "vcg_truncated.ply"
    truncated.write_bytes(header.encode() + body.tobytes()[: 300 * record.itemsize])
    with pytest.raises(InputError, match="declares 500 vertices"):
        read_point_cloud(truncated)


def _write_organized_pcd(path, points, width):
    """An ASCII PCD frame as PCL writes a depth camera's: WIDTH x HEIGHT rows, NaN for no depth."""
    header = ["# .PCD v0.7", "VERSION 0.7", "FIELDS x y z", "SIZE 4 4 4", "TYPE F F F", "COUNT 1 1 1",
              f"WIDTH {width}", f"HEIGHT {len(points) // width}", "VIEWPOINT 0 0 0 1 0 0 0",
              f"POINTS {len(points)}", "DATA ascii"]
    rows = [" ".join(repr(float(v)) for v in row) for row in points]
    path.write_text("\n".join(header + rows) + "\n")
    return path


def test_pcd_organized_frame_drops_points_without_depth(tmp_path, sphere, caplog):
    pts, _ = sphere
    frame = pts[: len(pts) // 20 * 20].copy()
    frame[::7] = np.nan  # no depth measured at every 7th pixel
    p = _write_organized_pcd(tmp_path / "frame.pcd", frame, width=20)
    with caplog.at_level("WARNING"):
        cloud = read_point_cloud(p)
    kept = ~np.isnan(frame).any(axis=1)
    assert len(cloud.points) == kept.sum()
    np.testing.assert_allclose(cloud.points, frame[kept], atol=1e-6)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and f"{(~kept).sum()} of {len(frame)} points have no coordinates" in warnings[0]


def test_pcd_with_no_finite_point_is_an_error(tmp_path):
    p = _write_organized_pcd(tmp_path / "blind.pcd", np.full((40, 3), np.nan), width=8)
    _expect(p, "none of its 40 points has finite coordinates")


def test_text_colour_columns_are_not_read_as_normals(tmp_path, sphere, caplog):
    pts, _ = sphere
    rgb = np.random.default_rng(1).integers(0, 256, size=(len(pts), 3))
    p = tmp_path / "coloured.xyz"
    np.savetxt(p, np.column_stack([pts, rgb]), fmt=["%.6f"] * 3 + ["%d"] * 3)
    with caplog.at_level("WARNING"):
        cloud = read_point_cloud(p)
    assert cloud.normals is None
    np.testing.assert_allclose(cloud.points, pts, atol=1e-6)
    assert any("RGB colours, not normals" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("normals", ["axis_aligned", "unnormalised"])
def test_six_columns_of_normals_stay_normals(tmp_path, sphere, normals):
    pts, nrm = sphere
    if normals == "axis_aligned":  # a box's face normals: only -1, 0 and 1
        nrm = np.eye(3)[np.argmax(np.abs(nrm), axis=1)] * np.sign(nrm[np.arange(len(nrm)), np.argmax(np.abs(nrm), axis=1)])[:, None]
    else:
        nrm = nrm * 3.0
    p = tmp_path / "normals.npy"
    np.save(p, np.column_stack([pts, nrm]))
    cloud = read_point_cloud(p)
    np.testing.assert_allclose(cloud.normals, nrm / np.linalg.norm(nrm, axis=1, keepdims=True), atol=1e-9)


def test_pcl_style_ply_normals_are_read(tmp_path, sphere):
    """PCL's PLY writer names the normal fields normal_x normal_y normal_z (with curvature)."""
    pts, nrm = sphere
    p = write_ply(tmp_path / "pcl.ply", pts, nrm)
    header, body = p.read_bytes().split(b"end_header\n", 1)
    header = header.replace(b"property float nx\nproperty float ny\nproperty float nz",
                            b"property float normal_x\nproperty float normal_y\nproperty float normal_z")
    p.write_bytes(header + b"end_header\n" + body)
    cloud = read_point_cloud(p)
    np.testing.assert_allclose(cloud.normals, nrm / np.linalg.norm(nrm, axis=1, keepdims=True), atol=1e-6)


def test_obj_point_cloud_keeps_one_normal_per_vertex(tmp_path, sphere):
    """MeshLab's and CloudCompare's OBJ point clouds: v and vn lines, no faces."""
    pts, nrm = sphere
    p = tmp_path / "cloud.obj"
    p.write_text("".join(f"v {a:.9f} {b:.9f} {c:.9f}\nvn {x:.9f} {y:.9f} {z:.9f}\n"
                         for (a, b, c), (x, y, z) in zip(pts, nrm)))
    cloud = read_point_cloud(p)
    np.testing.assert_allclose(cloud.points, pts, atol=1e-8)
    np.testing.assert_allclose(cloud.normals, nrm / np.linalg.norm(nrm, axis=1, keepdims=True), atol=1e-8)
    p.write_text("".join(f"v {a:.9f} {b:.9f} {c:.9f}\n" for a, b, c in pts) + "vn 0 0 1\n")
    assert read_point_cloud(p).normals is None  # one vn for many points: nothing to pair
