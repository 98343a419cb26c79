// Copyright: the ablate authors.
#include "worker/engine/model_forward.h"

#include <torch/version.h>

#include <cmath>
#include <limits>

#include "worker/engine/model_attention.h"

namespace ablate::engine::internal {
namespace {

// In-place ops only where autograd cannot need the overwritten values.
bool InPlace() { return !torch::GradMode::is_enabled(); }

// x [..., in] @ w [in, out] (+ b [out] when defined) -> [..., out].
torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& w,
                     const torch::Tensor& b) {
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = w.size(1);
  torch::Tensor x2 = x.reshape({-1, x.size(-1)});
  return (b.defined() ? torch::addmm(b, x2, w) : torch::mm(x2, w)).view(sizes);
}

// LayerNorm (GPT-2, NeoX) or RMSNorm (Llama family: computed in float32, cast
// back, then scaled by the weight, as Hugging Face does).
torch::Tensor Norm(const DeviceModel& m, const torch::Tensor& x,
                   const torch::Tensor& w, const torch::Tensor& b) {
  const ModelConfig& c = m.config;
  if (!c.rms_norm())
    return torch::layer_norm(x, {c.n_embd}, w, b, c.layer_norm_epsilon);
  torch::Tensor xf = x.to(torch::kFloat);
  torch::Tensor var = xf.pow(2).mean(-1, true);
  return w * (xf * torch::rsqrt(var + c.layer_norm_epsilon)).to(x.scalar_type());
}

torch::Tensor Mlp(const DeviceModel& m, const BlockWeights& blk,
                  const torch::Tensor& h) {
  const ModelConfig& c = m.config;
  torch::Tensor u = Linear(h, blk.mlp_c_fc_weight, blk.mlp_c_fc_bias);
  torch::Tensor act;
  if (c.gated_mlp()) {  // down(silu(gate) * up)
    const int64_t ff = c.d_ff();
    act = torch::silu(u.slice(-1, 0, ff));
    act = InPlace() ? act.mul_(u.slice(-1, ff, 2 * ff))
                    : act * u.slice(-1, ff, 2 * ff);
  } else {
    const char* approx = c.activation == Activation::kGeluTanh ? "tanh" : "none";
    act = InPlace() ? at::gelu_(u, approx)  // one d_ff buffer, not two
                    : at::gelu(u, approx);
  }
  return Linear(act, blk.mlp_c_proj_weight, blk.mlp_c_proj_bias);
}

torch::Tensor Move(const torch::Tensor& t, torch::Device device,
                   torch::ScalarType dtype) {
  return t.defined() ? t.to(device, dtype).contiguous() : t;
}

}  // namespace

DeviceModel ToDevice(const ModelWeights& weights, torch::Device device,
                     torch::ScalarType dtype) {
  auto move = [&](const torch::Tensor& t) { return Move(t, device, dtype); };
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
  m.lm_head = weights.config.tie_word_embeddings ? m.wte : move(weights.lm_head);
  if (weights.config.rope.rotary_dim > 0)
    m.inv_freq = RopeInvFreq(weights.config.rope).to(device);
  return m;
}

torch::Tensor RopeInvFreq(const Rope& r) {
  const int64_t dim = r.rotary_dim;
  torch::Tensor exponent =
      torch::arange(0, dim, 2, torch::kLong).to(torch::kFloat) / dim;
  torch::Tensor inv = torch::pow(r.theta, exponent).reciprocal();
  if (r.scaling == Rope::Scaling::kLinear) return inv / r.factor;
  if (r.scaling != Rope::Scaling::kLlama3) return inv;
  // Llama 3: long wavelengths divided by factor, short ones kept, a smooth
  // interpolation between (Hugging Face's _compute_llama3_parameters).
  const double old_len = r.original_max_position_embeddings;
  const double low_wavelen = old_len / r.low_freq_factor;
  const double high_wavelen = old_len / r.high_freq_factor;
  torch::Tensor wavelen = inv.reciprocal() * (2 * M_PI);
  torch::Tensor scaled =
      torch::where(wavelen > low_wavelen, inv / r.factor, inv);
  torch::Tensor smooth = (wavelen.reciprocal() * old_len - r.low_freq_factor) /
                         (r.high_freq_factor - r.low_freq_factor);
  torch::Tensor smoothed =
      (1 - smooth) * scaled / r.factor + smooth * scaled;
  torch::Tensor medium = (wavelen < high_wavelen).logical_not().logical_and(
      (wavelen > low_wavelen).logical_not());
  return torch::where(medium, smoothed, scaled);
}

torch::Tensor Embed(const DeviceModel& m, const torch::Tensor& tokens) {
  const int64_t B = tokens.size(0), T = tokens.size(1);
  torch::Tensor tok =
      m.wte.index_select(0, tokens.reshape({-1})).view({B, T, -1});
  if (!m.wpe.defined()) return tok;
  return tok + m.wpe.slice(0, 0, T);  // [B, T, d]
}

