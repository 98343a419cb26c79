// Copyright: the ablate authors.
#include "worker/engine/model_random.h"

#include <ATen/CPUGeneratorImpl.h>

#include <vector>

namespace ablate::engine {
namespace {

class Sampler {
 public:
  Sampler(uint64_t seed, const RandomInit& init)
      : gen_(at::detail::createCPUGenerator(seed)), init_(init) {}

  torch::Tensor Normal(std::vector<int64_t> shape, double std) {
    return torch::randn(shape, gen_, torch::kFloat).mul_(std);
  }
  torch::Tensor Weight(std::vector<int64_t> shape) {
    return Normal(shape, init_.weight_std);
  }
  torch::Tensor Bias(int64_t n) { return Normal({n}, init_.bias_std); }
  torch::Tensor LnWeight(int64_t n) {
    return Normal({n}, init_.ln_std).add_(1.0);
  }
  torch::Tensor LnBias(int64_t n) { return Normal({n}, init_.ln_std); }

 private:
  at::Generator gen_;
  RandomInit init_;
};

}  // namespace

ModelWeights RandomWeights(const ModelConfig& config, uint64_t seed,
                          const RandomInit& init) {
  torch::NoGradGuard no_grad;
  Sampler r(seed, init);
  const int64_t d = config.n_embd;
  ModelWeights w;
  w.config = config;
  w.wte = r.Weight({config.vocab_size, d});
  w.wpe = r.Weight({config.n_positions, d});
  for (int i = 0; i < config.n_layer; ++i) {
    BlockWeights b;
    b.ln_1_weight = r.LnWeight(d);
    b.ln_1_bias = r.LnBias(d);
    b.attn_c_attn_weight = r.Weight({d, 3 * d});
    b.attn_c_attn_bias = r.Bias(3 * d);
    b.attn_c_proj_weight = r.Weight({d, d});
    b.attn_c_proj_bias = r.Bias(d);
    b.ln_2_weight = r.LnWeight(d);
    b.ln_2_bias = r.LnBias(d);
    b.mlp_c_fc_weight = r.Weight({d, 4 * d});
    b.mlp_c_fc_bias = r.Bias(4 * d);
    b.mlp_c_proj_weight = r.Weight({4 * d, d});
    b.mlp_c_proj_bias = r.Bias(d);
    w.blocks.push_back(std::move(b));
  }
  w.ln_f_weight = r.LnWeight(d);
  w.ln_f_bias = r.LnBias(d);
  return w;
}

}  // namespace ablate::engine
