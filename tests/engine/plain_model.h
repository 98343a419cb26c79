// Copyright: the ablate authors.
//
// An independent plain forward pass of every supported family, for golden
// tests (header-only). It shares no attention, rotary, norm or ablation code
// with the engine: float64 throughout, one mask per pass, one query head at a
// time, rotary written as explicit pair rotations with frequencies computed in
// double, the causal / sliding-window mask written out, grouped-query attention
// by indexing the kv head, NeoX's parallel residual spelled out. It reads the
// internal weight layout (model_weights.h), whose conversion from Hugging Face
// files the checkpoint tests check separately.
#ifndef ABLATE_TESTS_ENGINE_PLAIN_MODEL_H_
#define ABLATE_TESTS_ENGINE_PLAIN_MODEL_H_

#include <torch/torch.h>

#include <cmath>
#include <set>
#include <vector>

#include "worker/engine/model.h"
#include "worker/engine/model_weights.h"

namespace ablate::engine::plain {

inline torch::Tensor D(const torch::Tensor& t) { return t.to(torch::kDouble); }

inline torch::Tensor Norm(const ModelConfig& c, const torch::Tensor& x,
                          const torch::Tensor& g, const torch::Tensor& b) {
  const double eps = c.layer_norm_epsilon;
  if (c.rms_norm()) return x / torch::sqrt(x.pow(2).mean(-1, true) + eps) * D(g);
  torch::Tensor mean = x.mean(-1, true);
  torch::Tensor var = (x - mean).pow(2).mean(-1, true);
  return (x - mean) / torch::sqrt(var + eps) * D(g) + D(b);
}

inline torch::Tensor Affine(const torch::Tensor& x, const torch::Tensor& w,
                            const torch::Tensor& b) {
  torch::Tensor y = torch::matmul(x, D(w));
  return b.defined() ? y + D(b) : y;
}

// Rotary frequencies in double (Llama 3 smoothing and linear scaling written
// from the papers' definitions).
inline std::vector<double> Frequencies(const Rope& r) {
  std::vector<double> f;
  for (int i = 0; i < r.rotary_dim / 2; ++i) {
    double w = std::pow(r.theta, -2.0 * i / r.rotary_dim);
    if (r.scaling == Rope::Scaling::kLinear) w /= r.factor;
    if (r.scaling == Rope::Scaling::kLlama3) {
      const double wavelen = 2 * M_PI / w;
      const double old = r.original_max_position_embeddings;
      if (wavelen > old / r.low_freq_factor) {
        w /= r.factor;
      } else if (wavelen >= old / r.high_freq_factor) {
        const double s = (old / wavelen - r.low_freq_factor) /
                         (r.high_freq_factor - r.low_freq_factor);
        w = (1 - s) * w / r.factor + s * w;
      }
    }
    f.push_back(w);
  }
  return f;
}

// x [N, T, dh]: dims i and i + rot/2 rotate by angle t * f_i at position t.
inline torch::Tensor Rotate(const torch::Tensor& x, const Rope& r) {
  if (r.rotary_dim == 0) return x;
  const int64_t T = x.size(1), half = r.rotary_dim / 2;
  const std::vector<double> f = Frequencies(r);
  torch::Tensor cos = torch::empty({T, half}, torch::kDouble);
  torch::Tensor sin = torch::empty({T, half}, torch::kDouble);
  auto c = cos.accessor<double, 2>(), s = sin.accessor<double, 2>();
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      c[t][i] = std::cos(t * f[i]);
      s[t][i] = std::sin(t * f[i]);
    }
  }
  torch::Tensor a = x.slice(2, 0, half), b = x.slice(2, half, 2 * half);
  return torch::cat({a * cos - b * sin, b * cos + a * sin,
                     x.slice(2, 2 * half, x.size(2))},
                    2);
}

inline torch::Tensor Mlp(const ModelConfig& c, const BlockWeights& b,
                         const torch::Tensor& h) {
  torch::Tensor u = Affine(h, b.mlp_c_fc_weight, b.mlp_c_fc_bias);
  torch::Tensor a;
  if (c.activation == Activation::kSilu) {
    const int64_t ff = c.d_ff();
    torch::Tensor gate = u.slice(-1, 0, ff), up = u.slice(-1, ff, 2 * ff);
    a = gate / (1 + torch::exp(-gate)) * up;
  } else if (c.activation == Activation::kGeluExact) {
    a = 0.5 * u * (1 + torch::erf(u / std::sqrt(2.0)));
  } else {
    a = 0.5 * u *
        (1 + torch::tanh(std::sqrt(2.0 / M_PI) * (u + 0.044715 * u.pow(3))));
  }
  return Affine(a, b.mlp_c_proj_weight, b.mlp_c_proj_bias);
}

