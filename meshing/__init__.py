"""Field -> mesh: chunked grid evaluation, marching cubes, clean-up, atomic output.

Meshing is pure: it takes a callable field ``(N, 3) -> (N,)`` (signed distance,
negative inside), a box and a resolution, and knows nothing of training.
"""

from sdfrecon.meshing.extract import MeshConfig, MeshResult, extract_mesh
from sdfrecon.meshing.grid import Grid, evaluate_grid
from sdfrecon.meshing.io import write_mesh
from sdfrecon.meshing.marching import marching_cubes

__all__ = ["MeshConfig", "MeshResult", "extract_mesh", "Grid", "evaluate_grid", "write_mesh", "marching_cubes"]
