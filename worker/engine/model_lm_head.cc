// Copyright: the ablate authors.
#include "worker/engine/model_lm_head.h"

#include <algorithm>
#include <limits>

namespace ablate::engine::internal {
namespace {

// NLL of one block of positions: h [P, d], targets [P] -> [P] float32.
torch::Tensor BlockNll(const torch::Tensor& h, const torch::Tensor& targets,
                       const torch::Tensor& wte, int64_t vocab_slice) {
  const int64_t P = h.size(0), V = wte.size(0);
  auto f32 = torch::dtype(torch::kFloat).device(h.device());
  torch::Tensor m =
      torch::full({P}, -std::numeric_limits<float>::infinity(), f32);  // max
  torch::Tensor s = torch::zeros({P}, f32);       // sum of exp(logit - m)
  torch::Tensor target = torch::zeros({P}, f32);  // logit of the target token
  for (int64_t lo = 0; lo < V; lo += vocab_slice) {
    const int64_t width = std::min(vocab_slice, V - lo);
    // [P, width] logits of this slice, in float32.
    torch::Tensor logits =
        torch::matmul(h, wte.slice(0, lo, lo + width).t()).to(torch::kFloat);
    torch::Tensor local = targets - lo;
    torch::Tensor here = local.ge(0).logical_and_(local.lt(width));
    torch::Tensor picked =
        logits.gather(1, local.clamp(0, width - 1).unsqueeze(1)).squeeze(1);
    target = torch::where(here, picked, target);
    torch::Tensor new_m = torch::maximum(m, std::get<0>(logits.max(1)));
    torch::Tensor slice_sum = logits.sub_(new_m.unsqueeze(1)).exp_().sum(1);
    s = s.mul_((m - new_m).exp_()).add_(slice_sum);
    m = new_m;
  }
  return s.log_().add_(m).sub_(target);  // logsumexp - target logit
}

}  // namespace

torch::Tensor SlicedNll(const torch::Tensor& h, const torch::Tensor& targets,
                        const torch::Tensor& wte,
                        const LmHeadOptions& options) {
  const int64_t N = h.size(0);
  const int64_t block = std::max<int64_t>(1, options.max_positions);
  const int64_t slice = std::max<int64_t>(1, options.vocab_slice);
  std::vector<torch::Tensor> parts;
  for (int64_t lo = 0; lo < N; lo += block) {
    const int64_t hi = std::min(N, lo + block);
    parts.push_back(
        BlockNll(h.slice(0, lo, hi), targets.slice(0, lo, hi), wte, slice));
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts);
}

}  // namespace ablate::engine::internal
