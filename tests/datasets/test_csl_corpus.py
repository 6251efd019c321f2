"""Every real ``.csl`` file in ../shared/data reads (warnings where repaired) and reconstructs.

The files are OReX's own data (read by OReX itself): plane equations written with
the opposite sign (rose), oblique planes with non-unit integer normals and
vertices up to 0.02 off their plane (Horsers), 20 labels with self-touching
contours (Abdomen). New files dropped into those folders are picked up.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from sdfrecon.datasets.csl import read_csl
from tests.conftest import SHARED_DATA, shared_data

FOLDERS = (("csl",), ("extra", "csl"))

KNOWN = {
    # file: (warning fragments that must appear, labels)
    "rose.csl": (["plane equations are written as Ax+By+Cz = D"], [1]),
    "Abdomen.csl": (["touches itself; split into simple contours"], [1, 2, 3, 4, 5, 6, 7, 8, 9]),
    "Horsers.csl": ([], [1]),
    "eight_15.csl": ([], [1]),
    "balloondog.csl": ([], [1]),
    "Heart-25-even-better.csl": ([], [1]),
}


def corpus() -> list[str]:
    """``folder/name.csl`` of every shared .csl file (empty when the data is absent)."""
    found = []
    for parts in FOLDERS:
        folder = SHARED_DATA.joinpath(*parts)
        if folder.is_dir():
            found += ["/".join(parts + (p.name,)) for p in sorted(folder.glob("*.csl"))]
    return found


FILES = corpus() or ["csl/(no shared .csl files)"]


@pytest.mark.parametrize("relative", FILES)
def test_shared_csl_reads(relative, caplog):
    from shapely import Polygon

    path = shared_data(*relative.split("/"))
    with caplog.at_level(logging.WARNING):
        slices = read_csl(path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(w.startswith(str(path)) for w in warnings), warnings  # one line each, naming the file
    assert len(slices.meta.get("repairs", [])) >= min(len(warnings), 20)
    expected, labels = KNOWN.get(path.name, ([], None))
    for fragment in expected:
        assert any(fragment in w for w in warnings), (fragment, warnings)
    if labels is not None:
        assert slices.labels() == labels
    if path.name in KNOWN and not expected:
        assert not warnings, warnings
    extent = np.ptp(slices.vertices(), axis=0).max()
    for plane in slices.planes:
        assert np.linalg.norm(plane.normal) == pytest.approx(1.0)
        if plane.is_empty:
            continue
        assert np.abs(plane.vertices() @ plane.normal + plane.offset).max() < 1e-9 * extent
        assert all(Polygon(loop).is_valid for loop in plane.loops_2d())


@pytest.mark.slow
@pytest.mark.parametrize("relative", FILES)
def test_shared_csl_reconstructs(relative):
    """A tiny run per file (the union of all labels for labelled files, plus one label):
    a closed mesh inside the slices' extent."""
    from sdfrecon.pipeline.config import resolve_config
    from sdfrecon.pipeline.reconstruct import reconstruct

    path = shared_data(*relative.split("/"))
    slices = read_csl(path)
    cfg = resolve_config("slices", [{"device": "cpu", "train": {"iterations": 15, "checkpoint_every": 0},
                                     "mesh": {"resolution": 20},
                                     "sampler": {"pool_size": 2048, "plane_points": 256, "band_points": 512,
                                                 "contour_points": 128, "uniform_points": 256, "near_points": 128,
                                                 "exterior_points": 64}}])
    parts = [slices] + ([slices.for_label(slices.labels()[-1])] if len(slices.labels()) > 1 else [])
    for part in parts:
        mesh = reconstruct(part, cfg, progress=False).mesh
        assert len(mesh.faces) > 0 and np.isfinite(mesh.vertices).all()
        lo, hi = part.extent_points().min(axis=0), part.extent_points().max(axis=0)
        margin = 0.1 * (hi - lo).max()
        assert np.all(mesh.bounds[0] >= lo - margin) and np.all(mesh.bounds[1] <= hi + margin)
