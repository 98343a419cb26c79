// Copyright: the ablate authors.
#include "worker/engine/model.h"

#include <dlfcn.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <exception>
#include <new>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/analysis/tables.h"
#include "worker/engine/attribution.h"
#include "worker/engine/model_checks.h"
#include "worker/engine/model_forward.h"
#include "worker/engine/model_lm_head.h"
#include "worker/engine/model_masked.h"

namespace ablate::engine {
namespace {

using internal::CleanCache;
using internal::MaskJob;
using internal::Replacements;

torch::ScalarType ScalarType(DType dtype) {
  switch (dtype) {
    case DType::kBFloat16:
      return torch::kBFloat16;
    case DType::kFloat16:
      return torch::kHalf;
    default:
      return torch::kFloat;
  }
}

// Jobs sorted by first ablated layer (stable: equal layers keep the caller's
// order).
std::vector<MaskJob> MakeJobs(absl::Span<const HeadMask> masks,
                              const ModelConfig& c) {
  std::vector<MaskJob> jobs(masks.size());
  for (size_t i = 0; i < masks.size(); ++i) {
    jobs[i].index = static_cast<int>(i);
    jobs[i].first_layer = c.n_layer;
    jobs[i].ablated.assign(c.n_heads_total(), 0);
    for (int head : masks[i]) {
      jobs[i].ablated[head] = 1;
      jobs[i].first_layer = std::min(jobs[i].first_layer, head / c.n_head);
    }
  }
  std::stable_sort(jobs.begin(), jobs.end(),
                   [](const MaskJob& a, const MaskJob& b) {
                     return a.first_layer < b.first_layer;
                   });
  return jobs;
}

void KeepFreedMemory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);  // large blocks from the heap, not fresh mmap'd pages
  mallopt(M_TRIM_THRESHOLD, -1);  // never hand the heap's top back to the OS
#endif
}

// Torch errors at the engine boundary: out-of-memory is ResourceExhausted
// (retry with fewer max_batch_rows or another machine), anything else Internal.
absl::Status TorchError(const char* where, const std::exception& e) {
  const c10::Error* ce = dynamic_cast<const c10::Error*>(&e);
  const std::string what = ce ? ce->what_without_backtrace() : e.what();
  const bool oom = dynamic_cast<const std::bad_alloc*>(&e) != nullptr ||
                   what.find("out of memory") != std::string::npos;
  const std::string msg = absl::StrCat(where, ": ", what);
  return oom ? absl::ResourceExhaustedError(msg) : absl::InternalError(msg);
}

// LibTorch's set_num_threads does not reach an OpenBLAS that torch calls for
// matmuls (Debian's LibTorch does): set it too when OpenBLAS is loaded.
void SetThreads(int n) {
  torch::set_num_threads(n);
  using SetFn = void (*)(int);
  if (auto set = reinterpret_cast<SetFn>(
          dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(n);
}

// Chunks, method and block size of an Evaluate or Attribute call.
absl::Status CheckRequest(const torch::Tensor& chunks, Method method,
                          const EvalOptions& eval, const ModelConfig& config) {
  absl::Status s = internal::CheckChunks(chunks, config);
  if (!s.ok()) return s;
  if (method != Method::kZero && method != Method::kZeroFolded &&
      method != Method::kMean) {
    return absl::InvalidArgumentError("unknown ablation method");
  }
  if (eval.block_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("block_tokens must be >= 1, got ", eval.block_tokens));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Method> ParseMethod(const std::string& name) {
  if (name == "zero") return Method::kZero;
  if (name == "zero_folded") return Method::kZeroFolded;
  if (name == "mean") return Method::kMean;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown method \"", name, "\": use zero, zero_folded or mean"));
}

absl::StatusOr<DType> ParseDType(const std::string& name) {
  if (name == "fp32") return DType::kFloat32;
  if (name == "bf16") return DType::kBFloat16;
  if (name == "fp16") return DType::kFloat16;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype \"", name, "\": use fp32, bf16 or fp16"));
}

