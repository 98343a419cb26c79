// Copyright: the ablate authors.
//
// Internal to the engine: input validation for Model::Create and Model::Evaluate,
// so that bad input becomes a clear absl::Status instead of a torch error deep
// inside the forward pass.
//
// Thread-safety: pure functions of their arguments.
#ifndef ABLATE_WORKER_ENGINE_MODEL_CHECKS_H_
#define ABLATE_WORKER_ENGINE_MODEL_CHECKS_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/engine/model.h"
#include "worker/engine/model_weights.h"

namespace ablate::engine::internal {

// Config values positive, n_embd divisible by n_head, every tensor present with
// its shape. Tensors are named as in a Hugging Face checkpoint
// ("h.3.attn.c_attn.weight").
absl::Status CheckWeights(const ModelWeights& weights);

// "cpu", "cuda", "cuda:N", "mps", and that the device exists on this machine.
absl::StatusOr<torch::Device> ParseDevice(const std::string& name);

// Half precision (bf16, fp16) only on GPUs.
absl::Status CheckDType(DType dtype, const torch::Device& device);

// chunks: integer [n_chunks >= 1, 2 <= seq_len <= n_positions], ids in [0,
// vocab_size).
absl::Status CheckChunks(const torch::Tensor& chunks, const ModelConfig& config);

// Every head index in [0, n_layer * n_head).
absl::Status CheckMasks(absl::Span<const HeadMask> masks,
                        const ModelConfig& config);

}  // namespace ablate::engine::internal

#endif  // ABLATE_WORKER_ENGINE_MODEL_CHECKS_H_
