// Copyright: the ablate authors.
#include "worker/engine/attribution.h"

#include <algorithm>
#include <limits>

namespace ablate::engine::internal {
namespace {

// One block of positions: h [P, d] -> nll [P] float32, *grad [P, d] float32.
torch::Tensor BlockNllWithGrad(const torch::Tensor& h,
                               const torch::Tensor& targets,
                               const torch::Tensor& wte, int64_t vocab_slice,
                               torch::Tensor* grad) {
  const int64_t P = h.size(0), V = wte.size(0);
  auto f32 = torch::dtype(torch::kFloat).device(h.device());
  torch::Tensor m =
      torch::full({P}, -std::numeric_limits<float>::infinity(), f32);  // max
  torch::Tensor s = torch::zeros({P}, f32);  // sum of exp(logit - m)
  torch::Tensor acc = torch::zeros({P, h.size(1)}, f32);  // sum exp(.) wte_v
  torch::Tensor target = torch::zeros({P}, f32);
  for (int64_t lo = 0; lo < V; lo += vocab_slice) {
    const int64_t width = std::min(vocab_slice, V - lo);
    torch::Tensor w = wte.slice(0, lo, lo + width);  // [width, d]
    torch::Tensor logits = torch::matmul(h, w.t()).to(torch::kFloat);
    torch::Tensor local = targets - lo;
    torch::Tensor here = local.ge(0).logical_and_(local.lt(width));
    torch::Tensor picked =
        logits.gather(1, local.clamp(0, width - 1).unsqueeze(1)).squeeze(1);
    target = torch::where(here, picked, target);
    torch::Tensor new_m = torch::maximum(m, std::get<0>(logits.max(1)));
    torch::Tensor scale = (m - new_m).exp_();  // rescales the old sums
    torch::Tensor e = logits.sub_(new_m.unsqueeze(1)).exp_();  // [P, width]
    s = s.mul_(scale).add_(e.sum(1));
    acc = acc.mul_(scale.unsqueeze(1))
              .add_(torch::matmul(e.to(w.scalar_type()), w).to(torch::kFloat));
    m = new_m;
  }
  *grad = acc.div_(s.unsqueeze(1))
              .sub_(wte.index_select(0, targets).to(torch::kFloat));
  return s.log_().add_(m).sub_(target);
}

// Per-head sums over all positions of the chunks seen so far (float64, cpu).
struct HeadSums {
  torch::Tensor zg;  // [L, H]     sum of z_h . g_h
  torch::Tensor g;   // [L, H, dh] sum of g_h
  torch::Tensor z;   // [L, H, dh] sum of z_h
};

// Adds the group's z and dL/dz to *sums.
void AddSums(const std::vector<torch::Tensor>& zs,
             const std::vector<torch::Tensor>& gs, int64_t H, HeadSums* sums) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> zg, g, z;
  for (size_t l = 0; l < zs.size(); ++l) {
    torch::Tensor zl =
        zs[l].detach().to(torch::kFloat).reshape({-1, H, zs[l].size(-1) / H});
    torch::Tensor gl = gs[l].to(torch::kFloat).reshape(zl.sizes());
    zg.push_back((zl * gl).sum(std::vector<int64_t>{0, 2}));  // [H]
    g.push_back(gl.sum(0));                                   // [H, dh]
    z.push_back(zl.sum(0));
  }
  sums->zg += torch::stack(zg).to(torch::kCPU, torch::kDouble);
  sums->g += torch::stack(g).to(torch::kCPU, torch::kDouble);
  sums->z += torch::stack(z).to(torch::kCPU, torch::kDouble);
}

// One forward + backward pass over tokens [C, T]: adds to *sums and returns
// the clean per-block NLL, float64 [1, C * nb] on the cpu.
torch::Tensor AttributeGroup(const DeviceModel& m, const torch::Tensor& tokens,
                             const LmHeadOptions& lm, int64_t block_tokens,
                             HeadSums* sums) {
  const int64_t C = tokens.size(0), T = tokens.size(1);
  std::vector<torch::Tensor> zs;
  torch::Tensor x = Embed(m, tokens);
  for (int l = 0; l < m.config.n_layer; ++l) {
    torch::Tensor z = AttentionZ(m, l, x);
    if (!z.requires_grad()) z.requires_grad_(true);  // layer 0: a leaf
    zs.push_back(z);
    x = BlockTail(m, l, x, z);
  }
  torch::Tensor h = FinalNormPredicting(m, x);  // [C * (T - 1), d]
  torch::Tensor grad_h, nll;
  {
    torch::NoGradGuard no_grad;
    nll = SlicedNllWithGrad(h.detach(), tokens.slice(1, 1, T).reshape({-1}),
                            m.lm_head, lm, &grad_h);
  }
  const std::vector<torch::Tensor> gs =
      torch::autograd::grad({h}, zs, {grad_h.to(h.scalar_type())});
  AddSums(zs, gs, m.config.n_head, sums);
  return BlockSums(nll.view({1, C, T - 1}), block_tokens);
}

}  // namespace

