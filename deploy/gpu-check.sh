#!/usr/bin/env bash
# GPU check of the engine: builds the engine-only configuration against the LibTorch inside
# the machine's PyTorch and runs ablate-bench on CUDA in fp32 and bf16, 2 x 1024 tokens
# (the reference study's shape; DESIGN.md section 3), for one random-weight shape of every
# model family (SHAPES, default: gpt2-small pythia-160m pythia-410m llama-3.2-1b qwen2-0.5b
# mistral-tiny; the one-mask-per-pass comparison for gpt2-small only). Where GoogleTest is
# installed (under .deps or the system) it also builds and runs the gpu-labelled tests
# (CUDA fp32 against the CPU for every family). Results go to $OUT if set, else to
# ./gpu-check-out.
#
# Needs: python3 with a CUDA build of torch, cmake >= 3.18, a C++17 compiler, the CUDA
# toolkit (TorchConfig.cmake looks for it), and abseil plus the header-only nlohmann_json
# (the checkpoint loader parses JSON) installed under .deps/ (carried to the machine; no
# network needed). abseil must be built with the same libstdc++ string ABI
# as torch: PyTorch wheels before 2.7 use the pre-C++11 ABI (_GLIBCXX_USE_CXX11_ABI=0),
# Debian packages and newer wheels the C++11 one. Put an ABI-0 build in .deps/abi0 and an
# ABI-1 build in .deps/abi1 (or a single build in .deps with a file .deps/ABLATE_CXX11_ABI
# holding 0 or 1); the script picks the matching one and stops if there is none.
#
# Usage: deploy/gpu-check.sh [extra ablate-bench flags]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$out"
log() { echo "gpu-check: $*" | tee -a "$out/gpu-check.log" >&2; }

python3 - > "$out/torch.txt" <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda)
print("cxx11_abi", int(torch._C._GLIBCXX_USE_CXX11_ABI))
print("cuda_available", torch.cuda.is_available(), "devices", torch.cuda.device_count())
if torch.cuda.is_available():
    print("device0", torch.cuda.get_device_name(0))
PY
cat "$out/torch.txt" >&2
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || log "nvidia-smi failed (see nvidia-smi.txt)"
grep -q "cuda_available True" "$out/torch.txt" || { log "torch sees no CUDA device"; exit 1; }

torch_prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
abi="$(sed -n 's/^cxx11_abi //p' "$out/torch.txt")"
absl_prefix=""
for cand in ".deps/abi$abi" ".deps"; do
  marker="$cand/ABLATE_CXX11_ABI"
  if [[ -d "$cand" && ( "$cand" == ".deps/abi$abi" || ! -f "$marker" || "$(cat "$marker")" == "$abi" ) ]]; then
    absl_prefix="$PWD/$cand"
    break
  fi
done
[[ -n "$absl_prefix" ]] || { log "no abseil built for _GLIBCXX_USE_CXX11_ABI=$abi under .deps/"; exit 1; }
[[ -f "$absl_prefix/ABLATE_CXX11_ABI" ]] || log "warning: $absl_prefix has no ABLATE_CXX11_ABI marker; assuming ABI $abi"
log "torch at $torch_prefix (C++11 ABI $abi), abseil at $absl_prefix"

# TorchConfig.cmake's CUDA lookup: point it at the toolkit and name the GPU's arch to keep it quiet.
if ! command -v nvcc > /dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
command -v nvcc > /dev/null || log "warning: nvcc not found; find_package(Torch) may fail to find CUDA"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"

build=build-gpu
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DABLATE_ENGINE_ONLY=ON -DABLATE_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$absl_prefix;$PWD/.deps" > "$out/cmake-configure.txt" 2>&1 ||
  { tail -40 "$out/cmake-configure.txt" >&2; log "configure failed"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target ablate-bench > "$out/cmake-build.txt" 2>&1 ||
  { grep -m 20 -E "error|undefined reference" "$out/cmake-build.txt" >&2; log "build failed"; exit 1; }
bench="$build/worker/engine/tools/ablate-bench"

status=0
shapes="${SHAPES:-gpt2-small pythia-160m pythia-410m llama-3.2-1b qwen2-0.5b mistral-tiny}"
for shape in $shapes; do
  for dtype in fp32 bf16; do
    extra=()
    [[ "$shape" == gpt2-small ]] && extra=(--compare-naive)
    log "ablate-bench $shape cuda $dtype, 2 x 1024"
    if "$bench" --shape="$shape" --device=cuda --dtype="$dtype" --n-chunks=2 --seq-len=1024 \
        "${extra[@]}" "$@" > "$out/bench-cuda-$shape-$dtype.txt" 2>&1; then
      cat "$out/bench-cuda-$shape-$dtype.txt" >&2
    else
      status=1
      tail -20 "$out/bench-cuda-$shape-$dtype.txt" >&2
      log "ablate-bench $shape $dtype failed"
    fi
  done
done

# The gpu-labelled tests, when GoogleTest can be found.
tbuild=build-gpu-tests
if cmake -S . -B "$tbuild" -DCMAKE_BUILD_TYPE=Release -DABLATE_ENGINE_ONLY=ON -DABLATE_BUILD_TESTS=ON \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$absl_prefix;$PWD/.deps" > "$out/cmake-configure-tests.txt" 2>&1 &&
   cmake --build "$tbuild" -j "$(nproc)" --target engine_gpu_test > "$out/cmake-build-tests.txt" 2>&1; then
  log "engine_gpu_test (CUDA fp32 vs CPU, every family)"
  if "$tbuild/tests/engine/engine_gpu_test" > "$out/gpu-test.txt" 2>&1; then
    cat "$out/gpu-test.txt" >&2
  else
    status=1
    tail -30 "$out/gpu-test.txt" >&2
    log "engine_gpu_test failed"
  fi
else
  log "gpu tests not built (no GoogleTest?): see cmake-configure-tests.txt / cmake-build-tests.txt"
fi
grep -h '^RESULT ' "$out"/bench-cuda-*.txt | sed 's/^RESULT //' > "$out/results.jsonl" || true
log "results in $out (results.jsonl: one JSON object per run)"
exit "$status"
