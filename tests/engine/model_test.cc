// Copyright: the ablate authors.
//
// Model::Evaluate against (1) an independent plain implementation written here,
// one full float64 forward pass per mask with no batching, sharing or slicing;
// (2) closed-form values of the hand-built copy model (copy_model.h); (3) its
// input errors.
#include "worker/engine/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <set>
#include <vector>

#include "tests/engine/copy_model.h"
#include "worker/engine/model_random.h"

namespace ablate::engine {
namespace {

// ---- The plain reference
// ----------------------------------------------------------------

torch::Tensor D(const torch::Tensor& t) { return t.to(torch::kDouble); }

torch::Tensor PlainLayerNorm(const torch::Tensor& x, const torch::Tensor& g,
                             const torch::Tensor& b, double eps) {
  torch::Tensor mean = x.mean(-1, true);
  torch::Tensor var = (x - mean).pow(2).mean(-1, true);
  return (x - mean) / torch::sqrt(var + eps) * D(g) + D(b);
}

torch::Tensor PlainGelu(const torch::Tensor& x) {
  return 0.5 * x *
         (1 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
}

// Replaces z [N, H, T, dh] of the heads of layer l that are in `mask`.
void PlainAblate(const BlockWeights& b, int l, const std::set<int>& mask,
                 Method method, const std::vector<torch::Tensor>& means,
                 torch::Tensor* z) {
  const int64_t N = z->size(0), H = z->size(1), T = z->size(2);
  const int64_t dh = z->size(3), d = H * dh;
  for (int head = 0; head < H; ++head) {
    if (!mask.count(l * H + head)) continue;
    torch::Tensor bias_v =
        D(b.attn_c_attn_bias)
            .slice(0, 2 * d + head * dh, 2 * d + (head + 1) * dh);
    torch::Tensor zh = z->select(1, head);  // [N, T, dh]
    if (method == Method::kZero) zh.zero_();
    if (method == Method::kZeroFolded) zh.copy_(bias_v.expand({N, T, dh}));
    if (method == Method::kMean) zh.copy_(D(means[l][head]).expand({N, T, dh}));
  }
}

// One forward pass with the heads in `mask` ablated. means[l]: [H, dh] clean
// means (for kMean). If z_out is given, it receives each layer's z [N, H, T,
// dh]. Returns the NLL sum.
double PlainNll(const ModelWeights& w, const torch::Tensor& tokens,
                const std::set<int>& mask, Method method,
                const std::vector<torch::Tensor>& means,
                std::vector<torch::Tensor>* z_out = nullptr,
                torch::Tensor* per_position = nullptr) {
  const ModelConfig& c = w.config;
  const int64_t N = tokens.size(0), T = tokens.size(1), d = c.n_embd,
                H = c.n_head;
  const int64_t dh = d / H;
  torch::Tensor x =
      D(w.wte).index({tokens}) + D(w.wpe).slice(0, 0, T);  // [N, T, d]
  torch::Tensor causal = torch::ones({T, T}, torch::kBool).tril();
  for (int l = 0; l < c.n_layer; ++l) {
    const BlockWeights& b = w.blocks[l];
    torch::Tensor h =
        PlainLayerNorm(x, b.ln_1_weight, b.ln_1_bias, c.layer_norm_epsilon);
    torch::Tensor qkv =
        torch::matmul(h, D(b.attn_c_attn_weight)) + D(b.attn_c_attn_bias);
    auto heads = [&](int i) {  // [N, H, T, dh]
      return qkv.slice(2, i * d, (i + 1) * d)
          .reshape({N, T, H, dh})
          .permute({0, 2, 1, 3});
    };
    torch::Tensor att =
        torch::matmul(heads(0), heads(1).transpose(2, 3)) / std::sqrt(dh * 1.0);
    att = torch::softmax(att.masked_fill(causal.logical_not(), -INFINITY), -1);
    torch::Tensor z = torch::matmul(att, heads(2));  // [N, H, T, dh]
    if (z_out) z_out->push_back(z);
    PlainAblate(b, l, mask, method, means, &z);
    z = z.permute({0, 2, 1, 3}).reshape({N, T, d});
    x = x + torch::matmul(z, D(b.attn_c_proj_weight)) + D(b.attn_c_proj_bias);
    h = PlainLayerNorm(x, b.ln_2_weight, b.ln_2_bias, c.layer_norm_epsilon);
    h = PlainGelu(torch::matmul(h, D(b.mlp_c_fc_weight)) + D(b.mlp_c_fc_bias));
    x = x + torch::matmul(h, D(b.mlp_c_proj_weight)) + D(b.mlp_c_proj_bias);
  }
  x = PlainLayerNorm(x, w.ln_f_weight, w.ln_f_bias, c.layer_norm_epsilon);
  torch::Tensor logp =
      torch::log_softmax(torch::matmul(x, D(w.wte).t()), -1);  // [N, T, V]
  torch::Tensor next = tokens.slice(1, 1, T).unsqueeze(-1);
  torch::Tensor nll = -logp.slice(1, 0, T - 1).gather(-1, next).squeeze(-1);
  if (per_position) *per_position = nll;  // [N, T - 1]
  return nll.sum().item<double>();
}

std::vector<torch::Tensor> PlainMeans(const ModelWeights& w,
                                      const torch::Tensor& tokens) {
  std::vector<torch::Tensor> zs, means;
  PlainNll(w, tokens, {}, Method::kZero, {}, &zs);
  for (const torch::Tensor& z : zs)
    means.push_back(z.mean(std::vector<int64_t>{0, 2}));  // [H, dh]
  return means;
}

// ---- Golden test
// ------------------------------------------------------------------------

ModelConfig SmallConfig() { return ModelConfig{3, 4, 32, 24, 300, 1e-5}; }

ModelWeights SmallWeights() {
  // Large enough weights that every head matters; LayerNorm parameters not
  // trivial.
  return RandomWeights(SmallConfig(), 7, RandomInit{0.5, 0.1, 0.1});
}

std::vector<HeadMask> GoldenMasks() {
  std::vector<HeadMask> masks = {{},        {0, 5},     {11, 4},
                                 {1, 2, 3}, {4, 9, 10}, {10, 6, 2}};
  for (int h = 11; h >= 0; --h)
    masks.push_back({h});  // singles, layers in descending order
  HeadMask all;
  for (int h = 0; h < 12; ++h) all.push_back(h);
  masks.push_back(all);
  return masks;
}

double Ppl(double nll, int64_t n) {
  return std::exp(nll / static_cast<double>(n));
}

struct GoldenCase {
  int64_t max_batch_rows;
  int64_t vocab_slice;
};

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

// Plain NLL of every golden mask under every method (index: method - 1),
// computed once.
struct GoldenData {
  ModelWeights weights = SmallWeights();
  torch::Tensor tokens;
  std::vector<HeadMask> masks = GoldenMasks();
  std::vector<double> plain[3];
};

const GoldenData& Golden() {
  static const GoldenData* data = [] {
    auto* g = new GoldenData;
    torch::manual_seed(1);
    g->tokens = torch::randint(0, 300, {3, 17}, torch::kLong);
    const std::vector<torch::Tensor> means = PlainMeans(g->weights, g->tokens);
    for (Method method : {Method::kZero, Method::kZeroFolded, Method::kMean}) {
      for (const HeadMask& m : g->masks) {
        g->plain[static_cast<int>(method) - 1].push_back(PlainNll(
            g->weights, g->tokens, {m.begin(), m.end()}, method, means));
      }
    }
    return g;
  }();
  return *data;
}

TEST_P(GoldenTest, MatchesPlainForwardForEveryMethodAndMask) {
  const GoldenData& g = Golden();
  EngineOptions opt;
  opt.max_batch_rows = GetParam().max_batch_rows;
  opt.vocab_slice = GetParam().vocab_slice;
  auto model = Model::Create(g.weights, opt);
  ASSERT_TRUE(model.ok()) << model.status();
  double max_err = 0, min_effect = 1e9;
  for (Method method : {Method::kZero, Method::kZeroFolded, Method::kMean}) {
    auto got = (*model)->Evaluate(g.tokens, g.masks, method);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), g.masks.size());
    const std::vector<double>& plain = g.plain[static_cast<int>(method) - 1];
    for (size_t i = 0; i < g.masks.size(); ++i) {
      EXPECT_EQ((*got)[i].n_tokens, 3 * 16);
      const double ppl = Ppl((*got)[i].nll_sum, 48), ref = Ppl(plain[i], 48);
      const double err = std::abs(ppl / ref - 1.0);
      EXPECT_LT(err, 1e-5) << MethodName(method) << " mask " << i;
      if (g.masks[i].empty()) continue;
      // The test can fail: the engine's error is far below the mask's effect on
      // the PPL.
      const double effect = std::abs(ref / Ppl(plain[0], 48) - 1.0);
      EXPECT_LT(err, 0.01 * effect) << MethodName(method) << " mask " << i;
      max_err = std::max(max_err, err);
      min_effect = std::min(min_effect, effect);
    }
  }
  std::cout << "max |ppl/ref - 1| = " << max_err
            << ", min mask effect = " << min_effect << "\n";
}

INSTANTIATE_TEST_SUITE_P(
    Batching, GoldenTest,
    ::testing::Values(GoldenCase{0, 8192},   // auto: one batch, one slice
                      GoldenCase{7, 64},     // 2 masks a batch, 5 slices
                      GoldenCase{2, 100},    // 2 chunk blocks, 3 slices
                      GoldenCase{1, 299}));  // one row a batch

TEST(ModelGolden, MethodsDifferAndProgressIsReported) {
  auto model = Model::Create(SmallWeights(), EngineOptions{});
  ASSERT_TRUE(model.ok());
  torch::manual_seed(2);
  const torch::Tensor tokens = torch::randint(0, 300, {2, 9}, torch::kLong);
  std::vector<std::pair<int64_t, int64_t>> calls;
  auto zero = (*model)->Evaluate(tokens, {{5}}, Method::kZero);
  auto folded = (*model)->Evaluate(tokens, {{5}}, Method::kZeroFolded);
  auto mean = (*model)->Evaluate(
      tokens, {{5}, {}}, Method::kMean,
      EvalOptions{kDefaultBlockTokens, [&](int64_t done, int64_t total) {
                    calls.push_back({done, total});
                  }});
  ASSERT_TRUE(zero.ok() && folded.ok() && mean.ok());
  EXPECT_NE((*zero)[0].nll_sum, (*folded)[0].nll_sum);
  EXPECT_NE((*zero)[0].nll_sum, (*mean)[0].nll_sum);
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), std::make_pair(int64_t{2}, int64_t{2}));
}

