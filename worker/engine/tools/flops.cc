// Copyright: the ablate authors.
#include "worker/engine/tools/flops.h"

#include <algorithm>

namespace ablate::engine::bench {

SweepFlops CountFlops(const ModelConfig& c, int64_t n_chunks, int64_t seq_len,
                      const std::vector<HeadMask>& masks) {
  const double d = c.n_embd, T = static_cast<double>(seq_len), V = c.vocab_size;
  const double tokens = static_cast<double>(n_chunks) * T;
  const double block =
      tokens * (24 * d * d + 4 * T * d);    // one layer, all chunks
  const double tail = tokens * 18 * d * d;  // c_proj + MLP only
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