torch::Tensor AttentionZ(const DeviceModel& m, int layer,
                         const torch::Tensor& x) {
  const BlockWeights& blk = m.blocks[layer];
  const ModelConfig& c = m.config;
  const int64_t B = x.size(0), T = x.size(1), H = c.n_head, KV = c.kv_heads(),
                dh = c.d_head(), qw = c.q_width(), kw = c.kv_width();
  torch::Tensor h = Norm(m, x, blk.ln_1_weight, blk.ln_1_bias);
  torch::Tensor qkv = Linear(h, blk.attn_c_attn_weight, blk.attn_c_attn_bias);
  auto heads = [&](int64_t lo, int64_t n) {  // [B, n, T, dh]
    return qkv.slice(-1, lo, lo + n * dh).view({B, T, n, dh}).transpose(1, 2);
  };
  torch::Tensor q = heads(0, H), k = heads(qw, KV), v = heads(qw + kw, KV);
  if (m.inv_freq.defined()) {
    const RopeTables rope = MakeRopeTables(m.inv_freq, T, x.scalar_type());
    q = ApplyRope(q, rope);
    k = ApplyRope(k, rope);
  }
  torch::Tensor z = GroupedCausalAttention(q.contiguous(), k.contiguous(),
                                           v.contiguous(), c.sliding_window);
  return z.transpose(1, 2).reshape({B, T, qw});  // [B, T, q]
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
  torch::Tensor a = Linear(z, blk.attn_c_proj_weight, blk.attn_c_proj_bias);
  const bool inplace = InPlace();  // a and the MLP output are fresh tensors
  if (m.config.parallel_residual) {  // x + o(z) + mlp(ln_2(x))
    torch::Tensor out = Mlp(m, blk, Norm(m, x, blk.ln_2_weight, blk.ln_2_bias));
    return inplace ? out.add_(a).add_(x) : out + a + x;
  }
  a = inplace ? a.add_(x) : a + x;  // x (maybe a cached tensor) is untouched
  torch::Tensor out = Mlp(m, blk, Norm(m, a, blk.ln_2_weight, blk.ln_2_bias));
  return inplace ? out.add_(a) : out + a;
}

torch::Tensor FinalNormPredicting(const DeviceModel& m,
                                  const torch::Tensor& x) {
  const int64_t T = x.size(1);
  torch::Tensor h = Norm(m, x.slice(1, 0, T - 1), m.ln_f_weight, m.ln_f_bias);
  return h.reshape({-1, m.config.n_embd});  // [B * (T - 1), d]
}

// ---- Rotary and attention (model_attention.h)

namespace {

// [T, T] bool, true where position i must not see position j.
torch::Tensor Blocked(int64_t T, int sliding_window, torch::Device device) {
  auto opt = torch::dtype(torch::kBool).device(device);
  torch::Tensor blocked = torch::ones({T, T}, opt).triu_(1);
  if (sliding_window > 0 && T > sliding_window)
    blocked.logical_or_(torch::ones({T, T}, opt).tril_(-sliding_window));
  return blocked;
}

}  // namespace

RopeTables MakeRopeTables(const torch::Tensor& inv_freq, int64_t T,
                          torch::ScalarType dtype) {
  torch::Tensor pos = torch::arange(
      T, torch::dtype(torch::kFloat).device(inv_freq.device()));
  torch::Tensor freqs = torch::outer(pos, inv_freq);  // [T, rot / 2]
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);  // [T, rot]
  return RopeTables{emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor ApplyRope(const torch::Tensor& x, const RopeTables& rope) {
  const int64_t rot = rope.cos.size(1), dh = x.size(-1);
  torch::Tensor xr = rot == dh ? x : x.slice(-1, 0, rot);
  torch::Tensor x1 = xr.slice(-1, 0, rot / 2), x2 = xr.slice(-1, rot / 2, rot);
  torch::Tensor rotated = torch::cat({-x2, x1}, -1);
  torch::Tensor out = xr * rope.cos + rotated * rope.sin;
  if (rot == dh) return out;
  return torch::cat({out, x.slice(-1, rot, dh)}, -1);
}

torch::Tensor GroupedCausalAttention(const torch::Tensor& q,
                                     const torch::Tensor& k,
                                     const torch::Tensor& v,
                                     int sliding_window) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), dh = q.size(3);
  const int64_t KV = k.size(1), rep = H / KV;
  [[maybe_unused]] const bool windowed =
      sliding_window > 0 && T > sliding_window;
#if TORCH_VERSION_MAJOR >= 2
  // Fused kernels (flash / memory-efficient) on GPUs; same math, no [T, T]
  // scores in memory.
  if (!q.is_cpu()) {
    torch::Tensor kk = rep > 1 ? k.repeat_interleave(rep, 1) : k;
    torch::Tensor vv = rep > 1 ? v.repeat_interleave(rep, 1) : v;
    if (!windowed)
      return at::scaled_dot_product_attention(q, kk, vv, {}, 0.0, true);
    torch::Tensor allowed = Blocked(T, sliding_window, q.device()).logical_not();
    return at::scaled_dot_product_attention(q, kk, vv, allowed, 0.0, false);
  }
#endif
  // The rep query heads of a kv head share one matmul: [B, KV, rep * T, dh].
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  torch::Tensor qg = q.contiguous().view({B, KV, rep * T, dh});
  torch::Tensor att = torch::matmul(qg, k.transpose(-2, -1));  // [.., rep*T, T]
  const bool inplace = !torch::GradMode::is_enabled();
  att = inplace ? att.mul_(scale) : att * scale;
  torch::Tensor blocked = Blocked(T, sliding_window,
                                  q.device());
  if (rep > 1) blocked = blocked.repeat({rep, 1});
  const double inf = std::numeric_limits<double>::infinity();
  att = inplace ? att.masked_fill_(blocked, -inf) : att.masked_fill(blocked, -inf);
  torch::Tensor z = torch::matmul(torch::softmax(att, -1), v);  // [.., rep*T, dh]
  return z.view({B, H, T, dh});
}

}  // namespace ablate::engine::internal
