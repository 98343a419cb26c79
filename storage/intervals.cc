#include "storage/intervals.h"

#include "absl/strings/str_cat.h"
#include "proto/analysis/bootstrap_stats.h"
#include "storage/job_spec.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;

template <typename Field>
void CopyBlocks(const std::vector<double>& blocks, Field* field) {
  field->Reserve(static_cast<int>(blocks.size()));
  for (double b : blocks) field->Add(b);
}

void SetInterval(const analysis::Interval& in, v1::Interval* out) {
  out->set_lo(in.lo);
  out->set_hi(in.hi);
}

template <typename Message>
void SetSettings(const analysis::BootstrapOptions& o, Message* m) {
  m->set_ci(o.ci);
  m->set_bootstrap(o.resamples);
  m->set_seed(o.seed);
}

}  // namespace

absl::StatusOr<std::optional<analysis::BootstrapOptions>> ResolveUncertainty(
    const v1::Uncertainty& u) {
  absl::StatusOr<std::optional<analysis::BootstrapOptions>> options =
      analysis::ResolveBootstrap(u.ci(), u.bootstrap(), u.seed());
  if (!options.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("uncertainty: ", options.status().message()));
  }
  return options;
}

bool HasBlocks(const PhaseData& data) {
  const size_t n = JobBlockSizes(data.spec).size();
  if (n == 0 || data.masks.empty()) return false;
  for (const analysis::MaskNll& m : data.masks) {
    if (m.block_nll.size() != n) return false;
  }
  return true;
}

absl::Status AddHeadIntervals(const PhaseData& data, const v1::Uncertainty& u,
                              const std::optional<analysis::BootstrapOptions>& options,
                              v1::HeadTable* table) {
  if (!HasBlocks(data)) return absl::OkStatus();
  const std::vector<int64_t> sizes = JobBlockSizes(data.spec);
  const absl::Span<const analysis::MaskNll> heads = absl::MakeConstSpan(data.masks).subspan(1);
  if (!u.omit_blocks()) {
    for (int64_t t : sizes) table->add_block_tokens(t);
    CopyBlocks(data.masks[0].block_nll, table->mutable_baseline_block_nll());
    for (int i = 0; i < table->rows_size() && i < static_cast<int>(heads.size()); ++i) {
      CopyBlocks(heads[i].block_nll, table->mutable_rows(i)->mutable_block_nll());
    }
  }
  if (!options.has_value()) return absl::OkStatus();
  absl::StatusOr<std::vector<analysis::HeadInterval>> intervals =
      analysis::HeadIntervals(sizes, data.masks[0], heads, *options);
  if (!intervals.ok()) return intervals.status();
  for (int i = 0; i < table->rows_size() && i < static_cast<int>(intervals->size()); ++i) {
    const analysis::HeadInterval& in = (*intervals)[i];
    v1::HeadRow* row = table->mutable_rows(i);
    row->set_delta_lo(in.delta_lo);
    row->set_delta_hi(in.delta_hi);
    row->set_significant(in.significant);
    row->set_rank_lo(in.rank_lo);
    row->set_rank_hi(in.rank_hi);
  }
  SetSettings(*options, table);
  return absl::OkStatus();
}

absl::Status AddCurveBand(const PhaseData& data, const v1::Uncertainty& u,
                          const std::optional<analysis::BootstrapOptions>& options,
                          v1::CumulativeCurve* curve) {
  if (!HasBlocks(data)) return absl::OkStatus();
  const std::vector<int64_t> sizes = JobBlockSizes(data.spec);
  if (!u.omit_blocks()) {
    for (int64_t t : sizes) curve->add_block_tokens(t);
    for (int k = 0; k < curve->points_size() && k < static_cast<int>(data.masks.size()); ++k) {
      CopyBlocks(data.masks[k].block_nll, curve->mutable_points(k)->mutable_block_nll());
    }
  }
  if (!options.has_value()) return absl::OkStatus();
  absl::StatusOr<analysis::CurveIntervals> band =
      analysis::CurveBand(sizes, data.masks[0], data.masks, {}, *options);
  if (!band.ok()) return band.status();
  for (int k = 0; k < curve->points_size() && k < static_cast<int>(band->ratio.size()); ++k) {
    curve->mutable_points(k)->set_ratio_lo(band->ratio[k].lo);
    curve->mutable_points(k)->set_ratio_hi(band->ratio[k].hi);
  }
  SetSettings(*options, curve);
  return absl::OkStatus();
}