std::string MethodName(Method method) {
  switch (method) {
    case Method::kZero:
      return "zero";
    case Method::kZeroFolded:
      return "zero_folded";
    case Method::kMean:
      return "mean";
  }
  return "unknown";
}

std::string DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "fp32";
    case DType::kBFloat16:
      return "bf16";
    case DType::kFloat16:
      return "fp16";
  }
  return "unknown";
}

std::vector<int64_t> BlockTokens(int64_t n_chunks, int64_t seq_len,
                                 int64_t block_tokens) {
  return analysis::BlockSizes(n_chunks, seq_len, block_tokens);
}

int DefaultThreads() {
  return std::max(1u, std::thread::hardware_concurrency());
}

struct Model::Impl {
  EngineOptions options;
  torch::Device device{torch::kCPU};
  internal::DeviceModel model;

  int64_t BatchRows(int64_t seq_len) const;
  internal::LmHeadOptions LmOptions() const;
  Replacements MakeReplacements(Method method, const torch::Tensor& chunks,
                                int64_t block,
                                const CleanCache* only_cache) const;
  Replacements MeanReplacements(const torch::Tensor& chunks, int64_t block,
                                const CleanCache* only_cache) const;
  std::vector<std::vector<double>> Run(const torch::Tensor& chunks,
                                       absl::Span<const HeadMask> masks,
                                       Method method,
                                       const EvalOptions& eval) const;
};

// Rows per batch: the option, or as many as fit the activation budget. Per row
// of T positions a block holds about 6 d-wide activations (x, norms, residual
// sums), two z-wide ones, two MLP up-projections and two [H, T, T] attention
// maps (GPT-2: 16 d in all).
int64_t Model::Impl::BatchRows(int64_t seq_len) const {
  if (options.max_batch_rows > 0) return options.max_batch_rows;
  const ModelConfig& c = model.config;
  const int64_t elem = model.wte.element_size();
  const int64_t fc = model.blocks[0].mlp_c_fc_weight.size(1);
  const int64_t per_row = seq_len * elem *
                          (6LL * c.n_embd + 2LL * c.q_width() + 2LL * fc +
                           2LL * c.n_head * seq_len);
  const int64_t budget_mb = options.activation_budget_mb > 0
                                ? options.activation_budget_mb
                                : (device.is_cuda() ? 8192 : 1024);
  return std::max<int64_t>(1, (budget_mb << 20) / per_row);
}

// Position blocks of the LM head: 8M logits (32 MB in fp32) on cpu, 64M on
// GPUs.
internal::LmHeadOptions Model::Impl::LmOptions() const {
  internal::LmHeadOptions lm;
  lm.vocab_slice = std::max<int64_t>(1, options.vocab_slice);
  const int64_t logits =
      device.is_cpu() ? (int64_t{1} << 23) : (int64_t{1} << 26);
  lm.max_positions = std::max<int64_t>(1, logits / lm.vocab_slice);
  return lm;
}

Replacements Model::Impl::MakeReplacements(Method method,
                                          const torch::Tensor& chunks,
                                          int64_t block,
                                          const CleanCache* only_cache) const {
  if (method == Method::kMean)
    return MeanReplacements(chunks, block, only_cache);
  const ModelConfig& c = model.config;
  const int64_t H = c.n_head, KV = c.kv_heads(), dh = c.d_head();
  const int64_t v_lo = c.q_width() + c.kv_width();
  Replacements repl;
  for (const BlockWeights& b : model.blocks) {
    if (method == Method::kZero || !b.attn_c_attn_bias.defined()) {
      repl.push_back(torch::zeros({H, dh}, model.wte.options()));
      continue;
    }
    // b_V of every kv head [KV, dh]; query head h reads kv head h / (H / KV).
    torch::Tensor bias_v =
        b.attn_c_attn_bias.slice(0, v_lo, v_lo + c.kv_width()).view({KV, dh});
    repl.push_back(bias_v.repeat_interleave(H / KV, 0));
  }
  return repl;
}

