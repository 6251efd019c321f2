"""``sdfrecon report``: one self-contained HTML file (tables, pictures, metric plots, 3D views)
that a real headless browser opens from disk, drawing the meshes with WebGL."""

from __future__ import annotations

import re

import numpy as np
import pytest
import trimesh
from browser import Browser, chromium

from sdfrecon.cli import main
from sdfrecon.evaluation.report import to_row, write_rows


@pytest.fixture
def results(tmp_path):
    """A benchmark folder: 2 shapes x 2 methods, one pair failed (no mesh)."""
    root = tmp_path / "results"
    meshes = {("ball", "default"): trimesh.creation.icosphere(subdivisions=4, radius=1.0),  # 5,120 faces
              ("ball", "poisson"): trimesh.creation.icosphere(subdivisions=2, radius=0.95),
              ("box", "default"): trimesh.creation.box(extents=(2.0, 1.0, 0.6))}
    rows = []
    for (shape, method), mesh in meshes.items():
        path = root / "meshes" / shape / f"{method}.ply"
        path.parent.mkdir(parents=True, exist_ok=True)
        mesh.export(path)
        rows.append(to_row({"shape": shape, "method": method, "status": "ok", "seconds": 3.0,
                            "chamfer_l1": 0.01 * len(rows) + 0.01, "hausdorff": 0.05, "fscore": 0.9,
                            "normal_consistency": 0.97, "mesh": str(path.relative_to(root))}))
    rows.append(to_row({"shape": "box", "method": "poisson", "status": "failed", "error": "too few points"}))
    write_rows(root / "results.csv", rows)
    return root


def test_report_is_one_self_contained_file(results, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(results), "-o", str(out), "--max-faces", "1000"]) == 0
    assert "wrote" in capsys.readouterr().out
    text = out.read_text()
    # nothing fetched from anywhere: no external scripts, stylesheets or pictures
    assert not re.search(r"<script[^>]+src=", text) and "<link" not in text
    assert not re.search(r"<img[^>]+src=['\"](?!data:image/png;base64,)", text)
    assert text.count("<img") == 3  # a still per mesh; the failed pair has none
    assert "too few points" in text and "no mesh" in text
    assert text.count("plotly.js v") <= 2  # the library is inlined once (its banner may repeat the version)
    assert main(["report", str(results), "-o", str(out)]) == 2  # exists: needs --overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_interactive_meshes_are_decimated_to_the_face_budget():
    from sdfrecon.viewer.html_report import decimate

    ball = trimesh.creation.icosphere(subdivisions=4)  # 5,120 faces
    v, f = decimate(np.asarray(ball.vertices), np.asarray(ball.faces), 1000)
    assert 500 <= len(f) <= 1000
    assert np.abs(np.linalg.norm(v, axis=1) - 1.0).max() < 0.05  # still the unit sphere
    v2, f2 = decimate(np.asarray(ball.vertices), np.asarray(ball.faces), 10_000)
    assert len(f2) == len(ball.faces)


def test_report_of_a_folder_without_results_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "results.csv" in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.slow
def test_report_opens_from_disk_in_a_headless_browser_and_draws_the_meshes(results, tmp_path):
    chromium()  # skip early (with the reason) when there is no browser
    out = tmp_path / "report.html"
    assert main(["report", str(results), "-o", str(out), "--no-pictures", "--max-faces", "2000"]) == 0
    with Browser(size=(900, 700)) as browser:
        browser.goto(out.resolve().as_uri())
        # plotly has built every figure: 5 metric charts (CD-L1, HD, NC, F, seconds) + 3 meshes
        count = "document.querySelectorAll('.js-plotly-plot').length"
        browser.wait_for(lambda _: browser.evaluate(count) == 8, timeout=120)
        assert browser.evaluate(count) == 8
        # bring the first 3D view into the window and look at its pixels
        rect = browser.evaluate("""(() => {
            const gl = document.querySelector('.mesh3d .js-plotly-plot');
            gl.scrollIntoView(); const r = gl.getBoundingClientRect();
            return [Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)]; })()""")
        x, y, w, h = rect

        def mesh_drawn(image: np.ndarray) -> bool:
            view = image[max(y, 0):y + h, max(x, 0):x + w].astype(int)
            shaded = (view.max(axis=2) < 235) & (np.ptp(view, axis=2) < 30)  # grey, not white, not coloured
            return shaded.mean() > 0.05

        image = browser.wait_for(mesh_drawn, timeout=120)
        assert mesh_drawn(image), "the interactive mesh view shows no mesh"