// One query head's z [N, T, dh].
inline torch::Tensor HeadZ(const ModelConfig& c, const torch::Tensor& qkv,
                           int head) {
  const int64_t dh = c.d_head(), T = qkv.size(1);
  const int kv = head / (c.n_head / c.kv_heads());
  const int64_t k0 = c.q_width() + kv * dh, v0 = k0 + c.kv_width();
  torch::Tensor q = Rotate(qkv.slice(2, head * dh, (head + 1) * dh), c.rope);
  torch::Tensor k = Rotate(qkv.slice(2, k0, k0 + dh), c.rope);
  torch::Tensor v = qkv.slice(2, v0, v0 + dh);
  torch::Tensor att = torch::matmul(q, k.transpose(1, 2)) / std::sqrt(dh * 1.0);
  torch::Tensor hidden = torch::zeros({T, T}, torch::kBool);
  auto m = hidden.accessor<bool, 2>();
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t j = 0; j < T; ++j) {
      m[i][j] = !(j <= i && (c.sliding_window == 0 || i - j < c.sliding_window));
    }
  }
  att = att.masked_fill(hidden, -INFINITY);
  return torch::matmul(torch::softmax(att, -1), v);
}

// The replacement of head h's z under `method` ([dh], double).
inline torch::Tensor Replacement(const ModelConfig& c, const BlockWeights& b,
                                 int head, Method method,
                                 const torch::Tensor& mean) {
  const int64_t dh = c.d_head();
  if (method == Method::kMean) return mean;
  if (method == Method::kZero || !b.attn_c_attn_bias.defined())
    return torch::zeros({dh}, torch::kDouble);
  const int kv = head / (c.n_head / c.kv_heads());
  const int64_t v0 = c.q_width() + c.kv_width() + kv * dh;
  return D(b.attn_c_attn_bias).slice(0, v0, v0 + dh);
}

// One forward pass with the heads in `mask` ablated; means[l] is [H, dh]
// (Method::kMean). z_out, if given, receives every layer's clean-or-ablated z
// [N, T, H, dh]. Returns the NLL sum over all predicted tokens.
// `t` != 1 moves the masked heads only part of the way: z := z + t (r - z),
// so (Nll(t) - Nll(-t)) / 2t is the derivative attribution estimates.
inline double Nll(const ModelWeights& w, const torch::Tensor& tokens,
                  const std::set<int>& mask, Method method,
                  const std::vector<torch::Tensor>& means,
                  std::vector<torch::Tensor>* z_out = nullptr, double t = 1.0) {
  const ModelConfig& c = w.config;
  const int64_t N = tokens.size(0), T = tokens.size(1), H = c.n_head;
  torch::Tensor x = D(w.wte).index({tokens});
  if (c.learned_positions()) x = x + D(w.wpe).slice(0, 0, T);
  for (int l = 0; l < c.n_layer; ++l) {
    const BlockWeights& b = w.blocks[l];
    torch::Tensor qkv =
        Affine(Norm(c, x, b.ln_1_weight, b.ln_1_bias), b.attn_c_attn_weight,
               b.attn_c_attn_bias);
    std::vector<torch::Tensor> zs;
    for (int h = 0; h < H; ++h) {
      torch::Tensor z = HeadZ(c, qkv, h);
      if (mask.count(l * H + h)) {
        torch::Tensor r = Replacement(c, b, h, method,
                                      means.empty() ? torch::Tensor()
                                                    : D(means[l][h]));
        z = t == 1.0 ? r.expand({N, T, c.d_head()}).clone() : z + t * (r - z);
      }
      zs.push_back(z);
    }
    if (z_out) z_out->push_back(torch::stack(zs, 2));
    torch::Tensor attn =
        Affine(torch::cat(zs, -1), b.attn_c_proj_weight, b.attn_c_proj_bias);
    if (c.parallel_residual) {
      x = x + attn + Mlp(c, b, Norm(c, x, b.ln_2_weight, b.ln_2_bias));
    } else {
      x = x + attn;
      x = x + Mlp(c, b, Norm(c, x, b.ln_2_weight, b.ln_2_bias));
    }
  }
  x = Norm(c, x, w.ln_f_weight, w.ln_f_bias);
  const torch::Tensor& head = c.tie_word_embeddings ? w.wte : w.lm_head;
  torch::Tensor logp = torch::log_softmax(torch::matmul(x, D(head).t()), -1);
  torch::Tensor next = tokens.slice(1, 1, T).unsqueeze(-1);
  return -logp.slice(1, 0, T - 1).gather(-1, next).sum().item<double>();
}

// Per-layer clean means of every head's z: [H, dh] each.
inline std::vector<torch::Tensor> Means(const ModelWeights& w,
                                        const torch::Tensor& tokens) {
  std::vector<torch::Tensor> zs, means;
  Nll(w, tokens, {}, Method::kZero, {}, &zs);
  for (const torch::Tensor& z : zs)
    means.push_back(z.mean(std::vector<int64_t>{0, 1}));  // [H, dh]
  return means;
}

}  // namespace ablate::engine::plain

#endif  // ABLATE_TESTS_ENGINE_PLAIN_MODEL_H_
