#include "storage/queries.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/analysis/correlation.h"
#include "proto/analysis/distribution.h"
#include "proto/analysis/tables.h"
#include "storage/attribution_table.h"
#include "storage/intervals.h"
#include "storage/store_internal.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;

struct Individual {
  PhaseData data;
  double baseline_ppl = 0;
  std::vector<analysis::HeadResult> heads;
};

absl::StatusOr<Individual> LoadIndividual(Store& store, absl::string_view job_id) {
  Individual out;
  ABLATE_ASSIGN_OR_RETURN(out.data, store.LoadPhase(job_id, v1::PHASE_INDIVIDUAL));
  const v1::ModelShape& shape = out.data.spec.model().shape();
  ABLATE_ASSIGN_OR_RETURN(out.baseline_ppl, analysis::Perplexity(out.data.masks[0]));
  ABLATE_ASSIGN_OR_RETURN(
      out.heads, analysis::BuildHeadTable(out.data.masks[0],
                                          absl::MakeConstSpan(out.data.masks).subspan(1),
                                          shape.n_layer(), shape.n_head()));
  return out;
}

struct Curve {
  PhaseData data;
  double baseline_ppl = 0;
  std::vector<analysis::CurveResult> points;
};

absl::StatusOr<Curve> LoadCurve(Store& store, absl::string_view job_id) {
  Curve out;
  ABLATE_ASSIGN_OR_RETURN(out.data, store.LoadPhase(job_id, v1::PHASE_CUMULATIVE));
  ABLATE_ASSIGN_OR_RETURN(out.baseline_ppl, analysis::Perplexity(out.data.masks[0]));
  ABLATE_ASSIGN_OR_RETURN(out.points, analysis::BuildCurve(out.baseline_ppl, out.data.masks));
  return out;
}

absl::Status WithField(absl::string_view field, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(field, ": ", status.message()));
}

}  // namespace

absl::StatusOr<v1::HeadTable> QueryHeadTable(Store& store, absl::string_view job_id,
                                             const v1::Uncertainty& uncertainty) {
  ABLATE_ASSIGN_OR_RETURN(std::optional<AttributionData> attribution,
                          store.LoadAttribution(job_id));
  if (attribution.has_value()) return AttributionHeadTable(*attribution);
  ABLATE_ASSIGN_OR_RETURN(auto options, ResolveUncertainty(uncertainty));
  ABLATE_ASSIGN_OR_RETURN(Individual ind, LoadIndividual(store, job_id));
  v1::HeadTable table;
  table.set_baseline_ppl(ind.baseline_ppl);
  table.set_n_tokens_scored(ind.data.masks[0].n_tokens);
  table.set_n_layer(ind.data.spec.model().shape().n_layer());
  table.set_n_head(ind.data.spec.model().shape().n_head());
  for (const analysis::HeadResult& head : ind.heads) {
    v1::HeadRow* row = table.add_rows();
    row->set_layer(head.layer);
    row->set_head(head.head);
    row->set_ppl(head.ppl);
    row->set_delta(head.delta);
    row->set_exact(true);
  }
  ABLATE_RETURN_IF_ERROR(AddHeadIntervals(ind.data, uncertainty, options, &table));
  return table;
}

absl::StatusOr<v1::CumulativeCurve> QueryCurve(Store& store, absl::string_view job_id,
                                               const v1::Uncertainty& uncertainty) {
  ABLATE_ASSIGN_OR_RETURN(auto options, ResolveUncertainty(uncertainty));
  ABLATE_ASSIGN_OR_RETURN(Curve curve, LoadCurve(store, job_id));
  const int n_head = curve.data.spec.model().shape().n_head();
  v1::CumulativeCurve out;
  out.set_baseline_ppl(curve.baseline_ppl);
  for (const analysis::CurveResult& point : curve.points) {
    v1::CurvePoint* p = out.add_points();
    p->set_removed(point.removed);
    p->set_ppl(point.ppl);
    p->set_ratio(point.ratio);
    if (point.removed > 0 && point.removed <= static_cast<int>(curve.data.order.size())) {
      const int flat = curve.data.order[point.removed - 1];
      p->mutable_head()->set_layer(flat / n_head);
      p->mutable_head()->set_head(flat % n_head);
    }
  }
  ABLATE_RETURN_IF_ERROR(AddCurveBand(curve.data, uncertainty, options, &out));
  return out;
}

