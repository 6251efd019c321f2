"""Classical reconstruction baselines through Open3D: screened Poisson and ball pivoting.

They run in the same process and on the same inputs as the neural methods so a
benchmark compares like with like. Inputs without normals get normals estimated
and consistently oriented by Open3D first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from sdfrecon.datasets.pointcloud import PointCloud
from sdfrecon.evaluation.methods import METHODS


@dataclass(frozen=True)
class PoissonConfig:
    """Open3D screened Poisson settings."""

    depth: int = 10
    """Octree depth (resolution 2^depth over the scaled bounding cube)."""
    scale: float = 1.1
    """Bounding cube = input bounding box times this."""
    density_quantile: float = 0.0
    """Remove vertices whose Poisson density is below this quantile (0 keeps a closed mesh)."""
    normal_neighbours: int = 30
    """Neighbours used to estimate/orient normals when the input has none."""
    outlier_neighbours: int = 0
    """Open3D's statistical outlier removal first, over this many neighbours; 0 = none."""
    outlier_std_ratio: float = 2.0
    """... dropping points whose mean neighbour distance exceeds the cloud's mean by this
    many standard deviations (Open3D's tutorial settings: 20 neighbours, 2.0)."""


def _open3d_cloud(cloud: PointCloud, neighbours: int, outlier_neighbours: int = 0, outlier_std_ratio: float = 2.0):
    import open3d as o3d

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.points))
    if cloud.normals is not None:
        pcd.normals = o3d.utility.Vector3dVector(cloud.normals)
    if outlier_neighbours > 0:
        pcd, _ = pcd.remove_statistical_outlier(outlier_neighbours, outlier_std_ratio)
    if cloud.normals is None:
        pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(neighbours))
        pcd.orient_normals_consistent_tangent_plane(neighbours)
    return pcd


def _to_trimesh(o3d_mesh) -> trimesh.Trimesh:
    return trimesh.Trimesh(np.asarray(o3d_mesh.vertices), np.asarray(o3d_mesh.triangles), process=False)


@METHODS.register("poisson")
def poisson(cloud: PointCloud, cfg: PoissonConfig | None = None) -> trimesh.Trimesh:
    """Screened Poisson surface of ``cloud`` (world coordinates)."""
    import open3d as o3d

    cfg = cfg or PoissonConfig()
    pcd = _open3d_cloud(cloud, cfg.normal_neighbours, cfg.outlier_neighbours, cfg.outlier_std_ratio)
    mesh, density = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(
        pcd, depth=cfg.depth, scale=cfg.scale, linear_fit=False
    )
    if cfg.density_quantile > 0:
        density = np.asarray(density)
        mesh.remove_vertices_by_mask(density < np.quantile(density, cfg.density_quantile))
    return _to_trimesh(mesh)


@dataclass(frozen=True)
class BallPivotingConfig:
    """Open3D ball-pivoting settings; radii are multiples of the mean point spacing."""

    radius_factors: tuple[float, ...] = (1.0, 2.0, 4.0)
    normal_neighbours: int = 30


@METHODS.register("ball_pivoting")
def ball_pivoting(cloud: PointCloud, cfg: BallPivotingConfig | None = None) -> trimesh.Trimesh:
    """Ball-pivoting triangulation of ``cloud`` (interpolates the points; not watertight)."""
    import open3d as o3d

    cfg = cfg or BallPivotingConfig()
    pcd = _open3d_cloud(cloud, cfg.normal_neighbours)
    spacing = float(np.mean(pcd.compute_nearest_neighbor_distance()))
    radii = o3d.utility.DoubleVector([spacing * f for f in cfg.radius_factors])
    return _to_trimesh(o3d.geometry.TriangleMesh.create_from_point_cloud_ball_pivoting(pcd, radii))


@METHODS.register("poisson_sor")
def poisson_after_outlier_removal(cloud: PointCloud) -> trimesh.Trimesh:
    """Screened Poisson after Open3D's statistical outlier removal (20 neighbours, 2 standard
    deviations): what an Open3D user does to a scan with stray points."""
    return poisson(cloud, PoissonConfig(outlier_neighbours=20))
