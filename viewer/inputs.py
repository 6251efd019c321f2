"""Everything one view shows, loaded once: the mesh, optional points, ground
truth, per-vertex errors and the trained field behind an SDF slice.

``sdfrecon view`` and ``sdfrecon render`` both load a :class:`ViewInputs` and
ask it for a :class:`~sdfrecon.viewer.scene.Scene` with the parts switched on or off;
the window (:mod:`sdfrecon.viewer.interactive`) asks again each time a key changes
what is shown. Slices are sampled lazily and cached per plane.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import numpy as np
import trimesh

from sdfrecon.base.errors import InputError
from sdfrecon.viewer.scene import Scene, SceneOptions, build_scene
from sdfrecon.viewer.sdf_slice import SdfSlice, SlicePlane, WorldSdf, sample_slice

SLICE_SPEC = re.compile(r"^\s*([xyzXYZ])\s*(?:=\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))?\s*$")


def parse_slice_spec(text: str) -> SlicePlane:
    """``AXIS`` or ``AXIS=POS`` -> :class:`SlicePlane`.

    ``AXIS`` is x, y or z; ``POS`` is where the plane cuts the mesh's bounding
    box along that axis, from -1 (low face) through 0 (centre, the default) to 1
    (high face).

    Raises
    ------
    InputError
        Malformed spec or position outside [-1, 1].
    """
    m = SLICE_SPEC.match(text or "")
    if m is None:
        raise InputError(f"--slice {text!r}: expected AXIS or AXIS=POS with AXIS x, y or z and POS in [-1, 1] "
                         "(fraction of the bounding box, 0 = centre), e.g. z or z=0.25")
    offset = float(m.group(2)) if m.group(2) is not None else 0.0
    if not -1.0 <= offset <= 1.0:
        raise InputError(f"--slice {text!r}: position {offset:g} is outside [-1, 1] "
                         "(-1 = low face of the bounding box, 0 = centre, 1 = high face)")
    return SlicePlane(m.group(1).lower(), offset)


@dataclass
class ViewInputs:
    """Loaded data of one view.

    Attributes
    ----------
    mesh : trimesh.Trimesh
        The reconstruction (file vertex order kept, so errors line up).
    name : str
        Label of the mesh (its file name).
    points : (N, 3) ndarray or None
        Input points.
    gt : trimesh.Trimesh or None
        Ground truth in the same frame.
    errors : (V,) ndarray or None
        Per-vertex distance of ``mesh`` to the ground truth, world units.
    field : callable or None
        World points -> signed values (for slices); see :func:`sdfrecon.viewer.sdf_slice.field_function`.
    field_title : str
        Name of the field's values (colour-bar label).
    """

    mesh: trimesh.Trimesh
    name: str = "mesh"
    points: np.ndarray | None = None
    gt: trimesh.Trimesh | None = None
    errors: np.ndarray | None = None
    field: WorldSdf | None = None
    field_title: str = "SDF"
    _slices: dict = dataclass_field(default_factory=dict, repr=False)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounding box ``(lo, hi)`` of the mesh, world units."""
        v = np.asarray(self.mesh.vertices, dtype=np.float64)
        return v.min(axis=0), v.max(axis=0)

    def sdf_slice(self, plane: SlicePlane, resolution: int = 200) -> SdfSlice:
        """The field sampled on ``plane`` (cached).

        Raises
        ------
        InputError
            No field was loaded (no checkpoint).
        """
        if self.field is None:
            raise InputError("an SDF slice needs the trained field: pass --checkpoint FILE "
                             "(or keep the reconstruction's .ckpt beside the mesh)")
        key = (plane.axis, round(plane.offset, 9), int(resolution))
        if key not in self._slices:
            lo, hi = self.bounds
            self._slices[key] = sample_slice(self.field, lo, hi, plane, resolution=resolution, title=self.field_title)
        return self._slices[key]

    def scene(self, options: SceneOptions | None = None, *, points: bool = True, gt: bool = True,
              heatmap: bool = True, plane: SlicePlane | None = None, slice_resolution: int = 200) -> Scene:
        """The scene with the chosen parts (each only if loaded).

        Parameters
        ----------
        options : SceneOptions
        points, gt, heatmap : bool
            Show the input points, the ground truth, the error colours.
        plane : SlicePlane, optional
            Draw the field's slice on this plane.
        slice_resolution : int
            Samples along the slice's longer side.
        """
        return build_scene(self.mesh, points=self.points if points else None, gt=self.gt if gt else None,
                           errors=self.errors if heatmap else None,
                           sdf_slice=self.sdf_slice(plane, slice_resolution) if plane is not None else None,
                           options=options)


