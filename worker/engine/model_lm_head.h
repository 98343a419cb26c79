// Copyright: the ablate authors.
//
// Internal to the engine: next-token NLL through the tied LM head without
// materializing the [positions, vocab] logits. The vocabulary is walked in
// slices with an online logsumexp (running max m and running sum s of exp(logit
// - m)); the target's logit is gathered from the slice that holds it. Positions
// are processed in blocks, so the temporary memory is at most max_positions x
// vocab_slice float32 values (plus the same in the compute dtype).
//
// Thread-safety: a pure function of its arguments.
#ifndef ABLATE_WORKER_ENGINE_MODEL_LM_HEAD_H_
#define ABLATE_WORKER_ENGINE_MODEL_LM_HEAD_H_

#include <torch/torch.h>

#include <cstdint>

namespace ablate::engine::internal {

struct LmHeadOptions {
  int64_t vocab_slice = 8192;    // vocabulary columns per slice
  int64_t max_positions = 1024;  // positions per block
};

// h [N, d] (final-normed hidden states, compute dtype), targets [N] int64, wte
// [V, d]
// -> nll [N] float32: logsumexp_v(h . wte_v) - h . wte_target, logits taken in
// float32.
torch::Tensor SlicedNll(const torch::Tensor& h, const torch::Tensor& targets,
                        const torch::Tensor& wte, const LmHeadOptions& options);

}  // namespace ablate::engine::internal

#endif  // ABLATE_WORKER_ENGINE_MODEL_LM_HEAD_H_
