#!/usr/bin/env bash
# Rebuild the README figures: docs/heatmap.png (reconstruction coloured by its
# distance to the ground truth) and docs/sdf_slice.png (a slice of the trained
# SDF with its zero contour, the mesh cut open).
#
# Reconstructs SRB lord_quas with a fast setting (a few minutes on 2 CPU cores),
# then renders both pictures offscreen.
#
#   docs/make_figures.sh [WORK_DIR]
#
# Data: ../shared/data (SRB scan and ground truth), or set SDFRECON_DATA.
# WORK_DIR keeps the reconstruction (default: a temporary folder); an existing
# WORK_DIR/lord_quas.ply is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

DATA="${SDFRECON_DATA:-../shared/data}"
SCAN="$DATA/srb/scans/lord_quas.ply"
GT="$DATA/srb/ground_truth/lordquas.off"
for f in "$SCAN" "$GT"; do
  [ -f "$f" ] || { echo "error: $f not found (set SDFRECON_DATA to the shared data folder)" >&2; exit 2; }
done
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
MESH="$WORK/lord_quas.ply"

if [ ! -f "$MESH" ]; then
  sdfrecon reconstruct "$SCAN" -o "$MESH" --iterations 400 --resolution 128 --seed 0 --quiet
fi

# Error heat-map beside the ground truth, seen from the front.
sdfrecon render "$MESH" --gt "$GT" --heatmap --view front \
  --width 760 --height 420 -o docs/heatmap.png --overwrite

# Horizontal slice through the chest; the mesh above it is cut away.
sdfrecon render "$MESH" --slice y=0.2 --sdf-max 12 --view iso \
  --width 640 --height 420 -o docs/sdf_slice.png --overwrite

ls -l docs/heatmap.png docs/sdf_slice.png