// Per-block NLL: blocks of 5 scored tokens inside each chunk (16 scored
// tokens: 5, 5, 5, 1), compared with the plain per-position NLL summed here.
TEST(BlockWeightss, BlockSumsMatchPlainPerPositionNll) {
  const GoldenData& g = Golden();
  EngineOptions opt;
  opt.max_batch_rows = 2;  // two chunk blocks: blocks must land in place
  auto model = Model::Create(g.weights, opt);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<torch::Tensor> means = PlainMeans(g.weights, g.tokens);
  EXPECT_EQ(BlockTokens(3, 17, 5),
            (std::vector<int64_t>{5, 5, 5, 1, 5, 5, 5, 1, 5, 5, 5, 1}));
  for (Method method : {Method::kZero, Method::kMean}) {
    auto got = (*model)->Evaluate(g.tokens, g.masks, method, EvalOptions{5});
    ASSERT_TRUE(got.ok()) << got.status();
    for (size_t i = 0; i < g.masks.size(); ++i) {
      torch::Tensor pos;
      PlainNll(g.weights, g.tokens, {g.masks[i].begin(), g.masks[i].end()},
               method, means, nullptr, &pos);
      const std::vector<double>& b = (*got)[i].block_nll;
      ASSERT_EQ(b.size(), 12u);
      double sum = 0;
      for (int c = 0; c < 3; ++c) {
        for (int k = 0; k < 4; ++k) {
          const double ref =
              pos[c].slice(0, 5 * k, std::min(16, 5 * k + 5)).sum().item<double>();
          EXPECT_NEAR(b[c * 4 + k], ref, 1e-4 * std::max(1.0, std::abs(ref)))
              << MethodName(method) << " mask " << i << " chunk " << c
              << " block " << k;
        }
      }
      for (double x : b) sum += x;
      EXPECT_EQ(sum, (*got)[i].nll_sum);  // totals are exactly the blocks' sum
    }
  }
  EXPECT_FALSE(
      (*model)->Evaluate(g.tokens, {{}}, Method::kZero, EvalOptions{0}).ok());
}

