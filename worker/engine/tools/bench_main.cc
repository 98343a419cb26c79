// Copyright: the ablate authors.
//
// ablate-bench: see bench.h. Example (the CPU comparison):
//   ablate-bench --n-chunks=2 --seq-len=128 --compare-naive
// Flag names take '-' or '_' (absl spells them with '_').
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "worker/engine/tools/bench.h"

ABSL_FLAG(std::string, shape, "gpt2-small",
          "model shape with random weights: gpt2-small, pythia-160m, "
          "pythia-410m, smollm-135m, tinyllama-1.1b, llama-3.2-1b, qwen2-0.5b, "
          "mistral-tiny");
ABSL_FLAG(int64_t, n_chunks, 2, "chunks of random tokens");
ABSL_FLAG(int64_t, seq_len, 128, "tokens per chunk (<= the shape's positions)");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda, cuda:N or mps");
ABSL_FLAG(std::string, dtype, "fp32",
          "fp32, bf16 or fp16 (half types on GPUs only)");
ABSL_FLAG(int, threads, 0, "CPU intra-op threads; 0 = engine default");
ABSL_FLAG(int64_t, max_batch_rows, 0,
          "rows (masks x chunks) per batch; 0 = auto");
ABSL_FLAG(int64_t, vocab_slice, 8192, "vocabulary columns per LM-head slice");
ABSL_FLAG(int, limit_heads, -1,
          "sweep only the first N heads (and the baseline); -1 = all");
ABSL_FLAG(int, sample_heads, 0,
          "sweep N heads spread evenly over the layers (and the baseline): "
          "a full sweep's cost per mask on large shapes; 0 = off");
ABSL_FLAG(bool, compare_naive, false, "also time a one-mask-per-pass loop");
ABSL_FLAG(bool, tf32, false, "allow TF32 for fp32 matmuls on CUDA");
ABSL_FLAG(uint64_t, seed, 1, "seed of the random weights and tokens");
ABSL_FLAG(std::string, profile, "",
          "write a chrome://tracing file of the engine's sweep");

// "--n-chunks=2" -> "--n_chunks=2": dashes in the flag name (not the value)
// become '_'.
std::vector<std::string> Underscored(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    std::string& a = args[i];
    if (a.rfind("--", 0) != 0) continue;
    const size_t end = std::min(a.find('='), a.size());
    for (size_t j = 2; j < end; ++j) a[j] = a[j] == '-' ? '_' : a[j];
  }
  return args;
}

int main(int argc, char** argv) {
  std::vector<std::string> args = Underscored(argc, argv);
  std::vector<char*> ptrs;
  for (std::string& a : args) ptrs.push_back(a.data());
  absl::ParseCommandLine(static_cast<int>(ptrs.size()), ptrs.data());
  ablate::engine::bench::BenchOptions o;
  o.shape = absl::GetFlag(FLAGS_shape);
  o.n_chunks = absl::GetFlag(FLAGS_n_chunks);
  o.seq_len = absl::GetFlag(FLAGS_seq_len);
  o.device = absl::GetFlag(FLAGS_device);
  o.dtype = absl::GetFlag(FLAGS_dtype);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.max_batch_rows = absl::GetFlag(FLAGS_max_batch_rows);
  o.vocab_slice = absl::GetFlag(FLAGS_vocab_slice);
  o.limit_heads = absl::GetFlag(FLAGS_limit_heads);
  o.sample_heads = absl::GetFlag(FLAGS_sample_heads);
  o.compare_naive = absl::GetFlag(FLAGS_compare_naive);
  o.allow_tf32 = absl::GetFlag(FLAGS_tf32);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.profile = absl::GetFlag(FLAGS_profile);
  absl::Status s = ablate::engine::bench::RunBench(o, std::cout);
  if (!s.ok()) {
    std::cerr << "ablate-bench: " << s << "\n";
    return 1;
  }
  return 0;
}
