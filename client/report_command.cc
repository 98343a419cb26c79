// RunReport: fetch, compose, write (declared in report.h).
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/call.h"
#include "client/figures.h"
#include "client/report.h"

namespace ablate::client {
namespace {

namespace fs = std::filesystem;

v1::JobQuery Query(const std::string& job_id, const v1::Uncertainty& uncertainty = {}) {
  v1::JobQuery q;
  q.set_job_id(job_id);
  *q.mutable_uncertainty() = uncertainty;
  q.mutable_uncertainty()->set_omit_blocks(true);
  return q;
}

absl::Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) return absl::InvalidArgumentError(absl::StrCat("cannot write ", path.string()));
  return absl::OkStatus();
}

// The cumulative curve and thresholds, when the job has them. Errors other than "this job has
// no curve" are returned.
absl::Status FetchCumulative(const Session& s, const std::string& job_id,
                             const v1::Uncertainty& u, ReportData* d) {
  if (d->job.spec().sweep() == v1::SWEEP_INDIVIDUAL) {
    d->missing["curve"] = "the job ran the individual sweep only.";
    return absl::OkStatus();
  }
  v1::CumulativeCurve curve;
  absl::Status st =
      Call(s, &Stub::GetCumulativeCurve, Query(job_id, u), &curve, "GetCumulativeCurve");
  if (st.code() == absl::StatusCode::kFailedPrecondition ||
      st.code() == absl::StatusCode::kNotFound) {
    d->missing["curve"] = absl::StrCat(st.message(), ".");
    return absl::OkStatus();
  }
  if (!st.ok()) return st;
  d->curve = std::move(curve);
  v1::ThresholdsRequest req;
  req.set_job_id(job_id);
  *req.mutable_uncertainty() = u;
  std::vector<double> ratios = {1.1, 1.5, 2.0};
  for (double r : CriteriaRatios(d->criteria)) {
    if (std::find(ratios.begin(), ratios.end(), r) == ratios.end()) ratios.push_back(r);
  }
  std::sort(ratios.begin(), ratios.end());
  for (double r : ratios) req.add_ratios(r);
  v1::ThresholdTable thresholds;
  if (st = Call(s, &Stub::GetThresholds, req, &thresholds, "GetThresholds"); !st.ok()) return st;
  d->thresholds = std::move(thresholds);
  return absl::OkStatus();
}

absl::StatusOr<ReportData> Fetch(const Session& s, const ReportOptions& o) {
  ReportData d;
  if (!o.criteria_file.empty()) {
    absl::StatusOr<std::vector<Criterion>> c = LoadCriteria(o.criteria_file);
    if (!c.ok()) return c.status();
    d.criteria = *std::move(c);
  }
  if (!o.series_file.empty()) {
    absl::StatusOr<Series> series = LoadSeries(o.series_file);
    if (!series.ok()) return series.status();
    d.series = *std::move(series);
  }
  v1::GetJobRequest get;
  get.set_job_id(o.job_id);
  absl::Status st = Call(s, &Stub::GetJob, get, &d.job, "GetJob");
  const v1::Uncertainty& u = o.uncertainty;
  if (st.ok()) st = Call(s, &Stub::GetHeadTable, Query(o.job_id, u), &d.heads, "GetHeadTable");
  if (st.ok() && d.job.spec().sweep() == v1::SWEEP_ATTRIBUTION) return d;  // heads only
  if (st.ok()) {
    st = Call(s, &Stub::GetDistribution, Query(o.job_id, u), &d.stats, "GetDistribution");
  }
  if (st.ok()) st = Call(s, &Stub::GetLayerTable, Query(o.job_id), &d.layers, "GetLayerTable");
  if (st.ok()) st = FetchCumulative(s, o.job_id, u, &d);
  if (!st.ok()) return st;
  if (d.series.has_value()) {
    v1::CorrelationRequest req;
    req.set_job_id(o.job_id);
    req.set_series_name(d.series->name);
    for (double v : d.series->values) req.add_series(v);
    v1::Correlation corr;
    st = Call(s, &Stub::GetCorrelation, req, &corr, "GetCorrelation");
    if (st.code() == absl::StatusCode::kInvalidArgument) return st;  // Bad series: the user's.
    if (!st.ok()) return st;
    d.correlation = corr;
  } else {
    d.missing["correlation"] = "no per-layer series given (`--series FILE`).";
  }
  return d;
}

}  // namespace

absl::Status RunReport(const Session& s, const ReportOptions& o, const Output& out) {
  if (o.out_dir.empty()) return absl::InvalidArgumentError("report: --out DIR is required");
  absl::StatusOr<ReportData> d = Fetch(s, o);
  if (!d.ok()) return d.status();
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create ", o.out_dir, ": ", ec.message()));
  }
  const fs::path dir(o.out_dir);
  const std::string sub = absl::StrCat(d->job.spec().name().empty() ? d->job.id()
                                                                     : d->job.spec().name(),
                                       ", method ", MethodName(d->job.spec().method()),
                                       ", baseline PPL ", Fixed(d->heads.baseline_ppl(), 2));
  using Files = std::vector<std::pair<std::string, std::string>>;
  Files files =
      d->job.spec().sweep() == v1::SWEEP_ATTRIBUTION
          ? AttributionReportFiles(*d, sub)
          : Files{{"report.md", ReportMarkdown(*d)},
                  {"heatmap.svg", HeatmapSvg(d->heads, sub)},
                  {"layers.svg", LayerBarsSvg(d->layers, sub)},
                  {"heads.csv",
                   RenderCsv(HeadsTable(SortHeads(d->heads, HeadSort::kLayer, 0), d->heads.ci()))},
                  {"layers.csv", RenderCsv(LayersTable(d->layers))}};
  if (d->curve.has_value()) {
    files.push_back({"curve.svg", CurveSvg(*d->curve, *d->thresholds, sub)});
    files.push_back({"curve.csv", RenderCsv(CurveTable(*d->curve))});
  }
  for (const auto& [name, text] : files) {
    if (absl::Status st = WriteText(dir / name, text); !st.ok()) return st;
  }
  *out.out << "wrote " << files.size() << " files to " << dir.string() << "; report: "
           << (dir / "report.md").string() << "\n";
  return absl::OkStatus();
}

}  // namespace ablate::client