// ---- Closed form
// ------------------------------------------------------------------------

using copy_model::AblatedPplClosedForm;
using copy_model::CleanPplClosedForm;
using copy_model::ClosedFormNll;
using copy_model::kCopyVocab;
using copy_model::kGamma;

// Copy head replaced by its mean z: gamma times the frequency of each copied
// token.
double MeanAblatedPpl(const torch::Tensor& chunks) {
  const int64_t n = chunks.size(0), T = chunks.size(1);
  std::vector<double> freq(kCopyVocab, 0.0);
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t i = 0; i < T; ++i)
      freq[chunks[c][i == 0 ? 0 : i - 1].item<int64_t>()] += 1.0 / (n * T);
  }
  double nll = 0;
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t i = 0; i + 1 < T; ++i) {
      std::vector<double> tok(kCopyVocab);
      for (int v = 0; v < kCopyVocab; ++v) tok[v] = kGamma * freq[v];
      tok[chunks[c][i].item<int64_t>()] += 1.0;
      nll += ClosedFormNll(tok,
                           static_cast<int>(chunks[c][i + 1].item<int64_t>()));
    }
  }
  return std::exp(nll / (n * (T - 1)));
}

TEST(ModelClosedForm, CopyHeadMattersOthersDoNot) {
  EngineOptions opt;
  opt.max_batch_rows = 6;
  opt.vocab_slice = 5;
  auto model = Model::Create(copy_model::CopyModelWeights(), opt);
  ASSERT_TRUE(model.ok()) << model.status();
  const torch::Tensor chunks = copy_model::AlternatingChunks(3, 16);
  std::vector<HeadMask> masks = {{}};
  for (int h = 0; h < 8; ++h) masks.push_back({h});
  const double clean = CleanPplClosedForm(16);
  for (Method method : {Method::kZero, Method::kZeroFolded, Method::kMean}) {
    auto got = (*model)->Evaluate(chunks, masks, method);
    ASSERT_TRUE(got.ok()) << got.status();
    std::vector<double> ppl;
    for (const MaskNll& r : *got) ppl.push_back(Ppl(r.nll_sum, r.n_tokens));
    EXPECT_NEAR(ppl[0] / clean, 1.0, 1e-5);
    const double ablated = method == Method::kMean ? MeanAblatedPpl(chunks)
                                                   : AblatedPplClosedForm();
    EXPECT_NEAR(ppl[1] / ablated, 1.0, 1e-5) << MethodName(method);
    EXPECT_GT(ppl[1] - ppl[0], 1.0);  // a large effect, so the test can fail
    for (size_t i = 2; i < masks.size(); ++i)
      EXPECT_NEAR(ppl[i] / ppl[0], 1.0, 1e-7) << i;
  }
}

