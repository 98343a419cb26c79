#include "proto/analysis/bootstrap_stats.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "proto/analysis/correlation.h"
#include "proto/analysis/distribution.h"
#include "proto/analysis/tables.h"

namespace ablate::analysis {
namespace {

using ResampleFn = std::function<absl::Status(const std::vector<HeadResult>&)>;

// Calls `fn` with every resample's head table (flat order; ppl = the resampled ratio, delta =
// ratio - 1), resample 0 first.
absl::Status ForEachResample(absl::Span<const double> ratios, int n_layer, int n_head,
                             const BootstrapOptions& options, const ResampleFn& fn) {
  if (n_layer < 1 || n_head < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected at least 1 x 1 heads, got ", n_layer, " x ", n_head));
  }
  const size_t n_heads = static_cast<size_t>(n_layer) * static_cast<size_t>(n_head);
  if (ratios.size() != static_cast<size_t>(options.resamples) * n_heads) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", options.resamples, " resamples of ", n_layer, " x ", n_head,
                     " heads, got ", ratios.size(), " ratios"));
  }
  std::vector<HeadResult> table(n_heads);
  for (size_t m = 0; m < n_heads; ++m) {
    table[m].layer = static_cast<int>(m) / n_head;
    table[m].head = static_cast<int>(m) % n_head;
  }
  for (size_t b = 0; b < static_cast<size_t>(options.resamples); ++b) {
    const double* row = &ratios[b * n_heads];
    for (size_t m = 0; m < n_heads; ++m) {
      table[m].ppl = row[m];
      table[m].delta = row[m] - 1.0;
    }
    if (absl::Status s = fn(table); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Per-resample values of one statistic; `complete` is false once a resample lacked it.
struct Column {
  std::vector<double> values;
  bool complete = true;
  void Add(double v) { values.push_back(v); }
  void Missing() { complete = false; }
  Interval Get(double ci) { return PercentileInterval(values, ci); }
  std::optional<Interval> GetIfComplete(double ci) {
    if (!complete || values.empty()) return std::nullopt;
    return PercentileInterval(values, ci);
  }
};

}  // namespace

absl::StatusOr<DistributionIntervals> DistributionBand(absl::Span<const double> ratios,
                                                       int n_layer, int n_head,
                                                       const BootstrapOptions& options) {
  Column under_1pct, under_10pct, improved, mean, median, mean_abs, max, alpha;
  absl::Status status = ForEachResample(
      ratios, n_layer, n_head, options,
      [&](const std::vector<HeadResult>& table) -> absl::Status {
        absl::StatusOr<DistributionStats> d = ComputeDistribution(table);
        if (!d.ok()) return d.status();
        under_1pct.Add(d->under_1pct);
        under_10pct.Add(d->under_10pct);
        improved.Add(d->improved);
        mean.Add(d->mean_delta);
        median.Add(d->median_delta);
        mean_abs.Add(d->mean_abs_delta);
        max.Add(d->max_delta);
        if (d->zipf.has_value()) {
          alpha.Add(d->zipf->alpha);
        } else {
          alpha.Missing();
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  const double ci = options.ci;
  DistributionIntervals out;
  out.under_1pct = under_1pct.Get(ci);
  out.under_10pct = under_10pct.Get(ci);
  out.improved = improved.Get(ci);
  out.mean_delta = mean.Get(ci);
  out.median_delta = median.Get(ci);
  out.mean_abs_delta = mean_abs.Get(ci);
  out.max_delta = max.Get(ci);
  out.zipf_alpha = alpha.GetIfComplete(ci);
  return out;
}

absl::StatusOr<LayerIntervals> LayerBand(absl::Span<const double> ratios, int n_layer,
                                         int n_head, const BootstrapOptions& options) {
  std::vector<Column> mean(n_layer > 0 ? n_layer : 0), max(mean.size());
  absl::Status status = ForEachResample(
      ratios, n_layer, n_head, options,
      [&](const std::vector<HeadResult>& table) -> absl::Status {
        absl::StatusOr<std::vector<LayerStats>> layers = ComputeLayerStats(table, n_layer);
        if (!layers.ok()) return layers.status();
        for (const LayerStats& l : *layers) {
          mean[l.layer].Add(l.mean_delta);
          max[l.layer].Add(l.max_delta);
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  LayerIntervals out;
  for (size_t l = 0; l < mean.size(); ++l) {
    out.mean.push_back(mean[l].Get(options.ci));
    out.max.push_back(max[l].Get(options.ci));
  }
  return out;
}

absl::StatusOr<CorrelationIntervals> CorrelationBand(absl::Span<const double> ratios,
                                                     int n_layer, int n_head,
                                                     absl::Span<const double> series,
                                                     const BootstrapOptions& options) {
  if (series.size() != static_cast<size_t>(n_layer)) {
    return absl::InvalidArgumentError(absl::StrCat("series has ", series.size(),
                                                   " values; the model has ", n_layer,
                                                   " layers"));
  }
  Column pearson, spearman;
  std::vector<double> means(series.size());
  absl::Status status = ForEachResample(
      ratios, n_layer, n_head, options,
      [&](const std::vector<HeadResult>& table) -> absl::Status {
        absl::StatusOr<std::vector<LayerStats>> layers = ComputeLayerStats(table, n_layer);
        if (!layers.ok()) return layers.status();
        for (const LayerStats& l : *layers) means[l.layer] = l.mean_delta;
        // Undefined (e.g. equal layer means) on this resample: no interval at all.
        absl::StatusOr<CorrelationResult> r = Pearson(means, series);
        if (r.ok()) pearson.Add(r->coefficient); else pearson.Missing();
        absl::StatusOr<CorrelationResult> rho = Spearman(means, series);
        if (rho.ok()) spearman.Add(rho->coefficient); else spearman.Missing();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  CorrelationIntervals out;
  out.pearson = pearson.GetIfComplete(options.ci);
  out.spearman = spearman.GetIfComplete(options.ci);
  return out;
}

}  // namespace ablate::analysis
