// Copyright: the ablate authors.
#include "worker/engine/model_masked.h"

namespace ablate::engine::internal {
namespace {

// Copies of a cached [C, T, d] tensor for n masks: [n * C, T, d], mask-major.
torch::Tensor Tile(const torch::Tensor& t, int64_t n) {
  return t.repeat({n, 1, 1});
}

// Appends rows b to a (a may be undefined: no rows yet).
torch::Tensor Append(const torch::Tensor& a, const torch::Tensor& b) {
  return a.defined() ? torch::cat({a, b}) : b;
}

// keep [R, H] bool for layer `layer`: the first `n_active` jobs, C rows each.
// Returns an undefined tensor when no active job ablates a head in this layer.
torch::Tensor KeepMask(absl::Span<const MaskJob> jobs, int64_t n_active,
                       int layer, int n_head, int64_t C, torch::Device device) {
  torch::Tensor keep = torch::ones({n_active, n_head}, torch::kBool);
  auto acc = keep.accessor<bool, 2>();
  bool any = false;
  for (int64_t i = 0; i < n_active; ++i) {
    for (int h = 0; h < n_head; ++h) {
      if (jobs[i].ablated[static_cast<size_t>(layer) * n_head + h]) {
        acc[i][h] = false;
        any = true;
      }
    }
  }
  if (!any) return {};
  return keep.to(device).repeat_interleave(C, 0);  // [n_active * C, H]
}

}  // namespace

CleanCache CleanPass(const DeviceModel& m, const torch::Tensor& tokens) {
  CleanCache cache;
  cache.resid.push_back(Embed(m, tokens));
  for (int l = 0; l < m.config.n_layer; ++l) {
    cache.z.push_back(AttentionZ(m, l, cache.resid[l]));
    cache.resid.push_back(BlockTail(m, l, cache.resid[l], cache.z[l]));
  }
  return cache;
}

torch::Tensor BlockSums(const torch::Tensor& nll, int64_t block_tokens) {
  const int64_t n = nll.size(0), C = nll.size(1), P = nll.size(2);
  const int64_t nb = (P + block_tokens - 1) / block_tokens;
  torch::Tensor d = nll.to(torch::kDouble);
  if (nb * block_tokens != P)  // zero-pad the last block of every chunk
    d = torch::constant_pad_nd(d, {0, nb * block_tokens - P}, 0.0);
  return d.view({n, C, nb, block_tokens}).sum(3).reshape({n, C * nb}).cpu();
}

torch::Tensor RunMaskBatch(const DeviceModel& m, const CleanCache& cache,
                           const Replacements& repl,
                           absl::Span<const MaskJob> jobs,
                           const torch::Tensor& targets,
                           const LmHeadOptions& lm, int64_t block_tokens) {
  const int L = m.config.n_layer;
  const int64_t C = targets.size(0), n = static_cast<int64_t>(jobs.size());
  torch::Tensor x;  // [active * C, T, d]: rows of the masks that have started
  int64_t active = 0;
  for (int l = jobs.front().first_layer; l < L; ++l) {
    torch::Tensor z = x.defined() ? AttentionZ(m, l, x) : torch::Tensor();
    int64_t joining = 0;
    while (active + joining < n && jobs[active + joining].first_layer == l)
      ++joining;
    if (joining >
        0) {  // these masks' inputs and z at layer l are the clean ones
      x = Append(x, Tile(cache.resid[l], joining));
      z = Append(z, Tile(cache.z[l], joining));
      active += joining;
    }
    torch::Tensor keep =
        KeepMask(jobs, active, l, m.config.n_head, C, x.device());
    if (keep.defined()) z = AblateHeads(z, keep, repl[l]);
    x = BlockTail(m, l, x, z);
  }
  if (active < n)
    x = Append(x, Tile(cache.resid[L], n - active));  // clean masks
  torch::Tensor h = FinalNormPredicting(m, x);        // [n * C * (T - 1), d]
  torch::Tensor nll =
      SlicedNll(h, targets.repeat({n, 1}).reshape({-1}), m.lm_head, lm);
  return BlockSums(nll.view({n, C, -1}), block_tokens);  // [n, C * nb]
}

}  // namespace ablate::engine::internal
