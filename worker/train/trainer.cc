// Copyright: the ablate authors.
#include "worker/train/trainer.h"

#include <dlfcn.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/artifact/digest.h"
#include "worker/engine/checkpoint.h"
#include "worker/engine/config.h"
#include "worker/engine/tokenizer.h"
#include "worker/train/train_model.h"

#if defined(__GLIBC__)  // Defined by the C library headers included above.
#include <malloc.h>
#endif

namespace ablate::train {
namespace {

using Clock = std::chrono::steady_clock;

// Sets the threads of LibTorch and of the OpenBLAS it calls (Debian's LibTorch:
// torch::set_num_threads does not reach it, and its thread count changes the
// rounding of matmuls, so it is part of what makes a run reproducible). Keeps
// freed buffers in the heap: touching fresh pages costs more than the
// arithmetic on some VMs (about 5 ms per MB measured here).
void ConfigureProcess(int threads) {
  torch::set_num_threads(threads);
  using SetFn = void (*)(int);
  if (auto set = reinterpret_cast<SetFn>(
          dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(threads);
  }
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);
#endif
}

absl::StatusOr<torch::Tensor> EncodeFile(const engine::Tokenizer& tokenizer,
                                         const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  std::vector<int> ids = tokenizer.Encode(text.str());
  return torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()),
                       torch::kLong);
}

// Consecutive chunks of seq_len tokens covering as much of `ids` as fits.
torch::Tensor Chunks(const torch::Tensor& ids, int seq_len) {
  const int64_t n = ids.size(0) / seq_len;
  return ids.slice(0, 0, n * seq_len).view({n, seq_len});
}

absl::Status CheckOptions(const TrainOptions& o, int64_t train_tokens,
                          int64_t heldout_chunks) {
  if (o.seq_len < 2 || o.seq_len > o.model.n_positions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "seq_len must be in [2, n_positions=", o.model.n_positions, "]"));
  }
  if (o.batch_size < 1 || o.steps < 1 || o.warmup_steps < 0 || o.threads < 1) {
    return absl::InvalidArgumentError(
        "batch_size, steps and threads must be >= 1, warmup_steps >= 0");
  }
  if (train_tokens <= o.seq_len) {
    return absl::InvalidArgumentError(o.train_text + ": too few tokens");
  }
  if (heldout_chunks < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.heldout_text, ": fewer than seq_len tokens"));
  }
  return absl::OkStatus();
}

// AdamW with weight decay on tensors of rank >= 2 (matrices, embeddings) only.
std::unique_ptr<torch::optim::AdamW> MakeOptimizer(const engine::ModelWeights& w,
                                                   const TrainOptions& o) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const torch::Tensor& p : Parameters(w)) {
    (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  auto options = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(o.lr)
            .betas({o.beta1, o.beta2})
            .weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, options(o.weight_decay));
  groups.emplace_back(no_decay, options(0.0));
  return std::make_unique<torch::optim::AdamW>(
      groups, torch::optim::AdamWOptions(o.lr));
}

// A batch of batch_size windows at offsets drawn from rng.
torch::Tensor Batch(const torch::Tensor& ids, const TrainOptions& o,
                    std::mt19937_64* rng) {
  const uint64_t span = static_cast<uint64_t>(ids.size(0) - o.seq_len + 1);
  std::vector<torch::Tensor> rows;
  for (int b = 0; b < o.batch_size; ++b) {
    const int64_t start = static_cast<int64_t>((*rng)() % span);
    rows.push_back(ids.slice(0, start, start + o.seq_len));
  }
  return torch::stack(rows);
}

// Runs the optimisation loop; returns the mean loss of the last log window.
double Optimise(engine::ModelWeights* w, const torch::Tensor& train_ids,
                const TrainOptions& o) {
  std::unique_ptr<torch::optim::AdamW> opt = MakeOptimizer(*w, o);
  const std::vector<torch::Tensor> params = Parameters(*w);
  std::mt19937_64 rng(o.seed);
  const auto start = Clock::now();
  double window_loss = 0;
  int window = 0;
  double last = 0;
  for (int step = 0; step < o.steps; ++step) {
    const double lr = LearningRate(o, step);
    for (auto& group : opt->param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    }
    torch::Tensor loss = NextTokenLoss(*w, Batch(train_ids, o, &rng));
    opt->zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, o.grad_clip);
    opt->step();
    window_loss += loss.item<double>();
    ++window;
    const bool last_step = step + 1 == o.steps;
    if ((o.log_every > 0 && (step + 1) % o.log_every == 0) || last_step) {
      last = window_loss / window;
      const double s =
          std::chrono::duration<double>(Clock::now() - start).count();
      if (o.log) {
        o.log(absl::StrFormat(
            "step %d/%d  loss %.4f  lr %.2e  %.0f s  %.0f tokens/s", step + 1,
            o.steps, last, lr, s, (step + 1.0) * o.batch_size * o.seq_len / s));
      }
      window_loss = 0;
      window = 0;
    }
  }
  return last;
}

