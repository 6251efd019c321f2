"""Inputs: readers for point clouds (and meshes to sample), normalisation, samplers."""

from datasets.normalize import Normalization
from datasets.pointcloud import PointCloud, make_point_cloud
from datasets.readers import ReadOptions, read_point_cloud, supported_extensions

__all__ = ["Normalization", "PointCloud", "make_point_cloud", "ReadOptions", "read_point_cloud", "supported_extensions"]
