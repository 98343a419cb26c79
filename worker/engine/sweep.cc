// Copyright: the ablate authors.
#include "worker/engine/sweep.h"

#include <chrono>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "proto/analysis/cumulative_order.h"

namespace ablate::engine {
namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

double Ppl(const MaskNll& r) {
  return std::exp(r.nll_sum / static_cast<double>(r.n_tokens));
}

// Shifts progress by `offset` masks and reports against `total`.
ProgressFn Offset(const ProgressFn& progress, int64_t offset, int64_t total) {
  if (!progress) return nullptr;
  return [=](int64_t done, int64_t) { progress(offset + done, total); };
}

absl::StatusOr<SweepResult> Individual(const Model& model,
                                       const torch::Tensor& chunks,
                                       Method method,
                                       const ProgressFn& progress) {
  const ModelConfig& c = model.config();
  std::vector<HeadMask> masks = {{}};
  for (int i = 0; i < c.n_heads_total(); ++i) masks.push_back({i});
  absl::StatusOr<std::vector<MaskNll>> nll =
      model.Evaluate(chunks, masks, method, {kDefaultBlockTokens, progress});
  if (!nll.ok()) return nll.status();
  SweepResult r;
  r.baseline_ppl = Ppl((*nll)[0]);
  r.n_tokens_scored = (*nll)[0].n_tokens;
  for (int i = 0; i < c.n_heads_total(); ++i) {
    const double ppl = Ppl((*nll)[i + 1]);
    r.heads.push_back({i / c.n_head, i % c.n_head, ppl,
                       (ppl - r.baseline_ppl) / r.baseline_ppl});
  }
  return r;
}

absl::Status CheckOrder(absl::Span<const int> order, const ModelConfig& c) {
  std::set<int> seen;
  for (int i : order) {
    if (i < 0 || i >= c.n_heads_total()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cumulative order: head index ", i, " out of range [0, ",
                       c.n_heads_total(), ")"));
    }
    if (!seen.insert(i).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("cumulative order: head ", i, " repeated"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SweepResult> Cumulative(const Model& model,
                                       const torch::Tensor& chunks,
                                       Method method,
                                       absl::Span<const int> order,
                                       const ProgressFn& progress) {
  const ModelConfig& c = model.config();
  absl::Status s = CheckOrder(order, c);
  if (!s.ok()) return s;
  std::vector<HeadMask> masks(order.size() +
                              1);  // mask k: the first k heads of the order
  for (size_t k = 1; k <= order.size(); ++k) {
    masks[k] = masks[k - 1];
    masks[k].push_back(order[k - 1]);
  }
  absl::StatusOr<std::vector<MaskNll>> nll =
      model.Evaluate(chunks, masks, method, {kDefaultBlockTokens, progress});
  if (!nll.ok()) return nll.status();
  SweepResult r;
  r.baseline_ppl = Ppl((*nll)[0]);
  r.n_tokens_scored = (*nll)[0].n_tokens;
  for (size_t k = 0; k < masks.size(); ++k) {
    CurvePoint p{static_cast<int>(k), Ppl((*nll)[k]), std::nullopt};
    if (k > 0)
      p.head = std::make_pair(order[k - 1] / c.n_head, order[k - 1] % c.n_head);
    r.cumulative.push_back(p);
  }
  return r;
}

}  // namespace

absl::StatusOr<torch::Tensor> MakeChunks(absl::Span<const int> tokens,
                                         int64_t n_chunks, int64_t seq_len,
                                         std::optional<int64_t> bos) {
  if (n_chunks < 1 || seq_len < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "need n_chunks >= 1 and seq_len >= 2, got ", n_chunks, " x ", seq_len));
  }
  if (bos && *bos < 0) {
    return absl::InvalidArgumentError(
        "BOS per chunk asked, but the vocabulary has no <|endoftext|>");
  }
  const int64_t text = bos ? seq_len - 1 : seq_len;  // text tokens per chunk
  const int64_t need = n_chunks * text;
  if (static_cast<int64_t>(tokens.size()) < need) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text too short: ", tokens.size(), " tokens, but n_chunks ", n_chunks,
        " x seq_len ", seq_len, bos ? " (with BOS)" : "", " need ", need));
  }
  torch::Tensor chunks = torch::empty({n_chunks, seq_len}, torch::kLong);
  auto acc = chunks.accessor<int64_t, 2>();
  for (int64_t c = 0; c < n_chunks; ++c) {
    int64_t col = 0;
    if (bos) acc[c][col++] = *bos;
    for (int64_t i = 0; i < text; ++i) acc[c][col++] = tokens[c * text + i];
  }
  return chunks;
}

absl::StatusOr<SweepResult> RunIndividual(const Model& model,
                                          const torch::Tensor& chunks,
                                          Method method,
                                          const ProgressFn& progress) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<SweepResult> r = Individual(model, chunks, method, progress);
  if (r.ok()) r->seconds = Seconds(start);
  return r;
}

absl::StatusOr<SweepResult> RunCumulative(const Model& model,
                                          const torch::Tensor& chunks,
                                          Method method,
                                          absl::Span<const int> order,
                                          const ProgressFn& progress) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<SweepResult> r =
      Cumulative(model, chunks, method, order, progress);
  if (r.ok()) r->seconds = Seconds(start);
  return r;
}

absl::StatusOr<SweepResult> RunFull(const Model& model,
                                    const torch::Tensor& chunks, Method method,
                                    const ProgressFn& progress) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = model.config().n_heads_total() + 1;  // masks per phase
  absl::StatusOr<SweepResult> r =
      Individual(model, chunks, method, Offset(progress, 0, 2 * n));
  if (!r.ok()) return r;
  std::vector<double> deltas;
  for (const HeadResult& h : r->heads) deltas.push_back(h.delta);
  absl::StatusOr<std::vector<int>> order = analysis::CumulativeOrder(
      deltas, model.config().n_layer, model.config().n_head);
  if (!order.ok()) return order.status();
  absl::StatusOr<SweepResult> cum =
      Cumulative(model, chunks, method, *order, Offset(progress, n, 2 * n));
  if (!cum.ok()) return cum;
  r->cumulative = std::move(cum->cumulative);
  r->seconds = Seconds(start);
  return r;
}

}  // namespace ablate::engine
