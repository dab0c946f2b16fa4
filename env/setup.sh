#!/usr/bin/env bash
# lmeff set-up: installs everything the build, the tests and the demo need on a Debian 12 machine,
# then writes env/lmeff.env. Idempotent: a second run only checks what is already there.
#
#   bash env/setup.sh            # or: make setup
#
# Environment knobs:
#   LIBTORCH=/path/to/libtorch   use an existing libtorch 2.11 (e.g. a cluster module) for the build
#   LMEFF_VENV=DIR               where the Python venv goes (default env/.venv)
#   LMEFF_SKIP_APT=1             do not touch Debian packages (no root, cluster login node)
#   LMEFF_SKIP_SLURM=1           do not configure/start the local single-node Slurm cluster
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH_VERSION="2.11.0"
VENV="${LMEFF_VENV:-$ROOT/env/.venv}"
ENV_FILE="$ROOT/env/lmeff.env"
log() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages ---------------------------------------------------------------------------
APT_PACKAGES=(
  build-essential pkg-config clang libclang-dev python3-venv
  openmpi-bin libopenmpi-dev libpmix-dev
  libfontconfig1-dev fonts-dejavu-core chromium
  slurmctld slurmd slurm-client munge
)
if [[ "${LMEFF_SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "Debian packages present"
  fi
fi

# --- Python venv: torch (provides libtorch), transformers and the test-side libraries ------------
PY="${PYTHON:-python3}"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
want_py=("torch==$TORCH_VERSION" "transformers>=4.45,<5" "tokenizers>=0.20" "pyarrow>=15" "numpy" "scipy" "tensorboard" "pytablewriter" "requests" "pyyaml" "jinja2" "pandas" "polars" "duckdb")
if ! "$VENV/bin/python" - "$TORCH_VERSION" <<'PYEOF' 2>/dev/null
import sys, importlib.metadata as md
assert md.version("torch").split("+")[0] == sys.argv[1]
for m in ("transformers", "tokenizers", "pyarrow", "numpy", "scipy", "tensorboard", "pytablewriter", "lm_eval",
          "pandas", "polars", "duckdb"):
    md.version(m)
PYEOF
then
  # The torch wheel and its CUDA libraries take ~5.5 GiB installed plus ~3.5 GiB of downloads while
  # pip installs; no pip cache, so nothing stays behind once they are in.
  free_kib="$(df -Pk "$(dirname "$VENV")" | awk 'NR==2{print $4}')"
  if ((free_kib < 10 * 1024 * 1024)); then
    log "warning: only $((free_kib / 1024)) MiB free under $(dirname "$VENV"); the Python packages need ~9 GiB while installing"
  fi
  log "installing Python packages into $VENV (torch $TORCH_VERSION wheel: libtorch for the build)"
  "$VENV/bin/pip" install -q --no-cache-dir --disable-pip-version-check "${want_py[@]}"
else
  log "Python packages present"
fi
# lm-evaluation-harness only for its results table (`make_table`, which the tests run on lmeff's
# blimp_results.json): without its dependencies (datasets, evaluate, …), which that never imports.
if ! "$VENV/bin/python" -c 'from lm_eval.utils import make_table' 2>/dev/null; then
  log "installing lm_eval 0.4.13 (its results table only) into $VENV"
  "$VENV/bin/pip" install -q --no-cache-dir --disable-pip-version-check --no-deps "lm_eval==0.4.13"
fi
# Liger-Kernel's Triton kernels (env/kernels/liger.py checks them under Triton's interpreter and
# compiles them ahead of time): the package only; torch and the wheel's Triton are already in.
LIGER_VERSION="0.8.5"
if [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("liger-kernel"))' 2>/dev/null)" != "$LIGER_VERSION" ]]; then
  log "installing liger-kernel $LIGER_VERSION (its Triton kernels) into $VENV"
  "$VENV/bin/pip" install -q --no-cache-dir --disable-pip-version-check --no-deps "liger-kernel==$LIGER_VERSION"
fi
# mdBook for the documentation book (docs/; `make docs`, and `make test` builds it): from crates.io,
# without its live-reload server, into env/bin.
MDBOOK_VERSION="0.5.4"
if [[ "$("$ROOT/env/bin/mdbook" --version 2>/dev/null)" != "mdbook v$MDBOOK_VERSION" ]]; then
  log "installing mdbook $MDBOOK_VERSION into env/bin (a couple of minutes to compile)"
  cargo install -q --locked --no-default-features --features search --root "$ROOT/env" \
    --version "$MDBOOK_VERSION" mdbook
else
  log "mdbook $MDBOOK_VERSION present"
fi
SITE="$("$VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
VENV_TORCH="$SITE/torch"

# NCCL: cudarc dlopens "libnccl.so"; the nvidia-nccl wheel ships only libnccl.so.2.
NCCL_DIR="$SITE/nvidia/nccl/lib"
if [[ -f "$NCCL_DIR/libnccl.so.2" && ! -e "$NCCL_DIR/libnccl.so" ]]; then
  ln -s libnccl.so.2 "$NCCL_DIR/libnccl.so"
fi

# --- libtorch: the user's (cluster module) or the wheel's ----------------------------------------
TORCH_DIR="${LIBTORCH:-$VENV_TORCH}"
found=""
if [[ -f "$TORCH_DIR/build-version" ]]; then  # libtorch zip distributions
  found="$(cat "$TORCH_DIR/build-version")"
else                                          # wheels: the version macros in the headers
  for h in "$TORCH_DIR/include/torch/headeronly/version.h" "$TORCH_DIR/include/torch/csrc/api/include/torch/version.h"; do
    [[ -f "$h" ]] || continue
    v="$(awk '/#define TORCH_VERSION_(MAJOR|MINOR|PATCH) /{printf "%s%s", sep, $3; sep="."}' "$h")"
    [[ -n "$v" ]] && { found="$v"; break; }
  done
fi
if [[ "${found%%+*}" != "$TORCH_VERSION" ]]; then
  log "error: libtorch at $TORCH_DIR is version '${found:-unknown}', lmeff (tch 0.24) needs $TORCH_VERSION"
  exit 1
fi
log "libtorch $found at $TORCH_DIR"

# --- env/lmeff.env: sourced by the Makefile and the Slurm scripts -------------------------------
nvidia_libs="$(find "$SITE/nvidia" -maxdepth 2 -type d -name lib 2>/dev/null | sort | paste -sd: -)"
tmp="$(mktemp "$ENV_FILE.XXXXXX")"
cat >"$tmp" <<ENVEOF
# Written by env/setup.sh; source it before building or running lmeff.
# A libtorch $TORCH_VERSION already in LIBTORCH (e.g. from a cluster module) takes precedence.
export LMEFF_ROOT="$ROOT"
export LMEFF_VENV="$VENV"
export LIBTORCH="\${LIBTORCH:-$TORCH_DIR}"
export LIBTORCH_BYPASS_VERSION_CHECK=1
export LD_LIBRARY_PATH="\$LIBTORCH/lib${nvidia_libs:+:$nvidia_libs}\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PATH="$ROOT/target/release:\$PATH"
ENVEOF
mv "$tmp" "$ENV_FILE"
log "wrote $ENV_FILE"

# --- local single-node Slurm cluster (tests and make demo-slurm) --------------------------------
if [[ "${LMEFF_SKIP_SLURM:-0}" != 1 ]] && command -v slurmctld >/dev/null; then
  bash "$ROOT/env/slurm-up.sh"
fi
log "done"
