#!/usr/bin/env bash
# make gpu-pack: everything the one GPU call needs, built here into an ignored folder the device
# tool carries (the GPU machine has no Rust, no ../shared and no network):
#
#   target/gpu-pack/bin/lmeff        the release binary, stripped (no fontconfig/freetype needed)
#   target/gpu-pack/data/            tinystories prepared at vocab 1000 and 16000, the web sample,
#                                    3 BLiMP paradigms, a GLUE-format sst2 task (1024 examples)
#   target/gpu-pack/bench/           the study's Python benchmark scripts
#   target/gpu-pack/kernels/         Liger-Kernel's fused kernels for sm_80/sm_90 (env/kernels/liger.py)
#   target/gpu-pack/py/              Liger-Kernel's Python package, for the fused-vs-ATen op benchmark
#   target/gpu-pack/MANIFEST         sizes and sha256 of every file
#
# Refuses a pack over GPU_PACK_LIMIT_MB (60). Then: make gpu-check on the GPU machine.
#   GPU_PACK_BIN=path    the binary to pack (default target/release/lmeff)
#   GPU_PACK_DIR=dir     where (default target/gpu-pack; replaced whole)
#   LMEFF_SHARED=dir     the shared data (default ../shared beside the checkout)
#   GPU_PACK_KERNELS=0   leave the fused kernels out (the rehearsal's test, which compiles them elsewhere)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${GPU_PACK_BIN:-$ROOT/target/release/lmeff}"
PACK="${GPU_PACK_DIR:-$ROOT/target/gpu-pack}"
SHARED="${LMEFF_SHARED:-$ROOT/../shared}"
LIMIT_MB="${GPU_PACK_LIMIT_MB:-60}"
PARADIGMS=(anaphor_gender_agreement determiner_noun_agreement_1 regular_plural_subject_verb_agreement_1)
PYTHON="${PYTHON:-$ROOT/env/.venv/bin/python}"
[[ -x "$PYTHON" ]] || PYTHON=python3

die() { echo "gpu-pack: $*" >&2; exit 1; }
[[ -x "$BIN" ]] || die "no binary at $BIN (make release first)"
[[ -n "${LIBTORCH:-}" ]] || die "LIBTORCH is not set: source env/lmeff.env (make gpu-pack does)"
for need in data/corpora/tinystories data/corpora/web bench/hf_train_bench.py bench/hf_blimp_bench.py; do
  [[ -e "$SHARED/$need" ]] || die "$SHARED/$need is missing (set LMEFF_SHARED)"
done
case "$PACK" in
  "" | / | "$ROOT" | "$HOME") die "refusing to replace $PACK" ;;
esac

# Built beside the destination and moved into place whole: no half pack is ever left as the pack.
NEW="$PACK.partial"
rm -rf "$NEW"
trap 'rm -rf "$NEW"' EXIT
mkdir -p "$NEW/bin" "$NEW/data/blimp" "$NEW/bench" "$NEW/kernels"
strip -o "$NEW/bin/lmeff" "$BIN"
cp -r "$SHARED/data/corpora/tinystories" "$SHARED/data/corpora/web" "$NEW/data/"
chmod -R u+w "$NEW/data"
for p in "${PARADIGMS[@]}"; do
  cp "$SHARED/data/blimp/$p.jsonl" "$NEW/data/blimp/"
done
cp "$SHARED/bench/hf_train_bench.py" "$SHARED/bench/hf_blimp_bench.py" "$NEW/bench/"
cp "$ROOT/tests/bench/study_glue.py" "$NEW/bench/"
"$PYTHON" "$ROOT/tests/bench/study_glue.py" task "$NEW/data" "$NEW/data/glue" 1024
LMEFF_MODELS_DIR="$ROOT/configs/models" "$NEW/bin/lmeff" -q --data-dir "$NEW/data" \
  data prepare --dataset tinystories --vocab-sizes 1000,16000 >/dev/null
if [[ "${GPU_PACK_KERNELS:-1}" != 0 ]]; then
  "$PYTHON" "$ROOT/env/kernels/liger.py" check "$NEW/kernels/launches.json" presets >/dev/null
  "$PYTHON" "$ROOT/env/kernels/liger.py" compile "$NEW/kernels/launches.json" "$NEW/kernels" >/dev/null
  rm "$NEW/kernels/launches.json"
  # Liger's Python package (the GPU image has none) and the fused-vs-ATen op benchmark.
  mkdir -p "$NEW/py"
  cp -r "$("$PYTHON" -c 'import liger_kernel, os; print(os.path.dirname(liger_kernel.__file__))')" "$NEW/py/"
  find "$NEW/py" -name __pycache__ -prune -exec rm -rf {} +
  cp "$ROOT/env/kernels/bench_ops.py" "$NEW/bench/"
fi
chmod -R a+rX "$NEW"
(cd "$NEW" && find . -type f ! -name MANIFEST | sort | xargs sha256sum) >"$NEW/MANIFEST"
size_mb=$(du -sm "$NEW" | cut -f1)
if (( size_mb > LIMIT_MB )); then
  rm -rf "$NEW"
  die "the pack would be ${size_mb} MB, over ${LIMIT_MB} MB"
fi
rm -rf "$PACK"
mv "$NEW" "$PACK"
echo "gpu-pack: $PACK (${size_mb} MB, $(wc -l <"$PACK/MANIFEST") files)"
echo "next: the device tool runs 'make gpu-check' with carry [\"${PACK#"$ROOT"/}\"]"
