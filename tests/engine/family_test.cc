// Copyright: the ablate authors.
//
// Model::Evaluate for every family (GPT-NeoX with parallel and sequential
// residual, Llama with grouped-query attention, biases and llama3 / linear
// rope scaling, Mistral with a sliding window shorter than the chunks, Qwen2
// with q/k/v biases and a tied head) against the independent plain forward
// pass of plain_model.h, under all three conventions, single- and multi-head
// masks; Model::Attribute for every family against finite differences of that
// plain forward; and grouped-query attention against the same model expanded
// to full multi-head attention.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "tests/engine/plain_model.h"
#include "worker/engine/config.h"
#include "worker/engine/model.h"
#include "worker/engine/model_random.h"

namespace ablate::engine {
namespace {

constexpr int kVocab = 97, kChunks = 2, kSeq = 13;

ModelConfig Base(Family family) {
  ModelConfig c;
  c.family = family;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_embd = 24;
  c.n_positions = 32;
  c.vocab_size = kVocab;
  c.head_dim = 0;
  c.intermediate_size = 40;
  return c;
}

ModelConfig NeoxConfig(bool parallel) {
  ModelConfig c = Base(Family::kGptNeox);
  c.activation = Activation::kGeluExact;
  c.tie_word_embeddings = false;
  c.parallel_residual = parallel;
  c.rope.rotary_dim = 2;  // partial: 2 of d_head 6
  c.rope.theta = 10000;
  return c;
}

ModelConfig LlamaLike(Family family) {
  ModelConfig c = Base(family);
  c.activation = Activation::kSilu;
  c.mlp_bias = false;
  c.qkv_bias = c.o_bias = false;
  c.tie_word_embeddings = false;
  c.layer_norm_epsilon = 1e-6;
  c.rope.rotary_dim = c.d_head();
  return c;
}

// The golden cases: name -> config.
std::vector<std::pair<std::string, ModelConfig>> Cases() {
  std::vector<std::pair<std::string, ModelConfig>> out;
  out.push_back({"neox_parallel", NeoxConfig(true)});
  ModelConfig seq = NeoxConfig(false);
  seq.rope.rotary_dim = 6;  // full rotary, sequential residual
  out.push_back({"neox_sequential", seq});
  ModelConfig llama = LlamaLike(Family::kLlama);
  llama.n_kv_head = 2;
  llama.head_dim = 8;  // != n_embd / n_head
  llama.rope.rotary_dim = 8;
  llama.qkv_bias = llama.o_bias = true;  // attention_bias: true
  llama.rope.theta = 500000;
  llama.rope.scaling = Rope::Scaling::kLlama3;
  llama.rope.factor = 8;
  llama.rope.low_freq_factor = 1;
  llama.rope.high_freq_factor = 4;
  llama.rope.original_max_position_embeddings = 256;  // all three bands
  out.push_back({"llama_gqa_llama3", llama});
  ModelConfig linear = LlamaLike(Family::kLlama);
  linear.n_kv_head = 1;  // multi-query
  linear.rope.scaling = Rope::Scaling::kLinear;
  linear.rope.factor = 4;
  linear.tie_word_embeddings = true;
  out.push_back({"llama_mqa_linear_tied", linear});
  ModelConfig mistral = LlamaLike(Family::kMistral);
  mistral.n_kv_head = 2;
  mistral.sliding_window = 4;  // < kSeq
  out.push_back({"mistral_window", mistral});
  ModelConfig qwen = LlamaLike(Family::kQwen2);
  qwen.n_kv_head = 2;
  qwen.qkv_bias = true;
  qwen.tie_word_embeddings = true;
  qwen.rope.theta = 1e6;
  out.push_back({"qwen2", qwen});
  return out;
}

std::vector<HeadMask> Masks() {
  std::vector<HeadMask> masks = {{}, {0, 5}, {7, 2}, {1, 2, 3}, {4, 5, 6, 7}};
  for (int h = 7; h >= 0; --h) masks.push_back({h});
  masks.push_back({0, 1, 2, 3, 4, 5, 6, 7});
  return masks;
}

double Ppl(double nll) { return std::exp(nll / (kChunks * (kSeq - 1))); }

class FamilyGolden
    : public ::testing::TestWithParam<std::pair<std::string, ModelConfig>> {};

TEST_P(FamilyGolden, MatchesPlainForwardForEveryMethodAndMask) {
  const ModelConfig& c = GetParam().second;
  ASSERT_TRUE(ValidateModelConfig(c).ok()) << ValidateModelConfig(c);
  const ModelWeights w = RandomWeights(c, 11, RandomInit{0.4, 0.3, 0.1});
  torch::manual_seed(3);
  const torch::Tensor tokens = torch::randint(0, kVocab, {kChunks, kSeq});
  const std::vector<torch::Tensor> means = plain::Means(w, tokens);
  const std::vector<HeadMask> masks = Masks();
  EngineOptions opt;
  opt.max_batch_rows = 5;  // several batches, masks joining at both layers
  opt.vocab_slice = 40;    // three vocabulary slices, the last one short
  auto model = Model::Create(w, opt);
  ASSERT_TRUE(model.ok()) << model.status();
  double max_err = 0;
  for (Method method : {Method::kZero, Method::kZeroFolded, Method::kMean}) {
    auto got = (*model)->Evaluate(tokens, masks, method);
    ASSERT_TRUE(got.ok()) << got.status();
    const double base = plain::Nll(w, tokens, {}, method, means);
    for (size_t i = 0; i < masks.size(); ++i) {
      const double ref = plain::Nll(
          w, tokens, {masks[i].begin(), masks[i].end()}, method, means);
      const double err = std::abs(Ppl((*got)[i].nll_sum) / Ppl(ref) - 1.0);
      EXPECT_LT(err, 1e-5) << MethodName(method) << " mask " << i;
      if (!masks[i].empty()) {  // the test can fail: effects dwarf the error
        const double effect = std::abs(Ppl(ref) / Ppl(base) - 1.0);
        EXPECT_LT(err, 0.01 * effect) << MethodName(method) << " mask " << i;
      }
      max_err = std::max(max_err, err);
    }
  }
  std::cout << GetParam().first << ": max |ppl/ref - 1| = " << max_err << "\n";
}

INSTANTIATE_TEST_SUITE_P(
    Families, FamilyGolden, ::testing::ValuesIn(Cases()),
    [](const auto& info) { return info.param.first; });

// Attribution on every family: each head's first-order estimate equals the
// derivative of the plain forward's NLL along z_h := z_h + t (r_h - z_h) at
// t = 0, by central finite differences (float64, independent of the engine's
// autograd path).
class FamilyAttribution
    : public ::testing::TestWithParam<std::pair<std::string, ModelConfig>> {};

TEST_P(FamilyAttribution, EstimatesMatchFiniteDifferencesOfThePlainForward) {
  const ModelConfig& c = GetParam().second;
  const ModelWeights w = RandomWeights(c, 11, RandomInit{0.4, 0.3, 0.1});
  torch::manual_seed(3);
  const torch::Tensor tokens = torch::randint(0, kVocab, {kChunks, kSeq});
  const std::vector<torch::Tensor> means = plain::Means(w, tokens);
  EngineOptions opt;
  opt.vocab_slice = 40;
  auto model = Model::Create(w, opt);
  ASSERT_TRUE(model.ok()) << model.status();
  for (Method method : {Method::kZero, Method::kZeroFolded, Method::kMean}) {
    auto got = (*model)->Attribute(tokens, method);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->estimates.size(), static_cast<size_t>(c.n_heads_total()));
    double largest = 0;
    for (double e : got->estimates) largest = std::max(largest, std::abs(e));
    const double tol = 1e-4 * std::max(1.0, largest), step = 1e-4;
    for (int h = 0; h < c.n_heads_total(); ++h) {
      const double fd = (plain::Nll(w, tokens, {h}, method, means, nullptr, step) -
                         plain::Nll(w, tokens, {h}, method, means, nullptr, -step)) /
                        (2 * step);
      EXPECT_NEAR(got->estimates[h], fd, tol) << MethodName(method) << " head " << h;
    }
    EXPECT_GT(largest, 100 * tol);  // the test can fail: estimates far from 0
  }
}

INSTANTIATE_TEST_SUITE_P(
    Families, FamilyAttribution, ::testing::ValuesIn(Cases()),
    [](const auto& info) { return info.param.first; });

// zero_folded without a value bias is zero, exactly.
TEST(FamilyConventions, ZeroFoldedWithoutValueBiasIsZero) {
  ModelConfig c = LlamaLike(Family::kMistral);
  const ModelWeights w = RandomWeights(c, 5, RandomInit{0.4, 0.3, 0.1});
  auto model = Model::Create(w, EngineOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  torch::manual_seed(4);
  const torch::Tensor tokens = torch::randint(0, kVocab, {kChunks, kSeq});
  auto zero = (*model)->Evaluate(tokens, Masks(), Method::kZero);
  auto folded = (*model)->Evaluate(tokens, Masks(), Method::kZeroFolded);
  ASSERT_TRUE(zero.ok() && folded.ok());
  for (size_t i = 0; i < zero->size(); ++i)
    EXPECT_EQ((*zero)[i].nll_sum, (*folded)[i].nll_sum) << i;
}

// A grouped-query model equals the same model with every kv head repeated for
// the query heads that read it (full multi-head attention).
ModelWeights ExpandKv(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  const int64_t H = c.n_head, KV = c.kv_heads(), dh = c.d_head(), q = c.q_width();
  ModelWeights out = w;
  out.config.n_kv_head = static_cast<int>(H);
  std::vector<int64_t> cols;
  for (int64_t j = 0; j < q; ++j) cols.push_back(j);
  for (int part = 0; part < 2; ++part) {  // K then V
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / (H / KV);
      for (int64_t j = 0; j < dh; ++j) cols.push_back(q + part * KV * dh + g * dh + j);
    }
  }
  const torch::Tensor idx = torch::tensor(cols, torch::kLong);
  for (BlockWeights& b : out.blocks) {
    b.attn_c_attn_weight = b.attn_c_attn_weight.index_select(1, idx);
    if (b.attn_c_attn_bias.defined())
      b.attn_c_attn_bias = b.attn_c_attn_bias.index_select(0, idx);
  }
  return out;
}

TEST(FamilyGqa, EqualsExpandedMultiHeadAttention) {
  for (const auto& [name, c] : Cases()) {
    if (c.kv_heads() == c.n_head) continue;
    const ModelWeights w = RandomWeights(c, 9, RandomInit{0.4, 0.3, 0.1});
    const ModelWeights full = ExpandKv(w);
    auto gqa = Model::Create(w, EngineOptions{});
    auto mha = Model::Create(full, EngineOptions{});
    ASSERT_TRUE(gqa.ok() && mha.ok()) << name;
    torch::manual_seed(6);
    const torch::Tensor tokens = torch::randint(0, kVocab, {kChunks, kSeq});
    for (Method method : {Method::kZero, Method::kZeroFolded, Method::kMean}) {
      auto a = (*gqa)->Evaluate(tokens, Masks(), method);
      auto b = (*mha)->Evaluate(tokens, Masks(), method);
      ASSERT_TRUE(a.ok() && b.ok()) << name;
      for (size_t i = 0; i < a->size(); ++i) {
        EXPECT_NEAR((*a)[i].nll_sum / (*b)[i].nll_sum, 1.0, 1e-6)
            << name << " " << MethodName(method) << " mask " << i;
      }
    }
  }
}

// A sliding window at least as long as the chunks changes nothing; a shorter
// one does.
TEST(FamilyWindow, OnlyMattersBeyondTheWindow) {
  ModelConfig c = LlamaLike(Family::kMistral);
  const ModelWeights w = RandomWeights(c, 8, RandomInit{0.4, 0.3, 0.1});
  torch::manual_seed(7);
  const torch::Tensor tokens = torch::randint(0, kVocab, {kChunks, kSeq});
  auto nll = [&](int window) {
    ModelWeights v = w;
    v.config.sliding_window = window;
    auto m = Model::Create(v, EngineOptions{});
    EXPECT_TRUE(m.ok());
    return (*(*m)->Evaluate(tokens, {{}}, Method::kZero))[0].nll_sum;
  };
  EXPECT_EQ(nll(0), nll(kSeq));
  EXPECT_EQ(nll(0), nll(100));
  // kSeq - 1 would only change the last position, which predicts nothing.
  EXPECT_GT(std::abs(nll(kSeq - 2) / nll(0) - 1.0), 1e-5);
}

}  // namespace
}  // namespace ablate::engine
