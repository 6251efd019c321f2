"""Looking at results: an Open3D window, a web viewer, an HTML report, and pictures rendered
without a screen.

Modules, each with one job:

* :mod:`sdfrecon.viewer.loading` -- read meshes, points, per-vertex errors; find checkpoints.
* :mod:`sdfrecon.viewer.colormap` -- heat-map (``error``) and diverging (``sdf``) colour maps.
* :mod:`sdfrecon.viewer.sdf_slice` -- sample a trained field on a plane, trace its zero contour.
* :mod:`sdfrecon.viewer.scene` -- :func:`build_scene`: what to draw, as Open3D geometry (no window).
* :mod:`sdfrecon.viewer.camera` -- named views and turntables framing a bounding sphere.
* :mod:`sdfrecon.viewer.render` -- pictures without a screen: a worker process per backend, a time
  limit per frame, Ctrl-C/SIGTERM stop at once; ``auto`` with fallback.
* :mod:`sdfrecon.viewer.backend_choice` -- which backend ``auto`` uses here (probed once, remembered).
* :mod:`sdfrecon.viewer.backends` -- the native renderers (legacy visualizer on Xvfb; Filament), run in
  the worker (:mod:`sdfrecon.viewer.render_worker`, messages in :mod:`sdfrecon.viewer.worker_io`).
* :mod:`sdfrecon.viewer.packing` -- a Scene as NumPy arrays, to cross a process boundary.
* :mod:`sdfrecon.viewer.annotate` -- colour bars, labels, grids, PNG/GIF files (Pillow).
* :mod:`sdfrecon.viewer.pictures` -- finished pictures: scene + colour bars, snapshots, contact sheets.
* :mod:`sdfrecon.viewer.interactive` -- the window of ``sdfrecon view``.
* :mod:`sdfrecon.viewer.web` -- ``sdfrecon view --web``: the same scene in a browser (viser).
* :mod:`sdfrecon.viewer.html_report` -- ``sdfrecon report``: a benchmark folder as one HTML file.

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
