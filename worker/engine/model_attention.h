// Copyright: the ablate authors.
//
// Internal to the engine: rotary position embedding and causal attention with
// grouped kv heads and an optional sliding window (model_forward.h uses them).
//
// Rotary follows Hugging Face's rotate_half convention for every family: the
// first rotary_dim dims of a head rotate (the rest pass through), and dim i
// pairs with dim i + rotary_dim / 2 at frequency inv_freq[i]:
//   out = x * cos + rotate_half(x) * sin, rotate_half(x) = (-x2, x1).
// Angles are position * inv_freq in float32; cos and sin are cast to the
// compute dtype before they multiply (as Hugging Face does).
//
// Thread-safety: pure functions of their arguments.
#ifndef ABLATE_WORKER_ENGINE_MODEL_ATTENTION_H_
#define ABLATE_WORKER_ENGINE_MODEL_ATTENTION_H_

#include <torch/torch.h>

namespace ablate::engine::internal {

struct RopeTables {
  torch::Tensor cos, sin;  // [T, rotary_dim] in the compute dtype
};

// Tables for positions 0 .. T-1 from float32 inv_freq [rotary_dim / 2].
RopeTables MakeRopeTables(const torch::Tensor& inv_freq, int64_t T,
                          torch::ScalarType dtype);

// x [B, h, T, dh] -> x with its first rotary_dim dims rotated.
torch::Tensor ApplyRope(const torch::Tensor& x, const RopeTables& rope);

// q [B, H, T, dh], k and v [B, KV, T, dh] (H a multiple of KV; query head h
// reads kv head h / (H / KV)) -> softmax(q k^T / sqrt(dh) + mask) v, [B, H, T,
// dh]. The mask lets position i see positions j with j <= i and, when
// sliding_window > 0, i - j < sliding_window.
torch::Tensor GroupedCausalAttention(const torch::Tensor& q,
                                     const torch::Tensor& k,
                                     const torch::Tensor& v,
                                     int sliding_window);

}  // namespace ablate::engine::internal

#endif  // ABLATE_WORKER_ENGINE_MODEL_ATTENTION_H_
