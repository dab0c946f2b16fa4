#!/usr/bin/env bash
# GPU check: runs the CUDA paths of an lmeff binary built elsewhere (nothing is built here) against
# the machine's own torch 2.11 install, and writes every result under $OUT (default gpu-check/).
#
#   make release                     # on the build machine
#   OUT=/tmp/gpu make gpu-check      # on the GPU machine, with target/release/lmeff carried over
#
#   LMEFF_BIN=path       the binary (default target/release/lmeff)
#   TORCH_VENV=dir       a venv with torch 2.11 (default /opt/torch/.venv, else env/.venv)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${LMEFF_BIN:-$ROOT/target/release/lmeff}"
OUT="${OUT:-$ROOT/gpu-check}"
mkdir -p "$OUT"
VENV="${TORCH_VENV:-/opt/torch/.venv}"
[[ -x "$VENV/bin/python3" ]] || VENV="$ROOT/env/.venv"
SITE="$("$VENV/bin/python3" -c 'import site; print(site.getsitepackages()[0])')"
export LIBTORCH="$SITE/torch"
nvidia_libs="$(find "$SITE/nvidia" -maxdepth 2 -type d -name lib 2>/dev/null | sort | paste -sd: -)"
export LD_LIBRARY_PATH="$LIBTORCH/lib${nvidia_libs:+:$nvidia_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

status=0
step() { # name, command...: runs one check, keeps its output, records pass/fail
  local name="$1"; shift
  local t0; t0=$(date +%s%N)
  if "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; then r=pass; else r=FAIL; status=1; fi
  printf '%-28s %s  (%.1f s)\n' "$name" "$r" "$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN{print (b-a)/1e9}')" | tee -a "$OUT/summary.txt"
}
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; "$VENV/bin/python3" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } >"$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
step ldd bash -c "ldd '$BIN' | grep -E 'torch|c10|not found'"
step doctor-cpu "$BIN" doctor --device cpu --steps 100
step doctor-cuda "$BIN" doctor --device cuda --steps 300
for f in "$OUT"/doctor-*.out; do echo "== $(basename "$f")"; cat "$f"; done
exit $status
