#!/usr/bin/env bash
# The main job: the whole head-ablation study end to end on this machine.
# Installs what is missing, builds the three binaries, starts a server (SQLite under OUT) and a
# worker on loopback, submits the full sweep (individual, then cumulative), watches it with a
# progress bar, writes the Markdown report and SVG figures, and prints where they are.
#
# Usage: bash deploy/run-study.sh [--model DIR] [--text FILE] [--n-chunks N] [--seq-len S]
#          [--method zero|zero_folded|mean] [--dtype fp32|bf16|fp16] [--device D]
#          [--series FILE] [--criteria FILE] [--out DIR] [--workers N] [--port P]
# Defaults: the project's own small GPT-2 (deploy/demo/model) on held-out Brown corpus text,
# 32 chunks x 256 tokens (8,160 tokens scored per mask; about a minute of sweep on 2 CPU cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo="$root/deploy/demo"

model="$demo/model"
text="$demo/heldout.txt"
n_chunks=32
seq_len=256
method=zero_folded
dtype=fp32
device=cpu
series=""
criteria="$demo/criteria.json"
out="$root/out/study"
workers=1
port=""
while (($#)); do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --text) text=$2; shift 2 ;;
    --n-chunks) n_chunks=$2; shift 2 ;;
    --seq-len) seq_len=$2; shift 2 ;;
    --method) method=$2; shift 2 ;;
    --dtype) dtype=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --series) series=$2; shift 2 ;;
    --criteria) criteria=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run-study: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -f "$model/config.json" ]] || { echo "run-study: no checkpoint at $model (config.json missing)" >&2; exit 2; }
[[ -f "$text" ]] || { echo "run-study: text file $text not found" >&2; exit 2; }

# 1. Packages and binaries (incremental: only what is missing is installed or rebuilt).
bash "$root/deploy/install-deps.sh" >/dev/null
build="${BUILD_DIR:-$root/build}"
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
echo "run-study: building ablate-server, ablate-worker, ablate (first time: several minutes)"
cmake --build "$build" -j "$(nproc)" --target ablate-server ablate-worker ablate >/dev/null
server_bin="$build/server/ablate-server"
worker_bin="$build/worker/ablate-worker"
client_bin="$build/client/ablate"

# 2. A server on a free loopback port, with its database under OUT.
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [[ -z "$port" ]]; then
  port=50151
  while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
fi
addr="127.0.0.1:$port"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
"$server_bin" --listen "$addr" --db "$out/ablate.db" >"$out/server.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  "$client_bin" --server "$addr" list >/dev/null 2>&1 && break
  sleep 0.1
done

# 3. Workers, then the job.
for i in $(seq 1 "$workers"); do
  # Workers read local checkpoints only under --model-root (issue 10): allow the model's folder.
  "$worker_bin" --server "$addr" --device "$device" --dtype "$dtype" --name "study-worker-$i" \
    --model-root "$(cd "$model" && pwd -P)" >"$out/worker-$i.log" 2>&1 &
  pids+=("$!")
done
echo "run-study: server $addr, $workers worker(s) on $device; logs in $out"
submit_out=$("$client_bin" --server "$addr" submit --model "$model" --text "$text" \
  --n-chunks "$n_chunks" --seq-len "$seq_len" --method "$method" --sweep full --dtype "$dtype")
job=$(awk 'END {print $NF}' <<<"$submit_out")
echo "run-study: job $job submitted"
"$client_bin" --server "$addr" watch "$job"

# 4. Report and figures.
report_args=(--out "$out")
[[ -n "$series" ]] && report_args+=(--series "$series")
[[ -f "$criteria" ]] && report_args+=(--criteria "$criteria")
"$client_bin" --server "$addr" report "$job" "${report_args[@]}"
"$client_bin" --server "$addr" thresholds "$job"
echo
echo "run-study: report at $out/report.md (figures beside it)"
