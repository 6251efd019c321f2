"""sdfrecon: neural implicit surface reconstruction from point clouds and slices.

Everything installs under this one import namespace, in layers that import
downward only (``docs/architecture.md``):

* :mod:`sdfrecon.base` -- errors, atomic writes, registries, typed configs,
  device choice, checkpoint and run files; knows nothing about shapes.
* core: :mod:`sdfrecon.sdf` (fields, networks, encodings, losses, training),
  :mod:`sdfrecon.meshing` (marching cubes), :mod:`sdfrecon.datasets` (readers,
  samplers, slices, benchmark suites).
* application: :mod:`sdfrecon.pipeline` (the reconstruct config and pipeline,
  runs with resume and records), :mod:`sdfrecon.evaluation` (metrics,
  benchmark runner), :mod:`sdfrecon.viewer` (scenes, pictures, window) and
  :mod:`sdfrecon.cli` (the ``sdfrecon`` command).

Conventions used everywhere in this package:

* **Sign**: a signed distance field is *negative inside* the surface and
  positive outside; face normals of extracted meshes point outward.
* **Frames**: inputs are mapped to a *unit frame* (bounding box centred, longest
  half side = 1) by :class:`sdfrecon.datasets.normalize.Normalization`; networks, samplers
  and loss constants work there. Meshes are written back in the input's own
  (world) coordinates.
* **Shapes**: points are ``(N, 3)`` arrays/tensors; a field maps ``(N, 3)`` to
  ``(N, C)`` with the signed distance in channel 0.
"""

__version__ = "0.1.0"
