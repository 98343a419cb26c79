#!/usr/bin/env bash
# `ablate-worker tokenize --model DIR --text corpus` must print exactly the reference ids for
# every tokenizer folder the fixture wrote. Usage: check_cli.sh ABLATE_WORKER REFERENCE_DIR
set -euo pipefail
worker=$1
ref=$2
n=0
for dir in "$ref"/*/; do
  [[ -f "$dir/tokenizer.json" ]] || continue
  name=$(basename "$dir")
  if ! cmp -s <("$worker" tokenize --model "$dir" --text "$ref/corpus.txt") \
              <(cat "$dir/corpus_ids.json"; echo); then
    echo "FAIL: ablate-worker tokenize differs from the reference for $name" >&2
    exit 1
  fi
  echo "ok: $name"
  n=$((n + 1))
done
((n >= 7)) || { echo "FAIL: only $n tokenizer folders in $ref" >&2; exit 1; }
