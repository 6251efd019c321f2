"""``sdfrecon reconstruct``: point-cloud (or mesh) file -> watertight mesh."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sdf.cli import add_common_options
from sdf.cli.options import add_config_options, default_preset, overrides_from_args


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
    p.add_argument("-o", "--output", type=Path,
                   help="output mesh (.ply .obj .off .stl .glb); default: INPUT_STEM_mesh.ply here")
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
    from datasets.inputs import input_kind, read_input
    from datasets.masks import mask_options_from
    from datasets.readers import ReadOptions
    from meshing.io import check_mesh_path, check_mesh_precision, write_mesh
    from sdf.atomic import atomic_write_text
    from sdf.checkpoint import load_checkpoint
    from sdf.config import config_from_dict, dump_config, resolve_config
    from sdf.configtools import merge_all, to_dict
    from sdf.errors import ConfigError
    from sdf.reconstruct import reconstruct
    from sdf.run_files import RunFiles, write_json

    t0 = time.perf_counter()
    output = args.output or Path(f"{args.input.stem}_mesh.ply")
    check_mesh_path(output)
    files = RunFiles.for_mesh(output)
    overrides = overrides_from_args(args)
    if args.snapshot_every is not None:
        overrides.append({"mesh": {"snapshot_every": args.snapshot_every}})
    resume_state = None
    if args.resume and not args.overwrite:
        if not files.checkpoint.exists():
            raise ConfigError(f"--resume: no checkpoint {files.checkpoint} to continue")
        if args.config is not None:
            raise ConfigError("--resume continues with the checkpoint's config; do not pass --config")
        resume_state = load_checkpoint(files.checkpoint)
        changed = sorted(k for o in overrides for k in o if k not in ("mesh", "device"))
        if changed:
            raise ConfigError(f"--resume: only mesh and device options may change, not {', '.join(changed)}")
        cfg = config_from_dict(merge_all([resume_state["config"], *overrides]))
    else:
        preset = args.config or default_preset(args.device, input_kind(args.input))
        cfg = resolve_config(preset, overrides)
    files.check_writable(overwrite=args.overwrite, resume=resume_state is not None)
    data = read_input(args.input, ReadOptions(mesh_samples=cfg.data.mesh_samples, seed=cfg.seed),
                      mask_options_from(args.spacing, args.origin, args.axis))
    check_mesh_precision(files.mesh, data.extent_points())
    t_read = time.perf_counter()
    result = reconstruct(data, cfg, checkpoint_path=files.checkpoint, snapshot_dir=files.snapshots,
                         resume=resume_state,
                         progress=not args.quiet)
    t_done = time.perf_counter()
    empty = len(result.mesh.faces) == 0
    if not empty:  # an empty mesh file would pass for a result; the warning was logged
        write_mesh(result.mesh, files.mesh)
    atomic_write_text(files.config, dump_config(cfg))
    record = result.record
    record["seconds"] = {"read": round(t_read - t0, 3), **record["seconds"],
                         "write": round(time.perf_counter() - t_done, 3)}
    record["seconds"]["total"] = round(time.perf_counter() - t0, 3)
    record["output"] = {"mesh": None if empty else str(files.mesh), "checkpoint": str(files.checkpoint),
                        "config": str(files.config)}
    record["config"] = to_dict(cfg)
    write_json(files.record, record)
    if empty:
        print(f"no mesh written; the trained field is kept in {files.checkpoint} -- re-mesh it with the same "
              "command plus --resume and other mesh options (e.g. --set mesh.level=...), or train longer")
        print(f"record: {files.record}")
        return EXIT_NO_SURFACE
    mesh = result.mesh
    print(f"mesh: {files.mesh} ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces, "
          f"{'watertight' if mesh.is_watertight else 'NOT watertight'}) in {record['seconds']['total']:.1f} s")
    print(f"record: {files.record}")
    return 0

