// Copyright: the ablate authors.
//
// Model: the forward pass of a decoder-only transformer of any supported
// family (GPT-2, GPT-NeoX / Pythia, Llama, Mistral, Qwen2; model_weights.h)
// that evaluates many head-ablation masks at once and returns, per mask, the
// summed next-token NLL over the given chunks (DESIGN.md sections 2 and 3).
// A head is a query head: with grouped-query attention, ablating it replaces
// only its own z, never the key/value head it shares (model_forward.h).
//
// Exactness contract: for every mask the result equals one plain forward pass
// of the model with that mask applied, to fp32 rounding. Speed comes from
// batching masks in the batch dimension, computing layers below a mask's first
// ablated layer once, and a log-softmax over the vocabulary in slices
// (model_masked.h, model_lm_head.h).
//
// Memory: weights, plus a clean-pass cache of (2 L + 1) x [chunks in a block,
// T, d] values, plus the activations of one batch (max_batch_rows, sized from
// activation_budget_mb), plus the LM head's slices. GPT-2 small, 2 x 1024
// tokens, fp32 on cpu: 1.66 GB peak resident for the whole process (weights
// 0.50 GB, cache 0.16 GB, 1 GiB batch budget).
//
// Thread-safety: Evaluate is const and may be called from several threads only
// if the underlying LibTorch device is; callers normally use one Model per
// worker thread.
#ifndef ABLATE_WORKER_ENGINE_MODEL_H_
#define ABLATE_WORKER_ENGINE_MODEL_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/engine/model_weights.h"

namespace ablate::engine {

// Numbers match ablate.v1.Method (the persistent format).
enum class Method { kZero = 1, kZeroFolded = 2, kMean = 3 };
enum class DType { kFloat32 = 1, kBFloat16 = 2, kFloat16 = 3 };

absl::StatusOr<Method> ParseMethod(
    const std::string& name);  // "zero", "zero_folded", "mean"
absl::StatusOr<DType> ParseDType(
    const std::string& name);  // "fp32", "bf16", "fp16"
std::string MethodName(Method method);
std::string DTypeName(DType dtype);

struct EngineOptions {
  std::string device = "cpu";     // "cpu", "cuda", "cuda:N", "mps".
  DType dtype = DType::kFloat32;  // bf16 / fp16 only on GPUs.
  int threads = 0;  // CPU threads of LibTorch and OpenBLAS (process-global); 0
                    // = DefaultThreads().
  int64_t max_batch_rows =
      0;  // Cap on (masks x chunks) rows per forward; 0 = auto.
  int64_t vocab_slice = 8192;  // Vocabulary columns per log-softmax slice.
  // Activation memory the automatic max_batch_rows aims at; 0 = auto (1 GiB on
  // cpu and mps, 8 GiB on cuda). Weights and the clean-pass cache come on top
  // (see Memory above).
  int64_t activation_budget_mb = 0;
  bool allow_tf32 =
      false;  // CUDA fp32 matmuls in TF32 (faster, not fp32-exact). Global.
  // On cpu with glibc: make malloc keep freed memory for reuse (M_MMAP_MAX = 0,
  // no trimming) instead of returning every large tensor to the OS. Fresh pages
  // cost a page fault each, which made elementwise ops 5-10x slower here.
  // Process-global; the heap keeps its peak.
  bool keep_freed_memory = true;
};

// The default CPU thread count: every logical core. LibTorch's own default
// counts physical cores (1 on a 2-vCPU machine); the individual sweep at 2 x
// 128 tokens took 89 s with 2 threads and 144 s with 1 on the 2-vCPU
// development machine.
int DefaultThreads();

// One mask: the flat indices (layer * n_head + head) of the heads to ablate.
// Empty = clean.
using HeadMask = std::vector<int>;

// Default scored tokens per block of the per-block NLL (uncertainty).
inline constexpr int64_t kDefaultBlockTokens = 64;

struct MaskNll {
  double nll_sum = 0;    // Sum over all chunks of -log p(token t | tokens < t);
                         // exactly the sum of block_nll in order.
  int64_t n_tokens = 0;  // Tokens predicted: n_chunks * (seq_len - 1).
  // NLL sums of blocks of block_tokens consecutive scored tokens within each
  // chunk, chunk-major (BlockTokens gives each block's size). Blocks never span
  // chunks; a chunk's last block may be shorter.
  std::vector<double> block_nll;
};

// Attribution patching (attribution.h): the clean run and every head's
// first-order estimate of its ablation effect.
struct Attribution {
  MaskNll clean;  // the clean run, as Evaluate's empty mask (to fp32 rounding)
  // est_h for every head, flat layer * n_head + head, in NLL units: the
  // first-order estimate of (ablated nll_sum - clean nll_sum).
  std::vector<double> estimates;
};

// Scored tokens of each block, chunk-major: n_chunks times ceil((seq_len - 1) /
// block_tokens) entries, each block_tokens except a shorter last one per chunk.
// Requires n_chunks >= 0, seq_len >= 2, block_tokens >= 1.
std::vector<int64_t> BlockTokens(int64_t n_chunks, int64_t seq_len,
                                 int64_t block_tokens);

// Called after each batch with (masks finished, masks total).
using ProgressFn = std::function<void(int64_t, int64_t)>;

struct EvalOptions {
  int64_t block_tokens = kDefaultBlockTokens;  // >= 1
  ProgressFn progress;                         // may be empty
};

class Model {
 public:
  // Moves the weights to the device and dtype (no copy when already there) and
  // sets the process-global thread count. Errors: unknown or unavailable
  // device, half precision on CPU, weights inconsistent with their config.
  static absl::StatusOr<std::unique_ptr<Model>> Create(
      ModelWeights weights, const EngineOptions& options);

  const ModelConfig& config() const;
  const EngineOptions& options() const;

  // chunks: int64 [n_chunks, seq_len] token ids, seq_len <= n_positions, ids <
  // vocab_size. Returns one MaskNll per mask, in order, with per-block sums of
  // eval.block_tokens scored tokens. For Method::kMean the
  // per-head means are taken from a clean pass over these same chunks (means of
  // the clean run, also for multi-head masks). Never throws: bad input is
  // InvalidArgument, running out of memory ResourceExhausted, other torch
  // errors Internal.
  absl::StatusOr<std::vector<MaskNll>> Evaluate(
      const torch::Tensor& chunks, absl::Span<const HeadMask> masks,
      Method method, const EvalOptions& eval = {}) const;

  // The clean run of `chunks` and, for every head at once, est_h = sum over
  // chunks and positions of (r_h - z_h) . dL/dz_h, L = the clean total NLL,
  // r_h the method's replacement (zero: 0; zero_folded: b_V,h; mean: clean
  // mean of z_h over these chunks). One forward and one backward pass
  // (LibTorch autograd; memory in attribution.h); chunks go in groups sized
  // from max_batch_rows or the activation budget. eval.progress gets (chunks
  // done, chunks). Errors as Evaluate.
  absl::StatusOr<Attribution> Attribute(const torch::Tensor& chunks,
                                        Method method,
                                        const EvalOptions& eval = {}) const;

  ~Model();

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_MODEL_H_
