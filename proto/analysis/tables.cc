#include "proto/analysis/tables.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace ablate::analysis {
namespace {

absl::Status CheckBaseline(double baseline_ppl) {
  if (!std::isfinite(baseline_ppl) || baseline_ppl <= 0.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("baseline PPL must be positive and finite, got ", baseline_ppl));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<double> Perplexity(double nll_sum, int64_t n_tokens) {
  if (n_tokens <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("n_tokens must be positive, got ", n_tokens));
  }
  if (!std::isfinite(nll_sum)) {
    return absl::InvalidArgumentError(absl::StrCat("nll_sum is not finite: ", nll_sum));
  }
  return std::exp(nll_sum / static_cast<double>(n_tokens));
}

absl::StatusOr<double> Perplexity(const MaskNll& mask) {
  return Perplexity(mask.nll_sum, mask.n_tokens);
}

absl::StatusOr<std::vector<HeadResult>> BuildHeadTable(const MaskNll& baseline,
                                                       absl::Span<const MaskNll> heads,
                                                       int n_layer, int n_head) {
  if (n_layer <= 0 || n_head <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad shape ", n_layer, " x ", n_head));
  }
  const size_t n = static_cast<size_t>(n_layer) * n_head;
  if (heads.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(heads.size(), " head masks for ", n_layer, " x ", n_head));
  }
  absl::StatusOr<double> base = Perplexity(baseline);
  if (!base.ok()) return base.status();
  if (absl::Status s = CheckBaseline(*base); !s.ok()) return s;
  std::vector<HeadResult> rows;
  rows.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    absl::StatusOr<double> ppl = Perplexity(heads[i]);
    if (!ppl.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("head ", i / n_head, ".", i % n_head, ": ",
                                                     ppl.status().message()));
    }
    rows.push_back({static_cast<int>(i / n_head), static_cast<int>(i % n_head), *ppl,
                    (*ppl - *base) / *base});
  }
  return rows;
}

absl::StatusOr<std::vector<CurveResult>> BuildCurve(double baseline_ppl,
                                                    absl::Span<const MaskNll> points) {
  if (absl::Status s = CheckBaseline(baseline_ppl); !s.ok()) return s;
  if (points.empty()) return absl::InvalidArgumentError("cumulative curve has no points");
  std::vector<CurveResult> curve;
  curve.reserve(points.size());
  for (size_t k = 0; k < points.size(); ++k) {
    absl::StatusOr<double> ppl = Perplexity(points[k]);
    if (!ppl.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("curve point ", k, ": ", ppl.status().message()));
    }
    curve.push_back({static_cast<int>(k), *ppl, *ppl / baseline_ppl});
  }
  return curve;
}

std::vector<int64_t> BlockSizes(int64_t n_chunks, int64_t seq_len, int64_t block_tokens) {
  std::vector<int64_t> out;
  if (n_chunks < 1 || seq_len < 2 || block_tokens < 1) return out;
  for (int64_t c = 0; c < n_chunks; ++c) {
    for (int64_t lo = 0; lo < seq_len - 1; lo += block_tokens) {
      out.push_back(std::min(block_tokens, seq_len - 1 - lo));
    }
  }
  return out;
}

std::vector<double> DefaultRatios() { return {1.1, 1.5, 2.0}; }

absl::StatusOr<int> MaxHeadsRemovable(absl::Span<const double> curve_ppl, double baseline_ppl,
                                      double ratio) {
  if (curve_ppl.empty()) return absl::InvalidArgumentError("cumulative curve has no points");
  if (absl::Status s = CheckBaseline(baseline_ppl); !s.ok()) return s;
  if (!std::isfinite(ratio) || ratio < 1.0) {
    return absl::InvalidArgumentError(absl::StrCat("ratio must be >= 1, got ", ratio));
  }
  const double limit = ratio * baseline_ppl;
  int k = 0;
  while (k + 1 < static_cast<int>(curve_ppl.size()) && curve_ppl[k + 1] <= limit) ++k;
  return k;
}

absl::StatusOr<std::vector<Threshold>> ComputeThresholds(absl::Span<const double> curve_ppl,
                                                         double baseline_ppl,
                                                         absl::Span<const double> ratios) {
  std::vector<double> defaults;
  if (ratios.empty()) {
    defaults = DefaultRatios();
    ratios = defaults;
  }
  std::vector<Threshold> rows;
  rows.reserve(ratios.size());
  const size_t n_heads = curve_ppl.empty() ? 0 : curve_ppl.size() - 1;
  for (double ratio : ratios) {
    absl::StatusOr<int> k = MaxHeadsRemovable(curve_ppl, baseline_ppl, ratio);
    if (!k.ok()) return k.status();
    rows.push_back({ratio, *k, curve_ppl[*k],
                    n_heads == 0 ? 0.0 : static_cast<double>(*k) / static_cast<double>(n_heads)});
  }
  return rows;
}

}  // namespace ablate::analysis