def load_field(checkpoint: str | Path, device: str = "cpu") -> tuple[WorldSdf, str]:
    """World-frame field function of a reconstruction checkpoint, and the name of its values.

    Raises
    ------
    InputError
        Not a readable sdfrecon checkpoint, or no trained field in it.
    ConfigError
        ``device`` is unknown or unavailable.
    """
    from sdfrecon.base.checkpoint import load_checkpoint
    from sdfrecon.base.device import resolve_device
    from sdfrecon.pipeline.reconstruct import load_trained_field
    from sdfrecon.viewer.sdf_slice import field_function

    dev = resolve_device(device)
    state = load_checkpoint(checkpoint, map_location=dev)
    try:
        model, normalization, _ = load_trained_field(state, dev)
    except InputError as exc:
        raise InputError(exc.problem, checkpoint) from None
    return field_function(model, normalization, device=dev)


def load_view_inputs(mesh_path: str | Path, *, points: str | Path | None = None, gt: str | Path | None = None,
                     errors: str | Path | None = None, heatmap: bool = False, checkpoint: str | Path | None = None,
                     field: str = "off", device: str = "cpu") -> ViewInputs:
    """Read what ``sdfrecon view`` / ``render`` were given.

    Parameters
    ----------
    mesh_path : path
        The reconstruction.
    points, gt : path, optional
        Input points; ground-truth mesh.
    errors : path, optional
        ``.npy`` per-vertex errors (``sdfrecon evaluate --errors-out``).
    heatmap : bool
        Compute the errors as the distance of each vertex to ``gt`` (needs ``gt``
        unless ``errors`` is given).
    checkpoint : path, optional
        Trained field; default: the mesh's ``.ckpt`` sidecar.
    field : str
        ``required``: load the field, failing without a checkpoint (an SDF slice
        was asked for); ``optional``: load it if a checkpoint is found (the
        window can slice later); ``off``: do not load it (an explicit
        ``checkpoint`` must still exist).
    device : str
        Where the field is evaluated.

    Raises
    ------
    InputError
        Any file missing or unusable, or an option combination that cannot work.
    """
    from sdfrecon.viewer.loading import find_checkpoint, load_errors, load_mesh, load_points, vertex_errors

    if field not in ("off", "optional", "required"):
        raise ValueError(f"field must be off, optional or required, got {field!r}")
    if heatmap and gt is None and errors is None:
        raise InputError("--heatmap needs --gt GT_MESH (errors are distances to it) or --errors FILE.npy")
    mesh = load_mesh(mesh_path)
    inputs = ViewInputs(mesh=mesh, name=Path(mesh_path).name)
    ckpt = find_checkpoint(mesh_path, checkpoint, required=field == "required")
    if points is not None:
        inputs.points = load_points(points)
    if gt is not None:
        inputs.gt = load_mesh(gt)
    if errors is not None:
        inputs.errors = load_errors(errors, len(mesh.vertices))
    elif heatmap:
        inputs.errors = vertex_errors(mesh, inputs.gt)
    if ckpt is not None and field != "off":
        inputs.field, inputs.field_title = load_field(ckpt, device)
    return inputs
