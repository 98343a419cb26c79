#include "worker/offline_intervals.h"

namespace ablate::worker {

using nlohmann::json;

absl::Status AddHeadIntervals(const std::vector<int64_t>& block_tokens,
                              const std::vector<analysis::MaskNll>& masks,
                              const std::optional<analysis::BootstrapOptions>& options,
                              json* out) {
  (*out)["block_tokens"] = block_tokens;
  (*out)["baseline_block_nll"] = masks.front().block_nll;
  json& heads = (*out)["heads"];
  for (size_t i = 0; i < heads.size() && i + 1 < masks.size(); ++i) {
    heads[i]["block_nll"] = masks[i + 1].block_nll;
  }
  if (!options.has_value()) return absl::OkStatus();
  absl::StatusOr<std::vector<analysis::HeadInterval>> intervals = analysis::HeadIntervals(
      block_tokens, masks.front(), absl::MakeConstSpan(masks).subspan(1), *options);
  if (!intervals.ok()) return intervals.status();
  for (size_t i = 0; i < heads.size() && i < intervals->size(); ++i) {
    const analysis::HeadInterval& in = (*intervals)[i];
    heads[i]["delta_ci"] = {in.delta_lo, in.delta_hi};
    heads[i]["significant"] = in.significant;
    heads[i]["rank_ci"] = {in.rank_lo, in.rank_hi};
  }
  return absl::OkStatus();
}

absl::Status AddCurveIntervals(const std::vector<int64_t>& block_tokens,
                               const std::vector<analysis::MaskNll>& points,
                               const std::optional<analysis::BootstrapOptions>& options,
                               json* out) {
  (*out)["block_tokens"] = block_tokens;
  if (!out->contains("baseline_block_nll")) {
    (*out)["baseline_block_nll"] = points.front().block_nll;
  }
  json& curve = (*out)["cumulative"];
  for (size_t k = 0; k < curve.size() && k < points.size(); ++k) {
    curve[k]["block_nll"] = points[k].block_nll;
  }
  std::vector<double> ppl;
  for (const json& p : curve) ppl.push_back(p["ppl"].get<double>());
  absl::StatusOr<std::vector<analysis::Threshold>> rows =
      analysis::ComputeThresholds(ppl, ppl.front(), {});
  if (!rows.ok()) return rows.status();
  std::optional<analysis::CurveIntervals> band;
  if (options.has_value()) {
    absl::StatusOr<analysis::CurveIntervals> b =
        analysis::CurveBand(block_tokens, points.front(), points, {}, *options);
    if (!b.ok()) return b.status();
    band = *std::move(b);
    for (size_t k = 0; k < curve.size() && k < band->ratio.size(); ++k) {
      curve[k]["ratio_ci"] = {band->ratio[k].lo, band->ratio[k].hi};
    }
  }
  (*out)["thresholds"] = json::array();
  for (size_t r = 0; r < rows->size(); ++r) {
    const analysis::Threshold& t = (*rows)[r];
    json row = {{"ratio", t.ratio},
                {"max_heads", t.max_heads},
                {"ppl_at_max", t.ppl_at_max},
                {"fraction", t.fraction}};
    if (band.has_value()) {
      row["max_heads_ci"] = {static_cast<int>(band->max_heads[r].lo),
                             static_cast<int>(band->max_heads[r].hi)};
    }
    (*out)["thresholds"].push_back(std::move(row));
  }
  return absl::OkStatus();
}

}  // namespace ablate::worker
