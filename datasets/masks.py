"""Binary mask stacks (segmented scans) as cross-sections.

Inputs: a folder of PNG images (one slice each, in natural name order:
``s2.png`` before ``s10.png``), or one ``.npy`` / ``.npz`` volume whose slice
index is array axis ``axis`` (0 by default). A pixel is inside where it is
nonzero (any colour channel; alpha ignored).

Label maps: an *integer* volume with several nonzero values is a segmentation,
one label per value (organs of a CT label map): each label's contours are
traced on their own and carry the label, so
:meth:`~sdfrecon.datasets.slices.SliceSet.for_label` gives one shape per label
(``sdfrecon reconstruct`` writes one mesh per label). Boolean and float volumes,
and PNG folders, are one label (nonzero = inside).

World coordinates: slice ``k`` is the plane ``z = origin_z + k * sz``; inside a
slice, column ``j`` maps to ``x = origin_x + j * sx`` and row ``i`` to
``y = origin_y + i * sy`` -- so a ``(z, y, x)``-ordered volume keeps its axes.
Pixel centres sit at integer indices. Each mask becomes closed contours at the
0.5 level of the (zero-padded) mask (``skimage.measure.find_contours``), so a
mask touching the image border is still closed; empty masks become empty
planes (everything outside), which keeps the shape from leaking past them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdfrecon.datasets.slices import PlaneSlice, SliceSet, make_slice_set, nesting_parents
from sdfrecon.base.errors import ConfigError, InputError
from sdfrecon.datasets.inputs import INPUT_FORMATS, InputFormat, file_suffixes

MAX_LABELS = 255
"""More distinct values than this in an integer volume: an image, not a label map."""

VOLUME_EXTENSIONS = (".npy", ".npz")
IMAGE_EXTENSIONS = (".png",)


@dataclass(frozen=True)
class MaskOptions:
    """How mask pixels map to world coordinates."""

    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """World units per pixel along x (columns), y (rows) and z (between slices)."""
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """World position of pixel (0, 0) of slice 0."""
    axis: int = 0
    """Array axis of a volume that indexes slices (0, 1 or 2)."""

    def __post_init__(self) -> None:
        if len(self.spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in self.spacing):
            raise ConfigError(f"--spacing: need three positive numbers sx sy sz, got {list(self.spacing)}")
        if len(self.origin) != 3 or not all(np.isfinite(o) for o in self.origin):
            raise ConfigError(f"--origin: need three finite numbers, got {list(self.origin)}")
        if self.axis not in (0, 1, 2):
            raise ConfigError(f"--axis: must be 0, 1 or 2 (the array axis indexing slices), got {self.axis}")

    @property
    def is_default(self) -> bool:
        return self == MaskOptions()


def mask_options_from(spacing=None, origin=None, axis=None) -> MaskOptions | None:
    """:class:`MaskOptions` from optional command-line values; None when none is given."""
    given = {k: v for k, v in (("spacing", spacing), ("origin", origin), ("axis", axis)) if v is not None}
    return MaskOptions(**{k: tuple(v) if k != "axis" else v for k, v in given.items()}) if given else None


def is_mask_stack(path: str | Path) -> bool:
    """Whether ``path`` looks like a mask stack: a folder, or a .npy/.npz holding a 3D array."""
    p = Path(path)
    if p.is_dir():
        return True
    if p.suffix.lower() not in VOLUME_EXTENSIONS or not p.is_file():
        return False
    try:
        if p.suffix.lower() == ".npy":
            return np.load(p, mmap_mode="r", allow_pickle=False).ndim == 3
        with np.load(p, allow_pickle=False) as archive:
            names = archive.files
            name = "masks" if "masks" in names else (names[0] if len(names) == 1 else None)
            return name is not None and archive[name].ndim == 3
    except Exception:  # unreadable: let the point reader report it
        return False


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def read_mask_folder(folder: Path) -> np.ndarray:
    """Stack the PNG masks of ``folder`` (natural name order) into a (K, H, W) bool array."""
    from PIL import Image, UnidentifiedImageError

    files = sorted((f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file()),
                   key=lambda f: _natural_key(f.name))
    if not files:
        raise InputError("folder holds no .png masks", folder)
    masks, shape = [], None
    for f in files:
        try:
            with Image.open(f) as img:
                img.load()
                has_alpha = img.mode in ("RGBA", "LA", "PA")
                arr = np.asarray(img)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise InputError(f"cannot be read as an image ({' '.join(str(exc).split())[:120]})", f) from None
        if arr.ndim == 3:
            if has_alpha:
                arr = arr[..., :-1]
            arr = arr.any(axis=2)
        if arr.ndim != 2:
            raise InputError(f"expected a 2D mask image, got array shape {arr.shape}", f)
        if shape is None:
            shape = arr.shape
        elif arr.shape != shape:
            raise InputError(f"mask is {arr.shape[1]}x{arr.shape[0]} pixels but {files[0].name} is "
                             f"{shape[1]}x{shape[0]}; all masks must have the same size", f)
        masks.append(arr != 0)
    return np.stack(masks)


def read_mask_volume(path: Path, axis: int) -> np.ndarray:
    """A (K, H, W) bool stack from a 3D ``.npy`` array or ``.npz`` (array ``masks``, or its only array)."""
    try:
        if path.suffix.lower() == ".npy":
            volume = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as archive:
                names = archive.files
                if "masks" in names:
                    volume = archive["masks"]
                elif len(names) == 1:
                    volume = archive[names[0]]
                else:
                    raise InputError(f"expected an array named 'masks' (found {', '.join(sorted(names))})", path)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot be read as a NumPy volume ({' '.join(str(exc).split())[:120]})", path) from None
    if volume.ndim != 3:
        raise InputError(f"a mask volume must be 3D, got shape {volume.shape}", path)
    if volume.dtype.kind not in "biuf":
        raise InputError(f"a mask volume must be numeric, got dtype {volume.dtype}", path)
    if volume.dtype.kind == "f" and not np.isfinite(volume).all():
        raise InputError("mask volume has NaN or infinite values", path)
    if volume.dtype.kind in "iu":  # a label map: keep the labels (0 = outside)
        return np.moveaxis(volume, axis, 0)
    return np.moveaxis(volume != 0, axis, 0)


def masks_to_slices(masks: np.ndarray, options: MaskOptions, source: str) -> SliceSet:
    """Cross-sections of a (K, H, W) mask stack (see the module doc for coordinates):
    boolean (one label, 1), or integer labels (0 = outside, each other value a label).

    Raises
    ------
    InputError
        Fewer than 2 slices, every mask empty, or more than :data:`MAX_LABELS` labels.
    """
    if masks.ndim != 3 or min(masks.shape) == 0:
        raise InputError(f"mask stack must be (slices, rows, columns) and non-empty, got {masks.shape}", source)
    if len(masks) < 2:
        raise InputError(f"has {len(masks)} mask slice; at least 2 are needed to reconstruct a solid", source)
    if not masks.any():
        raise InputError(f"all {len(masks)} masks are empty (no nonzero pixel); there is no shape", source)
    if masks.dtype == bool:
        labels = [1]
        masks = masks.astype(np.uint8)
    else:
        labels = [int(v) for v in np.unique(masks) if v != 0]
        if len(labels) > MAX_LABELS:
            raise InputError(f"integer volume has {len(labels)} distinct nonzero values; a label map has at most "
                             f"{MAX_LABELS} (is it an image? threshold it, or save it as bool)", source)
    sx, sy, sz = options.spacing
    ox, oy, oz = options.origin
    planes = []
    for k, mask in enumerate(masks):
        z = oz + k * sz
        loops, parents, loop_labels = [], [], []
        for label in labels:
            traced = _trace(mask == label)
            if not traced:
                continue
            depth, parent = nesting_parents(traced)
            offset = len(loops)
            loops += [np.stack([ox + uv[:, 0] * sx, oy + uv[:, 1] * sy, np.full(len(uv), z)], axis=1) for uv in traced]
            parents += [parent[i] + offset if depth[i] % 2 else -1 for i in range(len(traced))]
            loop_labels += [label] * len(traced)
        planes.append(PlaneSlice(np.array([0.0, 0.0, 1.0]), -z, tuple(loops), tuple(parents), tuple(loop_labels)))
    meta = {"format": "masks", "mask_shape": list(masks.shape), "spacing": list(options.spacing),
            "origin": list(options.origin)}
    if len(labels) > 1:
        meta["labels"] = labels
    # Contours traced from a raster never cross, so skip the quadratic crossing test.
    return make_slice_set(planes, source, where=[f"slice {k}" for k in range(len(planes))],
                          check_crossings=False, meta=meta)


def _trace(mask: np.ndarray) -> list[np.ndarray]:
    """Closed contours (M, 2) as (column, row) pixel coordinates of a boolean (H, W) mask,
    at the 0.5 level of the zero-padded mask (closed even where it touches the border)."""
    from skimage.measure import find_contours

    if not mask.any():
        return []
    padded = np.pad(mask.astype(np.float32), 1)
    # the last point of each contour repeats the first; undo the padding shift
    return [np.stack([c[:-1, 1] - 1.0, c[:-1, 0] - 1.0], axis=1) for c in find_contours(padded, 0.5)]


def read_mask_stack(path: str | Path, options: MaskOptions | None = None) -> SliceSet:
    """Read a mask folder or volume (see module doc) as a :class:`~sdfrecon.datasets.slices.SliceSet`.

    Parameters
    ----------
    path : str or Path
        Folder of PNGs, or a ``.npy`` / ``.npz`` 3D array.
    options : MaskOptions, optional
        Spacing, origin and slice axis.

    Raises
    ------
    InputError
        Missing path, no masks, unreadable or mismatched images, not 3D, all empty.
    """
    options = options or MaskOptions()
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", p)
    if p.is_dir():
        if options.axis != 0:
            raise ConfigError("--axis applies to .npy/.npz volumes; a folder's slices are its images")
        masks = read_mask_folder(p)
    else:
        from sdfrecon.datasets.readers import check_readable_file

        masks = read_mask_volume(check_readable_file(p), options.axis)
    return masks_to_slices(masks, options, str(p))


def _claims(path: Path) -> bool:
    # A folder named like a file ("scan.ply/") is a mistaken path, not a mask folder.
    return not (path.is_dir() and path.suffix.lower() in file_suffixes()) and is_mask_stack(path)


INPUT_FORMATS.add("masks", InputFormat(kind="slices", suffixes=lambda: (), matches=_claims,
                                       read=lambda path, options: read_mask_stack(path, options.masks or MaskOptions()),
                                       priority=20))
