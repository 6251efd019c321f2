#!/usr/bin/env bash
# The GPU check of issue 16: one run on a lent H100/H200-class machine that sets up CUDA PyTorch,
# times the presets on the SRB scans, meshes a trained field at 512^3 (dense, coarse-to-fine,
# coarse-to-fine with float16 classification), runs training tests on CUDA, and tries to build
# tiny-cuda-nn where a CUDA toolkit is. Every stage is time-boxed and recorded whatever happens;
# the result is one $OUT/gpu_check.json and $OUT/gpu_check.md (OUT defaults to ./gpu_check_out).
#
#   bench/gpu_check.sh            # on the GPU machine, from anywhere (about 9 minutes at most)
#   bench/gpu_check.sh --smoke    # every stage tiny, on the CPU: checks the script, measures nothing
#
# Data: the SRB scans of ../shared/data (bench/shapes.py); where the machine has no ../shared, copy them
# into ./shared/data (git-ignored; `mkdir -p shared/data && cp -r ../shared/data/srb shared/data/`,
# 8 MB) or set GPU_CHECK_DATA to a folder holding srb/.
# Environment: OUT; PYTHON (interpreter with torch + this project; default .venv/bin/python, else
# python3); GPU_CHECK_BUDGET_S (all stages together, default 540); TORCH_SPEC (pip requirement used
# when the installed torch is a CPU build, default "torch"); TCNN_SOURCE (pip source of the
# tiny-cuda-nn bindings, default the GitHub repository); KEEP_CHECKPOINTS=1 keeps the .ckpt files.
# Stage order: setup, torch_cuda, env, presets, meshing, tests, tcnn, tcnn_test, report -- the
# measurements first, the optional tiny-cuda-nn build with whatever time is left.
set -u
cd "$(dirname "$0")/.."
SMOKE=0
DEVICE=cuda
for arg in "$@"; do
  case $arg in
    --smoke) SMOKE=1; DEVICE=cpu ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $arg (use --smoke)" >&2; exit 2 ;;
  esac
