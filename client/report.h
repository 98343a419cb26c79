// `ablate report`: the study's Markdown report and its three figures for one job.
//
// Files written to --out DIR: report.md, heatmap.svg, curve.svg (jobs with a cumulative
// sweep), layers.svg, and the data behind them as heads.csv, curve.csv, layers.csv.
// Attribution jobs: report.md, scatter.svg (estimate vs exact) and heads.csv.
#ifndef ABLATE_CLIENT_REPORT_H_
#define ABLATE_CLIENT_REPORT_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "client/commands.h"
#include "client/criteria.h"

namespace ablate::client {

// Everything the report shows, as fetched from the server. Optional parts are absent when the
// job has no cumulative phase or no series was given; `missing` says why, per section.
struct ReportData {
  v1::Job job;
  v1::HeadTable heads;
  v1::DistributionStats stats;
  v1::LayerTable layers;
  std::optional<v1::CumulativeCurve> curve;
  std::optional<v1::ThresholdTable> thresholds;
  std::optional<Series> series;
  std::optional<v1::Correlation> correlation;
  std::vector<Criterion> criteria;
  std::map<std::string, std::string> missing;  // Section -> reason.
};

// Values the criteria can name (criteria.h), from what `data` holds.
std::map<std::string, double> ReportMetrics(const ReportData& data);

// Curve points the report's cumulative table shows: about 20 evenly spaced k, the ends, and
// each threshold's max_heads and the step after it.
std::vector<int> ReportCurveSteps(const ReportData& data);

// The Markdown text of report.md (figures referenced by their file names).
std::string ReportMarkdown(const ReportData& data);

// SWEEP_ATTRIBUTION jobs (report_attribution.cc): report.md (agreement, top heads by
// estimate), scatter.svg (AttributionScatterSvg) and heads.csv; `sub` is the figure subtitle.
std::string AttributionReportMarkdown(const ReportData& data);
std::vector<std::pair<std::string, std::string>> AttributionReportFiles(const ReportData& data,
                                                                        const std::string& sub);

struct ReportOptions {
  std::string job_id;
  std::string series_file;    // Optional.
  std::string criteria_file;  // Optional.
  std::string out_dir;        // Created if missing.
  v1::Uncertainty uncertainty;  // Bootstrap intervals (defaults: the server's).
};

// Fetches the job's tables, writes the files, prints the report's path (last line).
// Errors: as the queries (NOT_FOUND: no such job); FAILED_PRECONDITION when the job has no
// individual results yet; InvalidArgument for bad series / criteria files or an unwritable
// out dir.
absl::Status RunReport(const Session& s, const ReportOptions& options, const Output& out);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_REPORT_H_
