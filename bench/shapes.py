"""The real shapes with known ground truth in ../shared/data, as benchmark inputs.

Each shape yields an input point cloud and its ground-truth mesh in the same
frame. SRB shapes come with real (simulated range) scans; for the other meshes a
synthetic oriented scan is drawn from the ground truth (area-uniform samples with
face normals, seeded), which is how ``sdfrecon`` reads a mesh anyway. The
sparse kitten is 500 unoriented points.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trimesh

from sdfrecon.datasets.pointcloud import PointCloud
from sdfrecon.datasets.readers import ReadOptions, read_point_cloud

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@dataclass(frozen=True)
class BenchShape:
    """One benchmark shape: where its input and ground truth are."""

    name: str
    gt: str
    """Ground-truth mesh, relative to the data folder."""
    scan: str | None = None
    """Input scan, relative to the data folder; None = sample the ground truth."""
    samples: int = 30_000
    """Points sampled from the ground truth when there is no scan."""


SHAPES: tuple[BenchShape, ...] = (
    BenchShape("srb_dc", gt="srb/ground_truth/dc.off", scan="srb/scans/dc.ply"),
    BenchShape("srb_lord_quas", gt="srb/ground_truth/lordquas.off", scan="srb/scans/lord_quas.ply"),
    BenchShape("fandisk", gt="cad/fandisk.off"),
    BenchShape("idler_riser", gt="cad/idler_riser.STL"),
    BenchShape("thingi10k_100728", gt="cad/thingi10k_100728.stl"),
    BenchShape("fertility", gt="misc/fertility.off"),
    BenchShape("bunny", gt="stanford/bun_zipper.ply"),
    BenchShape("eight", gt="csl/reference/eight_15_scaled.stl"),
    BenchShape("kitten_sparse500", gt="sparse/kitten/gt.obj", scan="sparse/kitten/input.xyz"),
)


def available_shapes(names: list[str] | None = None) -> list[BenchShape]:
    """The shapes whose files exist (optionally only those named)."""
    chosen = [s for s in SHAPES if names is None or s.name in names]
    return [s for s in chosen if (SHARED_DATA / s.gt).exists()]


def load_shape(shape: BenchShape, *, seed: int = 0) -> tuple[PointCloud, trimesh.Trimesh]:
    """Input cloud and ground-truth mesh of ``shape``."""
    gt_path = SHARED_DATA / shape.gt
    gt = trimesh.load(gt_path, force="mesh", process=True)
    source = SHARED_DATA / shape.scan if shape.scan else gt_path
    cloud = read_point_cloud(source, ReadOptions(mesh_samples=shape.samples, seed=seed))
    return cloud, gt