// mean: z_h averaged over every position of every chunk in the clean pass
// (summed in fp32), from the cache when there is one block of chunks.
Replacements Model::Impl::MeanReplacements(const torch::Tensor& chunks,
                                          int64_t block,
                                          const CleanCache* only_cache) const {
  const ModelConfig& c = model.config;
  Replacements repl;
  std::vector<torch::Tensor> sums(c.n_layer);
  auto add = [&](const CleanCache& cache) {
    for (int l = 0; l < c.n_layer; ++l) {
      torch::Tensor s =
          cache.z[l].to(torch::kFloat).sum(std::vector<int64_t>{0, 1});  // [d]
      sums[l] = sums[l].defined() ? sums[l] + s : s;
    }
  };
  if (only_cache != nullptr) {
    add(*only_cache);
  } else {
    for (int64_t lo = 0; lo < chunks.size(0); lo += block) {
      add(internal::CleanPass(model, chunks.slice(0, lo, lo + block)));
    }
  }
  const double count = static_cast<double>(chunks.size(0) * chunks.size(1));
  for (int l = 0; l < c.n_layer; ++l) {
    repl.push_back(sums[l]
                       .div(count)
                       .to(model.wte.scalar_type())
                       .view({c.n_head, c.d_head()}));
  }
  return repl;
}

