#!/usr/bin/env bash
# Set up a working environment in ./.venv (idempotent; fast when nothing changed):
#  1. the system libraries Open3D needs to import and to render headless (Debian/Ubuntu, as root);
#  2. a virtual environment with PyTorch: the CPU build, unless an NVIDIA GPU is visible;
#  3. this project (editable) with its test dependencies and the web viewer (viser).
# Environment: PYTHON (interpreter, default python3), SDFRECON_VENV (default .venv),
#              TORCH_SPEC (pip requirement for torch, overrides the automatic choice).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${SDFRECON_VENV:-.venv}

say() { printf '[setup] %s\n' "$*" >&2; }

# 1. System libraries (Open3D: libusb, GL/EGL, OpenMP; headless rendering: Vulkan + Mesa's lavapipe,
#    and Xvfb for the fast headless renderer, Open3D's legacy visualizer on a private X server).
APT_PACKAGES="libusb-1.0-0 libgl1 libegl1 libgomp1 libvulkan1 mesa-vulkan-drivers"
APT_PACKAGES="$APT_PACKAGES xvfb"
if command -v dpkg >/dev/null 2>&1; then
  missing=""
  for pkg in $APT_PACKAGES; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing system libraries:$missing"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      say "warning: Open3D needs these system packages:$missing (sudo apt-get install$missing)"
    fi
  fi
  # What the viewer tests drive, best effort (those tests skip, saying why, without them):
  # xdotool (keys to the window under Xvfb), chromium (the web viewer and report.html).
  missing=""
  for pkg in xdotool chromium; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
  if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing test tools:$missing"
    apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null \
      || say "warning: could not install$missing; the browser and window tests will skip"
  fi
fi

# 2. Virtual environment and PyTorch.
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  if [ -n "${TORCH_SPEC:-}" ]; then
    say "installing $TORCH_SPEC"; $PIP install "$TORCH_SPEC"
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    say "NVIDIA GPU found: installing the default (CUDA) PyTorch build"; $PIP install torch
  else
    # CPU machine: the CPU build (2.13.0 is the one this project is tested with; any >= 2.1 works).
    say "installing CPU PyTorch"
    $PIP install torch==2.13.0 2>/dev/null \
      || $PIP install torch --index-url https://download.pytorch.org/whl/cpu
  fi
fi

# 3. The project itself (re-installed only when pyproject.toml changed).
stamp="$VENV/.sdfrecon-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing sdfrecon and its dependencies"
  $PIP install -e ".[test,web]"
  # Ray (the benchmark's --executor ray, and its tests); optional: skipped where no wheel exists.
  $PIP install -e ".[test,web,ray]" || say "warning: Ray could not be installed; its tests will be skipped"
  touch "$stamp"
fi
