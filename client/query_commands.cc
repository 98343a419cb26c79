// ablate heads / curve / thresholds / stats / layers (declared in commands.h).
#include <cmath>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_split.h"
#include "client/call.h"
#include "client/commands.h"

namespace ablate::client {
namespace {

using nlohmann::json;

// The client shows intervals but never the per-block NLL: ask the server to leave it out.
v1::JobQuery Query(const std::string& job_id, const v1::Uncertainty& uncertainty) {
  v1::JobQuery q;
  q.set_job_id(job_id);
  *q.mutable_uncertainty() = uncertainty;
  q.mutable_uncertainty()->set_omit_blocks(true);
  return q;
}

v1::JobQuery Query(const std::string& job_id) { return Query(job_id, v1::Uncertainty()); }

// " (95% bootstrap intervals, 10000 resamples, seed 1)" when the reply has intervals.
std::string IntervalNote(double ci, int bootstrap, uint64_t seed) {
  if (ci <= 0) return "";
  return absl::StrCat("; ", ExactNumber(100 * ci), "% paired block bootstrap intervals (",
                      bootstrap, " resamples, seed ", seed, ")");
}

// Table or CSV of `t`, JSON of `j`.
void Emit(const Output& out, Format format, const Table& t, const json& j,
          const std::string& preface = "", const std::string& after = "") {
  switch (format) {
    case Format::kTable:
      *out.out << preface << RenderMarkdown(t) << after;
      break;
    case Format::kCsv:
      *out.out << RenderCsv(t);
      break;
    case Format::kJson:
      *out.out << j.dump(2) << "\n";
      break;
  }
}

absl::StatusOr<double> ParseNumber(absl::string_view s) {
  double v = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(s), &v) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat("'", s, "' is not a number"));
  }
  return v;
}

}  // namespace

absl::StatusOr<std::vector<double>> ParseRatios(const std::string& text) {
  std::vector<double> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::StatusOr<double> v = ParseNumber(part);
    if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat("--ratios: ", v.status().message()));
    if (*v < 1.0) return absl::InvalidArgumentError("--ratios: each ratio must be >= 1");
    out.push_back(*v);
  }
  if (out.empty()) return absl::InvalidArgumentError("--ratios is empty");
  return out;
}

absl::StatusOr<Series> LoadSeries(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, "series file");
  if (!text.ok()) return text.status();
  Series series;
  series.name = std::filesystem::path(path).stem().string();
  const json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false, /*comments=*/true);
  if (!doc.is_discarded() && (doc.is_array() || doc.is_object())) {
    const json* values = &doc;
    if (doc.is_object()) {
      if (doc.contains("name") && doc["name"].is_string()) series.name = doc["name"];
      if (!doc.contains("values")) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": no \"values\" array"));
      }
      values = &doc["values"];
    }
    for (const json& v : *values) {
      if (!v.is_number()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a number"));
      series.values.push_back(v.get<double>());
    }
  } else {
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      line = line.substr(0, line.find('#'));
      std::vector<absl::string_view> fields = absl::StrSplit(line, ',', absl::SkipWhitespace());
      if (fields.empty() || absl::StripAsciiWhitespace(line).empty()) continue;
      if (fields.size() > 1) fields = {fields.back()};  // "layer,value" rows.
      absl::StatusOr<double> v = ParseNumber(fields[0]);
      if (!v.ok()) {
        if (series.values.empty()) continue;  // A header line.
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", v.status().message()));
      }
      series.values.push_back(*v);
    }
  }
  if (series.values.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no values"));
  return series;
}

namespace {

// "estimated by attribution ...; K verified exactly ..." (the JSON carries the same numbers:
// HeadTableJson).
std::string AttributionSummary(const v1::HeadTable& table) {
  std::string s = absl::StrCat("every head estimated by attribution patching; ",
                               table.n_verified(), " verified by exact ablation");
  if (table.has_atp_spearman()) {
    absl::StrAppend(&s, "; Spearman(estimate, exact) = ", Fixed(table.atp_spearman(), 3));
  }
  if (table.has_atp_recall()) {
    absl::StrAppend(&s, "; recall of the true top heads = ", Fixed(table.atp_recall(), 3),
                    " (vs ", table.recall_reference_job(), ")");
  }
  return s;
}

}  // namespace