absl::Status AddThresholdIntervals(const PhaseData& data, const std::vector<double>& ratios,
                                   const std::optional<analysis::BootstrapOptions>& options,
                                   v1::ThresholdTable* table) {
  if (!options.has_value() || !HasBlocks(data)) return absl::OkStatus();
  absl::StatusOr<analysis::CurveIntervals> band = analysis::CurveBand(
      JobBlockSizes(data.spec), data.masks[0], data.masks, ratios, *options);
  if (!band.ok()) return band.status();
  for (int r = 0; r < table->rows_size() && r < static_cast<int>(band->max_heads.size()); ++r) {
    table->mutable_rows(r)->set_max_heads_lo(static_cast<int>(band->max_heads[r].lo));
    table->mutable_rows(r)->set_max_heads_hi(static_cast<int>(band->max_heads[r].hi));
  }
  SetSettings(*options, table);
  return absl::OkStatus();
}

namespace {

// The resampled ratios of every head mask (the phase's masks after the baseline, flat order),
// computed once per query and shared by the head intervals and the summary statistics.
absl::StatusOr<std::vector<double>> HeadRatios(const PhaseData& data,
                                               const analysis::BootstrapOptions& options) {
  return analysis::ResampleRatios(JobBlockSizes(data.spec), data.masks[0],
                                  absl::MakeConstSpan(data.masks).subspan(1), options);
}

}  // namespace

absl::Status AddDistributionIntervals(const PhaseData& data,
                                      const std::optional<analysis::BootstrapOptions>& options,
                                      v1::DistributionStats* stats) {
  if (!options.has_value() || !HasBlocks(data)) return absl::OkStatus();
  absl::StatusOr<std::vector<double>> ratios = HeadRatios(data, *options);
  if (!ratios.ok()) return ratios.status();
  absl::StatusOr<std::vector<analysis::HeadInterval>> intervals =
      analysis::HeadIntervalsFromRatios(*ratios, data.masks.size() - 1, *options);
  if (!intervals.ok()) return intervals.status();
  int n = 0;
  for (const analysis::HeadInterval& in : *intervals) n += in.significant;
  stats->set_n_significant(n);
  const v1::ModelShape& shape = data.spec.model().shape();
  absl::StatusOr<analysis::DistributionIntervals> band =
      analysis::DistributionBand(*ratios, shape.n_layer(), shape.n_head(), *options);
  if (!band.ok()) return band.status();
  SetInterval(band->under_1pct, stats->mutable_under_1pct_ci());
  SetInterval(band->under_10pct, stats->mutable_under_10pct_ci());
  SetInterval(band->improved, stats->mutable_improved_ci());
  SetInterval(band->mean_delta, stats->mutable_mean_delta_ci());
  SetInterval(band->median_delta, stats->mutable_median_delta_ci());
  SetInterval(band->max_delta, stats->mutable_max_delta_ci());
  SetInterval(band->mean_abs_delta, stats->mutable_mean_abs_delta_ci());
  if (band->zipf_alpha.has_value()) SetInterval(*band->zipf_alpha, stats->mutable_zipf_alpha_ci());
  SetSettings(*options, stats);
  return absl::OkStatus();
}

absl::Status AddLayerIntervals(const PhaseData& data,
                               const std::optional<analysis::BootstrapOptions>& options,
                               v1::LayerTable* table) {
  if (!options.has_value() || !HasBlocks(data)) return absl::OkStatus();
  absl::StatusOr<std::vector<double>> ratios = HeadRatios(data, *options);
  if (!ratios.ok()) return ratios.status();
  const v1::ModelShape& shape = data.spec.model().shape();
  absl::StatusOr<analysis::LayerIntervals> band =
      analysis::LayerBand(*ratios, shape.n_layer(), shape.n_head(), *options);
  if (!band.ok()) return band.status();
  for (int l = 0; l < table->rows_size() && l < static_cast<int>(band->mean.size()); ++l) {
    SetInterval(band->mean[l], table->mutable_rows(l)->mutable_mean_delta_ci());
    SetInterval(band->max[l], table->mutable_rows(l)->mutable_max_delta_ci());
  }
  SetSettings(*options, table);
  return absl::OkStatus();
}

absl::Status AddCorrelationIntervals(const PhaseData& data, const std::vector<double>& series,
                                     const std::optional<analysis::BootstrapOptions>& options,
                                     v1::Correlation* correlation) {
  if (!options.has_value() || !HasBlocks(data)) return absl::OkStatus();
  absl::StatusOr<std::vector<double>> ratios = HeadRatios(data, *options);
  if (!ratios.ok()) return ratios.status();
  const v1::ModelShape& shape = data.spec.model().shape();
  absl::StatusOr<analysis::CorrelationIntervals> band = analysis::CorrelationBand(
      *ratios, shape.n_layer(), shape.n_head(), series, *options);
  if (!band.ok()) return band.status();
  if (band->pearson.has_value()) SetInterval(*band->pearson, correlation->mutable_pearson_r_ci());
  if (band->spearman.has_value()) {
    SetInterval(*band->spearman, correlation->mutable_spearman_rho_ci());
  }
  SetSettings(*options, correlation);
  return absl::OkStatus();
}

}  // namespace ablate::storage
