"""The quality suite's summary: ratios to Poisson by the sample and by the surface Chamfer."""

from bench.quality_suite import summarize


def _row(shape: str, method: str, sample_rel: float, surface_rel: float | None) -> dict[str, str]:
    row = {"shape": shape, "method": method, "status": "ok", "seconds": "10", "chamfer_l1_rel": str(sample_rel),
           "normal_consistency": "0.99", "mesh": ""}
    if surface_rel is not None:  # rows made before the surface Chamfer existed have no column
        row["chamfer_l1_surface_rel"] = str(surface_rel)
    return row


def test_summary_reports_both_chamfers_per_condition():
    rows = [
        _row("a@oriented", "default", 0.00150, 0.00010), _row("a@oriented", "poisson", 0.00150, 0.00020),
        _row("b@oriented", "default", 0.00160, 0.00030), _row("b@oriented", "poisson", 0.00150, 0.00010),
        _row("a@noisy", "default", 0.004, None), _row("a@noisy", "poisson", 0.005, None),
    ]
    text = summarize(rows, ["default", "poisson"], {})
    oriented = next(line for line in text.splitlines() if line.startswith("| default | oriented |"))
    cells = [c.strip() for c in oriented.split("|")[1:-1]]
    # sample ratios 1.00 and 1.07; surface ratios 0.50 and 3.00
    assert cells[3:7] == ["1.03", "1.03", "1.07", "1/2"]
    assert cells[7] == "1.75 / 3.00 / 1/2"
    noisy = next(line for line in text.splitlines() if line.startswith("| default | noisy |"))
    assert [c.strip() for c in noisy.split("|")[1:-1]][7] == "-"
    per_shape = next(line for line in text.splitlines() if line.startswith("| b | oriented | default |"))
    assert "| 0.0300 | 0.0100 | 3.00 |" in per_shape


def test_own_meshes_run_in_every_condition(tmp_path):
    """``--mesh`` runs a mesh that is not in the corpus, as a shape named by its stem."""
    import csv

    import trimesh

    from bench.quality_suite import main

    path = tmp_path / "ball.stl"
    trimesh.creation.icosphere(subdivisions=3, radius=2.0).export(path)
    out = tmp_path / "out"
    assert main(["--mesh", str(path), "--methods", "poisson", "--conditions", "unoriented,sparse",
                 "-o", str(out), "--quiet"]) == 0
    with open(out / "results.csv", newline="") as f:
        rows = {(r["shape"], r["method"]): r for r in csv.DictReader(f)}
    assert set(rows) == {("ball@unoriented", "poisson"), ("ball@sparse", "poisson")}
    # Poisson on 50k clean points of a sphere lands within 0.5 % of the diagonal
    assert float(rows[("ball@unoriented", "poisson")]["chamfer_l1_rel"]) < 0.005


