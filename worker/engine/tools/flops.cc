// Copyright: the ablate authors.
#include "worker/engine/tools/flops.h"

#include <algorithm>

namespace ablate::engine::bench {

SweepFlops CountFlops(const ModelConfig& c, int64_t n_chunks, int64_t seq_len,
                      const std::vector<HeadMask>& masks) {
  const double d = c.n_embd, q = c.q_width(), kv = c.kv_width();
  const double ff = c.d_ff(), fc = c.gated_mlp() ? 2 * ff : ff;
  const double T = static_cast<double>(seq_len), V = c.vocab_size;
  const double tokens = static_cast<double>(n_chunks) * T;
  const double tail_per_token = 2 * q * d + 2 * d * fc + 2 * ff * d;
  const double block = tokens * (2 * d * (q + 2 * kv) + 4 * T * q +
                                 tail_per_token);  // one layer, all chunks
  const double tail = tokens * tail_per_token;     // output projection + MLP
  const double head =
      static_cast<double>(n_chunks) * 2 * d * V;  // per scored position
  SweepFlops f;
  f.engine = c.n_layer * block;  // the clean pass
  for (const HeadMask& m : masks) {
    int first = c.n_layer;
    for (int h : m) first = std::min(first, h / c.n_head);
    if (first < c.n_layer) f.engine += tail + (c.n_layer - 1 - first) * block;
    f.engine += head * (T - 1);
    f.naive += c.n_layer * block + head * T;
  }
  return f;
}

}  // namespace ablate::engine::bench
