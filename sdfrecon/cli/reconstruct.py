"""``sdfrecon reconstruct``: point-cloud, mesh or slice file -> watertight mesh (one per label)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdfrecon.cli import add_common_options
from sdfrecon.cli.options import add_config_options, overrides_from_args


EXIT_NO_SURFACE = 3
"""Exit status when training finished but the field has no surface to mesh."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="reconstruct a mesh from a point cloud or cross-section slices",
        description="Train a neural SDF on a point cloud (.ply .xyz .pts .txt .npy .npz .pcd, or a mesh "
                    ".obj .off .stl to sample) and write its zero level set as a closed mesh in the "
                    "input's coordinates, plus OUT.json (run record), OUT.ckpt (checkpoint) and "
                    "OUT.config.yaml (resolved config). Exit status: 0 done, 2 bad input or option "
                    "(one 'error:' line, nothing written), 3 trained but no surface to mesh (one 'warning:' "
                    "line; checkpoint kept), 130 interrupted (checkpoint kept; continue with --resume).",
    )
    p.add_argument("input", type=Path, help="input point cloud or mesh, .csl slices, or mask folder/volume")
    p.add_argument("-o", "--output",
                   help="output mesh (.ply .obj .off .stl .glb), or a folder (ending in /); default: "
                        "INPUT_STEM_mesh.ply here. Labelled slices (.csl labels, integer mask volumes) give one "
                        "mesh per label: FOLDER/INPUT_STEM_labelK.ply, or OUT_labelK.ply beside OUT")
    p.add_argument("--label", type=int, metavar="K",
                   help="labelled slices: reconstruct only label K (written to OUTPUT as given)")
    add_config_options(p)
    p.add_argument("--spacing", type=float, nargs=3, metavar=("SX", "SY", "SZ"),
                   help="mask stacks: world units per pixel column, row and slice (default 1 1 1)")
    p.add_argument("--origin", type=float, nargs=3, metavar=("X", "Y", "Z"),
                   help="mask stacks: world position of pixel (0, 0) of slice 0 (default 0 0 0)")
    p.add_argument("--axis", type=int, choices=(0, 1, 2), help="mask volumes: array axis indexing slices (default 0)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run whose checkpoint is OUTPUT.ckpt (its config is reused)")
    p.add_argument("--snapshot-every", type=int, metavar="K",
                   help="also write the mesh every K steps to OUTPUT.snapshots/ (mesh.snapshot_every)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_common_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sdfrecon.datasets.masks import mask_options_from
    from sdfrecon.pipeline.run import reconstruct_file

    overrides = overrides_from_args(args)
    if args.snapshot_every is not None:
        overrides.append({"mesh": {"snapshot_every": args.snapshot_every}})
    outcomes = reconstruct_file(args.input, args.output, preset=args.config, overrides=overrides,
                                resume=args.resume, overwrite=args.overwrite,
                                mask_options=mask_options_from(args.spacing, args.origin, args.axis),
                                progress=not args.quiet, label=args.label)
    status = 0
    for outcome in outcomes:
        files = outcome.files
        prefix = f"label {outcome.label}: " if outcome.label is not None else ""
        if outcome.empty:
            print(f"{prefix}no mesh written; the trained field is kept in {files.checkpoint} -- re-mesh it with the "
                  "same command plus --resume and other mesh options (e.g. --set mesh.level=...), or train longer")
            print(f"{prefix}record: {files.record}")
            status = EXIT_NO_SURFACE
            continue
        mesh = outcome.mesh
        print(f"{prefix}mesh: {files.mesh} ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces, "
              f"{'watertight' if mesh.is_watertight else 'NOT watertight'}) in "
              f"{outcome.record['seconds']['total']:.1f} s")
        print(f"{prefix}record: {files.record}")
    labelled = [o for o in outcomes if o.label is not None]
    for outcome in labelled:  # one summary line per label, after the per-run lines
        measures = outcome.record["mesh"]
        volume = measures.get("volume")
        size = f"volume {volume:.6g} (input units^3)" if volume is not None else "volume n/a (mesh not closed)"
        print(f"label {outcome.label}: {size}, {measures.get('pieces', 0)} piece(s)"
              + ("" if not outcome.empty else " -- no surface"))
    return status
