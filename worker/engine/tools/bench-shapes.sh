#!/usr/bin/env bash
# Runs ablate-bench for every model shape it knows (random weights) and prints one Markdown
# table row per shape: masks/s, the time over the matmul-rate bound (1.00 = every FLOP at
# the machine's measured rate for the shape's fused q|k|v matmul), GFLOP/s and peak memory.
# Shapes with more than SAMPLE heads sweep SAMPLE heads spread evenly over the layers
# (--sample-heads), so the rate is a whole sweep's average per mask, in minutes on a laptop.
#
# Usage: worker/engine/tools/bench-shapes.sh [BUILD_DIR (default build)] [extra ablate-bench flags]
# Environment: SHAPES (default: all), N_CHUNKS (2), SEQ_LEN (128), SAMPLE (48).
# Not a test; the numbers depend on the machine (quote them with its description).
set -euo pipefail
cd "$(dirname "$0")/../../.."
build=${1:-build}
shift || true
bench=$build/worker/engine/tools/ablate-bench
[ -x "$bench" ] || { echo "bench-shapes: $bench not built (cmake --build $build --target ablate-bench)" >&2; exit 1; }
shapes=${SHAPES:-gpt2-small pythia-160m pythia-410m smollm-135m qwen2-0.5b tinyllama-1.1b llama-3.2-1b mistral-tiny}
echo "| shape | masks | masks/s | time / matmul bound | GFLOP/s | matmul GFLOP/s | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
for shape in $shapes; do
  line=$("$bench" --shape="$shape" --n-chunks="${N_CHUNKS:-2}" --seq-len="${SEQ_LEN:-128}" \
           --sample-heads="${SAMPLE:-48}" "$@" | grep '^RESULT ' | sed 's/^RESULT //')
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print("| %s | %d | %.2f | %.2f | %.1f | %.1f | %.0f |" % (r["shape"], r["masks"], r["masks_per_s"],
      r["time_over_bound"], r["gflops_achieved"], r["matmul_gflops"], r["peak_rss_mb"]))' "$line"
done
