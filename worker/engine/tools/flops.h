// Copyright: the ablate authors.
//
// Floating-point operation counts of the individual sweep (multiply-add = 2
// FLOPs; only matrix products are counted: norms, activations, softmax and the
// logsumexp are not). Per token and layer, with q = n_head * d_head and kv =
// n_kv_head * d_head: the fused q|k|v projection 2 d (q + 2 kv), the attention
// products 4 T q (q k^T and att v as full T x T products, as both the engine
// and the naive loop compute them), the output projection 2 q d and the MLP
// 2 d f + 2 d_ff d (f = d_ff, or 2 d_ff for the gated families). GPT-2: 24 d^2
// + 4 T d. The LM head costs 2 d V per scored position.
//   naive:  every mask is one full pass: L blocks, LM head on all T positions.
//   engine: one clean pass of L blocks (no LM head); a mask whose first
//           ablated layer is l starts from the cached residual and z at l: the
//           output projection and MLP in layer l, full blocks for l+1..L-1,
//           LM head on T-1 positions; the clean mask only needs the LM head.
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
