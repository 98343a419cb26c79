// Copyright: the ablate authors.
//
// CUDA against CPU for every family (CTest label "gpu": CPU CI skips it, and
// it skips itself where LibTorch sees no CUDA device). fp32 without TF32 must
// match the CPU to fp32 rounding for all three conventions; bf16 must stay
// close to it (a sanity bound, not exactness). Shapes are small random models
// of each family with 2 x 128 tokens and a Mistral window shorter than that.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "worker/engine/model.h"
#include "worker/engine/model_random.h"

namespace ablate::engine {
namespace {

ModelConfig Small(Family family) {
  ModelConfig c;
  c.family = family;
  c.n_layer = 3;
  c.n_head = 8;
  c.n_embd = 128;
  c.n_positions = 256;
  c.vocab_size = 1000;
  c.intermediate_size = 256;
  if (family == Family::kGpt2) return c;
  c.tie_word_embeddings = family == Family::kQwen2;
  if (family == Family::kGptNeox) {
    c.activation = Activation::kGeluExact;
    c.parallel_residual = true;
    c.rope.rotary_dim = 4;
    return c;
  }
  c.n_kv_head = 2;
  c.activation = Activation::kSilu;
  c.mlp_bias = false;
  c.o_bias = false;
  c.qkv_bias = family == Family::kQwen2;
  c.rope.rotary_dim = c.d_head();
  if (family == Family::kLlama) {
    c.rope.scaling = Rope::Scaling::kLlama3;
    c.rope.factor = 8;
    c.rope.original_max_position_embeddings = 64;
  }
  if (family == Family::kMistral) c.sliding_window = 48;
  return c;
}

std::vector<HeadMask> Masks(const ModelConfig& c) {
  std::vector<HeadMask> masks = {{}};
  for (int h = 0; h < c.n_heads_total(); h += 5) masks.push_back({h});
  masks.push_back({1, 9, 17});
  return masks;
}

std::vector<double> EvalOn(const ModelWeights& w, const torch::Tensor& tokens,
                        Method method, const std::string& device, DType dtype) {
  EngineOptions o;
  o.device = device;
  o.dtype = dtype;
  auto model = Model::Create(w, o);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  auto r = (*model)->Evaluate(tokens, Masks(w.config), method);
  EXPECT_TRUE(r.ok()) << r.status();
  std::vector<double> out;
  if (r.ok())
    for (const MaskNll& m : *r) out.push_back(m.nll_sum);
  return out;
}

double MaxRel(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::abs(a[i] / b[i] - 1.0));
  return m;
}

TEST(GpuTest, CudaMatchesCpuForEveryFamily) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (Family f : {Family::kGpt2, Family::kGptNeox, Family::kLlama,
                   Family::kMistral, Family::kQwen2}) {
    const ModelConfig c = Small(f);
    const ModelWeights w = RandomWeights(c, 1, RandomInit{0.1, 0.05, 0.05});
    torch::manual_seed(2);
    const torch::Tensor tokens = torch::randint(0, c.vocab_size, {2, 128});
    for (Method m : {Method::kZero, Method::kZeroFolded, Method::kMean}) {
      const std::vector<double> cpu = EvalOn(w, tokens, m, "cpu", DType::kFloat32);
      const std::vector<double> fp32 =
          EvalOn(w, tokens, m, "cuda", DType::kFloat32);
      const std::vector<double> bf16 =
          EvalOn(w, tokens, m, "cuda", DType::kBFloat16);
      ASSERT_EQ(cpu.size(), fp32.size());
      ASSERT_EQ(cpu.size(), bf16.size());
      const double e32 = MaxRel(fp32, cpu), e16 = MaxRel(bf16, cpu);
      std::cout << FamilyName(f) << " " << MethodName(m)
                << ": max |cuda fp32 / cpu - 1| = " << e32
                << ", bf16 = " << e16 << "\n";
      EXPECT_LT(e32, 1e-5) << FamilyName(f) << " " << MethodName(m);
      EXPECT_LT(e16, 3e-2) << FamilyName(f) << " " << MethodName(m);
    }
  }
}

}  // namespace
}  // namespace ablate::engine
