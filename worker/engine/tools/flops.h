// Copyright: the ablate authors.
//
// Floating-point operation counts of the individual sweep (multiply-add = 2
// FLOPs; only matrix products are counted: LayerNorm, GELU, softmax and the
// logsumexp are not). Per token and layer a block costs 24 d^2 (c_attn 6,
// c_proj 2, MLP 16) plus 4 T d for the attention products (q k^T and att v
// computed as full T x T products, as both the engine and the naive loop do).
// The LM head costs 2 d V per scored position.
//   naive:  every mask is one full pass: L blocks, LM head on all T positions.
//   engine: one clean pass of L blocks (no LM head); a mask whose first ablated
//   layer is l
//           starts from the cached residual and z at l: 18 d^2 per token in
//           layer l (c_proj + MLP), full blocks for l+1..L-1, LM head on T-1
//           positions; the clean mask only needs the LM head.
#ifndef ABLATE_WORKER_ENGINE_TOOLS_FLOPS_H_
#define ABLATE_WORKER_ENGINE_TOOLS_FLOPS_H_

#include <cstdint>
#include <vector>

#include "worker/engine/model.h"

namespace ablate::engine::bench {

struct SweepFlops {
  double engine = 0;  // what the engine performs
  double naive = 0;   // one full forward per mask
};

SweepFlops CountFlops(const ModelConfig& c, int64_t n_chunks, int64_t seq_len,
                      const std::vector<HeadMask>& masks);

}  // namespace ablate::engine::bench

#endif  // ABLATE_WORKER_ENGINE_TOOLS_FLOPS_H_
