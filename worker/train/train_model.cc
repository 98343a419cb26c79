// Copyright: the ablate authors.
#include "worker/train/train_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ablate::train {
namespace {

torch::Tensor Normal(std::vector<int64_t> shape, double std) {
  return (torch::randn(shape) * std).requires_grad_(true);
}
torch::Tensor Zeros(std::vector<int64_t> shape) {
  return torch::zeros(shape).requires_grad_(true);
}
torch::Tensor Ones(std::vector<int64_t> shape) {
  return torch::ones(shape).requires_grad_(true);
}

torch::Tensor LayerNorm(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias, double eps) {
  return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

// Causal self-attention of one block: x [B, T, d] -> [B, T, d].
torch::Tensor Attention(const engine::BlockWeights& b, const torch::Tensor& x,
                        int n_head) {
  const int64_t batch = x.size(0), t = x.size(1), d = x.size(2);
  const int64_t dh = d / n_head;
  torch::Tensor qkv =
      torch::matmul(x, b.attn_c_attn_weight) + b.attn_c_attn_bias;
  std::vector<torch::Tensor> parts = qkv.split(d, /*dim=*/2);  // Q | K | V
  auto heads = [&](const torch::Tensor& m) {
    return m.view({batch, t, n_head, dh}).transpose(1, 2);  // [B, H, T, dh]
  };
  torch::Tensor q = heads(parts[0]), k = heads(parts[1]), v = heads(parts[2]);
  torch::Tensor scores =
      torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(dh)));
  torch::Tensor future = torch::ones({t, t}, torch::kBool).triu(/*diagonal=*/1);
  scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  torch::Tensor z = torch::matmul(torch::softmax(scores, -1), v);  // [B,H,T,dh]
  z = z.transpose(1, 2).reshape({batch, t, d});
  return torch::matmul(z, b.attn_c_proj_weight) + b.attn_c_proj_bias;
}

torch::Tensor Mlp(const engine::BlockWeights& b, const torch::Tensor& x) {
  torch::Tensor h = torch::matmul(x, b.mlp_c_fc_weight) + b.mlp_c_fc_bias;
  h = torch::gelu(h, "tanh");
  return torch::matmul(h, b.mlp_c_proj_weight) + b.mlp_c_proj_bias;
}

// Mean cross-entropy of logits = h wte^T against targets. The forward pass
// writes the softmax slice by slice into one [N, vocab] buffer kept for the
// backward pass, so no [N, vocab] temporaries are made besides it (fresh
// memory is slow to touch on some VMs) and backward needs no recomputation.
// h [N, d], wte [V, d], targets [N] (int64).
class LmHeadLoss : public torch::autograd::Function<LmHeadLoss> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx,
                               const torch::Tensor& h, const torch::Tensor& wte,
                               const torch::Tensor& targets, int64_t rows) {
    const int64_t n = h.size(0);
    torch::Tensor probs = torch::empty({n, wte.size(0)}, h.options());
    torch::Tensor sum = torch::zeros({}, h.options());
    for (int64_t i = 0; i < n; i += rows) {
      const int64_t end = std::min(n, i + rows);
      torch::Tensor p = probs.slice(0, i, end);
      torch::matmul_out(p, h.slice(0, i, end), wte.t());
      torch::Tensor lse = p.logsumexp(1, /*keepdim=*/true);
      torch::Tensor picked = p.gather(1, targets.slice(0, i, end).unsqueeze(1));
      sum += (lse - picked).sum();
      p.sub_(lse).exp_();
    }
    ctx->save_for_backward({h, wte, targets, probs});
    return sum / static_cast<double>(n);
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &h = saved[0], &wte = saved[1], &targets = saved[2];
    torch::Tensor d_logits = saved[3];  // softmax, overwritten in place.
    const int64_t n = h.size(0);
    // (softmax - onehot(target)) * d(loss)/d(mean) / N.
    d_logits.scatter_add_(1, targets.unsqueeze(1),
                          torch::full({n, 1}, -1.0, d_logits.options()));
    d_logits.mul_(grad_out[0] / static_cast<double>(n));
    return {torch::matmul(d_logits, wte), torch::matmul(d_logits.t(), h),
            torch::Tensor(), torch::Tensor()};
  }
};