// Chunks are taken in blocks of up to `block` chunks (one clean pass each);
// masks in batches of `per_batch`, so a batch holds at most max(batch rows,
// block) rows.
// Returns the per-block NLL of every mask (in the caller's order).
std::vector<std::vector<double>> Model::Impl::Run(
    const torch::Tensor& chunks, absl::Span<const HeadMask> masks,
    Method method, const EvalOptions& eval) const {
  const int64_t n_chunks = chunks.size(0), seq_len = chunks.size(1);
  const int64_t rows = BatchRows(seq_len);
  const int64_t block = std::min(n_chunks, rows);
  const int64_t per_batch = std::max<int64_t>(1, rows / block);
  const int64_t n_blocks = (n_chunks + block - 1) / block;
  const std::vector<MaskJob> jobs = MakeJobs(masks, model.config);
  std::optional<CleanCache> only;
  if (n_blocks == 1) only = internal::CleanPass(model, chunks);
  const Replacements repl =
      MakeReplacements(method, chunks, block, only ? &*only : nullptr);
  const int64_t n = static_cast<int64_t>(jobs.size());
  const int64_t nb = (seq_len - 1 + eval.block_tokens - 1) / eval.block_tokens;
  std::vector<std::vector<double>> blocks(jobs.size(),
                                          std::vector<double>(n_chunks * nb));
  int64_t done = 0;  // masks finished, summed over chunk blocks
  for (int64_t lo = 0; lo < n_chunks; lo += block) {
    const torch::Tensor tokens = chunks.slice(0, lo, lo + block);
    const CleanCache cache =
        only ? std::move(*only) : internal::CleanPass(model, tokens);
    const torch::Tensor targets = tokens.slice(1, 1, seq_len);  // [C, T - 1]
    for (int64_t j = 0; j < n; j += per_batch) {
      absl::Span<const MaskJob> batch =
          absl::MakeConstSpan(jobs).subspan(j, per_batch);
      const torch::Tensor nll =
          internal::RunMaskBatch(model, cache, repl, batch, targets,
                                 LmOptions(), eval.block_tokens)
              .contiguous();  // [batch, C * nb] float64
      const double* p = nll.data_ptr<double>();
      for (size_t i = 0; i < batch.size(); ++i) {
        std::copy(p + i * nll.size(1), p + (i + 1) * nll.size(1),
                  blocks[batch[i].index].begin() + lo * nb);
      }
      done += static_cast<int64_t>(batch.size());
      if (eval.progress) eval.progress(done / n_blocks, n);
    }
  }
  return blocks;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelConfig& Model::config() const { return impl_->model.config; }
const EngineOptions& Model::options() const { return impl_->options; }

absl::StatusOr<std::unique_ptr<Model>> Model::Create(
    ModelWeights weights, const EngineOptions& options) {
  try {
    absl::Status s = internal::CheckWeights(weights);
    if (!s.ok()) return s;
    absl::StatusOr<torch::Device> device =
        internal::ParseDevice(options.device);
    if (!device.ok()) return device.status();
    s = internal::CheckDType(options.dtype, *device);
    if (!s.ok()) return s;
    if (options.threads < 0)
      return absl::InvalidArgumentError("threads must be >= 0");
    SetThreads(options.threads > 0 ? options.threads : DefaultThreads());
    if (device->is_cuda())
      at::globalContext().setAllowTF32CuBLAS(options.allow_tf32);
    if (device->is_cpu() && options.keep_freed_memory) KeepFreedMemory();
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->device = *device;
    torch::NoGradGuard guard;  // not InferenceMode: Attribute needs autograd
    impl->model =
        internal::ToDevice(weights, *device, ScalarType(options.dtype));
    return std::unique_ptr<Model>(new Model(std::move(impl)));
  } catch (const std::exception& e) {  // c10::Error, std::bad_alloc
    return TorchError("Model::Create", e);
  }
}

absl::StatusOr<std::vector<MaskNll>> Model::Evaluate(
    const torch::Tensor& chunks, absl::Span<const HeadMask> masks,
    Method method, const EvalOptions& eval) const {
  try {
    absl::Status s = CheckRequest(chunks, method, eval, config());
    if (!s.ok()) return s;
    s = internal::CheckMasks(masks, config());
    if (!s.ok()) return s;
    std::vector<MaskNll> out(masks.size());
    if (masks.empty()) return out;
    c10::InferenceMode guard;
    const torch::Tensor tokens =
        chunks.to(impl_->device, torch::kLong).contiguous();
    std::vector<std::vector<double>> blocks =
        impl_->Run(tokens, masks, method, eval);
    for (size_t i = 0; i < out.size(); ++i) {
      out[i].nll_sum = 0;
      for (double b : blocks[i]) out[i].nll_sum += b;
      out[i].n_tokens = chunks.size(0) * (chunks.size(1) - 1);
      out[i].block_nll = std::move(blocks[i]);
    }
    return out;
  } catch (const std::exception& e) {  // c10::Error, std::bad_alloc
    return TorchError("Model::Evaluate", e);
  }
}

absl::StatusOr<Attribution> Model::Attribute(const torch::Tensor& chunks,
                                            Method method,
                                            const EvalOptions& eval) const {
  try {
    absl::Status s = CheckRequest(chunks, method, eval, config());
    if (!s.ok()) return s;
    c10::InferenceMode not_inference(false);
    const torch::Tensor tokens =
        chunks.to(impl_->device, torch::kLong).contiguous();
    std::optional<Replacements> repl;
    if (method != Method::kMean)
      repl = impl_->MakeReplacements(method, tokens, 0, nullptr);
    const int64_t rows = internal::AttributionRows(
        impl_->model, impl_->options, impl_->device, tokens.size(1));
    internal::AttributionRun run =
        internal::Attribute(impl_->model, tokens, repl ? &*repl : nullptr,
                            impl_->LmOptions(), rows, eval);
    Attribution out;
    for (double b : run.block_nll) out.clean.nll_sum += b;
    out.clean.n_tokens = chunks.size(0) * (chunks.size(1) - 1);
    out.clean.block_nll = std::move(run.block_nll);
    out.estimates = std::move(run.estimates);
    return out;
  } catch (const std::exception& e) {  // c10::Error, std::bad_alloc
    return TorchError("Model::Attribute", e);
  }
}

}  // namespace ablate::engine
