#!/usr/bin/env bash
# Set up (see scripts/setup.sh), then reconstruct the bundled example scan with the default preset.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
mkdir -p out
.venv/bin/sdfrecon reconstruct examples/lord_quas.ply -o out/lord_quas_mesh.ply --overwrite "$@"
echo "example mesh written to $(pwd)/out/lord_quas_mesh.ply"