// Rows per LM-head slice: about 16 MB of float logits for GPT-2's vocabulary.
constexpr int64_t kLmHeadRows = 64;

// The final hidden states [B, T, d] (after ln_f) for ids [B, T].
torch::Tensor Hidden(const engine::ModelWeights& w, const torch::Tensor& ids) {
  const double eps = w.config.layer_norm_epsilon;
  const int64_t t = ids.size(1);
  torch::Tensor x =
      w.wte.index_select(0, ids.reshape({-1})).view({ids.size(0), t, -1}) +
      w.wpe.slice(0, 0, t);
  for (const engine::BlockWeights& b : w.blocks) {
    x = x + Attention(b, LayerNorm(x, b.ln_1_weight, b.ln_1_bias, eps),
                      w.config.n_head);
    x = x + Mlp(b, LayerNorm(x, b.ln_2_weight, b.ln_2_bias, eps));
  }
  return LayerNorm(x, w.ln_f_weight, w.ln_f_bias, eps);
}

}  // namespace

engine::ModelWeights InitWeights(const engine::ModelConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t d = c.n_embd;
  const double std = 0.02, proj_std = 0.02 / std::sqrt(2.0 * c.n_layer);
  engine::ModelWeights w;
  w.config = c;
  w.wte = Normal({c.vocab_size, d}, std);
  w.wpe = Normal({c.n_positions, d}, std);
  for (int i = 0; i < c.n_layer; ++i) {
    engine::BlockWeights b;
    b.ln_1_weight = Ones({d});
    b.ln_1_bias = Zeros({d});
    b.attn_c_attn_weight = Normal({d, 3 * d}, std);
    b.attn_c_attn_bias = Zeros({3 * d});
    b.attn_c_proj_weight = Normal({d, d}, proj_std);
    b.attn_c_proj_bias = Zeros({d});
    b.ln_2_weight = Ones({d});
    b.ln_2_bias = Zeros({d});
    b.mlp_c_fc_weight = Normal({d, 4 * d}, std);
    b.mlp_c_fc_bias = Zeros({4 * d});
    b.mlp_c_proj_weight = Normal({4 * d, d}, proj_std);
    b.mlp_c_proj_bias = Zeros({d});
    w.blocks.push_back(b);
  }
  w.ln_f_weight = Ones({d});
  w.ln_f_bias = Zeros({d});
  return w;
}

std::vector<torch::Tensor> Parameters(const engine::ModelWeights& w) {
  std::vector<torch::Tensor> p = {w.wte, w.wpe};
  for (const engine::BlockWeights& b : w.blocks) {
    for (const torch::Tensor& t :
         {b.ln_1_weight, b.ln_1_bias, b.attn_c_attn_weight, b.attn_c_attn_bias,
          b.attn_c_proj_weight, b.attn_c_proj_bias, b.ln_2_weight, b.ln_2_bias,
          b.mlp_c_fc_weight, b.mlp_c_fc_bias, b.mlp_c_proj_weight,
          b.mlp_c_proj_bias}) {
      p.push_back(t);
    }
  }
  p.push_back(w.ln_f_weight);
  p.push_back(w.ln_f_bias);
  return p;
}

torch::Tensor Forward(const engine::ModelWeights& w, const torch::Tensor& ids) {
  return torch::matmul(Hidden(w, ids), w.wte.t());
}

torch::Tensor NextTokenLoss(const engine::ModelWeights& w,
                            const torch::Tensor& ids) {
  const int64_t t = ids.size(1);
  torch::Tensor h = Hidden(w, ids).slice(1, 0, t - 1);
  torch::Tensor targets = ids.slice(1, 1, t).reshape({-1});
  return LmHeadLoss::apply(h.reshape({-1, h.size(-1)}), w.wte, targets,
                           kLmHeadRows);
}

double Perplexity(const engine::ModelWeights& w, const torch::Tensor& chunks,
                  int64_t batch) {
  torch::NoGradGuard no_grad;
  double nll = 0;
  for (int64_t i = 0; i < chunks.size(0); i += batch) {
    torch::Tensor part =
        chunks.slice(0, i, std::min(i + batch, chunks.size(0)));
    nll += NextTokenLoss(w, part).item<double>() * part.size(0);
  }
  return std::exp(nll / chunks.size(0));
}

}  // namespace ablate::train
