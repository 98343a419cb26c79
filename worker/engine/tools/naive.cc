// Copyright: the ablate authors.
#include "worker/engine/tools/naive.h"

namespace ablate::engine::bench {
namespace {

// One full forward pass with `mask` zero-ablated: NLL sum over all chunks.
double NaiveNll(const internal::DeviceModel& m, const torch::Tensor& chunks,
                const HeadMask& mask) {
  const ModelConfig& c = m.config;
  const int64_t N = chunks.size(0), T = chunks.size(1);
  torch::Tensor keep = torch::ones({c.n_layer, c.n_head}, torch::kBool);
  std::vector<bool> touched(c.n_layer, false);
  for (int h : mask) {
    keep[h / c.n_head][h % c.n_head] = false;
    touched[h / c.n_head] = true;
  }
  keep = keep.to(chunks.device());
  const torch::Tensor zero =
      torch::zeros({c.n_head, c.d_head()}, m.wte.options());
  torch::Tensor x = internal::Embed(m, chunks);  // [N, T, d]
  for (int l = 0; l < c.n_layer; ++l) {
    torch::Tensor z = internal::AttentionZ(m, l, x);
    if (touched[l])
      z = internal::AblateHeads(z, keep[l].expand({N, c.n_head}), zero);
    x = internal::BlockTail(m, l, x, z);
  }
  torch::Tensor h = internal::FinalNormPredicting(m, x);  // [N * (T - 1), d]
  torch::Tensor logp = torch::log_softmax(
      torch::matmul(h, m.lm_head.t()).to(torch::kFloat), -1);
  torch::Tensor next = chunks.slice(1, 1, T).reshape({-1, 1});
  return -logp.gather(-1, next).to(torch::kDouble).sum().item<double>();
}

}  // namespace

std::vector<double> NaiveZeroSweep(const internal::DeviceModel& m,
                                   const torch::Tensor& chunks,
                                   const std::vector<HeadMask>& masks) {
  c10::InferenceMode guard;
  std::vector<double> out;
  for (const HeadMask& mask : masks) out.push_back(NaiveNll(m, chunks, mask));
  return out;
}

}  // namespace ablate::engine::bench
