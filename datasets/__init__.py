"""Inputs: readers for point clouds (and meshes to sample), normalisation, samplers."""

from sdfrecon.datasets.normalize import Normalization
from sdfrecon.datasets.pointcloud import PointCloud, make_point_cloud
from sdfrecon.datasets.readers import ReadOptions, read_point_cloud, supported_extensions

__all__ = ["Normalization", "PointCloud", "make_point_cloud", "ReadOptions", "read_point_cloud", "supported_extensions"]