// Saves, reloads, and scores the reloaded checkpoint with both forwards.
absl::Status SaveAndVerify(const engine::ModelWeights& w,
                           const torch::Tensor& heldout, const TrainOptions& o,
                           TrainReport* report) {
  engine::SaveOptions save;
  save.dtype = o.save_dtype;
  save.tokenizer_dir = o.tokenizer_dir;
  absl::Status s = engine::SaveCheckpoint(o.out_dir, w, save);
  if (!s.ok()) return s;
  absl::StatusOr<engine::ModelWeights> loaded =
      engine::LoadCheckpoint(o.out_dir);
  if (!loaded.ok()) return loaded.status();
  report->heldout_ppl_saved = Perplexity(*loaded, heldout, o.batch_size);
  engine::EngineOptions eo;
  eo.threads = o.threads;
  auto model = engine::Model::Create(*std::move(loaded), eo);
  if (!model.ok()) return model.status();
  auto nll =
      (*model)->Evaluate(heldout, {engine::HeadMask{}}, engine::Method::kZero);
  if (!nll.ok()) return nll.status();
  report->heldout_ppl_engine =
      std::exp((*nll)[0].nll_sum / static_cast<double>((*nll)[0].n_tokens));
  const double rel =
      std::abs(report->heldout_ppl_engine / report->heldout_ppl_saved - 1);
  if (rel > 1e-4) {
    return absl::InternalError(absl::StrFormat(
        "engine PPL %.6f differs from training-forward PPL %.6f",
        report->heldout_ppl_engine, report->heldout_ppl_saved));
  }
  absl::StatusOr<std::string> sha =
      artifact::Sha256OfFile(absl::StrCat(o.out_dir, "/", engine::kWeightsFile));
  if (!sha.ok()) return sha.status();
  report->safetensors_sha256 = *sha;
  return absl::OkStatus();
}

absl::StatusOr<TrainReport> TrainUnsafe(const TrainOptions& options) {
  TrainOptions o = options;
  const auto t0 = Clock::now();
  auto log = [&](const std::string& line) {
    if (o.log) {
      o.log(absl::StrFormat(
          "[%.0f s] %s",
          std::chrono::duration<double>(Clock::now() - t0).count(), line));
    }
  };
  auto tokenizer = engine::Tokenizer::Load(o.tokenizer_dir);
  if (!tokenizer.ok()) return tokenizer.status();
  o.model.vocab_size = (*tokenizer)->vocab_size();
  absl::Status s = engine::ValidateModelConfig(o.model);
  if (!s.ok()) return s;
  absl::StatusOr<torch::Tensor> train_ids =
      EncodeFile(**tokenizer, o.train_text);
  if (!train_ids.ok()) return train_ids.status();
  absl::StatusOr<torch::Tensor> heldout_ids =
      EncodeFile(**tokenizer, o.heldout_text);
  if (!heldout_ids.ok()) return heldout_ids.status();
  const torch::Tensor heldout = Chunks(*heldout_ids, o.seq_len);
  s = CheckOptions(o, train_ids->size(0), heldout.size(0));
  if (!s.ok()) return s;
  ConfigureProcess(o.threads);
  log(absl::StrFormat("tokenized: %d training tokens, %d held-out chunks",
                      train_ids->size(0), heldout.size(0)));

  TrainReport report;
  report.train_tokens = train_ids->size(0);
  report.heldout_chunks = heldout.size(0);
  report.heldout_tokens_scored = heldout.size(0) * (o.seq_len - 1);
  report.steps = o.steps;
  engine::ModelWeights w = InitWeights(o.model, o.seed);
  for (const torch::Tensor& p : Parameters(w)) report.n_params += p.numel();
  const auto start = Clock::now();
  report.final_train_loss = Optimise(&w, *train_ids, o);
  report.train_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  report.heldout_ppl_fp32 = Perplexity(w, heldout, o.batch_size);
  log(absl::StrFormat("held-out PPL (fp32 weights) %.3f",
                      report.heldout_ppl_fp32));
  s = SaveAndVerify(w, heldout, o, &report);
  if (!s.ok()) return s;
  log(absl::StrFormat("saved %s; held-out PPL %.3f (reloaded), %.3f (engine)",
                      o.out_dir, report.heldout_ppl_saved,
                      report.heldout_ppl_engine));
  return report;
}

}  // namespace

double LearningRate(const TrainOptions& o, int step) {
  if (step < o.warmup_steps) return o.lr * (step + 1) / o.warmup_steps;
  const int decay_steps = std::max(1, o.steps - 1 - o.warmup_steps);
  const double progress =
      std::min(1.0, double(step - o.warmup_steps) / decay_steps);
  return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + std::cos(M_PI * progress));
}

absl::StatusOr<TrainReport> Train(const TrainOptions& options) {
  try {
    return TrainUnsafe(options);
  } catch (const std::exception& e) {  // c10::Error derives from it.
    return absl::InternalError(absl::StrCat("training failed: ", e.what()));
  }
}

}  // namespace ablate::train
