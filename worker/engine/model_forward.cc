// Copyright: the ablate authors.
#include "worker/engine/model_forward.h"

#include <torch/version.h>

#include <cmath>
#include <limits>

namespace ablate::engine::internal {
namespace {

// x [..., in] @ w [in, out] + b [out] -> [..., out] (Conv1D layout).
torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& w,
                     const torch::Tensor& b) {
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = w.size(1);
  return torch::addmm(b, x.reshape({-1, x.size(-1)}), w).view(sizes);
}

torch::Tensor LayerNorm(const DeviceModel& m, const torch::Tensor& x,
                        const torch::Tensor& w, const torch::Tensor& b) {
  return torch::layer_norm(x, {m.config.n_embd}, w, b,
                           m.config.layer_norm_epsilon);
}

// q, k, v [B, H, T, dh] -> softmax(q k^T / sqrt(dh) + causal mask) v, [B, H, T,
// dh].
torch::Tensor CausalAttention(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  // Fused kernels (flash / memory-efficient) on GPUs; same math, no [T, T]
  // scores in memory.
  if (!q.is_cpu())
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, true);
#endif
  const int64_t T = q.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  torch::Tensor att =
      torch::matmul(q, k.transpose(-2, -1)).mul_(scale);  // [B, H, T, T]
  torch::Tensor future =
      torch::ones({T, T}, torch::dtype(torch::kBool).device(q.device()))
          .triu_(1);
  att.masked_fill_(future, -std::numeric_limits<double>::infinity());
  return torch::matmul(torch::softmax(att, -1), v);  // [B, H, T, dh]
}

}  // namespace

DeviceModel ToDevice(const ModelWeights& weights, torch::Device device,
                     torch::ScalarType dtype) {
  auto move = [&](const torch::Tensor& t) {
    return t.to(device, dtype).contiguous();
  };
  DeviceModel m;
  m.config = weights.config;
  m.wte = move(weights.wte);
  m.wpe = move(weights.wpe);
  for (const BlockWeights& b : weights.blocks) {
    m.blocks.push_back(BlockWeights{
        move(b.ln_1_weight), move(b.ln_1_bias), move(b.attn_c_attn_weight),
        move(b.attn_c_attn_bias), move(b.attn_c_proj_weight),
        move(b.attn_c_proj_bias), move(b.ln_2_weight), move(b.ln_2_bias),
        move(b.mlp_c_fc_weight), move(b.mlp_c_fc_bias),
        move(b.mlp_c_proj_weight), move(b.mlp_c_proj_bias)});
  }
  m.ln_f_weight = move(weights.ln_f_weight);
  m.ln_f_bias = move(weights.ln_f_bias);
  return m;
}

torch::Tensor Embed(const DeviceModel& m, const torch::Tensor& tokens) {
  const int64_t B = tokens.size(0), T = tokens.size(1);
  torch::Tensor tok =
      m.wte.index_select(0, tokens.reshape({-1})).view({B, T, -1});
  return tok + m.wpe.slice(0, 0, T);  // [B, T, d]
}

torch::Tensor AttentionZ(const DeviceModel& m, int layer,
                         const torch::Tensor& x) {
  const BlockWeights& blk = m.blocks[layer];
  const int64_t B = x.size(0), T = x.size(1), H = m.config.n_head,
                dh = m.config.d_head();
  torch::Tensor h = LayerNorm(m, x, blk.ln_1_weight, blk.ln_1_bias);
  torch::Tensor qkv =
      Linear(h, blk.attn_c_attn_weight, blk.attn_c_attn_bias);  // [B, T, 3d]
  qkv = qkv.view({B, T, 3, H, dh})
            .permute({2, 0, 3, 1, 4})
            .contiguous();  // [3, B, H, T, dh]
  torch::Tensor z = CausalAttention(qkv[0], qkv[1], qkv[2]);  // [B, H, T, dh]
  return z.transpose(1, 2).reshape({B, T, H * dh});           // [B, T, d]
}

torch::Tensor AblateHeads(const torch::Tensor& z, const torch::Tensor& keep,
                          const torch::Tensor& repl) {
  const int64_t B = z.size(0), T = z.size(1), H = keep.size(1);
  torch::Tensor zh = z.view({B, T, H, -1});  // [B, T, H, dh]
  return torch::where(keep.view({B, 1, H, 1}), zh, repl).view({B, T, -1});
}

torch::Tensor BlockTail(const DeviceModel& m, int layer, const torch::Tensor& x,
                        const torch::Tensor& z) {
  const BlockWeights& blk = m.blocks[layer];
  torch::Tensor a =
      Linear(z, blk.attn_c_proj_weight, blk.attn_c_proj_bias);  // [B, T, d]
  a.add_(x);  // residual; a is fresh, so x (maybe a cached tensor) is untouched
  torch::Tensor h = LayerNorm(m, a, blk.ln_2_weight, blk.ln_2_bias);
  h = Linear(h, blk.mlp_c_fc_weight, blk.mlp_c_fc_bias);  // [B, T, 4d]
  if (torch::GradMode::is_enabled()) {
    h = at::gelu(h, "tanh");  // attribution: in place would break autograd
  } else {
    at::gelu_(h, "tanh");  // in place: one 4d buffer, not two
  }
  torch::Tensor out =
      Linear(h, blk.mlp_c_proj_weight, blk.mlp_c_proj_bias);  // [B, T, d]
  return out.add_(a);
}

torch::Tensor FinalNormPredicting(const DeviceModel& m,
                                  const torch::Tensor& x) {
  const int64_t T = x.size(1);
  torch::Tensor h =
      LayerNorm(m, x.slice(1, 0, T - 1), m.ln_f_weight, m.ln_f_bias);
  return h.reshape({-1, m.config.n_embd});  // [B * (T - 1), d]
}

}  // namespace ablate::engine::internal
