"""Run the OFFICIAL StEik metric and meshing code on the fixtures here and print its numbers.

Not part of sdfrecon and not run by the tests: it produced the expected values in
tests/evaluation/test_protocols.py. Nothing of the official code is copied; it is
imported from a checkout and run:

    # a checkout of github.com/sunyx523/StEik at commit 033d2da
    python tests/data/protocols/run_official.py /path/to/StEik

(run with sdfrecon's virtual environment: numpy 2.4, scipy 1.17, trimesh 5.2, torch,
open3d; the official requirements pin much older versions that do not install on
Python 3.11). Shims, all outside the official code:

* ``trimesh.sample.sample_surface`` is called with ``seed=0`` (the official call has
  no seed; trimesh 3.9 drew from numpy's global generator), so that sdfrecon, which
  samples with ``seed=MetricOptions.seed``, draws the very same points;
* tensorboardX / plotly / plyfile are stubbed (utils.py imports them for logging only);
* ShapeNet: the script hard-codes ``torch.device("cuda")``; torch.load, Module.to and
  torch.tensor are made to ignore that device (CPU run); ``models.Net.Network`` is
  replaced by an analytic decoder (an ellipsoid-like SDF, :func:`decoder_sdf`) since
  the test has no trained StEik network; ``recon_dataset.ReconDataset`` is built
  through its own ``get_mnfld_points`` only (its constructor also allocates a 512^3
  grid and 150M sample indices the metric never reads).
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys
import tempfile
import types
from functools import partial
from pathlib import Path

import numpy as np
import torch
import trimesh

HERE = Path(__file__).resolve().parent
CENTRE = (0.05, -0.02, 0.04)
AXES = (0.9, 0.6, 0.5)


def decoder_sdf(x: torch.Tensor) -> torch.Tensor:
    """The analytic 'network' (unit frame): (|(x - c) / a| - 1) * min(a), negative inside."""
    c = torch.tensor(CENTRE, dtype=x.dtype)
    a = torch.tensor(AXES, dtype=x.dtype)
    return ((((x - c) / a) ** 2).sum(dim=1).sqrt() - 1.0) * a.min()


def stub_modules() -> None:
    for name in ("tensorboardX", "plotly", "plotly.graph_objs", "plyfile", "kaleido"):
        mod = types.ModuleType(name)
        mod.SummaryWriter = mod.PlyData = object
        sys.modules.setdefault(name, mod)


def seed_sampling() -> None:
    original = trimesh.sample.sample_surface
    trimesh.sample.sample_surface = partial(original, seed=0)


def run_srb(repo: Path, work: Path) -> None:
    data = work / "srb"
    shutil.copytree(HERE / "srb", data)
    logdir = work / "srb_log"
    logdir.mkdir()
    sys.path[:0] = [str(repo), str(repo / "surface_reconstruction")]
    sys.argv = ["compute_metrics_srb.py", "--logdir", str(logdir), "--dataset_path", str(data),
                "--results_path", str(data / "result_meshes")]
    print("== compute_metrics_srb.py (shape d_C d_H d_C-> d_H->, 3 decimals as printed; full below)")
    # The script prints 3 decimals; its compute_dists is also called directly for full precision.
    ns = runpy.run_path(str(repo / "surface_reconstruction" / "compute_metrics_srb.py"), run_name="__main__")
    for shape in ("anchor", "gargoyle"):
        scan = trimesh.load(str(data / "scans" / f"{shape}.ply")).vertices
        gt = trimesh.load(str(data / "ground_truth" / f"{shape}.xyz")).vertices
        rec = trimesh.sample.sample_surface(trimesh.load(str(data / "result_meshes" / f"{shape}.ply")), 1000000)[0]
        full = ns["compute_dists"](rec, gt)
        scan_full = ns["compute_dists"](rec, scan)
        print(f"FULL {shape}: d_C={full[0]!r} d_H={full[1]!r} d_C->={scan_full[2]!r} d_H->={scan_full[4]!r}")


def run_shapenet(repo: Path, work: Path) -> None:
    cls, cls_id, model = "chair", "03001627", "m1"
    dataset = work / "nsp" / cls
    dataset.mkdir(parents=True)
    shutil.copy(HERE / "shapenet" / cls / model / "input.ply", dataset / f"{model}.ply")
    raw = work / "raw" / cls_id / model
    raw.mkdir(parents=True)
    for f in ("points.npz", "pointcloud.npz"):
        shutil.copy(HERE / "shapenet" / cls / model / f, raw / f)
    logdir = work / "sn_log"
    (logdir / cls / "result_meshes").mkdir(parents=True)
    shutil.copy(HERE / "shapenet_results" / f"{model}.ply", logdir / cls / "result_meshes" / f"{model}.ply")
    (logdir / cls / model / "trained_models").mkdir(parents=True)
    torch.save({}, logdir / cls / model / "trained_models" / "model.pth")

    sys.path[:0] = [str(repo), str(repo / "surface_reconstruction")]
    import models.Net as Net  # noqa: E402  (the official module; its Network is replaced below)
    import recon_dataset  # noqa: E402

    class AnalyticNetwork(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()
            self.decoder = decoder_sdf

        def load_state_dict(self, *args, **kwargs):
            return None

    Net.Network = AnalyticNetwork

    official = recon_dataset.ReconDataset

    class LightReconDataset:
        def __init__(self, file_path, *args, **kwargs):
            import open3d as o3d

            self.o3d_point_cloud = o3d.io.read_point_cloud(file_path)
            self.points, self.mnfld_n = official.get_mnfld_points(self)
            self.bbox = np.array([np.min(self.points, axis=0), np.max(self.points, axis=0)]).transpose()
            print(f"NORMALISATION cp={self.cp.tolist()!r} scale={float(self.scale)!r}")

    recon_dataset.ReconDataset = LightReconDataset
    real_load, real_to, real_tensor = torch.load, torch.nn.Module.to, torch.tensor
    torch.load = lambda *a, **k: real_load(*a, **{**k, "map_location": "cpu"})
    torch.nn.Module.to = lambda self, *a, **k: self
    torch.tensor = lambda *a, **k: real_tensor(*a, **{**k, "device": "cpu"})
    sys.argv = ["compute_metrics_shapenet.py", "--logdir", str(logdir), "--dataset_path", str(work / "nsp"),
                "--raw_dataset_path", str(work / "raw")]
    print("== compute_metrics_shapenet.py")
    try:
        runpy.run_path(str(repo / "surface_reconstruction" / "compute_metrics_shapenet.py"), run_name="__main__")
    finally:
        torch.load, torch.nn.Module.to, torch.tensor = real_load, real_to, real_tensor


def run_meshing(repo: Path) -> None:
    sys.path[:0] = [str(repo)]
    import utils.utils as utils  # noqa: E402

    bbox = np.array([[-0.93, 0.97], [-0.61, 0.58], [-0.48, 0.55]], dtype=np.float32)
    for res in (24, 40):
        mesh = utils.implicit2mesh(decoder_sdf, None, res, translate=-np.array([1.5, -2.0, 0.25]), scale=1 / 3.0,
                                   get_mesh=True, device="cpu", bbox=bbox)["mesh_obj"]
        grid = utils.get_3d_grid(resolution=res, bbox=bbox)
        print(f"MESH res={res}: grid={[len(a) for a in grid['xyz']]} vertices={len(mesh.vertices)} "
              f"faces={len(mesh.faces)} area={mesh.area!r} volume={mesh.volume!r} "
              f"bounds={mesh.bounds.tolist()!r}")


def main() -> None:
    repo = Path(sys.argv[1]).resolve()
    import open3d  # noqa: F401  (before the stubs: open3d probes plotly itself)

    stub_modules()
    seed_sampling()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.chdir(work)
        run_srb(repo, work)
        run_meshing(repo)
        run_shapenet(repo, work)


if __name__ == "__main__":
    main()
