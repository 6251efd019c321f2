"""Field -> mesh: chunked grid evaluation, marching cubes, clean-up, atomic output.

Meshing is pure: it takes a callable field ``(N, 3) -> (N,)`` (signed distance,
negative inside), a box and a resolution, and knows nothing of training.
"""

from meshing.extract import MeshConfig, MeshResult, extract_mesh
from meshing.grid import Grid, evaluate_grid
from meshing.io import write_mesh
from meshing.marching import marching_cubes

__all__ = ["MeshConfig", "MeshResult", "extract_mesh", "Grid", "evaluate_grid", "write_mesh", "marching_cubes"]
