// Copyright: the ablate authors.
//
// A hand-built GPT-2 for closed-form tests (header-only; shared by model_test
// and sweep_test).
//
// Residual dims: [0, V) token one-hot, [V, V + P) position one-hot, the rest
// zero, so the input of layer 0 has exactly two ones and ln_1 (with the bias
// below) is the scaling x -> a x. Layer 0 head 0 is a previous-token head: its
// query reads position i, its key position j + 1, with score kScore when j = i
// - 1 and 0 otherwise (e^-50: weight 1 to fp32); its value is the token one-hot
// and c_proj writes kGamma times it into the token dims. Position 0 attends to
// itself. Every other head and both MLPs have zero weights, so they output
// exactly zero (other heads do get a nonzero value bias, which c_proj ignores).
// ln_f keeps only the token dims (weight kKappa there, 0 elsewhere) and the
// tied LM head reads them, so
//   logit_v = kKappa (x_v - mean(x)) / sqrt(var(x) + eps),   x = final residual
//   stream.
#ifndef ABLATE_TESTS_ENGINE_COPY_MODEL_H_
#define ABLATE_TESTS_ENGINE_COPY_MODEL_H_

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "worker/engine/model_weights.h"

namespace ablate::engine::copy_model {

constexpr int kCopyVocab = 16, kCopyPositions = 16, kCopyEmbd = 64,
              kCopyHeads = 4;
constexpr int kCopyLayers = 2;
constexpr double kGamma = 3.0, kKappa = 0.5, kScore = 50.0, kEps = 1e-5;

// Variance of a d-vector whose nonzero entries are `values` (population
// variance).
inline double VarianceOf(const std::vector<double>& values, int d) {
  double sum = 0, sq = 0;
  for (double v : values) sum += v, sq += v * v;
  return sq / d - (sum / d) * (sum / d);
}

inline BlockWeights ZeroBlock(int d) {
  auto z = [](std::vector<int64_t> s) { return torch::zeros(s); };
  return BlockWeights{torch::ones({d}), z({d}),     z({d, 3 * d}),    z({3 * d}),
                   z({d, d}),        z({d}),     torch::ones({d}), z({d}),
                   z({d, 4 * d}),    z({4 * d}), z({4 * d, d}),    z({d})};
}

inline ModelWeights CopyModelWeights() {
  const int V = kCopyVocab, P = kCopyPositions, d = kCopyEmbd,
            dh = d / kCopyHeads;
  ModelWeights w;
  w.config = ModelConfig{kCopyLayers, kCopyHeads, d, P, V, kEps};
  w.wte = torch::zeros({V, d});
  w.wpe = torch::zeros({P, d});
  for (int v = 0; v < V; ++v) w.wte[v][v] = 1.0;
  for (int p = 0; p < P; ++p) w.wpe[p][V + p] = 1.0;
  for (int l = 0; l < kCopyLayers; ++l) {
    w.blocks.push_back(ZeroBlock(d));
    // Value biases of heads other than layer 0 head 0: ignored by their zero
    // c_proj rows.
    w.blocks[l]
        .attn_c_attn_bias.slice(0, 2 * d + (l == 0 ? dh : 0), 3 * d)
        .fill_(0.25);
  }
  BlockWeights& b = w.blocks[0];
  const double a =
      1.0 / std::sqrt(VarianceOf({1.0, 1.0}, d) + kEps);  // ln_1 scale
  b.ln_1_bias.fill_(a * 2.0 / d);  // cancels the mean: ln_1(x) = a x
  const double lambda =
      std::sqrt(kScore * std::sqrt(static_cast<double>(dh))) / a;
  for (int p = 0; p < P; ++p) b.attn_c_attn_weight[V + p][p] = lambda;  // Q
  for (int p = 0; p + 1 < dh; ++p)
    b.attn_c_attn_weight[V + p][d + p + 1] = lambda;  // K
  for (int t = 0; t < V; ++t)
    b.attn_c_attn_weight[t][2 * d + t] = 1.0 / a;                   // V
  for (int t = 0; t < V; ++t) b.attn_c_proj_weight[t][t] = kGamma;  // O
  w.ln_f_weight = torch::zeros({d});
  w.ln_f_weight.slice(0, 0, V).fill_(kKappa);
  w.ln_f_bias = torch::zeros({d});
  return w;
}

// Chunks "A B A B ...": chunk c alternates tokens 2c and 2c + 1. [n, T] int64.
inline torch::Tensor AlternatingChunks(int n, int T) {
  torch::Tensor chunks = torch::empty({n, T}, torch::kLong);
  for (int c = 0; c < n; ++c) {
    for (int i = 0; i < T; ++i) chunks[c][i] = (2 * c + i % 2) % kCopyVocab;
  }
  return chunks;
}

// NLL of a target given the final residual stream's token part (the position
// one-hot is the only other nonzero entry): logit_v = kKappa (x_v - mean) /
// sqrt(var + eps).
inline double ClosedFormNll(const std::vector<double>& tok, int target) {
  std::vector<double> nonzero(tok);
  nonzero.push_back(1.0);  // position one-hot
  const double s = std::sqrt(VarianceOf(nonzero, kCopyEmbd) + kEps);
  double sum = 0;  // the mean cancels in the softmax
  for (double v : tok) sum += std::exp(kKappa * v / s);
  return std::log(sum) - kKappa * tok[target] / s;
}

// Chunks "A B A B ..." of T tokens. Clean: position 0 holds (1 + gamma) at A
// (it copies itself); position i >= 1 holds 1 at t_i and gamma at t_(i-1) =
// t_(i+1), the target.
inline double CleanPplClosedForm(int T) {
  const double V = kCopyVocab, d = kCopyEmbd;
  const double s0 = std::sqrt(VarianceOf({1 + kGamma, 1}, d) + kEps);
  const double s = std::sqrt(VarianceOf({1, kGamma, 1}, d) + kEps);
  const double nll0 = std::log(V - 1 + std::exp(kKappa * (1 + kGamma) / s0));
  const double nll_i =
      std::log(V - 2 + std::exp(kKappa / s) + std::exp(kKappa * kGamma / s)) -
      kKappa * kGamma / s;
  return std::exp((nll0 + (T - 2) * nll_i) / (T - 1));
}

// Copy head zeroed: only t_i in the token dims and the target differs from it.
inline double AblatedPplClosedForm() {
  const double s = std::sqrt(VarianceOf({1, 1}, kCopyEmbd) + kEps);
  return kCopyVocab - 1 + std::exp(kKappa / s);
}

}  // namespace ablate::engine::copy_model

#endif  // ABLATE_TESTS_ENGINE_COPY_MODEL_H_
