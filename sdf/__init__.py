"""sdfrecon: neural implicit surface reconstruction from point clouds and slices.

Conventions used everywhere in this package:

* **Sign**: a signed distance field is *negative inside* the surface and
  positive outside; face normals of extracted meshes point outward.
* **Frames**: inputs are mapped to a *unit frame* (bounding box centred, longest
  half side = 1) by :class:`datasets.normalize.Normalization`; networks, samplers
  and loss constants work there. Meshes are written back in the input's own
  (world) coordinates.
* **Shapes**: points are ``(N, 3)`` arrays/tensors; a field maps ``(N, 3)`` to
  ``(N, C)`` with the signed distance in channel 0.
"""

__version__ = "0.1.0"