absl::Status RunHeads(const Session& s, const std::string& job_id, HeadSort sort, int top,
                      Format format, const Output& out, const v1::Uncertainty& uncertainty) {
  v1::HeadTable table;
  if (absl::Status st = Call(s, &Stub::GetHeadTable, Query(job_id, uncertainty), &table,
                             "GetHeadTable");
      !st.ok()) {
    return st;
  }
  const std::vector<v1::HeadRow> rows = SortHeads(table, sort, top);
  const std::vector<v1::HeadRow> negative = NegativeHeads(table);
  json j = HeadTableJson(table, sort, top);
  const std::string preface = absl::StrCat(
      "Baseline PPL ", Fixed(table.baseline_ppl(), 3), " (", table.n_tokens_scored(),
      " tokens scored); ", table.n_layer(), " layers x ", table.n_head(), " heads; ",
      IsAttribution(table) ? AttributionSummary(table) : std::string("each head ablated alone"),
      IntervalNote(table.ci(), table.bootstrap(), table.seed()), "\n\n");
  std::string after = absl::StrCat("\nNegative heads (removing one alone lowers PPL): ",
                                   negative.size(), "\n");
  if (!negative.empty()) {
    absl::StrAppend(&after, "\n", RenderMarkdown(HeadsTable(negative, table.ci())));
  }
  Emit(out, format, HeadsTable(rows, table.ci()), j, preface, after);
  return absl::OkStatus();
}

absl::Status RunCurve(const Session& s, const std::string& job_id, Format format,
                      const Output& out, const v1::Uncertainty& uncertainty) {
  v1::CumulativeCurve curve;
  if (absl::Status st = Call(s, &Stub::GetCumulativeCurve, Query(job_id, uncertainty), &curve,
                             "GetCumulativeCurve");
      !st.ok()) {
    return st;
  }
  Emit(out, format, CurveTable(curve), CurveJson(curve),
       absl::StrCat("Baseline PPL ", Fixed(curve.baseline_ppl(), 3),
                    "; heads removed cumulatively, least important first",
                    IntervalNote(curve.ci(), curve.bootstrap(), curve.seed()), "\n\n"));
  return absl::OkStatus();
}

absl::Status RunThresholds(const Session& s, const std::string& job_id,
                           const std::vector<double>& ratios, Format format, const Output& out,
                           const v1::Uncertainty& uncertainty) {
  v1::ThresholdsRequest req;
  req.set_job_id(job_id);
  *req.mutable_uncertainty() = uncertainty;
  for (double r : ratios) req.add_ratios(r);
  v1::ThresholdTable table;
  if (absl::Status st = Call(s, &Stub::GetThresholds, req, &table, "GetThresholds"); !st.ok()) {
    return st;
  }
  int n_total = 0;
  if (table.rows_size() > 0 && table.rows(0).fraction() > 0) {
    n_total = static_cast<int>(std::lround(table.rows(0).max_heads() / table.rows(0).fraction()));
  }
  Emit(out, format, ThresholdsTable(table, n_total), ThresholdsJson(table),
       absl::StrCat("Baseline PPL ", Fixed(table.baseline_ppl(), 3),
                    IntervalNote(table.ci(), table.bootstrap(), table.seed()), "\n\n"));
  return absl::OkStatus();
}

absl::Status RunStats(const Session& s, const std::string& job_id, Format format,
                      const Output& out, const v1::Uncertainty& uncertainty) {
  v1::DistributionStats stats;
  if (absl::Status st = Call(s, &Stub::GetDistribution, Query(job_id, uncertainty), &stats,
                             "GetDistribution");
      !st.ok()) {
    return st;
  }
  Emit(out, format, StatsTable(stats), StatsJson(stats));
  return absl::OkStatus();
}

absl::Status RunLayers(const Session& s, const std::string& job_id,
                       const std::string& series_file, Format format, const Output& out,
                       const v1::Uncertainty& uncertainty) {
  std::optional<Series> series;
  if (!series_file.empty()) {
    absl::StatusOr<Series> loaded = LoadSeries(series_file);
    if (!loaded.ok()) return loaded.status();
    series = *std::move(loaded);
  }
  v1::LayerTable layers;
  if (absl::Status st =
          Call(s, &Stub::GetLayerTable, Query(job_id, uncertainty), &layers, "GetLayerTable");
      !st.ok()) {
    return st;
  }
  json j = {{"layers", LayersJson(layers)}};
  const std::string preface =
      layers.ci() > 0
          ? absl::StrCat("Per-layer dPPL with", IntervalNote(layers.ci(), layers.bootstrap(),
                                                        layers.seed()).substr(1), "\n\n")
          : "";
  if (!series.has_value()) {
    Emit(out, format, LayersTable(layers), j, preface);
    return absl::OkStatus();
  }
  v1::CorrelationRequest req;
  req.set_job_id(job_id);
  req.set_series_name(series->name);
  for (double v : series->values) req.add_series(v);
  *req.mutable_uncertainty() = uncertainty;
  v1::Correlation corr;
  if (absl::Status st = Call(s, &Stub::GetCorrelation, req, &corr, "GetCorrelation"); !st.ok()) {
    return st;
  }
  j["series"] = {{"name", series->name}, {"values", series->values}};
  j["correlation"] = CorrelationJson(corr);
  Emit(out, format, LayersTable(layers, &series->values, series->name), j, preface,
       absl::StrCat("\nCorrelation of per-layer mean dPPL with ", series->name, ":\n\n",
                    RenderMarkdown(CorrelationTable(corr))));
  return absl::OkStatus();
}

}  // namespace ablate::client