absl::StatusOr<v1::ThresholdTable> QueryThresholds(Store& store,
                                                   const v1::ThresholdsRequest& request) {
  ABLATE_ASSIGN_OR_RETURN(auto options, ResolveUncertainty(request.uncertainty()));
  ABLATE_ASSIGN_OR_RETURN(Curve curve, LoadCurve(store, request.job_id()));
  std::vector<double> ppl;
  for (const analysis::CurveResult& point : curve.points) ppl.push_back(point.ppl);
  std::vector<double> ratios(request.ratios().begin(), request.ratios().end());
  absl::StatusOr<std::vector<analysis::Threshold>> rows =
      analysis::ComputeThresholds(ppl, curve.baseline_ppl, ratios);
  if (!rows.ok()) return WithField("ratios", rows.status());
  v1::ThresholdTable out;
  out.set_baseline_ppl(curve.baseline_ppl);
  for (const analysis::Threshold& t : *rows) {
    v1::ThresholdRow* row = out.add_rows();
    row->set_ratio(t.ratio);
    row->set_max_heads(t.max_heads);
    row->set_ppl_at_max(t.ppl_at_max);
    row->set_fraction(t.fraction);
  }
  ABLATE_RETURN_IF_ERROR(AddThresholdIntervals(curve.data, ratios, options, &out));
  return out;
}

absl::StatusOr<v1::DistributionStats> QueryDistribution(Store& store, absl::string_view job_id,
                                                        const v1::Uncertainty& uncertainty) {
  ABLATE_ASSIGN_OR_RETURN(auto options, ResolveUncertainty(uncertainty));
  ABLATE_ASSIGN_OR_RETURN(Individual ind, LoadIndividual(store, job_id));
  ABLATE_ASSIGN_OR_RETURN(analysis::DistributionStats stats,
                          analysis::ComputeDistribution(ind.heads));
  v1::DistributionStats out;
  out.set_n_heads(stats.n_heads);
  out.set_under_1pct(stats.under_1pct);
  out.set_under_10pct(stats.under_10pct);
  out.set_improved(stats.improved);
  out.set_mean_delta(stats.mean_delta);
  out.set_median_delta(stats.median_delta);
  out.set_max_delta(stats.max_delta);
  out.mutable_max_head()->set_layer(stats.max_layer);
  out.mutable_max_head()->set_head(stats.max_head);
  out.set_mean_abs_delta(stats.mean_abs_delta);
  if (stats.zipf.has_value()) {
    out.mutable_zipf()->set_alpha(stats.zipf->alpha);
    out.mutable_zipf()->set_c(stats.zipf->c);
    out.mutable_zipf()->set_r2(stats.zipf->r2);
    out.mutable_zipf()->set_n_points(stats.zipf->n_points);
  }
  ABLATE_RETURN_IF_ERROR(AddDistributionIntervals(ind.data, options, &out));
  return out;
}

absl::StatusOr<v1::LayerTable> QueryLayers(Store& store, absl::string_view job_id,
                                           const v1::Uncertainty& uncertainty) {
  ABLATE_ASSIGN_OR_RETURN(auto options, ResolveUncertainty(uncertainty));
  ABLATE_ASSIGN_OR_RETURN(Individual ind, LoadIndividual(store, job_id));
  ABLATE_ASSIGN_OR_RETURN(
      std::vector<analysis::LayerStats> layers,
      analysis::ComputeLayerStats(ind.heads, ind.data.spec.model().shape().n_layer()));
  v1::LayerTable out;
  for (const analysis::LayerStats& layer : layers) {
    v1::LayerRow* row = out.add_rows();
    row->set_layer(layer.layer);
    row->set_mean_delta(layer.mean_delta);
    row->set_max_delta(layer.max_delta);
    row->set_max_head(layer.max_head);
  }
  ABLATE_RETURN_IF_ERROR(AddLayerIntervals(ind.data, options, &out));
  return out;
}

absl::StatusOr<v1::Correlation> QueryCorrelation(Store& store,
                                                 const v1::CorrelationRequest& request) {
  ABLATE_ASSIGN_OR_RETURN(auto options, ResolveUncertainty(request.uncertainty()));
  ABLATE_ASSIGN_OR_RETURN(Individual ind, LoadIndividual(store, request.job_id()));
  const int n_layer = ind.data.spec.model().shape().n_layer();
  if (request.series_size() != n_layer) {
    return absl::InvalidArgumentError(absl::StrCat(
        "series has ", request.series_size(), " values; the model has ", n_layer, " layers"));
  }
  ABLATE_ASSIGN_OR_RETURN(std::vector<analysis::LayerStats> layers,
                          analysis::ComputeLayerStats(ind.heads, n_layer));
  std::vector<double> means;
  for (const analysis::LayerStats& layer : layers) means.push_back(layer.mean_delta);
  std::vector<double> series(request.series().begin(), request.series().end());
  absl::StatusOr<analysis::CorrelationResult> pearson = analysis::Pearson(means, series);
  if (!pearson.ok()) return WithField("series", pearson.status());
  absl::StatusOr<analysis::CorrelationResult> spearman = analysis::Spearman(means, series);
  if (!spearman.ok()) return WithField("series", spearman.status());
  v1::Correlation out;
  out.set_n(pearson->n);
  out.set_pearson_r(pearson->coefficient);
  out.set_pearson_p(pearson->p_value);
  out.set_spearman_rho(spearman->coefficient);
  out.set_spearman_p(spearman->p_value);
  out.set_series_name(request.series_name());
  ABLATE_RETURN_IF_ERROR(AddCorrelationIntervals(ind.data, series, options, &out));
  return out;
}

}  // namespace ablate::storage