// ---- Errors
// -----------------------------------------------------------------------------

TEST(ModelErrors, CreateRejectsBadDeviceDtypeAndWeights) {
  auto create = [](const std::string& device, DType dtype) {
    EngineOptions opt;
    opt.device = device;
    opt.dtype = dtype;
    return Model::Create(SmallWeights(), opt).status();
  };
  EXPECT_EQ(create("gpu", DType::kFloat32).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(create("cuda:x", DType::kFloat32).code(),
            absl::StatusCode::kInvalidArgument);
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(create("cuda", DType::kFloat32).code(),
              absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(create("cuda:99", DType::kFloat32).code(),
            absl::StatusCode::kUnavailable);
  absl::Status fp16 = create("cpu", DType::kFloat16);
  EXPECT_EQ(fp16.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(fp16.message().find("fp16"), std::string::npos) << fp16;
  EXPECT_FALSE(create("cpu", DType::kBFloat16).ok());
  ModelWeights bad = SmallWeights();
  bad.blocks[1].attn_c_attn_weight = torch::zeros({32, 95});
  absl::Status s = Model::Create(bad, EngineOptions{}).status();
  EXPECT_NE(s.message().find("h.1.attn.c_attn.weight"), std::string::npos) << s;
}

TEST(ModelErrors, EvaluateRejectsBadTokensHeadsAndLengths) {
  auto model = Model::Create(SmallWeights(), EngineOptions{});
  ASSERT_TRUE(model.ok());
  auto eval = [&](const torch::Tensor& chunks, const HeadMask& mask) {
    return (*model)->Evaluate(chunks, {mask}, Method::kZero).status();
  };
  const torch::Tensor ok = torch::zeros({2, 8}, torch::kLong);
  EXPECT_TRUE(eval(ok, {0, 11}).ok());
  absl::Status s = eval(ok.clone().index_put_({0, 3}, 300), {});
  EXPECT_NE(s.message().find("token id 300"), std::string::npos) << s;
  EXPECT_FALSE(eval(ok.clone().index_put_({1, 0}, -1), {}).ok());
  s = eval(ok, {12});
  EXPECT_NE(s.message().find("head index 12"), std::string::npos) << s;
  EXPECT_FALSE(eval(ok, {-1}).ok());
  s = eval(torch::zeros({1, 25}, torch::kLong), {});
  EXPECT_NE(s.message().find("n_positions"), std::string::npos) << s;
  EXPECT_TRUE(eval(torch::zeros({1, 24}, torch::kLong), {}).ok());
  EXPECT_FALSE(eval(torch::zeros({1, 1}, torch::kLong), {}).ok());
  EXPECT_FALSE(eval(torch::zeros({8}, torch::kLong), {}).ok());
  EXPECT_FALSE(eval(torch::zeros({2, 8}, torch::kFloat), {}).ok());
}

TEST(ModelErrors, ParseNames) {
  EXPECT_EQ(*ParseMethod("zero_folded"), Method::kZeroFolded);
  EXPECT_EQ(*ParseDType("bf16"), DType::kBFloat16);
  EXPECT_FALSE(ParseMethod("ablate").ok());
  EXPECT_FALSE(ParseDType("fp64").ok());
  EXPECT_EQ(MethodName(Method::kMean), "mean");
}

}  // namespace
}  // namespace ablate::engine