def test_a_missing_mesh_is_one_error_line(tmp_path, capsys):
    from bench.quality_suite import main

    assert main(["--mesh", str(tmp_path / "nope.stl"), "-o", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "nope.stl" in err[0]
    assert not (tmp_path / "out").exists()


def _ball_shape(tmp_path):
    """A sphere mesh as a corpus shape, and its base scan."""
    import trimesh

    from bench.quality_suite import CorpusShape, load_base

    path = tmp_path / "ball.stl"
    trimesh.creation.icosphere(subdivisions=3, radius=2.0).export(path)
    shape = CorpusShape("ball", "mesh", str(path))
    return shape, load_base(shape)


def _assert_same_points_with_outward_normals(bare, oriented, count: int) -> None:
    """``bare`` has ``count`` points and no normals; ``oriented`` the same points with the
    sphere's outward normals (a point's direction from the centre)."""
    import numpy as np

    assert bare.normals is None and len(bare.points) == count
    np.testing.assert_array_equal(oriented.points, bare.points)
    directions = oriented.points / np.linalg.norm(oriented.points, axis=1, keepdims=True)
    assert np.min(np.sum(oriented.normals * directions, axis=1)) > 0.9


def test_sparse_oriented_is_the_sparse_points_with_their_normals(tmp_path):
    """The opt-in reference condition: the very points of ``sparse``, plus the scan's normals."""
    from bench.quality_suite import condition_input

    shape, base = _ball_shape(tmp_path)
    _assert_same_points_with_outward_normals(condition_input(shape, base, "sparse"),
                                             condition_input(shape, base, "sparse_oriented"), 1000)


def test_subset_conditions_share_their_points_and_differ_by_the_normals(tmp_path):
    """``unoriented_N`` and ``oriented_N``: the same N points of the scan, without and with normals;
    another N is another draw."""
    import numpy as np

    from bench.quality_suite import condition_input

    shape, base = _ball_shape(tmp_path)
    bare = condition_input(shape, base, "unoriented_3000")
    _assert_same_points_with_outward_normals(bare, condition_input(shape, base, "oriented_3000"), 3000)
    # the points are a subset of the scan, not new samples
    assert len(np.intersect1d(base.points.view("f8,f8,f8").ravel(), bare.points.view("f8,f8,f8").ravel())) == 3000
    assert len(condition_input(shape, base, "unoriented_2000").points) == 2000


def test_outliers_is_the_scan_plus_strays_in_its_grown_box(tmp_path):
    """``outliers``: every point of the scan, no normals, then 1 % more points scattered over
    the scan's box grown by 10 % a side (the same strays on every run)."""
    import numpy as np

    from bench.quality_suite import OUTLIER_FRACTION, OUTLIER_MARGIN, condition_input

    shape, base = _ball_shape(tmp_path)
    cloud = condition_input(shape, base, "outliers")
    n = len(base.points)
    assert cloud.normals is None
    np.testing.assert_array_equal(cloud.points[:n], base.points)
    strays = cloud.points[n:]
    assert len(strays) == round(OUTLIER_FRACTION * n)
    low, high = base.points.min(axis=0), base.points.max(axis=0)
    grow = OUTLIER_MARGIN * (high - low)
    assert np.all(strays >= low - grow) and np.all(strays <= high + grow)
    assert np.any(strays < low) and np.any(strays > high)  # the grown margin is used
    assert np.median(np.abs(np.linalg.norm(strays, axis=1) - 2.0)) > 0.2  # mostly off the ball's surface
    np.testing.assert_array_equal(condition_input(shape, base, "outliers").points, cloud.points)


def test_summary_lists_subset_conditions():
    rows = [_row("a@unoriented_5000", "default", 0.002, 0.001), _row("a@unoriented_5000", "poisson", 0.004, 0.002)]
    text = summarize(rows, ["default", "poisson"], {})
    line = next(line for line in text.splitlines() if line.startswith("| default | unoriented_5000 |"))
    assert [c.strip() for c in line.split("|")[1:-1]][3] == "0.50"


def test_an_unknown_condition_is_one_error_line(tmp_path, capsys):
    from bench.quality_suite import main

    out = tmp_path / "out"
    for bad in ("upside_down", "oriented_0", "unoriented_many"):
        assert main(["--conditions", f"sparse,{bad}", "--methods", "poisson", "-o", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and bad in err[0]
        assert not out.exists()


def test_yaml_methods_keep_their_own_seed(tmp_path):
    """A YAML method's ``seed`` is not overwritten by the suite (a reseeded preset must differ)."""
    from bench.quality_suite import build_methods

    path = tmp_path / "reseeded.yaml"
    path.write_text("inherit: default\nseed: 3\n")
    plain = tmp_path / "plain.yaml"
    plain.write_text("inherit: default\n")
    reseeded, same, default = build_methods([str(path), str(plain), "default"], ["train.iterations=7"])
    assert reseeded.config.seed == 3 and same.config.seed == 0 and default.config.seed == 0
    assert reseeded.config.train.iterations == 7  # --set still applies
