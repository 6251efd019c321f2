"""Camera presets that frame a bounding sphere: named views and turntables.

The axes of a view come from the ``up`` axis: for ``up=y`` the camera of the
``front`` view sits on +z, ``side`` on +x, ``top`` on +y (looking down, the
front toward the bottom of the picture) and ``iso`` on the diagonal +x+y+z. ``up=z`` (common
for scans) puts ``front`` on -y, ``side`` on +x; ``up=x`` puts ``front`` on -z,
``side`` on +y. The distance is chosen so the sphere fits the smaller of the
two fields of view with a margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UP_AXES = ("x", "y", "z")
VIEWS = ("front", "back", "side", "left", "top", "bottom", "iso")
"""Named camera presets."""

# right, up, back (toward the front camera) unit vectors for each up axis;
# right x up = back keeps the frame right-handed.
_FRAMES = {
    "y": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "z": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    "x": ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
}


@dataclass(frozen=True)
class Camera:
    """A perspective camera looking at ``center``.

    Attributes
    ----------
    eye, center, up : (3,) float64 ndarray
        Camera position, look-at point (world units) and up direction.
    fov : float
        Vertical field of view, degrees.
    """

    eye: np.ndarray
    center: np.ndarray
    up: np.ndarray
    fov: float = 30.0


def view_frame(up: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit ``(right, up, back)`` vectors of the views for up axis ``up`` (x, y or z)."""
    if up not in _FRAMES:
        raise ValueError(f"up axis must be one of {', '.join(UP_AXES)}, got {up!r}")
    return tuple(np.array(v) for v in _FRAMES[up])  # type: ignore[return-value]


def framing_distance(radius: float, fov: float, aspect: float, margin: float = 1.1) -> float:
    """Distance from which a sphere of ``radius`` fills the view with ``margin`` to spare.

    Parameters
    ----------
    radius : float
        Bounding-sphere radius, world units.
    fov : float
        Vertical field of view, degrees.
    aspect : float
        Image width / height; the horizontal field of view follows from it.
    margin : float
        1 makes the sphere's silhouette touch the narrower image side.
    """
    half_v = np.radians(fov) / 2.0
    half_h = np.arctan(np.tan(half_v) * aspect)
    # A sphere at distance d subtends a half-angle asin(r / d).
    return float(margin * radius / np.sin(min(half_v, half_h)))


def preset_camera(view: str, center, radius: float, *, up: str = "y", fov: float = 30.0,
                  aspect: float = 1.0, margin: float = 1.1) -> Camera:
    """Camera of a named view (see :data:`VIEWS`) framing the sphere ``(center, radius)``.

    Returns
    -------
    Camera
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    right, up_v, back = view_frame(up)
    direction, cam_up = {
        "front": (back, up_v),
        "back": (-back, up_v),
        "side": (right, up_v),
        "left": (-right, up_v),
        "top": (up_v, -back),
        "bottom": (-up_v, back),
        "iso": (back + right + up_v, up_v),
    }[view]
    return _camera_along(direction, cam_up, center, radius, fov, aspect, margin)


def turntable_cameras(frames: int, center, radius: float, *, up: str = "y", elevation: float = 25.0,
                      fov: float = 30.0, aspect: float = 1.0, margin: float = 1.1) -> list[Camera]:
    """``frames`` cameras circling the up axis at ``elevation`` degrees, starting at the front.

    Returns
    -------
    list of Camera
        Azimuths ``360 * k / frames`` degrees, counter-clockwise seen from above.
    """
    if frames < 1:
        raise ValueError(f"turntable needs at least 1 frame, got {frames}")
    right, up_v, back = view_frame(up)
    el = np.radians(elevation)
    cams = []
    for k in range(frames):
        az = 2.0 * np.pi * k / frames
        horizontal = np.cos(az) * back + np.sin(az) * right
        direction = np.cos(el) * horizontal + np.sin(el) * up_v
        cams.append(_camera_along(direction, up_v, center, radius, fov, aspect, margin))
    return cams


def _camera_along(direction, cam_up, center, radius, fov, aspect, margin) -> Camera:
    direction = np.asarray(direction, dtype=np.float64)
    direction = direction / np.linalg.norm(direction)
    center = np.asarray(center, dtype=np.float64)
    distance = framing_distance(radius, fov, aspect, margin)
    return Camera(eye=center + distance * direction, center=center,
                  up=np.asarray(cam_up, dtype=np.float64), fov=float(fov))
