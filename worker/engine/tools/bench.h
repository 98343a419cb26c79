// Copyright: the ablate authors.
//
// ablate-bench: times the individual sweep (baseline + every head zero-ablated
// alone) on a model of a named shape (shapes.h; default GPT-2 small) with
// random weights and reports seconds, masks/s, FLOPs (flops.h), achieved
// GFLOP/s against the machine's measured matmul rate (the shape's fused q|k|v
// product on 1024 tokens, averaged before and after), peak resident memory, and
// optionally the same sweep as a one-mask-per-pass loop (naive.h) with the
// largest NLL difference.
//
// Thread-safety: not thread-safe (sets LibTorch's global thread count).
#ifndef ABLATE_WORKER_ENGINE_TOOLS_BENCH_H_
#define ABLATE_WORKER_ENGINE_TOOLS_BENCH_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace ablate::engine::bench {

struct BenchOptions {
  std::string shape = "gpt2-small";  // shapes.h
  int64_t n_chunks = 2;
  int64_t seq_len = 128;
  std::string device = "cpu";
  std::string dtype = "fp32";
  int threads = 0;             // 0 = engine default
  int64_t max_batch_rows = 0;  // 0 = auto
  int64_t vocab_slice = 8192;
  int limit_heads =
      -1;  // evaluate only the first N heads (plus the baseline); -1 = all
  // > 0: evaluate this many heads spread evenly over all layers (flat indices
  // floor(i * L*H / N)), plus the baseline: a sweep's average cost per mask on
  // models too large to sweep whole here. Exclusive with limit_heads.
  int sample_heads = 0;
  bool compare_naive = false;
  bool allow_tf32 = false;
  uint64_t seed = 1;
  std::string profile;  // if set, a chrome://tracing file of the engine's sweep
                        // (LibTorch ops)
};

// Prints a human-readable report and a final "RESULT {json}" line to `out`.
absl::Status RunBench(const BenchOptions& options, std::ostream& out);

}  // namespace ablate::engine::bench

#endif  // ABLATE_WORKER_ENGINE_TOOLS_BENCH_H_
