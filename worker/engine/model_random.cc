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
  // Undefined when the config has no such bias.
  torch::Tensor Bias(bool present, int64_t n) {
    return present ? Normal({n}, init_.bias_std) : torch::Tensor();
  }
  torch::Tensor LnWeight(int64_t n) {
    return Normal({n}, init_.ln_std).add_(1.0);
  }
  torch::Tensor LnBias(bool present, int64_t n) {
    return present ? Normal({n}, init_.ln_std) : torch::Tensor();
  }

 private:
  at::Generator gen_;
  RandomInit init_;
};

BlockWeights RandomBlock(const ModelConfig& c, Sampler* r) {
  const int64_t d = c.n_embd, q = c.q_width(), qkv = q + 2 * c.kv_width();
  const int64_t ff = c.d_ff(), fc = c.gated_mlp() ? 2 * ff : ff;
  const bool nb = c.norm_bias();
  BlockWeights b;
  b.ln_1_weight = r->LnWeight(d);
  b.ln_1_bias = r->LnBias(nb, d);
  b.attn_c_attn_weight = r->Weight({d, qkv});
  b.attn_c_attn_bias = r->Bias(c.qkv_bias, qkv);
  b.attn_c_proj_weight = r->Weight({q, d});
  b.attn_c_proj_bias = r->Bias(c.o_bias, d);
  b.ln_2_weight = r->LnWeight(d);
  b.ln_2_bias = r->LnBias(nb, d);
  b.mlp_c_fc_weight = r->Weight({d, fc});
  b.mlp_c_fc_bias = r->Bias(c.mlp_bias, fc);
  b.mlp_c_proj_weight = r->Weight({ff, d});
  b.mlp_c_proj_bias = r->Bias(c.mlp_bias, d);
  return b;
}

}  // namespace

ModelWeights RandomWeights(const ModelConfig& config, uint64_t seed,
                           const RandomInit& init) {
  torch::NoGradGuard no_grad;
  Sampler r(seed, init);
  const int64_t d = config.n_embd;
  ModelWeights w;
  w.config = config;
  w.wte = r.Weight({config.vocab_size, d});
  if (config.learned_positions()) w.wpe = r.Weight({config.n_positions, d});
  for (int i = 0; i < config.n_layer; ++i)
    w.blocks.push_back(RandomBlock(config, &r));
  w.ln_f_weight = r.LnWeight(d);
  w.ln_f_bias = r.LnBias(config.norm_bias(), d);
  if (!config.tie_word_embeddings) w.lm_head = r.Weight({config.vocab_size, d});
  return w;
}

}  // namespace ablate::engine