done
SMOKE_FLAG=""; [ "$SMOKE" = 1 ] && SMOKE_FLAG="--smoke"
export OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT/logs" "$OUT/stages"
rm -f "$OUT"/stages/*.json "$OUT"/gpu_check.json "$OUT"/gpu_check.md
BUDGET=${GPU_CHECK_BUDGET_S:-540}
REPORT_RESERVE=20
SYS_PY=$(command -v python3 || command -v python)
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=$PWD/.venv/bin/python; else PY=$SYS_PY; fi
fi

say() { printf '[gpu_check %4ds] %s\n' "$SECONDS" "$*" >&2; }
left() { echo $((BUDGET - SECONDS - REPORT_RESERVE)); }
limit() { local l; l=$(left); [ "$1" -lt "$l" ] && l=$1; [ "$l" -lt 1 ] && l=1; echo "$l"; }
# mark NAME ARGS...: record a stage's end (bench.gpu_check.stages.mark; standard library only).
mark() { "$SYS_PY" -m bench.gpu_check mark "$@" || say "could not record stage $1"; }
skip() { say "stage $1 skipped: $2"; mark "$1" --skip "$2"; }

# stage NAME SECONDS CMD...: CMD under `timeout` (SIGINT, then SIGKILL 15 s later), its output in
# logs/NAME.log; records ok / failed / timeout (keeping what the stage measured). $NOTE, if set,
# goes into the record.
stage() {
  local name=$1 want=$2; shift 2
  if [ "$(left)" -lt 5 ]; then skip "$name" "total budget ($BUDGET s) spent"; return 1; fi
  local box start rc
  box=$(limit "$want")
  say "stage $name (time box $box s): $*"
  start=$SECONDS
  timeout -s INT -k 15 "$box" "$@" >"$OUT/logs/$name.log" 2>&1
  rc=$?
  mark "$name" --rc "$rc" --seconds $((SECONDS - start)) --log "$OUT/logs/$name.log" --note "${NOTE:-}"
  say "stage $name: exit status $rc after $((SECONDS - start)) s"
  return $rc
}

usable() { "$PY" -c "import torch, sdfrecon.sdf, sys; sys.exit(0 if sdfrecon.sdf.__file__.startswith('$PWD') else 1)" \
           >/dev/null 2>&1; }
cuda_ok() { "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; }

# (a) environment: a Python with torch and this checkout; CUDA PyTorch; what the machine has.
if usable; then
  skip setup "not needed: $PY imports torch and this checkout"
else
  # --system-site-packages keeps a torch the machine already has (often its CUDA build).
  NOTE="venv .venv-gpu (system site packages) + pip install -e .[test]" stage setup 240 \
    bash -c "'$SYS_PY' -m venv --system-site-packages .venv-gpu && { .venv-gpu/bin/python -m pip install -q -e '.[test]' \
      || .venv-gpu/bin/python -m pip install -q --no-deps --no-build-isolation -e .; }"
  PY=$PWD/.venv-gpu/bin/python
fi
if [ "$SMOKE" = 1 ]; then
  skip torch_cuda "smoke run on the CPU"
elif cuda_ok; then
  skip torch_cuda "not needed: torch sees CUDA"
elif "$PY" -c "import torch, sys; sys.exit(0 if torch.version.cuda is None else 1)" >/dev/null 2>&1; then
  NOTE="CPU build of torch found: pip install --force-reinstall ${TORCH_SPEC:-torch}" stage torch_cuda 180 \
    "$PY" -m pip install -q --force-reinstall "${TORCH_SPEC:-torch}"
else
  skip torch_cuda "torch is a CUDA build but sees no GPU (driver?); not reinstalled"
fi
stage env 60 "$PY" -m bench.gpu_check env --device "$DEVICE"
NO_CUDA=""
if [ "$DEVICE" = cuda ] && ! cuda_ok; then NO_CUDA="CUDA not available to torch (see env)"; fi

# (c) presets on the SRB scans; (d) meshing at 512^3 (first, so their numbers exist whatever follows).
if [ -n "$NO_CUDA" ]; then skip presets "$NO_CUDA"; else
  box=$(limit "${GPU_CHECK_PRESETS_S:-230}")
  stage presets "$box" "$PY" -m bench.gpu_check presets --device "$DEVICE" --budget-s $((box - 30)) $SMOKE_FLAG
fi
if [ -n "$NO_CUDA" ]; then skip meshing "$NO_CUDA"; else
  stage meshing "${GPU_CHECK_MESHING_S:-120}" "$PY" -m bench.gpu_check meshing --device "$DEVICE" $SMOKE_FLAG
fi

# (b) tests with the training runs on $DEVICE (SDFRECON_TEST_DEVICE, tests/conftest.py).
if [ "$SMOKE" = 1 ]; then
  TESTS="tests/meshing/test_narrowband.py -k float16"
else
  TESTS="-m 'not slow' tests/sdf tests/meshing tests/test_reconstruct.py tests/test_hashgrid_reconstruct.py tests/test_presets.py"
fi
if [ -n "$NO_CUDA" ]; then skip tests "$NO_CUDA"; else
  NOTE="SDFRECON_TEST_DEVICE=$DEVICE pytest $TESTS" stage tests "${GPU_CHECK_TESTS_S:-150}" \
    bash -c "SDFRECON_TEST_DEVICE=$DEVICE '$PY' -m pytest -v -p no:cacheprovider $TESTS"
fi

# (a, continued) tiny-cuda-nn: built only where a CUDA toolkit is, with the time left.
if "$PY" -c "import tinycudann" >/dev/null 2>&1; then
  skip tcnn "tinycudann already importable"
elif ! command -v nvcc >/dev/null 2>&1; then
  skip tcnn "no nvcc on PATH (no CUDA toolkit): tiny-cuda-nn not built"
elif [ "$SMOKE" = 1 ]; then
  skip tcnn "smoke run (nvcc is here: $(command -v nvcc))"
else
  ARCH=$("$PY" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'{p.major}{p.minor}')" 2>/dev/null)
  SRC=${TCNN_SOURCE:-git+https://github.com/NVlabs/tiny-cuda-nn/#subdirectory=bindings/torch}
  NOTE="TCNN_CUDA_ARCHITECTURES=$ARCH pip install --no-build-isolation $SRC" stage tcnn "${GPU_CHECK_TCNN_S:-240}" \
    env TCNN_CUDA_ARCHITECTURES="$ARCH" "$PY" -m pip install --no-build-isolation "$SRC"
fi
if "$PY" -c "import tinycudann" >/dev/null 2>&1 && [ -z "$NO_CUDA" ] && [ "$SMOKE" = 0 ]; then
  NOTE="pytest tests/sdf/test_hashgrid.py -k tcnn" stage tcnn_test 60 \
    "$PY" -m pytest -v -p no:cacheprovider tests/sdf/test_hashgrid.py -k tcnn
  stage env 30 "$PY" -m bench.gpu_check env --device "$DEVICE"  # tcnn_available, now
else
  skip tcnn_test "tinycudann not importable, or no CUDA"
fi

[ "${KEEP_CHECKPOINTS:-0}" = 1 ] || find "$OUT" -name '*.ckpt' -delete
"$SYS_PY" -m bench.gpu_check report $SMOKE_FLAG >/dev/null || say "report failed"
say "done in $SECONDS s: $OUT/gpu_check.md, $OUT/gpu_check.json"
cat "$OUT/gpu_check.md" 2>/dev/null
