"""Looking at results: an Open3D window and pictures rendered without a screen.

Modules, each with one job:

* :mod:`sdfrecon.viewer.loading` -- read meshes, points, per-vertex errors; find checkpoints.
* :mod:`sdfrecon.viewer.colormap` -- heat-map (``error``) and diverging (``sdf``) colour maps.
* :mod:`sdfrecon.viewer.sdf_slice` -- sample a trained field on a plane, trace its zero contour.
* :mod:`sdfrecon.viewer.scene` -- :func:`build_scene`: what to draw, as Open3D geometry (no window).
* :mod:`sdfrecon.viewer.camera` -- named views and turntables framing a bounding sphere.
* :mod:`sdfrecon.viewer.render` -- offscreen rendering (Open3D/Filament; legacy visualizer + Xvfb fallback).
* :mod:`sdfrecon.viewer.annotate` -- colour bars, labels, grids, PNG/GIF files (Pillow).
* :mod:`sdfrecon.viewer.pictures` -- finished pictures: scene + colour bars, snapshots, contact sheets.
* :mod:`sdfrecon.viewer.interactive` -- the window of ``sdfrecon view``.

Open3D is imported inside the functions that need it, so importing this
package works on any machine and never opens a window.
"""

from sdfrecon.viewer.pictures import benchmark_meshes, contact_sheet, render_pictures, snapshot_pictures
from sdfrecon.viewer.scene import ColorBar, Scene, SceneItem, SceneOptions, build_scene

__all__ = [
    "ColorBar",
    "Scene",
    "SceneItem",
    "SceneOptions",
    "benchmark_meshes",
    "build_scene",
    "contact_sheet",
    "render_pictures",
    "snapshot_pictures",
]
