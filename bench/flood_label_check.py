"""Are the flood fill's sign labels right? Each labelled pool sample asked of the ground truth.

Without trusted normals the default's sampler labels pool samples outside (reached by a
flood from the box's boundary) or inside (enclosed free space, with a depth bound), and the
clearance term then wants the field's sign to match (``sampler.flood_fill``,
``flood_inside``, ``flood_open_directions``). A wrong label is a wrong sign the network is
trained towards. This script builds each corpus input as ``bench.quality_suite`` does, sets
the default's sampler up on it as ``sdfrecon reconstruct`` would, and asks the ground-truth
mesh (Open3D's ray-parity occupancy, 9 rays) whether each labelled sample lies inside it;
a label is wrong when it lies on the wrong side by more than 0.5 % of the diagonal.

Run (from the repository root; about 10 s per shape on 2 cores):

    .venv/bin/python -m bench.flood_label_check [--conditions sparse] [--shapes a,b] [--mesh F] [--set KEY=VALUE]

The ground truth is a watertight mesh, or for the ShapeNet samples (points whose normals
are not consistently oriented) the solid their ShapeNet mesh, a polygon soup, encloses:
its surface voxelized at 1/256 of the diagonal in the ONet frame of the points, and the
voxels no path from outside reaches. A voxel raster leaves one voxel of doubt, so there a
label counts as wrong only when it also lies more than the tolerance plus one voxel from
the other state.
Shapes whose mesh is not watertight are skipped: ray parity calls the space below the
bunny's open base inside. Prints a Markdown table; ``wrong`` counts outside labels inside
the ground truth and inside labels outside it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from bench.quality_suite import CORPUS, CorpusShape, condition_input, known_condition, load_base
from bench.shapes import SHARED_DATA


@dataclass(frozen=True)
class MeshSolid:
    """A watertight triangle mesh as the ground truth's solid (Open3D ray parity, 9 rays)."""

    mesh: object  # trimesh.Trimesh

    @property
    def diagonal(self) -> float:
        """Bounding-box diagonal in world units."""
        return float(np.linalg.norm(np.ptp(np.asarray(self.mesh.vertices), axis=0)))

    @cached_property
    def _scene(self):
        """Open3D's ray-casting scene of the mesh, built once (every labelled group asks it)."""
        import open3d as o3d

        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(np.asarray(self.mesh.vertices, dtype=np.float32)),
                            o3d.core.Tensor(np.asarray(self.mesh.faces, dtype=np.uint32)))
        return scene

    def occupancy(self, at: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
        """(P,) bool each: whether each (P, 3) world position lies inside the mesh, and
        whether it is farther than ``tolerance`` (world units) from its surface."""
        import open3d as o3d

        query = o3d.core.Tensor(at.astype(np.float32))
        inside = self._scene.compute_occupancy(query, nsamples=9).numpy() > 0.5
        return inside, self._scene.compute_distance(query).numpy() > tolerance


@dataclass(frozen=True)
class VoxelSolid:
    """A solid on a voxel grid: voxel (i, j, k) covers ``corner + [i, i+1) * voxel`` along
    world x, y, z.

    Attributes
    ----------
    filled : (X, Y, Z) bool
    depth : (X, Y, Z) float -- voxel-centre distance, in voxels, to the nearest voxel of
        the other state (filled to empty, empty to filled)
    corner : (3,) float -- world position of the grid's minimum corner
    voxel : float -- edge length in world units
    diagonal : float -- the solid's bounding-box diagonal in world units
    """

    filled: np.ndarray
    depth: np.ndarray
    corner: np.ndarray
    voxel: float
    diagonal: float

    @classmethod
    def enclosed_by(cls, mesh, voxel: float) -> "VoxelSolid":
        """The solid a triangle soup ``mesh`` (world units) encloses: the voxels its surface
        touches, and the empty voxels no 6-connected path of empty voxels joins to the
        grid's border. A watertight mesh is not needed, only a surface without cracks wider
        than a voxel (ShapeNet's parts meet and overlap with hairline cracks)."""
        from scipy.ndimage import binary_fill_holes, distance_transform_edt

        surface = mesh.voxelized(voxel)
        shell = np.pad(np.asarray(surface.matrix, dtype=bool), 1)  # an empty border all round
        filled = binary_fill_holes(shell)
        depth = np.where(filled, distance_transform_edt(filled), distance_transform_edt(~filled))
        corner = surface.transform[:3, 3] - 1.5 * voxel  # voxel centres -> corner, less the border
        return cls(filled, depth, corner, float(voxel), float(np.linalg.norm(mesh.extents)))

    @classmethod
    def from_onet(cls, npz_path: Path, mesh_path: Path, voxels: int = 256) -> "VoxelSolid":
        """The ShapeNet mesh of an ONet sample, enclosed (``enclosed_by``) in the frame of
        the sample's points, at ``voxels`` voxels along the points' box diagonal.

        The shared folder's README gives the frames: points = R(mesh) / scale + t with
        R: (x, y, z) -> (-z, y, x); t centres the points' box on the mesh's.

        Not the ``solid.binvox`` shipped beside them: binvox fills what its axis-aligned
        views cannot see, e.g. the pocket under a table top inside its apron, above a lower
        shelf. That pocket is open below and the flood fill rightly reaches it (6,764
        labels of table 1a5f were "wrong" against the binvox)."""
        import trimesh

        with np.load(npz_path) as npz:
            points = npz["points"].astype(np.float64)
            scale = float(npz["scale"])
        mesh = trimesh.load(mesh_path, force="mesh")
        vertices = np.asarray(mesh.vertices, dtype=np.float64)
        moved = np.stack([-vertices[:, 2], vertices[:, 1], vertices[:, 0]], axis=1) / scale
        moved += (points.min(axis=0) + points.max(axis=0)) / 2 - (moved.min(axis=0) + moved.max(axis=0)) / 2
        diagonal = float(np.linalg.norm(np.ptp(points, axis=0)))
        return cls.enclosed_by(trimesh.Trimesh(moved, mesh.faces, process=False), diagonal / voxels)

    def index(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, 3) int voxel indices of (P, 3) world positions (clipped to the grid) and (P,)
        bool whether each lies in the grid."""
        cells = np.floor((at - self.corner) / self.voxel).astype(np.int64)
        within = np.all((cells >= 0) & (cells < np.array(self.filled.shape)), axis=1)
        return np.clip(cells, 0, np.array(self.filled.shape) - 1), within

    def occupancy(self, at: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
        """As ``MeshSolid.occupancy``; "far" means more than ``tolerance`` plus one voxel (the
        raster's doubt) from the other state. Positions off the grid are outside and far."""
        cells, within = self.index(at)
        where = tuple(cells.T)
        inside = within & self.filled[where]
        deep = ~within | (self.depth[where] * self.voxel > tolerance + self.voxel)
        return inside, deep


def ground_truth_solid(shape: CorpusShape, base) -> MeshSolid | VoxelSolid | None:
    """The solid to check ``shape``'s labels against; None when it has none (a mesh that is
    not watertight, or a point set without its mesh beside it)."""
    if shape.kind == "onet":
        mesh = Path(str(SHARED_DATA / shape.gt).removesuffix("_pointcloud.npz") + "_model_normalized.obj")
        return VoxelSolid.from_onet(SHARED_DATA / shape.gt, mesh) if mesh.exists() else None
    return MeshSolid(base.gt_mesh) if base.gt_mesh is not None and base.gt_mesh.is_watertight else None


def check_labels(cloud, truth: MeshSolid | VoxelSolid, cfg, tolerance: float = 0.005) -> tuple[int, int, int, int, str]:
    """Outside and inside labels of the sampler set up on ``cloud`` under ``cfg``, against
    the solid ``truth``: (outside labelled, of them inside the ground truth, inside labelled,
    of them outside it, the sampler's flood note). A label counts as wrong when the sample is
    also farther than ``tolerance`` times the ground truth's diagonal from its surface (the
    fill's raster rounds)."""
    # The same steps as sdfrecon.pipeline.reconstruct.reconstruct up to its sampler.
    from sdfrecon.datasets.sampling import SAMPLERS
    from sdfrecon.pipeline.reconstruct import prepare_input

    prepared = prepare_input(cloud, cfg)
    normalization, cfg = prepared.normalization, prepared.config
    sampler = SAMPLERS.build(cfg.sampler, data=prepared.unit, device=torch.device("cpu"), seed=cfg.seed)
    counts = [0, 0, 0, 0]
    far = tolerance * truth.diagonal
    for group, (at, _, _) in getattr(sampler, "pools", {}).items():
        world = normalization.to_world(at.numpy().astype(np.float64))
        if group in getattr(sampler, "outside", {}):
            outside = world[sampler.outside[group].numpy()]
            counts[0] += len(outside)
            if len(outside):
                inside_gt, deep = truth.occupancy(outside, far)
                counts[1] += int((inside_gt & deep).sum())
        if group in getattr(sampler, "inside", {}):
            inside = world[sampler.inside[group].numpy() > 0]
            counts[2] += len(inside)
            if len(inside):
                inside_gt, deep = truth.occupancy(inside, far)
                counts[3] += int((~inside_gt & deep).sum())
    return (*counts, getattr(sampler, "flood_note", ""))


def main(argv: list[str] | None = None) -> int:
    from sdfrecon.pipeline.config import config_overrides, resolve_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conditions", default="sparse", help="comma-separated input conditions")
    parser.add_argument("--shapes", default="", help="comma-separated corpus shapes (default: all with a mesh)")
    parser.add_argument("--mesh", dest="meshes", action="append", default=[], type=Path, metavar="FILE",
                        help="a watertight ground-truth mesh to check as a shape named by its stem, sampled as "
                             "bench.quality_suite --mesh does (repeatable; with it, corpus shapes only when named)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override of the default (repeatable)")
    args = parser.parse_args(argv)
    wanted = [s for s in args.shapes.split(",") if s]
    known = {s.name for s in CORPUS}
    conditions = [c for c in args.conditions.split(",") if c]
    for problem, bad in (("unknown shape", [s for s in wanted if s not in known]),
                         ("unknown condition", [c for c in conditions if not known_condition(c)])):
        if bad:
            flag = "--shapes" if problem == "unknown shape" else "--conditions"
            print(f"error: {flag}: {problem} {bad[0]!r}", file=sys.stderr)
            return 2
    own = [CorpusShape(path.stem, "mesh", str(path.resolve())) for path in args.meshes]
    missing = [s.gt for s in own if not s.available()]
    if missing:
        print(f"error: {missing[0]}: no such file", file=sys.stderr)
        return 2
    cfg = resolve_config("default", config_overrides(sets=args.set))
    shapes = [s for s in CORPUS if s.available() and (s.name in wanted if wanted or own else True)] + own
    print("| input | outside labels | of them inside the ground truth | inside labels | of them outside | flood fill |")
    print("|---|---|---|---|---|---|")
    wrong = 0
    for shape in shapes:
        base = load_base(shape)
        truth = ground_truth_solid(shape, base)
        for condition in conditions:
            cloud = condition_input(shape, base, condition)
            if cloud is None:
                continue
            if truth is None:
                print(f"| {shape.name}@{condition} | | | | | no watertight ground truth: not checked |")
                continue
            out, out_wrong, ins, ins_wrong, note = check_labels(cloud, truth, cfg)
            wrong += out_wrong + ins_wrong
            print(f"| {shape.name}@{condition} | {out} | {out_wrong} | {ins} | {ins_wrong} | {note} |", flush=True)
    print(f"\nwrong labels in all: {wrong}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