torch::Tensor SlicedNllWithGrad(const torch::Tensor& h,
                                const torch::Tensor& targets,
                                const torch::Tensor& wte,
                                const LmHeadOptions& options,
                                torch::Tensor* grad) {
  const int64_t N = h.size(0);
  const int64_t block = std::max<int64_t>(1, options.max_positions);
  const int64_t slice = std::max<int64_t>(1, options.vocab_slice);
  std::vector<torch::Tensor> nll, grads;
  for (int64_t lo = 0; lo < N; lo += block) {
    const int64_t hi = std::min(N, lo + block);
    torch::Tensor g;
    nll.push_back(BlockNllWithGrad(h.slice(0, lo, hi), targets.slice(0, lo, hi),
                                   wte, slice, &g));
    grads.push_back(g);
  }
  *grad = grads.size() == 1 ? grads[0] : torch::cat(grads);
  return nll.size() == 1 ? nll[0] : torch::cat(nll);
}

int64_t AttributionRows(const DeviceModel& m, const EngineOptions& options,
                        const torch::Device& device, int64_t seq_len) {
  if (options.max_batch_rows > 0) return options.max_batch_rows;
  const ModelConfig& c = m.config;
  const int64_t per_row = c.n_layer * seq_len * m.wte.element_size() *
                          (24LL * c.n_embd + 2LL * c.n_head * seq_len);
  const int64_t budget_mb = options.activation_budget_mb > 0
                                ? options.activation_budget_mb
                                : (device.is_cuda() ? 8192 : 1024);
  return std::max<int64_t>(1, (budget_mb << 20) / per_row);
}

AttributionRun Attribute(const DeviceModel& m, const torch::Tensor& tokens,
                         const Replacements* repl, const LmHeadOptions& lm,
                         int64_t rows, const EvalOptions& eval) {
  c10::InferenceMode not_inference(false);
  torch::AutoGradMode grad_mode(true);
  const int64_t C = tokens.size(0), T = tokens.size(1);
  const int64_t L = m.config.n_layer, H = m.config.n_head,
                dh = m.config.d_head();
  auto f64 = torch::dtype(torch::kDouble);
  HeadSums sums{torch::zeros({L, H}, f64), torch::zeros({L, H, dh}, f64),
                torch::zeros({L, H, dh}, f64)};
  AttributionRun run;
  for (int64_t lo = 0; lo < C; lo += rows) {
    const torch::Tensor b =
        AttributeGroup(m, tokens.slice(0, lo, std::min(C, lo + rows)), lm,
                       eval.block_tokens, &sums);
    const double* p = b.data_ptr<double>();
    run.block_nll.insert(run.block_nll.end(), p, p + b.numel());
    if (eval.progress) eval.progress(std::min(C, lo + rows), C);
  }
  torch::NoGradGuard no_grad;
  torch::Tensor r;  // [L, H, dh] float64
  if (repl == nullptr) {
    r = sums.z / static_cast<double>(C * T);
  } else {
    r = torch::stack(*repl).to(torch::kCPU, torch::kDouble).view({L, H, dh});
  }
  const torch::Tensor est = ((r * sums.g).sum(2) - sums.zg).contiguous();
  run.estimates.assign(est.data_ptr<double>(), est.data_ptr<double>() + L * H);
  return run;
}

}  // namespace ablate::engine::internal
